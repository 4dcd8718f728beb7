"""Pure translation of what a controller sends into what may touch the presenter's screen.

Two jobs, both without X so they are testable anywhere:

* **Coordinates.** An :class:`~core.protocol.content.InputEvent` carries ``x, y`` in the frame
  the controller is looking at. The presenter knows which screen rectangle that frame shows
  (the captured :class:`Area`). :func:`map_point` scales frame pixels onto the area (the frame
  is normally the same size; a viewer that down-scaled, or a capture that changed size since
  the frame was sent, makes them differ) and **clamps into the area**: whatever a controller
  sends, the pointer can never leave the region the presenter chose to share. That is the
  consent boundary of docs/design.md §3.5 applied to the pointer.

* **Keys.** Key names form a fixed allow-list (:data:`KEY_NAMES`). Anything else is refused,
  so a controller cannot reach keys we never thought about (media keys, power, SysRq, keypad
  oddities, dead keys) or smuggle a multi-character string into the backend. Printable ASCII
  characters name themselves ("a", "A", "7", "!"); named keys use X11-ish spellings
  ("Return", "Page_Up", "F5"); modifiers are ``shift_l``/``ctrl_r``/… with plain ``shift``,
  ``ctrl``, ``alt``, ``meta`` as aliases of the left key.

Validation failures raise :class:`~core.control.errors.Refused`; the injector turns that into
a counted ``False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from core.control.errors import RefusalReason, Refused
from core.protocol.content import Modifier

#: Largest frame side we believe a viewer saw. Frames are U16 on the wire; anything past a
#: large multi-monitor desktop is a confused or hostile viewer, not a real frame.
MAX_FRAME_SIDE: Final = 16384
#: Largest shared area side we accept from the area provider (same reasoning).
MAX_AREA_SIDE: Final = 32767
#: X coordinates are signed 16-bit; origins must keep the whole area addressable.
MIN_COORD: Final = -32768
MAX_COORD: Final = 32767
#: Longest TEXT event typed in one go (also capped by the rate budget, see the injector).
MAX_TEXT_CHARS: Final = 128
#: Wheel steps per event; a bigger flick is clamped, not refused (it is a legitimate gesture).
MAX_WHEEL_STEPS: Final = 10


# ---------------------------------------------------------------------------------------------
# Coordinates


@dataclass(frozen=True, slots=True)
class Area:
    """The shared screen rectangle in root-window pixels (``x, y`` is its top-left corner)."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def from_tuple(cls, value: object) -> Area:
        """Validate what an area provider returned; refuse (NO_AREA) anything implausible.

        The provider is the capture side (a window can move, shrink or vanish), so its answer
        is checked on every use instead of trusted.
        """
        if not isinstance(value, tuple | list) or len(value) != 4:
            raise Refused(RefusalReason.NO_AREA, "area must be (x, y, width, height)")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise Refused(RefusalReason.NO_AREA, "area values must be integers")
        x, y, width, height = value
        if not (1 <= width <= MAX_AREA_SIDE and 1 <= height <= MAX_AREA_SIDE):
            raise Refused(RefusalReason.NO_AREA, f"area size {width}x{height}")
        if not (x >= MIN_COORD and x + width - 1 <= MAX_COORD):
            raise Refused(RefusalReason.NO_AREA, "area outside the X coordinate range")
        if not (y >= MIN_COORD and y + height - 1 <= MAX_COORD):
            raise Refused(RefusalReason.NO_AREA, "area outside the X coordinate range")
        return cls(x, y, width, height)


def check_frame_size(frame_size: object) -> tuple[int, int]:
    """The ``(width, height)`` of the frame the controller saw, validated (BAD_FRAME)."""
    if not isinstance(frame_size, tuple | list) or len(frame_size) != 2:
        raise Refused(RefusalReason.BAD_FRAME, "frame size must be (width, height)")
    width, height = frame_size
    for side in (width, height):
        if not isinstance(side, int) or isinstance(side, bool):
            raise Refused(RefusalReason.BAD_FRAME, "frame size must be integers")
        if not 1 <= side <= MAX_FRAME_SIDE:
            raise Refused(RefusalReason.BAD_FRAME, f"frame side {side}")
    return width, height


def _clamp(value: int, low: int, high: int) -> int:
    return low if value < low else high if value > high else value


def _scale(value: int, frame_side: int, area_side: int) -> int:
    """Frame pixel → area pixel offset, mapping pixel *centres* (exact when sides are equal).

    ``floor((v + ½) · area / frame)`` in integers, so every frame pixel lands inside the area
    and equal sizes give the identity (no off-by-one drift at the right/bottom edge).
    """
    return ((2 * value + 1) * area_side) // (2 * frame_side)


def map_point(x: int, y: int, frame_size: tuple[int, int], area: Area) -> tuple[int, int]:
    """Map a point in the controller's frame to a root-window point inside ``area``.

    Points outside the frame (a drag that left the viewer window reports them) are clamped to
    the frame edge first, so the pointer stops at the edge of the shared area instead of
    wandering onto the presenter's private screen.
    """
    frame_w, frame_h = check_frame_size(frame_size)
    fx = _clamp(int(x), 0, frame_w - 1)
    fy = _clamp(int(y), 0, frame_h - 1)
    sx = area.x + _scale(fx, frame_w, area.width)
    sy = area.y + _scale(fy, frame_h, area.height)
    # _scale never reaches area.width for fx < frame_w, but clamp anyway: this is the boundary.
    return (
        _clamp(sx, area.x, area.x + area.width - 1),
        _clamp(sy, area.y, area.y + area.height - 1),
    )


# ---------------------------------------------------------------------------------------------
# Keys


class KeyKind(Enum):
    """How the backend produces the key."""

    #: A printable character: the backend finds it in the keyboard layout (on X11 see
    #: :mod:`core.control.keymap`).
    CHAR = "char"
    #: A named key, by its ``pynput.keyboard.Key`` attribute name (the X11 backend maps
    #: these names to keysyms in :data:`core.control.keymap.SPECIAL_KEYSYMS`).
    SPECIAL = "special"


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One allow-listed key. Equality is by the physical key, so aliases track as one key."""

    kind: KeyKind
    #: The character (CHAR) or the ``pynput.keyboard.Key`` attribute name (SPECIAL).
    value: str
    #: The :class:`~core.protocol.content.Modifier` bit this key sets, 0 for ordinary keys.
    modifier: int = 0

    @property
    def is_modifier(self) -> bool:
        return self.modifier != 0


def _special(value: str, modifier: int = 0) -> KeySpec:
    return KeySpec(KeyKind.SPECIAL, value, modifier)


_SHIFT, _CTRL, _ALT, _META = (
    int(m) for m in (Modifier.SHIFT, Modifier.CTRL, Modifier.ALT, Modifier.META)
)

_NAMED: dict[str, KeySpec] = {
    "Return": _special("enter"),
    "Tab": _special("tab"),
    "BackSpace": _special("backspace"),
    "Escape": _special("esc"),
    "Delete": _special("delete"),
    "Home": _special("home"),
    "End": _special("end"),
    "Page_Up": _special("page_up"),
    "Page_Down": _special("page_down"),
    "Left": _special("left"),
    "Right": _special("right"),
    "Up": _special("up"),
    "Down": _special("down"),
    "Insert": _special("insert"),
    "space": _special("space"),
    "Menu": _special("menu"),
    **{f"F{n}": _special(f"f{n}") for n in range(1, 13)},
    "shift_l": _special("shift_l", _SHIFT),
    "shift_r": _special("shift_r", _SHIFT),
    "ctrl_l": _special("ctrl_l", _CTRL),
    "ctrl_r": _special("ctrl_r", _CTRL),
    "alt_l": _special("alt_l", _ALT),
    "alt_r": _special("alt_r", _ALT),
    # pynput calls the Super/Windows/Command key "cmd".
    "meta_l": _special("cmd_l", _META),
    "meta_r": _special("cmd_r", _META),
}
_NAMED.update(
    {
        "shift": _NAMED["shift_l"],
        "ctrl": _NAMED["ctrl_l"],
        "alt": _NAMED["alt_l"],
        "meta": _NAMED["meta_l"],
    }
)
#: Printable ASCII except space (which is the named key "space").
_CHARS: dict[str, KeySpec] = {chr(c): KeySpec(KeyKind.CHAR, chr(c)) for c in range(0x21, 0x7F)}

#: Every key name a controller may send, mapped to the key it means. Fixed on purpose.
KEY_NAMES: Final[dict[str, KeySpec]] = {**_CHARS, **_NAMED}

#: The key pressed on the controller's behalf for each modifier bit in ``InputEvent.modifiers``.
MODIFIER_KEYS: Final[dict[int, KeySpec]] = {
    _SHIFT: _NAMED["shift_l"],
    _CTRL: _NAMED["ctrl_l"],
    _ALT: _NAMED["alt_l"],
    _META: _NAMED["meta_l"],
}


def resolve_key(name: object) -> KeySpec:
    """The allow-listed key ``name`` stands for; UNKNOWN_KEY for anything else."""
    if not isinstance(name, str):
        raise Refused(RefusalReason.UNKNOWN_KEY, "key name must be a string")
    spec = KEY_NAMES.get(name)
    if spec is None:
        # Never echo the name: it is session content (a keystroke) and must not reach logs.
        raise Refused(RefusalReason.UNKNOWN_KEY, f"{len(name)}-character name not allowed")
    return spec


def modifier_bits(modifiers: int) -> list[int]:
    """The set bits of a modifiers bitmask, in a fixed order (shift, ctrl, alt, meta)."""
    return [bit for bit in MODIFIER_KEYS if modifiers & bit]


# ---------------------------------------------------------------------------------------------
# Buttons, wheel, text

#: X11 button numbers a controller may press, mapped to ``pynput.mouse.Button`` names.
BUTTONS: Final[dict[int, str]] = {1: "left", 2: "middle", 3: "right"}


def check_button(button: object) -> int:
    """A button number we inject (1–3); BAD_BUTTON otherwise (4–7 are WHEEL events)."""
    if not isinstance(button, int) or isinstance(button, bool) or button not in BUTTONS:
        raise Refused(RefusalReason.BAD_BUTTON, "button must be 1, 2 or 3")
    return button


def clamp_wheel(dx: int, dy: int) -> tuple[int, int]:
    """Wheel steps clamped to ±MAX_WHEEL_STEPS per axis; BAD_WHEEL when both are zero.

    Convention (pynput's, and X11's): ``dy > 0`` scrolls up (button 4), ``dy < 0`` down (5),
    ``dx > 0`` right (7), ``dx < 0`` left (6).
    """
    cx = _clamp(int(dx), -MAX_WHEEL_STEPS, MAX_WHEEL_STEPS)
    cy = _clamp(int(dy), -MAX_WHEEL_STEPS, MAX_WHEEL_STEPS)
    if cx == 0 and cy == 0:
        raise Refused(RefusalReason.BAD_WHEEL, "wheel event without steps")
    return cx, cy


def prepare_text(text: object, limit: int = MAX_TEXT_CHARS) -> str:
    """Text that is safe to type: printable characters plus newline and tab, at most ``limit``.

    Line endings are normalised first (``\\r\\n`` and a lone ``\\r`` become ``\\n``, which
    pynput types as Return) so a pasted Windows text is not refused. Every other control or
    format character (escape, backspace, NUL, bidi overrides, zero-width joiners…) refuses the
    whole event: typing half a string is worse than typing none of it, and those characters
    have no business in remote typing.
    """
    if not isinstance(text, str) or not text:
        raise Refused(RefusalReason.BAD_TEXT, "text must be a non-empty string")
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(normalised) > limit:
        raise Refused(RefusalReason.TEXT_TOO_LONG, f"{len(normalised)} > {limit} characters")
    for char in normalised:
        if char in "\n\t":
            continue
        # isprintable() is False for Unicode "Other" (Cc, Cf, Cs, Co, Cn) and separators
        # other than the ASCII space.
        if not char.isprintable():
            raise Refused(RefusalReason.BAD_TEXT, "text holds a control or format character")
    return normalised
