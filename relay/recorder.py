"""Writes ancillary records (session metadata, security events) without ever blocking routing.

The switchboard calls these methods synchronously from reader tasks; each call only appends a job
to an in-memory queue. One task drains the queue and runs the SQLite writes in a worker thread,
in order, so a slow disk delays records, never frames. If the queue is ever full (the disk is
stuck and thousands of events pile up), further jobs are counted as lost rather than blocking
the relay or growing memory without bound.

Only metadata is recorded: session ID, organizer account, times, counts and end reason; security
events with an address key; the abuse limiters' counts under keyed digests. Never names of
members, passwords, frames, input or chat.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import trio

from relay.events import SECURITY_PREFIX, Observer, RelayEvent, notify
from relay.store import RelayStore, SecurityEventKind

Job = Callable[[RelayStore], None]


@dataclass(frozen=True, slots=True)
class RecorderStatistics:
    queued: int
    written: int
    lost: int
    failed: int


class Recorder:
    def __init__(self, store: RelayStore, *, capacity: int = 10_000) -> None:
        self.store = store
        self.capacity = capacity
        self._send, self._receive = trio.open_memory_channel[Job](math.inf)
        self._queued = 0
        self._written = 0
        self._lost = 0
        self._failed = 0
        self._record_ids: dict[int, int] = {}
        self._idle = trio.Event()
        self._idle.set()
        #: Told about every security event as it is submitted (the admin socket's event
        #: stream). They get no user name: only the store knows whether a name is an account's.
        self.observers: list[Observer] = []

    # -- called by the switchboard (never blocks) --------------------------------------------------

    def session_started(self, token: int, session_id: str, organizer: str, now: float) -> None:
        def job(store: RelayStore) -> None:
            self._record_ids[token] = store.start_session_record(session_id, organizer, now)

        self._submit(job)

    def session_ended(
        self,
        token: int,
        now: float,
        end_reason: str,
        peak_members: int,
        total_members: int,
        bytes_relayed: int,
        messages_relayed: int,
    ) -> None:
        def job(store: RelayStore) -> None:
            record_id = self._record_ids.pop(token, None)
            if record_id is not None:
                store.end_session_record(
                    record_id,
                    now,
                    end_reason,
                    peak_members,
                    total_members,
                    bytes_relayed,
                    messages_relayed,
                )

        self._submit(job)

    def security_event(
        self,
        now: float,
        kind: SecurityEventKind,
        address: str,
        *,
        session_id: str | None = None,
        username: str | None = None,
        detail: str = "",
    ) -> None:
        def job(store: RelayStore) -> None:
            store.add_security_event(
                now, kind, address, session_id=session_id, username=username, detail=detail
            )

        self._submit(job)
        if self.observers:
            event = RelayEvent(
                f"{SECURITY_PREFIX}{kind.value}", now, session_id, reason=detail, address=address
            )
            notify(self.observers, event)

    def write_limits(self, job: Job) -> None:
        """Queue the limiters' flush (:mod:`relay.limit_store`), in order with the records."""
        self._submit(job)

    def expire_limits(self, now: float) -> None:
        def job(store: RelayStore) -> None:
            store.expire_limits(now)

        self._submit(job)

    def _submit(self, job: Job) -> None:
        if self._queued >= self.capacity:
            self._lost += 1
            return
        try:
            self._send.send_nowait(job)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            # Shutting down: a connection ending after the writer stopped (or was cancelled
            # along with everything else, as when ``porthole demo`` quits). Counted, not raised.
            self._lost += 1
            return
        self._queued += 1
        self._idle = trio.Event() if self._idle.is_set() else self._idle

    # -- the writer task ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._receive:
            async for job in self._receive:
                try:
                    await trio.to_thread.run_sync(job, self.store)
                    self._written += 1
                except Exception:  # a failed write must not take the relay down
                    self._failed += 1
                finally:
                    self._queued -= 1
                    if self._queued == 0:
                        self._idle.set()

    async def wait_idle(self) -> None:
        """Wait until every job submitted so far has been written (tests, shutdown)."""
        await self._idle.wait()

    def close(self) -> None:
        """No more jobs: ``run`` finishes once the queue is drained."""
        self._send.close()

    def statistics(self) -> RecorderStatistics:
        return RecorderStatistics(
            queued=self._queued, written=self._written, lost=self._lost, failed=self._failed
        )
