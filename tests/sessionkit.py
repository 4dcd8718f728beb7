"""Helpers for driving real clients against the test relay: connect, wait for events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import trio
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay

from core.client import (
    MemberSession,
    OrganizerSession,
    RelayClient,
    SessionBase,
    open_relay_client,
)
from core.client.events import ContentReceived, SessionEvent
from core.client.transport import Transport
from core.protocol.content import Chat

E = TypeVar("E")
TIMEOUT = 10.0


@asynccontextmanager
async def connect(
    port: int,
    fingerprint: str,
    *,
    local_address: str | None = None,
    transport: Transport = "auto",
) -> AsyncIterator[RelayClient]:
    async with open_relay_client(
        "127.0.0.1",
        port,
        pinned=fingerprint,
        local_address=local_address,
        transport=transport,
        proxy="",
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


async def round_trip(one: SessionBase, other: SessionBase, tag: str) -> None:
    """Sealed chat both ways between two members (addressed to each other only)."""
    there, back = Chat(text=f"{tag}: from {one.name}"), Chat(text=f"{tag}: from {other.name}")
    await one.send_content(there, recipient=other.peer_id)
    await next_event(other, ContentReceived, lambda e: e.message == there, timeout=5)
    await other.send_content(back, recipient=one.peer_id)
    await next_event(one, ContentReceived, lambda e: e.message == back, timeout=5)


@asynccontextmanager
async def live_session(
    relay: RunningRelay,
    session_password: str,
    *,
    member_address: str | None = None,
    organizer_transport: Transport = "auto",
) -> AsyncIterator[tuple[OrganizerSession, MemberSession]]:
    """Olga's session (connected over ``organizer_transport``) and Ana in it (connecting from
    ``member_address``), already chatting, for the length of the block."""
    async with (
        connect(relay.port, relay.fingerprint, transport=organizer_transport) as oc,
        connect(relay.port, relay.fingerprint, local_address=member_address) as mc,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=session_password)
        member = await mc.join(org.session_id, name="Ana", password=session_password)
        await round_trip(org, member, "before")
        yield org, member
