"""The presenter's global revoke hotkey: Ctrl+F12 takes remote control back, instantly.

docs/design.md §3.5 promises the presenter they can always revoke with one chord, whatever the
controller is doing with their pointer and keyboard. :class:`RevokeHotkey` listens with pynput's
``GlobalHotKeys`` for ``<ctrl>+<f12>`` (``<ctrl>+<esc>`` on macOS, where F12 belongs to the
system and Fn-row keys often need Fn) and calls ``on_revoke``.

How the controller's own input interacts with it (X11; verified in test_control_x11.py):

* pynput listens through the X **RECORD** extension, which copies device events out of the
  server before any grab applies. An application the controller opens cannot grab the
  keyboard away from the hotkey (tested with an active XGrabKeyboard + XGrabPointer).
  No RECORD, no hotkey: :meth:`RevokeHotkey.start` then raises :class:`HotkeyUnavailable`
  so the TUI can say so, instead of hanging inside pynput.
* pynput's chord matching only looks at the chord's own keys, in any order: extra keys or
  buttons held by the controller (shift, alt, letters) do not stop Ctrl+F12 from firing, and
  F12-then-Ctrl fires too. Plain F12, Ctrl alone, Shift+F12, Alt+F12 and Ctrl+F11 do not.
* A flood of controller input does not delay it: the rate budget bounds the flood.
* The controller can only release keys it pressed itself (the injector refuses other
  releases), so it cannot "lift" the presenter's ctrl in the listener's view. One theoretical
  race remains: a controller that presses *and* releases ctrl exactly while the presenter holds
  ctrl makes the X server itself see ctrl released; the presenter's F12 then arrives without
  ctrl, and pressing the chord again works (a controller ctrl press while F12 is held also
  completes the chord). The rate budget keeps such toggling slow.
* XTEST events (what pynput's controller and xdotool inject) are *not* flagged as injected on
  X11, so a controller that sends ctrl+F12 itself revokes its own control. Harmless, and
  documented behaviour rather than an accident. (On Windows and macOS pynput flags injected
  events and ``GlobalHotKeys`` ignores them.)
* The listener only observes: while it runs, :class:`~core.control.grab.ChordGrab` grabs the
  chord on the root window so that the focused application does not get it too (xterm typed
  ``;5~`` into the shell before). Other keys are not touched.
* An exception escaping a pynput callback stops the listener for good, which would silently
  disarm the hotkey. ``on_revoke`` is therefore always called inside a catch-all.

Threading: ``on_revoke`` runs on pynput's listener thread. Pass something thread-safe, or use
:func:`trio_revoke_hotkey`, which hops into a trio run with ``TrioToken.run_sync_soon`` (and can
first call a thread-safe ``immediate`` action such as :meth:`Injector.revoke
<core.control.injector.Injector.revoke>` right on the listener thread, so injection stops even
if the trio loop is busy). Keep ``on_revoke`` short: it delays the next key the listener sees.
It may fire more than once (each chord press); revoking twice must be harmless.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import trio

from core.control.errors import HotkeyUnavailable

if TYPE_CHECKING:
    from core.control.grab import ChordGrab

log = logging.getLogger(__name__)

#: pynput ``HotKey.parse`` syntax.
REVOKE_HOTKEY = "<ctrl>+<f12>"
REVOKE_HOTKEY_MACOS = "<ctrl>+<esc>"
#: How long :meth:`RevokeHotkey.start` waits for the listener to be recording.
START_TIMEOUT = 5.0
STOP_TIMEOUT = 2.0


def revoke_hotkey_for(platform: str = sys.platform) -> str:
    """The revoke chord for ``platform`` (``sys.platform`` spelling)."""
    return REVOKE_HOTKEY_MACOS if platform == "darwin" else REVOKE_HOTKEY


def revoke_hotkey_label(platform: str = sys.platform) -> str:
    """The revoke chord as people write it ("Ctrl+F12"), for screens and dialogs."""
    return "Ctrl+Esc" if platform == "darwin" else "Ctrl+F12"


def check_x11_record(display_name: str | None = None) -> None:
    """Raise :class:`HotkeyUnavailable` unless the X server can feed a pynput listener.

    pynput's X listener needs the RECORD extension. Without it pynput's thread dies before it
    reports ready and ``Listener.wait()`` blocks forever, so check first and say why.
    """
    name = display_name if display_name is not None else os.environ.get("DISPLAY")
    if not name:
        raise HotkeyUnavailable("no X display ($DISPLAY is not set)")
    from Xlib.display import Display as XDisplay  # type: ignore[import-untyped]

    for attempt in range(3):  # a server under load may refuse a first connection briefly
        try:
            display = XDisplay(name)
            break
        except Exception as exc:
            if attempt == 2:
                raise HotkeyUnavailable(f"cannot open X display {name!r}: {exc}") from exc
            time.sleep(0.2)
    try:
        if not display.has_extension("RECORD"):
            raise HotkeyUnavailable(
                f"X display {name!r} has no RECORD extension, which the global hotkey needs "
                "(Xvfb/Xorg: start the server with +extension RECORD)"
            )
    finally:
        display.close()


class RevokeHotkey:
    """A global hotkey that calls ``on_revoke`` (on pynput's thread) when pressed::

        with RevokeHotkey(threadsafe_revoke):
            ...  # Ctrl+F12 anywhere on the presenter's desktop calls threadsafe_revoke()

    :meth:`start` after :meth:`stop` installs a fresh pynput listener (a pynput listener is a
    thread and cannot be restarted), so one instance may be switched on and off.
    """

    def __init__(
        self,
        on_revoke: Callable[[], None],
        *,
        hotkey: str | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.on_revoke = on_revoke
        self.hotkey = hotkey if hotkey is not None else revoke_hotkey_for()
        self.start_timeout = start_timeout
        self._listener: Any = None
        self._grab: ChordGrab | None = None
        self._fired = 0

    @property
    def running(self) -> bool:
        return self._listener is not None and bool(self._listener.is_alive())

    @property
    def fired(self) -> int:
        """How many times the chord was pressed since :meth:`start`."""
        return self._fired

    def _fire(self) -> None:
        self._fired += 1
        try:
            self.on_revoke()
        except Exception:
            # Never let it reach pynput: an exception there stops the listener for good.
            log.exception("revoke hotkey callback failed")

    def start(self) -> None:
        """Install the hotkey; returns once the listener is receiving keys.

        Blocks for up to ``start_timeout`` seconds (from trio: ``trio.to_thread.run_sync``, or
        use :func:`open_trio_revoke_hotkey`). Raises :class:`HotkeyUnavailable` when the
        platform cannot provide a global hotkey.
        """
        if self._listener is not None:
            raise RuntimeError("RevokeHotkey already started")
        if sys.platform.startswith("linux"):
            check_x11_record()
        try:
            from pynput import keyboard
        except Exception as exc:  # pynput raises ImportError wrapping the X failure
            raise HotkeyUnavailable(f"pynput keyboard listener unavailable: {exc}") from exc
        listener = keyboard.GlobalHotKeys({self.hotkey: self._fire})
        listener.start()
        problem = self._wait_ready(listener)
        if problem is not None:
            listener.stop()
            raise HotkeyUnavailable(f"hotkey listener did not start: {problem}")
        self._listener = listener
        self._grab = _grab_chord(self.hotkey)

    def _wait_ready(self, listener: Any) -> str | None:
        """Wait for ``listener.wait()`` with a deadline; None when ready, else why not.

        ``wait()`` has no timeout and never returns if the listener thread died first, so it
        runs on a helper daemon thread while this one watches the listener and the clock.
        """
        ready = threading.Event()

        def waiter() -> None:
            listener.wait()
            ready.set()

        threading.Thread(target=waiter, name="porthole-hotkey-wait", daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while not ready.wait(0.02):
            if not listener.is_alive():
                try:
                    listener.join(0)  # pynput re-raises the thread's exception here
                except Exception as exc:
                    return f"{type(exc).__name__}: {exc}"
                return "listener thread exited"
            if time.monotonic() > deadline:
                return f"not ready after {self.start_timeout:.1f}s"
        return None

    def stop(self) -> None:
        """Remove the hotkey. Idempotent; never raises."""
        grab, self._grab = self._grab, None
        if grab is not None:
            grab.close()
        listener, self._listener = self._listener, None
        if listener is None:
            return
        try:
            listener.stop()
            _unblock_xorg_listener(listener)
            listener.join(STOP_TIMEOUT)
        except Exception:
            log.exception("stopping the revoke hotkey listener failed")
        if listener.is_alive():
            log.warning("revoke hotkey listener still running %.1fs after stop", STOP_TIMEOUT)

    def __enter__(self) -> RevokeHotkey:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _grab_chord(hotkey: str) -> ChordGrab | None:
    """Keep the X11 revoke chord from the focused application (see :mod:`~.grab`); None
    elsewhere, or when the grab cannot be made (the hotkey works regardless)."""
    if hotkey != REVOKE_HOTKEY or not sys.platform.startswith("linux"):
        return None
    from core.control.grab import ChordGrab

    try:
        return ChordGrab()
    except Exception as exc:
        log.warning("cannot keep Ctrl+F12 from applications: %s", exc)
        return None


def _unblock_xorg_listener(listener: Any) -> None:
    """Make a stopped pynput X listener actually return (pynput 1.8 bug workaround).

    pynput's X ``stop()`` sends ``RecordDisableContext`` on the very connection its thread is
    blocked reading, and never flushes it, so the thread (and its two X connections) lingers
    until the next key event arrives; if the X server goes away first, the thread dies with a
    broken pipe. RECORD wants the disable sent on a *different* connection, which is what the
    listener's own ``_display_stop`` is for. Sending it there and flushing makes ``join()``
    return in milliseconds (measured on Xvfb; upstream: moses-palmer/pynput PR #583, open).
    Private attributes, so every step is optional: on other platforms or other pynput
    versions this does nothing.
    """
    display = getattr(listener, "_display_stop", None)
    context = getattr(listener, "_context", None)
    if display is None or context is None:
        return
    try:
        display.record_disable_context(context)
        display.flush()
    except Exception:  # the thread may already be closing it: then it is returning anyway
        log.debug("extra RECORD disable failed", exc_info=True)


def trio_revoke_hotkey(
    on_revoke: Callable[[], None],
    *,
    immediate: Callable[[], object] | None = None,
    hotkey: str | None = None,
) -> RevokeHotkey:
    """A :class:`RevokeHotkey` whose ``on_revoke`` runs inside the current trio run.

    Call from within trio (it captures the run's token). When the chord is pressed:

    1. ``immediate()`` runs at once on pynput's thread, if given; it must be thread-safe
       (``Injector.revoke`` is). Input stops here, without waiting for the trio loop.
    2. ``on_revoke()`` is scheduled with ``TrioToken.run_sync_soon`` and runs on the trio
       thread (update the session, send REVOKE_CONTROL). It must not block; exceptions are
       logged (an exception in a ``run_sync_soon`` callback would crash the trio run).

    After the trio run finished, presses only do step 1.
    """
    token = trio.lowlevel.current_trio_token()

    def in_trio() -> None:
        try:
            on_revoke()
        except Exception:
            log.exception("revoke callback failed")

    def fire() -> None:
        if immediate is not None:
            try:
                immediate()
            except Exception:
                log.exception("immediate revoke action failed")
        try:
            token.run_sync_soon(in_trio)
        except trio.RunFinishedError:
            log.debug("revoke hotkey pressed after the trio run finished")

    return RevokeHotkey(fire, hotkey=hotkey)


@asynccontextmanager
async def open_trio_revoke_hotkey(
    on_revoke: Callable[[], None],
    *,
    immediate: Callable[[], object] | None = None,
    hotkey: str | None = None,
) -> AsyncIterator[RevokeHotkey]:
    """``async with`` form of :func:`trio_revoke_hotkey`: started in a worker thread, stopped
    on exit. Raises :class:`HotkeyUnavailable` on entry when there is no global hotkey."""
    hotkey_ = trio_revoke_hotkey(on_revoke, immediate=immediate, hotkey=hotkey)
    await trio.to_thread.run_sync(hotkey_.start)
    try:
        yield hotkey_
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(hotkey_.stop)


class RevokeHotkeyWhileGranted:
    """The revoke hotkey, listening only while someone may control this screen.

    A global key listener sees every key the presenter types. It is only needed while a
    controller could inject input, so :meth:`arm` starts it when this presenter grants control
    (call it *before* the answer leaves, so the chord works from the first injected event) and
    :meth:`disarm` stops it when control ends. No keystroke is observed the rest of the time,
    and typing without a controller costs nothing.
    """

    def __init__(
        self, on_revoke: Callable[[], None], *, immediate: Callable[[], object] | None = None
    ) -> None:
        self._on_revoke = on_revoke
        self._immediate = immediate
        #: The running listener, entered through :func:`open_trio_revoke_hotkey` (one start and
        #: stop path for both forms); closing the stack stops it.
        self._listening: AsyncExitStack | None = None
        self._lock = trio.Lock()

    @property
    def armed(self) -> bool:
        return self._listening is not None

    @staticmethod
    async def check_available() -> None:
        """Raise :class:`HotkeyUnavailable` now if arming could not work (no listener started)."""
        if sys.platform.startswith("linux"):
            await trio.to_thread.run_sync(check_x11_record)

    async def arm(self) -> None:
        """Start listening (idempotent); raises :class:`HotkeyUnavailable`."""
        async with self._lock:
            if self._listening is None:
                stack = AsyncExitStack()
                await stack.enter_async_context(
                    open_trio_revoke_hotkey(self._on_revoke, immediate=self._immediate)
                )
                self._listening = stack

    async def disarm(self) -> None:
        """Stop listening (idempotent)."""
        with trio.CancelScope(shield=True):
            async with self._lock:
                listening, self._listening = self._listening, None
                if listening is not None:
                    await listening.aclose()
