"""Tk key events to the key names remote control accepts (core/control/mapping.py).

The presenter refuses any name outside its allow-list, so sending one would only waste a rate
budget; worse, a name that is *almost* right could press the wrong key. So the window maps
exactly: X keysyms 0x21–0x7E are the printable ASCII characters themselves (Tk calls them
``exclam``, ``bracketleft``…), a fixed table covers named keys, and everything else (media keys,
dead keys, keypad oddities) is not sent as a key at all. A character with no key name (é, ß,
ø, any non-Latin letter) is sent as TEXT instead (:func:`typed_text`): the presenter types it
whatever its own keyboard layout is.
"""

from __future__ import annotations

from typing import Final

from core.protocol.content import Modifier

#: Tk keysym → allow-listed name, for keys that are not printable ASCII.
_NAMED: Final[dict[str, str]] = {
    "Return": "Return",
    "KP_Enter": "Return",
    "Tab": "Tab",
    "ISO_Left_Tab": "Tab",
    "BackSpace": "BackSpace",
    "Escape": "Escape",
    "Delete": "Delete",
    "KP_Delete": "Delete",
    "Home": "Home",
    "KP_Home": "Home",
    "End": "End",
    "KP_End": "End",
    "Prior": "Page_Up",
    "Page_Up": "Page_Up",
    "KP_Prior": "Page_Up",
    "KP_Page_Up": "Page_Up",
    "Next": "Page_Down",
    "Page_Down": "Page_Down",
    "KP_Next": "Page_Down",
    "KP_Page_Down": "Page_Down",
    "Left": "Left",
    "KP_Left": "Left",
    "Right": "Right",
    "KP_Right": "Right",
    "Up": "Up",
    "KP_Up": "Up",
    "Down": "Down",
    "KP_Down": "Down",
    "Insert": "Insert",
    "KP_Insert": "Insert",
    "space": "space",
    "KP_Space": "space",
    "Menu": "Menu",
    **{f"F{n}": f"F{n}" for n in range(1, 13)},
    "Shift_L": "shift_l",
    "Shift_R": "shift_r",
    "Control_L": "ctrl_l",
    "Control_R": "ctrl_r",
    "Alt_L": "alt_l",
    "Alt_R": "alt_r",
    "ISO_Level3_Shift": "alt_r",
    "Super_L": "meta_l",
    "Super_R": "meta_r",
    "Meta_L": "meta_l",
    "Meta_R": "meta_r",
}

#: Tk event.state bits (X11 modifier masks) → InputEvent modifier bits.
_STATE_BITS: Final[tuple[tuple[int, Modifier], ...]] = (
    (0x0001, Modifier.SHIFT),  # ShiftMask
    (0x0004, Modifier.CTRL),  # ControlMask
    (0x0008, Modifier.ALT),  # Mod1Mask
    (0x0040, Modifier.META),  # Mod4Mask (Super)
)


def key_name(keysym: str, keysym_num: int) -> str | None:
    """The allow-listed name of a Tk key event, or ``None`` if it must not be sent."""
    if 0x21 <= keysym_num <= 0x7E:
        return chr(keysym_num)
    return _NAMED.get(keysym)


def modifiers_of(state: int) -> int:
    """The :class:`~core.protocol.content.Modifier` bits held during a Tk event."""
    bits = 0
    for mask, modifier in _STATE_BITS:
        if state & mask:
            bits |= int(modifier)
    return bits


def typed_text(char: str, state: int) -> str | None:
    """The text to send for a key press that has no allow-listed name, or ``None``.

    Only a single printable non-ASCII character (ASCII ones all have names), and only without
    Ctrl, Alt or Super held: TEXT carries no modifiers, so Ctrl+é would arrive as a plain é.
    """
    if len(char) != 1 or ord(char) < 0xA0 or not char.isprintable():
        return None
    if modifiers_of(state) & ~int(Modifier.SHIFT):
        return None
    return char
