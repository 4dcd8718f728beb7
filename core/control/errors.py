"""Why an input event was refused, and the one exception that never leaves ``core.control``.

Refusals are *counted*, not raised: an input event comes from another member over the network,
so a bad one is that member's problem, not a crash of the presenter. Inside the package a
validator raises :class:`Refused`; :class:`~core.control.injector.Injector` catches it at its
public edge, bumps ``statistics().refused_by_reason[reason]`` and returns ``False``.
"""

from __future__ import annotations

from enum import StrEnum


class RefusalReason(StrEnum):
    """Stable, log- and JSON-friendly names for every way an event can be refused."""

    #: The injector was revoked (presenter pressed the hotkey or took control back).
    REVOKED = "revoked"
    #: Over the per-second budget (see :mod:`core.control.ratelimit`).
    RATE_LIMITED = "rate_limited"
    #: Not an :class:`~core.protocol.content.InputEvent`, or a kind we do not know.
    BAD_KIND = "bad_kind"
    #: A key name outside the fixed allow-list (:data:`core.control.mapping.KEY_NAMES`).
    UNKNOWN_KEY = "unknown_key"
    #: The allow-listed key cannot be pressed on this platform (e.g. Menu on macOS).
    UNSUPPORTED_KEY = "unsupported_key"
    #: A button other than 1 (left), 2 (middle), 3 (right); wheels are WHEEL events.
    BAD_BUTTON = "bad_button"
    #: A wheel event that scrolls nowhere.
    BAD_WHEEL = "bad_wheel"
    #: The frame size the controller reports is not a plausible frame.
    BAD_FRAME = "bad_frame"
    #: The shared area is unknown right now (provider failed or returned nonsense).
    NO_AREA = "no_area"
    #: TEXT longer than the per-event limit.
    TEXT_TOO_LONG = "text_too_long"
    #: TEXT that is empty or holds control/format characters other than newline and tab.
    BAD_TEXT = "bad_text"
    #: A key/button release for something the controller is not holding: the controller may
    #: only undo its own presses, never release the presenter's own keys.
    NOT_HELD = "not_held"
    #: A button press for a button the controller already holds.
    ALREADY_HELD = "already_held"
    #: The input backend (or the X server behind it) failed; the event may have been partly
    #: applied.
    BACKEND_ERROR = "backend_error"


class Refused(Exception):
    """Internal: raised by validators, caught by the injector's public methods."""

    def __init__(self, reason: RefusalReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason


class HotkeyUnavailable(RuntimeError):
    """The global revoke hotkey could not be installed (no display, no RECORD extension, …).

    The presenter must then be told that only the TUI can revoke control; a silent failure
    would leave them believing Ctrl+F12 works.
    """
