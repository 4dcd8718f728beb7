"""The viewer's side of the stream: decode updates into a framebuffer kept only in memory.

:class:`ScreenViewer` is fed the content events of a session. It applies ``FrameUpdate`` tiles
through the codec's validating decoder and asks the presenter for a keyframe whenever it cannot
continue: it joined late, it missed updates (a ``frame_seq`` gap, or the relay said it dropped
some), or an update failed to decode (counted, never a crash). Refresh requests are rate-limited
so a broken stream cannot turn into a request storm.

The framebuffer is a numpy array in this process's memory. Nothing here writes it anywhere; the
headless viewer saves it only when the person explicitly asks (``--save-frame``).
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.codec import CodecError, Decoder, Reason, Rect
from core.protocol.content import Cursor, FrameUpdate, RefreshReason, RefreshRequest

#: At most one refresh request per this many seconds.
REFRESH_INTERVAL = 0.5
#: Window for the rate statistics.
RATE_WINDOW = 5.0

RequestRefresh = Callable[[RefreshRequest], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ViewerStatistics:
    updates: int
    keyframes: int
    rejected: int
    #: Updates that came before this viewer's first keyframe (a join races the presenter's
    #: next update): nothing to apply them to yet, and nothing wrong with them.
    before_first_keyframe: int
    refreshes_requested: int
    bytes_received: int
    updates_per_second: float
    bytes_per_second: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    width: int
    height: int


class ScreenViewer:
    """Holds the presenter's current picture and keeps it in sync."""

    def __init__(self, request_refresh: RequestRefresh) -> None:
        self._request_refresh = request_refresh
        self._decoder = Decoder()
        self._last_refresh = -math.inf
        self.cursor: Cursor | None = None
        self._updates = 0
        self._keyframes = 0
        self._rejected = 0
        self._before_first_keyframe = 0
        self._refreshes = 0
        self._bytes = 0
        self._recent: deque[tuple[float, int]] = deque()
        self._latencies: deque[float] = deque(maxlen=512)
        self.frames_applied = 0

    @property
    def frame(self) -> npt.NDArray[np.uint8] | None:
        """The current picture (RGB, H×W×3), or None before the first keyframe."""
        return self._decoder.frame

    async def start(self) -> None:
        """A new viewer has no reference picture: ask for a keyframe straight away."""
        await self._refresh(RefreshReason.LATE_JOIN, force=True)

    async def on_update(self, update: FrameUpdate, now: float | None = None) -> list[Rect]:
        """Apply one update; returns the damaged rectangles (empty if it was refused)."""
        arrived = time.time() if now is None else now
        self._bytes += len(update.tiles)
        self._recent.append((arrived, len(update.tiles)))
        try:
            damaged = self._decoder.apply(
                update.tiles, keyframe=update.keyframe, frame_seq=update.frame_seq
            )
        except CodecError as exc:
            if exc.reason is Reason.NEEDS_KEYFRAME and self.frame is None and not self._updates:
                # Joined between two updates: the keyframe for us is on its way (start() asked
                # for it); this delta has no picture to apply to. Not a decode failure.
                self._before_first_keyframe += 1
                await self._refresh(RefreshReason.LATE_JOIN)
                return []
            self._rejected += 1
            gap = exc.reason is Reason.NEEDS_KEYFRAME
            reason = RefreshReason.GAP if gap else RefreshReason.DECODE_ERROR
            await self._refresh(reason)
            return []
        self._updates += 1
        self._keyframes += update.keyframe
        self.frames_applied += 1
        self._latencies.append(max(0.0, arrived - update.captured_at_us / 1_000_000) * 1000)
        return damaged

    def on_cursor(self, cursor: Cursor) -> None:
        self.cursor = cursor

    async def on_dropped(self) -> None:
        """The relay dropped updates for us: our picture is stale until a keyframe."""
        self._decoder.invalidate()
        await self._refresh(RefreshReason.GAP)

    async def _refresh(self, reason: RefreshReason, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_refresh < REFRESH_INTERVAL:
            return
        self._last_refresh = now
        self._refreshes += 1
        await self._request_refresh(RefreshRequest(reason=reason))

    def statistics(self, now: float | None = None) -> ViewerStatistics:
        now = time.time() if now is None else now
        while self._recent and self._recent[0][0] < now - RATE_WINDOW:
            self._recent.popleft()
        span = RATE_WINDOW if self._recent else 1.0
        latencies = sorted(self._latencies)
        frame = self.frame
        return ViewerStatistics(
            updates=self._updates,
            keyframes=self._keyframes,
            rejected=self._rejected,
            before_first_keyframe=self._before_first_keyframe,
            refreshes_requested=self._refreshes,
            bytes_received=self._bytes,
            updates_per_second=len(self._recent) / span,
            bytes_per_second=sum(size for _, size in self._recent) / span,
            latency_ms_p50=statistics.median(latencies) if latencies else None,
            latency_ms_p95=latencies[int(len(latencies) * 0.95)] if latencies else None,
            width=0 if frame is None else frame.shape[1],
            height=0 if frame is None else frame.shape[0],
        )
