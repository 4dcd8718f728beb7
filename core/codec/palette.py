"""The persistent colour table behind PALETTE operations.

Both ends hold 256 colour slots, all undefined after a keyframe. A PALETTE operation first
(re)defines the slots it needs that the other end does not have yet, then sends one slot number
per pixel. Because a colour keeps its slot from one tile and one update to the next, the same
glyph yields the same index bytes wherever it appears, and the persistent zlib stream finds it
again: on scrolling terminal text that is much smaller than a palette per tile.

The encoder evicts the least recently used slots, never one the current rectangle uses.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SLOTS = 256

U8Array = npt.NDArray[np.uint8]
#: What :meth:`ColourTable.assign` returns when every colour already has a slot (read-only).
_NO_DEFINITIONS: U8Array = np.empty((0, 4), np.uint8)
_NO_DEFINITIONS.flags.writeable = False


class ColourTable:
    """The encoder's copy of the table: which colour is in which slot, and how recently used.

    Plain Python lists and dicts, not numpy: a keystroke's glyph uses a handful of colours, and
    at one keystroke every 100 ms the presenter runs with cold caches, where each numpy call
    costs microseconds of set-up whatever its size.
    """

    __slots__ = ("_clock", "_colour_of", "_slot_of", "_stamp")

    def __init__(self) -> None:
        self._slot_of: dict[int, int] = {}
        self._colour_of: list[int] = [-1] * SLOTS
        self._stamp: list[int] = [0] * SLOTS
        self._clock = 0

    def copy(self) -> ColourTable:
        twin = ColourTable.__new__(ColourTable)  # not __init__: its fresh lists are replaced
        twin._slot_of = dict(self._slot_of)
        twin._colour_of = list(self._colour_of)
        twin._stamp = list(self._stamp)
        twin._clock = self._clock
        return twin

    def missing(self, colours: list[int]) -> int:
        """How many of ``colours`` have no slot yet (each would cost a 4-byte entry)."""
        slot_of = self._slot_of
        return len([c for c in colours if c not in slot_of])

    def assign(self, colours: list[int]) -> tuple[bytes, U8Array]:
        """Slots for ``colours`` (distinct packed colours, at most 256).

        Returns the slot of each colour, as a 256-byte translation table for
        :meth:`bytes.translate` (entry ``i``: the slot of ``colours[i]``), and the definitions
        the other end needs first, as ``k × 4`` bytes ``slot, r, g, b``.
        """
        self._clock = clock = self._clock + 1
        slot_of, stamp = self._slot_of, self._stamp
        slots = [slot_of.get(c, -1) for c in colours]
        missing = [i for i, s in enumerate(slots) if s < 0]
        for s in slots:
            if s >= 0:
                stamp[s] = clock
        if not missing:  # the common case once a screen's colours are known: nothing to define
            return bytes(slots).ljust(SLOTS, b"\0"), _NO_DEFINITIONS
        definitions = np.empty((len(missing), 4), np.uint8)
        # The least recently used slots (the lowest numbers among equals): a stable sort.
        victims = sorted(range(SLOTS), key=stamp.__getitem__)[: len(missing)]
        for row, (i, slot) in enumerate(zip(missing, victims, strict=True)):
            old = self._colour_of[slot]
            if old >= 0:
                del slot_of[old]
            colour = colours[i]
            self._colour_of[slot] = colour
            slot_of[colour] = slot
            slots[i] = slot
            stamp[slot] = clock
            definitions[row] = (slot, colour & 0xFF, (colour >> 8) & 0xFF, colour >> 16)
        return bytes(slots).ljust(SLOTS, b"\0"), definitions


__all__ = ["SLOTS", "ColourTable"]
