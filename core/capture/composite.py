"""One window's own pixels, whatever overlaps it on the screen: XComposite redirection.

Without a compositor an X server keeps one picture, the screen, and a window covered by another
simply has no pixels there: reading the screen where the window is would send the other
window's pixels. ``CompositeRedirectWindow`` with the *automatic* update mode gives the window
its own off-screen pixmap (the server still paints it onto the screen, so nothing changes for
the person at the screen); ``NameWindowPixmap`` gives that pixmap an id, and ``GetImage`` on it
reads the window's contents, covered or not. Screen recorders (OBS's window capture, for one)
do the same. Redirection is undone when this object is closed, and by the server when our
connection goes away.

The pixmap a window is drawn into is replaced whenever the window is mapped again or resized,
and the named id keeps the old one; so :meth:`CompositeWindow.refresh` names it again each time
the capturer looks the window up (two requests without a reply, one round trip to check).

When the server allocates a window's pixmap it fills it with what the screen shows there, other
windows included, and then asks the application to repaint the parts that were covered
(Expose). Until that repaint arrives, those parts of the pixmap are not the window's own; the
capturer blacks them out until the window's damage says they were drawn (see
:mod:`core.capture.capturer`).

The requests (Composite 0.2: QueryVersion 0, RedirectWindow 1, UnredirectWindow 3,
NameWindowPixmap 6; core FreePixmap) are written by hand like the rest of :mod:`core.capture.xcb`.
"""

from __future__ import annotations

import struct

from core.capture.errors import CaptureError
from core.capture.xcb import XcbConnection, XRequestError

#: NameWindowPixmap came with Composite 0.2 (2004); every current X server speaks 0.4.
_COMPOSITE_VERSION = (0, 2)
_QUERY_VERSION, _REDIRECT_WINDOW, _UNREDIRECT_WINDOW, _NAME_WINDOW_PIXMAP = 0, 1, 3, 6
#: CompositeRedirectAutomatic: the server keeps painting the window onto the screen.
_AUTOMATIC = 0
_FREE_PIXMAP = 54

_VERSION = struct.Struct("=II")
_REDIRECT = struct.Struct("=IBxxx")
_NAME = struct.Struct("=II")
_ONE_ID = struct.Struct("=I")


class CompositeWindow:
    """One window redirected to its own pixmap, on a libxcb connection; see the module
    docstring. Use :meth:`start`. Not thread-safe, like the capturer that owns it."""

    def __init__(self, x: XcbConnection, major_opcode: int, xid: int) -> None:
        self._x = x
        self._op = major_opcode
        self.xid = xid
        self._pixmap: int | None = None
        #: The window's border width, which the pixmap includes around the window.
        self._border = 0
        self._closed = False

    @staticmethod
    def available(x: XcbConnection) -> int | None:
        """Composite's major opcode when the server speaks 0.2 or later, else None."""
        try:
            extension = x.extension("Composite")
            if extension is None:
                return None
            op = extension.major_opcode
            asked = _VERSION.pack(*_COMPOSITE_VERSION)
            answer = x.reply(x.send(op, _QUERY_VERSION, asked, reply=True), "CompositeQuery")
        except XRequestError:
            return None
        return op if _VERSION.unpack_from(answer, 8) >= _COMPOSITE_VERSION else None

    @classmethod
    def start(cls, x: XcbConnection, major_opcode: int, xid: int) -> CompositeWindow | None:
        """Redirect window ``xid`` (``major_opcode`` from :meth:`available`); None when the
        server refuses (the window is gone, or the root window was asked for)."""
        redirect = _REDIRECT.pack(xid, _AUTOMATIC)
        try:
            x.check(
                x.send(major_opcode, _REDIRECT_WINDOW, redirect, reply=False, checked=True),
                "CompositeRedirectWindow",
            )
        except XRequestError:
            return None
        return cls(x, major_opcode, xid)

    def refresh(self, border: int) -> None:
        """Name the window's current pixmap (it changes when the window is mapped again or
        resized). ``border`` is the window's border width now. Raises :class:`XRequestError`
        when the window is not viewable or gone (the caller has just checked it is not)."""
        x = self._x
        old, self._pixmap = self._pixmap, None
        if old is not None:
            x.send(_FREE_PIXMAP, 0, _ONE_ID.pack(old), reply=False)
        pixmap = x.generate_id()
        name = _NAME.pack(self.xid, pixmap)
        x.check(
            x.send(self._op, _NAME_WINDOW_PIXMAP, name, reply=False, checked=True),
            "CompositeNameWindowPixmap",
        )
        self._pixmap, self._border = pixmap, border

    @property
    def ready(self) -> bool:
        """Whether a pixmap is named (after a successful :meth:`refresh`)."""
        return self._pixmap is not None

    def read(self, x: int, y: int, width: int, height: int) -> bytearray | None:
        """The raw 32-bit pixels (BGRX on a little-endian server) of a rectangle in window
        coordinates (inside the border), or None when the window's pixels are not 32-bit."""
        if self._pixmap is None:
            raise CaptureError("the window's pixmap is not named yet")
        border = self._border
        return self._x.get_drawable_image(self._pixmap, x + border, y + border, width, height)

    def close(self) -> None:
        """Free the pixmap and end the redirection; safe to call twice, and after the server
        or the window went away (the server then undid both itself)."""
        if self._closed:
            return
        self._closed = True
        x = self._x
        if not x.alive:
            return
        try:
            if self._pixmap is not None:
                x.send(_FREE_PIXMAP, 0, _ONE_ID.pack(self._pixmap), reply=False)
            x.send(self._op, _UNREDIRECT_WINDOW, _REDIRECT.pack(self.xid, _AUTOMATIC), reply=False)
            x.flush()
        except CaptureError:
            pass
