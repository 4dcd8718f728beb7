"""Turn one validated input event into the exact backend calls it makes (pure, no X).

Keeping the *deciding* apart from the *doing* means every policy below is unit-tested without
a display, and the injector is left with bookkeeping: rate budget, held-state, statistics.

Policies (the reasons are in the function docstrings):

* Pointer events (move, button, wheel) first move the pointer to the mapped point, clamped into
  the shared area. Key and text events ignore ``x, y``.
* ``modifiers`` on BUTTON_DOWN, WHEEL and KEY_DOWN: each modifier the controller does not
  already hold is pressed just before and released just after that one event ("temporary
  modifiers"). Modifiers the controller holds (it sent KEY_DOWN ctrl_l) are left alone.
  POINTER_MOVE, BUTTON_UP, KEY_UP and TEXT ignore ``modifiers``.
* Releases (KEY_UP, BUTTON_UP) are allowed only for what the controller holds, and cost
  nothing against the rate budget, so a flood of motion can never strand a pressed key.
* TEXT costs one token per character; a wheel event one per step; everything else one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from core.control.errors import RefusalReason, Refused
from core.control.mapping import (
    MAX_TEXT_CHARS,
    MODIFIER_KEYS,
    Area,
    KeySpec,
    check_button,
    check_frame_size,
    clamp_wheel,
    map_point,
    modifier_bits,
    prepare_text,
    resolve_key,
)
from core.protocol.content import InputEvent, InputKind

# ---------------------------------------------------------------------------------------------
# Actions: the vocabulary between the planner and the backend.


@dataclass(frozen=True, slots=True)
class Move:
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class PressButton:
    button: int


@dataclass(frozen=True, slots=True)
class ReleaseButton:
    button: int


@dataclass(frozen=True, slots=True)
class Scroll:
    dx: int
    dy: int


@dataclass(frozen=True, slots=True)
class PressKey:
    key: KeySpec = field(repr=False)


@dataclass(frozen=True, slots=True)
class ReleaseKey:
    key: KeySpec = field(repr=False)


@dataclass(frozen=True, slots=True)
class TypeText:
    text: str = field(repr=False)


Action = Move | PressButton | ReleaseButton | Scroll | PressKey | ReleaseKey | TypeText
#: Actions that undo a press; the injector still runs these after a backend failure.
RELEASES = (ReleaseButton, ReleaseKey)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do for one event, and what it costs against the rate budget."""

    actions: tuple[Action, ...]
    cost: int


# ---------------------------------------------------------------------------------------------


def _field_int(event: InputEvent, name: str, low: int, high: int) -> int:
    value = getattr(event, name, None)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Refused(RefusalReason.BAD_KIND, f"malformed {name}")
    return value


def _with_modifiers(
    modifiers: int, held_keys: Collection[KeySpec], own: KeySpec | None, inner: list[Action]
) -> list[Action]:
    """Wrap ``inner`` in presses/releases of the modifiers the controller does not hold.

    Why temporary and not sticky: the event says "this key/click happened with ctrl down".
    Pressing ctrl around exactly that event reproduces it, and leaves nothing pressed behind
    that the controller did not ask to hold, so a lost KEY_UP can never leave the presenter's
    ctrl stuck. A controller that wants ctrl held across several events (ctrl-drag) sends
    KEY_DOWN ctrl_l explicitly; that is tracked and released on KEY_UP or on revoke.
    The key being pressed never wraps itself (KEY_DOWN ctrl_l with CTRL set is just ctrl_l).
    """
    held_bits = 0
    for key in held_keys:
        held_bits |= key.modifier
    if own is not None:
        held_bits |= own.modifier
    temporary = [MODIFIER_KEYS[bit] for bit in modifier_bits(modifiers) if not held_bits & bit]
    return [PressKey(k) for k in temporary] + inner + [ReleaseKey(k) for k in reversed(temporary)]


def plan_event(
    event: object,
    frame_size: object,
    area: Callable[[], Area],
    held_keys: Collection[KeySpec],
    held_buttons: Collection[int],
    *,
    text_limit: int = MAX_TEXT_CHARS,
) -> Plan:
    """The backend actions for ``event``; raises :class:`Refused` for anything not allowed.

    ``area`` is called only for pointer events, so typing keeps working while the capture
    side cannot say where the shared area is (and a provider is not asked needlessly).
    """
    if not isinstance(event, InputEvent):
        raise Refused(RefusalReason.BAD_KIND, "not an InputEvent")
    try:
        kind = InputKind(event.kind)
    except (ValueError, TypeError):
        raise Refused(RefusalReason.BAD_KIND, "unknown input kind") from None
    modifiers = _field_int(event, "modifiers", 0, 15)

    def point() -> Move:
        x = _field_int(event, "x", -(2**31), 2**31 - 1)
        y = _field_int(event, "y", -(2**31), 2**31 - 1)
        return Move(*map_point(x, y, check_frame_size(frame_size), area()))

    if kind is InputKind.POINTER_MOVE:
        return Plan((point(),), cost=1)

    if kind is InputKind.BUTTON_DOWN:
        button = check_button(event.button)
        if button in held_buttons:
            raise Refused(RefusalReason.ALREADY_HELD, f"button {button}")
        move = point()
        actions = _with_modifiers(modifiers, held_keys, None, [PressButton(button)])
        return Plan((move, *actions), cost=1)

    if kind is InputKind.BUTTON_UP:
        button = check_button(event.button)
        if button not in held_buttons:
            raise Refused(RefusalReason.NOT_HELD, f"button {button}")
        # Release where the controller says, but release even if the point is unusable now
        # (the shared window vanished mid-drag): a stuck button is worse than a wrong spot.
        try:
            return Plan((point(), ReleaseButton(button)), cost=0)
        except Refused:
            return Plan((ReleaseButton(button),), cost=0)

    if kind is InputKind.WHEEL:
        dx = _field_int(event, "wheel_dx", -1000, 1000)
        dy = _field_int(event, "wheel_dy", -1000, 1000)
        dx, dy = clamp_wheel(dx, dy)
        move = point()
        actions = _with_modifiers(modifiers, held_keys, None, [Scroll(dx, dy)])
        return Plan((move, *actions), cost=abs(dx) + abs(dy))

    if kind is InputKind.KEY_DOWN:
        key = resolve_key(event.key)
        actions = _with_modifiers(modifiers, held_keys, key, [PressKey(key)])
        return Plan(tuple(actions), cost=1)

    if kind is InputKind.KEY_UP:
        key = resolve_key(event.key)
        if key not in held_keys:
            raise Refused(RefusalReason.NOT_HELD, "key not held by the controller")
        return Plan((ReleaseKey(key),), cost=0)

    if kind is InputKind.TEXT:
        text = prepare_text(event.text, text_limit)
        return Plan((TypeText(text),), cost=len(text))

    raise Refused(RefusalReason.BAD_KIND, f"unhandled kind {kind!r}")  # pragma: no cover
