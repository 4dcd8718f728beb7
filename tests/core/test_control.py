"""Remote-control injection without a display: mapping, key allow-list, budget, held-state.

The injector runs for real here; only pynput's two controllers are replaced by recorders
(pynput is not our component). tests/core/test_control_x11.py drives the real thing on Xvfb.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

import pytest
import trio
import trio.testing

from core.control import (
    KEY_NAMES,
    MAX_TEXT_CHARS,
    MAX_WHEEL_STEPS,
    Area,
    HotkeyUnavailable,
    Injector,
    KeyKind,
    PynputBackend,
    RefusalReason,
    TokenBucket,
    check_x11_record,
    map_point,
    prepare_text,
    resolve_key,
    revoke_hotkey_for,
    stuck_keys,
)
from core.control.errors import Refused
from core.control.mapping import BUTTONS, MODIFIER_KEYS, check_frame_size
from core.control.stuck_keys import StuckKeyWatch
from core.protocol.content import (
    ContentType,
    InputEvent,
    InputKind,
    Modifier,
    decode_content,
    encode_content,
)

SHIFT, CTRL, ALT, META = (int(m) for m in Modifier)


def ev(
    kind: InputKind,
    *,
    x: int = 0,
    y: int = 0,
    button: int = 0,
    dx: int = 0,
    dy: int = 0,
    mods: int = 0,
    key: str = "",
    text: str = "",
) -> InputEvent:
    """An InputEvent as a viewer would send it (and as the wire decoder would hand it over)."""
    event = InputEvent(kind, x, y, button, dx, dy, mods, key, text)
    kind_, data = encode_content(event)
    decoded = decode_content(kind_, data)
    assert kind_ is ContentType.INPUT_EVENT
    assert decoded == event
    return event


# ---------------------------------------------------------------------------------------------
# Fake pynput controllers: they record calls in one shared log, in order.

Call = tuple[Any, ...]


class FakeMouse:
    def __init__(self, log: list[Call], fail: set[str]) -> None:
        self._log = log
        self._fail = fail
        self._position = (0, 0)

    @property
    def position(self) -> tuple[int, int]:
        return self._position

    @position.setter
    def position(self, value: tuple[int, int]) -> None:
        self._position = value
        self._log.append(("move", *value))

    def _call(self, *call: Any) -> None:
        if call[0] in self._fail:
            raise OSError(f"fake X error on {call[0]}")
        self._log.append(call)

    def press(self, button: Any) -> None:
        self._call("bdown", button)

    def release(self, button: Any) -> None:
        self._call("bup", button)

    def scroll(self, dx: int, dy: int) -> None:
        self._call("scroll", dx, dy)


class FakeKeyboard:
    def __init__(self, log: list[Call], fail: set[str]) -> None:
        self._log = log
        self._fail = fail

    def _call(self, *call: Any) -> None:
        if call[0] in self._fail or f"{call[0]}:{call[1]}" in self._fail:
            raise OSError(f"fake X error on {call}")
        self._log.append(call)

    def press(self, key: Any) -> None:
        self._call("kdown", key)

    def release(self, key: Any) -> None:
        self._call("kup", key)

    def type(self, string: str) -> None:
        self._call("type", string)


class Rig:
    """An injector over fake pynput controllers, a fixed area, and a hand-driven clock."""

    AREA = (100, 50, 640, 400)
    FRAME = (640, 400)

    def __init__(
        self,
        *,
        rate: float = 200,
        missing_keys: Iterable[str] = (),
        area: Any = AREA,
    ) -> None:
        self.log: list[Call] = []
        self.fail: set[str] = set()
        self.now = 1000.0
        self.area: Any = area
        self.area_calls = 0
        specials = {s.value for s in KEY_NAMES.values() if s.kind is KeyKind.SPECIAL}
        self.backend = PynputBackend(
            mouse=FakeMouse(self.log, self.fail),
            keyboard=FakeKeyboard(self.log, self.fail),
            keys={n: f"Key.{n}" for n in specials if n not in set(missing_keys)},
            buttons={n: f"Button.{name}" for n, name in BUTTONS.items()},
        )
        self.injector = Injector(
            self.area_provider,
            max_events_per_second=rate,
            backend=self.backend,
            clock=lambda: self.now,
        )

    def area_provider(self) -> tuple[int, int, int, int]:
        self.area_calls += 1
        if isinstance(self.area, Exception):
            raise self.area
        result: tuple[int, int, int, int] = self.area
        return result

    def send(self, event: InputEvent, frame: Any = FRAME) -> bool:
        return self.injector.inject(event, frame)

    def take_log(self) -> list[Call]:
        out = list(self.log)
        self.log.clear()
        return out

    def refused(self) -> dict[RefusalReason, int]:
        return dict(self.injector.statistics().refused_by_reason)


# ---------------------------------------------------------------------------------------------
# Coordinates


AREA = Area(100, 50, 640, 400)


@pytest.mark.parametrize(
    ("point", "expected"),
    [((0, 0), (100, 50)), ((10, 20), (110, 70)), ((639, 399), (739, 449)), ((320, 0), (420, 50))],
)
def test_equal_sizes_map_by_offset(point: tuple[int, int], expected: tuple[int, int]) -> None:
    assert map_point(*point, (640, 400), AREA) == expected


def test_scaled_frames_map_pixel_centres_and_stay_inside() -> None:
    half = (320, 200)  # the viewer saw a half-size frame: each frame pixel is 2x2 screen pixels
    assert map_point(0, 0, half, AREA) == (101, 51)
    assert map_point(319, 199, half, AREA) == (739, 449)
    assert map_point(160, 100, half, AREA) == (421, 251)
    double = (1280, 800)  # the viewer saw a larger frame (the area shrank since)
    assert map_point(0, 0, double, AREA) == (100, 50)
    assert map_point(1279, 799, double, AREA) == (739, 449)
    assert map_point(641, 401, double, AREA) == (420, 250)
    odd = Area(7, 3, 5, 3)
    for fx in range(0, 17):
        for fy in range(0, 11):
            sx, sy = map_point(fx, fy, (17, 11), odd)
            assert 7 <= sx <= 11
            assert 3 <= sy <= 5


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ((-1, -1), (100, 50)),
        ((-5000, 200), (100, 250)),
        ((640, 400), (739, 449)),
        ((2**31 - 1, -(2**31)), (739, 50)),
        ((10**6, 10), (739, 60)),
    ],
)
def test_points_outside_the_frame_clamp_to_the_area_edge(
    point: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert map_point(*point, (640, 400), AREA) == expected


@pytest.mark.parametrize(
    "frame", [(0, 400), (640, 0), (-1, 5), (640,), (640, 400, 1), "640x400", (True, 5), (1.5, 2)]
)
def test_implausible_frame_sizes_are_refused(frame: Any) -> None:
    with pytest.raises(Refused) as info:
        check_frame_size(frame)
    assert info.value.reason is RefusalReason.BAD_FRAME


def test_frame_side_limit() -> None:
    assert check_frame_size((16384, 1)) == (16384, 1)
    with pytest.raises(Refused):
        check_frame_size((16385, 1))


@pytest.mark.parametrize(
    "area",
    [
        None,
        (0, 0, 0, 10),
        (0, 0, 10, -1),
        (0, 0, 10),
        (0.0, 0, 10, 10),
        (0, 0, True, 10),
        (32760, 0, 100, 100),
        (0, -40000, 10, 10),
        "0,0,10,10",
    ],
)
def test_implausible_areas_are_refused(area: Any) -> None:
    with pytest.raises(Refused) as info:
        Area.from_tuple(area)
    assert info.value.reason is RefusalReason.NO_AREA


def test_area_from_tuple_accepts_sane_values() -> None:
    assert Area.from_tuple((-100, 0, 1280, 800)) == Area(-100, 0, 1280, 800)
    assert Area.from_tuple([1, 2, 3, 4]) == Area(1, 2, 3, 4)


# ---------------------------------------------------------------------------------------------
# Key vocabulary

NAMED = [
    "Return",
    "Tab",
    "BackSpace",
    "Escape",
    "Delete",
    "Home",
    "End",
    "Page_Up",
    "Page_Down",
    "Left",
    "Right",
    "Up",
    "Down",
    "Insert",
    "space",
    "Menu",
    *(f"F{n}" for n in range(1, 13)),
    "shift_l",
    "shift_r",
    "ctrl_l",
    "ctrl_r",
    "alt_l",
    "alt_r",
    "meta_l",
    "meta_r",
]


@pytest.mark.parametrize("name", NAMED)
def test_named_keys_are_special_pynput_keys(name: str) -> None:
    spec = resolve_key(name)
    assert spec.kind is KeyKind.SPECIAL


def test_named_keys_map_to_pynput_member_names() -> None:
    expected = {
        "Return": "enter",
        "Escape": "esc",
        "BackSpace": "backspace",
        "Page_Up": "page_up",
        "F12": "f12",
        "space": "space",
        "meta_r": "cmd_r",
        "Menu": "menu",
    }
    for name, member in expected.items():
        assert resolve_key(name).value == member


def test_characters_name_themselves() -> None:
    for char in "az AZ09 !@#$%^&*()-_=+[]{};:'\",.<>/?`~\\|".replace(" ", ""):
        spec = resolve_key(char)
        assert (spec.kind, spec.value, spec.modifier) == (KeyKind.CHAR, char, 0)
    assert len([s for s in KEY_NAMES.values() if s.kind is KeyKind.CHAR]) == 94


def test_modifier_keys_carry_their_bit_and_aliases_are_the_same_key() -> None:
    assert resolve_key("shift_r").modifier == SHIFT
    assert resolve_key("ctrl_r").modifier == CTRL
    assert resolve_key("alt_l").modifier == ALT
    assert resolve_key("meta_l").modifier == META
    for alias, left in [("shift", "shift_l"), ("ctrl", "ctrl_l"), ("alt", "alt_l")]:
        assert resolve_key(alias) == resolve_key(left)
    assert resolve_key("meta") == resolve_key("meta_l")
    assert resolve_key("ctrl_l") != resolve_key("ctrl_r")
    assert {bit: spec.value for bit, spec in MODIFIER_KEYS.items()} == {
        SHIFT: "shift_l",
        CTRL: "ctrl_l",
        ALT: "alt_l",
        META: "cmd_l",
    }
    assert resolve_key("F5").modifier == 0


@pytest.mark.parametrize(
    "name",
    [
        "",
        " ",
        "F13",
        "F0",
        "return",
        "Return ",
        "RETURN",
        "ab",
        "é",
        "ß",
        "\x03",
        "\n",
        "\x7f",
        "KP_Enter",
        "Super_L",
        "Control_L",
        "Print",
        "caps_lock",
        "Caps_Lock",
        "Num_Lock",
        "XF86PowerOff",
        "Sys_Req",
        "enter",
        "esc",
        "cmd",
        5,
        None,
    ],
)
def test_everything_else_is_refused(name: Any) -> None:
    with pytest.raises(Refused) as info:
        resolve_key(name)
    assert info.value.reason is RefusalReason.UNKNOWN_KEY
    if isinstance(name, str) and name.strip():
        assert name not in str(info.value)  # keystrokes never reach error text or logs


# ---------------------------------------------------------------------------------------------
# Text


def test_text_normalises_line_endings_and_keeps_tabs() -> None:
    assert prepare_text("a\r\nb\rc\nd\te") == "a\nb\nc\nd\te"
    assert prepare_text("héllo wörld ✓ 日本") == "héllo wörld ✓ 日本"


@pytest.mark.parametrize(
    "text", ["", "a\x1bb", "\x00", "bad\x08", "x\u202ey", "zero\u200dwidth", "\x7f", "\ue000"]
)
def test_text_with_control_or_format_characters_is_refused(text: str) -> None:
    with pytest.raises(Refused) as info:
        prepare_text(text)
    assert info.value.reason is RefusalReason.BAD_TEXT


def test_text_length_limit() -> None:
    assert prepare_text("x" * MAX_TEXT_CHARS) == "x" * MAX_TEXT_CHARS
    with pytest.raises(Refused) as info:
        prepare_text("x" * (MAX_TEXT_CHARS + 1))
    assert info.value.reason is RefusalReason.TEXT_TOO_LONG
    assert prepare_text("\r\n" * 5, limit=5) == "\n" * 5  # counted after normalising


# ---------------------------------------------------------------------------------------------
# Token bucket


def test_token_bucket_bursts_then_refills_at_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(10, clock=lambda: now[0])
    assert sum(bucket.try_take() for _ in range(25)) == 10
    now[0] += 0.5
    assert sum(bucket.try_take() for _ in range(25)) == 5
    now[0] += 100  # never more than one burst saved up
    assert bucket.tokens == 10
    assert not bucket.try_take(11)
    assert bucket.try_take(10)
    assert bucket.try_take(0)  # free actions always pass
    now[0] -= 50  # a clock stepping back refills nothing and does not go negative
    assert bucket.tokens == 0


def test_token_bucket_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(10, burst=0.5)


# ---------------------------------------------------------------------------------------------
# Injector with fake pynput controllers


def test_pointer_events_move_then_act_at_the_mapped_point() -> None:
    rig = Rig()
    assert rig.send(ev(InputKind.POINTER_MOVE, x=10, y=20))
    assert rig.send(ev(InputKind.BUTTON_DOWN, x=11, y=21, button=1))
    assert rig.send(ev(InputKind.POINTER_MOVE, x=-50, y=9999))
    assert rig.send(ev(InputKind.BUTTON_UP, x=-50, y=9999, button=1))
    assert rig.send(ev(InputKind.WHEEL, x=5, y=5, dy=-3))
    assert rig.take_log() == [
        ("move", 110, 70),
        ("move", 111, 71),
        ("bdown", "Button.left"),
        ("move", 100, 449),
        ("move", 100, 449),
        ("bup", "Button.left"),
        ("move", 105, 55),
        ("scroll", 0, -3),
    ]
    stats = rig.injector.statistics()
    assert (stats.injected, stats.refused, stats.held_buttons) == (5, 0, 0)


def test_key_and_text_events_ignore_coordinates_and_the_area() -> None:
    rig = Rig(area=RuntimeError("capture stopped"))
    assert rig.send(ev(InputKind.KEY_DOWN, x=5, y=5, key="Return"))
    assert rig.send(ev(InputKind.KEY_UP, key="Return"))
    assert rig.send(ev(InputKind.TEXT, text="hi\n"))
    assert rig.area_calls == 0
    assert rig.take_log() == [("kdown", "Key.enter"), ("kup", "Key.enter"), ("type", "hi\n")]
    # ... while pointer events need the area, and are refused without one.
    assert not rig.send(ev(InputKind.POINTER_MOVE, x=1, y=1))
    assert rig.refused() == {RefusalReason.NO_AREA: 1}
    rig.area = (0, 0, 0, 0)
    assert not rig.send(ev(InputKind.POINTER_MOVE, x=1, y=1))
    assert rig.refused() == {RefusalReason.NO_AREA: 2}
    assert rig.take_log() == []


def test_bad_frame_size_is_refused_before_asking_for_the_area() -> None:
    rig = Rig()
    assert not rig.send(ev(InputKind.POINTER_MOVE, x=1, y=1), frame=(0, 0))
    assert not rig.injector.inject(ev(InputKind.BUTTON_DOWN, button=1), "big")  # type: ignore[arg-type]
    assert rig.area_calls == 0
    assert rig.refused() == {RefusalReason.BAD_FRAME: 2}


def test_temporary_modifiers_wrap_exactly_one_event() -> None:
    rig = Rig()
    assert rig.send(ev(InputKind.KEY_DOWN, key="c", mods=CTRL))
    assert rig.send(ev(InputKind.KEY_UP, key="c", mods=CTRL))  # modifiers ignored on release
    assert rig.send(ev(InputKind.KEY_DOWN, key="F5", mods=SHIFT | ALT | META))
    assert rig.send(ev(InputKind.KEY_UP, key="F5"))
    assert rig.send(ev(InputKind.BUTTON_DOWN, x=1, y=1, button=3, mods=SHIFT))
    assert rig.send(ev(InputKind.BUTTON_UP, x=1, y=1, button=3, mods=SHIFT))
    assert rig.send(ev(InputKind.WHEEL, x=1, y=1, dy=1, mods=CTRL))
    assert rig.send(ev(InputKind.POINTER_MOVE, x=2, y=2, mods=CTRL))  # ignored on motion
    assert rig.send(ev(InputKind.TEXT, text="A", mods=CTRL))  # and on text
    assert rig.take_log() == [
        ("kdown", "Key.ctrl_l"),
        ("kdown", "c"),
        ("kup", "Key.ctrl_l"),
        ("kup", "c"),
        ("kdown", "Key.shift_l"),
        ("kdown", "Key.alt_l"),
        ("kdown", "Key.cmd_l"),
        ("kdown", "Key.f5"),
        ("kup", "Key.cmd_l"),
        ("kup", "Key.alt_l"),
        ("kup", "Key.shift_l"),
        ("kup", "Key.f5"),
        ("move", 101, 51),
        ("kdown", "Key.shift_l"),
        ("bdown", "Button.right"),
        ("kup", "Key.shift_l"),
        ("move", 101, 51),
        ("bup", "Button.right"),
        ("move", 101, 51),
        ("kdown", "Key.ctrl_l"),
        ("scroll", 0, 1),
        ("kup", "Key.ctrl_l"),
        ("move", 102, 52),
        ("type", "A"),
    ]
    assert rig.injector.held() == (frozenset(), frozenset())


def test_modifiers_the_controller_holds_are_not_pressed_again() -> None:
    rig = Rig()
    assert rig.send(
        ev(InputKind.KEY_DOWN, key="ctrl_r", mods=CTRL)
    )  # a modifier never wraps itself
    assert rig.send(ev(InputKind.KEY_DOWN, key="v", mods=CTRL | SHIFT))
    assert rig.send(ev(InputKind.KEY_UP, key="v"))
    assert rig.take_log() == [
        ("kdown", "Key.ctrl_r"),
        ("kdown", "Key.shift_l"),
        ("kdown", "v"),
        ("kup", "Key.shift_l"),
        ("kup", "v"),
    ]
    keys, _ = rig.injector.held()
    assert keys == {resolve_key("ctrl_r")}


def test_releases_only_for_what_the_controller_holds() -> None:
    rig = Rig()
    assert not rig.send(ev(InputKind.KEY_UP, key="ctrl_l"))  # e.g. the presenter's own ctrl
    assert not rig.send(ev(InputKind.BUTTON_UP, x=1, y=1, button=1))
    assert rig.send(ev(InputKind.BUTTON_DOWN, x=1, y=1, button=1))
    assert not rig.send(ev(InputKind.BUTTON_DOWN, x=1, y=1, button=1))
    assert rig.send(ev(InputKind.KEY_DOWN, key="shift"))
    assert not rig.send(ev(InputKind.KEY_UP, key="shift_r"))  # the other shift is not held
    assert rig.send(ev(InputKind.KEY_UP, key="shift_l"))  # alias of what was pressed
    assert rig.refused() == {RefusalReason.NOT_HELD: 3, RefusalReason.ALREADY_HELD: 1}


def test_key_autorepeat_is_pressed_again_but_tracked_once() -> None:
    rig = Rig()
    for _ in range(3):
        assert rig.send(ev(InputKind.KEY_DOWN, key="BackSpace"))
    assert rig.injector.statistics().held_keys == 1
    assert rig.injector.release_all() == 1
    assert rig.take_log() == [("kdown", "Key.backspace")] * 3 + [("kup", "Key.backspace")]


def test_release_all_releases_each_held_key_and_button_once_in_reverse_order() -> None:
    rig = Rig()
    assert rig.send(ev(InputKind.KEY_DOWN, key="shift_l"))
    assert rig.send(ev(InputKind.BUTTON_DOWN, x=0, y=0, button=1))
    assert rig.send(ev(InputKind.KEY_DOWN, key="q"))
    assert rig.send(ev(InputKind.BUTTON_DOWN, x=0, y=0, button=2))
    assert rig.send(ev(InputKind.KEY_DOWN, key="Page_Down"))
    assert rig.send(ev(InputKind.KEY_UP, key="q"))
    rig.take_log()
    assert rig.injector.release_all() == 4
    assert rig.take_log() == [
        ("kup", "Key.page_down"),
        ("bup", "Button.middle"),
        ("bup", "Button.left"),
        ("kup", "Key.shift_l"),
    ]
    assert rig.injector.release_all() == 0
    assert rig.take_log() == []
    assert rig.injector.held() == (frozenset(), frozenset())
    # Not revoked: the controller may go on.
    assert rig.send(ev(InputKind.KEY_DOWN, key="a"))


def test_stuck_key_watch_wakes_only_while_something_is_held() -> None:
    rig = Rig()
    steps: list[float] = []

    class WatchSteps(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            if task.name.endswith("StuckKeyWatch.run"):
                steps.append(trio.current_time())

    def holding() -> bool:
        return rig.injector.holding

    async def main() -> None:
        rig.injector = Injector(rig.area_provider, backend=rig.backend, clock=trio.current_time)
        watch = StuckKeyWatch(rig.injector)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch.run)
            await trio.sleep(600)
            assert len(steps) == 1  # started, then slept the whole ten minutes
            assert rig.send(ev(InputKind.KEY_DOWN, key="BackSpace"))
            watch.poke()
            rig.take_log()
            await trio.sleep(stuck_keys.MAX_IDLE - 0.6)
            assert holding()  # the controller may still be typing
            await trio.sleep(1.2)
            assert not holding()
            assert rig.take_log() == [("kup", "Key.backspace")]
            woken = len(steps)
            await trio.sleep(600)
            assert len(steps) == woken  # it let go, found nothing held, and went to sleep
            assert rig.send(ev(InputKind.KEY_DOWN, key="a"))
            assert rig.send(ev(InputKind.KEY_UP, key="a"))
            watch.poke()  # nothing held after a full press: no need to watch
            await trio.sleep(600)
            assert len(steps) == woken
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0), instruments=[WatchSteps()])


def test_release_if_idle_lets_go_of_keys_a_stalled_controller_left_down() -> None:
    rig = Rig()
    assert rig.send(ev(InputKind.KEY_DOWN, key="BackSpace"))
    rig.now += 2.9
    assert rig.injector.release_if_idle(3.0) == 0  # still within the limit
    assert not rig.send(ev(InputKind.KEY_UP, key="nope"))  # any event shows it is alive
    rig.now += 2.9
    assert rig.injector.release_if_idle(3.0) == 0
    rig.now += 0.2
    rig.take_log()
    assert rig.injector.release_if_idle(3.0) == 1
    assert rig.take_log() == [("kup", "Key.backspace")]
    assert not rig.injector.revoked  # not a revoke: the controller may go on
    rig.now += 10
    assert rig.injector.release_if_idle(3.0) == 0  # nothing held, nothing to do


def test_revoke_releases_and_refuses_until_resumed() -> None:
    rig = Rig()
    assert rig.send(ev(InputKind.KEY_DOWN, key="alt_l"))
    assert rig.send(ev(InputKind.BUTTON_DOWN, x=3, y=3, button=1))
    rig.take_log()
    assert rig.injector.revoke() == 2
    assert rig.take_log() == [("bup", "Button.left"), ("kup", "Key.alt_l")]
    assert rig.injector.revoke() == 0  # idempotent
    for event in [
        ev(InputKind.POINTER_MOVE, x=1, y=1),
        ev(InputKind.KEY_DOWN, key="a"),
        ev(InputKind.KEY_UP, key="alt_l"),
    ]:
        assert not rig.send(event)
    assert rig.take_log() == []
    stats = rig.injector.statistics()
    assert stats.revoked
    assert stats.released_on_revoke == 2
    assert stats.refused_by_reason == {RefusalReason.REVOKED: 3}
    rig.injector.resume()
    assert rig.send(ev(InputKind.POINTER_MOVE, x=1, y=1))
    assert not rig.injector.statistics().revoked


def test_rate_limit_drops_excess_but_never_releases() -> None:
    rig = Rig(rate=10)
    assert rig.send(ev(InputKind.KEY_DOWN, key="shift_l"))
    assert rig.send(ev(InputKind.BUTTON_DOWN, x=0, y=0, button=1))
    accepted = sum(rig.send(ev(InputKind.POINTER_MOVE, x=i, y=i)) for i in range(50))
    assert accepted == 8
    assert rig.refused() == {RefusalReason.RATE_LIMITED: 42}
    # The budget is spent, yet the controller can still let go of what it holds.
    assert rig.send(ev(InputKind.BUTTON_UP, x=0, y=0, button=1))
    assert rig.send(ev(InputKind.KEY_UP, key="shift_l"))
    assert not rig.send(ev(InputKind.KEY_DOWN, key="a"))
    rig.now += 0.1  # one token back
    assert rig.send(ev(InputKind.KEY_DOWN, key="a"))
    assert not rig.send(ev(InputKind.KEY_DOWN, key="b"))


def test_text_costs_a_token_per_character_and_wheel_a_token_per_step() -> None:
    rig = Rig(rate=10)
    assert not rig.send(ev(InputKind.TEXT, text="x" * 11))  # longer than a full bucket
    assert rig.refused() == {RefusalReason.TEXT_TOO_LONG: 1}
    assert rig.send(ev(InputKind.TEXT, text="x" * 7))
    assert not rig.send(ev(InputKind.WHEEL, x=0, y=0, dy=4))
    assert rig.send(ev(InputKind.WHEEL, x=0, y=0, dy=-3))
    assert rig.refused()[RefusalReason.RATE_LIMITED] == 1


def test_wheel_steps_are_clamped_and_empty_wheel_refused() -> None:
    rig = Rig()
    assert rig.send(ev(InputKind.WHEEL, x=0, y=0, dx=-1000, dy=1000))
    assert rig.take_log()[-1] == ("scroll", -MAX_WHEEL_STEPS, MAX_WHEEL_STEPS)
    assert not rig.send(ev(InputKind.WHEEL, x=0, y=0))
    assert rig.refused() == {RefusalReason.BAD_WHEEL: 1}


@pytest.mark.parametrize("button", [0, 4, 5, 6, 7, 8, 9])
def test_only_buttons_1_to_3_are_pressed(button: int) -> None:
    rig = Rig()
    assert not rig.send(ev(InputKind.BUTTON_DOWN, x=1, y=1, button=button))
    assert not rig.send(ev(InputKind.BUTTON_UP, x=1, y=1, button=button))
    assert rig.refused() == {RefusalReason.BAD_BUTTON: 2}
    assert rig.take_log() == []


def test_malformed_events_are_refused_not_raised() -> None:
    rig = Rig()
    bad: list[Any] = [
        None,
        "KEY_DOWN a",
        InputEvent(99, 0, 0, 0, 0, 0, 0, "", ""),  # type: ignore[arg-type]
        InputEvent(InputKind.POINTER_MOVE, "1", 0, 0, 0, 0, 0, "", ""),  # type: ignore[arg-type]
        InputEvent(InputKind.KEY_DOWN, 0, 0, 0, 0, 0, 99, "a", ""),
        InputEvent(InputKind.KEY_DOWN, 0, 0, 0, 0, 0, 0, None, ""),  # type: ignore[arg-type]
        InputEvent(InputKind.TEXT, 0, 0, 0, 0, 0, 0, "", b"bytes"),  # type: ignore[arg-type]
        InputEvent(InputKind.WHEEL, 0, 0, 0, 5000, 0, 0, "", ""),
    ]
    for event in bad:
        assert rig.injector.inject(event, Rig.FRAME) is False
    assert rig.refused() == {
        RefusalReason.BAD_KIND: 6,
        RefusalReason.UNKNOWN_KEY: 1,
        RefusalReason.BAD_TEXT: 1,
    }
    assert rig.take_log() == []


def test_unknown_keys_and_bad_text_are_counted() -> None:
    rig = Rig()
    assert not rig.send(ev(InputKind.KEY_DOWN, key="XF86PowerOff", mods=CTRL))
    assert not rig.send(ev(InputKind.KEY_UP, key="XF86PowerOff"))
    # The wire decoder already refuses control characters; the injector does not rely on it.
    raw = InputEvent(InputKind.TEXT, 0, 0, 0, 0, 0, 0, "", "rm -rf ~\x1b:q")
    assert not rig.send(raw)
    assert rig.refused() == {RefusalReason.UNKNOWN_KEY: 2, RefusalReason.BAD_TEXT: 1}
    assert rig.take_log() == []


def test_keys_missing_from_this_platforms_pynput_are_refused_up_front() -> None:
    rig = Rig(missing_keys={"menu"})
    assert not rig.send(ev(InputKind.KEY_DOWN, key="Menu", mods=CTRL))
    assert rig.refused() == {RefusalReason.UNSUPPORTED_KEY: 1}
    assert rig.take_log() == []  # not even the temporary ctrl was pressed


def test_backend_failure_is_counted_and_temporary_modifiers_still_released() -> None:
    rig = Rig()
    rig.fail.add("kdown:Key.f7")
    assert not rig.send(ev(InputKind.KEY_DOWN, key="F7", mods=SHIFT | CTRL))
    assert rig.take_log() == [
        ("kdown", "Key.shift_l"),
        ("kdown", "Key.ctrl_l"),
        ("kup", "Key.ctrl_l"),
        ("kup", "Key.shift_l"),
    ]
    keys, _ = rig.injector.held()
    assert keys == {resolve_key("F7")}  # may be half-pressed: release_all will release it
    assert rig.refused() == {RefusalReason.BACKEND_ERROR: 1}
    rig.fail.clear()
    assert rig.injector.release_all() == 1
    assert rig.take_log() == [("kup", "Key.f7")]


def test_release_all_goes_on_after_a_failed_release() -> None:
    rig = Rig()
    assert rig.send(ev(InputKind.KEY_DOWN, key="shift_l"))
    assert rig.send(ev(InputKind.BUTTON_DOWN, x=0, y=0, button=1))
    rig.take_log()
    rig.fail.add("bup")
    assert rig.injector.release_all() == 1
    assert rig.take_log() == [("kup", "Key.shift_l")]
    stats = rig.injector.statistics()
    assert (stats.release_failures, stats.held_keys, stats.held_buttons) == (1, 0, 0)


def test_backend_is_created_lazily_and_a_failing_factory_only_refuses() -> None:
    made: list[int] = []

    def factory() -> PynputBackend:
        made.append(1)
        raise ImportError("this platform is not supported: no display")

    injector = Injector(lambda: (0, 0, 10, 10), backend_factory=factory)
    assert not made
    assert not injector.inject(ev(InputKind.KEY_DOWN, key="nope"), (10, 10))
    assert not made  # a refused event never needs the backend
    assert not injector.inject(ev(InputKind.POINTER_MOVE, x=1, y=1), (10, 10))
    assert made == [1]
    assert injector.statistics().refused_by_reason == {
        RefusalReason.UNKNOWN_KEY: 1,
        RefusalReason.BACKEND_ERROR: 1,
    }
    assert injector.release_all() == 0
    assert injector.revoke() == 0


def test_statistics_are_a_snapshot() -> None:
    rig = Rig()
    before = rig.injector.statistics()
    assert not rig.send(ev(InputKind.KEY_UP, key="a"))
    assert before.refused_by_reason == {}
    assert rig.injector.statistics().refused == 1


def test_revoke_hotkey_chord_per_platform() -> None:
    assert revoke_hotkey_for("linux") == "<ctrl>+<f12>"
    assert revoke_hotkey_for("win32") == "<ctrl>+<f12>"
    assert revoke_hotkey_for("darwin") == "<ctrl>+<esc>"


# ---------------------------------------------------------------------------------------------
# Real, without a display


def _without_display(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )


def test_core_control_imports_and_refuses_cleanly_without_a_display() -> None:
    result = _without_display(
        "import sys\n"
        "import core.control as c\n"
        "assert 'pynput' not in sys.modules, 'pynput imported eagerly'\n"
        "from core.protocol.content import InputEvent, InputKind\n"
        "inj = c.Injector(lambda: (0, 0, 100, 100))\n"
        "e = InputEvent(InputKind.POINTER_MOVE, 5, 5, 0, 0, 0, 0, '', '')\n"
        "print(inj.inject(e, (100, 100)), dict(inj.statistics().refused_by_reason))\n"
        "try:\n"
        "    c.RevokeHotkey(lambda: None).start()\n"
        "except c.HotkeyUnavailable as exc:\n"
        "    print('hotkey:', exc)\n"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "False {<RefusalReason.BACKEND_ERROR: 'backend_error'>: 1}"
    assert lines[1] == "hotkey: no X display ($DISPLAY is not set)"


def test_check_x11_record_reports_an_unreachable_display() -> None:
    with pytest.raises(HotkeyUnavailable, match="cannot open X display"):
        check_x11_record(":65000")
    with pytest.raises(HotkeyUnavailable, match="DISPLAY"):
        check_x11_record("")


def test_input_is_injected_only_while_the_relay_names_the_member_this_user_granted() -> None:
    """The guard's two walls: this user's grant, and the relay's roster naming the same member
    (when a grant *ends* is the client edge's decision: tests/core/test_client_edge.py)."""
    from core.control.guard import ControlGuard, Drop

    rig = Rig()
    guard = ControlGuard(rig.injector)
    move = ev(InputKind.POINTER_MOVE, x=5, y=5)
    guard.grant(2)
    assert guard.granted_to == 2
    assert not guard.on_input(2, move, (100, 100))  # the relay has not named Ana yet
    guard.relay_names(2)
    assert guard.active
    assert guard.on_input(2, move, (100, 100))
    assert not guard.on_input(3, move, (100, 100))  # Bob was never granted
    guard.relay_names(3)  # a relay that names someone else: nothing from Ana either
    assert not guard.on_input(2, move, (100, 100))
    dropped = guard.statistics().dropped
    assert dropped == {Drop.RELAY_DISAGREES.value: 2, Drop.NOT_GRANTED.value: 1}
