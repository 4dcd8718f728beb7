"""The viewer's side: updates in, a framebuffer and the rectangles that changed out.

An update is applied all or nothing. It is parsed and checked completely (:func:`parse_update`),
its zlib chunk inflated to exactly the size the operations need, every image decoded and checked
against its rectangle, every palette index checked against its palette, and only then are pixels
written. A refused update raises :class:`~core.codec.errors.CodecError` (and nothing else), is
counted by reason, leaves the framebuffer showing the last good frame, and puts the decoder in
the *awaiting keyframe* state: the persistent zlib stream and the reference frame are no longer
those of the sender, so every further delta is refused until a keyframe arrives. The same state
follows a gap in ``frame_seq`` (a dropped update): pass ``frame_seq`` to :meth:`Decoder.apply`,
or call :meth:`Decoder.invalidate` when the caller notices the gap itself. Either way the
caller should send a ``RefreshRequest`` while :attr:`Decoder.needs_keyframe` is true.
"""

from __future__ import annotations

import io
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from core.codec.errors import CodecError, Reason
from core.codec.format import (
    DEFAULT_MAX_PIXELS,
    Move,
    OpKind,
    Palette,
    ParsedUpdate,
    Picture,
    Raw,
    Rect,
    Solid,
    parse_update,
)
from core.codec.palette import SLOTS

ZLIB_WBITS = -15
_SEQ_MODULUS = 1 << 32
_PIL_FORMATS = {OpKind.JPEG: "JPEG", OpKind.WEBP: "WEBP"}

U8Array = npt.NDArray[np.uint8]
Patch = tuple[Rect, U8Array | tuple[int, int, int]]


@dataclass(frozen=True, slots=True)
class DecoderStatistics:
    updates: int
    keyframes: int
    bytes_in: int
    rejected: int
    rejected_by_reason: Mapping[Reason, int]
    gaps: int
    ops: Mapping[OpKind, int]
    needs_keyframe: bool


class Decoder:
    """Holds the viewer's framebuffer and applies updates to it."""

    def __init__(self, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self._max_pixels = max_pixels
        self._frame: U8Array | None = None
        self._z = zlib.decompressobj(ZLIB_WBITS)
        self._colours = np.zeros((SLOTS, 3), np.uint8)
        self._defined = np.zeros(SLOTS, np.bool_)
        self._needs_keyframe = True
        self._last_seq: int | None = None
        self._updates = self._keyframes = self._bytes_in = self._gaps = 0
        self._rejected: Counter[Reason] = Counter()
        self._op_counts: Counter[OpKind] = Counter()

    @property
    def frame(self) -> U8Array | None:
        """The current picture (``H × W × 3`` RGB, read-only view), or ``None`` before the first
        keyframe."""
        if self._frame is None:
            return None
        view = self._frame.view()
        view.flags.writeable = False
        return view

    @property
    def needs_keyframe(self) -> bool:
        return self._needs_keyframe

    def invalidate(self) -> None:
        """The caller lost an update (a gap): refuse deltas until the next keyframe."""
        if not self._needs_keyframe:
            self._gaps += 1
        self._needs_keyframe = True

    def statistics(self) -> DecoderStatistics:
        return DecoderStatistics(
            updates=self._updates,
            keyframes=self._keyframes,
            bytes_in=self._bytes_in,
            rejected=sum(self._rejected.values()),
            rejected_by_reason=dict(self._rejected),
            gaps=self._gaps,
            ops=dict(self._op_counts),
            needs_keyframe=self._needs_keyframe,
        )

    def apply(
        self, data: bytes | bytearray | memoryview, *, keyframe: bool, frame_seq: int | None = None
    ) -> list[Rect]:
        """Apply one update (``FrameUpdate.tiles``) and return the rectangles it changed.

        ``keyframe`` is ``FrameUpdate.keyframe`` and must agree with the update's own header.
        With ``frame_seq``, a delta whose sequence number does not follow the last applied one
        is a gap. Raises :class:`CodecError` (only) for anything refused.
        """
        follows = self._last_seq is None or frame_seq == (self._last_seq + 1) % _SEQ_MODULUS
        if frame_seq is not None and not keyframe and not follows:
            self.invalidate()
        try:
            damaged = self._apply(data, keyframe)
        except CodecError as exc:
            self._rejected[exc.reason] += 1
            self._needs_keyframe = True
            raise
        self._updates += 1
        self._keyframes += keyframe
        self._bytes_in += len(data)
        if frame_seq is not None:
            self._last_seq = frame_seq % _SEQ_MODULUS
        return damaged

    # -- internals ----------------------------------------------------------------------------

    def _apply(self, data: bytes | bytearray | memoryview, keyframe: bool) -> list[Rect]:
        if not keyframe and (self._needs_keyframe or self._frame is None):
            raise CodecError(Reason.NEEDS_KEYFRAME, "waiting for a keyframe; delta refused")
        parsed = parse_update(data, max_pixels=self._max_pixels)
        header = parsed.header
        if header.keyframe != keyframe:
            raise CodecError(
                Reason.BAD_HEADER,
                f"the message says keyframe={keyframe}, the update says {header.keyframe}",
            )
        if not keyframe:
            assert self._frame is not None
            if self._frame.shape[:2] != (header.height, header.width):
                raise CodecError(
                    Reason.BAD_HEADER,
                    f"a {header.width}x{header.height} delta for a "
                    f"{self._frame.shape[1]}x{self._frame.shape[0]} frame",
                )
        z = zlib.decompressobj(ZLIB_WBITS) if keyframe else self._z
        stream = self._inflate(z, parsed)
        if keyframe:
            self._defined[:] = False
        # The colour table may change below although the update is then refused: harmless,
        # since a refused update leaves the decoder awaiting a keyframe, which resets it.
        moves, patches = self._decode_ops(parsed, stream)
        if keyframe:
            frame = np.zeros((header.height, header.width, 3), np.uint8)
            self._check_coverage(header.width, header.height, patches)
        else:
            assert self._frame is not None
            frame = self._frame
        # Nothing can fail from here on: paint.
        sources = [
            frame[m.src_y : m.src_y + m.rect.h, m.src_x : m.src_x + m.rect.w].copy() for m in moves
        ]
        for move, pixels in zip(moves, sources, strict=True):
            r = move.rect
            frame[r.y : r.y1, r.x : r.x1] = pixels
        for r, value in patches:
            frame[r.y : r.y1, r.x : r.x1] = value
        self._frame = frame
        self._z = z
        self._needs_keyframe = False
        self._op_counts.update(op.kind for op in parsed.ops)
        return [op.rect for op in parsed.ops]

    @staticmethod
    def _inflate(z: zlib._Decompress, parsed: ParsedUpdate) -> bytes:
        needed = parsed.stream_needed
        if not needed:
            return b""
        try:
            out = z.decompress(parsed.stream, needed)
            extra = z.decompress(z.unconsumed_tail, 1)
        except zlib.error as exc:
            raise CodecError(Reason.STREAM, f"the zlib chunk is corrupt: {exc}") from None
        if len(out) < needed:
            raise CodecError(
                Reason.STREAM, f"the zlib chunk inflates to {len(out)} bytes, not {needed}"
            )
        if extra or z.unconsumed_tail:
            raise CodecError(Reason.BOMB, f"the zlib chunk inflates to more than {needed} bytes")
        if z.eof:
            raise CodecError(Reason.STREAM, "the zlib stream ended; it must stay open")
        return out

    def _decode_ops(self, parsed: ParsedUpdate, stream: bytes) -> tuple[list[Move], list[Patch]]:
        moves: list[Move] = []
        patches: list[Patch] = []
        buf = memoryview(stream)
        pos = 0
        for index, op in enumerate(parsed.ops):
            r = op.rect
            if isinstance(op, Move):
                moves.append(op)
            elif isinstance(op, Solid):
                patches.append((r, op.colour))
            elif isinstance(op, Palette):
                k = op.entries
                entries = np.frombuffer(buf[pos : pos + 4 * k], np.uint8).reshape(k, 4)
                pos += 4 * k
                slots = entries[:, 0]
                if k and np.bincount(slots, minlength=SLOTS).max() > 1:
                    raise CodecError(
                        Reason.BAD_OP, f"operation {index}: a colour slot is defined twice"
                    )
                self._colours[slots] = entries[:, 1:]
                self._defined[slots] = True
                indices = np.frombuffer(buf[pos : pos + r.area], np.uint8).reshape(r.h, r.w)
                pos += r.area
                if not self._defined[indices].all():
                    raise CodecError(
                        Reason.PALETTE_INDEX,
                        f"operation {index}: a pixel names an undefined colour slot",
                    )
                patches.append((r, self._colours[indices]))
            elif isinstance(op, Raw):
                size = 3 * r.area
                patches.append(
                    (r, np.frombuffer(buf[pos : pos + size], np.uint8).reshape(r.h, r.w, 3))
                )
                pos += size
            else:
                patches.append((r, self._decode_picture(index, op)))
        return moves, patches

    @staticmethod
    def _decode_picture(index: int, op: Picture) -> U8Array:
        r = op.rect
        name = _PIL_FORMATS[op.kind]
        try:
            with Image.open(io.BytesIO(op.data), formats=[name]) as image:
                if image.size != (r.w, r.h):
                    raise CodecError(
                        Reason.BAD_SIZE,
                        f"operation {index}: a {image.size[0]}x{image.size[1]} {name} "
                        f"for a {r.w}x{r.h} rectangle",
                    )
                if image.mode != "RGB" or getattr(image, "n_frames", 1) != 1:
                    raise CodecError(
                        Reason.IMAGE, f"operation {index}: a {image.mode} {name}, not one RGB image"
                    )
                pixels = np.asarray(image)
        except CodecError:
            raise
        except Exception as exc:  # Pillow raises many types for bad images; all mean the same
            raise CodecError(
                Reason.IMAGE,
                f"operation {index}: the {name} does not decode ({type(exc).__name__})",
            ) from None
        if pixels.shape != (r.h, r.w, 3) or pixels.dtype != np.uint8:
            raise CodecError(
                Reason.IMAGE, f"operation {index}: the {name} decoded to {pixels.shape}"
            )
        return pixels

    @staticmethod
    def _check_coverage(width: int, height: int, patches: list[Patch]) -> None:
        painted = np.zeros((height, width), np.bool_)
        for r, _ in patches:
            painted[r.y : r.y1, r.x : r.x1] = True
        if not painted.all():
            missing = int(painted.size - np.count_nonzero(painted))
            raise CodecError(Reason.BAD_SIZE, f"the keyframe leaves {missing} pixels unpainted")


__all__ = ["Decoder", "DecoderStatistics"]
