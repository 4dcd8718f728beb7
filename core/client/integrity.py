"""What every member does so that a relay withholding content is noticed (docs/design.md §3.3).

Sans-IO glue between a session and the small state machines that each watch one thing:
:class:`~core.client.stream_watch.StreamWatch` (the presenter's stream),
:class:`~core.client.chat_ledger.ChatLedger` (our chat lines and their acks),
:class:`~core.client.chat_gaps.ChatGaps` (others' chat lines) and
:class:`~core.client.refusals.RefusalReporter` (tampered or replayed messages). The session
feeds it what it sends and opens and calls :meth:`Integrity.tick` a few times a second; it
gets back events for its program and small sealed messages to send (heartbeats, acks).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.client.chat_gaps import ChatGaps
from core.client.chat_ledger import ChatLedger
from core.client.events import SessionEvent, StreamRestored, StreamWithheld
from core.client.refusals import RefusalReporter
from core.client.stream_watch import HEARTBEAT_INTERVAL, StreamState, StreamWatch
from core.protocol.content import (
    EVERYONE,
    Chat,
    ChatAck,
    ContentHeader,
    ContentMessage,
    FrameUpdate,
    Heartbeat,
    RefreshReason,
    RefreshRequest,
)
from core.protocol.messages import Roster

#: While updates are withheld, ask the presenter for a keyframe this often: what was withheld
#: may have been a keyframe (one sealed under an epoch whose re-key the relay held back, say),
#: and a still screen sends nothing else that would show the gap.
REFRESH_WHILE_WITHHELD = 2.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message the session should seal and send."""

    message: ContentMessage
    recipient: int = EVERYONE


@dataclass(slots=True)
class Reaction:
    """What a received message or a tick calls for."""

    events: list[SessionEvent]
    send: list[Outgoing]
    #: The message was ours to handle (a heartbeat or an ack), not the program's.
    consumed: bool = False


class Integrity:
    """One member's heartbeats, chat numbering, gap and refusal reports."""

    def __init__(self, me: int) -> None:
        self._me = me
        self._ledger = ChatLedger()
        self._gaps = ChatGaps()
        self._refusals = RefusalReporter()
        self._members: frozenset[int] = frozenset()
        self._presenter: int | None = None
        self._presenting_me = False
        self._watch: StreamWatch | None = None
        self._withheld = False
        self._frame_seq = 0
        self._next_beat = 0.0
        #: Members changed: say where our chat stands once, so newcomers know what they missed.
        self._beat_owed = False
        self._state: StreamState | None = None
        self._next_refresh = 0.0

    @property
    def stream_state(self) -> StreamState | None:
        """The last verdict on the presenter's stream (None when we present or nobody does)."""
        return self._state

    @property
    def last_frame_seq(self) -> int:
        """The ``frame_seq`` of the last update we sealed (0: none)."""
        return self._frame_seq

    @property
    def last_chat_seq(self) -> int:
        """The number of our last chat line to everyone (0: none)."""
        return self._ledger.last_seq

    # -- what we send -------------------------------------------------------------------------

    def outgoing_chat(self, chat: Chat, recipient: int, now: float) -> Chat:
        """``chat`` numbered, if it goes to everyone (lines to one member are not)."""
        if recipient != EVERYONE:
            return chat
        others = self._members - {self._me}
        return replace(chat, seq=self._ledger.stamp(others, now))

    def frame_sent(self, frame_seq: int) -> None:
        """Called once the update is sealed for the wire (a heartbeat then counts it)."""
        self._frame_seq = frame_seq

    # -- what we receive ----------------------------------------------------------------------

    def on_roster(self, roster: Roster, now: float) -> list[SessionEvent]:
        present = frozenset(entry.peer_id for entry in roster.members)
        for gone in self._members - present:
            self._gaps.forget(gone)
        self._beat_owed |= present != self._members
        self._members = present
        events: list[SessionEvent] = list(self._ledger.on_members(present))
        self._presenting_me = roster.presenter == self._me and not roster.paused
        if roster.presenter != self._presenter:
            if self._withheld and self._presenter is not None:
                events.append(StreamRestored(self._presenter))
            self._presenter = roster.presenter
            self._withheld = False
            self._state = None
            watched = roster.presenter not in (None, self._me)
            self._watch = StreamWatch(now) if watched else None
        return events

    def on_content(self, header: ContentHeader, message: ContentMessage, now: float) -> Reaction:
        sender = header.sender
        reaction = Reaction([], [])
        match message:
            case Heartbeat(frame_seq=frame_seq, chat_seq=chat_seq, presenting=presenting):
                reaction.consumed = True
                self._gaps.on_announced(sender, chat_seq, now)
                if self._watch is not None and sender == self._presenter:
                    self._watch.on_heartbeat(frame_seq, presenting, now)
            case ChatAck(seq=seq):
                reaction.consumed = True
                if (delivered := self._ledger.on_ack(sender, seq)) is not None:
                    reaction.events.append(delivered)
            case Chat(seq=seq) if seq and header.recipient == EVERYONE:
                if (gap := self._gaps.on_line(sender, seq)) is not None:
                    reaction.events.append(gap)
                if sender in self._members:  # one who left would only get us a refusal
                    reaction.send.append(Outgoing(ChatAck(seq=seq), sender))
            case FrameUpdate(frame_seq=frame_seq) if sender == self._presenter:
                if self._watch is not None:
                    self._watch.on_frame(frame_seq, now)
        return reaction

    def on_refused(self, reason: str, sender: int, now: float) -> list[SessionEvent]:
        refused = self._refusals.refused(reason, sender, now)
        return [] if refused is None else [refused]

    # -- the clock ----------------------------------------------------------------------------

    def tick(self, now: float) -> Reaction:
        reaction = Reaction([], [])
        events = reaction.events
        events.extend(self._ledger.poll(now))
        events.extend(self._gaps.poll(now))
        events.extend(self._refusals.poll(now))
        if self._watch is not None and self._presenter is not None:
            verdict = self._watch.poll(now)
            self._state = verdict.state
            withheld = verdict.state is StreamState.WITHHELD
            if withheld and not self._withheld:
                events.append(StreamWithheld(self._presenter, verdict.reason, verdict.seconds))
            elif self._withheld and not withheld and verdict.state is not StreamState.WAITING:
                events.append(StreamRestored(self._presenter))
            self._withheld = withheld
            if withheld and now >= self._next_refresh:
                self._next_refresh = now + REFRESH_WHILE_WITHHELD
                ask = RefreshRequest(reason=RefreshReason.GAP)
                reaction.send.append(Outgoing(ask, self._presenter))
        due = self._presenter == self._me or self._ledger.last_seq or self._beat_owed
        if now >= self._next_beat and due:
            self._next_beat = now + HEARTBEAT_INTERVAL
            self._beat_owed = False
            beat = Heartbeat(
                frame_seq=self._frame_seq,
                chat_seq=self._ledger.last_seq,
                presenting=self._presenting_me and self._frame_seq > 0,
            )
            reaction.send.append(Outgoing(beat))
        return reaction
