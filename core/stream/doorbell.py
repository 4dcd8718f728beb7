"""Wait for a file descriptor, a ring or a deadline, whichever comes first, cheaply.

The presenter sleeps on the X connection between keystrokes, and must also wake for a pause,
a keyframe request or an audience change (a *ring*), and at a deadline (the next whole-area
check). The plain trio way, ``with trio.move_on_at(deadline) as scope: await
wait_readable(fd)`` with ``scope.cancel()`` to ring, costs a cancel scope per wait: measured on
the 2-core test machine, a wake-up through a cancel scope costs ~185 µs of CPU against ~130 µs
without (the presenter wakes once per keystroke, after ~100 ms of other processes running, so
every line of code it touches is cold; warm, the scope is 3 µs).

So on Linux the doorbell waits on one descriptor that stands for three: an epoll set holding
the watched descriptor, the read end of a pipe (a ring writes a byte into it) and a timerfd
(armed only when the deadline changes, which during typing is every few seconds). The epoll
set's own descriptor is readable while any of them is, and trio waits on it like on a socket.
Elsewhere (no epoll, or no timerfd in the C library) it falls back to the cancel scope.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import os
import select

import trio

__all__ = ["Doorbell"]

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
#: timerfd expirations are read as one 8-byte counter.
_EXPIRATIONS = 8


class _TimeSpec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("it_interval", _TimeSpec), ("it_value", _TimeSpec)]


class _TimerFd:
    """A one-shot CLOCK_MONOTONIC timer as a descriptor (``timerfd_create(2)`` via ctypes:
    ``os.timerfd_create`` arrives only in Python 3.13)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._settime = libc.timerfd_settime
        self._settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_ITimerSpec),
            ctypes.c_void_p,
        ]
        self._settime.restype = ctypes.c_int
        create = libc.timerfd_create
        create.argtypes = [ctypes.c_int, ctypes.c_int]
        create.restype = ctypes.c_int
        fd = create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.fd = fd
        self._spec = _ITimerSpec()

    def arm(self, seconds: float) -> None:
        """Fire once, ``seconds`` from now (``math.inf``: never; 0 or less: at once)."""
        value = self._spec.it_value
        if math.isinf(seconds):
            value.tv_sec, value.tv_nsec = 0, 0  # all zero disarms
        else:
            nanoseconds = max(1, int(seconds * 1e9))  # zero would disarm, not fire
            value.tv_sec, value.tv_nsec = divmod(nanoseconds, 1_000_000_000)
        if self._settime(self.fd, 0, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def clear(self) -> None:
        """Consume a firing, so the descriptor is no longer readable."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, _EXPIRATIONS)

    def close(self) -> None:
        os.close(self.fd)


class Doorbell:
    """``await wait(fd, deadline)`` returns when ``fd`` is readable, when :meth:`ring` was
    called (before or during the wait), or at ``deadline`` (trio's clock), whichever is first.

    Rings are remembered until a wait consumes them; :attr:`rung` tells whether the last wait
    ended by one. One task waits at a time. :meth:`close` releases the descriptors. The watched
    descriptor stays registered between waits (re-registering would cost a system call per
    wait): it must stay open while it is the one passed, as the X connection does for the
    presenter's whole life; a descriptor with another number replaces it.
    ``kernel=False`` uses the cancel-scope fallback even where epoll and timerfd exist.
    """

    def __init__(self, *, kernel: bool = True) -> None:
        self.rung = False
        self._ringing = False
        self._watched: int | None = None
        self._armed_for = math.inf
        self._poll: select.epoll | None = None
        self._timer: _TimerFd | None = None
        self._scope: trio.CancelScope | None = None
        if not kernel:
            return
        try:
            poll = select.epoll()
        except (AttributeError, OSError):
            return
        try:
            timer = _TimerFd()
        except (AttributeError, OSError):
            poll.close()
            return
        self._bell_out, self._bell_in = os.pipe()
        os.set_blocking(self._bell_out, False)
        os.set_blocking(self._bell_in, False)
        poll.register(self._bell_out, select.EPOLLIN)
        poll.register(timer.fd, select.EPOLLIN)
        self._poll, self._timer = poll, timer

    def ring(self) -> None:
        """End the current wait now, or the next one at once if none is running."""
        if self._ringing:
            return
        self._ringing = True
        if self._poll is not None:
            os.write(self._bell_in, b"\0")
        elif self._scope is not None:
            self._scope.cancel()

    async def wait(self, fd: int, deadline: float) -> None:
        if self._ringing:
            self._answer()
            await trio.lowlevel.checkpoint()
            return
        self.rung = False
        poll, timer = self._poll, self._timer
        if poll is None or timer is None:
            with trio.move_on_at(deadline) as scope:
                self._scope = scope
                try:
                    await trio.lowlevel.wait_readable(fd)
                finally:
                    self._scope = None
            self._answer()
            return
        if fd != self._watched:
            if self._watched is not None:
                with contextlib.suppress(OSError):  # closed already: epoll dropped it itself
                    poll.unregister(self._watched)
            try:
                poll.register(fd, select.EPOLLIN)
            except FileExistsError:
                poll.modify(fd, select.EPOLLIN)
            self._watched = fd
        if deadline != self._armed_for:
            self._armed_for = deadline
            timer.clear()
            timer.arm(deadline - trio.current_time())
        await trio.lowlevel.wait_readable(poll.fileno())
        self._answer()
        if self._armed_for <= trio.current_time():
            timer.clear()
            self._armed_for = math.inf

    def _answer(self) -> None:
        """Take a ring (if there is one): clear it, empty the pipe, remember it in ``rung``."""
        if not self._ringing:
            return
        self._ringing = False
        self.rung = True
        if self._poll is not None:
            with contextlib.suppress(BlockingIOError):
                os.read(self._bell_out, 64)

    def close(self) -> None:
        """Release the descriptors (the watched one is the caller's); safe to call twice."""
        if self._poll is not None and self._timer is not None:
            self._poll.close()
            self._timer.close()
            os.close(self._bell_out)
            os.close(self._bell_in)
            self._poll = self._timer = None
