"""The presenter's loop: capture → (masks, inside the capturer) → encode → seal → send.

It captures at most at a target frame rate and does nothing at all for a frame whose pixels did
not change (the encoder answers ``None`` and nothing is sent).

**Damage-driven** (X servers with XDAMAGE, i.e. all of them in practice): the loop sleeps until
the X server reports drawing inside the shared area, then reads and encodes only the damaged
rectangles (:meth:`~core.capture.Capturer.grab_changes`, with the encoder told where to look).
A still screen costs no capture at all; a keystroke costs one glyph's worth. The pointer, which
draws no damage, is asked for only after the X server reported it moving (XInput 2 motion
events; without them it is polled at the frame rate while it moves and at :data:`IDLE_FPS`
otherwise); the whole area is read and compared every :data:`FULL_CHECK_INTERVAL` to
:data:`FULL_CHECK_MAX_INTERVAL` seconds anyway, for drawing that damage misses. Small damage is
read and encoded right on the trio thread, and so is the periodic compare (every wake-up of a
thread, and of the loop after it, costs more CPU than that work: measured, a trio wake-up is
~0.25 ms of CPU here); large changes and keyframes go to a worker thread, one at a time (the
capturer is not thread-safe and the encoder is stateful), so the trio loop stays free for the
network. Without XDAMAGE every capture reads the whole area in a worker thread (comparing raw
bytes before converting anything).

Keyframes go out on the first frame, on request (a viewer's
``RefreshRequest``), on a new epoch (a member joined: it cannot decode deltas of an earlier
reference) and whenever the captured size changes (a followed window was resized).

With nobody watching, the loop does not capture at all; the first viewer gets a keyframe.

Pause ("hide screen") is local first: the loop stops capturing the moment ``set_paused(True)``
is called, before any message is sent, so no pixel leaves after the person asked to hide.

Idle (without XDAMAGE): after a second without a changed pixel the loop captures at 5 fps until
something changes (then at once back to the target rate), so a still screen costs next to nothing.

Burst: while the screen changes continuously (updates at most :data:`BURST_GAP` target frame
intervals apart), the rate rises to :data:`BURST_FACTOR` times the target (at most
:data:`MAX_FPS`), so a scrolling terminal or a dragged window moves smoothly at the default
15 fps; it drops back to the target once the changes pause that long, and never bursts during a
back-off.

Back-off: every refresh request for a *gap* means a viewer lost updates (the relay dropped them
for it); the loop halves its frame rate for a while, then climbs back to the target.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from core.capture import CapturedFrame, Capturer
from core.codec import EncodedUpdate, Encoder
from core.protocol.content import Cursor, FrameUpdate, RefreshReason
from core.stream.doorbell import Doorbell

#: A refresh storm (many viewers, or a buggy one) must not turn every frame into a keyframe.
MIN_KEYFRAME_INTERVAL = 0.5
#: How long a drop-triggered slow-down lasts before the rate climbs back.
BACKOFF_SECONDS = 3.0
MIN_FPS = 2.0
MAX_FPS = 30.0
#: After this long without a changed pixel (without XDAMAGE), or without a pointer move (with
#: it), capture (or poll the pointer) slowly until something changes.
IDLE_AFTER = 1.0
IDLE_FPS = 5.0
#: With XDAMAGE: how often the whole area is read and compared anyway, for drawing that damage
#: does not report (e.g. some direct-rendering GL clients). The interval doubles, up to
#: FULL_CHECK_MAX_INTERVAL, after each check that found nothing damage had not reported, and
#: drops back as soon as one finds something: a screen whose drawing damage reports completely
#: is read whole every few seconds (a 1280x800 read and compare touches 8 MB), one where it
#: misses drawing every second.
FULL_CHECK_INTERVAL = 1.0
FULL_CHECK_MAX_INTERVAL = 4.0
#: Damage up to this many pixels is read and encoded on the trio thread.
INLINE_PIXELS = 64 * 1024
#: The periodic whole-area check reads and compares on the trio thread up to this area (about
#: 1 ms: cheaper than waking a worker thread and the loop again); what it finds changed is
#: encoded there too only when small.
INLINE_READ = 1920 * 1200
#: While the screen changes continuously, capture up to this many times the target rate.
BURST_FACTOR = 2.0
#: "Continuously": updates at most this many target frame intervals apart.
BURST_GAP = 1.5


@dataclass(frozen=True, slots=True)
class PresenterStatistics:
    frames_captured: int
    updates_sent: int
    keyframes_sent: int
    bytes_sent: int
    unchanged_frames: int
    paused: bool
    fps_target: float
    fps_now: float
    last_encode_ms: float
    #: Whether captures follow XDAMAGE (see the module docstring).
    damage_driven: bool = False
    #: Whole-area reads done as the periodic check (damage-driven only).
    full_checks: int = 0
    #: Of those, how many found a change damage had not reported.
    damage_missed: int = 0


class ScreenPresenter:
    """Streams one capture source to the session as sealed ``FrameUpdate`` messages."""

    def __init__(
        self,
        send: Callable[[FrameUpdate | Cursor], Awaitable[None]],
        capturer: Capturer,
        *,
        fps: float = 15.0,
    ) -> None:
        self._send = send
        self._capturer = capturer
        self.fps_target = min(MAX_FPS, max(MIN_FPS, fps))
        self._fps_now = self.fps_target
        self._encoder: Encoder | None = None
        self._want_keyframe = True
        self._last_keyframe = -math.inf
        self._backoff_until = -math.inf
        self._paused = False
        self._resumed = trio.Event()
        self._resumed.set()
        #: Nobody to show the screen to: capture nothing at all (idle costs next to nothing).
        self._audience = 0
        self._audience_arrived = trio.Event()
        self._limiter = trio.CapacityLimiter(1)
        self._seq = 0
        self._last_cursor: tuple[int, int] | None = None
        self._frames = 0
        self._updates = 0
        self._keyframes = 0
        self._bytes = 0
        self._unchanged = 0
        self._last_encode_ms = 0.0
        self._last_change = -math.inf
        self._last_motion = -math.inf
        self._full_checks = 0
        self._damage_missed = 0
        self._full_check_interval = FULL_CHECK_INTERVAL
        self._next_full_check = -math.inf
        self._next_pointer_poll = -math.inf
        #: Captures in a row that found a change less than a frame interval after the last.
        self._streak = 0
        #: Ends the wait for damage early when a keyframe request, pause or audience change
        #: comes in (created when the loop starts: it holds descriptors).
        self._doorbell: Doorbell | None = None
        #: Screen rectangle (x, y, width, height) of the last captured frame: where a
        #: controller's input lands, and the frame size its coordinates refer to.
        self._area: tuple[int, int, int, int] | None = None

    # -- control (called from trio tasks) -------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Hide or show the screen. Hiding takes effect before the next capture."""
        if paused == self._paused:
            return
        self._paused = paused
        if paused:
            self._resumed = trio.Event()
        else:
            self._want_keyframe = True  # viewers' pictures are stale after a pause
            self._resumed.set()
        self._poke()

    def set_audience(self, viewers: int) -> None:
        """How many members watch; with none, the loop sleeps instead of capturing."""
        if viewers > 0 and self._audience == 0:
            self._want_keyframe = True
            self._audience_arrived.set()
        elif viewers == 0 and self._audience > 0:
            self._audience_arrived = trio.Event()
        self._audience = viewers
        self._poke()

    def request_keyframe(self, reason: RefreshReason = RefreshReason.USER) -> None:
        self._want_keyframe = True
        if reason is RefreshReason.GAP:
            self._backoff_until = trio.current_time() + BACKOFF_SECONDS
            self._fps_now = max(MIN_FPS, self._fps_now / 2)
            self._streak = 0
        self._poke()

    def _poke(self) -> None:
        """End the loop's wait for damage now (something it must act on has changed)."""
        if self._doorbell is not None:
            self._doorbell.ring()

    @property
    def area(self) -> tuple[int, int, int, int] | None:
        """The shared screen rectangle as last captured, or None before the first frame."""
        return self._area

    def _hidden(self) -> bool:
        """Whether pause is on right now (re-read after every await)."""
        return self._paused

    def statistics(self) -> PresenterStatistics:
        return PresenterStatistics(
            frames_captured=self._frames,
            updates_sent=self._updates,
            keyframes_sent=self._keyframes,
            bytes_sent=self._bytes,
            unchanged_frames=self._unchanged,
            paused=self._paused,
            fps_target=self.fps_target,
            fps_now=self._fps_now,
            last_encode_ms=self._last_encode_ms,
            damage_driven=self._capturer.damage_driven,
            full_checks=self._full_checks,
            damage_missed=self._damage_missed,
        )

    # -- the loop --------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._doorbell = Doorbell()
        try:
            task_status.started()
            await self._loop()
        finally:
            self._doorbell.close()
            self._doorbell = None

    async def _loop(self) -> None:
        damage_driven = self._capturer.damage_driven
        pending: int | None = None  # damaged pixels, when the wait already asked
        while True:
            if self._paused:
                await self._resumed.wait()
                continue
            if self._audience == 0:
                await self._audience_arrived.wait()
                continue
            tick = trio.current_time()
            now = tick
            keyframe = self._want_keyframe and now - self._last_keyframe >= MIN_KEYFRAME_INTERVAL
            full = keyframe or not damage_driven or tick >= self._next_full_check
            inline = False
            check = full and damage_driven and not keyframe
            if full:
                if check:
                    self._full_checks += 1
                    # What damage knows right now, to tell whether the check finds more.
                    pending = self._capturer.pending_damage()
                self._next_full_check = tick + self._full_check_interval
            else:
                if pending is None:
                    pending = self._capturer.pending_damage()
                inline = pending is not None and pending <= INLINE_PIXELS
            pointer = full or not damage_driven or self._pointer_due(tick)
            if pointer:
                moving = tick - self._last_motion <= IDLE_AFTER
                self._next_pointer_poll = tick + 1.0 / (self._rate() if moving else IDLE_FPS)
            if check:
                inline = self._area is not None and self._area[2] * self._area[3] <= INLINE_READ
            if inline:
                frame = self._capture(full, pointer)
                if _changed_pixels(frame) <= INLINE_PIXELS:
                    update = self._encode(frame, keyframe)
                else:
                    update = await trio.to_thread.run_sync(
                        self._encode, frame, keyframe, limiter=self._limiter
                    )
            else:
                frame, update = await trio.to_thread.run_sync(
                    self._capture_and_encode, keyframe, full, pointer, limiter=self._limiter
                )
            if check:
                self._pace_full_checks(tick, missed=pending == 0 and bool(frame.changed))
            pending = None
            if self._hidden():
                continue  # paused while we were capturing: this frame never leaves
            if update is not None:
                continuous = tick - self._last_change <= BURST_GAP / self.fps_target
                self._streak = self._streak + 1 if continuous else 1
                self._last_change = tick
                await self._send_update(frame, update)
            await self._send_cursor(frame, tick)
            self._adapt_rate(trio.current_time())
            if damage_driven:
                pending = await self._wait_for_damage(tick)
            else:
                idle = tick - self._last_change > IDLE_AFTER and not self._want_keyframe
                await trio.sleep_until(
                    tick + 1.0 / (min(IDLE_FPS, self._fps_now) if idle else self._rate())
                )

    def _rate(self) -> float:
        """Captures a second right now: the target (or less, backing off), more in a burst."""
        changing = trio.current_time() - self._last_change <= BURST_GAP / self.fps_target
        if self._streak >= 2 and changing and self._fps_now >= self.fps_target:
            return max(self._fps_now, min(MAX_FPS, self.fps_target * BURST_FACTOR))
        return self._fps_now

    def _pace_full_checks(self, tick: float, *, missed: bool) -> None:
        """Set when the next whole-area check is due (see :data:`FULL_CHECK_INTERVAL`)."""
        if missed:
            self._damage_missed += 1
            self._full_check_interval = FULL_CHECK_INTERVAL
        else:
            self._full_check_interval = min(FULL_CHECK_MAX_INTERVAL, 2 * self._full_check_interval)
        self._next_full_check = tick + self._full_check_interval

    def _pointer_due(self, now: float) -> bool:
        """Whether to ask where the pointer is: after the X server reported it moving (XInput
        2 motion events), else at the polling pace."""
        if self._capturer.pointer_events:
            return self._capturer.pointer_moved
        return now >= self._next_pointer_poll

    def _must_act(self) -> bool:
        return self._want_keyframe or self._paused or self._audience == 0

    async def _wait_for_damage(self, tick: float) -> int | None:
        """Sleep until the next capture is due: damage inside the area (but not sooner than a
        frame interval after ``tick``), the pointer poll, the periodic full check, or a keyframe
        request / pause / audience change, whichever comes first. Returns how many pixels are
        damaged when it last asked (None: it did not)."""
        earliest = tick + 1.0 / self._rate()
        capturer = self._capturer
        polled = math.inf if capturer.pointer_events else self._next_pointer_poll
        deadline = max(earliest, min(polled, self._next_full_check))
        pending: int | None = 0
        while True:
            if self._must_act():
                return None
            fd = capturer.damage_waitable()  # reads what the server sent: cheap when nothing
            if fd is None:  # something was drawn: is it inside the area?
                pending = capturer.pending_damage()
                if pending:
                    break
                # Drawn outside the area. Let other tasks run before looking again: drawing
                # that never stops there must not keep this loop from ever yielding.
                await trio.lowlevel.checkpoint()
                continue
            now = trio.current_time()
            if self._pointer_due(now):
                break
            if now >= deadline:
                return pending
            assert self._doorbell is not None
            await self._doorbell.wait(fd, deadline)
        if trio.current_time() < earliest:
            # Something was drawn sooner than the rate allows: wait, then take what came since.
            await trio.sleep_until(earliest)
            if self._must_act():
                return None
            pending = capturer.pending_damage()
        return pending

    def _capture_and_encode(
        self, keyframe: bool, full: bool, pointer: bool = True
    ) -> tuple[CapturedFrame, EncodedUpdate | None]:
        frame = self._capture(full, pointer)
        return frame, self._encode(frame, keyframe)

    def _capture(self, full: bool, pointer: bool) -> CapturedFrame:
        frame = self._capturer.grab_changes(full=full, pointer=pointer)
        self._area = (frame.origin[0], frame.origin[1], frame.width, frame.height)
        self._frames += 1
        return frame

    def _encode(self, frame: CapturedFrame, keyframe: bool) -> EncodedUpdate | None:
        encoder = self._encoder
        if encoder is None or (encoder.width, encoder.height) != (frame.width, frame.height):
            encoder = self._encoder = Encoder(frame.width, frame.height)
            keyframe = True
        changed = frame.changed
        if not keyframe and changed is not None and not changed:
            self._unchanged += 1  # nothing was drawn, or what was drawn is what was there
            return None
        started = time.perf_counter()
        hint = None if changed is None else [(r.x, r.y, r.width, r.height) for r in changed]
        update = encoder.encode(frame.pixels, keyframe=keyframe, changed=hint)
        self._last_encode_ms = (time.perf_counter() - started) * 1000
        if update is None:
            self._unchanged += 1
        return update

    async def _send_update(self, frame: CapturedFrame, update: EncodedUpdate) -> None:
        if update.keyframe:
            self._want_keyframe = False
            self._last_keyframe = trio.current_time()
            self._keyframes += 1
        self._seq = (self._seq + 1) % 2**32
        message = FrameUpdate(
            frame_seq=self._seq,
            keyframe=update.keyframe,
            width=update.width,
            height=update.height,
            captured_at_us=int(frame.captured_at * 1_000_000),
            tiles=update.data,
        )
        await self._send(message)
        self._updates += 1
        self._bytes += len(update.data)

    async def _send_cursor(self, frame: CapturedFrame, tick: float) -> None:
        if frame.cursor == self._last_cursor:
            return
        self._last_motion = tick
        self._last_cursor = frame.cursor
        x, y = frame.cursor if frame.cursor is not None else (0, 0)
        await self._send(Cursor(x=x, y=y, visible=frame.cursor is not None))

    def _adapt_rate(self, now: float) -> None:
        if now >= self._backoff_until and self._fps_now < self.fps_target:
            self._fps_now = min(self.fps_target, self._fps_now * 1.25)


def _changed_pixels(frame: CapturedFrame) -> int:
    """How many pixels of ``frame`` may differ from the previous one (all when unknown)."""
    if frame.changed is None:
        return frame.width * frame.height
    return sum(r.width * r.height for r in frame.changed)
