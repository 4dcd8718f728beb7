"""How the admin TUI writes times, sizes and names: short enough for 80 columns, never markup.

Everything that came from the relay (names, reasons, addresses) becomes a :class:`rich.text.Text`
before it reaches a widget, so a display name like ``[red]x`` is shown as typed, not styled.
"""

from __future__ import annotations

import datetime as dt

from rich.text import Text


def text(value: object, style: str = "") -> Text:
    """Plain text for a table cell or label (no markup is interpreted)."""
    return Text("" if value is None else str(value), style=style, no_wrap=True)


def session_id(value: str) -> str:
    """482913570 → 482 913 570, as people read session IDs aloud."""
    if len(value) == 9 and value.isdigit():
        return f"{value[:3]} {value[3:6]} {value[6:]}"
    return value


def when(timestamp: float | None) -> str:
    """A local time: 2026-11-27 14:30:05."""
    if timestamp is None:
        return ""
    return dt.datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def when_short(timestamp: float | None) -> str:
    """A local time without the year or seconds: 11-27 14:30."""
    if timestamp is None:
        return ""
    return dt.datetime.fromtimestamp(timestamp).astimezone().strftime("%m-%d %H:%M")


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


def rate(bytes_per_second: float | None) -> str:
    """Throughput: 0 B/s, 12.0 KiB/s; empty until there are two samples."""
    if bytes_per_second is None:
        return ""
    return f"{size(bytes_per_second)}/s"
