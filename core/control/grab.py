"""Keep the revoke chord away from the focused application while the hotkey is armed (X11).

The hotkey listens through RECORD, which copies key events out of the server without taking
them: the focused application got Ctrl+F12 as well (xterm typed ``;5~`` into the shell). So
while the hotkey is armed, :class:`ChordGrab` holds a passive grab (``GrabKey``) of F12 with
Control on the root window: the server then delivers that chord to us instead of to the focused
window, whoever pressed it (the presenter's keyboard, or the controller through XTEST). RECORD
still sees it first, so revoking is unchanged; a grab cannot fail the hotkey, only leave the
chord visible to applications (then a warning is logged).

Grabs match modifiers exactly, so the chord is grabbed with Control plus every combination of
the other seven modifiers: Caps Lock and Num Lock being on (two of them) must not let the chord
through, and Ctrl+Shift+F12 revokes too (the listener ignores extra modifiers), so it is kept
from the application as well. Plain F12, Shift+F12 and the like are not grabbed: they are the
application's. Closing the connection releases every grab (the server does that for a client
that goes away, so a crashed presenter leaves no grab behind either).
"""

from __future__ import annotations

import itertools
import logging
import os
import struct

from core.capture.xcb import XcbConnection
from core.control.keymap import CONTROL_MASK, MODIFIER_MASKS, XK_F12
from core.control.xtest import read_keymap

log = logging.getLogger(__name__)

_GRAB_KEY = 33
_UNGRAB_KEY = 34
_GRAB_MODE_ASYNC = 1
_ANY_MODIFIER = 0x8000
_GET_INPUT_FOCUS = 43


def chord_modifier_sets() -> list[int]:
    """Control with each of the 128 combinations of the other seven core modifiers."""
    others = [mask for mask in MODIFIER_MASKS if mask != CONTROL_MASK]
    return [
        CONTROL_MASK | sum(combo)
        for size in range(len(others) + 1)
        for combo in itertools.combinations(others, size)
    ]


class ChordGrab:
    """Ctrl+F12 grabbed on the root window of ``display_name`` until :meth:`close`."""

    def __init__(self, display_name: str | None = None) -> None:
        name = display_name if display_name is not None else os.environ.get("DISPLAY", "")
        self._conn = XcbConnection(name)
        try:
            self.keycodes = read_keymap(self._conn).keycodes_of(XK_F12)
            self.refused = self._grab()
        except BaseException:
            self._conn.close()
            raise

    def _grab(self) -> int:
        """Grab every combination; returns how many the server refused (another client holds
        that one already)."""
        conn = self._conn
        sequences = [
            conn.send(
                _GRAB_KEY,
                0,  # owner-events false: the chord goes to us, wherever the focus is
                struct.pack(
                    "=IHBBB3x", conn.root, modifiers, keycode, _GRAB_MODE_ASYNC, _GRAB_MODE_ASYNC
                ),
                reply=False,
                checked=True,
            )
            for keycode in self.keycodes
            for modifiers in chord_modifier_sets()
        ]
        conn.flush()
        refused = 0
        for sequence in sequences:
            try:
                conn.check(sequence, "GrabKey")
            except Exception:
                refused += 1
        if refused or not self.keycodes:
            log.warning(
                "the revoke chord is only partly kept from applications "
                "(%d of %d grabs refused, %d F12 keys)",
                refused,
                len(sequences),
                len(self.keycodes),
            )
        return refused

    def close(self) -> None:
        """Ungrab and disconnect. Idempotent; never raises."""
        conn = self._conn
        if not conn.alive:
            conn.close()
            return
        try:
            for keycode in self.keycodes:
                conn.send(
                    _UNGRAB_KEY,
                    keycode,
                    struct.pack("=IHxx", conn.root, _ANY_MODIFIER),
                    reply=False,
                )
            conn.reply(conn.send(_GET_INPUT_FOCUS, 0, b"", reply=True), "GetInputFocus")
        except Exception:
            log.debug("ungrabbing the revoke chord failed", exc_info=True)
        finally:
            conn.close()
