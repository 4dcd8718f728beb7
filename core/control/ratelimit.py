"""A token bucket: the per-second budget of input a controller may inject.

Why a budget at all: every injected event is real work on the presenter's X server and, more
to the point, a flood of synthetic input is an attack on the presenter's ability to take back
their own machine (a pointer that never stops moving, a key storm that buries the revoke
hotkey). A well-behaved viewer sends pointer motion at its frame rate plus the odd key, far
below the default of 200 events per second.

Why a bucket and not a fixed window: a burst (a fast drag, a paste) may use a whole second's
budget at once, but the long-run rate is still bounded, and nothing resets at a window edge.

The clock is injectable so tests drive time instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst`` (default: one second's worth)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(rate if burst is None else burst)
        if self.burst < 1:
            raise ValueError("burst must allow at least one token")
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._stamp
        self._stamp = now
        if elapsed > 0:  # a clock that steps back refills nothing rather than going negative
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)

    @property
    def tokens(self) -> float:
        """Tokens available now (refilled up to the present)."""
        self._refill()
        return self._tokens

    def try_take(self, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if available; otherwise take nothing and say no.

        A zero cost always succeeds (releases of held keys are free, see the injector).
        """
        if cost <= 0:
            return True
        self._refill()
        if cost > self._tokens:
            return False
        self._tokens -= cost
        return True
