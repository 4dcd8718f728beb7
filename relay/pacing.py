"""When the relay answers a joiner, so that timing does not tell a live session from an unknown ID.

A joiner meets the session's leader twice: its JOIN comes back as a Challenge (or a refusal of the
knock), its Confirm as a verdict. For a live session each answer takes one round trip to the
organizer's client; for an unknown ID the relay plays the leader itself (:mod:`core.crypto.decoy`)
and could answer at once. A prober who times both tells them apart, so the relay schedules every
such answer the same way (sans-IO: this module only computes *when*; the server sleeps):

* :class:`RoundTripSampler` keeps a bounded window of the relay's own recent real leader round
  trips for one phase (Join → Challenge, Confirm → verdict), seeded with typical Internet round
  trips until enough real ones arrived, and draws from it.
* A live session's answer is held until ``start + draw`` if the leader was faster than that: it
  goes out at ``max(R, T)`` with R the real round trip and T one draw. A decoy's goes out at
  ``start + max(T₁, T₂)``, two draws. When R comes from the same distribution as the window
  (which is made of such Rs), ``max(R, T)`` and ``max(T₁, T₂)`` have the same distribution: both
  are the larger of two independent draws from it. The padding also hides organizers that are
  unusually *fast* (on the relay's own network), and costs a legitimate joiner at most one
  typical round trip per phase.

What stays observable (a session whose organizer is much slower than the relay's usual ones,
given many probes) is written down in the design document; the per-session join limits bound how
many probes anyone gets.
"""

from __future__ import annotations

import enum
import math
import secrets
from collections import deque
from collections.abc import Callable, Sequence

__all__ = [
    "DEFAULT_ROUND_TRIPS",
    "JoinPacer",
    "Phase",
    "RoundTripSampler",
    "TimerLateness",
]

#: Seconds; typical round trips from a relay to an organizer's client across the Internet,
#: used until the relay has seen enough real ones.
DEFAULT_ROUND_TRIPS: tuple[float, ...] = (0.025, 0.035, 0.045, 0.06, 0.075, 0.09, 0.11, 0.14)


class Phase(enum.Enum):
    """The two leader round trips of an admission."""

    #: Join → the leader's Challenge (or its refusal of a malformed knock).
    CHALLENGE = "challenge"
    #: Confirm → the leader's verdict (wrong password, admitted, locked).
    VERDICT = "verdict"


class RoundTripSampler:
    """A bounded window of recent real round trips, and draws from it.

    Until ``min_real`` real samples arrived, draws come from the seeds and the real samples
    together; after that from the real ones only (the newest ``window`` of them). A sample
    above ``max_sample`` is not a round trip but a person (approving a knock) or a stalled
    client, and is ignored, as is anything negative or not finite.
    """

    __slots__ = ("_choose", "_max_sample", "_min_real", "_real", "_seeds")

    def __init__(
        self,
        seeds: Sequence[float] = DEFAULT_ROUND_TRIPS,
        *,
        window: int = 64,
        min_real: int = 8,
        max_sample: float = 2.0,
        choose: Callable[[Sequence[float]], float] = secrets.choice,
    ) -> None:
        if not seeds or any(not (math.isfinite(s) and s >= 0) for s in seeds):
            raise ValueError("seeds must be a non-empty list of non-negative seconds")
        if window < 1 or not 1 <= min_real <= window:
            raise ValueError("need window >= 1 and 1 <= min_real <= window")
        self._seeds = tuple(seeds)
        self._real: deque[float] = deque(maxlen=window)
        self._min_real = min_real
        self._max_sample = max_sample
        self._choose = choose

    @property
    def real_samples(self) -> int:
        """How many real samples the window holds."""
        return len(self._real)

    def window(self) -> tuple[float, ...]:
        """The real samples held, oldest first (for benchmarks; they are timings, not secrets)."""
        return tuple(self._real)

    def add(self, seconds: float) -> bool:
        """Remember one real round trip; False if it was out of range and ignored."""
        if not (math.isfinite(seconds) and 0 <= seconds <= self._max_sample):
            return False
        self._real.append(seconds)
        return True

    def draw(self) -> float:
        """One round trip drawn from the window (seconds)."""
        if len(self._real) >= self._min_real:
            return self._choose(tuple(self._real))
        return self._choose(self._seeds + tuple(self._real))


class JoinPacer:
    """The relay's schedule for answers on the join path, one sampler per phase."""

    __slots__ = ("_samplers",)

    def __init__(self, make_sampler: Callable[[], RoundTripSampler] = RoundTripSampler) -> None:
        self._samplers = {phase: make_sampler() for phase in Phase}

    def sampler(self, phase: Phase) -> RoundTripSampler:
        return self._samplers[phase]

    def record(self, phase: Phase, seconds: float) -> None:
        """A real leader answered ``seconds`` after the relay forwarded the joiner's message."""
        self._samplers[phase].add(seconds)

    def live_answer_at(self, phase: Phase, started: float) -> float:
        """The earliest time a live session's answer may go out: ``started + T``."""
        return started + self._samplers[phase].draw()

    def decoy_answer_at(self, phase: Phase, started: float) -> float:
        """When the decoy answers: ``started + max(T₁, T₂)`` (see the module docstring)."""
        sampler = self._samplers[phase]
        return started + max(sampler.draw(), sampler.draw())


class TimerLateness:
    """How late the event loop's timers fire, so a paced answer can be asked for that early.

    A live session's answer that arrives after its padding goes out as soon as it is read; a
    decoy's always waits on a timer, and a timer fires late: epoll rounds its timeout up to
    the millisecond, and a sleeping process takes a while to run again on a busy machine.
    Measured on loopback that was ~1 ms, a fifth of a ~5 ms Confirm → answer, enough to tell
    the decoy by. So the server sleeps until ``at - advance()``, the median of recent
    lateness (measured against the time it asked for, so the correction cannot run away),
    capped at ``max_advance``.
    """

    __slots__ = ("_late", "_max_advance")

    def __init__(self, *, window: int = 32, max_advance: float = 0.005) -> None:
        self._late: deque[float] = deque(maxlen=window)
        self._max_advance = max_advance

    def record(self, asked: float, woke: float) -> None:
        """A timer asked to fire at ``asked`` ran at ``woke``."""
        late = woke - asked
        if math.isfinite(late):
            self._late.append(min(max(late, 0.0), self._max_advance))

    def advance(self) -> float:
        """How much earlier than wanted to ask for the next timer (seconds)."""
        if not self._late:
            return 0.0
        ordered = sorted(self._late)
        return ordered[len(ordered) // 2]
