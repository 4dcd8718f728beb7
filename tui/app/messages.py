"""Messages the network side (trio tasks in :mod:`tui.app.driver`) posts to the Textual app.

Each is a plain Textual ``Message``; the app routes them to the screen that cares. Replies
that the network side waits for (trust this relay? admit this knock?) travel back through a
:class:`Reply`, answered from a Textual callback and delivered into trio by the guest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from core.client import RelayIdentity
from core.protocol.messages import ActionCode
from tui.app.model import SessionView


class Reply:
    """A yes/no the network side waits for; answered once from the UI (extra answers ignored)."""

    def __init__(self, deliver: Callable[[bool], None]) -> None:
        self._deliver = deliver
        self.answered = False

    def answer(self, value: bool) -> None:
        if not self.answered:
            self.answered = True
            self._deliver(value)


@dataclass
class RelayConnected(Message):
    host: str
    port: int
    identity: RelayIdentity


@dataclass
class RelayDisconnected(Message):
    reason: str


@dataclass
class TrustAsked(Message):
    """The relay is unknown: show its fingerprint and ask before anything is sent to it."""

    host: str
    port: int
    fingerprint: str
    reply: Reply


@dataclass
class LoggedIn(Message):
    username: str


@dataclass
class Knocking(Message):
    """Our join is waiting (for the organizer's approval, when the session has no password)."""

    session_id: str


@dataclass
class SessionStarted(Message):
    session_id: str
    security_code: str
    organizer: bool
    link: str


@dataclass
class SessionUpdated(Message):
    view: SessionView


@dataclass
class KnockArrived(Message):
    peer_id: int
    name: str
    origin: str


@dataclass
class KnockGone(Message):
    peer_id: int


@dataclass
class ConsentAsked(Message):
    consent_id: int
    action: ActionCode
    actor: int
    actor_name: str
    reply: Reply


@dataclass
class ConsentGone(Message):
    """A consent being asked no longer matters: the member who asked (or whom it was about)
    left the session, and the relay forgot the request; its dialog closes unanswered."""

    consent_id: int
    reason: str


@dataclass
class ControlChanged(Message):
    """Remote control of *this* member's screen started or ended (the footer shows it)."""

    controller: str | None
    reason: str = ""


@dataclass
class Notice(Message):
    """One line for the session log (and a toast when ``severity`` is not "information")."""

    text: str
    severity: str = "information"


@dataclass
class Failed(Message):
    """Something the person must read: a title, what happened, and what to do next."""

    title: str
    sentence: str
    next_step: str


@dataclass
class SessionOver(Message):
    message: str


@dataclass
class FileOffered(Message):
    """A member offers this one a file: the person says yes or no (``reply``)."""

    peer_id: int
    sender: str
    file_id: int
    name: str
    size: int
    reply: Reply


@dataclass
class TransferChanged(Message):
    """A transfer moved on: ``line`` is its row in the transfers panel (``None``: gone), and
    ``log`` a line for the session log when it ended."""

    key: tuple[str, int, int]
    line: str | None
    log: str | None = None
