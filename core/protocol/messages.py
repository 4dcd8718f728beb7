"""Every message of ``porthole/1``, as frozen slotted dataclasses with their wire schema.

Each class declares its stable wire type number, who may send it (client, relay or both) and the
largest body it may have; :mod:`core.protocol.framing` refuses anything larger before buffering
it. The control plane is readable by the relay (it has to be: it admits, routes and enforces the
rules); the content plane is :class:`Sealed` (opaque to the relay, routed by its clear header) and
:class:`PairSealed` / the grant inside :class:`Admit` (opaque leader↔member channel).

The join flow (docs/design.md §4.3) maps onto messages like this::

    joiner ──Join──▶ relay ──Knock──▶ leader
    joiner ◀─Challenge── relay ◀─Challenge── leader
    joiner ──Confirm──▶ relay ──Confirm──▶ leader
    joiner ◀──Admit──── relay ◀──Admit──── leader      (or Reject → Error JOIN_REFUSED)

Secret-bearing fields are ``repr=False`` so logging a message never prints a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum as PyEnum
from enum import IntEnum
from typing import Annotated, Any, ClassVar, TypeVar

from core.errors import ErrorCode
from core.protocol.content import MAX_CIPHERTEXT, SIGNATURE_SIZE, ContentHeader
from core.protocol.pair import (
    KEY_SIZE,
    MAC_SIZE,
    MAX_MEMBERS,
    NAME_MAX_BYTES,
    SEALED_IDENTITY_PROOF_SIZE,
)
from core.protocol.wire import (
    U16,
    U32,
    U64,
    Blob,
    Bool,
    Digits,
    Enum,
    FixedBytes,
    ListOf,
    Optional,
    Struct,
    Text,
)

PROTOCOL_NAME = "porthole/1"
SPAKE2_MESSAGE_SIZE = 33
#: Control messages are small; a bigger one is an attack or a bug.
CONTROL_MAX_BODY = 64 * 1024
#: The sealed grant and re-key messages carry a roster of certificates.
PAIR_MAX_SEALED = 32 * 1024


class Sender(PyEnum):
    CLIENT = "client"
    RELAY = "relay"


CLIENT_ONLY = frozenset({Sender.CLIENT})
RELAY_ONLY = frozenset({Sender.RELAY})
EITHER = frozenset({Sender.CLIENT, Sender.RELAY})


class Message:
    """Base of every wire message: class-level wire metadata, filled in by :func:`message`."""

    __slots__ = ()
    TYPE: ClassVar[int]
    SENDERS: ClassVar[frozenset[Sender]]
    MAX_BODY: ClassVar[int]


MESSAGE_TYPES: dict[int, type[Message]] = {}
M = TypeVar("M", bound=type[Message])


def message(type_id: int, senders: frozenset[Sender], max_body: int = CONTROL_MAX_BODY) -> Any:
    """Register a message class under its stable wire type number."""

    def register(cls: M) -> M:
        if type_id in MESSAGE_TYPES:
            raise TypeError(f"wire type {type_id} is already {MESSAGE_TYPES[type_id].__name__}")
        cls.TYPE = type_id
        cls.SENDERS = senders
        cls.MAX_BODY = max_body
        MESSAGE_TYPES[type_id] = cls
        return cls

    return register


# --- connection ------------------------------------------------------------------------------


@message(1, CLIENT_ONLY)
@dataclass(frozen=True, slots=True)
class Hello(Message):
    """First message from a client: which protocol it speaks and what software it is."""

    protocol: Annotated[str, Text(32, min_chars=1)]
    software: Annotated[str, Text(64)]


@message(2, RELAY_ONLY)
@dataclass(frozen=True, slots=True)
class Welcome(Message):
    """The relay's answer to Hello, with the limits the client must respect."""

    relay_name: Annotated[str, Text(64)]
    software: Annotated[str, Text(64)]
    max_frame: Annotated[int, U32(1024)]
    idle_timeout_s: Annotated[int, U16(1)]


@message(3, EITHER)
@dataclass(frozen=True, slots=True)
class Ping(Message):
    nonce: Annotated[int, U64()]


@message(4, EITHER)
@dataclass(frozen=True, slots=True)
class Pong(Message):
    nonce: Annotated[int, U64()]


@message(5, EITHER)
@dataclass(frozen=True, slots=True)
class Error(Message):
    """A refusal: a stable code for programs and a sentence for people. The connection stays up."""

    code: Annotated[ErrorCode, Enum(ErrorCode, width=2)]
    message: Annotated[str, Text(512)]
    #: Wire type of the message this answers, 0 when it answers none in particular.
    in_reply_to: Annotated[int, U16()]


@message(6, EITHER)
@dataclass(frozen=True, slots=True)
class Close(Message):
    """The sender is closing the connection, and why. Nothing may follow it."""

    code: Annotated[ErrorCode, Enum(ErrorCode, width=2)]
    message: Annotated[str, Text(512)]


# --- organizer accounts ----------------------------------------------------------------------

#: Bytes of a device cookie (random, from :mod:`secrets`).
DEVICE_TOKEN_SIZE = 32


@message(16, CLIENT_ONLY)
@dataclass(frozen=True, slots=True)
class Login(Message):
    """``device_token`` is the device cookie this relay issued for this account at an earlier
    login, if the client kept one: it exempts the login from other people's failures against
    the account (docs/design.md §7.3)."""

    username: Annotated[str, Text(64, min_chars=1)]
    password: Annotated[str, Text(1024, min_chars=1)] = field(repr=False)
    device_token: Annotated[bytes | None, Optional(FixedBytes(DEVICE_TOKEN_SIZE))] = field(
        default=None, repr=False
    )


@message(17, RELAY_ONLY)
@dataclass(frozen=True, slots=True)
class LoginOk(Message):
    """``device_token``: a device cookie for the client to present at its next login.
    ``failed_logins``: failed logins to this account the relay remembers (from anywhere; it
    forgets them after a day without any), so the organizer learns of someone guessing."""

    username: Annotated[str, Text(64, min_chars=1)]
    device_token: Annotated[bytes | None, Optional(FixedBytes(DEVICE_TOKEN_SIZE))] = field(
        default=None, repr=False
    )
    failed_logins: Annotated[int, U32()] = 0


# --- sessions and admission ------------------------------------------------------------------


@message(32, CLIENT_ONLY)
@dataclass(frozen=True, slots=True)
class CreateSession(Message):
    """A logged-in organizer opens a session; ``requested_id`` None means "pick one at random"."""

    requested_id: Annotated[str | None, Optional(Digits(9))]
    has_password: Annotated[bool, Bool()]
    organizer_name: Annotated[str, Text(NAME_MAX_BYTES, min_chars=1)]
    organizer_presents: Annotated[bool, Bool()]


@message(33, RELAY_ONLY)
@dataclass(frozen=True, slots=True)
class SessionCreated(Message):
    session_id: Annotated[str, Digits(9)]
    peer_id: Annotated[int, U32(1)]


@message(34, CLIENT_ONLY)
@dataclass(frozen=True, slots=True)
class Join(Message):
    session_id: Annotated[str, Digits(9)]
    name: Annotated[str, Text(NAME_MAX_BYTES, min_chars=1)]
    ephemeral_key: Annotated[bytes, FixedBytes(KEY_SIZE)]
    spake_message: Annotated[bytes, FixedBytes(SPAKE2_MESSAGE_SIZE)]
    member_key: Annotated[bytes, FixedBytes(KEY_SIZE)]


@message(35, RELAY_ONLY)
@dataclass(frozen=True, slots=True)
class Knock(Message):
    """A Join as the leader sees it, with the peer id the relay assigned and where it came from."""

    peer_id: Annotated[int, U32(1)]
    name: Annotated[str, Text(NAME_MAX_BYTES, min_chars=1)]
    ephemeral_key: Annotated[bytes, FixedBytes(KEY_SIZE)]
    spake_message: Annotated[bytes, FixedBytes(SPAKE2_MESSAGE_SIZE)]
    member_key: Annotated[bytes, FixedBytes(KEY_SIZE)]
    #: The relay's description of the joiner's network origin (informational, relay-asserted).
    origin: Annotated[str, Text(128)]


@message(36, EITHER)
@dataclass(frozen=True, slots=True)
class Challenge(Message):
    """The leader's answer to a knock, forwarded verbatim to the joiner."""

    peer_id: Annotated[int, U32(1)]
    ephemeral_key: Annotated[bytes, FixedBytes(KEY_SIZE)]
    spake_message: Annotated[bytes, FixedBytes(SPAKE2_MESSAGE_SIZE)]
    leader_key: Annotated[bytes, FixedBytes(KEY_SIZE)]
    signature: Annotated[bytes, FixedBytes(SIGNATURE_SIZE)]


@message(37, EITHER)
@dataclass(frozen=True, slots=True)
class Confirm(Message):
    """The joiner's key confirmation, forwarded to the leader.

    ``identity`` is the joiner's identity proof sealed on the pair channel (member→leader), when
    it chose to prove one (docs/design.md §4.3 step 7); opaque to the relay.
    """

    peer_id: Annotated[int, U32(1)]
    mac: Annotated[bytes, FixedBytes(MAC_SIZE)]
    identity: Annotated[bytes | None, Optional(FixedBytes(SEALED_IDENTITY_PROOF_SIZE))] = None


@message(38, EITHER)
@dataclass(frozen=True, slots=True)
class Admit(Message):
    """The leader admits a joiner; ``sealed_grant`` is pair-sealed and opaque to the relay."""

    peer_id: Annotated[int, U32(1)]
    sealed_grant: Annotated[bytes, Blob(PAIR_MAX_SEALED, min_size=8 + 16)]


class RejectReason(IntEnum):
    WRONG_PASSWORD = 1
    DECLINED = 2
    LOCKED = 3
    FULL = 4
    BAD_HANDSHAKE = 5
    #: Another member already has this display name (compared as in :mod:`core.protocol.names`).
    NAME_TAKEN = 6


@message(39, CLIENT_ONLY)
@dataclass(frozen=True, slots=True)
class Reject(Message):
    """The leader turns a knock away. The joiner only ever learns JOIN_REFUSED or DECLINED."""

    peer_id: Annotated[int, U32(1)]
    reason: Annotated[RejectReason, Enum(RejectReason)]


@message(40, EITHER)
@dataclass(frozen=True, slots=True)
class PairSealed(Message):
    """Leader → one member over their pair channel (re-keys). Relay: ``peer_id`` is the member."""

    peer_id: Annotated[int, U32(1)]
    sealed: Annotated[bytes, Blob(PAIR_MAX_SEALED, min_size=8 + 16)]


class MemberState(IntEnum):
    CONNECTED = 1
    RECONNECTING = 2


@dataclass(frozen=True, slots=True)
class RosterEntry:
    peer_id: Annotated[int, U32(1)]
    name: Annotated[str, Text(NAME_MAX_BYTES, min_chars=1)]
    is_organizer: Annotated[bool, Bool()]
    state: Annotated[MemberState, Enum(MemberState)]


@message(41, RELAY_ONLY)
@dataclass(frozen=True, slots=True)
class Roster(Message):
    """The relay's view of the session: members, who presents, who controls, lock and pause."""

    session_id: Annotated[str, Digits(9)]
    members: Annotated[tuple[RosterEntry, ...], ListOf(Struct(RosterEntry), MAX_MEMBERS)]
    presenter: Annotated[int | None, Optional(U32(1))]
    controller: Annotated[int | None, Optional(U32(1))]
    #: Participants who have presented in this session (the organizer may take presenting back
    #: from them without asking; clients need it to offer exactly what the rules allow).
    has_presented: Annotated[tuple[int, ...], ListOf(U32(1), MAX_MEMBERS)]
    locked: Annotated[bool, Bool()]
    paused: Annotated[bool, Bool()]
    has_password: Annotated[bool, Bool()]


@message(44, RELAY_ONLY)
@dataclass(frozen=True, slots=True)
class KnockCancelled(Message):
    """A knocking joiner went away (left, timed out, disconnected) before being admitted."""

    peer_id: Annotated[int, U32(1)]


@message(42, CLIENT_ONLY)
@dataclass(frozen=True, slots=True)
class Leave(Message):
    """The member leaves the session (the organizer leaving ends it for everyone)."""


@message(43, RELAY_ONLY)
@dataclass(frozen=True, slots=True)
class SessionEnded(Message):
    session_id: Annotated[str, Digits(9)]
    code: Annotated[ErrorCode, Enum(ErrorCode, width=2)]
    message: Annotated[str, Text(512)]


# --- roles, consent, control -----------------------------------------------------------------


class ActionCode(IntEnum):
    """Stable wire numbers for the actions of the session rules (:mod:`core.rules`).

    Names match ``core.rules.Action`` one to one (a test checks it); JOIN, ADMIT, REJECT and LEAVE
    travel as their own messages but keep numbers here so consent prompts can name them.
    """

    JOIN = 1
    ADMIT = 2
    REJECT = 3
    PROPOSE_PRESENTER = 4
    HAND_TO_ORGANIZER = 5
    TAKE_BACK = 6
    PRESENT = 7
    SHARE = 8
    PAUSE = 9
    RESUME = 10
    REQUEST_CONTROL = 11
    GRANT_CONTROL = 12
    REVOKE_CONTROL = 13
    RELEASE_CONTROL = 14
    END_SESSION = 15
    KICK = 16
    LOCK = 17
    UNLOCK = 18
    LEAVE = 19
    STOP_PRESENTING = 20


@message(64, CLIENT_ONLY)
@dataclass(frozen=True, slots=True)
class ActionRequest(Message):
    """A member asks the relay to apply a session rule action.

    ``confirmed`` is the actor's own local confirmation, for actions whose consent is the actor's
    (the organizer taking presenting back). The relay checks everything else against the rules.
    """

    request_id: Annotated[int, U32(1)]
    action: Annotated[ActionCode, Enum(ActionCode)]
    target: Annotated[int | None, Optional(U32(1))]
    confirmed: Annotated[bool, Bool()]


@message(65, RELAY_ONLY)
@dataclass(frozen=True, slots=True)
class ConsentAsk(Message):
    """The relay asks this member's user to agree to an action another member started."""

    consent_id: Annotated[int, U32(1)]
    action: Annotated[ActionCode, Enum(ActionCode)]
    actor: Annotated[int, U32(1)]
    target: Annotated[int | None, Optional(U32(1))]


@message(66, CLIENT_ONLY)
@dataclass(frozen=True, slots=True)
class ConsentAnswer(Message):
    consent_id: Annotated[int, U32(1)]
    granted: Annotated[bool, Bool()]


class ActionOutcome(IntEnum):
    APPLIED = 1
    WAITING_FOR_CONSENT = 2
    REFUSED = 3


@message(67, RELAY_ONLY)
@dataclass(frozen=True, slots=True)
class ActionResult(Message):
    """How an ActionRequest ended: applied, waiting for consent, or refused with a reason."""

    request_id: Annotated[int, U32(1)]
    outcome: Annotated[ActionOutcome, Enum(ActionOutcome)]
    #: Why it was refused; None unless REFUSED.
    code: Annotated[ErrorCode | None, Optional(Enum(ErrorCode, width=2))]
    message: Annotated[str, Text(512)]


# --- content plane ---------------------------------------------------------------------------


@message(128, EITHER, max_body=ContentHeader.SIZE + 4 + MAX_CIPHERTEXT + SIGNATURE_SIZE)
@dataclass(frozen=True, slots=True)
class Sealed(Message):
    """End-to-end sealed content. The relay reads only ``header`` (to route) and never opens it."""

    header: Annotated[ContentHeader, Struct(ContentHeader)]
    ciphertext: Annotated[bytes, Blob(MAX_CIPHERTEXT, min_size=16)] = field(repr=False)
    signature: Annotated[bytes, FixedBytes(SIGNATURE_SIZE)] = field(repr=False)


@message(129, RELAY_ONLY)
@dataclass(frozen=True, slots=True)
class Dropped(Message):
    """The relay dropped droppable updates for this slow member: ask the presenter for a refresh."""

    count: Annotated[int, U32(1)]


AnyMessage = Message
