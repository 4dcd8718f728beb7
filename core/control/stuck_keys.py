"""Let go of what a stalled controller holds down, without waking up when nothing is held.

A key held through XTEST autorepeats on the presenter's X server, so a controller whose link
stalls between KEY_DOWN and KEY_UP would keep typing on someone else's machine
(:meth:`~core.control.injector.Injector.release_if_idle` explains). The check runs every
:data:`CHECK_EVERY` seconds, but only while the controller holds a key or button: a loop that
woke twice a second for the whole session cost the presenter more CPU at rest than watching the
screen did (a wake-up of the trio loop is not cheap: bench/README.md, "Measurements behind design
choices").
"""

from __future__ import annotations

import trio

from core.control.injector import Injector

#: How often held keys are checked while something is held.
CHECK_EVERY = 0.5
#: A controller silent this long while holding something is taken to have stalled.
MAX_IDLE = 3.0


class StuckKeyWatch:
    """Run :meth:`run` in a nursery; call :meth:`poke` after each input handed to the
    injector (from the trio thread)."""

    def __init__(self, injector: Injector) -> None:
        self._injector = injector
        self._holding = trio.Event()

    def poke(self) -> None:
        """Something was injected: start watching if a key or button is now held."""
        if self._injector.holding:
            self._holding.set()

    async def run(self) -> None:
        while True:
            await self._holding.wait()
            while self._injector.holding:
                await trio.sleep(CHECK_EVERY)
                self._injector.release_if_idle(MAX_IDLE)
            self._holding = trio.Event()
