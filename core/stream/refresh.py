"""Which keyframe requests the presenter answers, and when a gap report should slow it down.

Why this exists: a keyframe goes to every viewer (each update builds on the one before it, for
all viewers at once; docs/design.md §6.2), so one member's request costs all of them: the
encode on the presenter's thread and the bytes on every link. And every gap report used to
halve the presenter's frame rate for everyone. One viewer behind a slow link, or one member
asking for keyframes four times a second, held the other viewers to a fraction of their update
rate (bench/README.md, "bench.slow_member").

Three rules, arithmetic over an injectable clock (as :class:`~core.control.ratelimit.TokenBucket`,
whose buckets these are), so tests drive time instead of sleeping:

* **Budget and coalescing.** Each member's requests are granted from its own bucket
  (:data:`MEMBER_REFRESH_RATE` a second, :data:`MEMBER_REFRESH_BURST` at once). A request over
  budget is not lost: the member has one *pending* request, granted as soon as its bucket allows
  (:meth:`RefreshDesk.grant_due`); more requests meanwhile merge into it. One keyframe answers
  every request granted before it (the presenter counts them).
* **Abuse.** A well-behaved client asks at most once per :data:`REFRESH_INTERVAL`
  (``core/stream/viewer.py`` and ``tui/viewer/picture.py`` keep to it). Requests faster than that
  (a second bucket, with slack for requests bunched up in transit) are dropped and counted, and
  the organizer is told, at most once per :data:`REPORT_INTERVAL` for each member.
* **Back-off.** A gap report means that member lost updates. Only when more than half of the
  audience reported one within the back-off window is the loss the presenter's or the relay's
  rather than one member's link, and only then should the presenter slow down. A member
  rate-limited in the last :data:`REPORT_INTERVAL` does not count.

Requests of the presenter's own (``member=None``: a new epoch, its person's "refresh") are always
granted and never counted against anyone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from core.control.ratelimit import TokenBucket
from core.protocol.content import RefreshReason

#: A client asks for a keyframe at most once per this many seconds: its own rule, kept by
#: ``REFRESH_INTERVAL`` in core/stream/viewer.py and tui/viewer/picture.py (not imported from
#: there: the presenter loads no decoder; a test checks the three agree).
REFRESH_INTERVAL = 0.5
#: Keyframes a second one member's requests may cause, in the long run...
MEMBER_REFRESH_RATE = 0.5
#: ...and at once (a join's request plus a gap right after it).
MEMBER_REFRESH_BURST = 2.0
#: Requests at once beyond the client's own pace before a member counts as abusive (requests
#: sent half a second apart can arrive together after a stall).
ABUSE_SLACK = 4.0
#: At most one report to the organizer per member this often.
REPORT_INTERVAL = 30.0
#: Members whose state is kept; beyond that the least recently heard-from is forgotten.
MAX_MEMBERS = 256


class Outcome(Enum):
    #: Answer with a keyframe now.
    GRANTED = "granted"
    #: Over the member's budget: answered once its bucket allows (see :meth:`RefreshDesk.due`).
    PENDING = "pending"
    #: Faster than any well-behaved client asks: dropped.
    LIMITED = "limited"


@dataclass(frozen=True, slots=True)
class LimitReport:
    """Tell the organizer: ``member`` asked too often; ``dropped`` requests of its were dropped
    since the last report."""

    member: int
    dropped: int


@dataclass(frozen=True, slots=True)
class RefreshAnswer:
    outcome: Outcome
    #: Slow the presenter down: most of the audience is losing updates.
    back_off: bool = False
    report: LimitReport | None = None


@dataclass(frozen=True, slots=True)
class RefreshStatistics:
    asked: int
    granted: int
    #: Requests that waited for their member's budget (granted later, or merged).
    deferred: int
    #: Requests dropped as abusive.
    limited: int
    #: Members with a request waiting for their budget right now.
    pending: int


class _Member:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.budget = TokenBucket(MEMBER_REFRESH_RATE, MEMBER_REFRESH_BURST, clock=clock)
        self.pace = TokenBucket(1 / REFRESH_INTERVAL, ABUSE_SLACK, clock=clock)
        self.pending = False
        self.pending_since = math.inf
        self.last_gap = -math.inf
        self.unreported = 0
        self.last_report = -math.inf
        self.last_limited = -math.inf


class RefreshDesk:
    """Decides on keyframe requests for one presenter. Not thread-safe: one caller (the trio
    side of :class:`~core.stream.presenter.ScreenPresenter`)."""

    def __init__(
        self, *, gap_window: float = 3.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._gap_window = gap_window
        self._members: dict[int, _Member] = {}
        self._asked = 0
        self._granted = 0
        self._deferred = 0
        self._limited = 0

    def ask(self, member: int | None, reason: RefreshReason, audience: int) -> RefreshAnswer:
        """A request from ``member`` (None: the presenter's own), with ``audience`` viewers."""
        self._asked += 1
        if member is None:
            self._granted += 1
            return RefreshAnswer(Outcome.GRANTED, back_off=reason is RefreshReason.GAP)
        state = self._member(member)
        now = self._clock()
        if not state.pace.try_take():
            self._limited += 1
            state.last_limited = now
            state.unreported += 1
            report = None
            if now - state.last_report >= REPORT_INTERVAL:
                report = LimitReport(member, state.unreported)
                state.last_report, state.unreported = now, 0
            return RefreshAnswer(Outcome.LIMITED, report=report)
        back_off = False
        if reason is RefreshReason.GAP:
            state.last_gap = now
            back_off = self._losing(now) * 2 > max(1, audience)
        if not state.pending and state.budget.try_take():
            self._granted += 1
            return RefreshAnswer(Outcome.GRANTED, back_off=back_off)
        self._deferred += 1
        if not state.pending:
            state.pending, state.pending_since = True, now
        return RefreshAnswer(Outcome.PENDING, back_off=back_off)

    def due(self) -> float | None:
        """Clock time at which the earliest pending request can be granted; None: none waits."""
        waits = [
            (1 - state.budget.tokens) / state.budget.rate
            for state in self._members.values()
            if state.pending
        ]
        return self._clock() + max(0.0, min(waits)) if waits else None

    def grant_due(self, answered_before: float = -math.inf) -> int:
        """Grant every pending request whose member's budget allows it now; how many.

        A request made before ``answered_before`` (clock time of the capture of the last
        keyframe sent, which answered it) is settled without a keyframe of its own."""
        granted = 0
        for state in self._members.values():
            if not state.pending:
                continue
            if state.pending_since <= answered_before:
                state.pending = False
            elif state.budget.try_take():
                state.pending = False
                granted += 1
        self._granted += granted
        return granted

    def forget(self, member: int) -> None:
        """``member`` left: its requests no longer count (a new member starts afresh)."""
        self._members.pop(member, None)

    def statistics(self) -> RefreshStatistics:
        return RefreshStatistics(
            asked=self._asked,
            granted=self._granted,
            deferred=self._deferred,
            limited=self._limited,
            pending=sum(state.pending for state in self._members.values()),
        )

    def _member(self, member: int) -> _Member:
        state = self._members.pop(member, None)
        if state is None:
            state = _Member(self._clock)
            if len(self._members) >= MAX_MEMBERS:
                del self._members[next(iter(self._members))]
        self._members[member] = state  # most recently heard-from last
        return state

    def _losing(self, now: float) -> int:
        """Members that reported a gap within the back-off window, not counting those rate-
        limited within the last REPORT_INTERVAL (their reports are not to be trusted)."""
        return sum(
            now - s.last_gap <= self._gap_window and now - s.last_limited > REPORT_INTERVAL
            for s in self._members.values()
        )
