"""The window's copy of the presenter's picture, and the logic that keeps it in sync.

Decoding runs on the pipe-reader thread (the viewer process decodes on a core of its own,
docs/design.md §6.4), painting on Tk's main thread; one lock keeps a paint from reading a
half-applied update. The same rules as :class:`core.stream.viewer.ScreenViewer` apply: ask for a
keyframe at start, after a ``frame_seq`` gap, after the relay dropped updates and after an update
that does not decode, at most once per :data:`REFRESH_INTERVAL` so a broken stream cannot become a
request storm.

The framebuffer lives only in this process's memory and is dropped when the session ends.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image

from core.codec import CodecError, Decoder, Reason
from core.protocol.content import FrameUpdate, RefreshReason

REFRESH_INTERVAL = 0.5
#: Brightness kept under an overlay (paused, reconnecting…): the old picture is a hint of what
#: was there, not something to keep reading.
DIM_FACTOR = 0.3


class Picture:
    """Thread-safe decoder state; ``version`` changes whenever the picture does."""

    def __init__(
        self,
        request_refresh: Callable[[RefreshReason], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._request_refresh = request_refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._decoder: Decoder | None = Decoder()
        self._last_refresh = -math.inf
        self.version = 0
        self.applied = 0
        self.rejected = 0
        self.refreshes = 0

    @property
    def size(self) -> tuple[int, int] | None:
        """``(width, height)`` of the current picture, or ``None`` before the first keyframe."""
        with self._lock:
            frame = None if self._decoder is None else self._decoder.frame
            return None if frame is None else (frame.shape[1], frame.shape[0])

    def start(self) -> None:
        """A new window has no picture: ask for a keyframe straight away."""
        self._refresh(RefreshReason.LATE_JOIN, force=True)

    def apply(self, update: FrameUpdate) -> bool:
        """Decode one update into the picture; ``False`` if it was refused (or we are closed)."""
        with self._lock:
            if self._decoder is None:
                return False
            try:
                self._decoder.apply(
                    update.tiles, keyframe=update.keyframe, frame_seq=update.frame_seq
                )
            except CodecError as exc:
                self.rejected += 1
                gap = exc.reason is Reason.NEEDS_KEYFRAME
                failed = RefreshReason.GAP if gap else RefreshReason.DECODE_ERROR
            else:
                self.applied += 1
                self.version += 1
                return True
        self._refresh(failed)
        return False

    def dropped(self) -> None:
        """Updates were lost before reaching us: refuse deltas until a keyframe, ask for one."""
        with self._lock:
            if self._decoder is None:
                return
            self._decoder.invalidate()
        self._refresh(RefreshReason.GAP)

    def clear(self) -> None:
        """Forget the picture for good (the session ended): nothing is kept, nothing applied."""
        with self._lock:
            self._decoder = None
            self.version += 1

    def render(self, size: tuple[int, int], *, dim: bool = False) -> Image.Image | None:
        """The picture scaled to ``size`` (a copy, safe to hand to Tk), or ``None``."""
        with self._lock:
            frame = None if self._decoder is None else self._decoder.frame
            if frame is None:
                return None
            image = _image_of(frame, size)
        if dim:
            image = Image.eval(image, _dim)
        return image

    def _refresh(self, reason: RefreshReason, *, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last_refresh < REFRESH_INTERVAL:
            return
        self._last_refresh = now
        self.refreshes += 1
        self._request_refresh(reason)


def _dim(value: int) -> int:
    return int(value * DIM_FACTOR)


def _image_of(frame: npt.NDArray[np.uint8], size: tuple[int, int]) -> Image.Image:
    """A fresh RGB image of ``frame`` at ``size`` (never sharing the decoder's memory)."""
    height, width = frame.shape[:2]
    image = Image.frombuffer(
        "RGB", (width, height), np.ascontiguousarray(frame), "raw", "RGB", 0, 1
    )
    if size == (width, height):
        return image.copy()
    # BILINEAR with reducing_gap is fast and keeps text readable when shrinking a big screen.
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
