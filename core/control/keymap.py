"""Which physical key, with which modifiers, types a given X keysym (pure, no X connection).

Injecting a character through XTEST means pressing a *keycode*; the application then looks the
keycode up in the server's keyboard mapping, under the modifiers that are down at that moment.
So typing "é" is a search: find a keycode whose mapping holds that keysym, note at which
*level* (plain, Shift, AltGr, AltGr+Shift), and arrange the modifiers so the application sees
that level. x11vnc and xdotool do the same. This module holds that decision, fed with the
replies of ``GetKeyboardMapping`` / ``GetModifierMapping`` / ``QueryKeymap`` / ``QueryPointer``,
so every rule is unit-tested without a display; :mod:`core.control.xtest` does the requests.

Facts of the core keyboard mapping on an XKB server (every Xorg and Xvfb): columns 0 and 1 are
group 1's levels 1 and 2 (Shift), 2 and 3 are group 2's, 4 and 5 are group 1's levels 3 and 4
(the ``ISO_Level3_Shift`` modifier, AltGr, with and without Shift). We only ever use group 1:
a keysym found elsewhere (or nowhere) is typed by binding it to a spare keycode, one whose
mapping is empty, at every level, so no modifier can change what it types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

NO_SYMBOL: Final = 0
SHIFT_MASK: Final = 1 << 0
LOCK_MASK: Final = 1 << 1
CONTROL_MASK: Final = 1 << 2
#: The eight core modifiers, in GetModifierMapping order, by mask.
MODIFIER_MASKS: Final = tuple(1 << i for i in range(8))

XK_RETURN: Final = 0xFF0D
XK_TAB: Final = 0xFF09
XK_ISO_LEVEL3_SHIFT: Final = 0xFE03
XK_NUM_LOCK: Final = 0xFF7F
XK_F12: Final = 0xFFC9

#: Key names of the allow-list (``KeySpec.value`` of SPECIAL keys, pynput's spelling) → keysym.
SPECIAL_KEYSYMS: Final[dict[str, int]] = {
    "enter": XK_RETURN,
    "tab": XK_TAB,
    "backspace": 0xFF08,
    "esc": 0xFF1B,
    "delete": 0xFFFF,
    "home": 0xFF50,
    "end": 0xFF57,
    "page_up": 0xFF55,
    "page_down": 0xFF56,
    "left": 0xFF51,
    "up": 0xFF52,
    "right": 0xFF53,
    "down": 0xFF54,
    "insert": 0xFF63,
    "space": 0x0020,
    "menu": 0xFF67,
    **{f"f{n}": 0xFFBE + n - 1 for n in range(1, 13)},
    "shift_l": 0xFFE1,
    "shift_r": 0xFFE2,
    "ctrl_l": 0xFFE3,
    "ctrl_r": 0xFFE4,
    "alt_l": 0xFFE9,
    "alt_r": 0xFFEA,
    "cmd_l": 0xFFEB,  # Super_L
    "cmd_r": 0xFFEC,  # Super_R
}

#: A right-hand modifier missing from the layout (Alt_R is AltGr on most European layouts) is
#: pressed as its left twin: a modifier bound to a spare keycode would set no modifier at all.
MODIFIER_FALLBACK: Final[dict[int, int]] = {
    0xFFE2: 0xFFE1,
    0xFFE4: 0xFFE3,
    0xFFEA: 0xFFE9,
    0xFFEC: 0xFFEB,
}
MODIFIER_KEYSYMS: Final = frozenset(range(0xFFE1, 0xFFEF)) | {XK_ISO_LEVEL3_SHIFT}


def char_keysym(char: str) -> int:
    """The keysym that types ``char``: Latin-1 keysyms equal the code point, everything else is
    the Unicode keysym ``0x01000000 + code point`` (understood by every Xlib/XKB client)."""
    if char == "\n":
        return XK_RETURN
    if char == "\t":
        return XK_TAB
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x0100_0000 + code


def _keysym_char(keysym: int) -> str | None:
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:
        return chr(keysym)
    if 0x0100_0000 <= keysym <= 0x0110_FFFF:
        return chr(keysym - 0x0100_0000)
    return None


#: Columns of group 1, in the order we prefer them, with (needs Shift, needs Level3).
_LEVELS: Final = ((0, False, False), (1, True, False), (4, False, True), (5, True, True))


@dataclass(frozen=True, slots=True)
class Stroke:
    """How to type one keysym: ``before`` (keycode, press?) steps, the key, then ``after``."""

    keycode: int
    before: tuple[tuple[int, bool], ...] = ()
    after: tuple[tuple[int, bool], ...] = ()


class Keymap:
    """A snapshot of the server's keyboard and modifier mappings."""

    def __init__(
        self,
        min_keycode: int,
        per_keycode: int,
        keysyms: Sequence[int],
        modifier_keycodes: Sequence[Sequence[int]],
    ) -> None:
        if per_keycode < 1 or len(keysyms) % per_keycode:
            raise ValueError("keyboard mapping is not whole rows")
        self.min_keycode = min_keycode
        self.per_keycode = per_keycode
        self.rows: dict[int, tuple[int, ...]] = {
            min_keycode + i: tuple(keysyms[i * per_keycode : (i + 1) * per_keycode])
            for i in range(len(keysyms) // per_keycode)
        }
        #: Modifier index (0 Shift … 7 Mod5) → its keycodes (zeros dropped).
        self.modifiers: tuple[tuple[int, ...], ...] = tuple(
            tuple(code for code in row if code) for row in modifier_keycodes
        )
        self._first: dict[tuple[int, int], int] = {}
        for keycode, row in self.rows.items():
            for column, keysym in enumerate(row):
                if keysym != NO_SYMBOL:
                    self._first.setdefault((keysym, column), keycode)
        self.level3_mask = self._mask_of(XK_ISO_LEVEL3_SHIFT)
        self.num_lock_mask = self._mask_of(XK_NUM_LOCK)

    def column(self, keycode: int, column: int) -> int:
        row = self.rows.get(keycode, ())
        return row[column] if column < len(row) else NO_SYMBOL

    def keycodes_of(self, keysym: int) -> list[int]:
        """Every keycode that gives ``keysym`` unmodified (column 0)."""
        return [code for code, row in self.rows.items() if row and row[0] == keysym]

    def _mask_of(self, keysym: int) -> int:
        """The modifier mask that a key with ``keysym`` (in column 0) sets, 0 if none."""
        codes = set(self.keycodes_of(keysym))
        for index, row in enumerate(self.modifiers):
            if codes.intersection(row):
                return MODIFIER_MASKS[index]
        return 0

    def modifier_keycode(self, mask: int, keysym: int | None = None) -> int | None:
        """A keycode that sets modifier ``mask`` (preferring one showing ``keysym``)."""
        index = MODIFIER_MASKS.index(mask)
        row = self.modifiers[index] if index < len(self.modifiers) else ()
        if keysym is not None:
            for code in row:
                if self.column(code, 0) == keysym:
                    return code
        return row[0] if row else None

    def locate(self, keysym: int) -> tuple[int, bool, bool] | None:
        """``(keycode, needs Shift, needs Level3)`` for ``keysym`` in group 1, or None."""
        for column, shift, level3 in _LEVELS:
            if column >= self.per_keycode:
                break
            keycode = self._first.get((keysym, column))
            if keycode is None:
                continue
            if level3 and not self.level3_mask:
                continue  # no way to reach level 3 on this server
            return keycode, shift, level3
        return None

    def key_for(self, keysym: int) -> int | None:
        """The keycode to press for a *named* key (Return, F5, Shift_L …): column 0 only,
        because those keys are pressed as they are, under whatever modifiers the controller
        chose. A missing right-hand modifier falls back to its left twin."""
        codes = self.keycodes_of(keysym)
        if not codes and keysym in MODIFIER_FALLBACK:
            codes = self.keycodes_of(MODIFIER_FALLBACK[keysym])
        return codes[0] if codes else None

    def is_alphabetic(self, keycode: int) -> bool:
        """Whether Caps Lock swaps this key's two levels (a lower/upper case pair)."""
        lower = _keysym_char(self.column(keycode, 0))
        upper = _keysym_char(self.column(keycode, 1))
        return (
            lower is not None
            and upper is not None
            and lower != upper
            and lower.upper() == upper
            and upper.lower() == lower
        )

    def spare_keycodes(self) -> list[int]:
        """Keycodes with nothing mapped and no modifier role: free to bind temporarily."""
        in_modifiers = {code for row in self.modifiers for code in row}
        return [
            code for code, row in self.rows.items() if not any(row) and code not in in_modifiers
        ]

    def stroke(self, keysym: int, state: int, pressed: Iterable[int]) -> Stroke | None:
        """How to type ``keysym`` given the modifier ``state`` (QueryPointer's mask) and the
        keycodes down now (QueryKeymap), or None when only a spare keycode can type it.

        Shift and Level3 are pressed or released around the key as its level needs, and
        restored afterwards; every other modifier (Ctrl, Alt held by the controller) stays as
        it is, which is how Ctrl+c arrives as Ctrl+c. Caps Lock inverts Shift on letter keys.
        A modifier that is active without a key holding it (latched, locked) cannot be lifted:
        then the spare keycode is the way.
        """
        found = self.locate(keysym)
        if found is None:
            return None
        keycode, need_shift, need_level3 = found
        alphabetic = self.is_alphabetic(keycode)
        return self.arrange(keycode, need_shift, need_level3, alphabetic, state, pressed)

    def arrange(
        self,
        keycode: int,
        need_shift: bool,
        need_level3: bool,
        alphabetic: bool,
        state: int,
        pressed: Iterable[int],
    ) -> Stroke | None:
        """The Shift/Level3 presses and releases around ``keycode`` (see :meth:`stroke`)."""
        if state & LOCK_MASK and alphabetic:
            need_shift = not need_shift
        down = set(pressed)
        before: list[tuple[int, bool]] = []
        after: list[tuple[int, bool]] = []
        wanted = (
            (SHIFT_MASK, need_shift, 0xFFE1),
            (self.level3_mask, need_level3, XK_ISO_LEVEL3_SHIFT),
        )
        for mask, need, keysym_of_key in wanted:
            if not mask:
                continue
            active = bool(state & mask)
            if need and not active:
                code = self.modifier_keycode(mask, keysym_of_key)
                if code is None:
                    return None
                before.append((code, True))
                after.insert(0, (code, False))
            elif active and not need:
                index = MODIFIER_MASKS.index(mask)
                holding = [code for code in self.modifiers[index] if code in down]
                if not holding:
                    return None
                for code in holding:
                    before.append((code, False))
                    after.insert(0, (code, True))
        return Stroke(keycode, tuple(before), tuple(after))

    def with_row(self, keycode: int, row: Sequence[int]) -> Keymap:
        """This map with ``keycode`` rebound (what ChangeKeyboardMapping did)."""
        keysyms: list[int] = []
        for code in sorted(self.rows):
            source = row if code == keycode else self.rows[code]
            keysyms.extend((list(source) + [NO_SYMBOL] * self.per_keycode)[: self.per_keycode])
        return Keymap(self.min_keycode, self.per_keycode, keysyms, self.modifiers)


def case_pair(keysym: int) -> tuple[int, int] | None:
    """``(lower, upper)`` keysyms when ``keysym`` is a letter with a one-character other case
    (é/É, ł/Ł, ζ/Ζ; not ß, whose upper case is "SS")."""
    char = _keysym_char(keysym)
    if char is None:
        return None
    lower, upper = char.lower(), char.upper()
    if len(lower) != 1 or len(upper) != 1 or lower == upper:
        return None
    if lower.upper() != upper or upper.lower() != lower:
        return None
    return char_keysym(lower), char_keysym(upper)


def spare_row(keysym: int, per_keycode: int) -> tuple[int, ...]:
    """The mapping a spare keycode gets for ``keysym``, in both groups' first two levels.

    A letter gets its lower and upper case (a key like the others, so Caps Lock works on it
    as on any letter and the typed text can still be exact); anything else gets the keysym at
    every level, so no modifier held meanwhile changes what it types.
    """
    pair = case_pair(keysym)
    levels = pair if pair is not None else (keysym, keysym)
    columns = min(per_keycode, 4)
    return (levels * 2)[:columns] + (NO_SYMBOL,) * (per_keycode - columns)
