"""What a session tells the program driving it (TUI, headless presenter, tests).

Events arrive in order on :attr:`core.client.session.SessionBase.events`. They are plain frozen
dataclasses so a Textual app can turn each into a message and a script into a JSON line.
Content events carry decrypted content: never log them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import ErrorCode
from core.protocol.content import ContentHeader, ContentMessage
from core.protocol.messages import ActionCode, ActionOutcome, Roster


@dataclass(frozen=True, slots=True)
class KnockReceived:
    """Someone proved the password (or there is none) and waits; ``needs_approval`` means the
    organizer must call ``admit`` or ``decline``."""

    peer_id: int
    name: str
    origin: str
    needs_approval: bool


@dataclass(frozen=True, slots=True)
class KnockWithdrawn:
    peer_id: int


@dataclass(frozen=True, slots=True)
class JoinAttemptFailed:
    """A knock failed the password check (the joiner gets JOIN_REFUSED), or passed it while the
    session is locked (the joiner is told it is locked). Organizer side."""

    peer_id: int
    name: str
    reason: str

    @property
    def sentence(self) -> str:
        """What to tell the organizer."""
        if self.reason == JOIN_LOCKED_REASON:
            return f"{self.name} knew the session password but the session is locked."
        return f"{self.name} tried to join with a wrong password."


@dataclass(frozen=True, slots=True)
class GuessingSuspected:
    """So many wrong session passwords that someone is probably guessing (organizer side).

    Sent after the :class:`JoinAttemptFailed` that rang :func:`core.guessing.guessing_alarm`;
    ``failures`` counts the session's wrong passwords so far. The front end tells the organizer
    with :func:`core.guessing.guessing_sentence` and how to move to a new session ID.
    """

    failures: int


#: :attr:`JoinAttemptFailed.reason` values.
JOIN_WRONG_PASSWORD_REASON = "wrong password"  # noqa: S105 - a reason, not a password
JOIN_LOCKED_REASON = "session locked"


@dataclass(frozen=True, slots=True)
class RosterChanged:
    roster: Roster


@dataclass(frozen=True, slots=True)
class EpochChanged:
    """New keys are in use (a membership change); presenters send a keyframe now."""

    epoch: int


@dataclass(frozen=True, slots=True)
class ConsentRequested:
    consent_id: int
    action: ActionCode
    actor: int
    target: int | None


@dataclass(frozen=True, slots=True)
class ActionAnswered:
    request_id: int
    outcome: ActionOutcome
    code: ErrorCode | None
    message: str


@dataclass(frozen=True, slots=True)
class ContentReceived:
    header: ContentHeader
    message: ContentMessage = field(repr=False)

    @property
    def sender(self) -> int:
        return self.header.sender


@dataclass(frozen=True, slots=True)
class UpdatesDropped:
    """The relay dropped updates for us (we were slow): ask the presenter for a refresh."""

    count: int


@dataclass(frozen=True, slots=True)
class RelayError:
    """The relay refused something we sent; ``in_reply_to`` is that message's wire type."""

    code: ErrorCode
    message: str
    in_reply_to: int


@dataclass(frozen=True, slots=True)
class SessionClosed:
    """The session is over for us (ended, removed, left, or the connection died)."""

    code: ErrorCode | None
    message: str


SessionEvent = (
    KnockReceived
    | KnockWithdrawn
    | JoinAttemptFailed
    | GuessingSuspected
    | RosterChanged
    | EpochChanged
    | ConsentRequested
    | ActionAnswered
    | ContentReceived
    | UpdatesDropped
    | RelayError
    | SessionClosed
)
