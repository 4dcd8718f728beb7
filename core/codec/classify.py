"""What kind of pixels a rectangle holds, decided by counting its colours.

* **solid**: one colour; sent as three bytes.
* **palette** (text-like): at most ``max_colours`` colours (256 by default). Terminal text, code,
  UI chrome and charts live here, antialiasing included (a 64×64 tile of antialiased text has
  30–180 colours; a photograph has thousands). Sent losslessly as one byte per pixel, an index
  into the persistent colour table (:mod:`core.codec.palette`), through the persistent zlib
  stream.
* **rich** (synthetic with many colours): more than ``max_colours`` colours, but where
  neighbouring pixels differ, they mostly differ a lot: colourful antialiased text, UI chrome,
  noise. JPEG would smear or bloat it, so it is sent losslessly (RAW through the zlib stream).
* **photo**: many colours changing in small steps (photographs, video, gradients), sent as
  JPEG (or losslessly, if the encoder was asked to).

Pixels arrive *packed*: one uint32 per pixel, ``r | g << 8 | b << 16`` (see
:class:`~core.codec.motion.FrameBuffer`), so counting colours is one sort of a 1-D array.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

MAX_COLOURS = 256
#: Neighbouring pixels whose channels all differ by at most this much are a "small step".
SMALL_STEP = 24
#: Rectangles of at most this many pixels (a keystroke's glyph) are sorted without checking
#: for a single colour first: fewer numpy calls, which is what a small rectangle costs.
SMALL_AREA = 1024

U8Array = npt.NDArray[np.uint8]
U32Array = npt.NDArray[np.uint32]
#: ``np.any`` without its Python wrapper (one C call instead of five).
_any = np.logical_or.reduce


class TileKind(IntEnum):
    SOLID = 1
    PALETTE = 2
    PHOTO = 3
    RICH = 4


@dataclass(frozen=True, slots=True)
class Analysis:
    kind: TileKind
    #: SOLID: its colour.
    colour: tuple[int, int, int] = (0, 0, 0)
    #: PALETTE: the distinct packed colours, sorted, ``2 <= n <= max_colours``.
    colours: U32Array | None = None
    #: PALETTE: per pixel, the index of its colour in :attr:`colours` (the rectangle's shape).
    indices: U8Array | None = None
    #: PALETTE: :attr:`colours` as Python ints (what the colour table looks up).
    values: list[int] | None = None


def unpack(keys: U32Array) -> U8Array:
    """Packed pixels back to ``(..., 3)`` RGB bytes."""
    out: U8Array = np.empty((*keys.shape, 3), np.uint8)
    out[..., 0] = keys & 0xFF
    out[..., 1] = (keys >> 8) & 0xFF
    out[..., 2] = keys >> 16
    return out


def smooth(keys: U32Array) -> bool:
    """Whether most horizontal steps between differing neighbours are small (photographic)."""
    if keys.shape[1] < 2:
        return True
    step = np.zeros((keys.shape[0], keys.shape[1] - 1), np.int16)
    for shift in (0, 8, 16):
        channel = ((keys >> shift) & 0xFF).astype(np.int16)
        np.maximum(step, np.abs(channel[:, 1:] - channel[:, :-1]), out=step)
    differing = int(np.count_nonzero(step))
    small = differing - int(np.count_nonzero(step > SMALL_STEP))
    return 2 * small >= differing


def analyse(keys: U32Array, max_colours: int = MAX_COLOURS) -> Analysis:
    """Classify a rectangle of packed pixels and, for a palette, compute palette and indices.

    Most rectangles are small (a keystroke's glyph), so this costs what its numpy calls cost,
    not what its pixels do: it uses the array methods and ufunc reductions directly rather than
    the ``np.*`` wrappers around them. A rectangle of at most :data:`SMALL_AREA` pixels is
    sorted at once and is solid when its first and last sorted values agree (two ufunc calls
    fewer); a larger one is checked for one colour first, which is cheaper than sorting it.
    """
    if not 2 <= max_colours <= 256:
        raise ValueError("max_colours must be 2..256")
    if keys.size <= SMALL_AREA:
        ordered = keys.flatten()
        ordered.sort()
        first = int(ordered[0])
        if first == int(ordered[-1]):
            return Analysis(TileKind.SOLID, colour=_rgb(first))
    else:
        flat = keys.ravel()
        first = int(flat[0])
        if not _any(flat != first):
            return Analysis(TileKind.SOLID, colour=_rgb(first))
        ordered = flat.copy()
        ordered.sort()
        first = int(ordered[0])  # the lowest colour now
    # Each colour after the first starts where the sorted values step up.
    later = ordered[1:][ordered[1:] != ordered[:-1]]
    if later.size >= max_colours:
        return Analysis(TileKind.PHOTO if smooth(keys) else TileKind.RICH)
    values = [first, *later.tolist()]
    colours: U32Array = np.array(values, np.uint32)
    indices = colours.searchsorted(keys).astype(np.uint8)
    return Analysis(TileKind.PALETTE, colours=colours, indices=indices, values=values)


def _rgb(key: int) -> tuple[int, int, int]:
    return key & 0xFF, (key >> 8) & 0xFF, key >> 16


__all__ = ["MAX_COLOURS", "Analysis", "TileKind", "analyse", "smooth", "unpack"]
