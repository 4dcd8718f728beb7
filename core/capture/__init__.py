"""Screen capture: a monitor, a region or one window, with privacy masks applied at the source.

    from core.capture import Capturer, WindowSource, parse_mask

    with Capturer(WindowSource(title="Terminal"), masks=[parse_mask("0,0,200,40")]) as cap:
        frame = cap.grab()  # frame.pixels: H x W x 3 RGB, masked pixels already zero

See ``capturer.py`` for why masking happens here and ``windows.py`` for which rectangle a
window is.
"""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from core.capture.capturer import CapturedFrame as CapturedFrame
    from core.capture.capturer import Capturer as Capturer
    from core.capture.capturer import Pixels as Pixels
    from core.capture.errors import AmbiguousWindow as AmbiguousWindow
    from core.capture.errors import CaptureError as CaptureError
    from core.capture.errors import WindowGone as WindowGone
    from core.capture.errors import WindowHidden as WindowHidden
    from core.capture.errors import WindowNotFound as WindowNotFound
    from core.capture.sources import CaptureSource as CaptureSource
    from core.capture.sources import MonitorSource as MonitorSource
    from core.capture.sources import Rect as Rect
    from core.capture.sources import RegionSource as RegionSource
    from core.capture.sources import WindowSource as WindowSource
    from core.capture.sources import describe as describe
    from core.capture.sources import parse_mask as parse_mask
    from core.capture.sources import parse_region as parse_region
    from core.capture.sources import parse_window_id as parse_window_id
    from core.capture.windows import WindowInfo as WindowInfo
    from core.capture.windows import XConnection as XConnection
    from core.capture.windows import screen_size as screen_size

# Imported on first use (see core/lazy.py): importing the package costs nothing.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "capturer": (
            "CapturedFrame",
            "Capturer",
            "Pixels",
        ),
        "errors": (
            "AmbiguousWindow",
            "CaptureError",
            "WindowGone",
            "WindowHidden",
            "WindowNotFound",
        ),
        "sources": (
            "CaptureSource",
            "MonitorSource",
            "Rect",
            "RegionSource",
            "WindowSource",
            "describe",
            "parse_mask",
            "parse_region",
            "parse_window_id",
        ),
        "windows": (
            "WindowInfo",
            "XConnection",
            "screen_size",
        ),
    },
)
