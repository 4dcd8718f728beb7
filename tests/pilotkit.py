"""Driving Textual apps from sync tests: run an asyncio scenario, wait for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from textual.pilot import Pilot

WAIT = 10.0


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Textual wants asyncio; the test runner is trio's, so each scenario gets its own loop."""
    asyncio.run(scenario())


async def until(
    pilot: Pilot[Any], check: Callable[[], bool], what: str, timeout: float = WAIT
) -> None:
    """Let the app run until ``check()`` holds; fail saying ``what`` and the screen shown."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}; screen is {pilot.app.screen}")
        await pilot.pause(0.05)
