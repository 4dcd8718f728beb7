"""Finding moved pixels: vertical scrolls and 2-D moves of rectangles (windows being dragged).

The encoder asks one question per frame: which parts of the changed region are exact copies of
somewhere else in the previous frame? The answer is a list of MOVE operations. Everything here is
vectorised numpy over the changed region only, in three steps:

1. **Candidate offsets.** Three cheap sources vote for ``(dx, dy)`` offsets:

   * *row hashes*: every row of every 64-pixel column strip is hashed (a linear hash of the row's
     bytes as uint64 words); a changed row whose hash occurs exactly once in the previous frame's
     strip votes for ``dy`` (scrolling text, long lists);
   * *anchors*: content-defined points (non-flat pixels whose colour hashes below a threshold
     chosen so that about 4096 are sampled) in both frames, described by a hash of ten pixels
     of their 8×8 neighbourhood; descriptors seen once in each frame vote for ``(dx, dy)`` (a
     dragged photo window, a panning video, text moved sideways);
   * the offsets that produced moves in the previous frame (a drag goes on).

2. **Verification.** For each candidate the changed region is compared, pixel for pixel, with the
   previous frame shifted by the offset. A 16×16 block whose pixels all match and that contains a
   changed pixel is a hit. Hits never depend on hashes: a collision costs time, never pixels.

3. **Rectangles.** Hit blocks are merged into maximal rectangles (runs per block row, merged
   downwards), then each rectangle grows pixel by pixel (up to a block) while its edges still
   match, so the leftover around a moved window is the thin strip it uncovered, not a ring of
   partial blocks.

Candidates are tried in stages, cheapest first, and later stages only run while more than a
fifth of the changed non-flat blocks is unexplained; flat blocks (one colour) never justify a
move on their own, so blank areas that "match" under any vertical offset cannot split a scroll
into fragments. All coordinates are frame pixels; a MOVE reads from the frame *before* the
update. What it costs per frame is in bench/README.md, "Measurements behind design choices".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.codec.format import Move, Rect

BLOCK = 16
#: Offsets verified per frame, at most (each costs one compare of the changed region).
MAX_CANDIDATES = 6
#: At most this many MOVE rectangles per frame; the rest is painted.
MAX_MOVES = 256
#: Votes an offset needs before it is worth verifying.
MIN_ROW_VOTES = 4
MIN_ANCHOR_VOTES = 3
_MASK24 = np.uint32(0xFFFFFF)
_GOLDEN = np.uint32(0x9E3779B1)
_ROW_CONSTANTS = np.random.default_rng(0x5EED).integers(
    1, 2**63, size=64, dtype=np.uint64
) | np.uint64(1)

U8Array = npt.NDArray[np.uint8]
U32Array = npt.NDArray[np.uint32]
U64Array = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]


class FrameBuffer:
    """An RGB frame padded to whole tiles, with one spare byte so every pixel can be read as an
    unaligned little-endian uint32 (``r | g << 8 | b << 16`` after masking): comparing packed
    pixels is ten times cheaper than comparing RGB triplets."""

    __slots__ = (
        "_packed",
        "_words",
        "flat",
        "height",
        "padded_height",
        "padded_width",
        "pixels",
        "width",
    )

    def __init__(self, width: int, height: int, tile: int) -> None:
        self.width = width
        self.height = height
        self.padded_width = -(-width // tile) * tile
        self.padded_height = -(-height // tile) * tile
        self.flat: U8Array = np.zeros(self.padded_width * self.padded_height * 3 + 1, np.uint8)
        self.pixels: U8Array = self.flat[:-1].reshape(self.padded_height, self.padded_width, 3)
        # Made once: every delta compares words, and a keystroke's delta is only a few tiles.
        self._words: U64Array = self.flat[:-1].view(np.uint64).reshape(self.padded_height, -1)
        # Every pixel as an unaligned uint32 (its 3 bytes and the next one), made once too:
        # slicing it is far cheaper than building a strided view per call (a keystroke's
        # whole encode is a few dozen numpy calls, each costing what its set-up costs).
        stride = self.padded_width * 3
        self._packed: U32Array = np.ndarray(
            shape=(self.padded_height, self.padded_width),
            dtype="<u4",
            buffer=self.flat,
            strides=(stride, 3),
        )

    def keys(self, y0: int, y1: int, x0: int, x1: int) -> U32Array:
        """Packed pixels of rows ``y0:y1``, columns ``x0:x1`` (a new array)."""
        keys: U32Array = self._packed[y0:y1, x0:x1] & _MASK24
        return keys

    def words(self) -> U64Array:
        """The pixels as rows of uint64 words (tiles are 8-byte aligned); a view, not a copy."""
        return self._words


@dataclass(frozen=True, slots=True)
class Region:
    """A tile-aligned part of the padded frame: rows ``y0:y1``, columns ``x0:x1``."""

    y0: int
    y1: int
    x0: int
    x1: int


def _row_hashes(buf: FrameBuffer, region: Region, strip: int) -> U64Array:
    words = buf.words()
    per_strip = strip * 3 // 8
    w0, w1 = region.x0 * 3 // 8, region.x1 * 3 // 8
    block = words[region.y0 : region.y1, w0:w1].reshape(region.y1 - region.y0, -1, per_strip)
    hashed: U64Array = (block * _ROW_CONSTANTS[:per_strip]).sum(axis=2, dtype=np.uint64)
    return hashed


def _unique_once(keys: U64Array) -> tuple[U64Array, npt.NDArray[np.intp]]:
    """The keys that occur exactly once, sorted, with their positions in ``keys``."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    if ordered.size == 0:
        return ordered, order
    differs = ordered[1:] != ordered[:-1]
    first = np.empty(ordered.size, np.bool_)
    last = np.empty(ordered.size, np.bool_)
    first[0] = last[-1] = True
    first[1:] = differs
    last[:-1] = differs
    once = first & last
    return ordered[once], order[once]


def _top_votes(votes: npt.NDArray[np.int64], minimum: int, limit: int) -> list[int]:
    if votes.size == 0:
        return []
    values, counts = np.unique(votes, return_counts=True)
    best = np.argsort(-counts, kind="stable")[:limit]
    return [int(values[i]) for i in best if counts[i] >= minimum]


def scroll_candidates(
    ref: FrameBuffer, cur: FrameBuffer, region: Region, strip: int, limit: int = 2
) -> list[tuple[int, int]]:
    """``(0, dy)`` offsets voted for by changed rows of column strips (vertical scrolling)."""
    old = _row_hashes(ref, region, strip)
    new = _row_hashes(cur, region, strip)
    salt = (np.arange(old.shape[1], dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))[None, :]
    old_keys, old_pos = _unique_once((old ^ salt).ravel())
    changed = (old != new).ravel()
    new_all = (new ^ salt).ravel()
    new_keys, new_pos = _unique_once(new_all[changed])
    new_pos = np.flatnonzero(changed)[new_pos]
    _, i_old, i_new = np.intersect1d(old_keys, new_keys, assume_unique=True, return_indices=True)
    strips = old.shape[1]
    dy = (new_pos[i_new] // strips).astype(np.int64) - (old_pos[i_old] // strips)
    return [(0, d) for d in _top_votes(dy[dy != 0], MIN_ROW_VOTES, limit)]


#: Where an anchor's descriptor samples its neighbourhood (dy, dx): an 8x8 footprint, so that
#: repeated glyphs rarely share a descriptor.
_ANCHOR_OFFSETS = ((0, 3), (0, 7), (1, 1), (2, 5), (3, 0), (4, 4), (5, 7), (6, 2), (7, 0), (7, 5))
_ANCHOR_SPAN = 8
#: About this many anchors are sampled per frame, whatever the size of the changed region.
_ANCHOR_TARGET = 4096


def _candidate_points(keys: U32Array, allowed: BoolArray | None) -> BoolArray:
    """Pixels an anchor may sit on: not in a flat horizontal run, footprint inside ``keys``."""
    h, w = keys.shape
    core = keys[: h - _ANCHOR_SPAN + 1, : w - _ANCHOR_SPAN + 1]
    points: BoolArray = core != keys[: h - _ANCHOR_SPAN + 1, 1 : w - _ANCHOR_SPAN + 2]
    if allowed is not None:
        points &= allowed[: h - _ANCHOR_SPAN + 1, : w - _ANCHOR_SPAN + 1]
    return points


def _anchor_points(keys: U32Array, points: BoolArray, share: int) -> BoolArray:
    """The content-defined subset of ``points``: colour hashes below ``share``/64."""
    if share >= 64:
        return points
    core = keys[: points.shape[0], : points.shape[1]]
    chosen: BoolArray = points & (((core * _GOLDEN) >> np.uint32(26)) < share)
    return chosen


def _anchors(keys: U32Array, chosen: BoolArray) -> tuple[U64Array, npt.NDArray[np.intp]]:
    """Unique descriptors of the chosen anchor points and their flat positions in ``keys``."""
    w = keys.shape[1]
    ys, xs = np.nonzero(chosen)
    desc = keys[ys, xs].astype(np.uint64)
    for i, (oy, ox) in enumerate(_ANCHOR_OFFSETS):
        desc = desc * np.uint64(0x100000001B3) ^ keys[ys + oy, xs + ox].astype(np.uint64)
        desc ^= desc >> np.uint64(29 + i)
    unique, where = _unique_once(desc)
    return unique, (ys * w + xs)[where]


def anchor_candidates(
    ref_keys: U32Array,
    ref: FrameBuffer,
    cur_keys: U32Array,
    changed: BoolArray,
    region: Region,
    margin: int,
    limit: int = 3,
) -> list[tuple[int, int]]:
    """``(dx, dy)`` offsets voted for by anchors that appear once in each frame."""
    sy0, sy1 = max(0, region.y0 - margin), min(ref.height, region.y1 + margin)
    sx0, sx1 = max(0, region.x0 - margin), min(ref.width, region.x1 + margin)
    if sy1 - sy0 < _ANCHOR_SPAN or sx1 - sx0 < _ANCHOR_SPAN:
        return []
    if cur_keys.shape[0] < _ANCHOR_SPAN or cur_keys.shape[1] < _ANCHOR_SPAN:
        return []
    old_keys = ref_keys[sy0:sy1, sx0:sx1]
    # Sample about _ANCHOR_TARGET points of the changed region (and at most four times that in
    # the search area); the same share in both frames keeps the choice content-defined.
    new_points = _candidate_points(cur_keys, changed)
    old_points = _candidate_points(old_keys, None)
    wanted = max(1, int(np.count_nonzero(new_points)), int(np.count_nonzero(old_points)) // 4)
    share = max(1, min(64, -(-64 * _ANCHOR_TARGET // wanted)))
    new_desc, new_pos = _anchors(cur_keys, _anchor_points(cur_keys, new_points, share))
    old_desc, old_pos = _anchors(old_keys, _anchor_points(old_keys, old_points, share))
    _, i_old, i_new = np.intersect1d(old_desc, new_desc, assume_unique=True, return_indices=True)
    if i_old.size == 0:
        return []
    ow, nw = sx1 - sx0, cur_keys.shape[1]
    dy = (new_pos[i_new] // nw + region.y0) - (old_pos[i_old] // ow + sy0)
    dx = (new_pos[i_new] % nw + region.x0) - (old_pos[i_old] % ow + sx0)
    code = (dy.astype(np.int64) << 20) + dx  # |dx| < 2**16
    found = []
    for c in _top_votes(code[code != 0], MIN_ANCHOR_VOTES, limit):
        dy_c = (c + (1 << 19)) >> 20
        found.append((c - (dy_c << 20), dy_c))
    return found


def _match(
    ref: FrameBuffer, ref_keys: U32Array, cur_keys: U32Array, region: Region, dx: int, dy: int
) -> BoolArray:
    """Pixels of the region (inside the real frame) equal to the old frame shifted by the offset."""
    rh, rw = cur_keys.shape
    eq = np.zeros((rh, rw), np.bool_)
    y0 = max(region.y0, dy)
    y1 = min(region.y1, ref.height + dy, ref.height)
    x0 = max(region.x0, dx)
    x1 = min(region.x1, ref.width + dx, ref.width)
    if y1 <= y0 or x1 <= x0:
        return eq
    old = ref_keys[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
    ly, lx = y0 - region.y0, x0 - region.x0
    np.equal(
        cur_keys[ly : ly + y1 - y0, lx : lx + x1 - x0],
        old,
        out=eq[ly : ly + y1 - y0, lx : lx + x1 - x0],
    )
    return eq


def _blocks_all(mask: BoolArray) -> BoolArray:
    h, w = mask.shape
    out: BoolArray = np.all(mask.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK), axis=(1, 3))
    return out


def blocks_any(mask: BoolArray) -> BoolArray:
    h, w = mask.shape
    out: BoolArray = np.any(mask.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK), axis=(1, 3))
    return out


def block_rectangles(blocks: BoolArray) -> list[tuple[int, int, int, int]]:
    """Rectangles ``(by0, by1, bx0, bx1)`` that cover the true blocks exactly, without overlap:
    runs per row; a run continues downwards while the next row has the very same run."""
    rows, cols = blocks.shape
    padded = np.zeros((rows, cols + 2), np.int8)
    padded[:, 1:-1] = blocks
    edges = np.diff(padded, axis=1)
    sy, sx = np.nonzero(edges == 1)
    _, ex = np.nonzero(edges == -1)  # same row-major order as the starts
    runs_by_row: dict[int, set[tuple[int, int]]] = {}
    for y, x0, x1 in zip(sy.tolist(), sx.tolist(), ex.tolist(), strict=True):
        runs_by_row.setdefault(y, set()).add((x0, x1))
    out: list[tuple[int, int, int, int]] = []
    open_runs: dict[tuple[int, int], int] = {}
    for y in range(rows + 1):
        runs = runs_by_row.get(y, set())
        for key in [k for k in open_runs if k not in runs]:
            out.append((open_runs.pop(key), y, key[0], key[1]))
        for key in runs:
            open_runs.setdefault(key, y)
    return out


def _run(flags: BoolArray) -> int:
    """How many leading entries of ``flags`` are true."""
    return int(flags.size if flags.all() else np.argmin(flags))


def _grow(eq: BoolArray, y0: int, y1: int, x0: int, x1: int) -> tuple[int, int, int, int]:
    """Grow a matching rectangle (region coordinates) by up to a block on each side."""
    h, w = eq.shape
    x0 -= _run(np.all(eq[y0:y1, max(0, x0 - BLOCK + 1) : x0], axis=0)[::-1])
    x1 += _run(np.all(eq[y0:y1, x1 : min(w, x1 + BLOCK - 1)], axis=0))
    y0 -= _run(np.all(eq[max(0, y0 - BLOCK + 1) : y0, x0:x1], axis=1)[::-1])
    y1 += _run(np.all(eq[y1 : min(h, y1 + BLOCK - 1), x0:x1], axis=1))
    return y0, y1, x0, x1


def flat_blocks(keys: U32Array) -> BoolArray:
    """Blocks of one colour: a move explains them no better than a SOLID fill."""
    h, w = keys.shape
    grid = keys.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK)
    out: BoolArray = np.all(grid == grid[:, :1, :, :1], axis=(1, 3))
    return out


class MotionDetector:
    """Finds MOVE operations between the encoder's reference frame and the new frame.

    Candidates are gathered in stages, cheapest first, and a stage runs only while more than a
    fifth of the changed (non-flat) blocks matches none of the offsets verified so far: the
    offsets that worked last frame (a drag goes on), then row-hash scroll offsets, then anchors.
    Verified offsets then claim blocks best first.
    """

    def __init__(self, *, strip: int = 64) -> None:
        self.strip = strip
        self._recent: list[tuple[int, int]] = []

    def reset(self) -> None:
        self._recent = []

    def find(
        self,
        ref: FrameBuffer,
        cur: FrameBuffer,
        ref_keys: U32Array,
        region: Region,
        cur_keys: U32Array,
        changed: BoolArray,
    ) -> tuple[list[Move], BoolArray]:
        """Moves for the changed pixels of ``region`` and the region mask they cover exactly.

        ``ref_keys`` are the packed pixels of the whole reference frame; ``cur_keys`` and
        ``changed`` the packed pixels and the changed-pixel mask of ``region``.
        """
        search = _Search(ref, ref_keys, region, cur_keys, changed)
        if search.needed:
            search.verify(self._recent)
            if search.unexplained():
                search.verify(scroll_candidates(ref, cur, region, self.strip))
            if search.unexplained():
                search.verify(
                    anchor_candidates(ref_keys, ref, cur_keys, changed, region, self.strip)
                )
            search.claim()
        self._recent = search.used[:2]
        return search.moves, search.covered


class _Search:
    """One frame's move search: verified offsets claim blocks, the best offset first."""

    def __init__(
        self,
        ref: FrameBuffer,
        ref_keys: U32Array,
        region: Region,
        cur_keys: U32Array,
        changed: BoolArray,
    ) -> None:
        self.ref = ref
        self.ref_keys = ref_keys
        self.region = region
        self.cur_keys = cur_keys
        self.need = blocks_any(changed) & ~flat_blocks(cur_keys)
        self.needed = int(np.count_nonzero(self.need))
        self.explainable = np.zeros(self.need.shape, np.bool_)
        self.claimed = np.zeros(self.need.shape, np.bool_)
        self.covered = np.zeros(changed.shape, np.bool_)
        self.verified: list[tuple[int, tuple[int, int], BoolArray, BoolArray]] = []
        self.moves: list[Move] = []
        self.used: list[tuple[int, int]] = []
        self.tried: set[tuple[int, int]] = {(0, 0)}
        self.area = 0
        self.max_area = 2 * ref.width * ref.height

    def unexplained(self) -> bool:
        explained = int(np.count_nonzero(self.explainable))
        return self.needed - explained > self.needed // 5

    def verify(self, candidates: list[tuple[int, int]]) -> None:
        for offset in candidates:
            if offset in self.tried or len(self.tried) > MAX_CANDIDATES:
                continue
            self.tried.add(offset)
            eq = _match(self.ref, self.ref_keys, self.cur_keys, self.region, *offset)
            fits = _blocks_all(eq)
            hits = fits & self.need
            count = int(np.count_nonzero(hits))
            if count:
                self.explainable |= hits
                self.verified.append((count, offset, eq, fits))

    def claim(self) -> None:
        self.verified.sort(key=lambda item: -item[0])
        for _, offset, eq, fits in self.verified:
            self._claim(offset, eq, fits)

    def _claim(self, offset: tuple[int, int], eq: BoolArray, fits: BoolArray) -> None:
        """Rectangles of blocks that match at ``offset`` and are not claimed yet. Flat or
        unchanged matching blocks may join a rectangle (copying them is exact too) so that
        rectangles stay large, but a rectangle must explain at least one changed block."""
        dx, dy = offset
        shape = fits & ~self.claimed
        hits = shape & self.need
        if not hits.any():
            return
        used = False
        for by0, by1, bx0, bx1 in block_rectangles(shape):
            if len(self.moves) >= MAX_MOVES:
                break
            if not hits[by0:by1, bx0:bx1].any():
                continue
            y0, y1, x0, x1 = _grow(eq, by0 * BLOCK, by1 * BLOCK, bx0 * BLOCK, bx1 * BLOCK)
            area = (y1 - y0) * (x1 - x0)
            if self.area + area > self.max_area:
                break
            self.area += area
            self.claimed[by0:by1, bx0:bx1] = True
            self.covered[y0:y1, x0:x1] = True
            fy, fx = y0 + self.region.y0, x0 + self.region.x0
            self.moves.append(Move(Rect(fx, fy, x1 - x0, y1 - y0), fx - dx, fy - dy))
            used = True
        if used:
            self.used.append(offset)


__all__ = [
    "BLOCK",
    "FrameBuffer",
    "MotionDetector",
    "Region",
    "anchor_candidates",
    "block_rectangles",
    "blocks_any",
    "flat_blocks",
    "scroll_candidates",
]
