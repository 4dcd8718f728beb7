"""Shared fixtures: a private Xvfb display for tests that need a real X server.

    def test_something(display: Display) -> None:
        ...  # $DISPLAY points at a fresh 1280x800x24 Xvfb for the whole session

Tests that use ``display`` or ``xvfb`` get the ``display`` marker automatically,
so ``pytest -m "not display"`` runs everything else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings
from xvfb import (
    ORIGINAL_DISPLAY,
    Display,
    Xvfb,
    XvfbError,
    display_number,
    find_xvfb,
    start_private_xvfb,
)

_DISPLAY_FIXTURES = frozenset({"xvfb", "display"})

# In CI (CI=true) property tests draw the same examples every run: a rare failing example must
# turn up where someone explores (every local run is random), not fail a submission at random.
# Each test's own @settings (max_examples, deadline) still apply.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _DISPLAY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.display)


@pytest.fixture(scope="session")
def xvfb() -> Iterator[Display]:
    """A private Xvfb for the session; ``$DISPLAY`` is set to it meanwhile."""
    if find_xvfb() is None:
        if os.environ.get("CI"):
            pytest.fail(
                "Xvfb is required in CI (apt-get install xvfb; .ci/run does this) "
                "but it is not on PATH",
                pytrace=False,
            )
        pytest.skip("Xvfb not installed; apt-get install xvfb")

    inherited = display_number(ORIGINAL_DISPLAY)  # e.g. 10 for an ssh-forwarded localhost:10
    avoid = frozenset() if inherited is None else frozenset({inherited})
    server: Xvfb | None = None
    error = ""
    try:
        server = start_private_xvfb(avoid=avoid)
    except XvfbError as exc:
        error = str(exc)
    if server is None or server.display is None:  # failed outside except: no chained trace
        pytest.fail(f"could not start Xvfb: {error}", pytrace=False)
    display = server.display

    saved = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display.name
    try:
        yield display
    finally:
        if saved is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = saved
        server.stop()


@pytest.fixture
def display(xvfb: Display) -> Display:
    """The session's private display (see ``xvfb``)."""
    return xvfb


# Fixtures that start a real relay on loopback TLS (see tests/relaykit.py).
from relaykit import relay, relay_config  # noqa: E402, F401
