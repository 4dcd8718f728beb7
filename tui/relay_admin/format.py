"""How the admin TUI writes times, sizes and names: short enough for 80 columns, never markup.

Everything that came from the relay (names, reasons, addresses) becomes a :class:`rich.text.Text`
before it reaches a widget, so a display name like ``[red]x`` is shown as typed, not styled.
"""

from __future__ import annotations

import datetime as dt

from rich.text import Text

from core.humanize import duration, size, when

__all__ = ["duration", "rate", "session_id", "size", "text", "when", "when_short"]


def text(value: object, style: str = "") -> Text:
    """Plain text for a table cell or label (no markup is interpreted)."""
    return Text("" if value is None else str(value), style=style, no_wrap=True)


def session_id(value: str) -> str:
    """482913570 → 482 913 570, as people read session IDs aloud."""
    if len(value) == 9 and value.isdigit():
        return f"{value[:3]} {value[3:6]} {value[6:]}"
    return value


def when_short(timestamp: float | None) -> str:
    """A local time without the year or seconds: 11-27 14:30."""
    if timestamp is None:
        return ""
    return dt.datetime.fromtimestamp(timestamp).astimezone().strftime("%m-%d %H:%M")


def rate(bytes_per_second: float | None) -> str:
    """Throughput: 0 B/s, 12.0 KiB/s; empty until there are two samples."""
    if bytes_per_second is None:
        return ""
    return f"{size(bytes_per_second)}/s"
