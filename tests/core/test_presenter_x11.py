"""The presenter's damage-driven loop on a private Xvfb: real capture, real encoder, and what
it sends decoded by the real decoder and compared with an independent mss grab of the screen.

Nothing here asserts on time (docs/design.md §9): waits are "until, or fail after 10 s".
"""

from __future__ import annotations

import gc
import threading
import time
import tkinter as tk
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

import mss
import numpy as np
import numpy.typing as npt
import pytest
import trio
from PIL import Image

from core.capture import Capturer, Rect, RegionSource
from core.codec import Decoder
from core.protocol.content import Cursor, FrameUpdate, RefreshReason
from core.stream import ScreenPresenter
from core.stream import presenter as presenter_module
from core.stream.refresh import MEMBER_REFRESH_BURST, MEMBER_REFRESH_RATE, LimitReport, Outcome

WAIT_TIMEOUT = 10.0
AREA = Rect(100, 80, 640, 480)
PATCH = (200, 150, 330, 260)  # x0, y0, x1, y1 on the screen, inside AREA
OUTSIDE = (900, 600, 1000, 700)  # on the screen, outside AREA


class Display(Protocol):
    name: str
    width: int
    height: int


class Painter:
    """A full-screen Tk canvas in this process: one backdrop and rectangles we colour."""

    def __init__(self, width: int, height: int) -> None:
        self.root = tk.Tk()
        self.root.title("porthole presenter test")
        self.root.geometry(f"{width}x{height}+0+0")
        self.canvas = tk.Canvas(
            self.root, width=width, height=height, background="#203040", highlightthickness=0
        )
        self.canvas.place(x=0, y=0, width=width, height=height)
        self.pump()

    def paint(self, box: tuple[int, int, int, int], colour: str) -> None:
        self.canvas.create_rectangle(*box, fill=colour, outline="")
        self.pump()

    def pump(self) -> None:
        self.root.update()

    def destroy(self) -> None:
        self.root.destroy()


def screen(rect: Rect) -> npt.NDArray[np.uint8]:
    with mss.MSS() as sct:
        shot = sct.grab({"left": rect.x, "top": rect.y, "width": rect.width, "height": rect.height})
    return np.asarray(Image.frombytes("RGB", shot.size, shot.rgb))


@pytest.fixture
def painter(display: Display) -> Iterator[Painter]:
    p = Painter(display.width, display.height)
    yield p
    p.destroy()
    del p
    # Tk must be freed on the thread that made it: collect it here, not in whichever thread
    # (a capture worker) the garbage collector happens to run on next.
    gc.collect()


class Collector:
    """The presenter's outlet here: decodes what the presenter's thread sends."""

    def __init__(self) -> None:
        self.hold = threading.Lock()
        self.decoder = Decoder()
        self.updates: list[FrameUpdate] = []

    def send(
        self, message: FrameUpdate | Cursor, withheld: Callable[[], bool] | None = None
    ) -> bool:
        with self.hold:
            if withheld is not None and withheld():
                return False
            if isinstance(message, FrameUpdate):
                self.updates.append(message)
                self.decoder.apply(message.tiles, keyframe=message.keyframe)
            return True


class Run:
    """A presenter streaming AREA to a decoder, with Tk pumped while we wait."""

    def __init__(self, painter: Painter, capturer: Capturer) -> None:
        self.painter = painter
        self.capturer = capturer
        self.outlet = Collector()
        self.decoder = self.outlet.decoder
        self.updates = self.outlet.updates
        self.presenter = ScreenPresenter(self.outlet, capturer, fps=15)

    async def until(self, probe: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_TIMEOUT
        while not probe():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {WAIT_TIMEOUT:.0f}s waiting for {what}")
            self.painter.pump()
            await trio.sleep(0.02)

    async def idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.painter.pump()
            await trio.sleep(0.02)

    def shows(self, reference: npt.NDArray[np.uint8]) -> bool:
        with self.outlet.hold:  # not while the presenter's thread applies an update
            frame = self.decoder.frame
            return frame is not None and np.array_equal(frame, reference)


def run_presenter(
    painter: Painter, scenario: Callable[[Run], Awaitable[None]], *, damage: bool = True
) -> Run:
    with Capturer(RegionSource(AREA.x, AREA.y, AREA.width, AREA.height), damage=damage) as cap:
        run = Run(painter, cap)

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                run.presenter.set_audience(1)
                nursery.start_soon(run.presenter.run)
                reference = screen(AREA)
                await run.until(lambda: run.shows(reference), "the first keyframe")
                await scenario(run)
                nursery.cancel_scope.cancel()

        trio.run(main)
    return run


def test_a_still_screen_is_not_read_at_all_between_full_checks(
    painter: Painter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presenter_module, "FULL_CHECK_INTERVAL", 0.5)
    monkeypatch.setattr(presenter_module, "FULL_CHECK_MAX_INTERVAL", 0.5)

    async def scenario(run: Run) -> None:
        await run.idle(0.3)
        before, sent = run.capturer.statistics(), len(run.updates)
        checks = run.presenter.statistics().full_checks
        await run.idle(1.6)
        after = run.capturer.statistics()
        assert after.damage_driven
        assert after.partial_reads == before.partial_reads  # nothing drawn, nothing read
        assert len(run.updates) == sent  # and nothing sent
        done = run.presenter.statistics().full_checks - checks
        assert 2 <= done <= 5  # the safety net ran, every 0.5 s ...
        assert after.full_reads - before.full_reads == done  # ... and is all that read pixels
        assert after.pixels_read - before.pixels_read == done * AREA.width * AREA.height

    run_presenter(painter, scenario)


def test_drawing_is_read_from_damage_and_arrives(
    painter: Painter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presenter_module, "FULL_CHECK_INTERVAL", 60.0)

    async def scenario(run: Run) -> None:
        await run.idle(0.2)
        before, sent = run.capturer.statistics(), len(run.updates)
        run.painter.paint(PATCH, "#e04010")
        reference = screen(AREA)
        await run.until(lambda: run.shows(reference), "the patch to arrive")
        after = run.capturer.statistics()
        assert after.full_reads == before.full_reads  # no whole read: damage said where
        assert after.partial_reads > before.partial_reads
        assert after.pixels_read - before.pixels_read < AREA.width * AREA.height / 4
        assert not any(u.keyframe for u in run.updates[sent:])

        # Drawing outside the shared area wakes nothing that reads or sends.
        before, sent = run.capturer.statistics(), len(run.updates)
        run.painter.paint(OUTSIDE, "#10e040")
        await run.until(
            lambda: run.capturer.statistics().damage_events > before.damage_events,
            "XDAMAGE to report the drawing",
        )
        await run.idle(0.3)
        assert run.capturer.statistics().pixels_read == before.pixels_read
        assert len(run.updates) == sent

    run_presenter(painter, scenario)


def test_full_checks_back_off_while_damage_misses_nothing(
    painter: Painter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presenter_module, "FULL_CHECK_INTERVAL", 0.2)
    monkeypatch.setattr(presenter_module, "FULL_CHECK_MAX_INTERVAL", 0.8)

    async def scenario(run: Run) -> None:
        await run.idle(2.0)  # 0.2, 0.4, then 0.8 s apart
        checks = run.presenter.statistics().full_checks
        await run.idle(2.4)
        done = run.presenter.statistics().full_checks - checks
        assert 2 <= done <= 4  # every 0.8 s now, not every 0.2 s
        # Drawing damage reports does not count as missed, and keeps the pace.
        run.painter.paint(PATCH, "#a04010")
        reference = screen(AREA)
        await run.until(lambda: run.shows(reference), "the patch to arrive")
        await run.idle(1.0)
        assert run.presenter.statistics().damage_missed == 0

    run_presenter(painter, scenario)


def test_the_full_check_catches_drawing_that_damage_missed(
    painter: Painter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presenter_module, "FULL_CHECK_INTERVAL", 0.5)

    async def scenario(run: Run) -> None:
        await run.idle(0.2)
        damage = run.capturer._damage
        assert damage is not None
        # Hold the capture lock so the presenter's thread does not use the X connection
        # meanwhile, then draw and take the damage away before the presenter can see it: a
        # stand-in for drawing XDAMAGE does not report (some direct-rendering GL clients).
        with run.presenter._capturing:
            before = run.capturer.statistics()
            run.painter.paint(PATCH, "#4010e0")
            deadline = time.monotonic() + WAIT_TIMEOUT
            while not damage.pending():
                assert time.monotonic() < deadline, "XDAMAGE never reported the drawing"
                time.sleep(0.005)
            damage.collect()
            run.capturer._dirty.clear()
        reference = screen(AREA)
        await run.until(lambda: run.shows(reference), "the full check to find the patch")
        after = run.capturer.statistics()
        assert after.partial_reads == before.partial_reads  # not found through damage
        assert after.full_reads > before.full_reads
        assert run.presenter.statistics().damage_missed == 1

    run_presenter(painter, scenario)


def test_without_damage_the_presenter_compares_whole_frames(painter: Painter) -> None:
    async def scenario(run: Run) -> None:
        assert not run.presenter.statistics().damage_driven
        run.painter.paint(PATCH, "#10a0a0")
        reference = screen(AREA)
        await run.until(lambda: run.shows(reference), "the patch to arrive")
        stats = run.capturer.statistics()
        assert stats.partial_reads == 0
        assert stats.full_reads >= 2

    run_presenter(painter, scenario, damage=False)


def test_once_pause_returns_nothing_more_is_sent_until_resumed(painter: Painter) -> None:
    """The screen keeps changing; the moment ``set_paused(True)`` returns, whatever the
    presenter's thread was doing, nothing more reaches the outlet. Resuming sends a keyframe."""
    colours = ["#e04010", "#10e040", "#1040e0", "#e0e010"]

    async def scenario(run: Run) -> None:
        for step in range(40):  # busy: the thread is capturing, encoding or sending
            run.painter.paint(PATCH, colours[step % len(colours)])
            await trio.sleep(0.005)
        run.presenter.set_paused(True)
        sent = len(run.updates)
        for step in range(40):
            run.painter.paint(PATCH, colours[step % len(colours)])
            await trio.sleep(0.01)
        assert len(run.updates) == sent
        assert run.presenter.statistics().paused
        run.presenter.set_paused(False)
        reference = screen(AREA)
        await run.until(lambda: run.shows(reference), "the screen after resuming")
        assert any(u.keyframe for u in run.updates[sent:])

    run_presenter(painter, scenario)


def test_after_stop_nothing_is_sent_and_run_returns(painter: Painter) -> None:
    async def scenario(run: Run) -> None:
        run.painter.paint(PATCH, "#e04010")
        run.presenter.stop()
        sent = len(run.updates)
        for colour in ("#10e040", "#1040e0", "#e0e010"):
            run.painter.paint(PATCH, colour)
            await run.idle(0.1)
        assert len(run.updates) == sent
        # run() lets go of its doorbell once the presenter's thread has ended.
        await run.until(lambda: run.presenter._doorbell is None, "run() to return")

    run_presenter(painter, scenario)


def test_one_members_gaps_leave_the_rate_alone_most_of_the_audiences_halve_it(
    painter: Painter,
) -> None:
    """docs/design.md §6.5: a gap reported by one of four viewers is that viewer's link; the
    presenter slows down only when most of its audience loses updates."""

    async def scenario(run: Run) -> None:
        presenter = run.presenter
        presenter.set_audience(4)
        target = presenter.fps_target
        for member in (11, 11, 12):
            presenter.request_keyframe(RefreshReason.GAP, member)
            assert presenter.statistics().fps_now == target
        presenter.request_keyframe(RefreshReason.GAP, 13)  # three of four
        assert presenter.statistics().fps_now == target / 2

    run_presenter(painter, scenario)


def test_a_flood_of_requests_costs_at_most_the_members_budget_in_keyframes(
    painter: Painter,
) -> None:
    """Ten requests at once from one member: the first ones within the client's own pace are
    granted up to the member's budget, the one after waits for it (and is then answered),
    the rest are dropped, counted and reported once."""

    async def scenario(run: Run) -> None:
        presenter = run.presenter
        presenter.set_audience(3)
        keyframes = presenter.statistics().keyframes_sent
        started = time.monotonic()
        answers = [presenter.request_keyframe(RefreshReason.USER, 21) for _ in range(10)]
        outcomes = [a.outcome for a in answers]
        assert outcomes[:2] == [Outcome.GRANTED, Outcome.GRANTED]
        assert Outcome.PENDING in outcomes
        assert outcomes.count(Outcome.LIMITED) >= 5
        assert [a.report for a in answers if a.report is not None] == [LimitReport(21, 1)]

        def settled() -> bool:
            stats = presenter.statistics().refreshes
            return stats is not None and stats.pending == 0

        await run.until(settled, "the waiting request to be granted")
        await run.until(
            lambda: presenter.statistics().keyframes_sent > keyframes, "a keyframe for it"
        )
        await run.idle(0.5)
        elapsed = time.monotonic() - started
        sent = presenter.statistics().keyframes_sent - keyframes
        assert 1 <= sent <= MEMBER_REFRESH_BURST + 1 + elapsed * MEMBER_REFRESH_RATE
        stats = presenter.statistics().refreshes
        assert stats is not None
        assert stats.limited == outcomes.count(Outcome.LIMITED)

    run_presenter(painter, scenario)
