"""The presenter's loop: capture → (masks, inside the capturer) → encode → seal → send.

It captures at most at a target frame rate and does nothing at all for a frame whose pixels did
not change (the encoder answers ``None`` and nothing is sent).

**Its own thread.** The loop runs on one worker thread for as long as :meth:`ScreenPresenter.run`
runs: it sleeps in ``poll(2)`` on the X connection (:class:`~core.stream.doorbell.Doorbell`),
captures, encodes, and hands each message to a :class:`ContentOutlet`, which on framed TLS seals it
and writes it to the socket from that same thread
(``RelayChannel.send_from_thread``). A keystroke then wakes one thread
once; the trio loop is not woken at all, which matters because a wake-up of the trio loop costs
several times what a thread woken out of ``poll`` costs (figures: bench/README.md, "Measurements
behind design choices"). The trio side only sets flags and rings the doorbell (pause, keyframe
requests, audience); a large keyframe encoding on the thread keeps the trio loop free for the
network. docs/design.md §8.4 places this thread among the others.

**Damage-driven** (X servers with XDAMAGE, i.e. all of them in practice): the loop sleeps until
the X server reports drawing inside the shared area, then reads and encodes only the damaged
rectangles (:meth:`~core.capture.Capturer.grab_changes`, with the encoder told where to look).
A still screen costs no capture at all; a keystroke costs one glyph's worth. The pointer, which
draws no damage, is asked for only after the X server reported it moving (XInput 2 motion
events; without them it is polled at the frame rate while it moves and at :data:`IDLE_FPS`
otherwise); the whole area is read and compared every :data:`FULL_CHECK_INTERVAL` to
:data:`FULL_CHECK_MAX_INTERVAL` seconds anyway, for drawing that damage misses. Without
XDAMAGE every capture reads the whole area (comparing raw bytes before converting anything).

Keyframes go out on the first frame, on request (a viewer's ``RefreshRequest``), on a new epoch
(a member joined: it cannot decode deltas of an earlier reference) and whenever the captured
size changes (a followed window was resized); at most one per :data:`MIN_KEYFRAME_INTERVAL`.

With nobody watching, the loop does not capture at all; the first viewer gets a keyframe.

Pause ("hide screen") is local first: ``set_paused(True)`` sets the flag under the outlet's
hold, the lock every send checks it under, so once it returns no pixel leaves (a frame captured
just before is withheld), whatever the thread was doing. :meth:`ScreenPresenter.stop` does the
same for the end of sharing.

Idle (without XDAMAGE): after a second without a changed pixel the loop captures at 5 fps until
something changes (then at once back to the target rate), so a still screen costs next to nothing.

Burst: while the screen changes continuously (updates at most :data:`BURST_GAP` target frame
intervals apart), the rate rises to :data:`BURST_FACTOR` times the target (at most
:data:`MAX_FPS`), so a scrolling terminal or a dragged window moves smoothly at the default
15 fps; it drops back to the target once the changes pause that long, and never bursts during a
back-off.

Refresh requests go through a :class:`~core.stream.refresh.RefreshDesk`: each member has a
budget of keyframes (a request over it waits for the budget, and one keyframe answers every
request before it), a member asking faster than any well-behaved client is rate-limited (the
caller tells the organizer), and a keyframe wanted by nobody but pending members is granted on
the trio side when their budget allows (:meth:`ScreenPresenter.run`'s granting task).

Back-off: a refresh request for a *gap* means a viewer lost updates (the relay dropped them for
it). Only when more than half the audience reports gaps within :data:`BACKOFF_SECONDS` does the
loop halve its frame rate for a while, then climb back to the target: one member on a slow link
loses updates at its own pace without slowing the stream for the others (docs/design.md §6.5).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import trio

from core.capture import CapturedFrame, Capturer
from core.codec import EncodedUpdate, Encoder
from core.protocol.content import Cursor, FrameUpdate, RefreshReason
from core.stream.doorbell import Doorbell
from core.stream.refresh import Outcome, RefreshAnswer, RefreshDesk, RefreshStatistics

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
    #: What became of the members' keyframe requests (see core/stream/refresh.py).
    refreshes: RefreshStatistics | None = None


class ContentOutlet(Protocol):
    """Where the presenter's thread sends its messages (a session's
    :meth:`~core.client.session.SessionBase.content_outlet`, or a test's collector)."""

    @property
    def hold(self) -> AbstractContextManager[object, None]:
        """Held by trio-side changes that every later send must see (pause, stop)."""
        ...

    def send(
        self, message: FrameUpdate | Cursor, withheld: Callable[[], bool] | None = None
    ) -> bool:
        """Send unless ``withheld()`` (asked under :attr:`hold`) says no; called from the
        presenter's thread, may block it. False: withheld, nothing sent."""
        ...


class ScreenPresenter:
    """Streams one capture source to the session as sealed ``FrameUpdate`` messages.

    The control methods are called from trio tasks; the work runs on a thread of its own while
    :meth:`run` runs (see the module docstring).
    """

    def __init__(self, outlet: ContentOutlet, capturer: Capturer, *, fps: float = 15.0) -> None:
        self._outlet = outlet
        self._capturer = capturer
        self.fps_target = min(MAX_FPS, max(MIN_FPS, fps))
        self._fps_now = self.fps_target
        self._encoder: Encoder | None = None
        #: Keyframes asked for, and how many of those asks the last keyframe sent answered
        #: (counted, not a flag: an ask arriving while a keyframe is on its way still counts).
        self._keyframes_asked = 1
        self._keyframes_answered = 0
        self._last_keyframe = -math.inf
        #: When the capture of the last keyframe sent began: it answers requests made before.
        self._last_keyframe_tick = -math.inf
        self._backoff_until = -math.inf
        self._desk = RefreshDesk(gap_window=BACKOFF_SECONDS)
        #: Set when a member's request starts waiting for its budget (wakes the granting task).
        self._deferred = trio.Event()
        self._paused = False
        self._stopping = False
        #: Nobody to show the screen to: capture nothing at all (idle costs next to nothing).
        self._audience = 0
        #: Held by the presenter's thread while it uses the capturer (it is not thread-safe).
        self._capturing = threading.Lock()
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
        #: Ends the thread's wait early when a keyframe request, pause, audience change or the
        #: end comes in (created when the loop starts: it holds descriptors).
        self._doorbell: Doorbell | None = None
        #: Screen rectangle (x, y, width, height) of the last captured frame: where a
        #: controller's input lands, and the frame size its coordinates refer to.
        self._area: tuple[int, int, int, int] | None = None

    # -- control (called from trio tasks) -------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Hide or show the screen. Hiding takes effect at once: once this returns, no frame
        is sent until the screen is shown again (one on its way is withheld)."""
        if paused == self._paused:
            return
        with self._outlet.hold:
            if not paused:
                self._keyframes_asked += 1  # viewers' pictures are stale after a pause
            self._paused = paused
        self._poke()

    def stop(self) -> None:
        """End sharing: once this returns nothing more is sent, and :meth:`run` returns soon."""
        with self._outlet.hold:
            self._stopping = True
        self._poke()

    def set_audience(self, viewers: int) -> None:
        """How many members watch; with none, the loop sleeps instead of capturing."""
        if viewers > 0 and self._audience == 0:
            self._keyframes_asked += 1
        self._audience = viewers
        self._poke()

    def request_keyframe(
        self, reason: RefreshReason = RefreshReason.USER, member: int | None = None
    ) -> RefreshAnswer:
        """A keyframe request from ``member`` (a viewer's ``RefreshRequest``: its sender), or
        this presenter's own (None: a new epoch, its person's "refresh"). The answer says
        whether it was granted, waits for the member's budget, or was dropped as abusive (then
        ``answer.report``, when set, is for the organizer)."""
        answer = self._desk.ask(member, reason, self._audience)
        if answer.back_off:
            self._backoff_until = time.monotonic() + BACKOFF_SECONDS
            self._fps_now = max(MIN_FPS, self._fps_now / 2)
            self._streak = 0
        if answer.outcome is Outcome.GRANTED:
            self._keyframes_asked += 1
            self._poke()
        elif answer.outcome is Outcome.PENDING:
            self._deferred.set()
        return answer

    def forget_member(self, member: int) -> None:
        """``member`` left the session: its keyframe budget starts afresh if it comes back."""
        self._desk.forget(member)

    def _poke(self) -> None:
        """End the thread's wait now (something it must act on has changed)."""
        if self._doorbell is not None:
            self._doorbell.ring()

    @property
    def area(self) -> tuple[int, int, int, int] | None:
        """The shared screen rectangle as last captured, or None before the first frame."""
        return self._area

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
            refreshes=self._desk.statistics(),
        )

    # -- running ---------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Capture and send on the presenter's thread until cancelled or :meth:`stop`; what
        the thread raises (the connection lost, the capture failing) is raised here."""
        self._doorbell = Doorbell()
        try:
            task_status.started()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._stop_when_cancelled)
                nursery.start_soon(self._grant_deferred)
                await trio.to_thread.run_sync(self._serve, limiter=trio.CapacityLimiter(1))
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The stopper only ever ends cancelled: an error is the thread's, raised as itself
            # (not wrapped in this nursery's group) so callers catch it by its own type.
            errors = [e for e in group.exceptions if not isinstance(e, trio.Cancelled)]
            if len(errors) == 1:
                raise errors[0] from None
            raise
        finally:
            self._doorbell.close()
            self._doorbell = None

    async def _stop_when_cancelled(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.stop()  # the thread ends; run() waits for it before returning

    async def _grant_deferred(self) -> None:
        """Grant members' requests that waited for their budget, once it allows."""
        while True:
            await self._deferred.wait()
            self._deferred = trio.Event()
            while (due := self._desk.due()) is not None:
                await trio.sleep(max(0.0, due - time.monotonic()))
                if self._desk.grant_due(answered_before=self._last_keyframe_tick):
                    self._keyframes_asked += 1
                    self._poke()

    def _withheld(self) -> bool:
        """Asked by the outlet under its hold, right before a message would leave."""
        return self._paused or self._stopping

    # -- the presenter's thread ------------------------------------------------------------------

    def _serve(self) -> None:
        bell = self._doorbell
        assert bell is not None
        damage_driven = self._capturer.damage_driven
        pending: int | None = None  # damaged pixels, when the wait already asked
        while not self._stopping:
            if self._paused or self._audience == 0:
                bell.wait(None, math.inf)  # until something changes
                pending = None
                continue
            tick = time.monotonic()
            with self._capturing:
                sent = self._frame(tick, damage_driven, pending)
            pending = None
            if not sent:
                continue
            if damage_driven:
                pending = self._wait_for_damage(tick, bell)
            else:
                idle = tick - self._last_change > IDLE_AFTER and not self._keyframe_wanted()
                rate = min(IDLE_FPS, self._fps_now) if idle else self._rate()
                bell.wait(None, tick + 1.0 / rate)

    def _frame(self, tick: float, damage_driven: bool, pending: int | None) -> bool:
        """Capture, encode and send one frame (or nothing, when nothing changed); False when
        what it would have sent was withheld (paused or stopping meanwhile)."""
        asked = self._keyframes_asked
        keyframe = self._keyframe_due(tick)
        full = keyframe or not damage_driven or tick >= self._next_full_check
        check = full and damage_driven and not keyframe
        if check:
            self._full_checks += 1
            # What damage knows right now, to tell whether the check finds more.
            pending = self._capturer.pending_damage()
        if full:
            self._next_full_check = tick + self._full_check_interval
        pointer = full or not damage_driven or self._pointer_due(tick)
        if pointer:
            moving = tick - self._last_motion <= IDLE_AFTER
            self._next_pointer_poll = tick + 1.0 / (self._rate() if moving else IDLE_FPS)
        frame = self._capture(full, pointer)
        update = self._encode(frame, keyframe)
        if check:
            self._pace_full_checks(tick, missed=pending == 0 and bool(frame.changed))
        if update is not None:
            continuous = tick - self._last_change <= BURST_GAP / self.fps_target
            self._streak = self._streak + 1 if continuous else 1
            self._last_change = tick
            if not self._send_update(frame, update, asked):
                return False
            if update.keyframe:
                self._last_keyframe_tick = tick
        if not self._send_cursor(frame, tick):
            return False
        self._adapt_rate(time.monotonic())
        return True

    def _keyframe_wanted(self) -> bool:
        return self._keyframes_asked > self._keyframes_answered

    def _keyframe_due(self, now: float) -> bool:
        """A keyframe is wanted and the last is old enough (a refresh storm from many
        viewers, or a buggy one, must not turn every frame into a keyframe)."""
        return self._keyframe_wanted() and now - self._last_keyframe >= MIN_KEYFRAME_INTERVAL

    def _rate(self) -> float:
        """Captures a second right now: the target (or less, backing off), more in a burst."""
        changing = time.monotonic() - self._last_change <= BURST_GAP / self.fps_target
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

    def _must_act(self, now: float) -> bool:
        return self._paused or self._stopping or self._audience == 0 or self._keyframe_due(now)

    def _wait_for_damage(self, tick: float, bell: Doorbell) -> int | None:
        """Sleep until the next capture is due: damage inside the area (but not sooner than a
        frame interval after ``tick``), the pointer poll, the periodic full check, a keyframe
        that may go out, or a pause / audience change / the end, whichever comes first.
        Returns how many pixels are damaged when it last asked (None: it did not)."""
        earliest = tick + 1.0 / self._rate()
        capturer = self._capturer
        polled = math.inf if capturer.pointer_events else self._next_pointer_poll
        deadline = max(earliest, min(polled, self._next_full_check))
        if self._keyframe_wanted():
            deadline = min(deadline, self._last_keyframe + MIN_KEYFRAME_INTERVAL)
        pending: int | None = 0
        lock = self._capturing
        # Before the first wait, only what libxcb already read can hide from poll(2): what is
        # still in the socket keeps it readable. After a wait, the look reads the socket itself
        # (and asks the server only when what it read was damage).
        woke = False
        while True:
            now = time.monotonic()
            if self._must_act(now):
                return None
            with lock:
                if woke:
                    pending = capturer.pending_damage()
                    fd = None if pending else capturer.damage_waitable(read=False)
                else:
                    fd = capturer.damage_waitable(read=False)
                    if fd is None:  # something was drawn: is it inside the area?
                        pending = capturer.pending_damage()
            if fd is None:
                if pending:
                    break
                continue  # drawn outside the area: look again
            if self._pointer_due(now):
                break
            if now >= deadline:
                return pending
            bell.wait(fd, deadline)
            woke = True
        if time.monotonic() < earliest:
            # Something was drawn sooner than the rate allows: wait, then take what came since.
            bell.wait(None, earliest)
            if self._must_act(time.monotonic()):
                return None
            with lock:
                pending = capturer.pending_damage()
        return pending

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

    def _send_update(self, frame: CapturedFrame, update: EncodedUpdate, asked: int) -> bool:
        seq = (self._seq + 1) % 2**32
        message = FrameUpdate(
            frame_seq=seq,
            keyframe=update.keyframe,
            width=update.width,
            height=update.height,
            captured_at_us=int(frame.captured_at * 1_000_000),
            tiles=update.data,
        )
        if not self._outlet.send(message, self._withheld):
            return False
        self._seq = seq
        if update.keyframe:
            self._keyframes_answered = asked
            self._last_keyframe = time.monotonic()
            self._keyframes += 1
        self._updates += 1
        self._bytes += len(update.data)
        return True

    def _send_cursor(self, frame: CapturedFrame, tick: float) -> bool:
        if frame.cursor == self._last_cursor:
            return True
        x, y = frame.cursor if frame.cursor is not None else (0, 0)
        cursor = Cursor(x=x, y=y, visible=frame.cursor is not None)
        if not self._outlet.send(cursor, self._withheld):
            return False
        self._last_motion = tick
        self._last_cursor = frame.cursor
        return True

    def _adapt_rate(self, now: float) -> None:
        if now >= self._backoff_until and self._fps_now < self.fps_target:
            self._fps_now = min(self.fps_target, self._fps_now * 1.25)
