"""Why a capture failed, as exceptions a UI can show as-is.

Every message is a full sentence for a person. The subclasses exist so a caller can react
differently without parsing text: :class:`WindowGone` is permanent (stop sharing that window),
:class:`WindowHidden` is usually temporary (show "window hidden" and keep trying), and the
lookup errors happen only when capture starts.
"""

from __future__ import annotations

from core.failures import Failure


class CaptureError(Failure):
    """The screen could not be captured as asked."""

    kind = "capture_failed"


class WindowNotFound(CaptureError):
    """No window matches the title or id that was asked for."""


class AmbiguousWindow(CaptureError):
    """Several windows match a title; the message lists them with their ids to pick one."""


class WindowGone(CaptureError):
    """The window being captured was closed (destroyed); it will not come back."""


class WindowHidden(CaptureError):
    """The window exists but shows nothing now: unmapped, minimised, or entirely off-screen.

    Capture resumes by itself once the window is shown again, so callers should present a
    paused-like state and keep calling ``grab()`` at a lower rate rather than give up.
    """
