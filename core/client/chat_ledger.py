"""Our own chat lines to everyone: their sequence numbers and who confirmed them.

Sans-IO. The session stamps each line to everyone with the next ``seq`` (inside the sealed
plaintext, so the relay can neither forge nor renumber it) and records who was a member then.
Each receiver answers with a sealed ``ChatAck``. When all of them did, the line is delivered
(the "everyone got it" mark); when some have not after :data:`ACK_TIMEOUT`, the sender is told
who, once. A member who leaves is no longer waited for. History stays in memory and is bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from core.client.events import ChatDelivered, ChatUndelivered

#: How long receivers have to confirm a line before the sender is told it was not delivered.
ACK_TIMEOUT = 3.0
#: Lines remembered for late acknowledgements; older ones are forgotten.
MAX_REMEMBERED = 256


class _Line:
    __slots__ = ("deadline", "reported", "waiting")

    def __init__(self, waiting: set[int], deadline: float) -> None:
        self.waiting = waiting
        self.deadline = deadline
        self.reported = False


class ChatLedger:
    """Sequence numbers and delivery of one member's chat lines to everyone."""

    __slots__ = ("_lines", "last_seq")

    def __init__(self) -> None:
        self.last_seq = 0
        self._lines: OrderedDict[int, _Line] = OrderedDict()

    def stamp(self, recipients: Iterable[int], now: float) -> int:
        """The next line's ``seq``, awaited from ``recipients`` (the other members now)."""
        self.last_seq += 1
        self._lines[self.last_seq] = _Line(set(recipients), now + ACK_TIMEOUT)
        while len(self._lines) > MAX_REMEMBERED:
            self._lines.popitem(last=False)
        return self.last_seq

    def on_ack(self, peer_id: int, seq: int) -> ChatDelivered | None:
        line = self._lines.get(seq)
        if line is None or peer_id not in line.waiting:
            return None
        line.waiting.discard(peer_id)
        return self._settle(seq, line)

    def on_members(self, present: Iterable[int]) -> list[ChatDelivered]:
        """Members not in ``present`` left: stop waiting for them."""
        here = set(present)
        delivered = []
        for seq, line in list(self._lines.items()):
            if line.waiting and not line.waiting <= here:
                line.waiting &= here
                if (done := self._settle(seq, line)) is not None:
                    delivered.append(done)
        return delivered

    def poll(self, now: float) -> list[ChatUndelivered]:
        """Lines whose ack timeout just ran out with members still missing (each said once)."""
        late = []
        for seq, line in self._lines.items():
            if line.waiting and not line.reported and now >= line.deadline:
                line.reported = True
                late.append(ChatUndelivered(seq, tuple(sorted(line.waiting))))
        return late

    def _settle(self, seq: int, line: _Line) -> ChatDelivered | None:
        if line.waiting:
            return None
        del self._lines[seq]
        return ChatDelivered(seq)
