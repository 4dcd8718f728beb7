"""Remote control into a real xterm with default resources, with no window manager.

xterm ignores synthetic (XSendEvent) key events unless ``allowSendEvents`` is set, and without
a window manager the focus is PointerRoot: keys go to the window under the pointer. That is
where pynput's typing failed (``echo hello`` arrived as Return and a space). Input goes the
way it does when a presenter grants control: a :class:`ControlGuard` that this user granted,
the relay agreeing (its roster), then the default :class:`Injector` backend.

Two programs run in the xterm: a shell (``bash --norc``), which must run what was typed, and
a raw tty recorder, which writes every byte the xterm sends, so exactly what arrives (and that
nothing of Ctrl+F12 does) is checked byte for byte.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest
import trio
from Xlib import X  # type: ignore[import-untyped]
from Xlib.display import Display as XDisplay  # type: ignore[import-untyped]

from core.control import Injector, RevokeHotkeyWhileGranted
from core.control.guard import ControlGuard
from core.protocol.content import InputEvent, InputKind, Modifier


class Display(Protocol):
    name: str
    width: int
    height: int


SHIFT, CTRL, ALT = int(Modifier.SHIFT), int(Modifier.CTRL), int(Modifier.ALT)
CONTROLLER = 2
#: Where the xterm goes (no window manager: the requested geometry is exact), and a point in it.
XTERM_AT = (640, 420)
INSIDE = (XTERM_AT[0] + 60, XTERM_AT[1] + 60)
WAIT = 10.0

TTY_RECORDER = """
import os, sys, tty
tty.setraw(0)
out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
open(sys.argv[1] + ".ready", "w").close()
while True:
    data = os.read(0, 4096)
    if not data:
        break
    os.write(out, data)
"""


def ev(
    kind: InputKind, *, x: int = 0, y: int = 0, mods: int = 0, key: str = "", text: str = ""
) -> InputEvent:
    return InputEvent(kind, x, y, 0, 0, 0, mods, key, text)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI", pytrace=False)
        pytest.skip(f"{name} not installed")
    return path


class Control:
    """The presenter's side after "yes" to Ana: the guard, the injector, the screen size."""

    def __init__(self, display: Display) -> None:
        self.frame = (display.width, display.height)
        self.injector = Injector(lambda: (0, 0, display.width, display.height))
        self.guard = ControlGuard(self.injector)
        self.guard.grant(CONTROLLER)
        self.guard.relay_names(CONTROLLER)
        assert self.guard.active

    def send(self, event: InputEvent) -> bool:
        return self.guard.on_input(CONTROLLER, event, self.frame)

    def point_at_xterm(self) -> None:
        assert self.send(ev(InputKind.POINTER_MOVE, x=INSIDE[0], y=INSIDE[1]))

    def type(self, text: str) -> None:
        assert self.send(ev(InputKind.TEXT, text=text))

    def key(self, name: str, mods: int = 0) -> None:
        assert self.send(ev(InputKind.KEY_DOWN, key=name, mods=mods))
        assert self.send(ev(InputKind.KEY_UP, key=name))

    def close(self) -> None:
        self.injector.close()


@pytest.fixture
def control(display: Display) -> Iterator[Control]:
    # No window manager, and nobody set a focus window: keys go where the pointer is.
    conn = XDisplay(display.name)
    try:
        conn.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)
        conn.sync()
    finally:
        conn.close()
    rig = Control(display)
    try:
        rig.point_at_xterm()
        yield rig
    finally:
        rig.close()


def wait_for(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class XTerm:
    """An xterm with default resources (only the locale set: UTF-8) running ``argv``."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        self.proc = subprocess.Popen(
            [_tool("xterm"), "-geometry", f"80x24+{XTERM_AT[0]}+{XTERM_AT[1]}", "-e", *argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def tty_bytes(display: Display, tmp_path: Path) -> Iterator[Callable[[], bytes]]:
    """What the xterm sent to the program in it, as bytes (the recorder runs raw)."""
    out = tmp_path / "tty.bin"
    term = XTerm([sys.executable, "-c", TTY_RECORDER, str(out)], tmp_path)
    try:
        wait_for(lambda: Path(f"{out}.ready").exists(), "the tty recorder")
        time.sleep(0.3)  # the xterm window is mapped before its child runs; let it settle
        yield lambda: out.read_bytes() if out.exists() else b""
    finally:
        term.close()


def settled(read: Callable[[], bytes], expected_end: bytes) -> bytes:
    """The recorded bytes once they end with ``expected_end`` and nothing more arrives."""
    wait_for(lambda: read().endswith(expected_end), f"bytes ending {expected_end!r}")
    time.sleep(0.3)
    return read()


# ---------------------------------------------------------------------------------------------


def test_a_shell_in_xterm_runs_what_the_controller_types(
    control: Control, display: Display, tmp_path: Path
) -> None:
    term = XTerm([_tool("bash"), "--norc", "--noprofile", "-i"], tmp_path)
    try:
        time.sleep(0.8)  # keys typed before bash reads are kept by the tty anyway
        # As a headless controller types it (one TEXT event) ...
        control.type("echo porthole-ok > typed.txt\n")
        wait_for(lambda: (tmp_path / "typed.txt").exists(), "the file the shell writes")
        wait_for(lambda: (tmp_path / "typed.txt").read_text() == "porthole-ok\n", "its content")
        # ... and key by key, as the viewer window sends it (Shift held for the capitals).
        for char in "echo ":
            control.key("space" if char == " " else char)
        control.key("P", SHIFT)
        for char in "orthole-":
            control.key(char)
        assert control.send(ev(InputKind.KEY_DOWN, key="shift_l"))
        control.key("O", SHIFT)
        control.key("K", SHIFT)
        assert control.send(ev(InputKind.KEY_UP, key="shift_l"))
        for char in " > keys.txt":
            control.key("space" if char == " " else char)
        control.key("Return")
        wait_for(lambda: (tmp_path / "keys.txt").exists(), "the file typed key by key")
        wait_for(lambda: (tmp_path / "keys.txt").read_text() == "Porthole-OK\n", "its content")
    finally:
        term.close()


def test_xterm_gets_exactly_the_typed_bytes(
    control: Control, tty_bytes: Callable[[], bytes]
) -> None:
    text = "Hello, World! ~/a_b (1+1=2) \"q\" 'x' `y` {z} [w] <v> |u| \\t ?#$%^&*@"
    control.type(text)
    assert settled(tty_bytes, b"@") == text.encode()

    # Letters on no key of the US map (bound to a spare keycode), and AltGr+Shift's ¦.
    control.type(" éßø ÉŁ€ζ ¦.")
    assert settled(tty_bytes, b".") == (text + " éßø ÉŁ€ζ ¦.").encode()

    start = len(tty_bytes())
    control.key("c", CTRL)  # ^C
    control.key("a", CTRL)  # ^A
    control.key("x", ALT)  # xterm's default for Meta: the 8th bit set, as UTF-8 ("ø")
    control.key("F5")
    control.key("Up")
    control.key("BackSpace")
    control.key("Return")
    control.key("Tab", SHIFT)
    control.key("Z", SHIFT)
    assert settled(tty_bytes, b"Z")[start:] == (
        b"\x03\x01" + "ø".encode() + b"\x1b[15~\x1b[A\x7f\r\x1b[Z" + b"Z"
    )


async def test_ctrl_f12_revokes_and_the_xterm_gets_nothing_of_it(
    control: Control, tty_bytes: Callable[[], bytes]
) -> None:
    revoked: list[str] = []
    hotkey = RevokeHotkeyWhileGranted(
        lambda: revoked.append("trio"), immediate=control.guard.revoke
    )
    await hotkey.arm()
    try:
        control.type("before")
        await trio.to_thread.run_sync(settled, tty_bytes, b"before")
        # The presenter presses the chord (xdotool: XTEST, like their keyboard).
        await trio.run_process([_tool("xdotool"), "key", "ctrl+F12"])
        with trio.fail_after(WAIT):
            while not revoked:
                await trio.sleep(0.02)
        assert not control.guard.active
        assert not control.send(ev(InputKind.TEXT, text="after"))  # control is over

        # The controller's own Ctrl+F12 (granted again) ends its control, and is not typed.
        control.guard.grant(CONTROLLER)
        control.type("again")
        assert control.send(ev(InputKind.KEY_DOWN, key="F12", mods=CTRL))
        with trio.fail_after(WAIT):
            while len(revoked) < 2:
                await trio.sleep(0.02)
        # Ctrl+Shift+F12 and Ctrl+F12 with Num Lock on revoke too: not typed either.
        await trio.run_process([_tool("xdotool"), "key", "ctrl+shift+F12"])
        await trio.run_process([_tool("xdotool"), "key", "Num_Lock", "ctrl+F12", "Num_Lock"])
        with trio.fail_after(WAIT):
            while len(revoked) < 4:
                await trio.sleep(0.02)
        await trio.sleep(0.5)
        assert tty_bytes() == b"beforeagain"  # no ";5~", no escape sequence at all
    finally:
        await hotkey.disarm()
    # Disarmed, the chord is the application's again (and so the grab was what kept it away).
    await trio.run_process([_tool("xdotool"), "key", "ctrl+F12"])
    data = await trio.to_thread.run_sync(settled, tty_bytes, b"~")
    assert data == b"beforeagain\x1b[24;5~"


def pressed_keycodes(display: Display) -> set[int]:
    conn = XDisplay(display.name)
    try:
        keymap = conn.query_keymap()
    finally:
        conn.close()
    return {i * 8 + bit for i, byte in enumerate(keymap) for bit in range(8) if byte >> bit & 1}


def keyboard_mapping(display: Display) -> list[tuple[int, ...]]:
    """The server's whole core keyboard map, one row of keysyms per keycode."""
    conn = XDisplay(display.name)
    try:
        first = conn.display.info.min_keycode
        count = conn.display.info.max_keycode - first + 1
        return [tuple(row) for row in conn.get_keyboard_mapping(first, count)]
    finally:
        conn.close()


def test_the_presenters_own_lock_and_held_shift_do_not_change_typed_text(
    control: Control, tty_bytes: Callable[[], bytes], display: Display
) -> None:
    xdotool = _tool("xdotool")
    subprocess.run([xdotool, "key", "Caps_Lock"], check=True, timeout=30)
    try:
        control.type("aB1!é.")
        assert settled(tty_bytes, b".") == "aB1!é.".encode()
    finally:
        subprocess.run([xdotool, "key", "Caps_Lock"], check=True, timeout=30)
    # The presenter holds Shift (their own keyboard) while the controller types: Shift is
    # lifted around the unshifted characters and is held again afterwards.
    subprocess.run([xdotool, "keydown", "Shift_L"], check=True, timeout=30)
    try:
        held = pressed_keycodes(display)
        assert held
        control.type("xY2@ø;")
        assert settled(tty_bytes, b";") == "aB1!é.xY2@ø;".encode()
        assert pressed_keycodes(display) == held
    finally:
        subprocess.run([xdotool, "keyup", "Shift_L"], check=True, timeout=30)
    assert not pressed_keycodes(display)


def test_typing_follows_the_presenters_layout_when_it_changes(
    control: Control, tty_bytes: Callable[[], bytes], display: Display
) -> None:
    """A German layout: y and z swapped, @ and € on AltGr (level 3), ß on a key of its own."""
    setxkbmap = _tool("setxkbmap")
    control.type("yz@.")
    assert settled(tty_bytes, b".") == b"yz@."
    subprocess.run([setxkbmap, "-layout", "de"], check=True, timeout=30)
    try:
        time.sleep(0.2)  # the xterm takes in the new map (it would for a person too)
        control.type('yz@€ß"|é;')
        assert settled(tty_bytes, b";") == 'yz@.yz@€ß"|é;'.encode()
    finally:
        subprocess.run([setxkbmap, "-layout", "us"], check=True, timeout=30)
    assert not pressed_keycodes(display)


def test_more_rare_letters_than_spare_keycodes_arrive_in_order_and_quickly(
    control: Control, tty_bytes: Callable[[], bytes]
) -> None:
    # 56 letters on no key of the map, about three times as many as Xvfb has spare keycodes:
    # bound in batches, each keycode rebound only after the keys typed on it were handled.
    text = "абвгдежзийклмнопрстуфхцчшщъыьэюя αβγδεζηθικλμνξοπρστυφχψω."
    started = time.monotonic()
    control.type(text)
    took = time.monotonic() - started
    got = settled(tty_bytes, b".")
    assert got.decode(errors="replace") == text
    assert took < 2.0, f"typing took {took:.2f}s (the injector, and a revoke, waited that long)"
    # And again, now partly on keycodes bound for the end of the first text.
    control.type(text[::-1])
    assert settled(tty_bytes, text[0].encode()) == (text + text[::-1]).encode()


def test_a_revoke_cuts_a_long_text_of_rare_letters_short(
    control: Control, tty_bytes: Callable[[], bytes], display: Display
) -> None:
    # 120 distinct letters on no key: about six batches of spare keycodes, each rebound only
    # a quarter second after its last key. A revoke (Ctrl+F12's immediate action runs on the
    # hotkey's thread) must not wait for all that.
    letters = [chr(c) for c in range(0x4E00, 0x4E00 + 120)]  # CJK ideographs
    before = keyboard_mapping(display)
    typing = threading.Thread(
        target=control.send, args=(ev(InputKind.TEXT, text="".join(letters)),)
    )
    typing.start()
    time.sleep(0.3)
    started = time.monotonic()
    control.guard.revoke()
    took = time.monotonic() - started
    typing.join(10)
    assert took < 0.15, f"the revoke waited {took:.2f}s for the typing"
    time.sleep(0.5)
    typed = tty_bytes().decode()
    assert 0 < len(typed) < len(letters)
    assert typed == "".join(letters[: len(typed)])  # what was typed is right, and in order
    assert not pressed_keycodes(display)
    # The revoke gave every spare keycode back: a later session has them all to bind again.
    assert keyboard_mapping(display) == before, "spare keycodes were left bound"
