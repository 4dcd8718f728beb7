"""The client's side of the viewer window: start ``python -m tui.viewer`` and talk to it.

    async with open_viewer("porthole — Ana presenting") as viewer:
        await viewer.set_state(ViewerState.LIVE, presenter="Ana")
        await viewer.send_update(update)          # never waits on a slow window
        async for event in viewer.events: ...     # Input | Refresh | Ready | WindowClosed

The session must never slow down because a window paints slowly, so :meth:`ViewerLink.send_update`
only queues: at most :data:`MAX_QUEUED_UPDATES` updates wait for the pipe, and past that the
update is dropped and a ``Dropped`` message follows, so the window invalidates its picture and
asks for a keyframe, exactly as when the relay drops updates for a slow viewer.

On leaving the context the window is told the session ended and to close, given
:data:`CLOSE_GRACE` seconds to go, and killed after that.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
from typing import Final

import trio

from core.protocol.content import Cursor, FrameUpdate
from core.protocol.wire import clip_text
from tui.viewer.pipe import (
    MAX_PRESENTER_BYTES,
    TO_CLIENT,
    Close,
    Closed,
    CursorAt,
    Dropped,
    Input,
    PipeBuffer,
    PipeError,
    PipeMessage,
    Ready,
    Refresh,
    State,
    Update,
    ViewerState,
    encode_message,
)

#: Updates allowed to wait for the pipe before new ones are dropped.
MAX_QUEUED_UPDATES: Final = 3
#: Everything else (state, cursor, close) queued for the pipe; past this a cursor is dropped.
MAX_QUEUED: Final = 64
CLOSE_GRACE: Final = 2.0
EVENT_BUFFER: Final = 256
STDERR_TAIL: Final = 4096

__all__ = [
    "Input",
    "Ready",
    "Refresh",
    "ViewerEvent",
    "ViewerLink",
    "ViewerLinkStatistics",
    "ViewerState",
    "WindowClosed",
    "open_viewer",
]


@dataclass(frozen=True, slots=True)
class WindowClosed:
    """The window is gone: ``by_user`` when the person closed it, else it exited or failed."""

    by_user: bool


#: What the window says, as the pipe's own messages (a remote-control event in frame coordinates,
#: a keyframe wanted, on screen), and that it is gone (reported once, when the pipe ends).
ViewerEvent = Input | Refresh | Ready | WindowClosed


@dataclass(frozen=True, slots=True)
class ViewerLinkStatistics:
    updates_sent: int
    updates_dropped: int
    bytes_sent: int
    events_received: int
    running: bool


def _child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The viewer's environment: ``env`` (or ours), with this source tree importable so
    ``-m tui.viewer`` works from a checkout as well as from an installed package."""
    child = dict(os.environ if env is None else env)
    root = str(Path(__file__).resolve().parents[2])
    path = child.get("PYTHONPATH")
    child["PYTHONPATH"] = root if not path else f"{root}{os.pathsep}{path}"
    return child


class ViewerLink:
    """A running viewer window. Create it with :func:`open_viewer`."""

    def __init__(self, process: trio.Process) -> None:
        self._process = process
        send, self.events = trio.open_memory_channel[ViewerEvent](EVENT_BUFFER)
        self._events_out = send
        out, self._outbox = trio.open_memory_channel[tuple[bytes, bool]](MAX_QUEUED)
        self._outbox_in = out
        self._queued_updates = 0
        self._owe_dropped = False
        self._closed = False
        self._writer_done = trio.Event()
        self._updates_sent = self._updates_dropped = self._bytes_sent = self._events = 0
        self._stderr_tail = bytearray()

    # -- public ----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """The window process is alive and has not been told to close."""
        return self._process.returncode is None and not self._closed

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The window process's exit status, once it has exited."""
        return self._process.returncode

    @property
    def stderr_tail(self) -> str:
        """The last few KiB the window printed on stderr (for diagnostics; never frames)."""
        return self._stderr_tail.decode(errors="replace")

    async def send_update(self, update: FrameUpdate) -> None:
        """Queue one frame update; drop it (and tell the window) if the window is behind."""
        if not self.running:
            return
        if self._queued_updates >= MAX_QUEUED_UPDATES or not self._try_queue(
            encode_message(Update(update)), update=True
        ):
            self._updates_dropped += 1
            self._owe_dropped = True
            return
        await trio.lowlevel.checkpoint()

    async def send_cursor(self, cursor: Cursor) -> None:
        """Queue the presenter's pointer position; dropped if the pipe is badly behind."""
        if self.running:
            self._try_queue(encode_message(CursorAt(cursor)))
        await trio.lowlevel.checkpoint()

    async def set_state(
        self, state: ViewerState, *, control: bool = False, presenter: str = ""
    ) -> None:
        """Tell the window which overlay to show and whether this member holds control."""
        name = clip_text(presenter, MAX_PRESENTER_BYTES)
        await self._queue(encode_message(State(state, control, name)))

    async def notify_dropped(self) -> None:
        """The relay dropped updates for us: the window must ask for a keyframe."""
        await self._queue(encode_message(Dropped()))

    def statistics(self) -> ViewerLinkStatistics:
        return ViewerLinkStatistics(
            updates_sent=self._updates_sent,
            updates_dropped=self._updates_dropped,
            bytes_sent=self._bytes_sent,
            events_received=self._events,
            running=self.running,
        )

    # -- internals -------------------------------------------------------------------------------

    def _try_queue(self, data: bytes, *, update: bool = False) -> bool:
        try:
            self._outbox_in.send_nowait((data, update))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        self._queued_updates += update
        return True

    async def _queue(self, data: bytes) -> None:
        """Queue a message that must not be lost; waits (briefly) only if 64 are queued."""
        if not self.running:
            await trio.lowlevel.checkpoint()
            return
        with suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            await self._outbox_in.send((data, False))

    async def _write_loop(self) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            async with stdin, self._outbox:
                async for data, update in self._outbox:
                    if update:
                        self._queued_updates -= 1
                        self._updates_sent += 1
                    await stdin.send_all(data)
                    self._bytes_sent += len(data)
                    if self._owe_dropped:
                        self._owe_dropped = False
                        await stdin.send_all(encode_message(Dropped()))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the window exited; the reader reports it
        finally:
            self._closed = True
            self._writer_done.set()

    async def _read_loop(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        buffer = PipeBuffer(TO_CLIENT)
        by_user = False
        try:
            async with self._events_out:
                try:
                    while chunk := await stdout.receive_some(65536):
                        buffer.feed(chunk)
                        while (message := buffer.next_message()) is not None:
                            by_user |= isinstance(message, Closed)
                            event = self._event_of(message)
                            if event is not None:
                                self._events += 1
                                await self._events_out.send(event)
                except (PipeError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self._note(f"porthole: refused the viewer's output: {exc}\n")
                    self._process.kill()
                await self._events_out.send(WindowClosed(by_user=by_user))
        except trio.BrokenResourceError:
            pass  # nobody listens to events any more
        finally:
            self._closed = True

    @staticmethod
    def _event_of(message: PipeMessage) -> ViewerEvent | None:
        if isinstance(message, Input | Refresh | Ready):
            return message
        return None  # Closed: reported once, when the pipe ends

    async def _read_stderr(self) -> None:
        stderr = self._process.stderr
        assert stderr is not None
        try:
            while chunk := await stderr.receive_some(4096):
                self._note(chunk.decode(errors="replace"))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    def _note(self, text: str) -> None:
        self._stderr_tail += text.encode()
        del self._stderr_tail[:-STDERR_TAIL]

    async def _shutdown(self, grace: float) -> None:
        """Ask the window to close, wait up to ``grace`` seconds, then kill it."""
        with trio.move_on_after(grace):
            if self._process.returncode is None:
                self._try_queue(encode_message(State(ViewerState.ENDED)))
                self._try_queue(encode_message(Close()))
            self._outbox_in.close()
            await self._writer_done.wait()
            await self._process.wait()
        self._closed = True
        if self._process.returncode is None:
            self._process.kill()
            await self._process.wait()


@asynccontextmanager
async def open_viewer(
    title: str, *, env: Mapping[str, str] | None = None
) -> AsyncIterator[ViewerLink]:
    """Start a viewer window titled ``title``; close (or kill) it when the block ends.

    ``env`` is the window's whole environment (default: ours); it must carry ``DISPLAY``.
    """
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tui.viewer", "--title", title],
        stdin=PIPE,
        stdout=PIPE,
        stderr=PIPE,
        env=_child_env(env),
        # Its own session: a Ctrl+C in the terminal is for the client, which then closes it.
        start_new_session=True,
    )
    link = ViewerLink(process)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link._write_loop)
            nursery.start_soon(link._read_loop)
            nursery.start_soon(link._read_stderr)
            try:
                yield link
            finally:
                with trio.CancelScope(shield=True):
                    await link._shutdown(CLOSE_GRACE)
                nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
