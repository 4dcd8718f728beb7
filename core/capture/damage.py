"""Which parts of the screen were drawn since the last look: XDAMAGE on the root window.

A damage object on the root window accumulates every rectangle drawn to the screen (all
windows, since they share the screen's pixels when nothing is composited, and a compositor's
output when something is). It is created with the *delta rectangles* report level: the server
sends a ``DamageNotify`` carrying a rectangle whenever drawing adds to the accumulated region,
and nothing for drawing inside it, so a busy screen costs a few events per look, not one per
drawing request. Looking (:meth:`ScreenDamage.collect`) hands over the rectangles the events
brought and empties the region (``DamageSubtract``, no reply awaited): no round trip, so a
keystroke costs the presenter one wait for the X server (the pixels), not two. (The *non-empty*
level plus ``XFixesFetchRegion``, used before, cost a round trip per look.)

Why nothing is lost: the subtract travels on the connection the pixels are then read on, so the
server empties the region before it reads them. A drawing it runs before the subtract sent an
event (or lies in the area of one it sent) before the subtract: received already, its area is
read now, after the drawing; still on its way, it is read at the next look. A drawing it runs
after the subtract adds to an empty region, so it sends an event, which the next look sees.

Not every pixel change is damage: direct-rendering GL clients on some drivers, and the pointer
sprite, draw without it. The capturer therefore still compares the whole area now and then.

The pointer is watched on the same connection: with XInput 2 (2.0 and later; every current X
server) the root window receives a ``RawMotion`` event whenever any pointer device moves, so
the presenter asks where the pointer is only after it moved, instead of asking several times a
second on a still screen (each ask woke the presenter, the most expensive part of idling).
Without XInput 2, :attr:`ScreenDamage.pointer_events` is False and the caller polls.

The requests go over libxcb (:mod:`core.capture.xcb`): a look costs a few ctypes calls, where
python-xlib cost a few dozen Python calls per request.
"""

from __future__ import annotations

import struct

from core.capture.errors import CaptureError
from core.capture.sources import Rect
from core.capture.xcb import GENERIC_EVENT, Extension, XcbConnection, XRequestError

#: DAMAGE 1.1 is what every server since 2007 speaks; the server refuses requests from a
#: client that did not announce a version.
_DAMAGE_VERSION = (1, 1)
#: Minor opcodes: QueryVersion 0, Create 1, Destroy 2, Subtract 3.
_DAMAGE_QUERY_VERSION, _DAMAGE_CREATE, _DAMAGE_DESTROY, _DAMAGE_SUBTRACT = 0, 1, 2, 3
#: DamageReportLevel: an event with a rectangle whenever drawing adds to the region.
_REPORT_DELTA_RECTANGLES = 1
#: DamageNotify is the extension's first (and only) event; its area (x, y, width, height,
#: relative to the root window) starts at byte 16.
_DAMAGE_NOTIFY = 0
_NOTIFY_AREA = struct.Struct("=16xhhHH")
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


class ScreenDamage:
    """XDAMAGE on the root window of one libxcb connection; see the module docstring.

    Use :meth:`start`, which answers None when the server lacks DAMAGE. The
    connection stays the caller's (closing this frees only the server's objects). Not
    thread-safe, like the capturer that owns it.
    """

    def __init__(self, x: XcbConnection, damage_ext: Extension) -> None:
        self._x = x
        self._damage_op = damage_ext.major_opcode
        self._notify = damage_ext.first_event + _DAMAGE_NOTIFY
        #: Rectangles the events brought since the last collect() (screen pixels).
        self._drawn: list[Rect] = []
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
        self._damage = x.generate_id()
        create = _CREATE.pack(self._damage, x.root, _REPORT_DELTA_RECTANGLES)
        x.check(
            x.send(self._damage_op, _DAMAGE_CREATE, create, reply=False, checked=True),
            "DamageCreate",
        )

    @classmethod
    def start(cls, x: XcbConnection) -> ScreenDamage | None:
        """Watch the whole screen, or None when the X server cannot report damage."""
        try:
            damage_ext = x.extension("DAMAGE")
            if damage_ext is None:
                return None
            _version(x, damage_ext, _DAMAGE_QUERY_VERSION, _DAMAGE_VERSION)
            return cls(x, damage_ext)
        except XRequestError:
            return None

    def fileno(self) -> int:
        """The connection's socket: readable when the server sent something (e.g. damage)."""
        return self._x.fileno()

    def pending(self) -> bool:
        """Whether anything was drawn since the last :meth:`collect` (reads what the server sent,
        without waiting). Call it right before waiting on :meth:`fileno`: any round trip on the
        connection may queue an event where the socket no longer shows it."""
        self._drain()
        return bool(self._drawn)

    def collect(self) -> list[Rect]:
        """The screen rectangles drawn since the last call (possibly empty), and start over."""
        self._drain()
        if not self._drawn:
            return []
        found, self._drawn = self._drawn, []
        x = self._x
        # Repair None, parts None: empty the whole region. Flushed now, so drawing from here on
        # raises events even if no request (a read) follows soon.
        x.send(self._damage_op, _DAMAGE_SUBTRACT, _SUBTRACT.pack(self._damage, 0, 0), reply=False)
        x.flush()
        return found

    def pointer(self) -> tuple[int, int] | None:
        """Where the pointer is now (None: on another screen); clears :attr:`pointer_moved`
        first, so a move after this answer is seen at the next look."""
        if self._xi is not None:
            self._drain()
            self.pointer_moved = False
        return self._x.pointer()

    def _drain(self) -> None:
        notify, xi = self._notify, self._xi
        for head in self._x.poll_events():
            kind = head[0] & 0x7F
            if kind == notify:
                self.events += 1
                rx, ry, rw, rh = _NOTIFY_AREA.unpack_from(head)
                if rw > 0 and rh > 0:
                    self._drawn.append(Rect(rx, ry, rw, rh))
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
