"""Screen capture against a private Xvfb showing known content.

Every pixel check compares with something independent of ``core.capture``: a separate mss
instance decoded by Pillow (not by our numpy conversion), rectangles that ``xwininfo`` reports,
pointer moves made by ``xdotool``, and colours we painted ourselves with Tk.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import subprocess
import time
import tkinter as tk
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import mss
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from Xlib import X  # type: ignore[import-untyped]
from Xlib.display import Display as XDisplay  # type: ignore[import-untyped]
from Xlib.error import ConnectionClosedError as XConnectionClosed  # type: ignore[import-untyped]
from xvfb import require_tool as _tool

from core.capture import (
    AmbiguousWindow,
    CaptureError,
    Capturer,
    MonitorSource,
    Rect,
    RegionSource,
    WindowGone,
    WindowHidden,
    WindowNotFound,
    WindowSource,
    describe,
    parse_mask,
    parse_region,
    parse_window_id,
    screen_size,
)


class Display(Protocol):
    """What the ``display`` fixture gives (tests/xvfb.py), typed structurally so this file
    type-checks on its own, without tests/ on mypy's path."""

    name: str
    width: int
    height: int


T = TypeVar("T")
E = TypeVar("E", bound=CaptureError)
Image3 = npt.NDArray[np.uint8]

WAIT_TIMEOUT = 10.0

# The pattern each test window paints: a background and three patches at known offsets.
WIN_W, WIN_H = 240, 160
BACKGROUND = "#204060"
PATCHES = [  # (x, y, width, height, colour) inside the window
    (10, 10, 60, 40, "#ff0000"),
    (100, 30, 50, 50, "#00ff00"),
    (40, 100, 120, 30, "#0000ff"),
]
BACKGROUND_SPOT = (200, 140)  # a point inside the window that no patch covers


# -- helpers --------------------------------------------------------------------------------


def _run(tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [_tool(tool), *args], capture_output=True, text=True, timeout=30, check=False
    )
    if check:
        assert result.returncode == 0, f"{tool} {args} failed: {result.stderr}"
    return result


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


def _wait_grab_raises(
    capturer: Capturer, error: type[E], what: str, window: PatternWindow | None = None
) -> E:
    """Grab until ``grab()`` raises ``error`` (pumping Tk meanwhile) and return the error."""

    def probe() -> E | None:
        if window is not None:
            window.pump()
        try:
            capturer.grab()
        except error as exc:
            return exc
        return None

    return _wait_for(probe, what)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _xwininfo(*args: str) -> dict[str, str]:
    result = _run("xwininfo", *args, check=False)
    if result.returncode != 0:
        return {}
    fields = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    match = re.search(r"Window id: (0x[0-9a-f]+)", result.stdout)
    if match:
        fields["id"] = match.group(1)
    return fields


def _xwininfo_rect(xid: int) -> Rect:
    info = _xwininfo("-id", hex(xid))
    return Rect(
        int(info["Absolute upper-left X"]),
        int(info["Absolute upper-left Y"]),
        int(info["Width"]),
        int(info["Height"]),
    )


def _reference_screen() -> Image3:
    """The whole screen through a separate mss instance, decoded by Pillow, not by our code."""
    with mss.MSS() as sct:
        shot = sct.grab(sct.monitors[0])
    return np.asarray(Image.frombytes("RGB", shot.size, shot.rgb))


def _crop(screen: Image3, rect: Rect) -> Image3:
    return screen[rect.y : rect.bottom, rect.x : rect.right]


def _has_pattern(pixels: Image3, dx: int = 0, dy: int = 0) -> bool:
    """Whether the window pattern is at offset (dx, dy) of ``pixels``: patch centres and
    inner corners have their colours, and the background shows between them."""
    for x, y, w, h, colour in PATCHES:
        want = _rgb(colour)
        for px, py in [(x + w // 2, y + h // 2), (x + 2, y + 2), (x + w - 3, y + h - 3)]:
            if tuple(pixels[dy + py, dx + px]) != want:
                return False
    bx, by = BACKGROUND_SPOT
    return tuple(pixels[dy + by, dx + bx]) == _rgb(BACKGROUND)


class PatternWindow:
    """A Tk toplevel showing the test pattern at a known place, with a unique title."""

    def __init__(self, desk: Desk, title: str, x: int, y: int) -> None:
        self.desk = desk
        self.title = title
        self.root = tk.Toplevel(desk.root)
        self.root.title(title)
        self.root.geometry(f"{WIN_W}x{WIN_H}+{x}+{y}")
        canvas = tk.Canvas(
            self.root,
            width=WIN_W,
            height=WIN_H,
            background=BACKGROUND,
            highlightthickness=0,
            borderwidth=0,
        )
        canvas.place(x=0, y=0, width=WIN_W, height=WIN_H)
        for px, py, pw, ph, colour in PATCHES:
            canvas.create_rectangle(px, py, px + pw, py + ph, fill=colour, outline="")

        def mapped() -> int | None:
            self.pump()
            info = _xwininfo("-name", title)
            return int(info["id"], 16) if info.get("Map State") == "IsViewable" else None

        self.xid = _wait_for(mapped, f"window {title!r} to be mapped")

        def painted() -> bool | None:
            self.pump()
            return True if _has_pattern(_crop(_reference_screen(), self.rect())) else None

        _wait_for(painted, f"window {title!r} to paint its pattern")

    def pump(self) -> None:
        self.desk.pump()

    def rect(self) -> Rect:
        return _xwininfo_rect(self.xid)

    def close(self) -> None:
        with contextlib.suppress(tk.TclError):  # already destroyed by the test
            self.root.destroy()


class Desk:
    """A full-screen backdrop of fixed random noise, with pattern windows opened above it.

    Xvfb's root is plain black, so without a backdrop every crop comparison outside a window
    would compare black with black; noise makes any off-by-one shift or stale pixel show.
    One Tk interpreter holds everything, so one ``pump()`` repaints whatever was exposed.
    """

    def __init__(self, width: int, height: int) -> None:
        self.noise = np.random.default_rng(20240611).integers(
            0, 256, size=(height, width, 3), dtype=np.uint8
        )
        self.root = tk.Tk()
        self.root.title("porthole capture backdrop")
        self.root.geometry(f"{width}x{height}+0+0")
        ppm = f"P6 {width} {height} 255\n".encode() + self.noise.tobytes()
        self._photo = tk.PhotoImage(master=self.root, data=ppm, format="ppm")
        tk.Label(self.root, image=self._photo, borderwidth=0, highlightthickness=0).place(
            x=0, y=0, width=width, height=height
        )
        self.windows: list[PatternWindow] = []

        def painted() -> bool | None:
            self.pump()
            return True if np.array_equal(_reference_screen(), self.noise) else None

        _wait_for(painted, "the backdrop to paint")

    def open(self, x: int = 300, y: int = 200, title: str | None = None) -> PatternWindow:
        name = title or f"porthole capture test {uuid.uuid4().hex[:8]}"
        window = PatternWindow(self, name, x, y)
        self.windows.append(window)
        return window

    def pump(self) -> None:
        self.root.update()

    def close_windows(self) -> None:
        for window in self.windows:
            window.close()
        self.windows.clear()
        self.pump()

    def destroy(self) -> None:
        self.close_windows()
        self.root.destroy()


@pytest.fixture(scope="module")
def _backdrop(xvfb: Display) -> Iterator[Desk]:
    desk = Desk(xvfb.width, xvfb.height)
    yield desk
    desk.destroy()


@pytest.fixture
def desk(_backdrop: Desk) -> Iterator[Desk]:
    """The noise backdrop; pattern windows opened in a test are closed after it."""
    yield _backdrop
    _backdrop.close_windows()


def _settled_screen(desk: Desk) -> Image3:
    """A reference grab once the screen has stopped changing (Tk has nothing left to paint)."""
    previous: list[Image3] = []

    def stable() -> Image3 | None:
        desk.pump()
        screen = _reference_screen()
        same = bool(previous) and np.array_equal(previous[-1], screen)
        previous[:] = [screen]
        return screen if same else None

    return _wait_for(stable, "the screen to settle")


def _assert_frame_shape(pixels: Image3, width: int, height: int) -> None:
    assert pixels.shape == (height, width, 3)
    assert pixels.dtype == np.uint8
    assert pixels.flags.c_contiguous
    assert not pixels.flags.writeable


# -- parsing (no display) -------------------------------------------------------------------


def test_parse_region_and_mask_read_x_y_w_h() -> None:
    assert parse_region("10,20,300,400") == RegionSource(10, 20, 300, 400)
    assert parse_region(" 0 , 0 ,1, 1 ") == RegionSource(0, 0, 1, 1)
    assert parse_mask("5,6,7,8") == Rect(5, 6, 7, 8)
    assert str(parse_mask("5,6,7,8")) == "5,6,7,8"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("10,20,300", "four whole numbers"),
        ("10,20,300,400,5", "four whole numbers"),
        ("a,b,c,d", "four whole numbers"),
        ("1.5,2,3,4", "four whole numbers"),
        ("", "four whole numbers"),
        ("-1,0,10,10", "must not be negative"),
        ("0,-5,10,10", "must not be negative"),
        ("0,0,0,10", "at least 1 pixel"),
        ("0,0,10,-3", "at least 1 pixel"),
        ("0,0,40000,10", "must fit on an X11 screen"),
    ],
)
def test_parse_region_and_mask_refuse_with_a_sentence(text: str, fragment: str) -> None:
    for parse in (parse_region, parse_mask):
        with pytest.raises(ValueError, match=fragment) as caught:
            parse(text)
        assert ", got " in str(caught.value)  # says what it read, in a sentence


def test_parse_window_id_reads_hex_and_decimal() -> None:
    assert parse_window_id("0x3a00007") == 0x3A00007
    assert parse_window_id(" 0X1F ") == 31
    assert parse_window_id("60817415") == 60817415
    for bad in ["", "0x", "window", "12ab", "-5", "0", "0x40000000"]:
        with pytest.raises(ValueError, match="window id"):
            parse_window_id(bad)


def test_sources_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="either by its title or by its id"):
        WindowSource()
    with pytest.raises(ValueError, match="either by its title or by its id"):
        WindowSource(title="x", xid=5)
    with pytest.raises(ValueError, match="must not be empty"):
        WindowSource(title="  ")
    with pytest.raises(ValueError, match="monitor numbers start at 0"):
        MonitorSource(-1)
    with pytest.raises(ValueError, match="at least 1 pixel"):
        RegionSource(0, 0, 0, 5)
    with pytest.raises(ValueError, match="at least 1 pixel"):
        Rect(0, 0, 5, 0)


def test_describe_names_a_window_by_its_title() -> None:
    assert describe(WindowSource(xid=0x20000C, label="Terminal")) == "window 'Terminal'"
    assert describe(WindowSource(title="Term")) == "window 'Term'"
    assert describe(WindowSource(xid=0x20000C)) == "window 0x20000c"  # no title known
    assert WindowSource(xid=5, label="a") == WindowSource(xid=5)  # a name, never a lookup
    assert describe(MonitorSource(0)) == "all monitors"
    assert describe(MonitorSource(2)) == "monitor 2"
    assert describe(RegionSource(1, 2, 3, 4)) == "region 1,2,3,4"


def test_rect_minus() -> None:
    area = Rect(0, 0, 10, 10)
    assert area.minus(Rect(20, 20, 5, 5)) == [area]
    assert area.minus(Rect(-5, -5, 30, 30)) == []
    parts = area.minus(Rect(3, 4, 2, 2))
    assert parts == [Rect(0, 0, 10, 4), Rect(0, 6, 10, 4), Rect(0, 4, 3, 2), Rect(5, 4, 5, 2)]
    assert sum(p.width * p.height for p in parts) == 100 - 4


def test_rect_intersection() -> None:
    assert Rect(0, 0, 10, 10).intersection(Rect(5, 5, 10, 10)) == Rect(5, 5, 5, 5)
    assert Rect(0, 0, 10, 10).intersection(Rect(10, 0, 5, 5)) is None
    assert Rect(0, 0, 10, 10).intersection(Rect(-5, -5, 7, 100)) == Rect(0, 0, 2, 10)


# -- whole screen and regions ---------------------------------------------------------------


def test_screen_size_matches_the_display(display: Display) -> None:
    assert screen_size() == (display.width, display.height)


def test_monitor_capture_equals_an_independent_full_screen_grab(
    display: Display, desk: Desk
) -> None:
    desk.open(x=500, y=300)
    for index in (0, 1):  # 0 = all monitors together; Xvfb has exactly one, the same area
        with Capturer(MonitorSource(index)) as capturer:
            reference = _settled_screen(desk)
            frame = capturer.grab()
        _assert_frame_shape(frame.pixels, display.width, display.height)
        assert (frame.origin, frame.width, frame.height) == ((0, 0), 1280, 800)
        assert np.array_equal(frame.pixels, reference)
        assert _has_pattern(frame.pixels, 500, 300)


def test_full_screen_grab_timing(display: Display) -> None:
    """Not an assertion: how long one 1280x800 grab takes here (shown with ``pytest -s``)."""
    with Capturer(MonitorSource(1)) as capturer:
        for _ in range(3):
            capturer.grab()
        rounds = 30
        started = time.perf_counter()
        for _ in range(rounds):
            capturer.grab()
        per_grab = (time.perf_counter() - started) / rounds * 1000
    print(f"\nCapturer.grab() of {display.width}x{display.height}: {per_grab:.2f} ms")


def test_region_capture_equals_the_crop(desk: Desk) -> None:
    desk.open(x=200, y=150)
    region = RegionSource(180, 120, 300, 250)  # the window and backdrop around it
    with Capturer(region) as capturer:
        reference = _settled_screen(desk)
        frame = capturer.grab()
    _assert_frame_shape(frame.pixels, 300, 250)
    assert frame.origin == (180, 120)
    assert np.array_equal(frame.pixels, _crop(reference, region.rect))
    assert _has_pattern(frame.pixels, 20, 30)


def test_bad_region_and_monitor_are_capture_errors(display: Display) -> None:
    with pytest.raises(CaptureError, match=r"does not fit on the screen, which is 1280x800"):
        Capturer(RegionSource(1200, 700, 200, 50))
    with pytest.raises(CaptureError, match=r"does not fit"):
        Capturer(RegionSource(5000, 0, 10, 10))
    with pytest.raises(CaptureError, match=r"there is no monitor 2") as caught:
        Capturer(MonitorSource(2))
    message = str(caught.value)
    assert "0 = all monitors together 1280x800 at 0,0" in message
    assert "1 = " in message


def test_closed_capturer_says_so(display: Display) -> None:
    capturer = Capturer(MonitorSource(1))
    capturer.close()
    capturer.close()
    with pytest.raises(CaptureError, match="closed"):
        capturer.grab()


def test_lost_x_server_is_a_capture_error_not_a_crash(display: Display) -> None:
    # A second, throwaway Xvfb (tests/xvfb.py, imported by name so this file type-checks
    # on its own) that we can kill under a running capturer.
    xvfb: Any = importlib.import_module("xvfb")
    server = xvfb.Xvfb(width=320, height=240)
    other = server.start()
    try:
        assert screen_size(other.name) == (320, 240)
        capturer = Capturer(RegionSource(10, 10, 100, 50), display=other.name)
        assert capturer.grab().pixels.shape == (50, 100, 3)
        conn: Any = XDisplay(other.name)
        window = conn.screen().root.create_window(5, 5, 60, 40, 0, X.CopyFromParent)
        window.set_wm_name("doomed")
        window.map()
        conn.sync()
        windowed = Capturer(WindowSource(title="doomed"), display=other.name)
        assert windowed.grab().rect == Rect(5, 5, 60, 40)
    finally:
        server.stop()
    for victim in (capturer, windowed):
        with pytest.raises(CaptureError, match="lost the connection to the X display"):
            victim.grab()
        victim.close()  # and closing after that is quiet
    with contextlib.suppress(XConnectionClosed):  # our own helper connection, not the capturer's
        conn.close()


# -- windows --------------------------------------------------------------------------------


def test_window_by_title_and_by_id_equals_its_on_screen_pixels(
    desk: Desk,
) -> None:
    window = desk.open(x=420, y=260)
    rect = window.rect()
    assert rect == Rect(420, 260, WIN_W, WIN_H)
    sources = [
        WindowSource(title=window.title),  # exact
        WindowSource(title=window.title[-8:].upper()),  # case-insensitive substring
        WindowSource(xid=window.xid),
        WindowSource(xid=parse_window_id(hex(window.xid))),
        WindowSource(xid=parse_window_id(str(window.xid))),
    ]
    for source in sources:
        with Capturer(source) as capturer:
            assert capturer.window is not None
            assert capturer.window.xid == window.xid
            assert capturer.window.title == window.title
            reference = _settled_screen(desk)
            frame = capturer.grab()
        _assert_frame_shape(frame.pixels, WIN_W, WIN_H)
        assert frame.rect == rect
        assert np.array_equal(frame.pixels, _crop(reference, rect))
        assert _has_pattern(frame.pixels)


def test_window_capture_follows_the_window_as_it_moves(
    desk: Desk,
) -> None:
    window = desk.open(x=100, y=100)
    with Capturer(WindowSource(xid=window.xid)) as capturer:
        assert capturer.grab().origin == (100, 100)

        _run("xdotool", "windowmove", str(window.xid), "700", "450")

        def moved() -> bool | None:
            window.pump()
            frame = capturer.grab()
            return True if frame.origin == (700, 450) and _has_pattern(frame.pixels) else None

        _wait_for(moved, "the capture to follow the window to 700,450")
        reference = _settled_screen(desk)
        frame = capturer.grab()
        assert frame.rect == window.rect() == Rect(700, 450, WIN_W, WIN_H)
        assert np.array_equal(frame.pixels, _crop(reference, frame.rect))

        # Partly off the right edge: only the visible part is captured.
        _run("xdotool", "windowmove", str(window.xid), "1180", "20")

        def clipped() -> bool | None:
            window.pump()
            frame = capturer.grab()
            return True if frame.rect == Rect(1180, 20, 100, WIN_H) else None

        _wait_for(clipped, "the capture to clip the window at the screen edge")
        reference = _settled_screen(desk)
        frame = capturer.grab()
        assert np.array_equal(frame.pixels, _crop(reference, Rect(1180, 20, 100, WIN_H)))
        assert tuple(frame.pixels[30, 40]) == _rgb("#ff0000")  # patch 1 is still in view

        # Entirely off-screen: a "hidden" state, then back on screen: capture resumes.
        _run("xdotool", "windowmove", str(window.xid), "1500", "20")
        error = _wait_grab_raises(capturer, WindowHidden, "the window to be off-screen")
        assert "entirely off the screen" in str(error)
        _run("xdotool", "windowmove", str(window.xid), "10", "10")

        def back() -> bool | None:
            window.pump()
            frame = capturer.grab()
            return True if frame.origin == (10, 10) and _has_pattern(frame.pixels) else None

        _wait_for(back, "the capture to resume at 10,10")


def test_closed_window_raises_window_gone(desk: Desk) -> None:
    window = desk.open(x=50, y=500)
    with Capturer(WindowSource(title=window.title)) as capturer:
        assert _has_pattern(capturer.grab().pixels)
        window.close()
        error = _wait_grab_raises(capturer, WindowGone, "grab() to see the window closed", window)
        assert f"{window.xid:#x}" in str(error)
        assert "was closed" in str(error)
        assert isinstance(error, CaptureError)


def test_unmapped_window_is_hidden_until_shown_again(
    desk: Desk,
) -> None:
    window = desk.open(x=600, y=100)
    with Capturer(WindowSource(xid=window.xid)) as capturer:
        capturer.grab()
        window.root.withdraw()
        error = _wait_grab_raises(capturer, WindowHidden, "grab() to see the unmap", window)
        assert "not shown" in str(error)

        window.root.deiconify()

        def shown() -> bool | None:
            window.pump()
            try:
                frame = capturer.grab()
            except WindowHidden:
                return None
            return True if _has_pattern(frame.pixels) else None

        _wait_for(shown, "capture to resume after the window is shown again")


def test_window_lookup_errors_name_the_candidates(
    desk: Desk,
) -> None:
    tag = uuid.uuid4().hex[:6]
    exact = desk.open(x=20, y=20, title=f"lookup {tag}")
    longer = desk.open(x=300, y=20, title=f"lookup {tag} and more")
    other = desk.open(x=600, y=20, title=f"LOOKUP {tag} again")

    # An exact title wins even though all three contain it.
    with Capturer(WindowSource(title=exact.title)) as capturer:
        assert capturer.window is not None
        assert capturer.window.xid == exact.xid

    with pytest.raises(AmbiguousWindow) as caught:
        Capturer(WindowSource(title=f"{tag} A"))  # matches "...and more" and "...again"
    message = str(caught.value)
    assert f"{longer.xid:#x}" in message
    assert f"{other.xid:#x}" in message
    assert f"{exact.xid:#x}" not in message
    assert "2 windows match" in message

    with pytest.raises(WindowNotFound, match="no window has a title matching") as not_found:
        Capturer(WindowSource(title=f"nothing like this {tag}"))
    assert f"{exact.xid:#x}" in str(not_found.value)  # lists what is on screen

    with pytest.raises(WindowNotFound, match="no window with id 0x1fffff0 exists"):
        Capturer(WindowSource(xid=0x1FFFFF0))


class FakeWindowManagerFrame:
    """What a reparenting window manager does to a client: wrap it in a frame window at an
    offset and mark it with ``WM_STATE``. Xvfb runs no window manager, so we play one, to show
    the capturer finds the client inside the frame and places it via the root, not its parent.
    """

    def __init__(self, window: PatternWindow, x: int, y: int, dx: int, dy: int) -> None:
        self.conn: Any = XDisplay()
        root = self.conn.screen().root
        self.frame: Any = root.create_window(
            x, y, WIN_W + 2 * dx, WIN_H + dx + dy, 0, X.CopyFromParent, X.InputOutput
        )
        self.frame.change_attributes(background_pixel=0x808080)
        self.frame.map()
        self.client: Any = self.conn.create_resource_object("window", window.xid)
        self.client.reparent(self.frame, dx, dy)
        self.wm_state = self.conn.intern_atom("WM_STATE")
        self.client.change_property(self.wm_state, self.wm_state, 32, [1, 0])  # NormalState
        self.conn.sync()

    @property
    def xid(self) -> int:
        return int(self.frame.id)

    def move(self, x: int, y: int) -> None:
        self.frame.configure(x=x, y=y)
        self.conn.sync()

    def iconify(self) -> None:
        self.frame.unmap()
        self.conn.sync()

    def close(self) -> None:
        """Give the client back to the root (as a window manager does when it exits)."""
        self.client.delete_property(self.wm_state)
        self.client.reparent(self.conn.screen().root, 0, 0)
        self.frame.destroy()
        self.conn.close()


@pytest.mark.parametrize("composite", [True, False], ids=["own-pixmap", "covers-black"])
def test_window_inside_a_window_manager_frame(desk: Desk, composite: bool) -> None:
    window = desk.open(x=0, y=0)
    frame = FakeWindowManagerFrame(window, 100, 90, dx=10, dy=30)
    try:

        def placed() -> bool | None:
            window.pump()
            rect = window.rect()  # xwininfo's absolute position of the client
            if rect != Rect(110, 120, WIN_W, WIN_H):
                return None
            return True if _has_pattern(_crop(_reference_screen(), rect)) else None

        _wait_for(placed, "the client to show inside the fake frame")

        # By title: the client (which has the title) inside the untitled frame is found, and
        # only the client area is captured, not the frame's decorations.
        with Capturer(WindowSource(title=window.title), composite=composite) as capturer:
            assert capturer.window is not None
            assert capturer.window.xid == window.xid
            assert capturer.own_pixels is composite
            reference = _settled_screen(desk)
            frame_pixels = capturer.grab()
            assert frame_pixels.rect == Rect(110, 120, WIN_W, WIN_H)
            assert np.array_equal(frame_pixels.pixels, _crop(reference, frame_pixels.rect))

            # The "window manager" moves the frame; the client's x,y relative to its parent
            # do not change, yet the capture follows it on screen.
            frame.move(400, 300)

            def followed() -> bool | None:
                window.pump()
                grabbed = capturer.grab()
                return True if grabbed.origin == (410, 330) else None

            _wait_for(followed, "the capture to follow the moved frame")
            assert window.rect() == Rect(410, 330, WIN_W, WIN_H)
            reference = _settled_screen(desk)
            grabbed = capturer.grab()
            assert np.array_equal(grabbed.pixels, _crop(reference, grabbed.rect))
            assert _has_pattern(grabbed.pixels)

            # By the frame's id instead: the decorations are included.
            with Capturer(WindowSource(xid=frame.xid), composite=composite) as whole:
                grabbed = whole.grab()
                assert grabbed.rect == Rect(400, 300, WIN_W + 20, WIN_H + 40)
                assert _has_pattern(grabbed.pixels, 10, 30)
                assert tuple(grabbed.pixels[2, 2]) == (0x80, 0x80, 0x80)

            # Iconified (the frame unmapped): hidden, not gone.
            frame.iconify()
            error = _wait_grab_raises(capturer, WindowHidden, "the client to be hidden", window)
            assert "not shown" in str(error)
    finally:
        frame.close()
        window.pump()


# -- what covers a shared window ----------------------------------------------------------------

#: The colour of the window that covers the shared one: in no pattern, and where it shows up in a
#: frame, another window's pixels were captured.
COVER = "#ff00ff"


def _cover(desk: Desk, rect: Rect) -> tk.Toplevel:
    """A plain window of the cover colour over ``rect`` (override-redirect: placed exactly)."""
    cover = tk.Toplevel(desk.root, bg=COVER, borderwidth=0, highlightthickness=0)
    cover.overrideredirect(True)
    cover.geometry(f"{rect.width}x{rect.height}+{rect.x}+{rect.y}")

    def shown() -> bool | None:
        desk.pump()
        painted = _has_colour(_crop(_reference_screen(), rect), COVER, everywhere=True)
        return True if painted else None

    _wait_for(shown, "the cover to show")
    return cover


def _has_colour(pixels: Image3, colour: str, *, everywhere: bool = False) -> bool:
    hits = np.all(pixels == np.array(_rgb(colour), dtype=np.uint8), axis=2)
    return bool(hits.all() if everywhere else hits.any())


def _canvas(window: PatternWindow) -> tk.Canvas:
    (canvas,) = [w for w in window.root.winfo_children() if isinstance(w, tk.Canvas)]
    return canvas


@pytest.mark.parametrize("composite", [True, False], ids=["own-pixmap", "covers-black"])
def test_a_window_over_the_shared_one_is_never_captured(desk: Desk, composite: bool) -> None:
    """Another window lying over the shared one: with XComposite the frame is the shared
    window's own pixels, as if nothing covered it; without (``composite=False``), the covered
    part is black. Never the other window's pixels, whether it was there before capture
    started or came over it later, and whatever the shared window draws under it."""
    window = desk.open(x=300, y=200)
    rect = window.rect()
    uncovered = _crop(_settled_screen(desk), rect)
    covered = Rect(420, 260, 200, 150)  # the window's right part and beyond
    hidden = covered.intersection(rect)
    assert hidden is not None
    cover = _cover(desk, covered)
    expected = uncovered if composite else _expected_masked(uncovered, rect, [covered])

    with Capturer(WindowSource(xid=window.xid), composite=composite) as capturer:
        assert capturer.own_pixels is composite

        def exact() -> bool | None:
            desk.pump()  # the window repaints what redirection exposed
            frame = capturer.grab()
            assert not _has_colour(frame.pixels, COVER)
            return True if np.array_equal(frame.pixels, expected) else None

        _wait_for(exact, "the frame to show the window and nothing over it")
        frame = capturer.grab_changes()
        assert not _has_colour(frame.pixels, COVER)
        assert np.array_equal(frame.pixels, expected)
        reads = capturer.statistics().pixels_read
        time.sleep(0.1)
        assert capturer.grab_changes().changed == ()  # nothing drawn: nothing read
        assert capturer.statistics().pixels_read == reads

        # The window draws under the cover: its own pixels know it, the screen does not.
        before = capturer.statistics()
        _canvas(window).create_rectangle(150, 100, 200, 140, fill="#00ffff", outline="")
        _settled_screen(desk)
        if composite:  # the screen shows nothing of it: no damage there
            _wait_for_damage_events(capturer, before.damage_events)
        frame = capturer.grab_changes()
        assert not _has_colour(frame.pixels, COVER)
        drawn = frame.pixels[100:140, 150:200]
        assert _has_colour(drawn, "#00ffff", everywhere=True) if composite else not drawn.any()
        if composite:  # the window's damage: only what it drew is read
            after = capturer.statistics()
            assert after.full_reads == before.full_reads
            assert after.partial_reads > before.partial_reads
            assert 0 < after.pixels_read - before.pixels_read < WIN_W * WIN_H / 4
            assert frame.changed
            assert _coverage(frame.changed, WIN_W, WIN_H)[100:140, 150:200].all()

        # The cover goes: the frame is the screen again, the drawing under it included.
        seen = capturer.statistics().damage_events
        cover.destroy()
        reference = _settled_screen(desk)
        _wait_for_damage_events(capturer, seen)
        frame = capturer.grab_changes()
        assert np.array_equal(frame.pixels, _crop(reference, rect))

        # A cover that comes over the window while it is shared.
        seen = capturer.statistics().damage_events
        cover = _cover(desk, Rect(250, 300, 150, 100))  # its lower left corner
        _wait_for_damage_events(capturer, seen)
        frame = capturer.grab_changes()
        assert not _has_colour(frame.pixels, COVER)
        lower_left = frame.pixels[100:, :100]
        if composite:
            assert np.array_equal(frame.pixels, _crop(reference, rect))
        else:
            assert not lower_left.any()
            assert np.array_equal(frame.pixels[:100], _crop(reference, rect)[:100])
        cover.destroy()
        desk.pump()


def test_without_composite_a_window_that_comes_over_during_a_read_is_black(desk: Desk) -> None:
    """The covers are looked up before the pixels are read; a window that comes over the
    shared one in between is in what is read. Staged here by letting the capturer read the
    damage the cover drew without looking the covers up first (as if the cover came right
    after the look): the check after the read blacks it out all the same."""
    window = desk.open(x=300, y=200)
    rect = window.rect()
    with Capturer(WindowSource(xid=window.xid), composite=False) as capturer:
        reference = _settled_screen(desk)
        assert np.array_equal(capturer.grab_changes().pixels, _crop(reference, rect))
        seen = capturer.statistics().damage_events
        covered = Rect(420, 260, 200, 150)
        cover = _cover(desk, covered)
        _wait_for(
            lambda: True if capturer._damage and capturer._damage.pending() else None,
            "the cover's damage",
        )
        assert capturer._damage is not None
        capturer._dirty.extend(capturer._damage.collect())  # read, but the covers not looked up
        capturer._collected = True
        assert capturer.statistics().damage_events > seen
        frame = capturer.grab_changes()
        assert frame.changed  # the damaged part was read: the cover's pixels were in it
        assert not _has_colour(frame.pixels, COVER)
        assert np.array_equal(
            frame.pixels, _expected_masked(_crop(reference, rect), rect, [covered])
        )
        # The next capture looks the covers up: the same, so nothing is read again.
        frame = capturer.grab_changes()
        assert frame.changed == ()
        assert capturer._covers == (covered.intersection(rect),)
        assert not _has_colour(frame.pixels, COVER)
        cover.destroy()
        desk.pump()


def test_what_a_new_pixmap_copied_from_the_screen_stays_black_until_drawn(desk: Desk) -> None:
    """Redirection gives the window a pixmap filled from the screen (the cover included) and
    asks it to repaint what was covered. A window with no background that never repaints
    keeps those pixels: they are not its own, and stay black."""
    covered = Rect(380, 260, 200, 150)
    cover = _cover(desk, covered)
    conn: Any = XDisplay()
    try:
        # No background (X's default): nothing paints it, not even the server.
        bare = conn.screen().root.create_window(300, 200, WIN_W, WIN_H, 0, X.CopyFromParent)
        bare.set_wm_name(f"porthole bare {uuid.uuid4().hex[:8]}")
        bare.map()
        conn.sync()
        desk.pump()
        cover.lift()  # over the bare window now
        screen = _settled_screen(desk)
        rect = _xwininfo_rect(int(bare.id))
        on_screen = _crop(screen, rect)
        assert _has_colour(on_screen, COVER)  # the screen shows the cover over it

        with Capturer(WindowSource(xid=int(bare.id))) as capturer:
            assert capturer.own_pixels
            time.sleep(0.2)  # whatever the server sends after redirection has arrived
            for frame in (capturer.grab_changes(), capturer.grab(), capturer.grab_changes()):
                assert not _has_colour(frame.pixels, COVER)
                assert np.array_equal(frame.pixels, _expected_masked(on_screen, rect, [covered]))
    finally:
        conn.close()
        cover.destroy()
        desk.pump()


@pytest.mark.parametrize("composite", [True, False], ids=["own-pixmap", "covers-black"])
def test_a_frame_that_clips_the_window_and_covers_part_of_it(desk: Desk, composite: bool) -> None:
    """Inside a window manager's frame, the frame's own children stacked above the client
    (a title bar) and the frame's edge (smaller than the client) hide parts of it on screen:
    without composite they are black; with it, the client's own pixels show there."""
    window = desk.open(x=0, y=0)
    conn: Any = XDisplay()
    root = conn.screen().root
    frame = root.create_window(100, 100, 200, 150, 0, X.CopyFromParent, X.InputOutput)
    frame.change_attributes(background_pixel=0x808080)
    frame.map()
    client = conn.create_resource_object("window", window.xid)
    client.reparent(frame, 10, 30)  # the client (240x160) sticks out right and below
    bar = frame.create_window(0, 0, 200, 40, 0, X.CopyFromParent, X.InputOutput)
    bar.change_attributes(background_pixel=0xFF00FF)  # the cover colour, over the client's top
    bar.map()
    conn.sync()
    try:
        rect = Rect(110, 130, WIN_W, WIN_H)

        def placed() -> bool | None:
            window.pump()
            screen = _reference_screen()
            return True if _has_colour(_crop(screen, Rect(110, 130, 10, 10)), COVER) else None

        _wait_for(placed, "the client inside the frame, under the bar")
        hidden = [Rect(100, 100, 200, 40), *rect.minus(Rect(100, 100, 200, 150))]
        with Capturer(WindowSource(xid=window.xid), composite=composite) as capturer:
            reference = _settled_screen(desk)

            def right() -> bool | None:
                window.pump()
                frame_now = capturer.grab()
                assert not _has_colour(frame_now.pixels, COVER)
                assert frame_now.rect == rect
                if composite:
                    return True if _has_pattern(frame_now.pixels) else None
                expected = _expected_masked(_crop(reference, rect), rect, hidden)
                return True if np.array_equal(frame_now.pixels, expected) else None

            _wait_for(right, "the client's frame without what hides it")
    finally:
        client.reparent(root, 0, 0)
        frame.destroy()
        conn.close()
        window.pump()


# -- masks and cursor -----------------------------------------------------------------------


def _expected_masked(unmasked: Image3, area: Rect, masks: list[Rect]) -> Image3:
    """Zero the masks pixel by pixel from a coordinate grid: independent of Rect slicing."""
    ys, xs = np.mgrid[area.y : area.bottom, area.x : area.right]
    hidden = np.zeros(ys.shape, dtype=bool)
    for m in masks:
        hidden |= (xs >= m.x) & (xs < m.x + m.width) & (ys >= m.y) & (ys < m.y + m.height)
    expected = unmasked.copy()
    expected[hidden] = 0
    return expected


def test_masks_are_black_inside_and_untouched_outside(
    desk: Desk,
) -> None:
    window = desk.open(x=400, y=300)
    region = RegionSource(350, 250, 340, 260)
    masks = [
        Rect(410, 310, 60, 40),  # over the red patch
        Rect(300, 480, 120, 100),  # sticks out of the area to the left and bottom
        Rect(10, 10, 50, 50),  # nowhere near the area: no effect
    ]
    with Capturer(region, masks=masks) as capturer:
        reference = _settled_screen(desk)
        frame = capturer.grab()
    unmasked = _crop(reference, region.rect)
    expected = _expected_masked(unmasked, region.rect, masks)
    hidden = np.all(expected == 0, axis=2) & ~np.all(unmasked == 0, axis=2)
    assert hidden.sum() > 60 * 40  # the masks really cover visible, non-black content
    assert np.array_equal(frame.pixels, expected)
    assert not frame.pixels[60:100, 60:120].any()  # the red patch is gone
    assert frame.pixels[230:, :70].sum() == 0  # the partial mask, clipped to the area

    # Window capture: masks stay in screen coordinates, follow nothing, hide what is under them.
    with Capturer(WindowSource(xid=window.xid), masks=[Rect(500, 330, 50, 50)]) as capturer:
        capturer.masks = [Rect(500, 330, 50, 50), Rect(380, 280, 30, 30)]
        reference = _settled_screen(desk)
        frame = capturer.grab()
    rect = window.rect()
    expected = _expected_masked(_crop(reference, rect), rect, list(capturer.masks))
    assert np.array_equal(frame.pixels, expected)
    assert not frame.pixels[30:80, 100:150].any()  # the green patch is gone


def test_cursor_is_reported_relative_to_the_area(display: Display) -> None:
    region = RegionSource(200, 100, 400, 300)
    masked = Rect(500, 300, 50, 50)
    with Capturer(region, masks=[masked]) as capturer:

        def cursor_after_move(x: int, y: int) -> tuple[int, int] | None:
            _run("xdotool", "mousemove", str(x), str(y))
            return capturer.grab().cursor

        assert cursor_after_move(250, 130) == (50, 30)
        assert cursor_after_move(200, 100) == (0, 0)
        assert cursor_after_move(599, 399) == (399, 299)
        assert cursor_after_move(600, 130) is None  # just right of the area
        assert cursor_after_move(10, 10) is None
        assert cursor_after_move(520, 320) is None  # over a mask: as private as the pixels
    with Capturer(MonitorSource(1)) as capturer:
        _run("xdotool", "mousemove", "731", "517")
        assert capturer.grab().cursor == (731, 517)


# -- incremental capture (XDAMAGE, and the whole-area compare without it) -----------------------


def _wait_for_damage_events(capturer: Capturer, seen: int) -> None:
    """Until the capturer has heard of drawing after its ``seen``-th damage event (damage
    travels as an X event, which can arrive a moment after the drawing is on the screen)."""

    def heard() -> bool | None:
        capturer.pending_damage()
        return True if capturer.statistics().damage_events > seen else None

    _wait_for(heard, "XDAMAGE to report the drawing")


def _coverage(changed: tuple[Rect, ...] | None, width: int, height: int) -> npt.NDArray[np.bool_]:
    covered = np.zeros((height, width), dtype=bool)
    for r in changed or ():
        covered[r.y : r.bottom, r.x : r.right] = True
    return covered


def test_incremental_capture_reads_nothing_while_nothing_is_drawn(desk: Desk) -> None:
    with Capturer(MonitorSource(1)) as capturer:
        assert capturer.damage_driven
        reference = _settled_screen(desk)
        first = capturer.grab_changes()
        assert first.changed is None  # the first frame: everything is new
        assert np.array_equal(first.pixels, reference)
        before = capturer.statistics()
        time.sleep(0.2)
        for _ in range(5):
            frame = capturer.grab_changes()
            assert frame.changed == ()
        after = capturer.statistics()
        assert after.pixels_read == before.pixels_read  # not one pixel read
        assert (after.full_reads, after.partial_reads) == (before.full_reads, 0)
        assert after.skipped == before.skipped + 5
        assert np.array_equal(frame.pixels, reference)
        assert not frame.pixels.flags.writeable


def test_incremental_capture_reads_only_what_was_drawn(desk: Desk) -> None:
    region = RegionSource(100, 100, 800, 500)
    with Capturer(region) as capturer:
        _settled_screen(desk)
        capturer.grab_changes()
        before = capturer.statistics()
        window = desk.open(x=300, y=200)
        reference = _settled_screen(desk)
        _wait_for_damage_events(capturer, before.damage_events)
        frame = capturer.grab_changes()
        assert frame.changed
        after = capturer.statistics()
        assert after.full_reads == before.full_reads
        assert after.partial_reads > before.partial_reads
        assert 0 < after.pixels_read - before.pixels_read < 800 * 500 / 2
        assert np.array_equal(frame.pixels, _crop(reference, region.rect))
        rect = window.rect()
        covered = _coverage(frame.changed, 800, 500)
        assert covered[rect.y - 100 : rect.bottom - 100, rect.x - 100 : rect.right - 100].all()
        assert covered.sum() < 800 * 500 / 2  # the window, not the area

        # And when it goes away, what was under it comes back.
        seen = capturer.statistics().damage_events
        desk.close_windows()
        reference = _settled_screen(desk)
        _wait_for_damage_events(capturer, seen)
        frame = capturer.grab_changes()
        assert np.array_equal(frame.pixels, _crop(reference, region.rect))


def test_a_look_before_a_wait_does_not_stand_for_the_next_grab(desk: Desk) -> None:
    """The presenter looks (nothing drawn), then sleeps on the descriptor; drawing that comes
    meanwhile must be read by the next grab, even when the wait ends for another reason (a
    pause, a keyframe request) without looking again."""
    region = RegionSource(100, 100, 800, 500)
    with Capturer(region) as capturer:
        _settled_screen(desk)
        capturer.grab_changes()
        assert capturer.pending_damage() == 0
        assert capturer.damage_waitable(read=False) is not None  # about to sleep
        desk.open(x=300, y=200)
        reference = _settled_screen(desk)
        frame = capturer.grab_changes()
        assert frame.changed
        assert np.array_equal(frame.pixels, _crop(reference, region.rect))


def test_incremental_capture_ignores_drawing_outside_the_area(desk: Desk) -> None:
    region = RegionSource(0, 0, 300, 200)
    with Capturer(region) as capturer:
        reference = _settled_screen(desk)
        capturer.grab_changes()
        before = capturer.statistics()
        desk.open(x=700, y=400)
        _settled_screen(desk)
        _wait_for_damage_events(capturer, before.damage_events)
        assert capturer.pending_damage() == 0
        frame = capturer.grab_changes()
        assert frame.changed == ()
        after = capturer.statistics()
        assert after.pixels_read == before.pixels_read
        assert after.skipped == before.skipped + 1
        assert np.array_equal(frame.pixels, _crop(reference, region.rect))


def test_a_full_compare_finds_drawing_that_damage_missed(desk: Desk) -> None:
    region = RegionSource(200, 150, 400, 300)
    with Capturer(region) as capturer:
        before_window = _settled_screen(desk)
        capturer.grab_changes()
        seen = capturer.statistics().damage_events
        window = desk.open(x=250, y=200)
        reference = _settled_screen(desk)
        _wait_for_damage_events(capturer, seen)
        # A stand-in for drawing that XDAMAGE does not report (some direct-rendering GL
        # clients): the damage is taken away before the capturer reads it.
        assert capturer._damage is not None
        capturer._damage.collect()
        capturer._dirty.clear()
        stale = capturer.grab_changes()
        assert stale.changed == ()
        assert np.array_equal(stale.pixels, _crop(before_window, region.rect))
        reads = capturer.statistics().full_reads
        frame = capturer.grab_changes(full=True)
        assert capturer.statistics().full_reads == reads + 1
        assert np.array_equal(frame.pixels, _crop(reference, region.rect))
        rect = window.rect()
        covered = _coverage(frame.changed, 400, 300)
        assert covered[rect.y - 150 : rect.bottom - 150, rect.x - 200 : rect.right - 200].all()
        assert covered.sum() < 400 * 300  # bands around the window, not the whole area
        assert capturer.grab_changes(full=True).changed == ()  # and nothing new after that


def test_without_damage_every_capture_compares_the_whole_area(desk: Desk) -> None:
    region = RegionSource(100, 100, 600, 400)
    with Capturer(region, damage=False) as capturer:
        assert not capturer.damage_driven
        assert capturer.pending_damage() is None
        assert capturer.damage_waitable() is None
        _settled_screen(desk)
        assert capturer.grab_changes().changed is None
        assert capturer.grab_changes().changed == ()
        window = desk.open(x=350, y=250)
        reference = _settled_screen(desk)
        frame = capturer.grab_changes()
        assert frame.changed
        assert np.array_equal(frame.pixels, _crop(reference, region.rect))
        rect = window.rect()
        covered = _coverage(frame.changed, 600, 400)
        assert covered[rect.y - 100 : rect.bottom - 100, rect.x - 100 : rect.right - 100].all()
        stats = capturer.statistics()
        assert (stats.full_reads, stats.partial_reads, stats.damage_events) == (3, 0, 0)


def test_incremental_capture_keeps_masks_black(desk: Desk) -> None:
    region = RegionSource(300, 200, 400, 300)
    masks = [Rect(400, 250, 100, 80)]
    with Capturer(region, masks=masks) as capturer:
        _settled_screen(desk)
        capturer.grab_changes()
        seen = capturer.statistics().damage_events
        desk.open(x=380, y=230)  # under the mask, and beside it
        reference = _settled_screen(desk)
        _wait_for_damage_events(capturer, seen)
        frame = capturer.grab_changes()
        assert frame.changed
        unmasked = _crop(reference, region.rect)
        assert np.array_equal(frame.pixels, _expected_masked(unmasked, region.rect, masks))
        assert frame.pixels[50:130, 100:200].sum() == 0
        # New masks: the next frame starts over (what the old mask hid may now show).
        capturer.masks = [Rect(300, 200, 10, 10)]
        frame = capturer.grab_changes()
        assert frame.changed is None
        expected = _expected_masked(unmasked, region.rect, list(capturer.masks))
        assert np.array_equal(frame.pixels, expected)


def test_small_damage_is_read_pixel_exact(desk: Desk) -> None:
    """A glyph-sized drawing is read through libxcb's GetImage (below SMALL_READ): it must give
    exactly the pixels mss gives, at the right place."""
    from core.capture.capturer import SMALL_READ

    region = RegionSource(100, 100, 600, 400)
    with Capturer(region) as capturer:
        for step, (x, y, colour) in enumerate(
            [(137, 211, "#12ab34"), (400, 300, "#fe0190"), (101, 101, "#0000ff")]
        ):
            _settled_screen(desk)
            capturer.grab_changes()  # takes in the backdrop's repaint after the last patch
            before = capturer.statistics()
            patch = tk.Toplevel(desk.root, bg=colour, borderwidth=0, highlightthickness=0)
            patch.overrideredirect(True)
            patch.geometry(f"{9 + step}x17+{x}+{y}")
            reference = _settled_screen(desk)
            _wait_for_damage_events(capturer, before.damage_events)
            frame = capturer.grab_changes()
            after = capturer.statistics()
            assert frame.changed
            assert after.full_reads == before.full_reads
            assert 0 < after.pixels_read - before.pixels_read <= SMALL_READ
            assert np.array_equal(frame.pixels, _crop(reference, region.rect))
            assert (reference[y, x] == np.frombuffer(bytes.fromhex(colour[1:]), np.uint8)).all()
            patch.destroy()
            desk.pump()


def test_pointer_moves_are_heard_not_polled(desk: Desk, display: Display) -> None:
    """With XInput 2 the capturer knows the pointer moved (device motion: XTest here, as
    pynput and real mice produce) without asking the X server every frame."""
    from Xlib.ext import xtest  # type: ignore[import-untyped]

    with Capturer(MonitorSource(1)) as capturer:
        assert capturer.pointer_events
        capturer.grab_changes()  # asks where the pointer is
        time.sleep(0.2)
        capturer.pending_damage()
        assert not capturer.pointer_moved
        mover = XDisplay(display.name)
        try:
            xtest.fake_input(mover, X.MotionNotify, x=321, y=123)
            mover.sync()

            def moved() -> bool | None:
                capturer.pending_damage()
                return True if capturer.pointer_moved else None

            _wait_for(moved, "the pointer's motion event")
            assert capturer.grab_changes().cursor == (321, 123)
            capturer.pending_damage()
            assert not capturer.pointer_moved  # asked: nothing new since
        finally:
            mover.close()
