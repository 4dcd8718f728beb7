"""The client app as a participant, with its real viewer window, on a private Xvfb.

Nothing of ours is mocked. A real relay runs on a thread; the presenter is
``porthole present --headless`` in its own process, sharing a screen region where a Tk window
(``pattern_window.py``, its own process) paints flat coloured blocks and reports the clicks it
gets. The app joins as Ana with Pilot and opens the viewer window process exactly as in
production. What the window shows is grabbed with mss and compared with the region itself;
input is made with xdotool (XTEST) as a person's would be, and the presenter's JSON lines
(``stats``, ``consent``, ``control``), the X pointer and the pattern window's clicks say what
was injected.

The window and the presenter share one X server here, so the viewer window must stay off the
shared region (the picture would contain itself): the region is in the bottom right, and the
window opens in the top left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import mss
import numpy as np
import numpy.typing as npt
import pytest
from adminkit import RelayThread
from appkit import SESSION_PASSWORD, SIZE, on_screen, target
from pilotkit import run, until
from procs import Proc, command
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, add_account, make_config
from textual.pilot import Pilot
from xvfb import Geometry, parse_xwininfo
from xvfb import require_tool as _tool

from core.known_relays import KnownRelays
from core.protocol.content import ContentType
from core.protocol.framing import FrameBuffer, decode_payload
from core.protocol.messages import Sealed
from tui.app.app import PortholeApp, Start
from tui.app.dialogs import ErrorDialog
from tui.app.screens.join import JoinScreen
from tui.app.screens.session import SessionScreen
from tui.viewer.layout import Layout
from tui.viewer.link import ViewerLink
from tui.viewer.window import CONTROL_COLOUR

T = TypeVar("T")
U8Array = npt.NDArray[np.uint8]

PATTERN = Path(__file__).with_name("pattern_window.py")
#: The shared region, where the pattern window sits (no window manager: geometry is exact).
AREA = (800, 440, 400, 300)
#: The viewer window's title while the headless presenter (named after its account) presents.
TITLE = f"porthole — {ORGANIZER} presenting"
#: Where the pointer waits: on neither the viewer window nor the shared region, so no
#: presenter cursor is drawn over the picture.
PARK = (5, 795)
WAIT = 10.0


# ---------------------------------------------------------------------------------------------
# X helpers


async def x(tool: str, *args: str, check: bool = True) -> str:
    """Run an X tool off the event loop; its stdout ("" when it failed and ``check`` is off)."""
    argv = [_tool(tool), *args]
    result = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=10, check=False
    )
    if check:
        assert result.returncode == 0, f"{tool} {args}: {result.stderr}"
    return result.stdout if result.returncode == 0 else ""


async def pointer() -> tuple[int, int]:
    match = re.search(r"x:(\d+) y:(\d+)", await x("xdotool", "getmouselocation"))
    assert match is not None
    return int(match.group(1)), int(match.group(2))


async def viewer_window() -> int | None:
    """The viewer window's X id, found by its title; None while there is none."""
    # xdotool's regular expressions do not match the em dash: search by the ASCII end of the
    # title, then compare whole names.
    found = await x("xdotool", "search", "--name", f"{ORGANIZER} presenting$", check=False)
    ids = [
        int(window)
        for window in found.split()
        if (await x("xdotool", "getwindowname", window, check=False)).strip() == TITLE
    ]
    assert len(ids) <= 1, f"more than one viewer window: {ids}"
    return ids[0] if ids else None


async def geometry(window: int) -> Geometry | None:
    """The window's on-screen rectangle, or None when it is gone or unmapped."""
    return parse_xwininfo(await x("xwininfo", "-id", str(window), check=False))


def _grab(left: int, top: int, width: int, height: int) -> U8Array:
    with mss.MSS() as sct:
        shot = sct.grab({"left": left, "top": top, "width": width, "height": height})
    return np.frombuffer(shot.rgb, np.uint8).reshape(height, width, 3)


async def grab(left: int, top: int, width: int, height: int) -> U8Array:
    return await asyncio.to_thread(_grab, left, top, width, height)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = WAIT
) -> T:
    """Poll ``probe`` until it returns something other than None (or False); return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


AMBER = np.array(_rgb(CONTROL_COLOUR), np.uint8)


# ---------------------------------------------------------------------------------------------
# The processes: relay (thread), pattern window, headless presenter


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayThread]:
    data_dir = tmp_path / "data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    with RelayThread(make_config(data_dir)) as running:
        yield running


@pytest.fixture
def pattern(display: object) -> Iterator[Proc]:
    proc = Proc(sys.executable, str(PATTERN), *map(str, AREA))
    try:
        proc.expect(r"^ready$")
        yield proc
    finally:
        proc.popen.kill()
        proc.popen.wait()


class Presenter:
    """``porthole present --headless``, its JSON lines searchable from any point on."""

    def __init__(self, proc: Proc) -> None:
        self.proc = proc
        self.session_id = ""

    def mark(self) -> int:
        """A point in the output: :meth:`wait` with ``since=mark`` looks only after it."""
        return len(self.proc.lines)

    def wait(
        self,
        name: str,
        where: Callable[[dict[str, Any]], bool] = lambda _: True,
        *,
        since: int = 0,
        count: int = 1,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        """The ``count``-th event ``name`` matching ``where`` printed after ``since`` (blocks)."""
        deadline = time.monotonic() + timeout
        checked, found = since, 0
        while True:
            lines = self.proc.lines
            for line in lines[checked:]:
                if not line.startswith("{"):
                    continue
                event: dict[str, Any] = json.loads(line)
                if event.get("event") == name and where(event):
                    found += 1
                    if found == count:
                        return event
            checked = len(lines)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"the presenter never printed {name}; output:\n" + "\n".join(lines)
                )
            self.proc.expect("", timeout=remaining)  # one more line (fails at EOF)

    async def event(
        self,
        name: str,
        where: Callable[[dict[str, Any]], bool] = lambda _: True,
        *,
        since: int = 0,
        count: int = 1,
    ) -> dict[str, Any]:
        return await asyncio.to_thread(self.wait, name, where, since=since, count=count)

    async def stats_after(self, mark: int) -> dict[str, Any]:
        """The second stats line after ``mark``: a whole stats interval after it."""
        return await self.event("stats", since=mark, count=2)

    def signal(self, signum: signal.Signals) -> None:
        self.proc.signal(signum)


@pytest.fixture
def presenter(relay: RelayThread, pattern: Proc, tmp_path: Path) -> Iterator[Presenter]:
    info = relay.info
    assert info is not None
    password_file = tmp_path / "session-password"
    password_file.write_text(SESSION_PASSWORD + "\n")
    proc = Proc(
        command("porthole"), "present", "--headless",
        "--relay", f"127.0.0.1:{info.port}", "--fingerprint", info.fingerprint,
        "--user", ORGANIZER, "--password-stdin", "--session-password-file", str(password_file),
        "--region", ",".join(map(str, AREA)), "--allow-control-from", "Ana", "--stats",
        stdin_text=ORGANIZER_PASSWORD,
    )  # fmt: skip
    try:
        running = Presenter(proc)
        running.session_id = str(running.wait("session")["id"])
        yield running
    finally:
        if proc.popen.poll() is None:
            proc.signal(signal.SIGINT)
            try:
                proc.finish(timeout=10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()


class InputTap:
    """Counts the sealed input events that reach the relay, from what it reads off the wire."""

    def __init__(self, relay: RelayThread) -> None:
        self._inbound: dict[int, bytearray] = {}
        assert relay.info is not None
        relay.info.relay.wiretap = self._tap

    def _tap(self, conn_id: int, direction: str, data: bytes) -> None:  # on the relay thread
        if direction == "in":
            self._inbound.setdefault(conn_id, bytearray()).extend(data)

    def inputs(self) -> int:
        count = 0
        for stream in list(self._inbound.values()):
            frames = FrameBuffer()
            frames.feed(bytes(stream))
            while (payload := frames.next_payload()) is not None:
                message = decode_payload(payload)
                if isinstance(message, Sealed):
                    count += message.header.content_type is ContentType.INPUT_EVENT
        return count


# ---------------------------------------------------------------------------------------------
# The app joining as Ana, and its viewer window


@dataclass
class Watching:
    app: PortholeApp
    pilot: Pilot[Any]
    screen: SessionScreen
    window: int
    geometry: Geometry

    @property
    def link(self) -> ViewerLink:
        link = self.app.driver.viewer
        assert link is not None, "the app has no viewer window"
        return link

    async def shot(self) -> U8Array:
        g = self.geometry
        return await grab(g.x, g.y, g.width, g.height)

    async def wait_pixels(self, check: Callable[[U8Array], bool], what: str) -> U8Array:
        shots: list[U8Array] = []

        async def probe() -> bool:
            shots.append(await self.shot())
            return check(shots[-1])

        await eventually(probe, what)
        return shots[-1]

    def at(self, fx: int, fy: int) -> tuple[str, str]:
        """The screen point over frame pixel ``fx, fy`` (as xdotool arguments)."""
        g = self.geometry
        cx, cy = Layout.fit(AREA[2], AREA[3], g.width, g.height).from_frame(fx, fy)
        return str(g.x + cx), str(g.y + cy)


@asynccontextmanager
async def ana_watching(
    relay: RelayThread, tmp_path: Path, presenter: Presenter
) -> AsyncIterator[Watching]:
    """The app, joined as Ana, with the viewer window showing the whole frame (1:1)."""
    await x("xdotool", "mousemove", *map(str, PARK))
    start = Start(relay=target(relay), session_id=presenter.session_id, name="Ana")
    app = PortholeApp(
        start,
        known_relays=KnownRelays(tmp_path / "known_relays"),
        viewer_env=dict(os.environ),  # DISPLAY is the private Xvfb's
    )
    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, JoinScreen)
        await pilot.press(*SESSION_PASSWORD, "enter")
        screen = await on_screen(pilot, SessionScreen)
        window = await eventually(viewer_window, f"a window titled {TITLE!r}")

        async def full_size() -> Geometry | None:
            g = await geometry(window)
            return g if g is not None and (g.width, g.height) == AREA[2:] else None

        # The window opens at the frame's own size once the first frame is in.
        g = await eventually(full_size, "the viewer window at the frame's size")
        assert not g.overlaps(*AREA), f"the viewer window {g} covers the shared region"
        yield Watching(app, pilot, screen, window, g)


# ---------------------------------------------------------------------------------------------
# The scenarios


def test_the_viewer_window_shows_the_presenters_region(
    relay: RelayThread, tmp_path: Path, presenter: Presenter
) -> None:
    async def scenario() -> None:
        async with ana_watching(relay, tmp_path, presenter) as ana:
            region = await grab(*AREA)
            assert len(np.unique(region.reshape(-1, 3), axis=0)) > 100, "no pattern to compare"
            await ana.wait_pixels(lambda shot: np.array_equal(shot, region), "the region 1:1")
            assert ana.link.running
            assert ana.screen.view is not None
            assert not ana.screen.view.i_control

    run(scenario)


def test_pausing_shows_the_paused_overlay_and_resuming_the_frame_again(
    relay: RelayThread, tmp_path: Path, presenter: Presenter
) -> None:
    async def scenario() -> None:
        async with ana_watching(relay, tmp_path, presenter) as ana:
            region = await grab(*AREA)
            await ana.wait_pixels(lambda shot: np.array_equal(shot, region), "the frame")

            presenter.signal(signal.SIGUSR1)
            await presenter.event("paused")
            await until(
                ana.pilot,
                lambda: ana.screen.view is not None and ana.screen.view.paused,
                "the roster says paused",
            )
            height = ana.geometry.height

            def paused(shot: U8Array) -> bool:
                same = np.all(shot == region, axis=2).mean()
                dimmed = int(shot[:40].max()) < 255 * 0.35  # away from the sentence
                band = shot[height // 2 - 12 : height // 2 + 12]
                box = np.all(band == 0, axis=2).mean() > 0.3
                text = bool(np.any(np.all(band >= 200, axis=2)))
                return bool(same < 0.1 and dimmed and box and text)

            await ana.wait_pixels(paused, "the paused overlay over a dimmed frame")

            presenter.signal(signal.SIGUSR1)
            await presenter.event("resumed")
            await ana.wait_pixels(lambda shot: np.array_equal(shot, region), "the frame again")

    run(scenario)


def test_the_end_of_the_session_closes_the_viewer_window(
    relay: RelayThread, tmp_path: Path, presenter: Presenter
) -> None:
    async def scenario() -> None:
        async with ana_watching(relay, tmp_path, presenter) as ana:
            link = ana.link
            assert link.running

            presenter.signal(signal.SIGINT)  # the presenter ends the session for everyone
            error = await on_screen(ana.pilot, ErrorDialog)
            assert error.title_text == "Session over"

            async def window_gone() -> bool:
                return await viewer_window() is None and await geometry(ana.window) is None

            await eventually(window_gone, "the viewer window to disappear", timeout=5)

            async def exited() -> bool:
                return link.returncode is not None

            await eventually(exited, "the viewer process to exit", timeout=5)
            assert link.returncode == 0, link.stderr_tail
            assert "Traceback" not in link.stderr_tail
            assert ana.app.driver.viewer is None

        ended = await presenter.event("ended")
        assert ended["code"] is None or "end" in str(ended["code"]), ended
        code = await asyncio.to_thread(presenter.proc.finish)
        assert code == 0, "\n".join(presenter.proc.lines)

    run(scenario)


async def clicks(pattern: Proc, wanted: int, timeout: float) -> list[str]:
    """Up to ``wanted`` click lines from the pattern window, waiting at most ``timeout``."""

    def read() -> list[str]:
        found: list[str] = []
        deadline = time.monotonic() + timeout
        with contextlib.suppress(AssertionError):
            while len(found) < wanted:
                remaining = deadline - time.monotonic()
                found.append(pattern.expect(r"^b[pr] .*", max(remaining, 0.001)).group(0))
        return found

    return await asyncio.to_thread(read)


def test_input_reaches_the_presenter_only_while_control_is_granted(
    relay: RelayThread, tmp_path: Path, presenter: Presenter, pattern: Proc
) -> None:
    async def scenario() -> None:
        tap = InputTap(relay)
        async with ana_watching(relay, tmp_path, presenter) as ana:
            # Without control the window does not even listen: nothing is sent, nothing lands.
            mark = presenter.mark()
            here = ana.at(100, 50)
            await x("xdotool", "mousemove", *here, "mousedown", "1", "mouseup", "1")
            stats = await presenter.stats_after(mark)
            assert tap.inputs() == 0, "input left the app without control"
            assert stats["controller"] is None
            assert (stats["input_injected"], stats["input_dropped"]) == (0, {}), stats
            assert await pointer() == tuple(map(int, here)), "the pointer was moved"
            assert await clicks(pattern, 1, 0.3) == []

            # Ana asks (c); the presenter's own policy grants it; the window shows control.
            mark = presenter.mark()
            await ana.pilot.press("c")
            consent = await presenter.event("consent", since=mark)
            assert (consent["name"], consent["answer"]) == ("Ana", "granted"), consent
            granted = await presenter.event("control", since=mark)
            assert (granted["granted"], granted["name"]) == (True, "Ana"), granted
            await until(
                ana.pilot,
                lambda: ana.screen.view is not None and ana.screen.view.i_control,
                "Ana holds control",
            )
            middle = ana.geometry.height // 2
            await ana.wait_pixels(
                lambda shot: bool(np.all(shot[middle, 1] == AMBER)), "the control border"
            )

            # A move over frame pixel (120, 70) brings the presenter's pointer there.
            await x("xdotool", "mousemove", *ana.at(120, 70))
            expected = (AREA[0] + 120, AREA[1] + 70)

            async def pointer_there() -> bool:
                return await pointer() == expected

            await eventually(pointer_there, f"the pointer at {expected}")

            # A click over (260, 180): the pattern window gets it there, from the presenter.
            await x("xdotool", "mousemove", *ana.at(260, 180), "mousedown", "1", "mouseup", "1")
            seen = await clicks(pattern, 2, WAIT)
            assert seen == ["bp 1 260 180", "br 1 260 180"], seen
            assert await pointer() == (AREA[0] + 260, AREA[1] + 180)
            stats = await presenter.stats_after(presenter.mark())
            assert stats["controller"] is not None
            assert stats["input_injected"] >= 4, stats  # two moves, a press, a release
            assert tap.inputs() >= stats["input_injected"]

            # The presenter revokes (SIGUSR2): the border goes and nothing lands any more.
            mark = presenter.mark()
            presenter.signal(signal.SIGUSR2)
            revoked = await presenter.event("control", since=mark)
            assert (revoked["granted"], revoked["reason"]) == (False, "signal"), revoked
            await until(
                ana.pilot,
                lambda: ana.screen.view is not None and not ana.screen.view.i_control,
                "control ended",
            )
            await ana.wait_pixels(
                lambda shot: not np.all(shot[middle, 1] == AMBER), "the border to go"
            )
            before = (await presenter.event("stats", since=presenter.mark()))["input_injected"]
            sent = tap.inputs()
            mark = presenter.mark()
            here = ana.at(40, 200)
            await x("xdotool", "mousemove", *here, "mousedown", "1", "mouseup", "1")
            stats = await presenter.stats_after(mark)
            assert stats["controller"] is None
            assert stats["input_injected"] == before, stats
            assert tap.inputs() == sent, "input left the app after control ended"
            assert await pointer() == tuple(map(int, here)), "the pointer was moved"
            assert await clicks(pattern, 1, 0.3) == []

    run(scenario)
