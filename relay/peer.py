"""One connected client as the relay sees it: its protocol state and its bounded send queue.

Routing never waits on a member. Everything sent to a peer goes into its queue without blocking
(``send``/``send_frame``); a writer task per connection drains the queue to the socket.
Droppable updates (frames, cursor) may fill only half of the queue's byte and message budget,
and are not queued behind a message that has waited longer than ``droppable_age``; beyond that
they are dropped and counted, so the member later gets a ``Dropped`` notice and asks for a
refresh. After a drop the member *skips*: droppable updates are dropped until its queue has
drained, so what it gets next is the newest state (the keyframe it asked for) at its own pace,
not a backlog of updates it can no longer use (each builds on the one it lost). The other half
of the budget is kept for what cannot be dropped (chat, roster, re-keys, consent), so a member
that is merely behind on the screen still gets those; anything else overflowing the whole
budget means the member cannot keep up with the session at all, and only *that* member is
disconnected. Other sessions and other members never slow down for one slow reader.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from core.errors import ErrorCode
from core.protocol import Message, RelayConnection, State

if TYPE_CHECKING:
    from relay.sessions import PendingJoin, Session


@dataclass(frozen=True, slots=True)
class CloseReason:
    code: ErrorCode
    message: str


class Peer:
    """A connection's relay-side state. Created by the server, mutated only from trio tasks."""

    def __init__(
        self,
        conn_id: int,
        address: str,
        address_key: str,
        *,
        max_frame: int,
        queue_bytes: int,
        queue_messages: int,
        droppable_age: float = math.inf,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.conn_id = conn_id
        self.address = address
        self.address_key = address_key
        self.conn = RelayConnection(max_frame=max_frame)
        #: What carries this peer's frames: "tls" (framed) or "wss" (WebSocket); for operators.
        self.transport = "tls"
        #: trio time of TCP accept, for the handshake latency metric.
        self.accepted_at = 0.0
        self.username: str | None = None
        #: The session this peer is a member of, and its id there.
        self.session: Session | None = None
        self.peer_id: int | None = None
        #: A join in progress (knocking, or talking to a decoy).
        self.pending: PendingJoin | None = None
        self.queue_bytes_limit = queue_bytes
        self.queue_messages_limit = queue_messages
        self.queued_bytes = 0
        self.queued_messages = 0
        self.droppable_age = droppable_age
        self._clock = clock
        #: When each queued message was queued, oldest first (the writer takes them in order).
        self._queued_at: deque[float] = deque()
        #: Dropping droppable updates until the queue has drained (after a drop).
        self.skipping = False
        self.dropped_unreported = 0
        self.dropped_total = 0
        #: Bytes the writer took off the queue but has not (fully) written: ``_close`` flushes
        #: them first if the connection ends before the write got its turn.
        self.unsent = b""
        self.close_reason: CloseReason | None = None
        self.cancel_scope = trio.CancelScope()
        self._send_channel, self.outbox = trio.open_memory_channel[bytes](math.inf)

    def __repr__(self) -> str:
        who = self.username or "anonymous"
        return f"<Peer #{self.conn_id} {who} from {self.address} peer_id={self.peer_id}>"

    # -- sending ---------------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Queue a control message (never dropped; overflow disconnects this peer).

        Never raises: a peer that already closed its side (its ``Close`` is being processed by
        its own reader task) simply gets nothing more; routing for others must go on.
        """
        if self.close_reason is not None or self.conn.state is State.CLOSED:
            return
        self._enqueue(self.conn.send(msg), droppable=False)

    def send_frame(self, frame: bytes, *, droppable: bool) -> bool:
        """Queue an already-encoded frame (fan-out encodes once for all recipients)."""
        if self.close_reason is not None or self.conn.state is State.CLOSED:
            return False
        return self._enqueue(frame, droppable=droppable)

    def _enqueue(self, frame: bytes, *, droppable: bool) -> bool:
        bytes_limit, messages_limit = self.queue_bytes_limit, self.queue_messages_limit
        if droppable:
            # Updates stop at half the budget: the rest is room for what cannot be dropped.
            bytes_limit, messages_limit = bytes_limit // 2, max(1, messages_limit // 2)
        over = (
            self.queued_bytes + len(frame) > bytes_limit
            or self.queued_messages + 1 > messages_limit
        )
        now = self._clock()
        if droppable and not over:
            stale = bool(self._queued_at) and now - self._queued_at[0] > self.droppable_age
            over = self.skipping or stale
        if over:
            if droppable:
                self.skipping = True
                self.dropped_unreported += 1
                self.dropped_total += 1
                return False
            self.disconnect(
                ErrorCode.SLOW_CONSUMER,
                "Your connection is too slow to keep up with the session; disconnected.",
            )
            return False
        self.queued_bytes += len(frame)
        self.queued_messages += 1
        self._queued_at.append(now)
        self._send_channel.send_nowait(frame)
        return True

    def took(self, frame: bytes) -> None:
        """The writer took ``frame`` off the queue."""
        self.queued_bytes -= len(frame)
        self.queued_messages -= 1
        if self._queued_at:
            self._queued_at.popleft()
        if not self.queued_messages:
            self.skipping = False  # drained: the next update may go out

    def disconnect(self, code: ErrorCode, message: str) -> None:
        """End this peer's connection (the server sends ``Close`` with the reason)."""
        if self.close_reason is None:
            self.close_reason = CloseReason(code, message)
        self.cancel_scope.cancel()

    def close_outbox(self) -> None:
        self._send_channel.close()
