"""Times, durations and sizes for people, as the relay's command line and the admin app show
them (one spelling, so an operator reading both sees the same figures)."""

from __future__ import annotations

import datetime as dt

__all__ = ["duration", "size", "when"]


def when(timestamp: float | None) -> str:
    """A local time: 2026-11-27 14:30:05."""
    if timestamp is None:
        return ""
    return dt.datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """0:42, 12:03, 1:02:03, 3d 04:05."""
    if seconds is None:
        return ""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def size(count: float) -> str:
    """Bytes for people: 512 B, 1.5 KiB, 3.2 MiB."""
    if count < 1024:
        return f"{int(count)} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
