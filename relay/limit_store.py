"""The abuse limiters' memory on disk, so a restart (even ``kill -9``) hands nobody a fresh budget.

The trackers of :mod:`relay.limits` stay pure and in memory; this module keeps the store in step
with them (docs/design.md §7.3, §7.4):

* every failure a tracker counts is written, through the :class:`~relay.recorder.Recorder`'s
  queue, as a row of ``limiter_failures``; a success or a lifted lockout deletes the row;
* trust (an address that got in, a device cookie) is written to ``limiter_trust``;
* changes made while a write is waiting in the queue join it: one transaction per turn of the
  recorder, however many failures arrive (the latest state of each key wins);
* at start-up the rows come back into the trackers and trust lists.

The store never sees what is counted: a row's key is an HMAC of the scope and the key, under a
key derived from the relay's own secret (``decoy.key``), so ``relay.db`` names no address,
session ID or user name (a name typed into a failed login may be a password). Replacing the
secret orphans the rows: they expire unused. Times are the trackers' (trio's monotonic clock) in
memory and UNIX seconds on disk; the conversion uses one pair of readings of both clocks.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import threading
from collections.abc import Callable

from relay.limits import FailureTracker, Snapshot, TrustList
from relay.recorder import Recorder
from relay.store import RelayStore, SavedFailures

__all__ = ["LimitJournal"]

_LABEL = b"porthole relay limiter keys v1"
#: Hex digits of a digest: 128 bits, more than enough to never collide by accident.
_DIGEST_HEX = 32


class LimitJournal:
    """Persists named failure trackers and trust lists under keyed digests."""

    def __init__(
        self,
        recorder: Recorder,
        secret: bytes,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self._recorder = recorder
        self._key = hmac.new(secret, _LABEL, hashlib.sha256).digest()
        self._clock = clock
        self._wall_clock = wall_clock
        self._trackers: dict[str, FailureTracker] = {}
        self._trust: dict[str, TrustList] = {}
        self._lock = threading.Lock()
        #: Changes not yet written, by (scope, digest): a row, or None to delete it; and trust
        #: (UNIX time it ends).
        self._dirty: dict[tuple[str, str], SavedFailures | None] = {}
        self._dirty_trust: dict[tuple[str, str], float] = {}
        self._flush_queued = False

    def digest(self, scope: str, key: str) -> str:
        """The store's name for ``key`` in ``scope``: an HMAC, not reversible without the secret."""
        message = f"{scope}\0{key}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:_DIGEST_HEX]

    # -- wiring ---------------------------------------------------------------------------------

    def attach(self, scope: str, tracker: FailureTracker) -> None:
        """Save ``tracker``'s changes under ``scope`` from now on."""
        self._trackers[scope] = tracker

        def journal(key: str, snapshot: Snapshot | None) -> None:
            # A restored record not seen since the restart is named by its digest ("#…").
            digest = key[1:] if key.startswith("#") else self.digest(scope, key)
            row = None if snapshot is None else self._to_disk(scope, digest, tracker, snapshot)
            self._mark((scope, digest), row)

        tracker.journal = journal

    def attach_trust(self, scope: str, trust: TrustList) -> None:
        """Load and save ``trust`` under ``scope`` (its keys are already digests)."""
        self._trust[scope] = trust

    def trust(self, scope: str, key: str) -> None:
        """``key`` just got in: trust it (in memory and on disk) for the list's period."""
        trust = self._trust[scope]
        until = trust.renew(self.digest(scope, key), self._clock())
        self._mark_trust((scope, self.digest(scope, key)), self._to_wall(until))

    # -- writing: one transaction per recorder turn ------------------------------------------------

    def _mark(self, name: tuple[str, str], row: SavedFailures | None) -> None:
        """Note a changed record (None: delete it) to write with the next flush.

        Under a flood of failures the same keys change again and again; writing each change
        would cost three transactions per failure. Changes wait in ``_dirty`` (the latest one
        per key wins) until the recorder runs the flush, which writes them all in one
        transaction. The lock guards the hand-over between the trio thread and the worker.
        """
        with self._lock:
            self._dirty[name] = row
            queue = not self._flush_queued
            self._flush_queued = True
        if queue:
            self._recorder.write_limits(self._flush)

    def _mark_trust(self, name: tuple[str, str], until: float) -> None:
        with self._lock:
            self._dirty_trust[name] = until
            queue = not self._flush_queued
            self._flush_queued = True
        if queue:
            self._recorder.write_limits(self._flush)

    def _flush(self, store: RelayStore) -> None:
        """The recorder's job (a worker thread): write every change noted so far."""
        with self._lock:
            failures, self._dirty = self._dirty, {}
            trust, self._dirty_trust = self._dirty_trust, {}
            self._flush_queued = False
        store.write_limits(failures, trust)

    def trusted(self, scope: str, key: str) -> bool:
        return self._trust[scope].trusted(self.digest(scope, key), self._clock())

    def expire(self) -> None:
        """Housekeeping: forget what has expired, in memory at once and on disk in a job."""
        now = self._clock()
        for tracker in self._trackers.values():
            tracker.prune(now)
        for trust in self._trust.values():
            trust.prune(now)
        self._recorder.expire_limits(self._wall_clock())

    def load(self, store: RelayStore) -> int:
        """Take back what the store remembers for the attached scopes; returns how many rows.

        Called once at start-up, before the relay accepts a connection (so synchronously).
        """
        now_wall = self._wall_clock()
        store.expire_limits(now_wall)
        saved: dict[str, dict[str, Snapshot]] = {scope: {} for scope in self._trackers}
        count = 0
        for row in store.load_failures(now_wall):
            if row.scope in saved:
                saved[row.scope][row.key] = self._from_disk(row)
                count += 1
        for scope, tracker in self._trackers.items():
            tracker.restore(functools.partial(self.digest, scope), saved[scope])
        for scope, key, until in store.load_trust(now_wall):
            if scope in self._trust:
                self._trust[scope].restore(key, self._to_mono(until))
                count += 1
        return count

    # -- clocks -----------------------------------------------------------------------------------

    def _to_wall(self, t: float) -> float:
        return t - self._clock() + self._wall_clock()

    def _to_mono(self, t: float) -> float:
        return t - self._wall_clock() + self._clock()

    def _to_disk(
        self, scope: str, digest: str, tracker: FailureTracker, s: Snapshot
    ) -> SavedFailures:
        def wall(t: float) -> float | None:
            return None if t == -math.inf else self._to_wall(t)

        last = self._to_wall(s.last_failure)
        locked = wall(s.locked_until)
        expires = max(last + tracker.policy.forget_after, locked or last)
        return SavedFailures(
            scope=scope,
            key=digest,
            failures=s.failures,
            penalties=s.penalties,
            recent=tuple(self._to_wall(t) for t in s.recent),
            last_failure=last,
            next_allowed=wall(s.next_allowed),
            locked_until=locked,
            expires_at=expires,
        )

    def _from_disk(self, row: SavedFailures) -> Snapshot:
        def mono(t: float | None) -> float:
            return -math.inf if t is None else self._to_mono(t)

        return Snapshot(
            failures=row.failures,
            penalties=row.penalties,
            recent=tuple(self._to_mono(t) for t in row.recent),
            last_failure=self._to_mono(row.last_failure),
            next_allowed=mono(row.next_allowed),
            locked_until=mono(row.locked_until),
        )
