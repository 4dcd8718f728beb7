"""The input backends: what turns planned actions into real input, and which one is used.

On X11 (Linux, BSD) that is :class:`~core.control.xtest.XTestBackend`: every key, button and
motion through XTEST, as a keyboard would. Elsewhere (macOS, Windows) it is
:class:`PynputBackend`, whose controllers use the platform's own injection there.
:func:`default_backend` chooses; the injector only needs the :class:`InputBackend` shape.

``import pynput`` opens an X connection at import time and fails without ``$DISPLAY``, so it
is imported only inside :func:`pynput_backend`. That keeps ``import core.control`` working on a
headless relay, in pure tests, and in a presenter that never grants control.

:class:`PynputBackend` is a plain bundle of the two pynput controllers plus the key and button
tables, so tests may hand the injector fake pynput controllers (pynput is not our component)
while every line of *our* translation code (:func:`apply`) still runs.

Why pynput is not used on X11: its X backend types printable characters (``press("a")``,
``type("text")``) with ``XSendEvent`` to the focused window. Applications that ignore
synthetic events (xterm with its default ``allowSendEvents: false``) drop them, and without a
window manager there is no focused window to send them to.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.control.mapping import BUTTONS, KEY_NAMES, KeyKind, KeySpec
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


class MouseController(Protocol):
    """The part of ``pynput.mouse.Controller`` we use."""

    position: Any

    def press(self, button: Any) -> None: ...
    def release(self, button: Any) -> None: ...
    def scroll(self, dx: int, dy: int) -> None: ...


class KeyboardController(Protocol):
    """The part of ``pynput.keyboard.Controller`` we use."""

    def press(self, key: Any) -> None: ...
    def release(self, key: Any) -> None: ...
    def type(self, string: str) -> None: ...


class UnsupportedKey(LookupError):
    """An allow-listed key that this platform's backend cannot press."""


class InputBackend(Protocol):
    """What the injector drives: one backend per injector, used under its lock."""

    def key(self, spec: KeySpec) -> object:
        """Raise :class:`UnsupportedKey` if ``spec`` cannot be pressed here (asked before an
        event's first action, so an event is refused whole, not done in part)."""
        ...

    def apply(self, action: Action) -> None:
        """Perform one action; exceptions propagate (the injector counts them)."""
        ...

    def reset(self) -> None:
        """The controller holds nothing any more (control ended or stalled): drop temporary
        state such as keyboard-mapping changes."""
        ...

    def interrupt(self) -> None:
        """Control is being revoked: cut short any wait inside an :meth:`apply` running on
        another thread (called without the injector's lock, so the revoke need not wait)."""
        ...

    def close(self) -> None:
        """Free the backend's resources; it must not be used afterwards."""
        ...


@dataclass(frozen=True)
class PynputBackend:
    """pynput controllers plus lookup tables from our names to pynput values."""

    mouse: MouseController
    keyboard: KeyboardController
    #: ``pynput.keyboard.Key`` attribute name → member, for the names the allow-list uses.
    keys: Mapping[str, Any]
    #: X11 button number → ``pynput.mouse.Button`` member.
    buttons: Mapping[int, Any]
    #: Frees the controllers' display connections now (see :func:`_close_xorg_controllers`).
    closer: Callable[[], None] | None = None

    def close(self) -> None:
        """Release the controllers' resources; the backend must not be used afterwards."""
        if self.closer is not None:
            self.closer()

    def reset(self) -> None:
        """Nothing to undo: pynput keeps no temporary state of ours."""

    def interrupt(self) -> None:
        """Nothing to cut short: pynput's calls do not wait."""

    def key(self, spec: KeySpec) -> Any:
        """The value pynput's ``press``/``release`` takes for ``spec``."""
        if spec.kind is KeyKind.CHAR:
            return spec.value
        try:
            return self.keys[spec.value]
        except KeyError:
            raise UnsupportedKey(spec.value) from None

    def apply(self, action: Action) -> None:
        """Perform one action; pynput's exceptions propagate (the injector counts them)."""
        match action:
            case Move(x, y):
                self.mouse.position = (x, y)
            case PressButton(button):
                self.mouse.press(self.buttons[button])
            case ReleaseButton(button):
                self.mouse.release(self.buttons[button])
            case Scroll(dx, dy):
                self.mouse.scroll(dx, dy)
            case PressKey(spec):
                self.keyboard.press(self.key(spec))
            case ReleaseKey(spec):
                self.keyboard.release(self.key(spec))
            case TypeText(text):
                # pynput types "\n" as Return and "\t" as Tab; prepare_text allowed only those.
                self.keyboard.type(text)


def default_backend() -> InputBackend:
    """XTEST on X11, pynput's controllers elsewhere (imports either only now)."""
    if sys.platform == "darwin" or sys.platform.startswith("win"):
        return pynput_backend()
    from core.control.xtest import xtest_backend

    return xtest_backend()


def pynput_backend() -> PynputBackend:
    """Create the real pynput controllers (needs a display; imports pynput only now).

    Keys the allow-list names but this platform's pynput lacks are left out of the table, so
    pressing them is refused as unsupported instead of failing at start-up.
    """
    from pynput import keyboard, mouse

    wanted = {spec.value for spec in KEY_NAMES.values() if spec.kind is KeyKind.SPECIAL}
    keys = {name: getattr(keyboard.Key, name) for name in wanted if hasattr(keyboard.Key, name)}
    buttons = {number: getattr(mouse.Button, name) for number, name in BUTTONS.items()}
    mouse_controller, keyboard_controller = mouse.Controller(), keyboard.Controller()
    return PynputBackend(
        mouse=mouse_controller,
        keyboard=keyboard_controller,
        keys=keys,
        buttons=buttons,
        closer=lambda: _close_xorg_controllers(mouse_controller, keyboard_controller),
    )


def _close_xorg_controllers(*controllers: object) -> None:
    """Close pynput's per-controller X connections deterministically.

    pynput's X controllers close their ``Xlib`` display only in ``__del__``. If that runs after
    the X server went away (end of a session, a test's Xvfb stopped first) Xlib raises from
    ``__del__`` — an "unraisable" exception. So close while the server is known to be there,
    and drop the attribute so ``__del__`` has nothing left to do. Other platforms' controllers
    have no ``_display`` and are left to pynput.
    """
    for controller in controllers:
        display = getattr(controller, "_display", None)
        if display is None:
            continue
        with contextlib.suppress(Exception):
            display.close()
        with contextlib.suppress(AttributeError):
            delattr(controller, "_display")
