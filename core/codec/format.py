"""The screen-update format: what travels in ``FrameUpdate.tiles`` (core.protocol.content).

One captured frame becomes one update: a fixed header, a list of operations, and one chunk of a
*persistent* zlib stream. All integers are big-endian; every size is checked before it is used.

Header (14 bytes)::

    u8  version      1
    u8  flags        bit 0: keyframe; every other bit must be 0
    u16 width        frame width in pixels, >= 1
    u16 height       frame height in pixels, >= 1
    u32 op_count     number of operations that follow
    u32 stream_len   length of the zlib chunk at the very end

Operations. Every operation starts with ``u8 id`` and a destination rectangle
``u16 x, u16 y, u16 w, u16 h`` with ``w, h >= 1`` lying entirely inside the frame:

==== ======== ================================================ ================================
id   name     fields after the rectangle                       zlib stream bytes it consumes
==== ======== ================================================ ================================
1    MOVE     ``u16 src_x, u16 src_y`` (source rectangle,      none
              same size, inside the frame)
2    SOLID    ``u8 r, g, b``                                   none
3    PALETTE  ``u16 k`` (new colour-table entries,             ``4k`` bytes of entries
              ``0 <= k <= min(256, w h)``)                     ``slot, r, g, b`` (distinct
                                                               slots), then ``w h`` slot
                                                               numbers, row-major
4    RAW      none                                             ``3 w h`` bytes, RGB, row-major
5    JPEG     ``u8 quality (1..100), u32 len, len bytes``      none
6    WEBP     ``u8 quality (0 = lossless, 1..100), u32 len,``  none
              ``len bytes``
==== ======== ================================================ ================================

Order and meaning:

* MOVE operations (VNC's CopyRect, generalised to any 2-D offset) come first. *All* of them read
  from the frame as it was before this update, so they may overlap freely; then they are written
  in order. A keyframe has no MOVEs.
* The painting operations follow and are applied in order on top.
* A keyframe must paint every pixel of the frame; it resets the receiver's frame (to the size in
  its header), its zlib stream and its colour table.
* PALETTE slot numbers index a *colour table* of 256 slots that both ends keep from one
  keyframe to the next (all slots undefined after a keyframe; see :mod:`core.codec.palette`).
  An operation's entries are applied before its pixels are read, so the same colour keeps the
  same slot across tiles and updates. A pixel naming an undefined slot is refused.
* The zlib chunk is what one raw-deflate compressor (``zlib.compressobj(wbits=-15)``: no header,
  no checksum) produced for this update's PALETTE and RAW payloads, in operation order, ended
  with ``Z_SYNC_FLUSH``; the stream never ends (a final block is refused). The compressor
  lives from one keyframe to the next, so a chunk can refer back to earlier updates (repeated
  glyphs, a tile that changed by one character). The receiver knows from the operations
  exactly how many bytes the chunk must inflate to and inflates no more; a chunk that yields
  fewer or more is refused.
  ``stream_len`` is 0 exactly when no operation reads from the stream.
* Nothing may follow the zlib chunk.

JPEG and WebP payloads are complete images of exactly ``w × h`` pixels in RGB; their headers are
checked against the rectangle before a single pixel is decoded. Lossy operations make the
receiver's pixels differ slightly from the sender's reference frame; MOVEs then copy those
slightly different pixels, which is harmless (errors never accumulate: a copy is exact).

Limits a decoder enforces besides the above: at most :data:`MAX_OPS` operations; painted area at
most twice the frame, moved area at most four times the frame; a frame of at most ``max_pixels``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, NamedTuple

from core.codec.errors import CodecError, Reason

FORMAT_VERSION = 1
FLAG_KEYFRAME = 0x01

HEADER = struct.Struct(">BBHHII")
_RECT = struct.Struct(">BHHHH")  # id + rectangle: every operation starts like this
_MOVE_TAIL = struct.Struct(">HH")
_SOLID_TAIL = struct.Struct(">BBB")
_PICTURE_TAIL = struct.Struct(">BI")
_U16 = struct.Struct(">H")
#: Colour-table slots (PALETTE slot numbers are one byte).
PALETTE_SLOTS = 256

#: Most operations one update may carry (a 7680×4320 keyframe in 64-pixel tiles needs 8100).
MAX_OPS = 1 << 16
#: Largest frame a decoder accepts by default: 8K UHD.
DEFAULT_MAX_PIXELS = 7680 * 4320
MIN_OP_SIZE = _RECT.size


class OpKind(IntEnum):
    """Operation ids; the numbers are part of the format and never change."""

    MOVE = 1
    SOLID = 2
    PALETTE = 3
    RAW = 4
    JPEG = 5
    WEBP = 6


class Rect(NamedTuple):
    """A rectangle in frame pixels: ``x, y`` top-left, ``w × h`` size."""

    x: int
    y: int
    w: int
    h: int

    @property
    def x1(self) -> int:
        return self.x + self.w

    @property
    def y1(self) -> int:
        return self.y + self.h

    @property
    def area(self) -> int:
        return self.w * self.h


@dataclass(frozen=True, slots=True)
class Move:
    """Copy ``src`` (as it was before the update, same size as ``rect``) to ``rect``."""

    rect: Rect
    src_x: int
    src_y: int

    #: A class constant rather than a property: every update reads it per operation.
    kind: ClassVar[OpKind] = OpKind.MOVE

    @property
    def src(self) -> Rect:
        return Rect(self.src_x, self.src_y, self.rect.w, self.rect.h)


@dataclass(frozen=True, slots=True)
class Solid:
    rect: Rect
    colour: tuple[int, int, int]

    kind: ClassVar[OpKind] = OpKind.SOLID


@dataclass(frozen=True, slots=True)
class Palette:
    """``entries`` colour-table entries, then one slot number per pixel, from the zlib stream."""

    rect: Rect
    entries: int

    kind: ClassVar[OpKind] = OpKind.PALETTE


@dataclass(frozen=True, slots=True)
class Raw:
    """``3 w h`` RGB bytes from the zlib stream."""

    rect: Rect

    kind: ClassVar[OpKind] = OpKind.RAW


@dataclass(frozen=True, slots=True)
class Picture:
    """A JPEG or WebP image of exactly the rectangle's size; ``quality`` 0 is lossless WebP."""

    kind: OpKind
    rect: Rect
    quality: int
    data: bytes = field(repr=False)


Op = Move | Solid | Palette | Raw | Picture


@dataclass(frozen=True, slots=True)
class Header:
    keyframe: bool
    width: int
    height: int
    op_count: int
    stream_len: int


@dataclass(frozen=True, slots=True)
class ParsedUpdate:
    """A structurally valid update: every rectangle in bounds, every size consistent."""

    header: Header
    ops: tuple[Op, ...]
    stream: bytes = field(repr=False)
    #: Exactly how many bytes the zlib chunk must inflate to.
    stream_needed: int


def stream_bytes(op: Op) -> int:
    """How many inflated stream bytes ``op`` consumes."""
    if isinstance(op, Palette):
        return 4 * op.entries + op.rect.area
    if isinstance(op, Raw):
        return 3 * op.rect.area
    return 0


# -- writing -----------------------------------------------------------------------------------


def write_op(buf: bytearray, op: Op) -> None:
    """Append ``op`` to ``buf`` (the encoder guarantees the values fit; they are not re-checked)."""
    r = op.rect
    buf += _RECT.pack(op.kind, r.x, r.y, r.w, r.h)
    if isinstance(op, Palette):  # the commonest first: text
        buf += _U16.pack(op.entries)
    elif isinstance(op, Solid):
        buf += _SOLID_TAIL.pack(*op.colour)
    elif isinstance(op, Move):
        buf += _MOVE_TAIL.pack(op.src_x, op.src_y)
    elif isinstance(op, Picture):
        buf += _PICTURE_TAIL.pack(op.quality, len(op.data))
        buf += op.data


def write_update(*, keyframe: bool, width: int, height: int, ops: list[Op], stream: bytes) -> bytes:
    buf = bytearray(
        HEADER.pack(
            FORMAT_VERSION, FLAG_KEYFRAME if keyframe else 0, width, height, len(ops), len(stream)
        )
    )
    for op in ops:
        write_op(buf, op)
    buf += stream
    return bytes(buf)


# -- reading -----------------------------------------------------------------------------------


def peek_header(data: bytes | bytearray | memoryview) -> Header:
    """The header alone, validated (for callers that cross-check ``FrameUpdate`` fields)."""
    if len(data) < HEADER.size:
        raise CodecError(Reason.TRUNCATED, f"update of {len(data)} bytes has no complete header")
    version, flags, width, height, op_count, stream_len = HEADER.unpack_from(data, 0)
    if version != FORMAT_VERSION:
        raise CodecError(Reason.BAD_HEADER, f"unknown update format version {version}")
    if flags & ~FLAG_KEYFRAME:
        raise CodecError(Reason.BAD_HEADER, f"unknown update flags 0x{flags:02x}")
    if width < 1 or height < 1:
        raise CodecError(Reason.BAD_HEADER, f"frame size {width}x{height} is empty")
    return Header(bool(flags & FLAG_KEYFRAME), width, height, op_count, stream_len)


def _out_of_bounds(what: str, x: int, y: int, w: int, h: int, width: int, height: int) -> str:
    return f"{what} {w}x{h}+{x}+{y} does not fit in the {width}x{height} frame"


def parse_update(
    data: bytes | bytearray | memoryview, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ParsedUpdate:
    """Check the structure of one update and return its operations; never touches pixels.

    Raises :class:`CodecError` for anything the format above does not allow.
    """
    view = memoryview(data).toreadonly()
    header = peek_header(view)
    width, height = header.width, header.height
    if width * height > max_pixels:
        raise CodecError(
            Reason.BOMB, f"frame size {width}x{height} exceeds the {max_pixels}-pixel limit"
        )
    end = len(view)
    if header.op_count > MAX_OPS:
        raise CodecError(Reason.BOMB, f"{header.op_count} operations exceed {MAX_OPS}")
    pos = HEADER.size
    if header.op_count * MIN_OP_SIZE + header.stream_len > end - pos:
        raise CodecError(
            Reason.TRUNCATED,
            f"{header.op_count} operations and a {header.stream_len}-byte stream "
            f"cannot fit in {end - pos} bytes",
        )
    frame_area = width * height
    ops: list[Op] = []
    painted = moved = needed = 0
    painting = False
    for index in range(header.op_count):
        if end - pos < _RECT.size:
            raise CodecError(Reason.TRUNCATED, f"operation {index} ends early")
        raw_kind, x, y, w, h = _RECT.unpack_from(view, pos)
        pos += _RECT.size
        try:
            kind = OpKind(raw_kind)
        except ValueError:
            raise CodecError(Reason.BAD_OP, f"operation {index}: unknown id {raw_kind}") from None
        if w < 1 or h < 1:
            raise CodecError(Reason.BAD_SIZE, f"operation {index}: empty {w}x{h} rectangle")
        if x + w > width or y + h > height:
            raise CodecError(
                Reason.OUT_OF_BOUNDS,
                f"operation {index}: " + _out_of_bounds("rectangle", x, y, w, h, width, height),
            )
        rect = Rect(x, y, w, h)
        op: Op
        if kind is OpKind.MOVE:
            if header.keyframe:
                raise CodecError(Reason.BAD_OP, "a keyframe cannot move pixels")
            if painting:
                raise CodecError(Reason.BAD_OP, f"operation {index}: a MOVE after painting")
            if end - pos < _MOVE_TAIL.size:
                raise CodecError(Reason.TRUNCATED, f"operation {index} ends early")
            src_x, src_y = _MOVE_TAIL.unpack_from(view, pos)
            pos += _MOVE_TAIL.size
            if src_x + w > width or src_y + h > height:
                raise CodecError(
                    Reason.OUT_OF_BOUNDS,
                    f"operation {index}: "
                    + _out_of_bounds("move source", src_x, src_y, w, h, width, height),
                )
            moved += rect.area
            if moved > 4 * frame_area:
                raise CodecError(Reason.BOMB, "moves cover more than four times the frame")
            op = Move(rect, src_x, src_y)
        else:
            painting = True
            painted += rect.area
            if painted > 2 * frame_area:
                raise CodecError(Reason.BOMB, "painting covers more than twice the frame")
            if kind is OpKind.SOLID:
                if end - pos < _SOLID_TAIL.size:
                    raise CodecError(Reason.TRUNCATED, f"operation {index} ends early")
                r, g, b = _SOLID_TAIL.unpack_from(view, pos)
                pos += _SOLID_TAIL.size
                op = Solid(rect, (r, g, b))
            elif kind is OpKind.PALETTE:
                if end - pos < _U16.size:
                    raise CodecError(Reason.TRUNCATED, f"operation {index} ends early")
                (entries,) = _U16.unpack_from(view, pos)
                pos += _U16.size
                if entries > min(PALETTE_SLOTS, rect.area):
                    raise CodecError(
                        Reason.BAD_SIZE,
                        f"operation {index}: {entries} colour entries for {rect.area} pixels",
                    )
                op = Palette(rect, entries)
                needed += stream_bytes(op)
            elif kind is OpKind.RAW:
                op = Raw(rect)
                needed += stream_bytes(op)
            else:
                if end - pos < _PICTURE_TAIL.size:
                    raise CodecError(Reason.TRUNCATED, f"operation {index} ends early")
                quality, size = _PICTURE_TAIL.unpack_from(view, pos)
                pos += _PICTURE_TAIL.size
                low = 0 if kind is OpKind.WEBP else 1
                if not low <= quality <= 100:
                    raise CodecError(
                        Reason.BAD_OP, f"operation {index}: quality {quality} outside {low}..100"
                    )
                if size < 1 or size > end - pos - header.stream_len:
                    raise CodecError(
                        Reason.TRUNCATED,
                        f"operation {index}: a {size}-byte image does not fit in the update",
                    )
                op = Picture(kind, rect, quality, bytes(view[pos : pos + size]))
                pos += size
        ops.append(op)
    remaining = end - pos
    if remaining < header.stream_len:
        raise CodecError(
            Reason.TRUNCATED, f"the stream needs {header.stream_len} bytes, {remaining} left"
        )
    if remaining > header.stream_len:
        raise CodecError(
            Reason.TRAILING_BYTES, f"{remaining - header.stream_len} bytes after the stream"
        )
    if (needed == 0) != (header.stream_len == 0):
        raise CodecError(
            Reason.BAD_SIZE,
            f"a {header.stream_len}-byte stream for operations that need {needed} bytes",
        )
    return ParsedUpdate(header, tuple(ops), bytes(view[pos:]), needed)


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMAT_VERSION",
    "HEADER",
    "MAX_OPS",
    "PALETTE_SLOTS",
    "Header",
    "Move",
    "Op",
    "OpKind",
    "Palette",
    "ParsedUpdate",
    "Picture",
    "Raw",
    "Rect",
    "Solid",
    "parse_update",
    "peek_header",
    "stream_bytes",
    "write_op",
    "write_update",
]
