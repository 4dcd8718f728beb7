"""Content sent from a worker thread (the presenter's) while trio tasks send on the same
connection: every message arrives, each source's in order, and none is dropped by the member
for a counter out of order (sealing and writing happen under one lock). On framed TLS the
thread writes to the socket itself; over WebSocket it goes through trio."""

from __future__ import annotations

import pytest
import trio
from relaykit import RunningRelay
from sessionkit import live_session, next_event

from core.client.events import ContentReceived
from core.client.transport import Transport
from core.protocol.content import Chat

SESSION_PASSWORD = "tangerine-7"
THREAD_MESSAGES = 240
TASKS = 3
PER_TASK = 80
FILL = "x" * 3900  # ~4 KB a message: both sides fill the socket and have to wait


@pytest.mark.parametrize("transport", ["tls", "wss"])
async def test_a_thread_and_trio_tasks_send_at_once_and_nothing_is_lost(
    relay: RunningRelay, transport: Transport
) -> None:
    async with live_session(relay, SESSION_PASSWORD, organizer_transport=transport) as (
        org,
        member,
    ):
        received: list[str] = []
        outlet = org.content_outlet()
        # Framed TLS: the thread writes to the socket itself; WebSocket: through trio.
        assert (org._channel._direct is not None) == (transport == "tls")
        expected = THREAD_MESSAGES + TASKS * PER_TASK

        async def receive() -> None:
            async for event in member.events:
                if isinstance(event, ContentReceived) and isinstance(event.message, Chat):
                    received.append(event.message.text)
                    if len(received) == expected:
                        return

        def send_from_thread() -> None:
            for n in range(THREAD_MESSAGES):
                assert outlet.send(Chat(text=f"thread:{n:03d}:{FILL}"))

        async def send(task: int) -> None:
            for n in range(PER_TASK):
                await org.send_content(Chat(text=f"{task:02d}:{n:03d}:{FILL}"))

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for task in range(TASKS):
                    nursery.start_soon(send, task)
                await trio.to_thread.run_sync(send_from_thread)
        with trio.move_on_after(20):
            await receive()

        dropped = {k: v for k, v in member.opener_statistics().items() if k != "opened"}
        assert not any(dropped.values()), dropped
        assert len(received) == expected

    by_source: dict[str, list[int]] = {}
    for text in received:
        source, number, fill = text.split(":")
        assert fill == FILL
        by_source.setdefault(source, []).append(int(number))
    assert by_source.pop("thread") == list(range(THREAD_MESSAGES))
    assert by_source == {f"{task:02d}": list(range(PER_TASK)) for task in range(TASKS)}


@pytest.mark.parametrize("transport", ["tls", "wss"])
async def test_a_withheld_message_is_not_sent(relay: RunningRelay, transport: Transport) -> None:
    async with live_session(relay, SESSION_PASSWORD, organizer_transport=transport) as (
        org,
        member,
    ):
        outlet = org.content_outlet()

        def send_from_thread() -> tuple[bool, bool]:
            hidden = outlet.send(Chat(text="hidden"), lambda: True)
            shown = outlet.send(Chat(text="shown"), lambda: False)
            return hidden, shown

        assert await trio.to_thread.run_sync(send_from_thread) == (False, True)
        event = await next_event(member, ContentReceived)
        assert event.message == Chat(text="shown")  # the first thing that arrived
