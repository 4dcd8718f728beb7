"""Length-prefixed frames with hard limits, checked before a byte of the body is buffered.

A frame is ``u32 length ‖ u8 version ‖ u16 type ‖ body``, where ``length`` counts everything
after itself. The *payload* (``version ‖ type ‖ body``) is what a message-oriented carrier such as
a WebSocket would carry as one binary message, so :func:`encode_payload` / :func:`decode_payload`
are the carrier-independent part and :class:`FrameBuffer` adds the stream framing.

Limits are enforced in the order that costs an attacker the most and us the least: as soon as
the 7-byte prefix is in, the announced length is checked against the connection's maximum, the
version against ours, the type against the registry and the length against that type's own
maximum body. A peer that announces a 2 GiB frame is refused after 7 bytes, not after 2 GiB.
"""

from __future__ import annotations

import struct

from core.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from core.protocol.content import (
    GCM_TAG_SIZE,
    MAX_CIPHERTEXT,
    PROTOCOL_VERSION,
    SIGNATURE_SIZE,
    ContentHeader,
)
from core.protocol.messages import MESSAGE_TYPES, Message, Sealed
from core.protocol.wire import encode_chunks, from_bytes

_LENGTH = struct.Struct(">I")
_PAYLOAD_HEAD = struct.Struct(">BH")
_FRAME_HEAD = struct.Struct(">IBH")  # _LENGTH and _PAYLOAD_HEAD in one
#: A ``Sealed`` frame's prefix, its clear header and the ciphertext's length.
_SEALED_HEAD = struct.Struct(f">IBH{ContentHeader.SIZE}sI")
PREFIX_SIZE = _LENGTH.size + _PAYLOAD_HEAD.size
#: Default ceiling for one frame: the largest sealed content message plus its prefix.
DEFAULT_MAX_FRAME = _PAYLOAD_HEAD.size + Sealed.MAX_BODY


def encode_payload(msg: Message) -> bytes:
    """``version ‖ type ‖ body`` for one message, validated field by field."""
    cls, _, body = _encode_body(msg)
    return b"".join((_PAYLOAD_HEAD.pack(PROTOCOL_VERSION, cls.TYPE), *body))


def encode_frame(msg: Message) -> bytes:
    """``length ‖ version ‖ type ‖ body``: the prefix and the body chunks are joined in one copy."""
    cls, size, body = _encode_body(msg)
    head = _FRAME_HEAD.pack(_PAYLOAD_HEAD.size + size, PROTOCOL_VERSION, cls.TYPE)
    return b"".join((head, *body))


def encode_sealed_frame(header: bytes, ciphertext: bytes, signature: bytes) -> bytes:
    """``encode_frame(Sealed(header=ContentHeader.unpack(header), ...))``, the same bytes, from
    what :meth:`~core.crypto.sealing.ContentSealer.seal_parts` made (it checked the header's
    fields; here only sizes are), without building either dataclass: the presenter sends one
    a keystroke."""
    if len(header) != ContentHeader.SIZE:
        raise LocalProtocolError(ErrorCode.BAD_FIELD, f"a {len(header)}-byte content header")
    if not GCM_TAG_SIZE <= len(ciphertext) <= MAX_CIPHERTEXT:
        raise LocalProtocolError(
            ErrorCode.OVERSIZED,
            f"a {len(ciphertext)}-byte ciphertext is outside {GCM_TAG_SIZE}..{MAX_CIPHERTEXT}",
        )
    if len(signature) != SIGNATURE_SIZE:
        raise LocalProtocolError(ErrorCode.BAD_FIELD, f"a {len(signature)}-byte signature")
    length = _SEALED_HEAD.size - _LENGTH.size + len(ciphertext) + SIGNATURE_SIZE
    head = _SEALED_HEAD.pack(length, PROTOCOL_VERSION, Sealed.TYPE, header, len(ciphertext))
    return b"".join((head, ciphertext, signature))


def _encode_body(msg: Message) -> tuple[type[Message], int, list[bytes]]:
    """The class, body size and body chunks of a registered message within its size limit."""
    cls = type(msg)
    if MESSAGE_TYPES.get(getattr(cls, "TYPE", -1)) is not cls:
        raise LocalProtocolError(ErrorCode.UNKNOWN_TYPE, f"{cls.__name__} is not a wire message")
    body = encode_chunks(msg)
    size = sum(map(len, body))
    if size > cls.MAX_BODY:
        raise LocalProtocolError(
            ErrorCode.OVERSIZED,
            f"{cls.__name__} body of {size} bytes exceeds its {cls.MAX_BODY}-byte limit",
        )
    return cls, size, body


def frame_payload(payload: bytes | bytearray | memoryview) -> bytes:
    """Put the stream framing around one payload a message carrier delivered whole.

    A message-oriented carrier (one WebSocket binary message per payload) hands its payloads to
    the same sans-IO connection as a byte stream does, so every check of :class:`FrameBuffer`
    applies to both carriers alike.
    """
    return _LENGTH.pack(len(payload)) + bytes(payload)


def split_frames(data: bytes | bytearray | memoryview) -> list[memoryview]:
    """The payloads of whole frames concatenated by our own encoder (the inverse of joining
    :func:`encode_frame` results); anything else is a programming error, not peer input."""
    view = memoryview(data)
    payloads: list[memoryview] = []
    while view:
        if len(view) < _LENGTH.size:
            raise ValueError("trailing bytes after the last frame")
        (length,) = _LENGTH.unpack_from(view)
        end = _LENGTH.size + length
        if len(view) < end:
            raise ValueError("the last frame is cut short")
        payloads.append(view[_LENGTH.size : end])
        view = view[end:]
    return payloads


def check_payload_head(version: int, type_id: int, body_size: int) -> type[Message]:
    """Validate a payload's version, type and size; return the message class to decode."""
    if version != PROTOCOL_VERSION:
        raise RemoteProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"peer speaks protocol version {version}; this program speaks {PROTOCOL_VERSION}",
        )
    cls = MESSAGE_TYPES.get(type_id)
    if cls is None:
        raise RemoteProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {type_id}")
    if body_size > cls.MAX_BODY:
        raise RemoteProtocolError(
            ErrorCode.OVERSIZED,
            f"{cls.__name__} of {body_size} bytes exceeds its {cls.MAX_BODY}-byte limit",
        )
    return cls


def decode_payload(payload: bytes | bytearray | memoryview) -> Message:
    """Decode one complete payload; anything wrong is a :class:`RemoteProtocolError`."""
    if len(payload) < _PAYLOAD_HEAD.size:
        raise RemoteProtocolError(
            ErrorCode.TRUNCATED, f"a payload needs at least {_PAYLOAD_HEAD.size} bytes"
        )
    version, type_id = _PAYLOAD_HEAD.unpack_from(payload)
    cls = check_payload_head(version, type_id, len(payload) - _PAYLOAD_HEAD.size)
    decoded: Message = from_bytes(cls, memoryview(payload)[_PAYLOAD_HEAD.size :])
    return decoded


class FrameBuffer:
    """Reassembles frames from a byte stream; refuses oversized or foreign frames early."""

    __slots__ = ("_buf", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < _PAYLOAD_HEAD.size:
            raise ValueError("max_frame is smaller than a frame prefix")
        self.max_frame = max_frame
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a payload."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def next_payload(self) -> bytes | None:
        """The next complete payload, or ``None`` if more bytes are needed."""
        buf = self._buf
        if len(buf) < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack_from(buf)
        if length > self.max_frame:
            raise RemoteProtocolError(
                ErrorCode.OVERSIZED,
                f"peer announced a {length}-byte frame; the limit is {self.max_frame}",
            )
        if length < _PAYLOAD_HEAD.size:
            raise RemoteProtocolError(ErrorCode.MALFORMED, f"a {length}-byte frame is too short")
        if len(buf) >= PREFIX_SIZE:
            version, type_id = _PAYLOAD_HEAD.unpack_from(buf, _LENGTH.size)
            check_payload_head(version, type_id, length - _PAYLOAD_HEAD.size)
        end = _LENGTH.size + length
        if len(buf) < end:
            return None
        payload = bytes(buf[_LENGTH.size : end])
        del buf[:end]
        return payload
