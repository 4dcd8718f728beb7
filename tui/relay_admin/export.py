"""CSV export of what a screen lists (records, security events), to a file the operator names.

The file is created 0600: records are metadata, but metadata about who met whom and when.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterable, Sequence
from pathlib import Path


def default_path(what: str, now: float) -> str:
    stamp = dt.datetime.fromtimestamp(now).strftime("%Y%m%d-%H%M%S")
    return f"~/porthole-{what}-{stamp}.csv"


def iso(timestamp: float | None) -> str:
    """ISO 8601 local time with its offset, which spreadsheets and scripts both read."""
    if timestamp is None:
        return ""
    return dt.datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write ``rows`` under ``header`` to ``path`` (replacing it); return the number of rows."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    count = 0
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
