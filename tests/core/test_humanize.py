"""Times, durations and sizes as the relay's command line and the admin app both show them."""

from __future__ import annotations

import re

import pytest

from core.humanize import duration, size, when


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, ""),
        (-5, "0:00"),
        (42.9, "0:42"),
        (723, "12:03"),
        (3723, "1:02:03"),
        (3 * 86400 + 4 * 3600 + 5 * 60 + 6, "3d 04:05"),
    ],
)
def test_durations(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (5 * 1024 * 1024, "5.0 MiB"),
        (3 * 1024**4, "3.0 TiB"),
        (2048 * 1024**4, "2048.0 TiB"),
    ],
)
def test_sizes(count: int, shown: str) -> None:
    assert size(count) == shown


def test_times_are_local_and_whole_seconds() -> None:
    assert when(None) == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", when(1_795_000_000.7))
