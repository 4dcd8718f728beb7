"""The keysym → keycode/modifier decisions of XTEST typing, without an X server.

The keymap below copies the shape of Xvfb's default US map (seven keysyms per keycode; Shift,
Lock, Control, Mod1 and Mod5 = ISO_Level3_Shift) with a few keys; the real server is covered by
test_control_x11.py and test_control_xterm.py.
"""

from __future__ import annotations

import pytest

from core.control.grab import chord_modifier_sets
from core.control.keymap import (
    CONTROL_MASK,
    LOCK_MASK,
    SHIFT_MASK,
    SPECIAL_KEYSYMS,
    Keymap,
    Stroke,
    case_pair,
    char_keysym,
    spare_row,
)
from core.control.mapping import KEY_NAMES, KeyKind

SHIFT_L, SHIFT_R, CAPS, CTRL_L, ALT_L, LEVEL3 = 50, 62, 66, 37, 64, 92
A, ONE, LESS, EMPTY, RETURN, ALT_R = 38, 10, 94, 93, 36, 108
MOD5 = 1 << 7

ROWS = {
    A: (ord("a"), ord("A"), ord("a"), ord("A")),
    ONE: (ord("1"), ord("!"), ord("1"), ord("!")),
    # The <> key of pc105: level 3 is |, level 4 is ¦ (brokenbar).
    LESS: (ord("<"), ord(">"), ord("<"), ord(">"), ord("|"), 0xA6),
    RETURN: (0xFF0D,),
    SHIFT_L: (0xFFE1,),
    SHIFT_R: (0xFFE2,),
    CAPS: (0xFFE5,),
    CTRL_L: (0xFFE3,),
    ALT_L: (0xFFE9, 0xFFE7),
    LEVEL3: (0xFE03,),
}
MODIFIERS = [
    (SHIFT_L, SHIFT_R),  # Shift
    (CAPS,),  # Lock
    (CTRL_L,),  # Control
    (ALT_L,),  # Mod1
    (),
    (),
    (),
    (LEVEL3,),  # Mod5
]


def keymap(rows: dict[int, tuple[int, ...]] = ROWS, per_keycode: int = 7) -> Keymap:
    keysyms: list[int] = []
    for code in range(8, 120):
        row = rows.get(code, ())
        keysyms.extend((list(row) + [0] * per_keycode)[:per_keycode])
    return Keymap(8, per_keycode, keysyms, MODIFIERS)


def test_levels_are_found_plain_first_then_shift_then_altgr() -> None:
    km = keymap()
    assert km.locate(ord("a")) == (A, False, False)
    assert km.locate(ord("A")) == (A, True, False)
    assert km.locate(ord("|")) == (LESS, False, True)
    assert km.locate(0xA6) == (LESS, True, True)
    assert km.locate(0xE9) is None  # é: not on the map
    assert km.level3_mask == MOD5


def test_shift_and_level3_are_pressed_around_the_key_and_let_go_after() -> None:
    km = keymap()
    assert km.stroke(ord("a"), 0, set()) == Stroke(A)
    assert km.stroke(ord("!"), 0, set()) == Stroke(ONE, ((SHIFT_L, True),), ((SHIFT_L, False),))
    assert km.stroke(0xA6, 0, set()) == Stroke(
        LESS, ((SHIFT_L, True), (LEVEL3, True)), ((LEVEL3, False), (SHIFT_L, False))
    )
    # Ctrl held (by the controller) is left alone: that is how Ctrl+a arrives.
    assert km.stroke(ord("a"), CONTROL_MASK, {CTRL_L}) == Stroke(A)


def test_a_held_shift_is_lifted_for_a_plain_character_and_pressed_again() -> None:
    km = keymap()
    assert km.stroke(ord("1"), SHIFT_MASK, {SHIFT_R}) == Stroke(
        ONE, ((SHIFT_R, False),), ((SHIFT_R, True),)
    )
    # Shift is on but no key holds it (latched): it cannot be lifted; a spare key is the way.
    assert km.stroke(ord("1"), SHIFT_MASK, set()) is None
    # Already shifted: nothing to do.
    assert km.stroke(ord("!"), SHIFT_MASK, {SHIFT_L}) == Stroke(ONE)


def test_caps_lock_inverts_shift_on_letters_only() -> None:
    km = keymap()
    assert km.stroke(ord("A"), LOCK_MASK, set()) == Stroke(A)
    assert km.stroke(ord("a"), LOCK_MASK, set()) == Stroke(
        A, ((SHIFT_L, True),), ((SHIFT_L, False),)
    )
    assert km.stroke(ord("1"), LOCK_MASK, set()) == Stroke(ONE)


def test_named_keys_are_taken_plain_and_right_modifiers_fall_back_to_left() -> None:
    km = keymap()
    assert km.key_for(0xFF0D) == RETURN
    assert km.key_for(0xFFEA) == ALT_L  # Alt_R is AltGr on many layouts
    assert km.key_for(0xFFE7) is None  # Meta_L: only in column 1, not a key of its own here


def test_spare_keycodes_are_empty_and_play_no_modifier_role() -> None:
    km = keymap({**ROWS, ALT_R: ()})
    spares = km.spare_keycodes()
    assert {EMPTY, ALT_R} <= set(spares)
    assert not set(spares) & set(ROWS)
    with_modifier = Keymap(8, 7, [0] * 7 * 112, [(EMPTY,), (), (), (), (), (), (), ()])
    assert EMPTY not in with_modifier.spare_keycodes()


def test_spare_rows_hold_both_cases_of_a_letter_and_the_keysym_everywhere_otherwise() -> None:
    assert spare_row(0xE9, 7) == (0xE9, 0xC9, 0xE9, 0xC9, 0, 0, 0)  # é / É
    assert spare_row(0xC9, 7) == spare_row(0xE9, 7)
    assert spare_row(0xDF, 7) == (0xDF,) * 4 + (0,) * 3  # ß: upper case is "SS"
    assert spare_row(0x10020AC, 2) == (0x10020AC,) * 2  # €
    assert case_pair(char_keysym("ζ")) == (0x10003B6, 0x1000396)
    assert case_pair(ord("1")) is None


@pytest.mark.parametrize(
    ("char", "keysym"),
    [
        ("a", 0x61),
        (" ", 0x20),
        ("é", 0xE9),
        ("ÿ", 0xFF),
        ("ł", 0x1000142),
        ("€", 0x10020AC),
        ("\n", 0xFF0D),
        ("\t", 0xFF09),
    ],
)
def test_characters_have_latin1_or_unicode_keysyms(char: str, keysym: int) -> None:
    assert char_keysym(char) == keysym


def test_every_allow_listed_named_key_has_a_keysym() -> None:
    specials = {spec.value for spec in KEY_NAMES.values() if spec.kind is KeyKind.SPECIAL}
    assert specials <= set(SPECIAL_KEYSYMS)


def test_the_revoke_chord_is_grabbed_with_every_lock_and_modifier_combination() -> None:
    sets = chord_modifier_sets()
    assert len(sets) == len(set(sets)) == 128
    assert all(mask & CONTROL_MASK for mask in sets)
    num_lock = 1 << 4  # Mod2 on every common layout
    assert {CONTROL_MASK, CONTROL_MASK | LOCK_MASK, CONTROL_MASK | num_lock} <= set(sets)
    assert CONTROL_MASK | LOCK_MASK | num_lock | SHIFT_MASK in sets
