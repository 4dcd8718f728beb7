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
    session is locked or under a name a member already has (the joiner is told which).
    Organizer side."""

    peer_id: int
    name: str
    reason: str

    @property
    def sentence(self) -> str:
        """What to tell the organizer."""
        if self.reason == JOIN_LOCKED_REASON:
            return f"{self.name} knew the session password but the session is locked."
        if self.reason == JOIN_NAME_TAKEN_REASON:
            return f"Someone else tried to join as {self.name}, a name already in the session."
        if self.reason == JOIN_BAD_IDENTITY_REASON:
            return f"{self.name} knew the password, but the identity key proof did not verify."
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
JOIN_NAME_TAKEN_REASON = "name taken"
JOIN_BAD_IDENTITY_REASON = "identity proof did not verify"


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


@dataclass(frozen=True, slots=True)
class StreamWithheld:
    """The presenter's updates are being withheld (docs/design.md §3.3): its heartbeats stopped
    (``reason`` ``silent``) or announced updates that never came (``behind``)."""

    presenter: int
    reason: str
    seconds: float


@dataclass(frozen=True, slots=True)
class StreamRestored:
    """After :class:`StreamWithheld`: heartbeats and updates arrive again."""

    presenter: int


@dataclass(frozen=True, slots=True)
class RekeyMissing:
    """Organizer side: ``peer_id`` has not confirmed the new epoch; the leader re-sends it."""

    peer_id: int
    epoch: int


@dataclass(frozen=True, slots=True)
class RekeyConfirmed:
    """Organizer side: after :class:`RekeyMissing`, that member confirmed the epoch."""

    peer_id: int
    epoch: int


@dataclass(frozen=True, slots=True)
class ChatDelivered:
    """Every member there when our chat line ``seq`` was sent confirmed it."""

    seq: int


@dataclass(frozen=True, slots=True)
class ChatUndelivered:
    """Our chat line ``seq`` is unconfirmed by ``missing`` (peer ids) after the ack timeout."""

    seq: int
    missing: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ChatGap:
    """Chat lines ``first``..``last`` of ``sender`` never reached us (the relay withheld them)."""

    sender: int
    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class ContentRefused:
    """Sealed messages that failed a check and were dropped: ``reason`` is the opener's slug
    (``bad_signature`` for a flipped bit, ``replayed``, ...), ``count`` how many since the last
    report, ``sender`` the sender the (unverified) header claims."""

    reason: str
    sender: int
    count: int


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
    | StreamWithheld
    | StreamRestored
    | RekeyMissing
    | RekeyConfirmed
    | ChatDelivered
    | ChatUndelivered
    | ChatGap
    | ContentRefused
)
