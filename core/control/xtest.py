"""Every injected key, button and motion as a real device event through the XTEST extension.

Why not pynput on X11: pynput types printable characters with ``XSendEvent`` to the focused
window. xterm (``allowSendEvents`` is false by default) and other careful applications drop
such synthetic events, and without a window manager there is often no focused window at all
(the focus is PointerRoot). So a controller typing ``echo hello`` into the presenter's
terminal got Return and a space. XTEST input is indistinguishable from a keyboard: it goes
where a real key would, under the server's own modifier state, like x11vnc and xdotool.

Typing a character is therefore a lookup in the server's keyboard mapping (which keycode, at
which level; see :mod:`core.control.keymap`), with Shift and AltGr pressed or lifted around the
key as that level needs and put back afterwards. A keysym that is nowhere on the map (é on a US
layout, ø, any non-Latin letter) is bound to a spare keycode, one with an empty mapping. The
binding stays until control ends (:meth:`XTestBackend.reset`, which the injector calls when it
releases everything) and is then removed: an application reads the new mapping only when it
handles the key event, so undoing it right after the key would race the application and type
nothing (a known xdotool problem). At most as many distinct such characters as there are spare
keycodes are bound at once; the least recently used binding is reused after that.

All requests go over one libxcb connection (:class:`~core.capture.xcb.XcbConnection`): a key is
one small request, and every :meth:`XTestBackend.apply` ends with one round trip, so what it
did has happened on the server when it returns (a query from another connection sees it) and an
X error surfaces as an exception the injector counts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import time
from collections import OrderedDict

from core.capture.xcb import XcbConnection
from core.control.backend import UnsupportedKey
from core.control.keymap import (
    SPECIAL_KEYSYMS,
    Keymap,
    Stroke,
    char_keysym,
    spare_row,
)
from core.control.mapping import KeyKind, KeySpec
from core.control.plan import (
    Action,
    Move,
    PressButton,
    PressKey,
    ReleaseButton,
    ReleaseKey,
    Scroll,
    TypeText,
)

log = logging.getLogger(__name__)

#: Core requests used here.
_CHANGE_KEYBOARD_MAPPING = 100
_GET_KEYBOARD_MAPPING = 101
_GET_MODIFIER_MAPPING = 119
_QUERY_POINTER = 38
_QUERY_KEYMAP = 44
_GET_INPUT_FOCUS = 43
#: XTEST's FakeInput minor opcode and the core event types it takes.
_FAKE_INPUT = 2
KEY_PRESS, KEY_RELEASE, BUTTON_PRESS, BUTTON_RELEASE, MOTION_NOTIFY = 2, 3, 4, 5, 6
_MAPPING_NOTIFY = 34
#: type, detail, time (0: now), root, x, y, device id (0: the core devices).
_FAKE = struct.Struct("=BBxxII8xhh7xB")

#: Pause after binding spare keycodes, before pressing them (only on a keysym's first use).
#: 20 ms was enough on a quiet machine. A CI failure first blamed on this pause (é typed as
#: nothing) was keycodes left bound by an earlier revoke (fixed in _bind_all); 100 ms stays as
#: margin for a loaded machine, paid once per batch of newly bound characters, never per key.
BIND_SETTLE = 0.1
#: A spare keycode is bound to another keysym only this long after its last key event (only
#: when a text needs more distinct rare characters than there are spare keycodes).
REBIND_AFTER = 0.25
#: Wheel buttons: up, down, left, right (X11 and pynput conventions).
_WHEEL_UP, _WHEEL_DOWN, _WHEEL_LEFT, _WHEEL_RIGHT = 4, 5, 6, 7


class XTestUnavailable(RuntimeError):
    """No X display, or one without the XTEST extension: nothing can be injected."""


class Interrupted(RuntimeError):
    """Control was revoked while an action waited; the rest of it was not done."""


def key_keysym(spec: KeySpec) -> int:
    """The keysym an allow-listed key stands for; UnsupportedKey if we have none."""
    if spec.kind is KeyKind.CHAR:
        return char_keysym(spec.value)
    try:
        return SPECIAL_KEYSYMS[spec.value]
    except KeyError:
        raise UnsupportedKey(spec.value) from None


def read_keymap(conn: XcbConnection) -> Keymap:
    """The server's keyboard and modifier mappings, now (one round trip)."""
    low, high = conn.keycode_range()
    keys = conn.send(
        _GET_KEYBOARD_MAPPING, 0, struct.pack("=BBxx", low, high - low + 1), reply=True
    )
    mods = conn.send(_GET_MODIFIER_MAPPING, 0, b"", reply=True)
    answer = conn.reply(keys, "GetKeyboardMapping")
    per_keycode = answer[1]
    keysyms = struct.unpack_from(f"={(len(answer) - 32) // 4}I", answer, 32)
    answer = conn.reply(mods, "GetModifierMapping")
    per_modifier = answer[1]
    codes = answer[32 : 32 + 8 * per_modifier]
    modifiers = [codes[i * per_modifier : (i + 1) * per_modifier] for i in range(8)]
    return Keymap(low, per_keycode, keysyms, modifiers)


class XTestBackend:
    """Injects :mod:`~core.control.plan` actions with XTEST on one X display.

    Not thread-safe: the injector serialises every call under its lock.
    """

    def __init__(self, display_name: str | None = None) -> None:
        name = display_name if display_name is not None else os.environ.get("DISPLAY", "")
        if not name:
            raise XTestUnavailable("no X display ($DISPLAY is not set)")
        self._conn = XcbConnection(name)
        try:
            extension = self._conn.extension("XTEST")
            if extension is None:
                raise XTestUnavailable(f"the X display {name!r} has no XTEST extension")
            self._xtest = extension.major_opcode
        except BaseException:
            self._conn.close()
            raise
        self._keymap: Keymap | None = None
        #: Keycodes whose mapping was empty when we first read it: ours to bind.
        self._spares: list[int] | None = None
        #: Mapping row (see spare_row) → the spare keycode bound to it, least recently used first.
        self._bound: OrderedDict[tuple[int, ...], int] = OrderedDict()
        #: The keycode each held key went down on (released on that one, whatever the map).
        self._down: dict[KeySpec, int] = {}
        #: When each keycode last got a key event (only spares' are looked at).
        self._last_used: dict[int, float] = {}
        #: Set by :meth:`interrupt` (another thread) to cut a wait short.
        self._interrupted = threading.Event()

    # -- the backend interface the injector uses -----------------------------------------

    def key(self, spec: KeySpec) -> int:
        """The keysym for ``spec``; raises UnsupportedKey (checked before anything is done)."""
        return key_keysym(spec)

    def apply(self, action: Action) -> None:
        """Perform one action, then wait until the server has handled it."""
        self._take_events(read=True)  # a layout switched meanwhile is used from this key on
        match action:
            case Move(x, y):
                self._fake(MOTION_NOTIFY, 0, x, y)
            case PressButton(button):
                self._fake(BUTTON_PRESS, button)
            case ReleaseButton(button):
                self._fake(BUTTON_RELEASE, button)
            case Scroll(dx, dy):
                self._scroll(dx, dy)
            case PressKey(spec):
                self._press(spec)
            case ReleaseKey(spec):
                self._release(spec)
            case TypeText(text):
                self._type(text)
        self._sync()

    def interrupt(self) -> None:
        """Cut short a wait in the action running on another thread (see :meth:`_pause`)."""
        self._interrupted.set()

    def reset(self) -> None:
        """Control ended (or stalled): unbind every spare keycode we bound."""
        self._interrupted.clear()  # the revoke that interrupted is done with the lock now
        if not self._bound:
            return
        keymap = self._map()
        busy = set(self._down.values())
        for row, keycode in list(self._bound.items()):
            if keycode in busy:
                continue
            self._change_mapping(keycode, (0,) * keymap.per_keycode)
            del self._bound[row]
        self._sync()

    def close(self) -> None:
        """Unbind our spare keycodes and disconnect. Never raises."""
        self._down.clear()
        with contextlib.suppress(Exception):
            self.reset()
        self._conn.close()

    # -- keys ----------------------------------------------------------------------------

    def _press(self, spec: KeySpec) -> None:
        keysym = key_keysym(spec)
        if spec.kind is KeyKind.SPECIAL:
            # A named key goes down as it is: the controller chose the modifiers around it.
            keymap = self._map()
            keycode = keymap.key_for(keysym)
            if keycode is None:
                keycode = self._bind(spare_row(keysym, keymap.per_keycode))
            self._down[spec] = keycode
            self._fake(KEY_PRESS, keycode)
            return
        state, pressed = self._state()
        stroke = self._stroke(keysym, state, pressed)
        self._down[spec] = stroke.keycode
        self._steps(stroke.before)
        self._fake(KEY_PRESS, stroke.keycode)
        self._steps(stroke.after)

    def _release(self, spec: KeySpec) -> None:
        keycode = self._down.pop(spec, None)
        if keycode is None:  # not pressed through us: release where it would have gone down
            keysym = key_keysym(spec)
            found = self._map().locate(keysym)
            row = spare_row(keysym, self._map().per_keycode)
            keycode = found[0] if found is not None else self._bound.get(row)
            if keycode is None:
                return
        self._fake(KEY_RELEASE, keycode)

    def _type(self, text: str) -> None:
        # Every stroke puts the modifiers back as they were, so one look at the state serves
        # the whole text.
        state, pressed = self._state()
        keysyms = [char_keysym(char) for char in text]
        start = 0
        while start < len(keysyms):
            end = self._prepare(keysyms, start, state, pressed)
            for keysym in keysyms[start:end]:
                stroke = self._stroke(keysym, state, pressed)
                self._steps(stroke.before)
                self._fake(KEY_PRESS, stroke.keycode)
                self._fake(KEY_RELEASE, stroke.keycode)
                self._steps(stroke.after)
            start = end

    def _prepare(self, keysyms: list[int], start: int, state: int, pressed: set[int]) -> int:
        """Bind spare keycodes for the keysyms from ``start`` on that need one, as many as
        fit at once, and return where this batch ends (the next one rebinds keycodes)."""
        keymap = self._map()
        if self._spares is None:
            self._spares = keymap.spare_keycodes()
        held = set(self._down.values())
        room = sum(1 for code in self._spares if code not in held)
        used: set[int] = set()  # bound keycodes this batch types on: not to be rebound in it
        missing: list[tuple[int, ...]] = []
        end = start
        for keysym in keysyms[start:]:
            row = spare_row(keysym, keymap.per_keycode)
            code = self._bound.get(row)
            if code is not None:
                used.add(code)
            elif row not in missing and keymap.stroke(keysym, state, pressed) is None:
                if len(used) + len(missing) >= room:
                    break
                missing.append(row)
            end += 1
        if end == start:
            raise UnsupportedKey("no spare keycode left to bind")
        if missing:
            self._bind_all(missing, frozenset(used))
        return end

    def _stroke(self, keysym: int, state: int, pressed: set[int]) -> Stroke:
        keymap = self._map()
        row = spare_row(keysym, keymap.per_keycode)
        keycode = self._bound.get(row)
        if keycode is None:
            stroke = keymap.stroke(keysym, state, pressed)
            if stroke is not None:
                return stroke
            keycode = self._bind(row)
        else:
            self._bound.move_to_end(row)
        # A letter's spare key holds both cases (see spare_row): Shift as for any letter key.
        stroke = keymap.arrange(keycode, row[0] != keysym, False, row[0] != row[1], state, pressed)
        return stroke if stroke is not None else Stroke(keycode)

    def _steps(self, steps: tuple[tuple[int, bool], ...]) -> None:
        for keycode, press in steps:
            self._fake(KEY_PRESS if press else KEY_RELEASE, keycode)

    def _scroll(self, dx: int, dy: int) -> None:
        for button, steps in (
            (_WHEEL_UP if dy > 0 else _WHEEL_DOWN, abs(dy)),
            (_WHEEL_RIGHT if dx > 0 else _WHEEL_LEFT, abs(dx)),
        ):
            for _ in range(steps):
                self._fake(BUTTON_PRESS, button)
                self._fake(BUTTON_RELEASE, button)

    # -- spare keycodes ------------------------------------------------------------------

    def _bind(self, row: tuple[int, ...]) -> int:
        """A spare keycode bound to ``row`` (a :func:`spare_row`) now."""
        if self._spares is None:
            self._spares = self._map().spare_keycodes()
        self._bind_all([row], frozenset())
        return self._bound[row]

    def _bind_all(self, rows: list[tuple[int, ...]], keep: frozenset[int]) -> None:
        """Bind each of ``rows`` to a spare keycode, then pause once (:data:`BIND_SETTLE`).

        A free spare first; else the one bound longest ago, but never a held key's or one in
        ``keep``. Why the pauses: an application reads a new mapping when it handles the key
        event, so a keycode rebound before it handled the last key typed on it types the new
        keysym instead (measured: with 20 ms between, an xterm on a busy machine typed the
        second batch's letters for the whole first batch); so a keycode is rebound only
        :data:`REBIND_AFTER` after its last key. And in two early manual runs an xterm typed
        nothing for keycodes bound a moment earlier (not reproduced in some forty tries since,
        with or without the pause after binding). One pause per batch, not per character, so
        a long text of rare characters does not hold the injector (and a revoke) for long.
        """
        spares = self._spares or []
        taken = set(self._bound.values())
        free = [code for code in spares if code not in taken]
        protected = set(self._down.values()) | keep
        reusable = [row for row, code in self._bound.items() if code not in protected]
        plan: list[tuple[tuple[int, ...], int]] = []
        evicted: list[tuple[int, ...]] = []
        for row in rows:
            if free:
                plan.append((row, free.pop(0)))
            elif reusable:
                old = reusable.pop(0)
                evicted.append(old)
                plan.append((row, self._bound[old]))
            else:
                raise UnsupportedKey("no spare keycode left to bind")
        reused = [code for _, code in plan if code in taken]
        if reused:
            # The keys typed so far must reach the applications first (libxcb holds requests
            # until a flush: they would arrive after the rebinding, and be looked up in it).
            self._sync()
            last = max(self._last_used.get(code, 0.0) for code in reused)
            # A revoke can end this pause: every keycode is still tracked as bound to what the
            # server has, so reset() unbinds them all (forgetting them before the pause left
            # them bound on the server for good, and a later session without spare keycodes).
            self._pause(last + REBIND_AFTER - time.monotonic())
        for old in evicted:
            del self._bound[old]
        for row, keycode in plan:
            self._change_mapping(keycode, row)
            self._bound[row] = keycode
        self._sync()
        self._pause(BIND_SETTLE)

    def _pause(self, seconds: float) -> None:
        """Wait, unless control is being revoked: then stop this action here."""
        if seconds > 0 and self._interrupted.wait(seconds):
            raise Interrupted("control was revoked while typing")

    def _change_mapping(self, keycode: int, row: tuple[int, ...]) -> None:
        payload = struct.pack(f"=BBxx{len(row)}I", keycode, len(row), *row)
        self._conn.send(_CHANGE_KEYBOARD_MAPPING, 1, payload, reply=False)

    # -- server state ----------------------------------------------------------------------

    def _map(self) -> Keymap:
        if self._keymap is None:
            self._keymap = read_keymap(self._conn)
        return self._keymap

    def _state(self) -> tuple[int, set[int]]:
        """The modifier mask in force and the keycodes down now (one round trip)."""
        conn = self._conn
        pointer = conn.send(_QUERY_POINTER, 0, struct.pack("=I", conn.root), reply=True)
        keymap = conn.send(_QUERY_KEYMAP, 0, b"", reply=True)
        (state,) = struct.unpack_from("=H", conn.reply(pointer, "QueryPointer"), 24)
        bits = conn.reply(keymap, "QueryKeymap")[8:40]
        pressed = {i * 8 + b for i, byte in enumerate(bits) for b in range(8) if byte >> b & 1}
        return state, pressed

    def _fake(self, kind: int, detail: int, x: int = 0, y: int = 0) -> None:
        if kind in (KEY_PRESS, KEY_RELEASE):
            self._last_used[detail] = time.monotonic()
        payload = _FAKE.pack(
            kind, detail, 0, self._conn.root if kind == MOTION_NOTIFY else 0, x, y, 0
        )
        self._conn.send(self._xtest, _FAKE_INPUT, payload, reply=False)

    def _sync(self) -> None:
        """One round trip: the server has handled everything sent; errors and mapping changes
        (someone ran setxkbmap) that arrived meanwhile are taken in."""
        conn = self._conn
        conn.reply(conn.send(_GET_INPUT_FOCUS, 0, b"", reply=True), "GetInputFocus")
        self._take_events(read=False)

    def _take_events(self, *, read: bool) -> None:
        """Forget the keyboard map when the server says it changed; raise an X error."""
        for event in self._conn.poll_events(read=read):
            if event[0] & 0x7F == _MAPPING_NOTIFY and event[4] in (0, 1):  # modifiers, keys
                self._keymap = None


def xtest_backend() -> XTestBackend:
    """The XTEST backend on ``$DISPLAY``; raises :class:`XTestUnavailable` (or a capture
    error when the display cannot be reached)."""
    return XTestBackend()
