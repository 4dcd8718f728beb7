"""A hostile relay for tests: the real relay, with a hook on what it routes (docs/design.md §3.3).

:class:`Hostile` wraps one running relay's switchboard: every sealed message and every pair
message passes through the test's own rules first, which may pass it on, drop it, alter it or
repeat it, exactly what a relay operator who changed the software could do. Everything else
(TLS, admission, rosters, queues) is the relay as it ships.
"""

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
from core.protocol.messages import PairSealed, Sealed
from relay.peer import Peer
from relay.server import RelayInfo

M = TypeVar("M")
E = TypeVar("E")

#: A rule returns the messages to route in place of the one given ([] drops it), or None to
#: leave it to the next rule.
SealedRule = Callable[[Sealed], list[Sealed] | None]
PairRule = Callable[[PairSealed], list[PairSealed] | None]


class Hostile:
    """Rules the relay applies to content before routing it; add and remove them mid-test."""

    def __init__(self, info: RelayInfo) -> None:
        """Hook ``info``'s relay (``relay.info`` of the in-process fixtures); call before the
        clients connect (or from the relay's own thread)."""
        self.sealed_rules: list[SealedRule] = []
        self.pair_rules: list[PairRule] = []
        #: How many messages the rules dropped (a test asserts the attack really happened).
        self.dropped = 0
        switchboard = info.relay.switchboard
        route, pair = switchboard.route, switchboard.pair

        def hostile_route(peer: Peer, msg: Sealed) -> None:
            for out in self._apply(self.sealed_rules, msg):
                route(peer, out)

        def hostile_pair(peer: Peer, msg: PairSealed) -> None:
            for out in self._apply(self.pair_rules, msg):
                pair(peer, out)

        switchboard.route = hostile_route  # type: ignore[method-assign]
        switchboard.pair = hostile_pair  # type: ignore[method-assign]

    def _apply(self, rules: list[Callable[[M], list[M] | None]], msg: M) -> list[M]:
        for rule in list(rules):
            out = rule(msg)
            if out is not None:
                self.dropped += not out
                return out
        return [msg]


def flip_bit(msg: Sealed) -> Sealed:
    """The same message with one bit of its ciphertext flipped."""
    data = bytearray(msg.ciphertext)
    data[len(data) // 2] ^= 0x10
    return Sealed(header=msg.header, ciphertext=bytes(data), signature=msg.signature)


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
