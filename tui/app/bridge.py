"""trio in guest mode on Textual's asyncio loop (docs/design.md §8.3).

The TUI's network side is the same trio client library the headless programs use. Rather than
a second thread (and locks), trio runs as a *guest* of the asyncio loop Textual owns: both share
one thread, so trio tasks may post Textual messages and Textual handlers hand work to trio
through :meth:`TrioGuest.start_soon` (a thread-safe ``run_sync_soon`` on the trio token).

Shutdown order matters: the trio run must finish before the asyncio loop stops, or tasks holding
sockets (and a relay embedded for ``porthole demo``) would be abandoned mid-write. Use the guest
as an async context manager around the app: leaving it cancels trio's root nursery and waits for
the run's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import outcome
import trio


class GuestNotRunning(RuntimeError):
    """Work was handed to the trio guest before it started or after it finished."""


class TrioGuest:
    """One trio run hosted by the current asyncio loop, with a root nursery for app tasks."""

    def __init__(self, on_task_error: Callable[[Exception], object] | None = None) -> None:
        self.on_task_error = on_task_error
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._started: asyncio.Future[None] | None = None
        self._done: asyncio.Future[outcome.Outcome[None]] | None = None
        self.crashed: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._nursery is not None and self._done is not None and not self._done.done()

    async def __aenter__(self) -> TrioGuest:
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        self._done = loop.create_future()
        trio.lowlevel.start_guest_run(
            self._root,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=self._finished,
            host_uses_signal_set_wakeup_fd=True,
            strict_exception_groups=True,
        )
        await self._started
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel every trio task and wait until the trio run has really finished."""
        if self._done is None:
            return
        if not self._done.done() and self._token is not None:
            nursery = self._nursery
            if nursery is not None:
                with contextlib.suppress(trio.RunFinishedError):
                    self._token.run_sync_soon(nursery.cancel_scope.cancel)
        result = await asyncio.shield(self._done)
        self._nursery = None
        if isinstance(result, outcome.Error) and not isinstance(result.error, trio.Cancelled):
            self.crashed = result.error

    def start_soon(self, async_fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``async_fn(*args)`` as a trio task in the root nursery (callable from Textual).

        The functions handed over turn expected failures into messages for the UI themselves.
        Anything else they raise is a bug: it goes to ``on_task_error`` (the app shows it) and
        does not take the other tasks (the relay connection, a session) down with it.
        """
        nursery, token = self._nursery, self._token
        if nursery is None or token is None or not self.running:
            raise GuestNotRunning("the network side is not running")
        token.run_sync_soon(nursery.start_soon, self._guarded, async_fn, args)

    async def _guarded(
        self, async_fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]
    ) -> None:
        try:
            await async_fn(*args)
        except Exception as exc:
            if self.on_task_error is None:
                raise
            self.on_task_error(exc)

    async def run(self, async_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run ``async_fn(*args)`` in trio and wait for its result from asyncio (Textual)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def task() -> None:
            try:
                result = await async_fn(*args)
            except BaseException as exc:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else GuestNotRunning())
                if not isinstance(exc, Exception):
                    raise
            else:
                if not future.done():
                    future.set_result(result)

        nursery, token = self._nursery, self._token
        if nursery is None or token is None or not self.running:
            raise GuestNotRunning("the network side is not running")
        token.run_sync_soon(nursery.start_soon, task)
        return await future

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Run the synchronous ``fn(*args)`` inside trio (e.g. ``event.set``, ``send_nowait``)."""
        token = self._token
        if token is None or not self.running:
            raise GuestNotRunning("the network side is not running")
        token.run_sync_soon(fn, *args)

    async def _root(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            assert self._started is not None
            self._started.set_result(None)
            await trio.sleep_forever()

    def _finished(self, result: outcome.Outcome[None]) -> None:
        if self._started is not None and not self._started.done():
            self._started.set_exception(GuestNotRunning("the network side failed to start"))
        if self._done is not None and not self._done.done():
            self._done.set_result(result)
