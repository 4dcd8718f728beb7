"""The presenter's side: captured frames in, one update (or nothing) per frame out.

The encoder keeps its own *reference*: the last frame it encoded, as captured. Each frame is
compared with it in 64×64 tiles (as uint64 words, one vectorised compare), and only when a tile
changed is anything else done:

1. the changed tiles' bounding region is compared pixel by pixel (packed uint32 pixels);
2. moves are looked for there (:mod:`core.codec.motion`) and the pixels they reproduce exactly
   are taken out of the changed set;
3. what is left is cut into one rectangle per tile: the bounding box of the tile's changed pixels;
4. each rectangle is classified (:mod:`core.codec.classify`) and sent as SOLID, PALETTE (through
   the persistent zlib stream), RAW (many-colour synthetic content, also through the stream)
   or, for photographic content, JPEG (RAW when the encoder is ``lossless``, or when the
   rectangle is thinner than :data:`MIN_PICTURE_SIDE`). Whole tiles of the same solid colour,
   and photographic rectangles that share an edge, are merged into larger rectangles first:
   fewer operations, and one JPEG per picture instead of one per tile.

**Lossy pixels.** The reference holds the captured pixels, not what the viewer decoded, so a
JPEG'd region is not re-sent while it does not change and MOVEs compare against the captured
pixels. The viewer's copy of a photographic region is therefore the JPEG approximation (≥ 40 dB
PSNR at the default quality), and a MOVE copies that approximation exactly. With
``refine_after=N`` a lossy tile that has not changed for N frames is re-sent losslessly (as
lossless WebP, or PALETTE when it has few colours), once, so a still picture ends up exact.

**Change hints.** ``encode(frame, changed=rects)`` promises that ``frame`` equals the previous
frame outside ``rects`` (a capturer that knows what was drawn, e.g. from XDAMAGE): only the tiles
those rectangles touch are copied and compared, so a keystroke costs a few tiles, not a frame.

**Keyframes** are sent for the first frame, on :meth:`Encoder.force_keyframe` (a viewer asked for
a refresh, a new epoch, a late joiner), on ``encode(..., keyframe=True)`` and when the frame size
changes. A keyframe paints every pixel and starts a new zlib stream.

An update never exceeds ``max_update_bytes`` (what one ``FrameUpdate`` can carry): if it would,
the frame is encoded again with every non-solid rectangle as a JPEG of decreasing quality; a
``lossless`` encoder raises :class:`~core.errors.LocalProtocolError` instead. A failed encode
changes no state.
"""

from __future__ import annotations

import io
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from core.codec.classify import MAX_COLOURS, TileKind, analyse, smooth
from core.codec.format import (
    MAX_OPS,
    Move,
    Op,
    OpKind,
    Palette,
    Picture,
    Raw,
    Rect,
    Solid,
    write_update,
)
from core.codec.motion import BLOCK, MAX_MOVES, FrameBuffer, MotionDetector, Region
from core.codec.palette import ColourTable
from core.errors import ErrorCode, LocalProtocolError
from core.protocol.content import MAX_CONTENT_PLAINTEXT

#: The most a ``FrameUpdate.tiles`` field carries.
MAX_UPDATE_BYTES = MAX_CONTENT_PLAINTEXT - 64
DEFAULT_TILE = 64
DEFAULT_QUALITY = 90
#: Qualities tried, in order, when an update would not fit in one message.
_FALLBACK_QUALITIES = (70, 50, 30, 15)
#: Photographic rectangles thinner than this go RAW through the zlib stream: a JPEG of a
#: 4-pixel strip is mostly header and padding.
MIN_PICTURE_SIDE = 16
#: Fewer changed pixels than this are painted without looking for moves: the search costs
#: about a millisecond whatever the change, and painting a keystroke's glyph and cursor costs
#: a few dozen bytes.
MIN_MOVE_PIXELS = 1024
ZLIB_WBITS = -15  # raw deflate: no header, no checksum; the stream never ends anyway
#: Hints whose bounding box holds at most this many pixels (a keystroke's glyph and cursor) are
#: compared and painted as that box alone (:meth:`Encoder._encode_glyph`).
GLYPH_PIXELS = 64 * 64
#: A hint whose tiles fit in a box of at most this many tiles (a keystroke: the glyph's and the
#: cursor's tiles) is compared in one piece, without the frame-wide tile grid.
FEW_TILES = 8
#: No less than the update header and any operation take, image data aside (see format.py:
#: 14 bytes each at most).
_UPDATE_OVERHEAD = 16

U8Array = npt.NDArray[np.uint8]
U32Array = npt.NDArray[np.uint32]
BoolArray = npt.NDArray[np.bool_]
K = TypeVar("K")
#: A rectangle to paint: tile row and column, then ``y0, y1, x0, x1`` inside the tile.
Box = tuple[int, int, int, int, int, int]
#: ``np.any`` without its Python wrapper: one C call (updates are small and frequent).
_any = np.logical_or.reduce


@dataclass(frozen=True, slots=True)
class EncodedUpdate:
    """One frame's update: put :attr:`data` in ``FrameUpdate.tiles`` with :attr:`keyframe`."""

    data: bytes = field(repr=False)
    keyframe: bool
    width: int
    height: int
    #: How many operations of each kind the update holds.
    ops: Mapping[OpKind, int]
    #: Every rectangle the update paints or moves into, in frame pixels.
    damaged: tuple[Rect, ...]
    #: Whether any pixel was sent lossily (JPEG / lossy WebP).
    lossy: bool

    def __len__(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class EncoderStatistics:
    frames: int
    updates: int
    keyframes: int
    unchanged: int
    refinements: int
    oversize_retries: int
    bytes_out: int
    ops: Mapping[OpKind, int]


@dataclass(slots=True)
class _Painted:
    ops: list[Op]
    stream: list[bytes]
    lossy: bool
    table: ColourTable
    #: Bytes of JPEG / WebP data in :attr:`ops` (bounds the update's size before compressing).
    picture_bytes: int = 0


class _Change(NamedTuple):
    """Where a delta looks: the bounding region of the tiles that changed (and of those due for
    refinement), how many tiles changed, and which are due for refinement (None: none is)."""

    region: Region
    tiles: int
    refined: BoolArray | None


def _count_kinds(ops: list[Op]) -> dict[OpKind, int]:
    """How many operations of each kind (a keystroke's one or two: a dict, not a Counter)."""
    counts: dict[OpKind, int] = {}
    for op in ops:
        counts[op.kind] = counts.get(op.kind, 0) + 1
    return counts


def _zlib(level: int) -> zlib._Compress:
    return zlib.compressobj(level, zlib.DEFLATED, ZLIB_WBITS)


def _deflated_bound(size: int) -> int:
    """More than a sync-flushed raw-deflate chunk of ``size`` input bytes can take: zlib's
    worst case (``deflateBound`` for any settings) is about ``size + size/8 + size/256 + 4``,
    and the flush adds a few bytes."""
    return size + (size >> 2) + 256


def tile_boxes(mask: BoolArray, tile: int) -> tuple[npt.NDArray[np.intp], ...]:
    """Per tile of ``mask`` (whose sides are multiples of ``tile``) with any true pixel: the
    tile's row and column and the bounding box ``y0, y1, x0, x1`` of its true pixels (tile
    coordinates), as arrays."""
    h, w = mask.shape
    grid = mask.reshape(h // tile, tile, w // tile, tile)
    rows: BoolArray = _any(grid, axis=3)  # tile-row, y, tile-col
    cols: BoolArray = _any(grid, axis=1)  # tile-row, tile-col, x
    ty, tx = _any(cols, axis=2).nonzero()
    r = rows[ty, :, tx]
    c = cols[ty, tx, :]
    y0 = r.argmax(axis=1)
    y1 = tile - r[:, ::-1].argmax(axis=1)
    x0 = c.argmax(axis=1)
    x1 = tile - c[:, ::-1].argmax(axis=1)
    return ty, tx, y0, y1, x0, x1


def _box_list(
    boxes: tuple[npt.NDArray[np.intp], ...], ty_offset: int = 0, tx_offset: int = 0
) -> list[Box]:
    """:func:`tile_boxes`' arrays as one tuple of Python ints per box, the tile row and column
    shifted by the offsets: painting a box then touches no numpy scalar."""
    ty, tx, y0, y1, x0, x1 = [a.tolist() for a in boxes]
    return [
        (a + ty_offset, b + tx_offset, c, d, e, f)
        for a, b, c, d, e, f in zip(ty, tx, y0, y1, x0, x1, strict=True)
    ]


def changed_boxes(
    mask: BoolArray, tile: int, ty_offset: int, tx_offset: int, *, merge: bool = True
) -> list[Box]:
    """The rectangles to paint for the changed pixels ``mask`` of a tile-aligned region whose
    first tile is ``(ty_offset, tx_offset)``: one per tile with a change, the bounding box of
    its changed pixels (:func:`tile_boxes`). Or, with ``merge``, when the region has at most
    2 × 2 tiles and all its changed pixels fit in a box of at most one tile's area, that one
    box, across tile borders if need be: a keystroke on a text line that straddles a tile row is
    then one glyph-sized rectangle (one classification, one set of palette definitions, one
    operation), not a sliver above the border and the rest below."""
    h, w = mask.shape
    if merge and h <= 2 * tile and w <= 2 * tile:
        bounds = mask_bounds(mask)
        if bounds is None:
            return []
        y0, y1, x0, x1 = bounds
        if (y1 - y0) * (x1 - x0) <= tile * tile:
            return [(ty_offset, tx_offset, y0, y1, x0, x1)]
    return _box_list(tile_boxes(mask, tile), ty_offset, tx_offset)


def mask_bounds(mask: BoolArray) -> tuple[int, int, int, int] | None:
    """The bounding box ``y0, y1, x0, x1`` of ``mask``'s true pixels, or None if there are
    none: two numpy reductions (a keystroke wakes the presenter cold, and there every numpy
    call costs microseconds)."""
    rows: list[bool] = _any(mask, axis=1).tolist()
    if True not in rows:
        return None
    cols: list[bool] = _any(mask, axis=0).tolist()
    h, w = len(rows), len(cols)
    return (
        rows.index(True),
        h - rows[::-1].index(True),
        cols.index(True),
        w - cols[::-1].index(True),
    )


def merge_cells(cells: Mapping[tuple[int, int], K]) -> list[tuple[int, int, int, int, K]]:
    """Merge grid cells with equal keys into rectangles ``(ty0, ty1, tx0, tx1, key)``: runs
    along rows, then identical runs in consecutive rows. Every cell lands in exactly one."""
    runs: list[tuple[int, int, int, K]] = []  # row, col0, col1, key
    for (ty, tx), key in sorted(cells.items(), key=lambda item: item[0]):
        if runs:
            row, c0, c1, last = runs[-1]
            if row == ty and c1 == tx and last == key:
                runs[-1] = (row, c0, tx + 1, key)
                continue
        runs.append((ty, tx, tx + 1, key))
    out: list[tuple[int, int, int, int, K]] = []
    spans: dict[tuple[int, int, K], tuple[int, int]] = {}
    for ty, tx0, tx1, key in runs:
        span = spans.get((tx0, tx1, key))
        if span is not None and span[1] == ty:
            spans[(tx0, tx1, key)] = (span[0], ty + 1)
            continue
        if span is not None:
            out.append((span[0], span[1], tx0, tx1, key))
        spans[(tx0, tx1, key)] = (ty, ty + 1)
    out.extend((ty0, ty1, tx0, tx1, key) for (tx0, tx1, key), (ty0, ty1) in spans.items())
    return out


def merge_rects(rects: list[Rect]) -> list[Rect]:
    """Join rectangles that share a whole edge: first along columns (same ``x, w``, touching
    vertically), then along rows (same ``y, h``, touching horizontally)."""
    merged: list[Rect] = []
    for r in sorted(rects, key=lambda r: (r.x, r.w, r.y)):
        last = merged[-1] if merged else None
        if last is not None and (last.x, last.w, last.y1) == (r.x, r.w, r.y):
            merged[-1] = Rect(last.x, last.y, last.w, last.h + r.h)
        else:
            merged.append(r)
    out: list[Rect] = []
    for r in sorted(merged, key=lambda r: (r.y, r.h, r.x)):
        last = out[-1] if out else None
        if last is not None and (last.y, last.h, last.x1) == (r.y, r.h, r.x):
            out[-1] = Rect(last.x, last.y, last.w + r.w, last.h)
        else:
            out.append(r)
    return out


class Encoder:
    """Encodes frames of one screen into updates; see the module docstring.

    ``quality`` is the JPEG (or lossy WebP) quality of photographic rectangles; ``lossless``
    sends them as RAW through the zlib stream instead. ``photo_format`` picks JPEG (fast, the
    default) or lossy WebP (smaller, several times slower). ``detect_motion`` turns MOVE
    detection on or off.
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        tile: int = DEFAULT_TILE,
        quality: int = DEFAULT_QUALITY,
        lossless: bool = False,
        photo_format: Literal["jpeg", "webp"] = "jpeg",
        zlib_level: int = 6,
        max_colours: int = MAX_COLOURS,
        detect_motion: bool = True,
        refine_after: int | None = None,
        max_update_bytes: int = MAX_UPDATE_BYTES,
    ) -> None:
        if tile % BLOCK or not BLOCK <= tile <= 128:
            raise ValueError(f"tile must be a multiple of {BLOCK} in {BLOCK}..128")
        if not 1 <= quality <= 100:
            raise ValueError("quality must be 1..100")
        if photo_format not in ("jpeg", "webp"):
            raise ValueError("photo_format must be 'jpeg' or 'webp'")
        if not 0 <= zlib_level <= 9:
            raise ValueError("zlib_level must be 0..9")
        if not 2 <= max_colours <= 256:
            raise ValueError("max_colours must be 2..256")
        if refine_after is not None and refine_after < 1:
            raise ValueError("refine_after must be at least 1 (or None)")
        self._tile = tile
        self._quality = quality
        #: Qualities to try, in order, until the update fits in one message.
        self._qualities = (quality, *[q for q in _FALLBACK_QUALITIES if q < quality])
        self._lossless = lossless
        self._photo_kind = OpKind.JPEG if photo_format == "jpeg" else OpKind.WEBP
        self._zlib_level = zlib_level
        self._max_colours = max_colours
        self._motion = MotionDetector(strip=tile) if detect_motion else None
        self._refine_after = refine_after
        self._max_bytes = max_update_bytes
        self._z = _zlib(zlib_level)
        self._table = ColourTable()
        self._keyframe_due = True
        self._frames = self._updates = self._keyframes = self._unchanged = 0
        self._refinements = self._retries = self._bytes_out = 0
        self._op_counts: Counter[OpKind] = Counter()
        self._w = self._h = self._tiles_x = self._tiles_y = 0
        self._ref = self._cur = FrameBuffer(1, 1, tile)
        self._ref_keys: U32Array = np.zeros((0, 0), np.uint32)
        self._pending: tuple[Region, U32Array] | None = None
        #: Where ``_cur`` may differ from ``_ref`` (the last update's region, after the swap);
        #: a hinted encode brings it up to date there first.
        self._stale: Region | None = None
        self._lossy_tiles: BoolArray = np.zeros((0, 0), np.bool_)
        self._calm: npt.NDArray[np.int32] = np.zeros((0, 0), np.int32)
        self._allocate(width, height)

    # -- public -----------------------------------------------------------------------------

    @property
    def width(self) -> int:
        return self._w

    @property
    def height(self) -> int:
        return self._h

    def force_keyframe(self) -> None:
        """Make the next :meth:`encode` send a keyframe (a refresh request, a new epoch, a
        late joiner)."""
        self._keyframe_due = True

    def statistics(self) -> EncoderStatistics:
        return EncoderStatistics(
            frames=self._frames,
            updates=self._updates,
            keyframes=self._keyframes,
            unchanged=self._unchanged,
            refinements=self._refinements,
            oversize_retries=self._retries,
            bytes_out=self._bytes_out,
            ops=dict(self._op_counts),
        )

    def encode(
        self,
        frame: npt.NDArray[np.uint8],
        *,
        keyframe: bool = False,
        changed: Sequence[tuple[int, int, int, int]] | None = None,
    ) -> EncodedUpdate | None:
        """The update for ``frame`` (``H × W × 3`` uint8 RGB, any strides), or ``None`` when
        nothing changed and nothing is owed. A frame of a new size starts over with a keyframe.

        ``changed``: rectangles ``(x, y, width, height)`` outside which ``frame`` is the same as
        the previous frame given to this encoder; only their tiles are looked at (None: all).
        """
        pixels = self._accept(frame)
        self._frames += 1
        scopes = None
        small: EncodedUpdate | Literal[False] | None = False
        if keyframe or self._keyframe_due or changed is None:
            self._cur.pixels[: self._h, : self._w] = pixels
            self._stale = None  # _cur now holds the whole frame
        else:
            small = self._encode_glyph(pixels, changed)
            if small is False:
                scopes = self._take_hinted(pixels, changed)
        update: EncodedUpdate | None
        if keyframe or self._keyframe_due:
            update = self._encode_keyframe()
        else:
            update = self._encode_delta(scopes) if small is False else small
            if update is None:
                self._unchanged += 1
                return None
        self._ref, self._cur = self._cur, self._ref
        assert self._pending is not None
        region, keys = self._pending
        self._ref_keys[region.y0 : region.y1, region.x0 : region.x1] = keys
        self._stale = region
        self._pending = None
        self._keyframe_due = False
        self._updates += 1
        self._keyframes += update.keyframe
        self._bytes_out += len(update.data)
        counts = self._op_counts
        for kind, n in update.ops.items():
            counts[kind] += n
        return update

    # -- internals ----------------------------------------------------------------------------

    def _allocate(self, width: int, height: int) -> None:
        if not (1 <= width <= 0xFFFF and 1 <= height <= 0xFFFF):
            raise ValueError(f"frame size {width}x{height} is outside 1..65535")
        t = self._tile
        tiles = -(-width // t) * -(-height // t)
        if tiles + MAX_MOVES > MAX_OPS:
            raise ValueError(f"a {width}x{height} frame has too many {t}-pixel tiles")
        self._w, self._h = width, height
        self._ref = FrameBuffer(width, height, t)
        self._cur = FrameBuffer(width, height, t)
        self._tiles_y = self._ref.padded_height // t
        self._tiles_x = self._ref.padded_width // t
        self._ref_keys = np.zeros((self._ref.padded_height, self._ref.padded_width), np.uint32)
        self._pending = None
        self._stale = None
        self._lossy_tiles = np.zeros((self._tiles_y, self._tiles_x), np.bool_)
        self._calm = np.zeros((self._tiles_y, self._tiles_x), np.int32)
        self._keyframe_due = True
        if self._motion is not None:
            self._motion.reset()

    def _accept(self, frame: object) -> U8Array:
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
            raise TypeError("a frame is a uint8 numpy array")
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"a frame is H x W x 3 RGB, got shape {frame.shape}")
        h, w = int(frame.shape[0]), int(frame.shape[1])
        if (w, h) != (self._w, self._h):
            self._allocate(w, h)
        return frame

    def _take_hinted(
        self, pixels: U8Array, changed: Sequence[tuple[int, int, int, int]]
    ) -> list[Region]:
        """Copy the tiles under ``changed`` into ``_cur`` (after mending it where it still holds
        an older frame) and return them as tile-aligned regions, each once (a glyph and the
        cursor beside it usually fall in the same tiles: copying and comparing those twice
        would double a keystroke's cost)."""
        t, w, h = self._tile, self._w, self._h
        boxes: dict[tuple[int, int, int, int], None] = {}
        for x, y, rw, rh in changed:
            x0, y0 = max(0, x) // t * t, max(0, y) // t * t
            x1 = -(-min(w, x + rw) // t) * t
            y1 = -(-min(h, y + rh) // t) * t
            if x1 > x0 and y1 > y0:
                boxes[(y0, y1, x0, x1)] = None
        scopes = [Region(*box) for box in boxes]
        stale = self._stale
        if stale is not None:
            for y0, y1, x0, x1 in boxes:
                if y0 <= stale.y0 and y1 >= stale.y1 and x0 <= stale.x0 and x1 >= stale.x1:
                    break  # the copy below overwrites all of it
            else:
                ref, cur = self._ref.pixels, self._cur.pixels
                cur[stale.y0 : stale.y1, stale.x0 : stale.x1] = ref[
                    stale.y0 : stale.y1, stale.x0 : stale.x1
                ]
        self._stale = None
        cur = self._cur.pixels
        for y0, y1, x0, x1 in boxes:
            y1, x1 = min(h, y1), min(w, x1)
            cur[y0:y1, x0:x1] = pixels[y0:y1, x0:x1]
        return scopes

    def _region_of_tiles(self, ty: npt.NDArray[np.intp], tx: npt.NDArray[np.intp]) -> Region:
        t = self._tile
        return Region(
            int(ty.min()) * t, (int(ty.max()) + 1) * t, int(tx.min()) * t, (int(tx.max()) + 1) * t
        )

    def _encode_keyframe(self) -> EncodedUpdate:
        cur = self._cur
        region = Region(0, cur.padded_height, 0, cur.padded_width)
        keys = cur.keys(region.y0, region.y1, region.x0, region.x1)
        self._pending = (region, keys)
        t = self._tile
        ty, tx = np.indices((self._tiles_y, self._tiles_x)).reshape(2, -1)
        heights = np.minimum(t, self._h - ty * t)
        widths = np.minimum(t, self._w - tx * t)
        zeros = np.zeros_like(ty)
        return self._finish(
            keyframe=True,
            moves=[],
            region=region,
            keys=keys,
            boxes=_box_list((ty, tx, zeros, heights, zeros, widths)),
            z=_zlib(self._zlib_level),
            table=ColourTable(),
        )

    def _changed_tiles(self, scopes: list[Region] | None) -> BoolArray | None:
        """Which tiles differ between ``_ref`` and ``_cur`` (only within ``scopes`` if given),
        or None when none does."""
        t = self._tile
        old_words, new_words = self._ref.words(), self._cur.words()
        if scopes is None:
            if np.array_equal(old_words, new_words):
                return None
            changed: BoolArray = (
                (old_words != new_words)
                .reshape(self._tiles_y, t, self._tiles_x, t * 3 // 8)
                .any(axis=(1, 3))
            )
            return changed
        found: BoolArray | None = None
        for r in scopes:
            w0, w1 = r.x0 * 3 // 8, r.x1 * 3 // 8
            rows, cols = (r.y1 - r.y0) // t, (r.x1 - r.x0) // t
            differs: BoolArray = _any(
                (old_words[r.y0 : r.y1, w0:w1] != new_words[r.y0 : r.y1, w0:w1]).reshape(
                    rows, t, cols, t * 3 // 8
                ),
                axis=(1, 3),
            )
            if not _any(differs, axis=None):
                continue
            if found is None:
                found = np.zeros((self._tiles_y, self._tiles_x), np.bool_)
            found[r.y0 // t : r.y1 // t, r.x0 // t : r.x1 // t] |= differs
        return found

    def _few_tiles_box(self, scopes: list[Region]) -> Region | None:
        """The bounding box of ``scopes`` when it holds at most :data:`FEW_TILES` tiles (a
        keystroke), else None."""
        first = scopes[0]
        y0, y1, x0, x1 = first.y0, first.y1, first.x0, first.x1
        for r in scopes[1:]:
            y0, y1, x0, x1 = min(y0, r.y0), max(y1, r.y1), min(x0, r.x0), max(x1, r.x1)
        t = self._tile
        if (y1 - y0) // t * ((x1 - x0) // t) > FEW_TILES:
            return None
        return Region(y0, y1, x0, x1)

    def _changed_in_box(self, box: Region, scopes: list[Region]) -> _Change | None:
        """:meth:`_locate` for a hint whose tiles fit in ``box``: the comparison
        :meth:`_changed_tiles` makes, of the whole box at once, with the tiles that changed
        kept as Python ints rather than in frame-wide grids (a keystroke's update is small:
        what it costs is its number of numpy calls, not its pixels)."""
        t = self._tile
        rows, cols = (box.y1 - box.y0) // t, (box.x1 - box.x0) // t
        w0, w1 = box.x0 * 3 // 8, box.x1 * 3 // 8
        old = self._ref.words()[box.y0 : box.y1, w0:w1]
        new = self._cur.words()[box.y0 : box.y1, w0:w1]
        differs = _any((old != new).reshape(rows, t, cols, t * 3 // 8), axis=(1, 3)).tolist()
        ty0, tx0 = box.y0 // t, box.x0 // t
        tiles = {  # hinted tiles only, each once (scopes may overlap)
            (ty, tx)
            for r in scopes
            for ty in range(r.y0 // t, r.y1 // t)
            for tx in range(r.x0 // t, r.x1 // t)
            if differs[ty - ty0][tx - tx0]
        }
        if not tiles:
            return None
        tys, txs = [ty for ty, _ in tiles], [tx for _, tx in tiles]
        region = Region(min(tys) * t, (max(tys) + 1) * t, min(txs) * t, (max(txs) + 1) * t)
        return _Change(region, len(tiles), None)

    def _locate(self, scopes: list[Region] | None, refine: bool) -> _Change | None:
        """What the delta looks at (see :class:`_Change`); None when there is nothing to send."""
        if scopes is not None and not refine:
            if not scopes:
                return None
            box = self._few_tiles_box(scopes)
            if box is not None:
                return self._changed_in_box(box, scopes)
        found = self._changed_tiles(scopes)
        if found is None:
            if not refine:
                return None
            changed_tiles = np.zeros((self._tiles_y, self._tiles_x), np.bool_)
        else:
            changed_tiles = found
        refined = self._due_refinements(changed_tiles) if refine else None
        if not changed_tiles.any() and (refined is None or not refined.any()):
            return None
        ty, tx = np.nonzero(changed_tiles | refined if refined is not None else changed_tiles)
        region = self._region_of_tiles(ty, tx)
        return _Change(region, int(np.count_nonzero(changed_tiles)), refined)

    def _encode_delta(self, scopes: list[Region] | None = None) -> EncodedUpdate | None:
        ref, cur, t = self._ref, self._cur, self._tile
        refine = self._refine_after is not None and bool(self._lossy_tiles.any())
        located = self._locate(scopes, refine)
        if located is None:
            return None
        region, tiles_changed, refined = located
        keys = cur.keys(region.y0, region.y1, region.x0, region.x1)
        ref_keys = self._ref_keys
        self._pending = (region, keys)
        changed = keys != ref_keys[region.y0 : region.y1, region.x0 : region.x1]
        moves: list[Move] = []
        if (
            self._motion is not None
            and tiles_changed >= 2
            and np.count_nonzero(changed) >= MIN_MOVE_PIXELS
        ):
            moves, covered = self._motion.find(ref, cur, ref_keys, region, keys, changed)
            if moves:
                changed &= ~covered
        if refined is not None and refined.any():
            self._refinements += int(np.count_nonzero(refined))
            view = refined[region.y0 // t : region.y1 // t, region.x0 // t : region.x1 // t]
            changed |= np.repeat(np.repeat(view, t, axis=0), t, axis=1)
            changed[self._h - region.y0 :, :] = False
            changed[:, self._w - region.x0 :] = False
        merge = not moves and refined is None
        boxes = changed_boxes(changed, t, region.y0 // t, region.x0 // t, merge=merge)
        if not boxes and not moves:
            return None
        return self._finish(
            keyframe=False,
            moves=moves,
            region=region,
            keys=keys,
            boxes=boxes,
            z=self._z,
            table=self._table,
            refined=refined,
        )

    def _encode_glyph(
        self, pixels: U8Array, changed: Sequence[tuple[int, int, int, int]]
    ) -> EncodedUpdate | Literal[False] | None:
        """A keystroke: hints whose bounding box holds at most :data:`GLYPH_PIXELS` pixels are
        copied, packed and compared as that box alone, not as the tiles around it (a glyph on
        a line that straddles a tile row is ~300 pixels; its two tiles are 8,192, and at one
        keystroke every 100 ms the presenter's caches are cold, so what an update costs is
        mostly the memory it touches). Paints what :meth:`_encode_delta` would paint, byte for
        byte: one box around the changed pixels, when that path would merge them into one.
        Returns False, having changed nothing that matters, when it does not apply."""
        if self._refine_after is not None and self._lossy_tiles.any():
            return False
        w, h, t = self._w, self._h, self._tile
        rects = []
        for x, y, rw, rh in changed:
            x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + rw), min(h, y + rh)
            if x1 > x0 and y1 > y0:
                rects.append((y0, y1, x0, x1))
        if not rects:
            return False
        by0 = min(r[0] for r in rects)
        by1 = max(r[1] for r in rects)
        bx0 = min(r[2] for r in rects)
        bx1 = max(r[3] for r in rects)
        if (by1 - by0) * (bx1 - bx0) > GLYPH_PIXELS:
            return False
        ref, cur = self._ref.pixels, self._cur.pixels
        stale = self._stale
        if stale is not None:  # _cur must hold the reference everywhere but in the hints
            cur[stale.y0 : stale.y1, stale.x0 : stale.x1] = ref[
                stale.y0 : stale.y1, stale.x0 : stale.x1
            ]
            self._stale = None
        for y0, y1, x0, x1 in rects:
            cur[y0:y1, x0:x1] = pixels[y0:y1, x0:x1]
        keys = self._cur.keys(by0, by1, bx0, bx1)
        differs = keys != self._ref_keys[by0:by1, bx0:bx1]
        bounds = mask_bounds(differs)
        if bounds is None:
            return None
        fy0, fy1, fx0, fx1 = by0 + bounds[0], by0 + bounds[1], bx0 + bounds[2], bx0 + bounds[3]
        if (
            self._motion is not None
            and (fy1 - fy0) * (fx1 - fx0) >= MIN_MOVE_PIXELS  # else too few to count (cheaper)
            and np.count_nonzero(differs) >= MIN_MOVE_PIXELS
        ):
            return False  # the general path looks for moves (_cur is consistent for it)
        ty, tx = fy0 // t, fx0 // t
        if (fy1 - 1) // t - ty > 1 or (fx1 - 1) // t - tx > 1 or (fy1 - fy0) * (fx1 - fx0) > t * t:
            return False  # not what changed_boxes merges: the general path paints it per tile
        self._pending = (Region(by0, by1, bx0, bx1), keys)
        box = (ty, tx, fy0 - ty * t, fy1 - ty * t, fx0 - tx * t, fx1 - tx * t)
        return self._finish(
            keyframe=False,
            moves=[],
            region=Region(by0, by1, bx0, bx1),
            keys=keys,
            boxes=[box],
            z=self._z,
            table=self._table,
        )

    def _due_refinements(self, changed_tiles: BoolArray) -> BoolArray:
        assert self._refine_after is not None
        self._calm = np.where(changed_tiles, 0, self._calm + 1)
        due: BoolArray = self._lossy_tiles & (self._calm >= self._refine_after)
        return due

    def _finish(
        self,
        *,
        keyframe: bool,
        moves: list[Move],
        region: Region,
        keys: U32Array,
        boxes: list[Box],
        z: zlib._Compress,
        table: ColourTable,
        refined: BoolArray | None = None,
    ) -> EncodedUpdate:
        """Paint the boxes, assemble the update, fit it in one message, commit the state."""
        # An attempt paints on a copy of the colour table, in case the update does not fit and
        # the next attempt must start from the same table; a small region (a keystroke) always
        # fits: raw pixels, a full table of definitions and JPEG's worst case are all far less.
        pixels = (region.y1 - region.y0) * (region.x1 - region.x0)
        always_fits = 8 * pixels + 4096 * (len(boxes) + len(moves) + 1) <= self._max_bytes // 4
        for attempt, quality in enumerate(self._qualities):
            painted = self._paint(
                region,
                keys,
                boxes,
                quality=quality,
                degrade=attempt > 0,
                refined=refined,
                table=table if always_fits else table.copy(),
            )
            payload = b"".join(painted.stream)
            ops: list[Op] = [*moves, *painted.ops]
            # Compressing advances the stream for good; it is copied first (a quarter of a
            # megabyte) only when the update might not fit and have to be done again.
            surely_fits = (
                _UPDATE_OVERHEAD * (len(ops) + 1)
                + painted.picture_bytes
                + _deflated_bound(len(payload))
                <= self._max_bytes
            )
            trial = z if surely_fits else z.copy()
            chunk = trial.compress(payload) + trial.flush(zlib.Z_SYNC_FLUSH) if payload else b""
            data = write_update(
                keyframe=keyframe, width=self._w, height=self._h, ops=ops, stream=chunk
            )
            if len(data) <= self._max_bytes:
                break
            if self._lossless:
                raise LocalProtocolError(
                    ErrorCode.OVERSIZED,
                    f"a lossless {len(data)}-byte update exceeds {self._max_bytes} bytes",
                )
            self._retries += 1
        else:
            raise LocalProtocolError(
                ErrorCode.OVERSIZED, f"the frame does not fit in {self._max_bytes} bytes"
            )
        self._z = trial
        self._table = painted.table
        if self._refine_after is not None:
            self._track_lossy(keyframe, ops)
        return EncodedUpdate(
            data=data,
            keyframe=keyframe,
            width=self._w,
            height=self._h,
            ops=_count_kinds(ops),
            damaged=tuple([op.rect for op in ops]),
            lossy=painted.lossy,
        )

    def _paint(
        self,
        region: Region,
        keys: U32Array,
        boxes: list[Box],
        *,
        quality: int,
        degrade: bool,
        refined: BoolArray | None,
        table: ColourTable,
    ) -> _Painted:
        t = self._tile
        pixels = self._cur.pixels
        ops: list[Op] = []
        stream: list[bytes] = []
        solid_tiles: dict[tuple[int, int], tuple[int, int, int]] = {}
        photo_tiles: dict[tuple[int, int], bool] = {}
        exact_tiles: dict[tuple[int, int], bool] = {}
        photo_rects: list[Rect] = []
        for ty, tx, y0, y1, x0, x1 in boxes:
            fy, fx = ty * t + y0, tx * t + x0
            rect = Rect(fx, fy, x1 - x0, y1 - y0)
            whole = y0 == 0 and x0 == 0 and fy + rect.h == min(ty * t + t, self._h)
            whole = whole and fx + rect.w == min(tx * t + t, self._w)
            ky, kx = fy - region.y0, fx - region.x0
            area = keys[ky : ky + rect.h, kx : kx + rect.w]
            analysis = analyse(area, self._max_colours)
            kind = analysis.kind
            colours = analysis.values
            if (
                kind is TileKind.PALETTE
                and colours is not None
                and 2 * table.missing(colours) > rect.w * rect.h
            ):
                # Mostly new colours (a small photo or noise rectangle): an entry per colour
                # would cost more than the pixels themselves.
                kind = TileKind.PHOTO if smooth(area) else TileKind.RICH
            if kind is TileKind.SOLID:
                if whole:
                    solid_tiles[(ty, tx)] = analysis.colour
                else:
                    ops.append(Solid(rect, analysis.colour))
            elif kind is TileKind.PALETTE and not degrade:
                assert colours is not None
                assert analysis.indices is not None
                slots, entries = table.assign(colours)
                ops.append(Palette(rect, len(entries)))
                if len(entries):
                    stream.append(entries.tobytes())
                stream.append(analysis.indices.tobytes().translate(slots))
            elif kind is TileKind.RICH and not degrade:
                ops.append(Raw(rect))
                stream.append(pixels[fy : fy + rect.h, fx : fx + rect.w].tobytes())
            elif refined is not None and refined[ty, tx] and not degrade:
                exact_tiles[(ty, tx)] = True
            elif whole:
                photo_tiles[(ty, tx)] = True
            else:
                photo_rects.append(rect)
        painted = _Painted(ops, stream, lossy=False, table=table)
        if solid_tiles:
            for ty0, ty1, tx0, tx1, colour in merge_cells(solid_tiles):
                ops.append(Solid(self._tile_rect(ty0, ty1, tx0, tx1), colour))
        if photo_tiles:
            photo_rects.extend(self._tile_rect(*cell[:4]) for cell in merge_cells(photo_tiles))
        if photo_rects:
            self._paint_photos(painted, merge_rects(photo_rects), quality, degrade)
        if exact_tiles:
            for cell in merge_cells(exact_tiles):
                self._add_picture(painted, self._tile_rect(*cell[:4]), OpKind.WEBP, 0)
        return painted

    def _paint_photos(
        self, painted: _Painted, rects: list[Rect], quality: int, degrade: bool
    ) -> None:
        """Photographic rectangles: JPEG / WebP, or RAW when lossless or too thin to pay."""
        pixels = self._cur.pixels
        for rect in rects:
            if self._lossless or (not degrade and min(rect.w, rect.h) < MIN_PICTURE_SIDE):
                painted.ops.append(Raw(rect))
                painted.stream.append(pixels[rect.y : rect.y1, rect.x : rect.x1].tobytes())
            else:
                self._add_picture(painted, rect, self._photo_kind, quality)
                painted.lossy = True

    def _add_picture(self, painted: _Painted, rect: Rect, kind: OpKind, quality: int) -> None:
        picture = self._picture(rect, kind, quality)
        painted.ops.append(picture)
        painted.picture_bytes += len(picture.data)

    def _tile_rect(self, ty0: int, ty1: int, tx0: int, tx1: int) -> Rect:
        t = self._tile
        x, y = tx0 * t, ty0 * t
        return Rect(x, y, min(tx1 * t, self._w) - x, min(ty1 * t, self._h) - y)

    def _picture(self, rect: Rect, kind: OpKind, quality: int) -> Picture:
        area = self._cur.pixels[rect.y : rect.y1, rect.x : rect.x1]
        image = Image.fromarray(np.ascontiguousarray(area), "RGB")
        out = io.BytesIO()
        if kind is OpKind.JPEG:
            image.save(out, "JPEG", quality=quality, subsampling=0)
        elif quality == 0:
            image.save(out, "WEBP", lossless=True, quality=0, method=0)
        else:
            image.save(out, "WEBP", quality=quality, method=2)
        return Picture(kind, rect, quality, out.getvalue())

    def _track_lossy(self, keyframe: bool, ops: list[Op]) -> None:
        """Remember which tiles the viewer holds only approximately (for ``refine_after``):
        a lossy picture marks the tiles it touches, a MOVE from a marked tile marks the tiles it
        lands on, a lossless paint clears the tiles it covers completely."""
        if self._refine_after is None:
            return
        t = self._tile
        lossy = self._lossy_tiles
        if keyframe:
            lossy[:] = False
            self._calm[:] = 0
        before = lossy.copy()
        for op in ops:
            r = op.rect
            touched = (slice(r.y // t, -(-r.y1 // t)), slice(r.x // t, -(-r.x1 // t)))
            if isinstance(op, Move):
                src = before[
                    op.src_y // t : -(-(op.src_y + r.h) // t),
                    op.src_x // t : -(-(op.src_x + r.w) // t),
                ]
                if src.any():
                    lossy[touched] = True
                    self._calm[touched] = 0
            elif isinstance(op, Picture) and op.quality != 0:
                lossy[touched] = True
                self._calm[touched] = 0
            else:
                y1 = -(-r.y1 // t) if r.y1 == self._h else r.y1 // t
                x1 = -(-r.x1 // t) if r.x1 == self._w else r.x1 // t
                lossy[-(-r.y // t) : y1, -(-r.x // t) : x1] = False


__all__ = [
    "MAX_UPDATE_BYTES",
    "EncodedUpdate",
    "Encoder",
    "EncoderStatistics",
    "merge_cells",
    "merge_rects",
    "tile_boxes",
]
