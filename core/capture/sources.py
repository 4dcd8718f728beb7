"""What to capture: a monitor, a fixed region, or one window; and the rectangles to black out.

These are plain frozen values so the UI can build them from user input (``parse_region``,
``parse_mask``, ``parse_window_id``) and hand them to :class:`~core.capture.capturer.Capturer`
without either side knowing about X11. Parsing errors are ``ValueError`` with a sentence that
a person can act on, because the text comes straight from a command line or a settings field.

Coordinates are X11 root-window pixels: the origin is the top-left corner of the whole screen
(all monitors together), so they are never negative, and X11 limits them to 16 bits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeAlias

# X11 carries coordinates as INT16 and sizes as CARD16; anything larger cannot be on a screen.
MAX_COORDINATE = 32767
# Window ids are 29-bit resource ids (the top three bits are always zero).
MAX_WINDOW_ID = 0x1FFFFFFF

_INT = r"\s*([+-]?\d{1,12})\s*"
_FOUR_INTS = re.compile(",".join([_INT] * 4))
_HEX_ID = re.compile(r"0[xX]([0-9a-fA-F]{1,12})")
_DEC_ID = re.compile(r"\d{1,12}")


@dataclass(frozen=True, slots=True)
class Rect:
    """A non-empty rectangle in screen pixels; ``right``/``bottom`` are exclusive.

    Empty rectangles are refused at construction so every consumer can slice with it
    without re-checking; an empty overlap is expressed as ``None`` by :meth:`intersection`.
    """

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(
                f"a rectangle needs a width and height of at least 1 pixel, "
                f"got {self.width}x{self.height}"
            )

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    def intersection(self, other: Rect) -> Rect | None:
        """The overlap of the two rectangles, or None when they do not overlap."""
        left, top = max(self.x, other.x), max(self.y, other.y)
        right, bottom = min(self.right, other.right), min(self.bottom, other.bottom)
        if right <= left or bottom <= top:
            return None
        return Rect(left, top, right - left, bottom - top)

    def contains(self, other: Rect) -> bool:
        """Whether ``other`` lies entirely inside this rectangle."""
        return (
            other.x >= self.x
            and other.y >= self.y
            and other.right <= self.right
            and other.bottom <= self.bottom
        )

    def minus(self, other: Rect) -> list[Rect]:
        """The parts of this rectangle outside ``other``, as up to four rectangles (the bands
        above and below it, then the pieces left and right of it)."""
        inside = self.intersection(other)
        if inside is None:
            return [self]
        parts = [
            (self.x, self.y, self.width, inside.y - self.y),
            (self.x, inside.bottom, self.width, self.bottom - inside.bottom),
            (self.x, inside.y, inside.x - self.x, inside.height),
            (inside.right, inside.y, self.right - inside.right, inside.height),
        ]
        return [Rect(*part) for part in parts if part[2] > 0 and part[3] > 0]

    def contains_point(self, x: int, y: int) -> bool:
        return self.x <= x < self.right and self.y <= y < self.bottom

    def __str__(self) -> str:
        """The ``X,Y,W,H`` form that :func:`parse_region` and :func:`parse_mask` read back."""
        return f"{self.x},{self.y},{self.width},{self.height}"


@dataclass(frozen=True, slots=True)
class MonitorSource:
    """A whole monitor, numbered as mss numbers them: 0 is all monitors together, 1 the first."""

    index: int

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError(
                f"monitor numbers start at 0 (all monitors together) or 1 (the first monitor), "
                f"got {self.index}"
            )


@dataclass(frozen=True, slots=True)
class RegionSource:
    """A fixed rectangle of the screen, in screen pixels from the top-left corner."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        _check_rect_numbers(self.x, self.y, self.width, self.height, "region")

    @property
    def rect(self) -> Rect:
        return Rect(self.x, self.y, self.width, self.height)


@dataclass(frozen=True, slots=True)
class WindowSource:
    """One window, named by title or by X11 window id (exactly one of the two).

    A title is resolved to a window once, when capture starts; from then on the window is
    followed by id, so renaming it (a browser tab title changing) does not lose it.
    ``label`` is the title a window picked by id had when it was picked (a share picker
    knows it): only for naming it to people (:func:`describe`), never for finding it.
    """

    title: str | None = None
    xid: int | None = None
    label: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if (self.title is None) == (self.xid is None):
            raise ValueError("a window is chosen either by its title or by its id, not both/none")
        if self.title is not None and not self.title.strip():
            raise ValueError("a window title to search for must not be empty")
        if self.xid is not None and not 0 < self.xid <= MAX_WINDOW_ID:
            raise ValueError(
                f"an X11 window id is between 0x1 and {MAX_WINDOW_ID:#x}, got {self.xid:#x}"
            )


CaptureSource: TypeAlias = MonitorSource | RegionSource | WindowSource


def describe(source: CaptureSource) -> str:
    """What is shared, in the words dialogs and status lines use: a window by its title
    (its id only when it has none), since "window 0x20000c" tells a person nothing."""
    if isinstance(source, MonitorSource):
        return "all monitors" if source.index == 0 else f"monitor {source.index}"
    if isinstance(source, RegionSource):
        return f"region {source.rect}"
    name = source.title or source.label
    if name:
        return f"window {name!r}"
    return f"window {source.xid:#x}"


def _check_rect_numbers(x: int, y: int, width: int, height: int, what: str) -> None:
    if x < 0 or y < 0:
        raise ValueError(
            f"the {what}'s X and Y must not be negative (screen coordinates start at 0,0 in the "
            f"top-left corner), got {x},{y}"
        )
    if width <= 0 or height <= 0:
        raise ValueError(
            f"the {what}'s width and height must be at least 1 pixel, got {width}x{height}"
        )
    if max(x, y, width, height) > MAX_COORDINATE:
        raise ValueError(
            f"the {what} must fit on an X11 screen, whose coordinates and sizes stop at "
            f"{MAX_COORDINATE}, got {x},{y},{width},{height}"
        )


def _parse_four(text: str, what: str) -> tuple[int, int, int, int]:
    match = _FOUR_INTS.fullmatch(text)
    if match is None:
        raise ValueError(
            f"a {what} is four whole numbers X,Y,W,H separated by commas "
            f"(for example 100,200,640,480), got {text!r}"
        )
    x, y, width, height = (int(group) for group in match.groups())
    _check_rect_numbers(x, y, width, height, what)
    return x, y, width, height


def parse_region(text: str) -> RegionSource:
    """Read ``"X,Y,W,H"`` (screen pixels) as a region to capture."""
    return RegionSource(*_parse_four(text, "region"))


def parse_mask(text: str) -> Rect:
    """Read ``"X,Y,W,H"`` (screen pixels) as a rectangle to black out before anything is sent."""
    return Rect(*_parse_four(text, "mask"))


def parse_window_id(text: str) -> int:
    """Read an X11 window id, hex as xwininfo/wmctrl print it (``0x3a00007``) or decimal
    as xdotool prints it (``60817415``)."""
    stripped = text.strip()
    if hex_match := _HEX_ID.fullmatch(stripped):
        xid = int(hex_match.group(1), 16)
    elif _DEC_ID.fullmatch(stripped):
        xid = int(stripped)
    else:
        raise ValueError(
            f"a window id is a number like 0x3a00007 (hex, as xwininfo shows it) or "
            f"60817415 (decimal, as xdotool shows it), got {text!r}"
        )
    if not 0 < xid <= MAX_WINDOW_ID:
        raise ValueError(f"an X11 window id is between 0x1 and {MAX_WINDOW_ID:#x}, got {text!r}")
    return xid
