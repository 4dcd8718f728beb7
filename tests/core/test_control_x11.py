"""Remote-control injection and the revoke hotkey on a real X server (the private Xvfb).

What lands is checked independently of pynput: a Tk window in its own process (this file run
as a script, see ``recorder_main``) prints every key and button event it receives; ``xdotool``
reports the pointer; python-xlib's ``query_keymap``/``query_pointer`` show what the server
holds down; ``xdotool key`` plays the presenter pressing the hotkey (XTEST, like a keyboard).
"""

from __future__ import annotations

import os
import queue
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
import trio
from Xlib import XK, X  # type: ignore[import-untyped]
from Xlib.display import Display as XDisplay  # type: ignore[import-untyped]

from core.control import (
    HotkeyUnavailable,
    Injector,
    RefusalReason,
    RevokeHotkey,
    RevokeHotkeyWhileGranted,
    check_x11_record,
    open_trio_revoke_hotkey,
)
from core.protocol.content import InputEvent, InputKind, Modifier


class Display(Protocol):
    """What the ``display`` fixture gives (tests/xvfb.py), typed structurally."""

    name: str
    width: int
    height: int


SHIFT, CTRL, ALT = int(Modifier.SHIFT), int(Modifier.CTRL), int(Modifier.ALT)
# The recorder window, and so the shared area, in root coordinates (no window manager on
# Xvfb, so Tk's requested geometry is exact).
AREA = (200, 150, 480, 320)
FRAME = (480, 320)
WAIT = 10.0
SETTLE = 0.4  # how long "nothing else arrives" is watched for
SHIFT_MASK, CONTROL_MASK, MOD1_MASK, BUTTON1_MASK = 1, 4, 8, 256


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
    return InputEvent(kind, x, y, button, dx, dy, mods, key, text)


def xdotool(*args: str) -> str:
    result = subprocess.run(
        [_tool("xdotool"), *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, f"xdotool {args}: {result.stderr}"
    return result.stdout


def mouse_location() -> tuple[int, int]:
    values = dict(line.split("=", 1) for line in xdotool("getmouselocation", "--shell").split())
    return int(values["X"]), int(values["Y"])


# ---------------------------------------------------------------------------------------------
# The recorder: a Tk window in a separate process that prints what it receives.


@dataclass(frozen=True)
class Seen:
    """One recorded event: ``kp``/``kr`` key press/release, ``bp``/``br`` button, ``mv``."""

    what: str
    name: str  # keysym for keys, button number for buttons, "" for motion
    x: int
    y: int
    state: int
    char: str
    synthetic: bool

    @classmethod
    def parse(cls, line: str) -> Seen:
        what, name, x, y, state, code, synthetic = line.split(" ")
        char = chr(int(code)) if int(code) >= 0 else ""
        return cls(what, name, int(x), int(y), int(state), char, synthetic == "1")


def recorder_main(argv: list[str]) -> None:
    """``python test_control_x11.py recorder X Y W H``: print each input event as one line."""
    import tkinter as tk

    x, y, w, h = (int(v) for v in argv)
    root = tk.Tk()
    root.geometry(f"{w}x{h}+{x}+{y}")
    root.configure(background="#335577", cursor="crosshair")

    def out(what: str, e: Any, name: str) -> None:
        code = ord(e.char) if isinstance(e.char, str) and len(e.char) == 1 else -1
        synthetic = 1 if e.send_event else 0
        print(what, name or "-", e.x_root, e.y_root, e.state, code, synthetic, flush=True)

    root.bind("<KeyPress>", lambda e: out("kp", e, e.keysym))
    root.bind("<KeyRelease>", lambda e: out("kr", e, e.keysym))
    root.bind("<ButtonPress>", lambda e: out("bp", e, str(e.num)))
    root.bind("<ButtonRelease>", lambda e: out("br", e, str(e.num)))
    root.bind("<Motion>", lambda e: out("mv", e, ""))

    def ready() -> None:
        root.focus_force()
        frame = int(root.wm_frame(), 16)  # the X window Tk gives the focus to
        print("ready", root.winfo_rootx(), root.winfo_rooty(), frame, flush=True)

    root.update()
    root.after(300, ready)
    root.mainloop()


class Recorder:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "recorder", *map(str, AREA)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        first = self._lines.get(timeout=30)
        assert first is not None
        assert first.startswith("ready"), first
        assert first.split()[1:3] == [str(AREA[0]), str(AREA[1])], first
        self.window = first.split()[3]

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def focus(self) -> None:
        """Give the window the keyboard focus again (no window manager does it on Xvfb)."""
        xdotool("windowfocus", "--sync", self.window)

    def drain(self, settle: float = SETTLE) -> list[Seen]:
        """Everything that arrives until nothing new has come for ``settle`` seconds."""
        seen: list[Seen] = []
        while True:
            try:
                line = self._lines.get(timeout=settle)
            except queue.Empty:
                return seen
            assert line is not None, "recorder exited"
            seen.append(Seen.parse(line))

    def until(
        self, done: Callable[[list[Seen]], bool], what: str, *, settle: bool = True
    ) -> list[Seen]:
        """Events until ``done(events)``, then whatever follows within the settle time."""
        seen: list[Seen] = []
        deadline = time.monotonic() + WAIT
        while not done(seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"timed out waiting for {what}; got {seen}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, "recorder exited"
            seen.append(Seen.parse(line))
        return seen + self.drain() if settle else seen

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def keys_only(seen: list[Seen]) -> list[tuple[str, str]]:
    return [(s.what, s.name) for s in seen if s.what in ("kp", "kr")]


def buttons_only(seen: list[Seen]) -> list[tuple[str, str, int, int]]:
    return [(s.what, s.name, s.x, s.y) for s in seen if s.what in ("bp", "br")]


def count(seen: list[Seen], what: str, name: str) -> int:
    return sum(1 for s in seen if (s.what, s.name) == (what, name))


def _tool(name: str) -> str:
    # Not xvfb.require_tool: this file also runs as a script (the recorder), outside pytest's
    # sys.path, so it keeps its own copy.
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI", pytrace=False)
        pytest.skip(f"{name} not installed")
    return path


@pytest.fixture(scope="module")
def recorder(xvfb: Display) -> Iterator[Recorder]:
    _tool("xdotool")
    rec = Recorder()
    try:
        yield rec
    finally:
        rec.close()


@pytest.fixture
def rec(recorder: Recorder, display: Display) -> Recorder:
    recorder.focus()
    recorder.drain(0.2)
    return recorder


@pytest.fixture
def injector(display: Display) -> Iterator[Injector]:
    inj = Injector(lambda: AREA)
    try:
        yield inj
    finally:
        inj.close()  # releases anything held: a failing test must not leave keys down


@pytest.fixture
def xdisplay(display: Display) -> Iterator[Any]:
    conn = XDisplay(display.name)
    try:
        yield conn
    finally:
        conn.close()


def keycode(xdisplay: Any, keysym_name: str) -> int:
    code = xdisplay.keysym_to_keycode(XK.string_to_keysym(keysym_name))
    assert code, keysym_name
    return int(code)


def pressed_keycodes(xdisplay: Any) -> set[int]:
    keymap = xdisplay.query_keymap()
    return {i * 8 + bit for i, byte in enumerate(keymap) for bit in range(8) if byte >> bit & 1}


def pointer_buttons(xdisplay: Any) -> int:
    mask = xdisplay.screen().root.query_pointer().mask
    return int(
        mask & (X.Button1Mask | X.Button2Mask | X.Button3Mask | X.Button4Mask | X.Button5Mask)
    )


# ---------------------------------------------------------------------------------------------
# The server


def test_xvfb_offers_record_and_xtest(xdisplay: Any) -> None:
    # pynput's listener needs RECORD, its controller (and xdotool) need XTEST. Debian's
    # Xvfb 21.1 enables both by default: tests/xvfb.py needs no +extension flag.
    assert xdisplay.has_extension("RECORD")
    assert xdisplay.has_extension("XTEST")
    check_x11_record()


# ---------------------------------------------------------------------------------------------
# Pointer


def test_pointer_moves_land_where_mapped_and_never_leave_the_area(
    injector: Injector, rec: Recorder
) -> None:
    cases = [
        ((0, 0), FRAME, (200, 150)),
        ((479, 319), FRAME, (679, 469)),
        ((123, 45), FRAME, (323, 195)),
        ((120, 80), (240, 160), (441, 311)),  # a half-size frame: scaled
        ((-50, 10_000), FRAME, (200, 469)),  # outside the frame: clamped to the area edge
        ((2**31 - 1, -(2**31)), FRAME, (679, 150)),
    ]
    for (fx, fy), frame, expected in cases:
        assert injector.inject(ev(InputKind.POINTER_MOVE, x=fx, y=fy), frame)
        assert mouse_location() == expected
    assert injector.statistics().injected == len(cases)


def test_clicks_and_drags_reach_the_window(injector: Injector, rec: Recorder) -> None:
    steps = [
        ev(InputKind.BUTTON_DOWN, x=40, y=30, button=1),
        *(ev(InputKind.POINTER_MOVE, x=40 + 20 * i, y=30 + 12 * i) for i in range(1, 6)),
        ev(InputKind.BUTTON_UP, x=140, y=90, button=1),
        ev(InputKind.BUTTON_DOWN, x=300, y=200, button=3),
        ev(InputKind.BUTTON_UP, x=300, y=200, button=3),
        ev(InputKind.BUTTON_DOWN, x=10, y=300, button=2),
        ev(InputKind.BUTTON_UP, x=10, y=300, button=2),
    ]
    for step in steps:
        assert injector.inject(step, FRAME)
    seen = rec.until(lambda s: count(s, "br", "2") == 1, "the middle click")
    assert buttons_only(seen) == [
        ("bp", "1", 240, 180),
        ("br", "1", 340, 240),
        ("bp", "3", 500, 350),
        ("br", "3", 500, 350),
        ("bp", "2", 210, 450),
        ("br", "2", 210, 450),
    ]
    # Tk collapses queued motion events, so some intermediate points may be merged away.
    drag = [(s.x, s.y) for s in seen if s.what == "mv" and s.state & BUTTON1_MASK]
    assert drag
    assert set(drag) <= {(240 + 20 * i, 180 + 12 * i) for i in range(1, 6)}
    assert drag[-1] == (340, 240)
    assert not any(s.synthetic for s in seen)  # XTEST: real device events


def test_wheel_arrives_as_buttons_4_and_5(injector: Injector, rec: Recorder) -> None:
    assert injector.inject(ev(InputKind.WHEEL, x=100, y=100, dy=2), FRAME)
    assert injector.inject(ev(InputKind.WHEEL, x=100, y=100, dy=-1), FRAME)
    assert injector.inject(ev(InputKind.WHEEL, x=100, y=100, dx=1), FRAME)
    seen = rec.until(lambda s: len(buttons_only(s)) >= 8, "the wheel clicks")
    presses = [(s.name, s.state & SHIFT_MASK) for s in seen if s.what == "bp"]
    # Vertical: X buttons 4 (up) and 5 (down). Horizontal goes out as X button 7, which Tk 8.6
    # reports as Shift + button 5 (its horizontal-wheel convention); no Shift key is pressed.
    assert presses == [("4", 0), ("4", 0), ("5", 0), ("5", SHIFT_MASK)]
    assert all((s.x, s.y) == (300, 250) for s in seen if s.what in ("bp", "br"))


# ---------------------------------------------------------------------------------------------
# Keys and text


def typed(seen: list[Seen]) -> str:
    """The text the window received, from its key presses."""
    out = []
    for s in seen:
        if s.what != "kp":
            continue
        if s.name == "Return":
            out.append("\n")
        elif s.name == "Tab":
            out.append("\t")
        elif s.char and s.char.isprintable():
            out.append(s.char)
    return "".join(out)


MODIFIER_NAMES = {"Shift_L", "Shift_R", "ISO_Level3_Shift", "Control_L", "Alt_L"}


def test_typed_text_arrives_in_order(injector: Injector, rec: Recorder, xdisplay: Any) -> None:
    # ASCII with Shift, a level-3 character of the default map (¦: AltGr+Shift on the <> key),
    # and letters that are on no key of a US map (typed on a temporarily bound spare keycode).
    text = "Hello, World! 1+1=2\n\tok (42) ~/a_b ¦ éßø ÉŁ€ ζ"
    assert injector.inject(ev(InputKind.TEXT, text=text), FRAME)
    seen = rec.until(lambda s: typed(s).endswith("ζ"), "the typed text")
    assert typed(seen) == text
    presses = [s for s in seen if s.what == "kp" and s.name not in MODIFIER_NAMES]
    assert len(presses) == len(text)
    # Every key through XTEST: real device events, no XSendEvent.
    assert not any(s.synthetic for s in seen)
    # Shift and AltGr were pressed only around the characters that need them, and let go.
    assert {s.name for s in seen if s.what == "kp"} & MODIFIER_NAMES == {
        "Shift_L",
        "ISO_Level3_Shift",
    }
    assert not pressed_keycodes(xdisplay)
    # The spare keycodes stay bound until control ends, then the map is as it was.
    before = xdisplay.get_keyboard_mapping(8, 248)
    assert any(XK.string_to_keysym("eacute") in row for row in before)
    assert injector.revoke() == 0
    after = XDisplay(os.environ["DISPLAY"])
    try:
        restored = after.get_keyboard_mapping(8, 248)
    finally:
        after.close()
    assert [list(row) for row in restored] != [list(row) for row in before]
    assert not any(XK.string_to_keysym("eacute") in row for row in restored)


def test_special_keys_with_modifiers_arrive_in_order(injector: Injector, rec: Recorder) -> None:
    events = [
        ev(InputKind.KEY_DOWN, key="a", mods=CTRL),
        ev(InputKind.KEY_UP, key="a"),
        ev(InputKind.KEY_DOWN, key="F5", mods=SHIFT | ALT),
        ev(InputKind.KEY_UP, key="F5"),
        ev(InputKind.KEY_DOWN, key="ctrl_r"),  # held explicitly across the next key
        ev(InputKind.KEY_DOWN, key="Home", mods=CTRL),
        ev(InputKind.KEY_UP, key="Home"),
        ev(InputKind.KEY_UP, key="ctrl_r"),
        ev(InputKind.KEY_DOWN, key="Return"),
        ev(InputKind.KEY_UP, key="Return"),
        ev(InputKind.KEY_DOWN, key="z"),
        ev(InputKind.KEY_UP, key="z"),
    ]
    for event in events:
        assert injector.inject(event, FRAME)
    seen = rec.until(lambda s: ("kr", "z") in keys_only(s), "the last key")
    assert keys_only(seen) == [
        ("kp", "Control_L"),
        ("kp", "a"),
        ("kr", "Control_L"),
        ("kr", "a"),
        ("kp", "Shift_L"),
        ("kp", "Meta_L"),  # the Alt_L key: its shifted keysym is Meta_L in the default keymap
        ("kp", "F5"),
        ("kr", "Meta_L"),
        ("kr", "Shift_L"),
        ("kr", "F5"),
        ("kp", "Control_R"),
        ("kp", "Home"),
        ("kr", "Home"),
        ("kr", "Control_R"),
        ("kp", "Return"),
        ("kr", "Return"),
        ("kp", "z"),
        ("kr", "z"),
    ]
    state = {(s.what, s.name): s.state for s in seen}
    assert state[("kp", "a")] & CONTROL_MASK
    assert state[("kp", "F5")] & (SHIFT_MASK | MOD1_MASK) == SHIFT_MASK | MOD1_MASK
    assert state[("kp", "Home")] & CONTROL_MASK
    assert not state[("kp", "z")] & (SHIFT_MASK | CONTROL_MASK | MOD1_MASK)


def test_refused_keys_never_reach_the_window(injector: Injector, rec: Recorder) -> None:
    assert not injector.inject(ev(InputKind.KEY_DOWN, key="Print"), FRAME)
    assert not injector.inject(ev(InputKind.KEY_DOWN, key="Control_L"), FRAME)
    assert not injector.inject(ev(InputKind.KEY_UP, key="ctrl_l"), FRAME)  # not held
    assert rec.drain() == []
    refused = injector.statistics().refused_by_reason
    assert refused == {RefusalReason.UNKNOWN_KEY: 2, RefusalReason.NOT_HELD: 1}


# ---------------------------------------------------------------------------------------------
# Held state


def test_release_all_leaves_nothing_held(injector: Injector, rec: Recorder, xdisplay: Any) -> None:
    shift, ctrl_r = keycode(xdisplay, "Shift_L"), keycode(xdisplay, "Control_R")
    assert not pressed_keycodes(xdisplay) & {shift, ctrl_r}
    for event in [
        ev(InputKind.KEY_DOWN, key="shift_l"),
        ev(InputKind.KEY_DOWN, key="ctrl_r"),
        ev(InputKind.BUTTON_DOWN, x=50, y=50, button=1),
        ev(InputKind.BUTTON_DOWN, x=50, y=50, button=3),
        ev(InputKind.KEY_DOWN, key="q"),
    ]:
        assert injector.inject(event, FRAME)
    # q under shift; a held key autorepeats (a real key press), so do not wait for quiet.
    rec.until(lambda s: ("kp", "Q") in keys_only(s), "the held keys", settle=False)
    assert {shift, ctrl_r, keycode(xdisplay, "q")} <= pressed_keycodes(xdisplay)
    assert pointer_buttons(xdisplay) == X.Button1Mask | X.Button3Mask

    assert injector.release_all() == 5
    seen = rec.until(lambda s: count(s, "kr", "Shift_L") == 1, "the releases")
    assert not pressed_keycodes(xdisplay)
    assert pointer_buttons(xdisplay) == 0
    # Exactly once each, in reverse order of pressing (after any autorepeat of Q).
    keys = keys_only(seen)
    assert set(keys[:-3]) <= {("kr", "Q"), ("kp", "Q")}
    assert keys[-3:] + buttons_only(seen) == [
        ("kr", "Q"),  # released while shift is still down
        ("kr", "Control_R"),
        ("kr", "Shift_L"),
        ("br", "3", 250, 200),
        ("br", "1", 250, 200),
    ]
    assert injector.release_all() == 0
    assert rec.drain() == []


def test_a_held_key_autorepeats_on_the_server_until_released_when_idle(
    injector: Injector, rec: Recorder, xdisplay: Any
) -> None:
    backspace = keycode(xdisplay, "BackSpace")
    assert injector.inject(ev(InputKind.KEY_DOWN, key="BackSpace"), FRAME)
    # One KEY_DOWN and no KEY_UP (a stalled controller): the X server itself repeats it.
    rec.until(lambda s: count(s, "kp", "BackSpace") >= 4, "server autorepeat", settle=False)
    assert backspace in pressed_keycodes(xdisplay)
    assert injector.release_if_idle(0.5) == 1
    rec.drain()
    assert backspace not in pressed_keycodes(xdisplay)
    assert rec.drain(1.0) == []  # and the repeating stopped


def test_rate_limit_drops_excess_events_on_the_real_server(display: Display) -> None:
    injector = Injector(lambda: AREA, max_events_per_second=20)
    results = [injector.inject(ev(InputKind.POINTER_MOVE, x=i, y=i), FRAME) for i in range(100)]
    accepted = [i for i, ok in enumerate(results) if ok]
    assert 20 <= len(accepted) <= 23  # one second's burst, plus what refilled meanwhile
    assert accepted[:20] == list(range(20))
    stats = injector.statistics()
    assert stats.injected == len(accepted)
    assert stats.refused_by_reason == {RefusalReason.RATE_LIMITED: 100 - len(accepted)}
    last = accepted[-1]
    assert mouse_location() == (AREA[0] + last, AREA[1] + last)  # dropped moves never landed


# ---------------------------------------------------------------------------------------------
# The revoke hotkey


def is_running(hotkey: RevokeHotkey) -> bool:
    return hotkey.running  # a call, so mypy does not carry a narrowed property across `with`


class Fired:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.threads: list[int] = []
        self.event = threading.Event()

    def __call__(self) -> None:
        self.times.append(time.monotonic())
        self.threads.append(threading.get_ident())
        self.event.set()

    def wait(self, timeout: float) -> bool:
        ok = self.event.wait(timeout)
        self.event.clear()
        return ok


def test_hotkey_fires_on_ctrl_f12_only(display: Display, rec: Recorder) -> None:
    fired = Fired()
    threads_before = set(threading.enumerate())
    with RevokeHotkey(fired) as hotkey:
        assert is_running(hotkey)
        assert hotkey.hotkey == "<ctrl>+<f12>"
        assert set(threading.enumerate()) - threads_before  # pynput's listener thread
        for combo in ("F12", "ctrl", "Control_R", "ctrl+F11", "shift+F12", "alt+F12"):
            xdotool("key", combo)
            assert not fired.wait(0.5), combo
        started = time.monotonic()
        xdotool("key", "ctrl+F12")
        assert fired.wait(1.0), "Ctrl+F12 did not revoke within a second"
        assert fired.times[-1] - started < 1.0
        xdotool("key", "Control_R+F12")
        assert fired.wait(1.0)
        xdotool("key", "ctrl+shift+F12")  # extra modifiers do not get in the way
        assert fired.wait(1.0)
        xdotool("key", "F12+ctrl")  # pynput chords are order-independent
        assert fired.wait(1.0)
        assert hotkey.fired == 4
        assert threading.get_ident() not in fired.threads  # on pynput's thread
    assert not is_running(hotkey)
    # Stopped means gone at once (pynput alone would keep its thread and X connections until
    # the next key event; see hotkey._unblock_xorg_listener) ...
    assert set(threading.enumerate()) <= threads_before
    # ... and deaf.
    xdotool("key", "ctrl+F12")
    assert not fired.wait(0.5)


def test_controller_cannot_block_the_hotkey(
    display: Display, rec: Recorder, injector: Injector
) -> None:
    fired = Fired()
    with RevokeHotkey(fired):
        # The controller holds extra keys and a button, and even F12 alone ...
        for event in [
            ev(InputKind.KEY_DOWN, key="shift_l"),
            ev(InputKind.KEY_DOWN, key="alt_l"),
            ev(InputKind.BUTTON_DOWN, x=5, y=5, button=1),
            ev(InputKind.KEY_DOWN, key="F12"),
            ev(InputKind.KEY_UP, key="F12"),
        ]:
            assert injector.inject(event, FRAME)
        assert not fired.wait(0.5)
        # ... and cannot release the presenter's keys (it never pressed them).
        assert not injector.inject(ev(InputKind.KEY_UP, key="ctrl_l"), FRAME)
        xdotool("key", "ctrl+F12")
        assert fired.wait(1.0)
        assert injector.revoke() == 3


GRABBER = """
import sys, time
from Xlib import X, display
d = display.Display()
root = d.screen().root
kb = root.grab_keyboard(True, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime)
ptr = root.grab_pointer(True, 0, X.GrabModeAsync, X.GrabModeAsync, 0, 0, X.CurrentTime)
print("grabbed", kb, ptr, flush=True)
sys.stdin.read()
"""


def test_an_application_grabbing_the_keyboard_cannot_block_the_hotkey(
    display: Display, rec: Recorder
) -> None:
    # A controller could start a program that grabs keyboard and pointer (a game, a locker).
    # RECORD copies device events before grabs apply, so the hotkey still sees the chord.
    grabber = subprocess.Popen(
        [sys.executable, "-c", GRABBER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert grabber.stdout is not None
        assert grabber.stdout.readline().split() == ["grabbed", "0", "0"]  # GrabSuccess
        fired = Fired()
        with RevokeHotkey(fired):
            xdotool("key", "ctrl+F12")
            assert fired.wait(1.0)
        assert rec.drain() == []  # the grab was real: the focused window got nothing
    finally:
        grabber.kill()
        grabber.wait(timeout=10)


def test_a_flood_of_controller_input_does_not_delay_the_hotkey(
    display: Display, rec: Recorder, injector: Injector
) -> None:
    stop = threading.Event()
    paid: list[bool] = []  # accepted events that cost budget (releases are free)

    def flood() -> None:
        i = 0
        while not stop.is_set():
            paid.append(injector.inject(ev(InputKind.POINTER_MOVE, x=i % 400, y=i), FRAME))
            paid.append(injector.inject(ev(InputKind.KEY_DOWN, key="shift_l"), FRAME))
            injector.inject(ev(InputKind.KEY_UP, key="shift_l"), FRAME)
            i += 1

    fired = Fired()
    with RevokeHotkey(fired):
        flooder = threading.Thread(target=flood, daemon=True)
        flood_started = time.monotonic()
        flooder.start()
        try:
            # Press the chord only once the flood is past its budget (on a loaded machine
            # each accepted event costs milliseconds, so a fixed wait may not get there).
            deadline = time.monotonic() + 10
            while not injector.statistics().refused_by_reason and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
            started = time.monotonic()
            xdotool("key", "ctrl+F12")
            assert fired.wait(1.0)
            assert fired.times[-1] - started < 1.0
        finally:
            stop.set()
            flooder.join(5)
            flood_seconds = time.monotonic() - flood_started
    # The budget held: one second's burst plus 200/s, out of many thousands attempted.
    assert sum(paid) <= 200 + 200 * flood_seconds + 5
    assert len(paid) > sum(paid) + 100
    assert injector.statistics().refused_by_reason[RefusalReason.RATE_LIMITED] > 0


def test_controller_sending_ctrl_f12_revokes_itself(
    display: Display, rec: Recorder, injector: Injector
) -> None:
    # On X11 pynput cannot tell XTEST input from a keyboard, so the controller's own Ctrl+F12
    # fires the hotkey. Harmless (it only ends its own control) and pinned here on purpose.
    fired = Fired()
    with RevokeHotkey(fired):
        assert injector.inject(ev(InputKind.KEY_DOWN, key="F12", mods=CTRL), FRAME)
        assert injector.inject(ev(InputKind.KEY_UP, key="F12"), FRAME)
        assert fired.wait(1.0)


def test_a_failing_callback_does_not_disarm_the_hotkey(display: Display, rec: Recorder) -> None:
    fired = Fired()
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("session layer bug")
        fired()

    with RevokeHotkey(flaky) as hotkey:
        xdotool("key", "ctrl+F12")
        deadline = time.monotonic() + 2
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert calls == [1]
        assert is_running(hotkey)  # pynput would have stopped the listener on an exception
        xdotool("key", "ctrl+F12")
        assert fired.wait(1.0)


async def test_trio_hotkey_revokes_at_once_then_runs_in_trio(
    display: Display, rec: Recorder, injector: Injector, xdisplay: Any
) -> None:
    trio_thread = threading.get_ident()
    revoked = trio.Event()
    seen_in: list[tuple[int, bool]] = []

    def on_revoke() -> None:
        seen_in.append((threading.get_ident(), injector.revoked))
        revoked.set()

    shift = keycode(xdisplay, "Shift_L")
    assert injector.inject(ev(InputKind.KEY_DOWN, key="shift_l"), FRAME)
    assert shift in pressed_keycodes(xdisplay)
    async with open_trio_revoke_hotkey(on_revoke, immediate=injector.revoke) as hotkey:
        assert is_running(hotkey)
        await trio.run_process([_tool("xdotool"), "key", "ctrl+F12"])
        with trio.fail_after(2):
            await revoked.wait()
    assert not is_running(hotkey)
    # on_revoke ran on the trio thread, after the injector was revoked on pynput's thread.
    assert seen_in == [(trio_thread, True)]
    assert shift not in pressed_keycodes(xdisplay)
    assert not injector.inject(ev(InputKind.KEY_DOWN, key="a"), FRAME)
    assert injector.statistics().refused_by_reason == {RefusalReason.REVOKED: 1}


def _xvfb_without_record() -> tuple[subprocess.Popen[bytes], str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [_tool("Xvfb"), "-displayfd", str(write_fd), "-extension", "RECORD", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write_fd)
    # Xvfb writes the number and the newline in separate writes: read until the newline.
    data = b""
    deadline = time.monotonic() + 30
    try:
        while not data.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], 0.5)
            if ready:
                chunk = os.read(read_fd, 64)
                if not chunk:
                    break
                data += chunk
    finally:
        os.close(read_fd)
    match = re.match(rb"(\d+)\n", data)
    if match is None:
        proc.kill()
        proc.wait()
        pytest.fail(f"Xvfb -extension RECORD did not start (displayfd said {data!r})")
    return proc, f":{match.group(1).decode()}"


def test_hotkey_without_record_fails_fast_with_a_reason(
    display: Display, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc, name = _xvfb_without_record()
    try:
        monkeypatch.setenv("DISPLAY", name)
        started = time.monotonic()
        with pytest.raises(HotkeyUnavailable, match=r"no RECORD extension.*\+extension RECORD"):
            RevokeHotkey(lambda: None).start()
        assert time.monotonic() - started < 5
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def is_armed(hotkey: RevokeHotkeyWhileGranted) -> bool:
    return hotkey.armed  # a call, so the type checker does not narrow it between steps


async def test_the_revoke_hotkey_listens_only_while_armed(display: Display, rec: Recorder) -> None:
    """No global key listener (which would see every key typed) unless control is granted."""
    fired = Fired()
    immediate = Fired()
    hotkey = RevokeHotkeyWhileGranted(fired, immediate=immediate)
    await hotkey.check_available()
    threads_before = set(threading.enumerate())
    assert not is_armed(hotkey)
    await trio.to_thread.run_sync(xdotool, "key", "ctrl+F12")
    await trio.sleep(0.5)
    assert fired.times == immediate.times == [], "a disarmed hotkey heard the chord"
    assert set(threading.enumerate()) <= threads_before, "a listener runs while disarmed"

    await hotkey.arm()
    await hotkey.arm()  # idempotent
    assert is_armed(hotkey)
    await trio.to_thread.run_sync(xdotool, "key", "ctrl+F12")
    with trio.fail_after(2):
        while not fired.times:
            await trio.sleep(0.02)
    assert len(immediate.times) == 1

    await hotkey.disarm()
    assert not is_armed(hotkey)
    assert set(threading.enumerate()) <= threads_before, "the listener thread outlived disarm"
    await trio.to_thread.run_sync(xdotool, "key", "ctrl+F12")
    await trio.sleep(0.5)
    assert len(fired.times) == 1, "a disarmed hotkey heard the chord"


if __name__ == "__main__" and sys.argv[1:2] == ["recorder"]:
    recorder_main(sys.argv[2:])
