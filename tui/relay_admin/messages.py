"""Messages the admin app posts to itself (the connection worker → the app → the screens)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class RelayEventReceived(Message):
    """One event from the relay's live stream (``events.subscribe``)."""

    event: dict[str, Any]


@dataclass
class ConnectionChanged(Message):
    """The event stream connected, or was lost (``detail`` says why; the app retries)."""

    connected: bool
    detail: str = ""
