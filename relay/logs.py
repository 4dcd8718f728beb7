"""The relay's log: one event per line on stderr, as JSON lines or as plain text.

Why JSON lines: operators ship logs to a collector (journald, Loki, Elasticsearch) that indexes
fields; one object per line needs no parser of ours. The events are the ones the admin app shows
(:mod:`relay.events`: sessions started and ended, members joining and leaving, security events)
plus the relay's own warnings. What is never logged: a password, a chat line, a frame or any other
content — the events carry metadata only, and an exception is logged as its type and message,
not a traceback with local values (docs/design.md §7.7).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import sys
from typing import Any, TextIO

from relay.events import RelayEvent

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
#: Without --log-format the relay keeps to its old quiet: warnings and errors only.
QUIET_LEVEL = "warning"

EVENTS = logging.getLogger("porthole.relay.events")


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _error(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        return f"{type(exc).__name__}: {exc}"
    return None


class JsonLines(logging.Formatter):
    """``{"time": …, "level": …, "logger": …, "event": …, "message": …, …fields}``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = _fields(record)
        line["event"] = fields.pop("event", "log")
        line["message"] = record.getMessage()
        line.update(fields)
        error = _error(record)
        if error is not None:
            line["error"] = error
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


class PlainText(logging.Formatter):
    """``TIME LEVEL message key=value …``: the same events, for a person reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        fields.pop("event", None)
        parts = [_timestamp(record), record.levelname.lower(), record.getMessage()]
        parts += [f"{key}={value}" for key, value in fields.items()]
        error = _error(record)
        if error is not None:
            parts.append(f"error={error!r}")
        return " ".join(parts)


def configure(log_format: str | None, level: str | None, stream: TextIO | None = None) -> None:
    """Send the ``porthole`` loggers to ``stream`` (stderr) in ``log_format`` at ``level``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else PlainText())
    chosen = level or ("info" if log_format else QUIET_LEVEL)
    root = logging.getLogger("porthole")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(chosen.upper())
    root.propagate = False


def log(event: str, message: str, level: int = logging.INFO, **fields: object) -> None:
    """One relay event with its fields (metadata only: callers never pass content)."""
    EVENTS.log(level, message, extra={"fields": {"event": event, **fields}})


def log_relay_event(event: RelayEvent) -> None:
    """Observer for the switchboard and the recorder: every event the admin app sees, logged."""
    fields: dict[str, object] = {}
    if event.session_id is not None:
        fields["session_id"] = event.session_id
    if event.peer_id is not None:
        fields["peer_id"] = event.peer_id
    if event.reason:
        fields["reason"] = event.reason
    if event.address:
        fields["address"] = event.address
    with contextlib.suppress(Exception):  # an observer must never raise into the switchboard
        message = event.kind.replace(".", " ").replace("_", " ")
        EVENTS.info(message, extra={"fields": {"event": event.kind, **fields}})
