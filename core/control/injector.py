"""The presenter's input injector: remote-control events in, real pointer and keys out.

This is the last wall of "consent at the edge" (docs/design.md §3.5): the session layer feeds it
only events from the member the presenter granted control to, and the injector itself makes sure
that even that member

* cannot move the pointer outside the shared area (coordinates are clamped into it),
* cannot press keys outside a fixed allow-list (see :mod:`core.control.mapping`),
* cannot release keys or buttons it did not press (the presenter's own held ctrl is theirs),
* cannot flood the presenter's display (a token-bucket budget, see :mod:`~.ratelimit`),
* leaves nothing pressed behind when control ends: :meth:`Injector.revoke` /
  :meth:`Injector.release_all` release every key and button the controller holds, once.

Nothing raises out of the public methods: a refused event returns ``False`` and is counted by
reason in :meth:`Injector.statistics` (a hostile or buggy controller must not be able to crash
the presenter with a malformed event). Key names and text are never logged.

Thread-safety: one lock serialises every method, so the revoke hotkey (pynput's thread) may
call :meth:`Injector.revoke` while the trio loop calls :meth:`Injector.inject`. Each call does
a handful of synchronous X requests (well under a millisecond locally), so calling ``inject``
straight from a trio task is fine.

    injector = Injector(lambda: (area.x, area.y, area.width, area.height))
    injector.inject(event, frame_size=(frame.width, frame.height))   # True / False
    injector.revoke()                                                # Ctrl+F12, TUI, leave
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from core.control.backend import InputBackend, UnsupportedKey, default_backend
from core.control.errors import RefusalReason, Refused
from core.control.mapping import MAX_TEXT_CHARS, Area, KeySpec
from core.control.plan import (
    RELEASES,
    Action,
    Plan,
    PressButton,
    PressKey,
    ReleaseButton,
    ReleaseKey,
    plan_event,
)
from core.control.ratelimit import TokenBucket
from core.protocol.content import InputEvent

log = logging.getLogger(__name__)

#: ``(origin_x, origin_y, width, height)`` of the shared area, in root-window pixels.
AreaTuple = tuple[int, int, int, int]
DEFAULT_MAX_EVENTS_PER_SECOND = 200

_Held = KeySpec | int  # a key, or an X11 button number


@dataclass(frozen=True, slots=True)
class InjectorStatistics:
    """A snapshot for the TUI / headless JSON events. Counts only, never content."""

    injected: int
    refused_by_reason: Mapping[RefusalReason, int]
    held_keys: int
    held_buttons: int
    released_on_revoke: int
    #: Releases in release_all()/revoke() that the backend failed (the key may still be down).
    release_failures: int
    revoked: bool

    @property
    def refused(self) -> int:
        return sum(self.refused_by_reason.values())


class Injector:
    """Injects one controller's :class:`~core.protocol.content.InputEvent` stream.

    ``area_provider`` is asked for the shared area on every pointer event (the shared window
    may move); ``backend`` defaults to :func:`~core.control.backend.default_backend` (XTEST on
    X11), created on first use so that
    constructing an injector needs no display. Create one per presenter; :meth:`revoke` when
    control ends and :meth:`resume` when the presenter grants it again.
    """

    def __init__(
        self,
        area_provider: Callable[[], AreaTuple],
        *,
        max_events_per_second: float = DEFAULT_MAX_EVENTS_PER_SECOND,
        backend: InputBackend | None = None,
        backend_factory: Callable[[], InputBackend] = default_backend,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._area_provider = area_provider
        self._clock = clock
        self._bucket = TokenBucket(max_events_per_second, clock=clock)
        self._last_event = clock()
        # A text event costs a token per character, so it may never exceed one full bucket.
        self._text_limit = max(1, min(MAX_TEXT_CHARS, int(self._bucket.burst)))
        self._backend = backend
        self._backend_factory = backend_factory
        self._lock = threading.Lock()
        # Insertion-ordered, so release_all undoes presses in reverse order (shift after the
        # key it modified, like a person lifting their fingers).
        self._held: dict[_Held, None] = {}
        self._injected = 0
        self._refused: Counter[RefusalReason] = Counter()
        self._released_on_revoke = 0
        self._release_failures = 0
        self._revoked = False

    # -- public API ----------------------------------------------------------------------

    def inject(self, event: InputEvent, frame_size: tuple[int, int]) -> bool:
        """Inject ``event`` (coordinates in a frame of ``frame_size``); ``False`` if refused.

        Never raises for anything the controller can influence.
        """
        with self._lock:
            self._last_event = self._clock()
            try:
                self._inject_locked(event, frame_size)
            except Refused as refusal:
                self._refused[refusal.reason] += 1
                log.debug("input refused: %s", refusal.reason.value)
                return False
            except Exception:  # a bug of ours must not take the presenter down either
                self._refused[RefusalReason.BACKEND_ERROR] += 1
                log.exception("input injection failed")
                return False
            self._injected += 1
            return True

    def release_all(self) -> int:
        """Release every key and button the controller holds, each exactly once.

        Returns how many were released. Used on revoke, when the controller leaves, and
        whenever the session loses track of the controller. Never raises: one failed release
        does not stop the others (failures are counted in ``release_failures``).
        """
        with self._lock:
            return self._release_all_locked()

    def release_if_idle(self, max_idle: float) -> int:
        """Release everything held if the controller sent nothing for ``max_idle`` seconds.

        Why: a key held through XTEST autorepeats *on the presenter's X server* (measured on
        Xvfb: 22 BackSpace presses in 1.5 s from one KEY_DOWN). If the controller's link stalls
        between KEY_DOWN and KEY_UP, the presenter's machine keeps typing until someone
        releases it. The session layer calls this periodically (say every 0.5 s with a few
        seconds' limit); a controller that really holds a key keeps sending events (its own
        autorepeat, pointer motion). Does not revoke. Returns the count released.
        """
        with self._lock:
            if not self._held or self._clock() - self._last_event < max_idle:
                return 0
            return self._release_all_locked()

    def revoke(self) -> int:
        """Stop accepting events, then release everything held; returns the count released.

        Safe to call from any thread and any number of times. Events already queued behind
        the revoke are refused (``revoked``) until :meth:`resume`. An event being injected
        meanwhile is cut short where the backend waits (typing rare characters may).
        """
        self._interrupt_backend()
        with self._lock:
            self._revoked = True
            released = self._release_all_locked()
            self._released_on_revoke += released
            return released

    def resume(self) -> None:
        """Accept events again: the presenter granted control (to this or another member)."""
        with self._lock:
            self._revoked = False

    def close(self) -> None:
        """Revoke, then free the backend (its X connection). Idempotent.

        Call when the presenter stops presenting. A later :meth:`resume` and ``inject``
        would create a fresh backend.
        """
        self._interrupt_backend()
        with self._lock:
            self._revoked = True
            self._released_on_revoke += self._release_all_locked()
            backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception:
                log.exception("closing the input backend failed")

    @property
    def revoked(self) -> bool:
        return self._revoked

    @property
    def holding(self) -> bool:
        """Whether the controller holds any key or button down right now."""
        return bool(self._held)

    def held(self) -> tuple[frozenset[KeySpec], frozenset[int]]:
        """The keys and buttons the controller currently holds."""
        with self._lock:
            keys = frozenset(h for h in self._held if isinstance(h, KeySpec))
            buttons = frozenset(h for h in self._held if isinstance(h, int))
            return keys, buttons

    def statistics(self) -> InjectorStatistics:
        with self._lock:
            keys = sum(1 for h in self._held if isinstance(h, KeySpec))
            return InjectorStatistics(
                injected=self._injected,
                refused_by_reason=MappingProxyType(dict(self._refused)),
                held_keys=keys,
                held_buttons=len(self._held) - keys,
                released_on_revoke=self._released_on_revoke,
                release_failures=self._release_failures,
                revoked=self._revoked,
            )

    # -- internals -----------------------------------------------------------------------

    def _interrupt_backend(self) -> None:
        backend = self._backend  # read without the lock on purpose: that is the point
        if backend is not None:
            try:
                backend.interrupt()
            except Exception:
                log.exception("interrupting the input backend failed")

    def _area(self) -> Area:
        try:
            value = self._area_provider()
        except Exception as exc:
            raise Refused(RefusalReason.NO_AREA, type(exc).__name__) from None
        return Area.from_tuple(value)

    def _get_backend(self) -> InputBackend:
        if self._backend is None:
            try:
                self._backend = self._backend_factory()
            except Exception as exc:  # ImportError without a display, X errors, ...
                raise Refused(RefusalReason.BACKEND_ERROR, f"no input backend: {exc}") from None
        return self._backend

    def _inject_locked(self, event: InputEvent, frame_size: tuple[int, int]) -> None:
        if self._revoked:
            raise Refused(RefusalReason.REVOKED)
        keys = [h for h in self._held if isinstance(h, KeySpec)]
        buttons = [h for h in self._held if isinstance(h, int)]
        plan = plan_event(event, frame_size, self._area, keys, buttons, text_limit=self._text_limit)
        backend = self._get_backend()
        self._check_supported(backend, plan)
        if not self._bucket.try_take(plan.cost):
            raise Refused(RefusalReason.RATE_LIMITED)
        self._execute(backend, plan.actions)

    @staticmethod
    def _check_supported(backend: InputBackend, plan: Plan) -> None:
        """Refuse before doing anything if a key cannot be pressed on this platform."""
        for action in plan.actions:
            if isinstance(action, PressKey | ReleaseKey):
                try:
                    backend.key(action.key)
                except UnsupportedKey:
                    raise Refused(RefusalReason.UNSUPPORTED_KEY) from None

    def _execute(self, backend: InputBackend, actions: tuple[Action, ...]) -> None:
        """Run the plan, keeping the held-set true even when the backend fails half-way.

        A press is recorded *before* it is attempted (if it fails half-done, release_all still
        releases it; releasing an unpressed key is harmless), a release is forgotten only once
        it succeeded. After a failure only the remaining releases run, so temporary modifiers
        pressed for this event are not left down.
        """
        failure: Exception | None = None
        for action in actions:
            if failure is not None and not isinstance(action, RELEASES):
                continue
            try:
                self._apply_tracked(backend, action)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            log.warning("input backend failed: %s", type(failure).__name__)
            raise Refused(RefusalReason.BACKEND_ERROR, type(failure).__name__)

    def _apply_tracked(self, backend: InputBackend, action: Action) -> None:
        match action:
            case PressKey(key):
                self._held[key] = None
            case PressButton(button):
                self._held[button] = None
        backend.apply(action)
        match action:
            case ReleaseKey(key):
                self._held.pop(key, None)
            case ReleaseButton(button):
                self._held.pop(button, None)

    def _release_all_locked(self) -> int:
        backend = self._backend
        held = list(reversed(self._held))
        self._held.clear()  # "exactly once": forgotten now, whatever happens below
        if backend is None:  # nothing was ever injected; never raise here
            return 0
        released = 0
        for item in held:
            action: Action = ReleaseKey(item) if isinstance(item, KeySpec) else ReleaseButton(item)
            try:
                backend.apply(action)
                released += 1
            except Exception as exc:
                self._release_failures += 1
                log.warning("release on revoke failed: %s", type(exc).__name__)
        try:
            backend.reset()  # e.g. unbind the spare keycodes that typed é or ø
        except Exception as exc:
            log.warning("resetting the input backend failed: %s", type(exc).__name__)
        return released
