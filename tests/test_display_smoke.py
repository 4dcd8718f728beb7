"""Smoke tests proving the private Xvfb display is a real, working X server.

Each check compares against an independent source (xdpyinfo, xwininfo, xdotool,
pixels we drew ourselves), so a broken fixture makes these fail, not pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import tkinter as tk
from collections.abc import Callable
from typing import TypeVar

import pytest
from xvfb import ORIGINAL_DISPLAY, Display, Xvfb, display_number, start_private_xvfb
from xvfb import require_tool as _tool

T = TypeVar("T")

WAIT_TIMEOUT = 10.0


def _run(tool: str, *args: str, display: str | None = None) -> str:
    env = dict(os.environ)
    if display is not None:
        env["DISPLAY"] = display
    result = subprocess.run(
        [_tool(tool), *args], capture_output=True, text=True, timeout=30, env=env, check=False
    )
    assert result.returncode == 0, f"{tool} {args} failed: {result.stderr}"
    return result.stdout


def _wait_for(probe: Callable[[], T | None], what: str, timeout: float = WAIT_TIMEOUT) -> T:
    """Poll ``probe`` until it returns non-None; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


def _screen_size(display_name: str) -> tuple[int, int]:
    out = _run("xdpyinfo", display=display_name)
    m = re.search(r"dimensions:\s+(\d+)x(\d+) pixels", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def _xwininfo(window_id: int) -> dict[str, str]:
    out = _run("xwininfo", "-id", hex(window_id))
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _mouse_location() -> tuple[int, int]:
    out = _run("xdotool", "getmouselocation", "--shell")
    values = dict(line.split("=", 1) for line in out.split())
    return int(values["X"]), int(values["Y"])


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_mss_grabs_whole_screen(display: Display) -> None:
    import mss

    assert (display.width, display.height) == (1280, 800)
    assert _screen_size(display.name) == (display.width, display.height)
    with mss.MSS() as sct:
        screen = sct.monitors[1]
        assert (screen["width"], screen["height"]) == (display.width, display.height)
        shot = sct.grab(screen)
    assert shot.size == (display.width, display.height)
    assert len(shot.rgb) == display.width * display.height * 3


def test_tk_window_pixels_read_back_exactly(display: Display) -> None:
    import mss

    first, second = "#3c7a1e", "#a01f5c"
    left, top, width, height = 300, 200, 240, 160
    root = tk.Tk()
    try:
        root.overrideredirect(True)
        root.geometry(f"{width}x{height}+{left}+{top}")
        root.configure(background=first, borderwidth=0, highlightthickness=0)
        root.update()
        frame_id = int(root.wm_frame(), 16)  # the toplevel's outer X window

        def viewable() -> dict[str, str] | None:
            root.update()
            info = _xwininfo(frame_id)
            return info if info.get("Map State") == "IsViewable" else None

        info = _wait_for(viewable, "the Tk window to be mapped")
        x, y = int(info["Absolute upper-left X"]), int(info["Absolute upper-left Y"])
        w, h = int(info["Width"]), int(info["Height"])
        assert (x, y, w, h) == (left, top, width, height)

        with mss.MSS() as sct:
            shot = sct.grab({"left": x, "top": y, "width": w, "height": h})
            assert shot.pixel(w // 2, h // 2) == _hex_rgb(first)
            assert shot.pixel(0, 0) == _hex_rgb(first)
            assert shot.pixel(w - 1, h - 1) == _hex_rgb(first)
            # Just outside the window is the root window, not our colour.
            outside = sct.grab({"left": x + w, "top": y + h, "width": 1, "height": 1})
            assert outside.pixel(0, 0) != _hex_rgb(first)

            # Live, not a stale frame: recolour and read the new colour back.
            root.configure(background=second)
            root.update()

            def recoloured() -> bool | None:
                root.update()
                centre = sct.grab({"left": x + w // 2, "top": y + h // 2, "width": 1, "height": 1})
                return True if centre.pixel(0, 0) == _hex_rgb(second) else None

            _wait_for(recoloured, f"the window to turn {second}")
    finally:
        root.destroy()


def test_xdotool_moves_and_reports_pointer(display: Display) -> None:
    # Only the xdotool binary and the X server: no mss, no pynput.
    for x, y in [(100, 200), (731, 517)]:
        _run("xdotool", "mousemove", str(x), str(y))
        assert _mouse_location() == (x, y)


def test_private_display_is_not_a_preexisting_one(display: Display) -> None:
    assert os.environ["DISPLAY"] == display.name
    assert re.fullmatch(r":\d+", display.name)
    assert display.number != display_number(ORIGINAL_DISPLAY)

    # Another Xvfb started now must get its own number and its own screen.
    with Xvfb(width=640, height=480) as other:
        assert other.number != display.number
        assert _screen_size(other.name) == (640, 480)
        assert _screen_size(display.name) == (1280, 800)
        taken = other.number
    # Once it is gone Xvfb would pick ``taken`` again; ``avoid`` (used for a
    # $DISPLAY like localhost:10 with no local socket) must make it choose another.
    server = start_private_xvfb(640, 480, avoid=frozenset({taken}))
    try:
        assert server.display is not None
        assert server.display.number not in {taken, display.number}
        assert _screen_size(server.display.name) == (640, 480)
    finally:
        server.stop()
