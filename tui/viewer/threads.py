"""The viewer's two pipe threads: stdin → messages, messages → stdout.

Tk must own the main thread and must never block on a pipe: a slow client must not freeze the
window, and a burst of updates must not stall painting. So reading (and decoding, see
:mod:`tui.viewer.picture`) happens on one thread and writing on another; the Tk side only ever
touches thread-safe queues.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable

from tui.viewer.pipe import TO_VIEWER, PipeBuffer, PipeError, PipeMessage, encode_message

READ_CHUNK = 256 * 1024
#: Messages waiting for the client; past this it has stopped reading and we drop, not grow.
WRITE_QUEUE = 4096


class PipeReader(threading.Thread):
    """Reads the client's messages from ``fd`` and hands each to ``on_message``.

    ``on_end`` is called exactly once: with ``None`` at a clean end of stream, or with a sentence
    describing why the stream was refused.
    """

    def __init__(
        self,
        fd: int,
        on_message: Callable[[PipeMessage], None],
        on_end: Callable[[str | None], None],
    ) -> None:
        super().__init__(name="viewer-pipe-reader", daemon=True)
        self._fd = fd
        self._on_message = on_message
        self._on_end = on_end

    def run(self) -> None:
        buffer = PipeBuffer(TO_VIEWER)
        try:
            while chunk := os.read(self._fd, READ_CHUNK):
                buffer.feed(chunk)
                while (message := buffer.next_message()) is not None:
                    self._on_message(message)
            buffer.check_eof()
        except PipeError as exc:
            self._on_end(str(exc))
        except OSError as exc:
            self._on_end(f"cannot read from the client: {exc.strerror or exc}")
        else:
            self._on_end(None)


class PipeWriter(threading.Thread):
    """Writes messages to ``fd`` in order; :meth:`send` never blocks the caller."""

    def __init__(self, fd: int) -> None:
        super().__init__(name="viewer-pipe-writer", daemon=True)
        self._fd = fd
        self._queue: queue.Queue[bytes | None] = queue.Queue(WRITE_QUEUE)
        self.dropped = 0
        self.broken = False

    def send(self, message: PipeMessage) -> None:
        try:
            self._queue.put_nowait(encode_message(message))
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 1.0) -> None:
        """Flush what is queued (for at most ``timeout`` seconds) and stop."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self.join(timeout)

    def run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self.broken:
                continue
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:
                # The client went away; its end of stdin closing will end the window too.
                self.broken = True
