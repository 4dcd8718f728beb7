"""The content plane: the clear header the relay routes by, and the plaintexts it never sees.

A sealed content message is ``ContentHeader ‖ ciphertext ‖ signature``. The header travels in
the clear because the relay must route it (who sent it, to whom, may it be dropped), and it is
the AES-GCM associated data, so the relay cannot change a byte of it without the open failing.
Everything a person shares (pixels, keystrokes, chat, files) is one of the plaintext dataclasses
below, encoded with the same validating codec, and exists only inside the ciphertext.

Fields that carry session content are ``repr=False``: a stray ``log.debug(msg)`` must never print
a keystroke, a chat line or a frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Annotated, Any

from core.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from core.protocol.wire import (
    I32,
    U8,
    U16,
    U32,
    U64,
    Blob,
    Bool,
    Digits,
    Enum,
    FixedBytes,
    Text,
    from_bytes,
    to_bytes,
)

PROTOCOL_VERSION = 1

#: The largest plaintext one sealed message may carry. A 1920×1080 keyframe of photographic
#: content is well under this once encoded; anything bigger is split by the sender.
MAX_CONTENT_PLAINTEXT = 4 * 1024 * 1024
#: AES-GCM adds a 16-byte tag; everything else in the ciphertext is the plaintext.
GCM_TAG_SIZE = 16
MAX_CIPHERTEXT = MAX_CONTENT_PLAINTEXT + GCM_TAG_SIZE
SIGNATURE_SIZE = 64
#: Recipient 0 means "every member of the session except the sender".
EVERYONE = 0


class ContentType(IntEnum):
    """What a sealed message holds. Visible to the relay (it routes and drops by it)."""

    FRAME_UPDATE = 1
    REFRESH_REQUEST = 2
    INPUT_EVENT = 3
    CURSOR = 4
    CHAT = 5
    FILE_OFFER = 6
    FILE_CHUNK = 7
    #: Integrity of the stream and of chat against a relay that withholds (docs/design.md §3.3).
    HEARTBEAT = 8
    CHAT_ACK = 9
    REKEY_ACK = 10
    # File transfer replies (docs/design.md §4.7); numbered from 16 so other content kinds can
    # take the numbers after 7 without a clash.
    FILE_ANSWER = 16
    FILE_ACK = 17
    FILE_DONE = 18
    FILE_CANCEL = 19

    @property
    def droppable(self) -> bool:
        """Updates a slow viewer may lose: the next keyframe or cursor position supersedes them."""
        return self in (ContentType.FRAME_UPDATE, ContentType.CURSOR)


@dataclass(frozen=True, slots=True)
class ContentHeader:
    """The clear header of a sealed message; its encoding is the AES-GCM associated data."""

    version: Annotated[int, U8(PROTOCOL_VERSION, PROTOCOL_VERSION)]
    content_type: Annotated[ContentType, Enum(ContentType)]
    session_id: Annotated[str, Digits(9)]
    epoch: Annotated[int, U32(1)]
    sender: Annotated[int, U32(1)]
    recipient: Annotated[int, U32()]
    counter: Annotated[int, U64(1)]

    SIZE = 26  # 1 + 1 + 4 + 4 + 4 + 4 + 8

    def pack(self) -> bytes:
        return to_bytes(self)

    @classmethod
    def unpack(cls, data: bytes) -> ContentHeader:
        return from_bytes(cls, data)


# ---------------------------------------------------------------------------------------------
# Plaintexts. Each is registered against its ContentType so a receiver decodes exactly the type
# the authenticated header announced, and nothing else.


@dataclass(frozen=True, slots=True)
class FrameUpdate:
    """One captured frame's changes; ``tiles`` is the screen codec's own validated format."""

    frame_seq: Annotated[int, U32()]
    keyframe: Annotated[bool, Bool()]
    width: Annotated[int, U16(1)]
    height: Annotated[int, U16(1)]
    #: Presenter's wall clock at capture, microseconds since the epoch (for latency stats).
    captured_at_us: Annotated[int, U64()]
    tiles: Annotated[bytes, Blob(MAX_CONTENT_PLAINTEXT - 64)] = field(repr=False)


class RefreshReason(IntEnum):
    GAP = 1
    LATE_JOIN = 2
    USER = 3
    DECODE_ERROR = 4


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    reason: Annotated[RefreshReason, Enum(RefreshReason)]


class InputKind(IntEnum):
    POINTER_MOVE = 1
    BUTTON_DOWN = 2
    BUTTON_UP = 3
    WHEEL = 4
    KEY_DOWN = 5
    KEY_UP = 6
    TEXT = 7


class Modifier(IntEnum):
    """Bit positions in :attr:`InputEvent.modifiers`."""

    SHIFT = 1
    CTRL = 2
    ALT = 4
    META = 8


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One remote-control event, in the coordinates of the frame the controller sees."""

    kind: Annotated[InputKind, Enum(InputKind)]
    x: Annotated[int, I32()]
    y: Annotated[int, I32()]
    #: 1 left, 2 middle, 3 right (X11 numbering); 0 when not a button event.
    button: Annotated[int, U8(0, 9)]
    wheel_dx: Annotated[int, I32(-1000, 1000)]
    wheel_dy: Annotated[int, I32(-1000, 1000)]
    modifiers: Annotated[int, U8(0, 15)]
    #: A key name ("a", "Return", "F5") for KEY_DOWN/KEY_UP.
    key: Annotated[str, Text(32)] = field(repr=False)
    #: Typed text for TEXT events.
    text: Annotated[str, Text(1024, multiline=True)] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Cursor:
    x: Annotated[int, I32()]
    y: Annotated[int, I32()]
    visible: Annotated[bool, Bool()]


@dataclass(frozen=True, slots=True)
class Chat:
    """One chat line. ``seq`` numbers a sender's lines to everyone (1, 2, ...; the session
    stamps it) so receivers see a line the relay withheld as a gap; 0 for a line addressed to
    one member, which is neither numbered nor acknowledged. Lines compare by text: the number
    is the session's bookkeeping, not what was said."""

    text: Annotated[str, Text(4000, min_chars=1, multiline=True)] = field(repr=False)
    seq: Annotated[int, U32()] = field(default=0, compare=False)


#: The most file data one chunk carries (the chunk's own limit is the codec's ``Blob`` below).
MAX_FILE_CHUNK = 256 * 1024
SHA256_SIZE = 32


@dataclass(frozen=True, slots=True)
class FileOffer:
    """A sender offers one file to one member; ``file_id`` is the sender's own number for it.

    The sender hashes the file before offering it, so the receiver knows what it must end up with
    before the first byte arrives (docs/design.md §4.7).
    """

    file_id: Annotated[int, U32(1)]
    name: Annotated[str, Text(255, min_chars=1)] = field(repr=False)
    size: Annotated[int, U64()]
    sha256: Annotated[bytes, FixedBytes(SHA256_SIZE)] = field(repr=False)


@dataclass(frozen=True, slots=True)
class FileChunk:
    """``attempt`` is the number of the receiver's answer this chunk follows (0 for the
    first, one more for each resume it asked for), so it can tell chunks already in flight
    when it asked from the ones that answer it."""

    file_id: Annotated[int, U32(1)]
    attempt: Annotated[int, U16()]
    offset: Annotated[int, U64()]
    last: Annotated[bool, Bool()]
    data: Annotated[bytes, Blob(MAX_FILE_CHUNK)] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Sent once a second by the presenter (even when its screen is still) and by anyone who
    has chatted: how far its stream and its chat have gone, so a receiver can tell "nothing
    happens" from "the relay withholds what happens" (docs/design.md §3.3)."""

    #: The last ``FrameUpdate.frame_seq`` sent (0: none yet).
    frame_seq: Annotated[int, U32()]
    #: The last ``Chat.seq`` sent to everyone (0: none yet).
    chat_seq: Annotated[int, U32()]
    #: The sender is capturing and sending its screen now (not paused, not waiting to agree).
    presenting: Annotated[bool, Bool()]


@dataclass(frozen=True, slots=True)
class ChatAck:
    """Addressed to a chat line's sender: this member got line ``seq``."""

    seq: Annotated[int, U32(1)]


@dataclass(frozen=True, slots=True)
class ReKeyAck:
    """Addressed to the leader, sealed under ``epoch`` itself: proof this member holds it."""

    epoch: Annotated[int, U32(1)]


class FileVerdict(IntEnum):
    """The receiver's answer to an offer (or its request to resume, with ``ACCEPT``)."""

    ACCEPT = 1
    DECLINE = 2
    NO_SPACE = 3
    BAD_NAME = 4
    NOT_ALLOWED = 5


@dataclass(frozen=True, slots=True)
class FileAnswer:
    """Accept from ``offset`` (0, or the length of a verified prefix the receiver already holds,
    whose SHA-256 is ``prefix_sha256``), or refuse. Sent again mid-transfer to resume after a
    gap."""

    file_id: Annotated[int, U32(1)]
    verdict: Annotated[FileVerdict, Enum(FileVerdict)]
    attempt: Annotated[int, U16()]
    offset: Annotated[int, U64()]
    prefix_sha256: Annotated[bytes, FixedBytes(SHA256_SIZE)]


@dataclass(frozen=True, slots=True)
class FileAck:
    """The receiver has written ``received`` bytes in order: the sender's window moves on."""

    file_id: Annotated[int, U32(1)]
    received: Annotated[int, U64()]


class FileStatus(IntEnum):
    OK = 1
    MISMATCH = 2
    WRITE_FAILED = 3


@dataclass(frozen=True, slots=True)
class FileDone:
    """The receiver's last word: the SHA-256 of what it has, and whether it kept the file."""

    file_id: Annotated[int, U32(1)]
    status: Annotated[FileStatus, Enum(FileStatus)]
    sha256: Annotated[bytes, FixedBytes(SHA256_SIZE)]


class CancelReason(IntEnum):
    USER = 1
    FAILED = 2
    STALLED = 3


@dataclass(frozen=True, slots=True)
class FileCancel:
    """Either side gives up. ``by_sender`` says whose ``file_id`` numbering this is: the file's
    sender cancels its own transfer, a receiver cancels one it was receiving."""

    file_id: Annotated[int, U32(1)]
    by_sender: Annotated[bool, Bool()]
    reason: Annotated[CancelReason, Enum(CancelReason)]


ContentMessage = (
    FrameUpdate
    | RefreshRequest
    | InputEvent
    | Cursor
    | Chat
    | FileOffer
    | FileChunk
    | Heartbeat
    | ChatAck
    | ReKeyAck
    | FileAnswer
    | FileAck
    | FileDone
    | FileCancel
)

CONTENT_TYPES: dict[ContentType, type[Any]] = {
    ContentType.FRAME_UPDATE: FrameUpdate,
    ContentType.REFRESH_REQUEST: RefreshRequest,
    ContentType.INPUT_EVENT: InputEvent,
    ContentType.CURSOR: Cursor,
    ContentType.CHAT: Chat,
    ContentType.FILE_OFFER: FileOffer,
    ContentType.FILE_CHUNK: FileChunk,
    ContentType.HEARTBEAT: Heartbeat,
    ContentType.CHAT_ACK: ChatAck,
    ContentType.REKEY_ACK: ReKeyAck,
    ContentType.FILE_ANSWER: FileAnswer,
    ContentType.FILE_ACK: FileAck,
    ContentType.FILE_DONE: FileDone,
    ContentType.FILE_CANCEL: FileCancel,
}
#: Everything a file transfer sends: addressed to one member, never to everyone.
FILE_CONTENT = frozenset(
    {
        ContentType.FILE_OFFER,
        ContentType.FILE_CHUNK,
        ContentType.FILE_ANSWER,
        ContentType.FILE_ACK,
        ContentType.FILE_DONE,
        ContentType.FILE_CANCEL,
    }
)
_TYPE_OF: dict[type[Any], ContentType] = {cls: t for t, cls in CONTENT_TYPES.items()}


def content_type_of(message: ContentMessage) -> ContentType:
    try:
        return _TYPE_OF[type(message)]
    except KeyError:
        raise LocalProtocolError(
            ErrorCode.UNKNOWN_TYPE, f"{type(message).__name__} is not a content message"
        ) from None


def encode_content(message: ContentMessage) -> tuple[ContentType, bytes]:
    """The plaintext bytes to seal, and the type to put in the clear header."""
    kind = content_type_of(message)
    data = to_bytes(message)
    if len(data) > MAX_CONTENT_PLAINTEXT:
        raise LocalProtocolError(
            ErrorCode.OVERSIZED, f"{len(data)}-byte content exceeds {MAX_CONTENT_PLAINTEXT} bytes"
        )
    return kind, data


def decode_content(kind: ContentType, plaintext: bytes) -> ContentMessage:
    """Decode an opened plaintext as exactly the type its authenticated header announced."""
    cls = CONTENT_TYPES.get(kind)
    if cls is None:
        raise RemoteProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown content type {int(kind)}")
    message: ContentMessage = from_bytes(cls, plaintext)
    return message
