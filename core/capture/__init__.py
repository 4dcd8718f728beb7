"""Screen capture: a monitor, a region or one window, with privacy masks applied at the source.

    from core.capture import Capturer, WindowSource, parse_mask

    with Capturer(WindowSource(title="Terminal"), masks=[parse_mask("0,0,200,40")]) as cap:
        frame = cap.grab()  # frame.pixels: H x W x 3 RGB, masked pixels already zero

See ``capturer.py`` for why masking happens here and ``windows.py`` for which rectangle a
window is.
"""

from core.capture.capturer import CapturedFrame, Capturer, Pixels
from core.capture.errors import (
    AmbiguousWindow,
    CaptureError,
    WindowGone,
    WindowHidden,
    WindowNotFound,
)
from core.capture.sources import (
    CaptureSource,
    MonitorSource,
    Rect,
    RegionSource,
    WindowSource,
    parse_mask,
    parse_region,
    parse_window_id,
)
from core.capture.windows import WindowInfo, XConnection, screen_size

__all__ = [
    "AmbiguousWindow",
    "CaptureError",
    "CaptureSource",
    "CapturedFrame",
    "Capturer",
    "MonitorSource",
    "Pixels",
    "Rect",
    "RegionSource",
    "WindowGone",
    "WindowHidden",
    "WindowInfo",
    "WindowNotFound",
    "WindowSource",
    "XConnection",
    "parse_mask",
    "parse_region",
    "parse_window_id",
    "screen_size",
]
