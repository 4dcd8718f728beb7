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

Not every pixel change is damage: direct-rendering GL clients on some drivers, and the pointer
sprite, draw without it. The capturer therefore still compares the whole area now and then.

python-xlib 0.33 ships ``Xlib.ext.damage`` but only the cursor part of XFIXES; the three region
requests needed here are declared below.
"""

from __future__ import annotations

import contextlib
from typing import Any

from Xlib import X  # type: ignore[import-untyped]
from Xlib import error as xerror
from Xlib.ext import damage as xdamage  # type: ignore[import-untyped]
from Xlib.protocol import rq, structs  # type: ignore[import-untyped]

from core.capture.errors import CaptureError
from core.capture.sources import Rect
from core.capture.windows import XConnection

#: XFIXES 2.0 introduced regions; the server refuses region requests from a client that
#: announced less.
_XFIXES_VERSION = (2, 0)


class _XFixesQueryVersion(rq.ReplyRequest):  # type: ignore[misc]
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(0),
        rq.RequestLength(),
        rq.Card32("major_version"),
        rq.Card32("minor_version"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Pad(1),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card32("major_version"),
        rq.Card32("minor_version"),
        rq.Pad(16),
    )


class _XFixesCreateRegion(rq.Request):  # type: ignore[misc]
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(5),
        rq.RequestLength(),
        rq.Card32("region"),
        rq.List("rectangles", structs.Rectangle),
    )


class _XFixesDestroyRegion(rq.Request):  # type: ignore[misc]
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(10),
        rq.RequestLength(),
        rq.Card32("region"),
    )


class _XFixesFetchRegion(rq.ReplyRequest):  # type: ignore[misc]
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(19),
        rq.RequestLength(),
        rq.Card32("region"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Pad(1),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Object("extents", structs.Rectangle),
        rq.Pad(16),
        rq.List("rectangles", structs.Rectangle),
    )


class ScreenDamage:
    """XDAMAGE on the root window of one :class:`XConnection`; see the module docstring.

    Use :meth:`start`, which answers None when the server lacks DAMAGE or XFIXES 2. Not
    thread-safe, like the connection it shares.
    """

    def __init__(self, connection: XConnection, display: Any, root: Any) -> None:
        self._connection = connection
        self._display = display
        self._protocol = display.display
        self._xfixes = display.display.get_extension_major("XFIXES")
        # python-xlib registers a copy of the event class per display, so match the code.
        self._notify = int(display.query_extension("DAMAGE").first_event) + xdamage.DamageNotifyCode
        self._region = 0
        self._damage = 0
        self._dirty = True  # the first collect() asks the server whatever it has
        self._closed = False
        self.events = 0
        """DamageNotify events seen (each means: something was drawn after the last look)."""
        self._region = display.display.allocate_resource_id()
        _XFixesCreateRegion(
            display=self._protocol, opcode=self._xfixes, region=self._region, rectangles=[]
        )
        self._damage = root.damage_create(xdamage.DamageReportNonEmpty)
        display.sync()  # errors (e.g. BadAccess) surface here, not at the first collect

    @classmethod
    def start(cls, connection: XConnection) -> ScreenDamage | None:
        """Watch the whole screen, or None when the X server cannot report damage."""
        display = connection.xlib
        if not (display.has_extension("DAMAGE") and display.has_extension("XFIXES")):
            return None
        try:
            with connection.talking():
                reply = _XFixesQueryVersion(
                    display=display.display,
                    opcode=display.display.get_extension_major("XFIXES"),
                    major_version=_XFIXES_VERSION[0],
                    minor_version=_XFIXES_VERSION[1],
                )
                if (int(reply.major_version), int(reply.minor_version)) < _XFIXES_VERSION:
                    return None
                display.damage_query_version()
                return cls(connection, display, display.screen().root)
        except xerror.XError:
            return None

    def fileno(self) -> int:
        """The connection's socket: readable when the server sent something (e.g. damage)."""
        return int(self._display.fileno())

    def pending(self) -> bool:
        """Whether anything was drawn since the last :meth:`collect` (reads what the server sent,
        without waiting). Call it right before waiting on :meth:`fileno`: any round trip on the
        connection may queue an event where the socket no longer shows it."""
        self._drain()
        return self._dirty

    def collect(self) -> list[Rect]:
        """The screen rectangles drawn since the last call (possibly empty), and start over."""
        self._drain()
        if not self._dirty:
            return []
        self._dirty = False
        with self._connection.talking():
            self._display.damage_subtract(self._damage, X.NONE, self._region)
            reply = _XFixesFetchRegion(
                display=self._protocol, opcode=self._xfixes, region=self._region
            )
        found = []
        for r in reply.rectangles:
            if r.width > 0 and r.height > 0:
                found.append(Rect(int(r.x), int(r.y), int(r.width), int(r.height)))
        return found

    def _drain(self) -> None:
        display = self._display
        with self._connection.talking():
            while display.pending_events():
                event = display.next_event()
                if event.type == self._notify:
                    self.events += 1
                    self._dirty = True

    def close(self) -> None:
        """Free the server's objects; safe to call twice and after the connection died."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(CaptureError, xerror.XError), self._connection.talking():
            self._display.damage_destroy(self._damage)
            _XFixesDestroyRegion(display=self._protocol, opcode=self._xfixes, region=self._region)
            self._display.flush()
