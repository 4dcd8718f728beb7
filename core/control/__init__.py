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

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from core.control.backend import InputBackend as InputBackend
    from core.control.backend import PynputBackend as PynputBackend
    from core.control.backend import default_backend as default_backend
    from core.control.backend import pynput_backend as pynput_backend
    from core.control.errors import HotkeyUnavailable as HotkeyUnavailable
    from core.control.errors import RefusalReason as RefusalReason
    from core.control.hotkey import REVOKE_HOTKEY as REVOKE_HOTKEY
    from core.control.hotkey import REVOKE_HOTKEY_MACOS as REVOKE_HOTKEY_MACOS
    from core.control.hotkey import RevokeHotkey as RevokeHotkey
    from core.control.hotkey import RevokeHotkeyWhileGranted as RevokeHotkeyWhileGranted
    from core.control.hotkey import check_x11_record as check_x11_record
    from core.control.hotkey import open_trio_revoke_hotkey as open_trio_revoke_hotkey
    from core.control.hotkey import revoke_hotkey_for as revoke_hotkey_for
    from core.control.hotkey import trio_revoke_hotkey as trio_revoke_hotkey
    from core.control.injector import DEFAULT_MAX_EVENTS_PER_SECOND as DEFAULT_MAX_EVENTS_PER_SECOND
    from core.control.injector import AreaTuple as AreaTuple
    from core.control.injector import Injector as Injector
    from core.control.injector import InjectorStatistics as InjectorStatistics
    from core.control.mapping import KEY_NAMES as KEY_NAMES
    from core.control.mapping import MAX_TEXT_CHARS as MAX_TEXT_CHARS
    from core.control.mapping import MAX_WHEEL_STEPS as MAX_WHEEL_STEPS
    from core.control.mapping import Area as Area
    from core.control.mapping import KeyKind as KeyKind
    from core.control.mapping import KeySpec as KeySpec
    from core.control.mapping import map_point as map_point
    from core.control.mapping import prepare_text as prepare_text
    from core.control.mapping import resolve_key as resolve_key
    from core.control.ratelimit import TokenBucket as TokenBucket

# Imported on first use (see core/lazy.py): importing the package costs nothing.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "backend": (
            "InputBackend",
            "PynputBackend",
            "default_backend",
            "pynput_backend",
        ),
        "errors": (
            "HotkeyUnavailable",
            "RefusalReason",
        ),
        "hotkey": (
            "REVOKE_HOTKEY",
            "REVOKE_HOTKEY_MACOS",
            "RevokeHotkey",
            "RevokeHotkeyWhileGranted",
            "check_x11_record",
            "open_trio_revoke_hotkey",
            "revoke_hotkey_for",
            "trio_revoke_hotkey",
        ),
        "injector": (
            "DEFAULT_MAX_EVENTS_PER_SECOND",
            "AreaTuple",
            "Injector",
            "InjectorStatistics",
        ),
        "mapping": (
            "KEY_NAMES",
            "MAX_TEXT_CHARS",
            "MAX_WHEEL_STEPS",
            "Area",
            "KeyKind",
            "KeySpec",
            "map_point",
            "prepare_text",
            "resolve_key",
        ),
        "ratelimit": ("TokenBucket",),
    },
)
