"""The pipe between the client and its viewer window process, as a sans-IO codec.

The viewer is a separate process (docs/design.md §6.4, §8.5): the client writes to its stdin and
reads its stdout. Both directions carry the same framing::

    u32 length (big-endian, counts kind + body) ‖ u8 kind ‖ body

Why its own little codec and not the wire protocol's :class:`~core.protocol.framing.FrameBuffer`:
this pipe is local and carries *decrypted* content plus window state that never travels on the
network, so it has its own message kinds. The session content it carries (frame updates, cursor
positions, input events, refresh reasons) is encoded with :func:`~core.protocol.content.
encode_content` / :func:`~core.protocol.content.decode_content`, so there is exactly one
validating codec for those plaintexts, and the viewer refuses on the pipe exactly what the client
would refuse on the wire.

Each side only accepts the kinds that flow towards it (:data:`TO_VIEWER`, :data:`TO_CLIENT`), and
every limit is checked as soon as the 5-byte prefix is in: an announced 2 GiB message is refused
after 5 bytes. Anything wrong raises :class:`PipeError` with a sentence a person can read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Annotated, Final

from core.errors import ProtocolError
from core.protocol.content import (
    ContentType,
    Cursor,
    FrameUpdate,
    InputEvent,
    RefreshReason,
    RefreshRequest,
    decode_content,
    encode_content,
)
from core.protocol.wire import U32, Bool, Enum, Text, from_bytes, to_bytes

_PREFIX = struct.Struct(">IB")
PREFIX_SIZE: Final = _PREFIX.size
#: The largest message (kind + body) either side accepts. A frame update is at most 4 MiB of
#: plaintext; twice that leaves room without letting a confused peer make us buffer gigabytes.
MAX_MESSAGE: Final = 8 * 1024 * 1024
#: Every message except an update is a handful of bytes; refuse big ones before buffering them.
MAX_SMALL_MESSAGE: Final = 4096
#: Longest presenter name shown in the window (UTF-8 bytes), as in the wire's display names.
MAX_PRESENTER_BYTES: Final = 64


class PipeError(Exception):
    """The bytes on the pipe are not a valid message (or we tried to send an invalid one)."""


class Kind(IntEnum):
    """The message kinds. 1–15 flow client → viewer, 16–31 viewer → client."""

    UPDATE = 1
    CURSOR = 2
    STATE = 3
    DROPPED = 4
    CLOSE = 5
    INPUT = 16
    REFRESH = 17
    READY = 18
    CLOSED = 19


class ViewerState(IntEnum):
    """Which overlay the window shows over (or instead of) the picture."""

    WAITING = 1
    LIVE = 2
    PAUSED = 3
    RECONNECTING = 4
    ENDED = 5


# -- client → viewer -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Update:
    """One decrypted (still compressed) frame update for the window to decode and paint."""

    update: FrameUpdate


@dataclass(frozen=True, slots=True)
class CursorAt:
    """Where the presenter's pointer is, in frame pixels."""

    cursor: Cursor


@dataclass(frozen=True, slots=True)
class State:
    """The session state the window reflects, and whether this member holds remote control."""

    state: Annotated[ViewerState, Enum(ViewerState)]
    control: Annotated[bool, Bool()] = False
    #: The presenter's display name, for the overlays (no control characters, capped).
    presenter: Annotated[str, Text(MAX_PRESENTER_BYTES)] = ""


@dataclass(frozen=True, slots=True)
class Dropped:
    """The relay dropped updates for us: the picture is stale until the next keyframe."""


@dataclass(frozen=True, slots=True)
class Close:
    """Close the window and exit."""


# -- viewer → client -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Input:
    """A remote-control event from the window, in frame coordinates."""

    event: InputEvent = field(repr=False)


@dataclass(frozen=True, slots=True)
class Refresh:
    """The window needs a keyframe (it started, missed updates or could not decode one)."""

    reason: RefreshReason


@dataclass(frozen=True, slots=True)
class Ready:
    """The window is mapped. ``window_id`` is its outermost X window (the toplevel, or the window
    manager's frame around it), so callers and tests can find it on the display."""

    window_id: Annotated[int, U32(1)]


@dataclass(frozen=True, slots=True)
class Closed:
    """The person closed the window."""


ToViewer = Update | CursorAt | State | Dropped | Close
ToClient = Input | Refresh | Ready | Closed
PipeMessage = ToViewer | ToClient

TO_VIEWER: Final = frozenset({Kind.UPDATE, Kind.CURSOR, Kind.STATE, Kind.DROPPED, Kind.CLOSE})
TO_CLIENT: Final = frozenset({Kind.INPUT, Kind.REFRESH, Kind.READY, Kind.CLOSED})

_EMPTY: dict[type[object], Kind] = {Dropped: Kind.DROPPED, Close: Kind.CLOSE, Closed: Kind.CLOSED}


def _body(message: PipeMessage) -> tuple[Kind, bytes]:
    match message:
        case Update(update=update):
            return Kind.UPDATE, encode_content(update)[1]
        case CursorAt(cursor=cursor):
            return Kind.CURSOR, encode_content(cursor)[1]
        case Input(event=event):
            return Kind.INPUT, encode_content(event)[1]
        case Refresh(reason=reason):
            return Kind.REFRESH, encode_content(RefreshRequest(reason=reason))[1]
        case State():
            return Kind.STATE, to_bytes(message)
        case Ready():
            return Kind.READY, to_bytes(message)
        case Dropped() | Close() | Closed():
            return _EMPTY[type(message)], b""
    raise PipeError(f"{type(message).__name__} is not a pipe message")


def encode_message(message: PipeMessage) -> bytes:
    """One framed message, validated field by field (an invalid one raises :class:`PipeError`)."""
    try:
        kind, body = _body(message)
    except ProtocolError as exc:
        raise PipeError(f"cannot send {type(message).__name__}: {exc}") from None
    size = 1 + len(body)
    if size > max_size(kind):
        raise PipeError(f"a {size}-byte {kind.name} message exceeds its {max_size(kind)} bytes")
    return _PREFIX.pack(size, kind) + body


def max_size(kind: Kind) -> int:
    """The largest kind + body a message of ``kind`` may have."""
    return MAX_MESSAGE if kind is Kind.UPDATE else MAX_SMALL_MESSAGE


def decode_message(kind: Kind, body: bytes) -> PipeMessage:
    """Decode one message body of a known kind; anything invalid raises :class:`PipeError`."""
    try:
        return _decode(kind, body)
    except ProtocolError as exc:
        raise PipeError(f"invalid {kind.name} message: {exc}") from None


def _decode(kind: Kind, body: bytes) -> PipeMessage:
    if kind in (Kind.DROPPED, Kind.CLOSE, Kind.CLOSED):
        if body:
            raise PipeError(f"a {kind.name} message has no body, got {len(body)} bytes")
        return Dropped() if kind is Kind.DROPPED else Close() if kind is Kind.CLOSE else Closed()
    if kind is Kind.STATE:
        return from_bytes(State, body)
    if kind is Kind.READY:
        return from_bytes(Ready, body)
    content = {
        Kind.UPDATE: ContentType.FRAME_UPDATE,
        Kind.CURSOR: ContentType.CURSOR,
        Kind.INPUT: ContentType.INPUT_EVENT,
        Kind.REFRESH: ContentType.REFRESH_REQUEST,
    }[kind]
    decoded = decode_content(content, body)
    match decoded:
        case FrameUpdate():
            return Update(decoded)
        case Cursor():
            return CursorAt(decoded)
        case InputEvent():
            return Input(decoded)
        case RefreshRequest(reason=reason):
            return Refresh(reason)
    raise PipeError(f"unexpected {type(decoded).__name__} in a {kind.name} message")


class PipeBuffer:
    """Reassembles messages from a byte stream; refuses foreign, oversized or malformed ones.

    ``accept`` is the set of kinds that may arrive in this direction (:data:`TO_VIEWER` on the
    viewer's stdin, :data:`TO_CLIENT` on the client's side of its stdout).
    """

    __slots__ = ("_buf", "accept")

    def __init__(self, accept: frozenset[Kind]) -> None:
        self.accept = accept
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def next_message(self) -> PipeMessage | None:
        """The next complete message, or ``None`` if more bytes are needed."""
        buf = self._buf
        if len(buf) < PREFIX_SIZE:
            return None
        size, raw_kind = _PREFIX.unpack_from(buf)
        try:
            kind = Kind(raw_kind)
        except ValueError:
            raise PipeError(f"unknown message kind {raw_kind}") from None
        if kind not in self.accept:
            raise PipeError(f"a {kind.name} message does not flow in this direction")
        if size < 1:
            raise PipeError("a message of length 0 has no kind")
        if size > max_size(kind):
            raise PipeError(
                f"peer announced a {size}-byte {kind.name} message; the limit is {max_size(kind)}"
            )
        end = 4 + size
        if len(buf) < end:
            return None
        body = bytes(buf[PREFIX_SIZE:end])
        del buf[:end]
        return decode_message(kind, body)

    def messages(self) -> list[PipeMessage]:
        """Every complete message buffered so far."""
        out: list[PipeMessage] = []
        while (message := self.next_message()) is not None:
            out.append(message)
        return out

    def check_eof(self) -> None:
        """At end of stream: a partly received message means the peer died mid-write."""
        if self._buf:
            raise PipeError(f"the stream ended inside a message ({len(self._buf)} bytes left)")
