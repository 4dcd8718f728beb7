"""What the hostile-relay tests share: the hooked relay (:mod:`bench.hostile`), a recorder of
every event a session emits, and a presenter at the protocol level (docs/design.md §3.3)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import trio

from core.client import SessionBase
from core.codec import Encoder
from core.protocol.content import FrameUpdate

E = TypeVar("E")


@dataclass
class EventLog:
    """Every event of one session, with its trio arrival time, recorded as it arrives (so a
    test sees transient states without polling for them)."""

    session: SessionBase
    events: list[tuple[float, object]] = field(default_factory=list)
    _changed: trio.Event = field(default_factory=trio.Event)

    async def run(self) -> None:
        async for event in self.session.events:
            self.events.append((trio.current_time(), event))
            self._changed.set()
            self._changed = trio.Event()

    def of(self, kind: type[E], after: float = 0.0) -> list[tuple[float, E]]:
        return [(t, e) for t, e in self.events if isinstance(e, kind) and t >= after]

    async def wait_for(
        self,
        kind: type[E],
        where: Callable[[E], bool] = lambda _: True,
        *,
        after: float = 0.0,
        timeout: float = 20.0,
    ) -> tuple[float, E]:
        """The first ``kind`` event (arrived at or after ``after``) matching ``where``."""
        with trio.fail_after(timeout):
            while True:
                for when, event in self.of(kind, after):
                    if where(event):
                        return when, event
                await self._changed.wait()


async def stream_updates(presenter: SessionBase, stop: trio.Event, first: int = 1) -> None:
    """The presenter's side at the protocol level: a 16×16 picture with one row lit, moving ten
    times a second, encoded by the real codec, until ``stop``."""
    encoder = Encoder(16, 16)
    pixels = np.zeros((16, 16, 3), np.uint8)
    seq = first
    while not stop.is_set():
        pixels[:] = 0
        pixels[seq % 16] = 255
        encoded = encoder.encode(pixels, keyframe=seq == first)
        if encoded is not None:
            update = FrameUpdate(
                frame_seq=seq,
                keyframe=encoded.keyframe,
                width=16,
                height=16,
                captured_at_us=time.time_ns() // 1000,
                tiles=encoded.data,
            )
            await presenter.send_content(update)
            seq += 1
        await trio.sleep(0.1)
