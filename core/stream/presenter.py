"""The presenter's loop: capture → (masks, inside the capturer) → encode → seal → send.

It runs at a target frame rate and does nothing at all for a frame whose pixels did not change
(the encoder answers ``None`` and nothing is sent). Capture and encoding run in a worker thread,
one at a time (the capturer is not thread-safe and the encoder is stateful), so the trio loop
stays free for the network. Keyframes go out on the first frame, on request (a viewer's
``RefreshRequest``), on a new epoch (a member joined: it cannot decode deltas of an earlier
reference) and whenever the captured size changes (a followed window was resized).

With nobody watching, the loop does not capture at all; the first viewer gets a keyframe.

Pause ("hide screen") is local first: the loop stops capturing the moment ``set_paused(True)``
is called, before any message is sent, so no pixel leaves after the person asked to hide.

Idle: after a second without a changed pixel the loop captures at 5 fps until something changes
(then at once back to the target rate), so a still screen costs next to nothing.

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

#: A refresh storm (many viewers, or a buggy one) must not turn every frame into a keyframe.
MIN_KEYFRAME_INTERVAL = 0.5
#: How long a drop-triggered slow-down lasts before the rate climbs back.
BACKOFF_SECONDS = 3.0
MIN_FPS = 2.0
MAX_FPS = 30.0
#: After this long without a changed pixel, capture slowly until something changes.
IDLE_AFTER = 1.0
IDLE_FPS = 5.0


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

    def set_audience(self, viewers: int) -> None:
        """How many members watch; with none, the loop sleeps instead of capturing."""
        if viewers > 0 and self._audience == 0:
            self._want_keyframe = True
            self._audience_arrived.set()
        elif viewers == 0 and self._audience > 0:
            self._audience_arrived = trio.Event()
        self._audience = viewers

    def request_keyframe(self, reason: RefreshReason = RefreshReason.USER) -> None:
        self._want_keyframe = True
        if reason is RefreshReason.GAP:
            self._backoff_until = trio.current_time() + BACKOFF_SECONDS
            self._fps_now = max(MIN_FPS, self._fps_now / 2)

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
        )

    # -- the loop --------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
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
            frame, update = await trio.to_thread.run_sync(
                self._capture_and_encode, keyframe, limiter=self._limiter
            )
            if self._hidden():
                continue  # paused while we were capturing: this frame never leaves
            if update is not None:
                self._last_change = tick
                await self._send_update(frame, update)
            await self._send_cursor(frame)
            self._adapt_rate(trio.current_time())
            idle = tick - self._last_change > IDLE_AFTER and not self._want_keyframe
            await trio.sleep_until(
                tick + 1.0 / (min(IDLE_FPS, self._fps_now) if idle else self._fps_now)
            )

    def _capture_and_encode(self, keyframe: bool) -> tuple[CapturedFrame, EncodedUpdate | None]:
        frame = self._capturer.grab()
        self._area = (frame.origin[0], frame.origin[1], frame.width, frame.height)
        started = time.perf_counter()
        encoder = self._encoder
        if encoder is None or (encoder.width, encoder.height) != (frame.width, frame.height):
            encoder = self._encoder = Encoder(frame.width, frame.height)
            keyframe = True
        update = encoder.encode(frame.pixels, keyframe=keyframe)
        self._last_encode_ms = (time.perf_counter() - started) * 1000
        self._frames += 1
        if update is None:
            self._unchanged += 1
        return frame, update

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

    async def _send_cursor(self, frame: CapturedFrame) -> None:
        if frame.cursor == self._last_cursor:
            return
        self._last_cursor = frame.cursor
        x, y = frame.cursor if frame.cursor is not None else (0, 0)
        await self._send(Cursor(x=x, y=y, visible=frame.cursor is not None))

    def _adapt_rate(self, now: float) -> None:
        if now >= self._backoff_until and self._fps_now < self.fps_target:
            self._fps_now = min(self.fps_target, self._fps_now * 1.25)
