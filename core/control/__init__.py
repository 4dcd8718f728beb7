"""Remote control on the presenter's side: inject a granted controller's input, revoke it.

    from core.control import Injector, open_trio_revoke_hotkey

    injector = Injector(lambda: (area.x, area.y, area.width, area.height))
    async with open_trio_revoke_hotkey(session.revoke_control, immediate=injector.revoke):
        injector.inject(event, frame_size=(width, height))  # False when refused (counted)

Nothing here connects to an X display until input is actually injected or the hotkey is
started. Module map: ``mapping`` (coordinates, key allow-list, text rules), ``plan`` (event →
backend actions, pure), ``ratelimit`` (token bucket), ``backend`` (which backend), ``keymap``
(keysym → keycode and modifiers, pure), ``xtest`` (X11: every key through XTEST), ``injector``
(held-state, budget, statistics), ``hotkey`` (Ctrl+F12), ``grab`` (keeps Ctrl+F12 from
applications while armed).
"""

from core.control.backend import InputBackend, PynputBackend, default_backend, pynput_backend
from core.control.errors import HotkeyUnavailable, RefusalReason
from core.control.hotkey import (
    REVOKE_HOTKEY,
    REVOKE_HOTKEY_MACOS,
    RevokeHotkey,
    RevokeHotkeyWhileGranted,
    check_x11_record,
    open_trio_revoke_hotkey,
    revoke_hotkey_for,
    trio_revoke_hotkey,
)
from core.control.injector import (
    DEFAULT_MAX_EVENTS_PER_SECOND,
    AreaTuple,
    Injector,
    InjectorStatistics,
)
from core.control.mapping import (
    KEY_NAMES,
    MAX_TEXT_CHARS,
    MAX_WHEEL_STEPS,
    Area,
    KeyKind,
    KeySpec,
    map_point,
    prepare_text,
    resolve_key,
)
from core.control.ratelimit import TokenBucket

__all__ = [
    "DEFAULT_MAX_EVENTS_PER_SECOND",
    "KEY_NAMES",
    "MAX_TEXT_CHARS",
    "MAX_WHEEL_STEPS",
    "REVOKE_HOTKEY",
    "REVOKE_HOTKEY_MACOS",
    "Area",
    "AreaTuple",
    "HotkeyUnavailable",
    "Injector",
    "InjectorStatistics",
    "InputBackend",
    "KeyKind",
    "KeySpec",
    "PynputBackend",
    "RefusalReason",
    "RevokeHotkey",
    "RevokeHotkeyWhileGranted",
    "TokenBucket",
    "check_x11_record",
    "default_backend",
    "map_point",
    "open_trio_revoke_hotkey",
    "prepare_text",
    "pynput_backend",
    "resolve_key",
    "revoke_hotkey_for",
    "trio_revoke_hotkey",
]
