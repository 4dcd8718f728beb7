"""Where the picture sits in the window: scale to fit, keep the aspect ratio, centre it.

Pure arithmetic, shared by painting (frame → window) and remote control (window → frame), so the
pixel a person clicks is the pixel the presenter's pointer lands on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Layout:
    """A ``frame_w × frame_h`` picture letterboxed into a ``view_w × view_h`` canvas."""

    frame_w: int
    frame_h: int
    view_w: int
    view_h: int
    #: Displayed picture size and its top-left corner in the canvas.
    shown_w: int
    shown_h: int
    left: int
    top: int

    @classmethod
    def fit(cls, frame_w: int, frame_h: int, view_w: int, view_h: int) -> Layout:
        """The largest picture of the frame's aspect that fits the view, centred."""
        if frame_w < 1 or frame_h < 1:
            raise ValueError("frame sides must be positive")
        view_w, view_h = max(1, view_w), max(1, view_h)
        # Compare cross products instead of dividing, so an exact fit stays exact.
        if view_w * frame_h <= view_h * frame_w:  # width-bound
            shown_w = view_w
            shown_h = max(1, round(frame_h * view_w / frame_w))
        else:  # height-bound
            shown_h = view_h
            shown_w = max(1, round(frame_w * view_h / frame_h))
        return cls(
            frame_w,
            frame_h,
            view_w,
            view_h,
            shown_w,
            shown_h,
            (view_w - shown_w) // 2,
            (view_h - shown_h) // 2,
        )

    @property
    def identity(self) -> bool:
        """The picture is shown at exactly its own size (no resampling needed)."""
        return (self.shown_w, self.shown_h) == (self.frame_w, self.frame_h)

    def contains(self, x: int, y: int) -> bool:
        """Whether canvas point ``x, y`` is on the picture (not on the letterbox bars)."""
        return self.left <= x < self.left + self.shown_w and self.top <= y < self.top + self.shown_h

    def to_frame(self, x: int, y: int) -> tuple[int, int]:
        """The frame pixel under the centre of canvas pixel ``x, y``, clamped into the frame.

        Centre-based (``floor((v + ½) · frame / shown)``) like the presenter's own mapping in
        core/control/mapping.py, so a down-scaled view does not drift towards the top-left.
        """
        fx = ((2 * (x - self.left) + 1) * self.frame_w) // (2 * self.shown_w)
        fy = ((2 * (y - self.top) + 1) * self.frame_h) // (2 * self.shown_h)
        return min(max(fx, 0), self.frame_w - 1), min(max(fy, 0), self.frame_h - 1)

    def to_view(self, fx: float, fy: float) -> tuple[float, float]:
        """Canvas point of frame point ``fx, fy`` (for drawing the presenter's cursor)."""
        return (
            self.left + fx * self.shown_w / self.frame_w,
            self.top + fy * self.shown_h / self.frame_h,
        )

    def from_frame(self, fx: int, fy: int) -> tuple[int, int]:
        """The first canvas pixel that :meth:`to_frame` maps to frame pixel ``fx, fy``.

        Exact whenever the picture is shown at least at its own size; when it is shrunk some
        frame pixels have no canvas pixel of their own and this is the nearest one after.
        """
        return (
            self.left + _first_at(fx, self.frame_w, self.shown_w),
            self.top + _first_at(fy, self.frame_h, self.shown_h),
        )


def _first_at(value: int, frame_side: int, shown_side: int) -> int:
    """Smallest ``v ≥ 0`` with ``(2v + 1) · frame ≥ 2 · value · shown`` (ceil division)."""
    return max(0, -(-(2 * value * shown_side - frame_side) // (2 * frame_side)))
