"""Helpers for driving real clients against the test relay: connect, wait for events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import trio

from core.client import RelayClient, SessionBase, open_relay_client
from core.client.events import SessionEvent

E = TypeVar("E")
TIMEOUT = 10.0


@asynccontextmanager
async def connect(
    port: int, fingerprint: str, *, local_address: str | None = None
) -> AsyncIterator[RelayClient]:
    async with open_relay_client(
        "127.0.0.1", port, pinned=fingerprint, local_address=local_address
    ) as client:
        yield client


async def next_event(
    session: SessionBase,
    kind: type[E],
    where: Callable[[E], bool] = lambda _: True,
    *,
    timeout: float = TIMEOUT,
) -> E:
    """Skip events until one of ``kind`` matching ``where`` arrives (fail after ``timeout``)."""
    with trio.fail_after(timeout):
        async for event in session.events:
            if isinstance(event, kind) and where(event):
                return event
    raise AssertionError(f"session events ended before a {kind.__name__} arrived")


async def collect(session: SessionBase, seconds: float) -> list[SessionEvent]:
    """Every event that arrives within ``seconds``."""
    events: list[SessionEvent] = []
    with trio.move_on_after(seconds):
        async for event in session.events:
            events.append(event)
    return events
