"""A hostile relay: the real relay, with a hook on what it routes (docs/design.md §3.3).

:class:`Hostile` wraps one running relay's switchboard: every sealed message and every pair
message passes through rules first, which may pass it on, drop it, alter it or repeat it,
exactly what a relay operator who changed the software could do. Everything else (TLS,
admission, rosters, queues) is the relay as it ships. The tests (``tests/hostilekit.py``) and
``bench.withheld`` share it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from core.protocol.messages import PairSealed, Sealed
from relay.peer import Peer
from relay.server import RelayInfo

M = TypeVar("M")

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
