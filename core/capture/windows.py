"""Find one X11 window and read where it is on the screen right now.

Which rectangle is "the window": the *client* window, the one that carries the title
(``_NET_WM_NAME``/``WM_NAME``), measured inside its X border, exactly what ``xwininfo`` reports
as "Absolute upper-left" plus Width/Height. Window-manager decorations (title bar, frame
borders) are left out on purpose: they are drawn by the sharer's window manager, not by the
application; they would repeat, in the sharer's theme, what the viewer's own window already
shows; and the client rectangle is the one the application and tools like xdotool agree on.
Under a reparenting window manager the client is a child of the frame, so its position comes
from ``TranslateCoordinates`` to the root, never from ``GetGeometry``'s x/y (which are
relative to the parent). Someone who wants the decorations can pass the frame's id instead.

Which pixels are the window's own: with XComposite (every current X server) the capturer reads
the window's own pixmap (:mod:`core.capture.composite`), so what overlaps it on screen is never
captured. Without it the capturer reads the screen inside the rectangle and blacks out every
part that :meth:`XConnection.covering` reports as not showing the window: where a higher-stacked
window (a sibling of the window or of one of its ancestors) lies over it, or where an ancestor
(a window manager's frame) clips it.

One :class:`XConnection` holds one Xlib connection for the life of a capturer; lookups,
per-frame geometry and the pointer position all go through it.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from Xlib import X, Xatom  # type: ignore[import-untyped]
from Xlib import error as xerror
from Xlib.display import Display as XDisplay  # type: ignore[import-untyped]

from core.capture.errors import (
    AmbiguousWindow,
    CaptureError,
    WindowGone,
    WindowHidden,
    WindowNotFound,
)
from core.capture.sources import Rect, WindowSource

# X errors that mean "that window no longer exists" when they answer a request about it.
_GONE = (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch)
# How deep under a top-level window to look for the client inside a window-manager frame;
# real frames nest the client one or two levels down.
_CLIENT_SEARCH_DEPTH = 3
# How many candidate windows an error message lists before saying "and N more".
_LIST_LIMIT = 10


@dataclass(frozen=True, slots=True)
class WindowInfo:
    """A window found by :meth:`XConnection.find_window`: its id, title and visibility then."""

    xid: int
    title: str
    viewable: bool

    def __str__(self) -> str:
        return f"{self.xid:#x} {self.title!r}" if self.title else f"{self.xid:#x}"


class XConnection:
    """One Xlib connection: window lookup, window rectangles, pointer and screen size.

    Not thread-safe (python-xlib is not); a capturer uses it from one thread at a time.
    """

    def __init__(self, display_name: str | None = None) -> None:
        name = display_name if display_name is not None else os.environ.get("DISPLAY")
        if not name:
            raise CaptureError(
                "no X display to capture: $DISPLAY is not set (porthole captures X11 screens; "
                "on Wayland it needs an X session or XWayland)"
            )
        try:
            self._display: Any = XDisplay(name)
        except (xerror.DisplayError, xerror.ConnectionClosedError, OSError) as exc:
            raise CaptureError(f"could not connect to the X display {name!r}: {exc}") from exc
        self.name = name
        self._closed = False
        try:
            with self.talking():
                self._root: Any = self._display.screen().root
                self._net_wm_name = int(self._display.intern_atom("_NET_WM_NAME"))
                self._utf8_string = int(self._display.intern_atom("UTF8_STRING"))
                geometry = self._root.get_geometry()
        except BaseException:
            self.close()
            raise
        self.screen = Rect(0, 0, int(geometry.width), int(geometry.height))
        """The root window: every monitor together. Read once; mss cannot follow a resize either."""

    def close(self) -> None:
        """Close the connection; safe to call twice, and after the server went away."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(xerror.ConnectionClosedError, OSError):
            self._display.close()

    @property
    def xlib(self) -> Any:
        """The python-xlib ``Display`` underneath (for :mod:`core.capture.damage`)."""
        return self._display

    @contextmanager
    def talking(self) -> Iterator[None]:
        """Turn a dead X connection into a :class:`CaptureError` a UI can show."""
        try:
            yield
        except (xerror.ConnectionClosedError, OSError) as exc:
            raise CaptureError(f"lost the connection to the X display {self.name}: {exc}") from exc

    # -- lookup ---------------------------------------------------------------------------

    def find_window(self, source: WindowSource) -> WindowInfo:
        """Resolve a :class:`WindowSource` to one window, or raise a lookup error.

        By title: exact matches first, then case-insensitive substring matches. Within a
        tier a single viewable match wins over hidden ones (apps keep unmapped helper
        windows with the same title); several viewable matches, or several hidden ones and
        no viewable, are ambiguous and the error lists them with ids. A single hidden match
        is accepted: ``grab()`` then says it is hidden until it is shown again.
        """
        if source.xid is not None:
            with self.talking():
                return self._window_by_id(source.xid)
        assert source.title is not None  # WindowSource guarantees one of the two
        windows = self.list_windows()
        wanted = source.title
        exact = [w for w in windows if w.title == wanted]
        folded = wanted.casefold()
        tiers = (exact, [w for w in windows if folded in w.title.casefold()])
        for tier in tiers:
            if not tier:
                continue
            viewable = [w for w in tier if w.viewable]
            if len(viewable) == 1:
                return viewable[0]
            if len(viewable) > 1 or len(tier) > 1:
                several = viewable or tier
                raise AmbiguousWindow(
                    f"{len(several)} windows match the title {wanted!r}; give more of the title "
                    f"or the window id: {_listing(several)}"
                )
            return tier[0]
        shown = [w for w in windows if w.viewable]
        hint = f"; windows on screen: {_listing(shown)}" if shown else "; no titled window is shown"
        raise WindowNotFound(f"no window has a title matching {wanted!r}{hint}")

    def list_windows(self) -> list[WindowInfo]:
        """Every titled top-level client window, bottom of the stack first."""
        with self.talking():
            return self._list_windows()

    def _list_windows(self) -> list[WindowInfo]:
        wm_state = int(self._display.intern_atom("WM_STATE", only_if_exists=True))
        found: list[WindowInfo] = []
        for top in self._root.query_tree().children:
            try:
                client = self._client_window(top, wm_state)
                title = self._title(client)
                if title is None:
                    continue
                viewable = int(client.get_attributes().map_state) == X.IsViewable
            except _GONE:  # closed while we were looking
                continue
            found.append(WindowInfo(int(client.id), title, viewable))
        return found

    def _window_by_id(self, xid: int) -> WindowInfo:
        window = self._display.create_resource_object("window", xid)
        try:
            viewable = int(window.get_attributes().map_state) == X.IsViewable
            title = self._title(window) or ""
        except _GONE:
            raise WindowNotFound(
                f"no window with id {xid:#x} exists on {self.name} "
                f"(xwininfo or xdotool search show the ids)"
            ) from None
        return WindowInfo(xid, title, viewable)

    def _client_window(self, top: Any, wm_state: int) -> Any:
        """The application window under a top-level window (the ICCCM XmuClientWindow rule).

        A window manager marks each client it manages with ``WM_STATE`` and may wrap it in a
        frame; without a window manager (``WM_STATE`` was never even interned) the top-level
        window is the client itself, and walking every app's widget tree would be wasted work.
        """
        if wm_state == X.NONE or self._has_property(top, wm_state):
            return top
        queue: deque[tuple[Any, int]] = deque((child, 1) for child in top.query_tree().children)
        while queue:
            window, depth = queue.popleft()
            try:
                if self._has_property(window, wm_state):
                    return window
                if depth < _CLIENT_SEARCH_DEPTH:
                    queue.extend((child, depth + 1) for child in window.query_tree().children)
            except _GONE:
                continue
        return top

    @staticmethod
    def _has_property(window: Any, atom: int) -> bool:
        reply = window.get_property(atom, X.AnyPropertyType, 0, 0)
        return reply is not None and int(reply.property_type) != X.NONE

    def _title(self, window: Any) -> str | None:
        """``_NET_WM_NAME`` (UTF-8) if set, else ``WM_NAME`` (ICCCM: Latin-1); None if untitled."""
        for atom in (self._net_wm_name, Xatom.WM_NAME):
            prop = window.get_full_property(atom, X.AnyPropertyType)
            if prop is None or not prop.value:
                continue
            value = prop.value
            if isinstance(value, str):
                text = value
            else:
                raw = bytes(value)
                encoding = "utf-8" if int(prop.property_type) == self._utf8_string else "latin-1"
                text = raw.decode(encoding, errors="replace")
            text = text.rstrip("\0")
            if text:
                return text
        return None

    # -- per frame ------------------------------------------------------------------------

    def window_rect(self, window: WindowInfo) -> Rect:
        """The window's client rectangle in screen pixels, not clipped to the screen.

        Three round trips (attributes, geometry, translate), cheap enough per frame, so a
        moved or resized window is followed on the very next grab.
        Raises :class:`WindowGone` if it was destroyed, :class:`WindowHidden` if unmapped.
        """
        return self.window_placement(window)[0]

    def window_placement(self, window: WindowInfo) -> tuple[Rect, int]:
        """:meth:`window_rect` and the window's border width (which a composite pixmap of
        the window includes around it)."""
        handle = self._display.create_resource_object("window", window.xid)
        with self.talking():
            try:
                if int(handle.get_attributes().map_state) != X.IsViewable:
                    raise WindowHidden(
                        f"window {window} is not shown (unmapped or minimised); "
                        f"capture resumes when it is shown again"
                    )
                geometry = handle.get_geometry()
                origin = self._root.translate_coords(handle, 0, 0)
            except _GONE:
                raise WindowGone(
                    f"window {window} was closed, so there is nothing to share"
                ) from None
        rect = Rect(int(origin.x), int(origin.y), int(geometry.width), int(geometry.height))
        return rect, int(geometry.border_width)

    def covering(self, window: WindowInfo, area: Rect) -> list[Rect]:
        """The parts of ``area`` (screen pixels, inside the window) where the screen does not
        show ``window``: every mapped window stacked above it or above one of its ancestors
        (its siblings and theirs, each with its border), and whatever lies outside an
        ancestor (a frame clips what it contains). A window's own children are its content.
        Rectangles are whole windows' bounding boxes, so a shaped window covers at least what
        it shows: more may be blacked out than is covered, never less.

        A few round trips per level of the tree and per window above; the capturer asks
        again whenever anything was drawn (nothing can come over the window without drawing).
        Raises :class:`WindowGone` if the window was destroyed meanwhile.
        """
        covers: list[Rect] = []
        with self.talking():
            try:
                current = self._display.create_resource_object("window", window.xid)
                while True:
                    tree = current.query_tree()
                    parent = tree.parent
                    if parent is None or int(parent.id) in (X.NONE, int(self._root.id)):
                        siblings_of = self._root
                    else:
                        siblings_of = parent
                    covers.extend(self._above(siblings_of, int(current.id), area))
                    if siblings_of is self._root:
                        return covers
                    outer = self._outer_rect(parent, inner=True)
                    covers.extend(area.minus(outer))
                    current = parent
            except _GONE:
                raise WindowGone(
                    f"window {window} was closed, so there is nothing to share"
                ) from None

    def _above(self, parent: Any, xid: int, area: Rect) -> list[Rect]:
        """The mapped children of ``parent`` stacked above its child ``xid`` that overlap."""
        children = parent.query_tree().children  # bottom of the stack first
        ids = [int(child.id) for child in children]
        if xid not in ids:
            return []  # reparented meanwhile: the next lookup sees the new tree
        found = []
        for child in children[ids.index(xid) + 1 :]:
            try:
                attributes = child.get_attributes()
                if int(attributes.map_state) != X.IsViewable:
                    continue
                if int(attributes.win_class) == X.InputOnly:
                    continue  # shows no pixels (window managers and toolkits stack many)
                part = self._outer_rect(child, inner=False).intersection(area)
            except _GONE:
                continue  # closed while we looked: it covers nothing any more
            if part is not None:
                found.append(part)
        return found

    def _outer_rect(self, handle: Any, *, inner: bool) -> Rect:
        """A window's rectangle in screen pixels: inside its border (``inner``) or with it."""
        geometry = handle.get_geometry()
        origin = self._root.translate_coords(handle, 0, 0)
        border = 0 if inner else int(geometry.border_width)
        return Rect(
            int(origin.x) - border,
            int(origin.y) - border,
            max(1, int(geometry.width) + 2 * border),
            max(1, int(geometry.height) + 2 * border),
        )

    def window_area(self, window: WindowInfo) -> Rect:
        """The part of the window's rectangle that is on the screen, ready to grab."""
        rect = self.window_rect(window)
        visible = rect.intersection(self.screen)
        if visible is None:
            raise WindowHidden(
                f"window {window} is entirely off the screen (at {rect}); "
                f"capture resumes when it is moved back"
            )
        return visible

    def pointer(self) -> tuple[int, int] | None:
        """The pointer in screen pixels, or None when it is on another X screen."""
        with self.talking():
            reply = self._root.query_pointer()
        if not reply.same_screen:
            return None
        return int(reply.root_x), int(reply.root_y)


def _listing(windows: list[WindowInfo]) -> str:
    shown = ", ".join(str(w) if w.viewable else f"{w} (hidden)" for w in windows[:_LIST_LIMIT])
    more = len(windows) - _LIST_LIMIT
    return f"{shown} and {more} more" if more > 0 else shown


def screen_size(display_name: str | None = None) -> tuple[int, int]:
    """Width and height of the whole X screen (all monitors together), in pixels."""
    connection = XConnection(display_name)
    try:
        return connection.screen.width, connection.screen.height
    finally:
        connection.close()
