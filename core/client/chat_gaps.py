"""Chat lines of others that never reached us: gaps in their sequence numbers.

Sans-IO. Every sender numbers its lines to everyone 1, 2, ... inside the sealed plaintext, and
says in its heartbeat how far it got. A line numbered past the next one expected, or a
heartbeat announcing a line that is still missing after :data:`ANNOUNCE_GRACE` (a line and a
heartbeat may be sealed in either order by two tasks), means the relay withheld lines: each
missing range is reported once. Whatever a sender said before we first heard from it was
never owed to us (we joined later).
"""

from __future__ import annotations

from core.client.events import ChatGap

#: A heartbeat may be sealed just before the line it counts; give the line this long to come.
ANNOUNCE_GRACE = 1.5


class _Sender:
    __slots__ = ("announced", "announced_at", "reported", "seen")

    def __init__(self, baseline: int) -> None:
        #: Highest seq received (or forgiven as sent before we listened).
        self.seen = baseline
        #: Highest seq reported missing.
        self.reported = baseline
        self.announced = baseline
        self.announced_at = 0.0


class ChatGaps:
    """Per-sender expectations of the chat lines this member should receive."""

    __slots__ = ("_senders",)

    def __init__(self) -> None:
        self._senders: dict[int, _Sender] = {}

    def on_line(self, sender: int, seq: int) -> ChatGap | None:
        """A numbered line arrived; a gap if lines before it are missing (and not yet said)."""
        state = self._senders.get(sender)
        if state is None:
            self._senders[sender] = _Sender(seq)
            return None
        gap = None
        first = max(state.seen, state.reported) + 1
        if seq > first:
            gap = ChatGap(sender, first, seq - 1)
            state.reported = seq - 1
        state.seen = max(state.seen, seq)
        return gap

    def on_announced(self, sender: int, seq: int, now: float) -> None:
        """A heartbeat of ``sender`` says it sent lines up to ``seq``."""
        state = self._senders.get(sender)
        if state is None:
            self._senders[sender] = _Sender(seq)
            return
        if seq > state.announced:
            if state.announced <= max(state.seen, state.reported):
                state.announced_at = now  # a new debt starts now; an older one keeps its time
            state.announced = seq

    def forget(self, sender: int) -> None:
        """``sender`` left: its numbering means nothing any more."""
        self._senders.pop(sender, None)

    def poll(self, now: float) -> list[ChatGap]:
        gaps = []
        for sender, state in self._senders.items():
            settled = max(state.seen, state.reported)
            if state.announced > settled and now - state.announced_at >= ANNOUNCE_GRACE:
                gaps.append(ChatGap(sender, settled + 1, state.announced))
                state.reported = state.announced
        return gaps
