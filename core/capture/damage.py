"""Which parts of the screen were drawn since the last look: XDAMAGE on the root window.

A damage object on the root window accumulates every rectangle drawn to the screen (all
windows, since they share the screen's pixels when nothing is composited, and a compositor's
output when something is). It is created with the *non-empty* report level: the server sends
one ``DamageNotify`` when the accumulated region stops being empty and then stays quiet, so a
busy screen costs one event per look, not one per drawing request. Looking
(:meth:`ScreenDamage.collect`) moves the accumulated region into an XFIXES region and clears it
(``DamageSubtract``), then reads the region back (``XFixesFetchRegion``), one round trip.

Why nothing is lost: the server sends the event for the first drawing after a subtract, and the
subtract is done (its round trip answered) before the caller reads any pixel. A drawing the
server runs before the subtract is in the collected region, so the pixels read afterwards
include it; a drawing it runs after the subtract raises a new event, which the next look sees.

Why not the *delta rectangles* level, whose events carry the rectangles and so spare the round
trip: measured while typing, it often split one keystroke into two updates. A
terminal draws the glyph and then the cursor; the round trip of a look gives the second drawing
the time to land in the same look, where a look without one took the glyph alone.

Not every pixel change is damage: direct-rendering GL clients on some drivers, and the pointer
sprite, draw without it. The capturer therefore still compares the whole area now and then.

The pointer is watched on the same connection: with XInput 2 (2.0 and later; every current X
server) the root window receives a ``RawMotion`` event whenever any pointer device moves, so
the presenter asks where the pointer is only after it moved, instead of asking several times a
second on a still screen (each ask woke the presenter, the most expensive part of idling).
Without XInput 2, :attr:`ScreenDamage.pointer_events` is False and the caller polls.

The requests go over libxcb (:mod:`core.capture.xcb`): a look costs a few ctypes calls, where
python-xlib cost a few dozen Python calls per request.

**One window's own drawing** (:meth:`ScreenDamage.watch_window`): when a shared window is
redirected with XComposite (:mod:`core.capture.composite`), its drawing goes to its own pixmap,
so drawing under a window that overlaps it never reaches the root window's damage. A second
damage object on the window itself reports it, in window coordinates
(:meth:`ScreenDamage.collect_window`); both objects' events arrive on this connection and are
told apart by the damage id they carry.
"""

from __future__ import annotations

import struct

from core.capture.errors import CaptureError
from core.capture.sources import Rect
from core.capture.xcb import (
    GENERIC_EVENT,
    Extension,
    PreparedRequest,
    XcbConnection,
    XRequestError,
)

#: XFIXES 2.0 introduced regions; the server refuses region requests from a client that
#: announced less. DAMAGE 1.1 is what every server since 2007 speaks.
_XFIXES_VERSION = (2, 0)
_DAMAGE_VERSION = (1, 1)
#: Minor opcodes (DAMAGE: QueryVersion 0, Create 1, Destroy 2, Subtract 3; XFIXES below).
_DAMAGE_QUERY_VERSION, _DAMAGE_CREATE, _DAMAGE_DESTROY, _DAMAGE_SUBTRACT = 0, 1, 2, 3
_XFIXES_QUERY_VERSION, _XFIXES_CREATE_REGION, _XFIXES_DESTROY_REGION = 0, 5, 10
_XFIXES_FETCH_REGION = 19
#: DamageReportLevel: one event when the accumulated region stops being empty.
_REPORT_NON_EMPTY = 3
#: DamageNotify is the extension's first (and only) event.
_DAMAGE_NOTIFY = 0
#: XInput 2: XIQueryVersion and XISelectEvents minor opcodes, the version asked for, the
#: "all master devices" id and the RawMotion event type (and its bit in an event mask).
_XI_QUERY_VERSION, _XI_SELECT_EVENTS = 47, 46
_XI_VERSION = (2, 2)
_XI_ALL_MASTER_DEVICES = 1
_XI_RAW_MOTION = 17
_XI_SELECT = struct.Struct("=IHxxHHI")
_XI_VERSION_REQUEST = struct.Struct("=HH")

_VERSION = struct.Struct("=II")
_ONE_ID = struct.Struct("=I")
_SUBTRACT = struct.Struct("=III")
_CREATE = struct.Struct("=IIBxxx")
_RECTANGLE = struct.Struct("=hhHH")
#: FetchRegion's reply: 32-byte header (with the extents), then the rectangles.
_FETCH_HEADER = 32


class ScreenDamage:
    """XDAMAGE on the root window of one libxcb connection; see the module docstring.

    Use :meth:`start`, which answers None when the server lacks DAMAGE or XFIXES 2. The
    connection stays the caller's (closing this frees only the server's objects). Not
    thread-safe, like the capturer that owns it.
    """

    def __init__(self, x: XcbConnection, damage_ext: Extension, xfixes: Extension) -> None:
        self._x = x
        self._damage_op = damage_ext.major_opcode
        self._xfixes_op = xfixes.major_opcode
        self._notify = damage_ext.first_event + _DAMAGE_NOTIFY
        self._dirty = True  # the first collect() asks the server whatever it has
        #: The watched window's damage object and region (see watch_window), and whether it
        #: reported drawing since its last look.
        self._window_damage: int | None = None
        self._window_region = 0
        self._window_dirty = False
        self._window_subtract: PreparedRequest | None = None
        self._window_fetch: PreparedRequest | None = None
        self._closed = False
        self.events = 0
        """DamageNotify events seen (each means: something was drawn after the last look)."""
        self.pointer_moved = True
        """Whether the pointer may have moved since :meth:`pointer` last asked."""
        self.motion_events = 0
        """RawMotion events seen (XInput 2)."""
        self._xi = _watch_pointer(x)
        self.pointer_events = self._xi is not None
        """Whether :attr:`pointer_moved` follows XInput 2 motion (else it stays True)."""
        self._region = x.generate_id()
        region = _ONE_ID.pack(self._region)
        x.check(
            x.send(self._xfixes_op, _XFIXES_CREATE_REGION, region, reply=False, checked=True),
            "XFixesCreateRegion",
        )
        self._damage = x.generate_id()
        create = _CREATE.pack(self._damage, x.root, _REPORT_NON_EMPTY)
        x.check(
            x.send(self._damage_op, _DAMAGE_CREATE, create, reply=False, checked=True),
            "DamageCreate",
        )
        # The look's two requests never change: built once (see XcbConnection.prepare).
        subtract = _SUBTRACT.pack(self._damage, 0, self._region)  # repair None: take it all
        self._subtract = x.prepare(self._damage_op, _DAMAGE_SUBTRACT, subtract, reply=False)
        fetch = _ONE_ID.pack(self._region)
        self._fetch = x.prepare(self._xfixes_op, _XFIXES_FETCH_REGION, fetch, reply=True)

    def watch_window(self, xid: int) -> None:
        """Also report the drawing done in window ``xid`` (and its children), through
        :meth:`collect_window`; call it before the window is redirected, so the repaint that
        redirection causes is reported too. Raises :class:`XRequestError` (e.g. the window
        is gone)."""
        x = self._x
        region, damage = x.generate_id(), x.generate_id()
        x.check(
            x.send(
                self._xfixes_op, _XFIXES_CREATE_REGION, _ONE_ID.pack(region), reply=False,
                checked=True,
            ),
            "XFixesCreateRegion",
        )  # fmt: skip
        self._window_region = region
        x.check(
            x.send(
                self._damage_op, _DAMAGE_CREATE, _CREATE.pack(damage, xid, _REPORT_NON_EMPTY),
                reply=False, checked=True,
            ),
            "DamageCreate",
        )  # fmt: skip
        self._window_damage = damage
        self._window_dirty = True
        subtract = _SUBTRACT.pack(damage, 0, region)
        self._window_subtract = x.prepare(self._damage_op, _DAMAGE_SUBTRACT, subtract, reply=False)
        fetch = _ONE_ID.pack(region)
        self._window_fetch = x.prepare(self._xfixes_op, _XFIXES_FETCH_REGION, fetch, reply=True)

    @classmethod
    def start(cls, x: XcbConnection) -> ScreenDamage | None:
        """Watch the whole screen, or None when the X server cannot report damage."""
        try:
            damage_ext, xfixes = x.extension("DAMAGE"), x.extension("XFIXES")
            if damage_ext is None or xfixes is None:
                return None
            if _version(x, xfixes, _XFIXES_QUERY_VERSION, _XFIXES_VERSION) < _XFIXES_VERSION:
                return None
            _version(x, damage_ext, _DAMAGE_QUERY_VERSION, _DAMAGE_VERSION)
            return cls(x, damage_ext, xfixes)
        except XRequestError:
            return None

    def fileno(self) -> int:
        """The connection's socket: readable when the server sent something (e.g. damage)."""
        return self._x.fileno()

    def unwatch_window(self) -> None:
        """Stop what :meth:`watch_window` started (the window will not be read after all)."""
        damage, self._window_damage = self._window_damage, None
        if damage is None:
            return
        self._window_dirty = False
        self._window_subtract = self._window_fetch = None
        x = self._x
        x.send(self._damage_op, _DAMAGE_DESTROY, _ONE_ID.pack(damage), reply=False)
        region = _ONE_ID.pack(self._window_region)
        x.send(self._xfixes_op, _XFIXES_DESTROY_REGION, region, reply=False)
        x.flush()

    def pending(self, *, read: bool = True) -> bool:
        """Whether anything was drawn since the last :meth:`collect` (reads what the server sent,
        without waiting). Call it right before waiting on :meth:`fileno`: any round trip on the
        connection may queue an event where the socket no longer shows it. ``read=False``
        looks only at those queued events (no system call); what is still in the socket keeps
        :meth:`fileno` readable, so a wait on it returns at once."""
        self._drain(read=read)
        return self._dirty or self._window_dirty

    def collect(self) -> list[Rect]:
        """The screen rectangles drawn since the last call (possibly empty), and start over."""
        if not self._dirty:
            # Known dirty already (pending() just drained, as the presenter's wait does), the
            # drain is skipped: the look below takes all the damage anyway, and events still in
            # the socket are read at the next drain (the socket stays readable until then).
            self._drain()
        if not self._dirty:
            return []
        self._dirty = False
        return self._look(self._subtract, self._fetch)

    def collect_window(self) -> list[Rect]:
        """What :meth:`collect` is for the screen, for the window of :meth:`watch_window`:
        the rectangles drawn in it since the last call, relative to its top-left corner
        inside its border. Call it after :meth:`collect` (which reads the events)."""
        if not self._window_dirty or self._window_subtract is None:
            return []
        assert self._window_fetch is not None
        self._window_dirty = False
        return self._look(self._window_subtract, self._window_fetch)

    def _look(self, subtract: PreparedRequest, fetch: PreparedRequest) -> list[Rect]:
        x = self._x
        x.send_prepared(subtract)
        answer = x.reply(x.send_prepared(fetch), "XFixesFetchRegion")
        found = []
        for rx, ry, rw, rh in _RECTANGLE.iter_unpack(answer[_FETCH_HEADER:]):
            if rw > 0 and rh > 0:
                found.append(Rect(rx, ry, rw, rh))
        return found

    def pointer(self) -> tuple[int, int] | None:
        """Where the pointer is now (None: on another screen); clears :attr:`pointer_moved`
        first, so a move after this answer is seen at the next look."""
        if self._xi is not None:
            self._drain()
            self.pointer_moved = False
        return self._x.pointer()

    def _drain(self, *, read: bool = True) -> None:
        notify, xi, window = self._notify, self._xi, self._window_damage
        for head in self._x.poll_events(read=read):
            kind = head[0] & 0x7F
            if kind == notify:
                self.events += 1
                if window is not None and _ONE_ID.unpack_from(head, 8)[0] == window:
                    self._window_dirty = True
                else:
                    self._dirty = True
            elif kind == GENERIC_EVENT and head[1] == xi:
                self.motion_events += 1
                self.pointer_moved = True

    def close(self) -> None:
        """Free the server's objects; safe to call twice and after the connection died."""
        if self._closed:
            return
        self._closed = True
        x = self._x
        if x.alive:
            try:
                x.send(self._damage_op, _DAMAGE_DESTROY, _ONE_ID.pack(self._damage), reply=False)
                destroy = _ONE_ID.pack(self._region)
                x.send(self._xfixes_op, _XFIXES_DESTROY_REGION, destroy, reply=False)
                if self._window_damage is not None:
                    # Destroyed with its window already, maybe: the error is an event nobody
                    # reads any more (the connection is closed right after).
                    window = _ONE_ID.pack(self._window_damage)
                    x.send(self._damage_op, _DAMAGE_DESTROY, window, reply=False)
                    region = _ONE_ID.pack(self._window_region)
                    x.send(self._xfixes_op, _XFIXES_DESTROY_REGION, region, reply=False)
                x.flush()
            except CaptureError:
                pass  # the server went away meanwhile: it freed them itself


def _watch_pointer(x: XcbConnection) -> int | None:
    """Select XInput 2 RawMotion on the root window; the extension's major opcode (which
    its events carry), or None when the server has no XInput 2."""
    xi = x.extension("XInputExtension")
    if xi is None:
        return None
    try:
        asked = _XI_VERSION_REQUEST.pack(*_XI_VERSION)
        answer = x.reply(x.send(xi.major_opcode, _XI_QUERY_VERSION, asked, reply=True), "XI")
        if _XI_VERSION_REQUEST.unpack_from(answer, 8) < (2, 0):
            return None
        mask = _XI_SELECT.pack(x.root, 1, _XI_ALL_MASTER_DEVICES, 1, 1 << _XI_RAW_MOTION)
        x.check(
            x.send(xi.major_opcode, _XI_SELECT_EVENTS, mask, reply=False, checked=True),
            "XISelectEvents",
        )
    except XRequestError:
        return None
    return xi.major_opcode


def _version(
    x: XcbConnection, extension: Extension, minor: int, wanted: tuple[int, int]
) -> tuple[int, int]:
    """Announce the version this client speaks; the server answers the one it will use."""
    sequence = x.send(extension.major_opcode, minor, _VERSION.pack(*wanted), reply=True)
    major_version, minor_version = _VERSION.unpack_from(x.reply(sequence, "QueryVersion"), 8)
    return major_version, minor_version
