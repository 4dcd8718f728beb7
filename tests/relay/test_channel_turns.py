"""Many tasks sending on one relay connection at once take turns: every message arrives whole
and each task's messages arrive in the order it sent them."""

from __future__ import annotations

import trio
from relaykit import RunningRelay
from sessionkit import live_session

from core.client.events import ContentReceived
from core.protocol.content import Chat

SESSION_PASSWORD = "tangerine-7"
TASKS = 12
PER_TASK = 40
FILL = "x" * 3900  # ~4 KB a message: the senders fill the socket and have to wait in turn


async def test_concurrent_senders_take_turns_and_every_message_arrives(
    relay: RunningRelay,
) -> None:
    async with live_session(relay, SESSION_PASSWORD) as (org, member):
        received: list[str] = []

        async def receive() -> None:
            async for event in member.events:
                if isinstance(event, ContentReceived) and isinstance(event.message, Chat):
                    received.append(event.message.text)
                    if len(received) == TASKS * PER_TASK:
                        return

        async def send(task: int) -> None:
            for n in range(PER_TASK):
                await org.send_content(Chat(text=f"{task:02d}:{n:03d}:{FILL}"))

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(receive)
                for task in range(TASKS):
                    nursery.start_soon(send, task)

    by_task: dict[str, list[int]] = {}
    for text in received:
        sender, number, fill = text.split(":")
        assert fill == FILL
        by_task.setdefault(sender, []).append(int(number))
    assert by_task == {f"{task:02d}": list(range(PER_TASK)) for task in range(TASKS)}
