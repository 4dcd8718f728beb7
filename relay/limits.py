"""Abuse limits for the relay: failure backoff with lockout, trust, connection caps, token buckets.

Everything here is pure: no sockets, no clock, no logging. Callers pass ``now`` (trio's clock or
:func:`time.monotonic`, in seconds) and act on the returned values. That keeps the arithmetic
testable to the exact second and lets the same objects back the relay and the admin view
(docs/design.md §7.3).

Why these numbers: RustDesk lets a few wrong passwords through per minute and then
makes the client wait; TeamViewer doubles the wait after each failure and after 24 tries the wait
is about 17 hours. :class:`BackoffPolicy` combines both: a free burst for the person who mistypes,
an exponential wait for the script that guesses, and a long lockout that caps what a patient
attacker can try in a day (24 online guesses per key, each one also counted against the source's
network and the session).

Failures are keyed by their source (:func:`address_key`, :func:`network_key`) so that they slow
down whoever made them; per-target keys (a session ID, a user name) only get a ceiling far above
normal use, and :class:`TrustList` exempts sources that recently proved the secret from what
others' failures cost (docs/design.md §7.3).
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

__all__ = [
    "BackoffPolicy",
    "ConnectionLimiter",
    "ConnectionLimiterStatistics",
    "FailureTracker",
    "FailureTrackerStatistics",
    "Snapshot",
    "TokenBucket",
    "TrustList",
    "Verdict",
    "address_key",
    "network_key",
]


def address_key(ip: str) -> str:
    """The key under which failures and connections from ``ip`` are counted.

    IPv4 addresses count one by one. IPv6 addresses count per /64: a single host or home
    network is routinely handed a whole /64, so counting per address would let one attacker
    rotate through 2**64 fresh keys. IPv4-mapped IPv6 (``::ffff:192.0.2.1``, what a dual-stack
    socket reports for an IPv4 peer) counts as the IPv4 address, so one client cannot get two
    budgets by connecting over both families. A zone index (``fe80::1%eth0``) is dropped.

    Raises :class:`ValueError` if ``ip`` is not an IP address.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"not an IP address: {ip!r}") from None
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    prefix = int(address) >> 64 << 64
    return str(ipaddress.IPv6Network((prefix, 64)))


def network_key(ip: str) -> str:
    """The network ``ip`` belongs to, for limits that a guesser must not escape by hopping.

    An IPv4 /24 or an IPv6 /48 (IPv4-mapped addresses count as IPv4). One host rarely owns a
    whole /24, but one attacker easily rents or rotates through many addresses of one, and an
    IPv6 site is usually handed a /48 (65 536 /64s): counting failures per network as well as
    per address means rotating addresses there buys no extra guesses. Raises
    :class:`ValueError` if ``ip`` is not an IP address.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"not an IP address: {ip!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if isinstance(address, ipaddress.IPv4Address) else 48
    return str(ipaddress.ip_network((address, prefix), strict=False))


# --------------------------------------------------------------------------------------------
# Failure backoff and lockout


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """How failures (wrong session passwords, failed logins) slow down and then lock a key.

    - ``free_failures`` failures within ``window`` seconds cost nothing: people mistype.
    - The failure that completes such a burst starts the backoff: the next attempt must wait
      ``base_delay``, and each further failure doubles the wait, up to ``max_delay``. Once a key
      is backing off it keeps doing so until it is forgotten or succeeds; otherwise an attacker
      could wait for the burst window to slide past and get its free failures back.
    - The ``lockout_after``-th failure locks the key for ``lockout_duration`` seconds. Failures
      recorded while locked extend the lockout. After a lockout ends the key may try again, but
      its next failure locks it again, until the key is forgotten.
    - A key is forgotten after ``forget_after`` seconds without failures (and not locked).

    Slow guessing (fewer than ``free_failures`` per window) never waits, but still reaches the
    lockout: the lockout, not the delay, bounds guesses per day.
    """

    free_failures: int = 6
    window: float = 60.0
    base_delay: float = 1.0
    max_delay: float = 3600.0
    lockout_after: int = 24
    lockout_duration: float = 17 * 3600.0
    forget_after: float = 24 * 3600.0

    def __post_init__(self) -> None:
        """Refuse nonsense early: a zero delay or lockout would silently disable the limit."""
        for name in ("window", "base_delay", "max_delay", "lockout_duration", "forget_after"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"BackoffPolicy.{name} must be a positive number, got {value!r}")
        if self.max_delay < self.base_delay:
            raise ValueError("BackoffPolicy.max_delay must be at least base_delay")
        if self.free_failures < 0:
            raise ValueError("BackoffPolicy.free_failures must not be negative")
        if self.lockout_after < 1:
            raise ValueError("BackoffPolicy.lockout_after must be at least 1")

    def delay(self, penalties: int) -> float:
        """The wait imposed by the ``penalties``-th failure beyond the free burst (0-based).

        ``base_delay * 2**penalties``, capped at ``max_delay``; never overflows.
        """
        if penalties < 0:
            raise ValueError("penalties must not be negative")
        try:
            return min(self.max_delay, math.ldexp(self.base_delay, penalties))
        except OverflowError:
            return self.max_delay


@dataclass(frozen=True, slots=True)
class Verdict:
    """May this key attempt now? ``allowed`` is exactly ``retry_after == 0``.

    ``retry_after`` is in seconds from the ``now`` the verdict was computed for; send it to the
    client (rounded up) so an honest client waits instead of hammering. ``locked_out`` tells the
    relay to answer with ``ErrorCode.LOCKED_OUT`` rather than ``RATE_LIMITED``. ``failures`` is the
    number of failures currently remembered for the key. ``newly_locked`` is True only on the
    verdict of the failure that started a lockout, so the caller logs each lockout exactly once.
    """

    allowed: bool
    retry_after: float
    locked_out: bool
    failures: int
    newly_locked: bool = False


_CLEAN = Verdict(allowed=True, retry_after=0.0, locked_out=False, failures=0)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One key's remembered failures, on the tracker's clock, to save and restore elsewhere.

    The relay writes these to its store (:mod:`relay.limit_store`) so that a restart, even a
    ``kill -9``, does not hand a guesser a fresh budget. Times that never happened (no wait
    imposed yet, never locked) are ``-inf``.
    """

    failures: int
    penalties: int
    recent: tuple[float, ...]
    last_failure: float
    next_allowed: float
    locked_until: float


@dataclass(slots=True)
class _Record:
    """What the tracker remembers about one key (kept small: there may be 100 000 of them)."""

    failures: int
    penalties: int
    recent: tuple[float, ...]  # times of the last ``free_failures`` failures, oldest first
    last_failure: float
    next_allowed: float
    locked_until: float

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.failures,
            self.penalties,
            self.recent,
            self.last_failure,
            self.next_allowed,
            self.locked_until,
        )

    def verdict(self, now: float) -> Verdict:
        until = max(self.locked_until, self.next_allowed)
        if until > now:
            # until > now implies until - now > 0 for IEEE floats, so the invariant holds.
            return Verdict(
                allowed=False,
                retry_after=until - now,
                locked_out=self.locked_until > now,
                failures=self.failures,
            )
        return Verdict(allowed=True, retry_after=0.0, locked_out=False, failures=self.failures)


@dataclass(frozen=True, slots=True)
class FailureTrackerStatistics:
    """Counters for the admin view and logs (trio's ``statistics()`` convention)."""

    tracked_keys: int
    max_keys: int
    failures_recorded: int
    lockouts: int
    evictions: int


class FailureTracker:
    """Counts failures per key and tells the relay whether the next attempt may go ahead.

    Keys are strings: :func:`address_key` results for per-address limits, session IDs for
    per-session limits (docs/design.md §4.3 step 4 counts a failure against both). Usage::

        verdict = tracker.check(key, now)
        if not verdict.allowed:
            refuse(ErrorCode.LOCKED_OUT if verdict.locked_out else ErrorCode.RATE_LIMITED,
                   retry_after=verdict.retry_after)
        elif join_failed:
            if tracker.record_failure(key, now).locked_out:
                log("locked out")  # the first failure that locks returns locked_out=True
        else:
            tracker.record_success(key)

    Memory is bounded by ``max_keys``: records live in an :class:`~collections.OrderedDict`
    ordered by last failure, and inserting beyond the bound evicts the key that failed least
    recently. An attacker spraying addresses can therefore push out old records but cannot grow
    memory; the key being actively attacked is the most recent one and stays tracked. (To evict
    a locked key an attacker needs ``max_keys`` failures from other keys, each of which the
    per-session tracker counts too.)
    """

    def __init__(self, policy: BackoffPolicy | None = None, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.policy = policy if policy is not None else BackoffPolicy()
        self.max_keys = max_keys
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._failures_recorded = 0
        self._lockouts = 0
        self._evictions = 0
        #: Told ``(key, snapshot)`` after every failure and ``(key, None)`` when a key is
        #: forgotten on success or lifted: how the relay keeps its store in step.
        self.journal: Callable[[str, Snapshot | None], None] | None = None
        #: Records restored from the store, by digest (the store never holds a raw key), and
        #: the function that turns a key into its digest. A restored record moves into
        #: ``_records`` the first time its key comes back.
        self._restored: dict[str, _Record] = {}
        self._digest: Callable[[str], str] | None = None

    def restore(self, digest: Callable[[str], str], saved: dict[str, Snapshot]) -> None:
        """Take back records saved before a restart, keyed by ``digest(key)``.

        Until its key is seen again such a record is listed by :meth:`locked` as ``#digest``
        (the admin view shows it so) and :meth:`lift` accepts that name.
        """
        self._digest = digest
        self._restored = {
            d: _Record(
                failures=s.failures,
                penalties=s.penalties,
                recent=s.recent,
                last_failure=s.last_failure,
                next_allowed=s.next_allowed,
                locked_until=s.locked_until,
            )
            for d, s in saved.items()
        }

    def _get(self, key: str) -> _Record | None:
        record = self._records.get(key)
        if record is None and self._restored and self._digest is not None:
            record = self._restored.pop(self._digest(key), None)
            if record is not None:
                self._records[key] = record
        return record

    def _tell(self, key: str, record: _Record | None) -> None:
        if self.journal is not None:
            self.journal(key, None if record is None else record.snapshot())

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def _forgotten(self, record: _Record, now: float) -> bool:
        return now - record.last_failure >= self.policy.forget_after and record.locked_until <= now

    def check(self, key: str, now: float) -> Verdict:
        """May ``key`` attempt at ``now``? Does not count anything (forgets a stale record)."""
        record = self._get(key)
        if record is None:
            return _CLEAN
        if self._forgotten(record, now):
            del self._records[key]
            return _CLEAN
        return record.verdict(now)

    def record_failure(self, key: str, now: float) -> Verdict:
        """Count a failure at ``now`` and return the verdict for the *next* attempt.

        The returned verdict has ``locked_out=True`` from the failure that locks the key, and
        ``newly_locked=True`` on that failure only (also when a key re-locks after a lockout).
        """
        policy = self.policy
        self._failures_recorded += 1
        record = self._get(key)
        if record is not None and self._forgotten(record, now):
            record = None
        if record is None:
            record = _Record(
                failures=0,
                penalties=0,
                recent=(),
                last_failure=now,
                next_allowed=-math.inf,
                locked_until=-math.inf,
            )
        self._records[key] = record
        self._records.move_to_end(key)
        if len(self._records) > self.max_keys:
            self._records.popitem(last=False)
            self._evictions += 1

        record.failures += 1
        record.last_failure = now
        if policy.free_failures > 0:
            record.recent = (*record.recent, now)[-policy.free_failures :]
        burst = len(record.recent) >= policy.free_failures and (
            policy.free_failures == 0 or now - record.recent[0] < policy.window
        )
        if record.penalties > 0 or burst:
            record.next_allowed = now + policy.delay(record.penalties)
            record.penalties += 1
        newly_locked = False
        if record.failures >= policy.lockout_after:
            if record.locked_until <= now:
                self._lockouts += 1
                newly_locked = True
            record.locked_until = now + policy.lockout_duration
        verdict = record.verdict(now)
        self._tell(key, record)
        return replace(verdict, newly_locked=True) if newly_locked else verdict

    def record_success(self, key: str) -> None:
        """The key proved it knows the secret: forget its failures."""
        if self._get(key) is not None:
            del self._records[key]
            self._tell(key, None)

    def lift(self, key: str) -> bool:
        """Admin action: lift a lockout (and forget all failures). Returns whether key was known.

        ``key`` may also be ``#digest``, as :meth:`locked` lists a restored record.
        """
        if key.startswith("#") and self._restored.pop(key[1:], None) is not None:
            self._tell(key, None)
            return True
        if self._get(key) is None:
            return False
        del self._records[key]
        self._tell(key, None)
        return True

    def locked(self, now: float) -> list[tuple[str, float]]:
        """``(key, locked_until)`` for every key locked at ``now``, soonest unlock first.

        ``locked_until`` is on the caller's clock (the same one as ``now``). Restored records
        whose key has not come back yet are listed as ``#digest``. This walks all records: it
        is for the admin view, not for the connection path.
        """
        found = [(k, r.locked_until) for k, r in self._records.items() if r.locked_until > now]
        found += [
            (f"#{d}", r.locked_until) for d, r in self._restored.items() if r.locked_until > now
        ]
        found.sort(key=lambda item: (item[1], item[0]))
        return found

    def prune(self, now: float) -> int:
        """Drop records that are forgotten at ``now``; returns how many were dropped.

        Optional housekeeping (``check`` and ``record_failure`` forget lazily). Records are
        ordered by last failure, so this stops at the first one that is still remembered and
        costs time only for what it drops.
        """
        dropped = 0
        while self._records:
            key, record = next(iter(self._records.items()))
            if not self._forgotten(record, now):
                break
            del self._records[key]
            dropped += 1
        for digest in [d for d, r in self._restored.items() if self._forgotten(r, now)]:
            del self._restored[digest]
            dropped += 1
        return dropped

    def statistics(self) -> FailureTrackerStatistics:
        """Current counters (totals since this tracker was created)."""
        return FailureTrackerStatistics(
            tracked_keys=len(self._records) + len(self._restored),
            max_keys=self.max_keys,
            failures_recorded=self._failures_recorded,
            lockouts=self._lockouts,
            evictions=self._evictions,
        )


# --------------------------------------------------------------------------------------------
# Who recently got in


class TrustList:
    """Keys that proved a secret recently, so that other people's failures do not slow them.

    The failure trackers of a network or an account count everyone's failures; a key here (an
    address that recently joined or logged in, a device cookie) is exempt from those, and
    still counted under its own address (OWASP's "device cookie" scheme). Entries expire
    ``trust_for`` seconds after they were last renewed; memory is bounded by ``max_keys``,
    the least recently renewed entry going first. Keys are whatever the caller uses; the
    relay passes digests, never raw addresses or tokens.
    """

    def __init__(self, trust_for: float, max_keys: int = 100_000) -> None:
        if not (math.isfinite(trust_for) and trust_for > 0):
            raise ValueError("trust_for must be a positive number of seconds")
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.trust_for = trust_for
        self.max_keys = max_keys
        self._until: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._until)

    def renew(self, key: str, now: float) -> float:
        """Trust ``key`` until ``now + trust_for``; returns that time."""
        until = now + self.trust_for
        self.restore(key, until)
        return until

    def restore(self, key: str, until: float) -> None:
        """Trust ``key`` until ``until`` (taking back a saved entry, or renewing)."""
        self._until[key] = until
        self._until.move_to_end(key)
        if len(self._until) > self.max_keys:
            self._until.popitem(last=False)

    def trusted(self, key: str, now: float) -> bool:
        until = self._until.get(key)
        if until is None:
            return False
        if until <= now:
            del self._until[key]
            return False
        return True

    def revoke(self, key: str) -> bool:
        return self._until.pop(key, None) is not None

    def prune(self, now: float) -> int:
        """Drop entries that expired by ``now``; returns how many (housekeeping)."""
        gone = [key for key, until in self._until.items() if until <= now]
        for key in gone:
            del self._until[key]
        return len(gone)


# --------------------------------------------------------------------------------------------
# Concurrent connections per key


@dataclass(frozen=True, slots=True)
class ConnectionLimiterStatistics:
    """Counters for the admin view and logs."""

    keys: int
    connections: int
    max_per_key: int
    refused: int
    unbalanced_releases: int


class ConnectionLimiter:
    """Caps simultaneous connections per key (usually an :func:`address_key`).

    ``try_acquire`` when a connection is accepted, ``release`` in a ``finally`` when it ends.
    Keys are dropped at zero so idle addresses cost no memory. A release without an acquire is
    a caller bug; it is counted in :meth:`statistics` rather than raised, because it would
    typically surface in cleanup code where an exception would mask the original error, and it
    never drives a count below zero.
    """

    def __init__(self, max_per_key: int) -> None:
        if max_per_key < 1:
            raise ValueError("max_per_key must be at least 1")
        self.max_per_key = max_per_key
        self._counts: dict[str, int] = {}
        self._refused = 0
        self._unbalanced = 0

    def try_acquire(self, key: str) -> bool:
        """Take a slot for ``key``; False (and nothing taken) if it already has ``max_per_key``."""
        count = self._counts.get(key, 0)
        if count >= self.max_per_key:
            self._refused += 1
            return False
        self._counts[key] = count + 1
        return True

    def release(self, key: str) -> None:
        """Give back a slot taken by :meth:`try_acquire`."""
        count = self._counts.get(key, 0)
        if count <= 0:
            self._unbalanced += 1
            return
        if count == 1:
            del self._counts[key]
        else:
            self._counts[key] = count - 1

    def count(self, key: str) -> int:
        """How many slots ``key`` holds now."""
        return self._counts.get(key, 0)

    def __len__(self) -> int:
        """Number of keys holding at least one slot."""
        return len(self._counts)

    def statistics(self) -> ConnectionLimiterStatistics:
        """Current counters."""
        return ConnectionLimiterStatistics(
            keys=len(self._counts),
            connections=sum(self._counts.values()),
            max_per_key=self.max_per_key,
            refused=self._refused,
            unbalanced_releases=self._unbalanced,
        )


# --------------------------------------------------------------------------------------------
# Message rates


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up: a per-connection message limit.

    One bucket per connection and message class (join attempts, control messages): cheap,
    allows short bursts that honest clients produce, and bounds the sustained rate a hostile
    client can make the relay work at. The bucket starts full. If ``now`` goes backwards the
    bucket simply does not refill (monotonic clocks should not, but a bucket must not mint
    tokens out of a clock glitch).
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    # Refill arithmetic in floats can land a hair below a whole token (0.1 s * 10/s); this
    # tolerance keeps "exactly enough" from being refused.
    _EPSILON = 1e-9

    def __init__(self, rate: float, burst: float) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number, got {rate!r}")
        if not (math.isfinite(burst) and burst >= 1):
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is None:
            self._last = now
            return
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._last = now

    def take(self, now: float, n: float = 1) -> bool:
        """Spend ``n`` tokens at ``now`` if there are enough; otherwise spend none, return False."""
        if not n > 0:
            raise ValueError(f"n must be positive, got {n!r}")
        self._refill(now)
        if self._tokens + self._EPSILON >= n:
            self._tokens = max(0.0, self._tokens - n)
            return True
        return False

    def wait_time(self, now: float, n: float = 1) -> float:
        """Seconds from ``now`` until :meth:`take` of ``n`` would succeed (``inf`` if never)."""
        if not n > 0:
            raise ValueError(f"n must be positive, got {n!r}")
        if n > self.burst:
            return math.inf
        self._refill(now)
        missing = n - self._tokens - self._EPSILON
        return 0.0 if missing <= 0 else missing / self.rate

    @property
    def tokens(self) -> float:
        """Tokens available at the last ``take``/``wait_time`` (not refilled to any ``now``)."""
        return self._tokens
