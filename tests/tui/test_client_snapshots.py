"""Snapshots of the client app's screens and consent dialogs, at 80x24 and at 120x40.

Through a real relay the session ID, security code, port and fingerprint are random, so the
pictures are taken of :class:`tui.app.samples.SampleApp`: the real app, its screens and its
stylesheet, put into fixed states (a real ``Roster`` message turned into a ``SessionView``).
Regenerate after a deliberate change of the look with::

    python -m pytest tests/tui/test_client_snapshots.py --snapshot-update

and look at the SVGs in ``tests/tui/__snapshots__/test_client_snapshots/`` before committing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tui.app.samples import SCENES, SampleApp, settle

SNAPSHOTS = Path(__file__).parent / "__snapshots__" / "test_client_snapshots"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scene", list(SCENES))
def test_snapshot(scene: str, size: tuple[int, int], snap_compare: Any) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(SampleApp(scene), terminal_size=size, run_before=ready)


def test_every_scene_is_a_different_picture() -> None:
    """A scene that silently fell back to the connect screen would snapshot 'fine' forever."""
    pictures = sorted(SNAPSHOTS.glob("test_snapshot*.svg"))
    assert len(pictures) == 2 * len(SCENES)
    assert len({picture.read_bytes() for picture in pictures}) == len(pictures)
    with pytest.raises(ValueError, match="unknown scene"):
        SampleApp("no-such-scene")
