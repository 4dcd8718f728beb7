"""Wait, on a worker thread, for a file descriptor, a ring or a deadline, whichever comes first.

The presenter's thread sleeps on the X connection between keystrokes, and must also wake for a
pause, a keyframe request, an audience change or the end (a *ring*, from the trio thread), and
at a deadline (the next frame, pointer poll or whole-area check). A ring writes a byte into a
pipe; the wait is one ``poll(2)`` on the watched descriptor and the pipe's read end, with the
deadline as its timeout. Both stay registered between waits; a wait without a descriptor
(sleeping until a deadline, or while paused) takes the watched one out of the set.

Why a thread and ``poll`` rather than a trio task: the presenter wakes once per keystroke, after
~100 ms of other processes running, so everything it touches is cold, and a trio task woken by a
readable socket then costs several times the CPU of a thread woken out of ``poll`` (figures:
bench/README.md, "Measurements behind design choices").
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import time

__all__ = ["Doorbell"]


class Doorbell:
    """``wait(fd, deadline)`` returns when ``fd`` is readable, when :meth:`ring` was called
    (before or during the wait, from any thread), or at ``deadline`` (``time.monotonic``),
    whichever is first.

    A ring is remembered until a wait consumes it. One thread waits at a time. The watched
    descriptor must stay open while it is the one passed (as the X connection does for the
    presenter's whole life); a descriptor with another number replaces it. :meth:`close`
    releases the pipe, after the waiting thread is done.
    """

    def __init__(self) -> None:
        self._ringing = False
        self._watched: int | None = None
        self._bell_out, self._bell_in = os.pipe()
        os.set_blocking(self._bell_out, False)
        os.set_blocking(self._bell_in, False)
        self._poll = select.poll()
        self._poll.register(self._bell_out, select.POLLIN)
        self._closed = False

    def ring(self) -> None:
        """End the current wait now, or the next one at once if none is running."""
        if self._ringing or self._closed:
            return
        self._ringing = True
        with contextlib.suppress(BlockingIOError):  # full: the waiter wakes anyway
            os.write(self._bell_in, b"\0")

    def wait(self, fd: int | None, deadline: float) -> None:
        """Block this thread (never trio's) until ``fd`` is readable, a ring, or ``deadline``
        (``math.inf``: no deadline; ``fd`` None: wait for a ring or the deadline only)."""
        if self._ringing:
            self._answer()
            return
        bell = self._bell_out
        poll = self._poll
        if fd != self._watched:
            if self._watched is not None:
                with contextlib.suppress(KeyError):
                    poll.unregister(self._watched)
            if fd is not None:
                poll.register(fd, select.POLLIN)
            self._watched = fd
        if math.isinf(deadline):
            ready = poll.poll()
        else:
            # Rounded up: waking a millisecond early would only mean waiting again.
            ready = poll.poll(max(0, math.ceil((deadline - time.monotonic()) * 1000)))
        if self._ringing or any(ready_fd == bell for ready_fd, _ in ready):
            self._answer()

    def _answer(self) -> None:
        """Take a ring: clear the flag first, then empty the pipe, so a ring arriving in
        between is never lost (at worst it wakes the next wait needlessly). Called too when
        the pipe is readable with the flag already clear: a ring's byte can land after the
        wait that took the ring (the ringer sets the flag, then writes), and left in the pipe
        it would end every later wait at once."""
        self._ringing = False
        with contextlib.suppress(BlockingIOError):
            os.read(self._bell_out, 64)

    def close(self) -> None:
        """Release the pipe (the watched descriptor is the caller's); safe to call twice."""
        if not self._closed:
            self._closed = True
            os.close(self._bell_out)
            os.close(self._bell_in)
