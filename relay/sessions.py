"""The switchboard: live sessions, the join flow, content fan-out, actions and consent.

Everything here is synchronous and never blocks: it runs inside the reader task of whichever
connection sent the message, changes in-memory state and queues messages on peers (which never
wait, see :mod:`relay.peer`). Disk writes go to the :class:`~relay.recorder.Recorder`'s queue;
slow work (password hashing) happens in :mod:`relay.server` before a call lands here.

The relay enforces the session rules with the same pure table the clients use
(:func:`core.rules.decide`): the clients' own consent checks are the first wall, this is the
second. It routes sealed content by its clear header and never opens it.

Join flow (docs/design.md §4.3), relay side::

    Join ──▶ limits ──▶ session? ── yes ─▶ Knock to organizer ─▶ Challenge ─▶ Confirm ─▶ Admit
                           │                                                     └──▶ Reject
                           └─ no ──▶ decoy Challenge ─▶ Confirm ─▶ JOIN_REFUSED

An unknown session ID must be indistinguishable from a live one until the joiner has proved
the password, so everything a prober sees before that is drawn the same way for both:

* the leader key: the organizer's, or the decoy's derived from a relay secret and the ID (both
  the same on every probe of one ID);
* the peer id: random for every knock (:func:`draw_peer_id`), never a counter;
* when each answer goes out: :class:`~relay.pacing.JoinPacer` pads a live session's answers and
  delays the decoy's, both drawn from the relay's own recent real leader round trips;
* the answers themselves: a wrong password, a malformed knock and an unknown ID all end in the
  same ``JOIN_REFUSED`` sentence, and a locked session is only said to be locked (a knock only
  said to be declined) after the leader saw the right password.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Container
from dataclasses import dataclass, field, replace
from enum import Enum

from core.crypto.admission_common import ChallengeValues, KnockValues
from core.crypto.decoy import decoy_challenge
from core.crypto.errors import CryptoError
from core.errors import ErrorCode, ProtocolError
from core.guessing import guessing_alarm
from core.protocol.content import ContentType
from core.protocol.framing import encode_frame
from core.protocol.messages import (
    ActionOutcome,
    ActionRequest,
    ActionResult,
    Admit,
    Challenge,
    Confirm,
    ConsentAnswer,
    ConsentAsk,
    CreateSession,
    Join,
    Knock,
    KnockCancelled,
    MemberState,
    PairSealed,
    Reject,
    RejectReason,
    Roster,
    RosterEntry,
    Sealed,
    SessionCreated,
    SessionEnded,
)
from core.protocol.messages import Error as ErrorMessage
from core.rules import (
    Action,
    Allowed,
    Consent,
    NeedsConsent,
    Refused,
    SessionState,
    decide,
    new_session,
)
from relay.config import RelayConfig
from relay.events import (
    MEMBER_JOINED,
    MEMBER_LEFT,
    SESSION_CHANGED,
    SESSION_ENDED,
    SESSION_STARTED,
    Observer,
    RelayEvent,
    notify,
)
from relay.limit_store import LimitJournal
from relay.limits import FailureTracker, TrustList, Verdict, network_key
from relay.meter import NO_METER, Meter
from relay.pacing import JoinPacer, Phase
from relay.peer import Peer
from relay.recorder import Recorder
from relay.store import SecurityEventKind

#: The one sentence for both "no such session" and "wrong password".
JOIN_REFUSED_TEXT = "Wrong session ID or password."
#: Actions that travel as their own messages, not as ActionRequest.
_OWN_MESSAGE_ACTIONS = frozenset({Action.JOIN, Action.ADMIT, Action.REJECT, Action.LEAVE})
_REMOVED_BY_ORGANIZER = "The organizer removed you from the session."
_REMOVED_BY_OPERATOR = "The relay operator removed you from the session."
#: Peer ids are drawn from ``2 .. PEER_ID_LIMIT - 1`` (1 is the organizer, 0 means everyone).
#: Large enough that the few ids a live session must not hand out again (its members' past and
#: present) make no visible dent in the distribution; small enough to read in a member list.
PEER_ID_LIMIT = 1_000_000


def draw_peer_id(taken: Container[int]) -> int:
    """A peer id for one knock, uniformly random among those not in ``taken``.

    Live sessions and decoys draw the same way: sequential ids told a prober that a session
    existed (they counted up across probes) and how busy it was.
    """
    while True:
        candidate = 2 + secrets.randbelow(PEER_ID_LIMIT - 2)
        if candidate not in taken:
            return candidate


class Refusal(ProtocolError):
    """A request the relay turns down; the server answers it with ``Error``."""


class Stage(Enum):
    KNOCKED = "knocked"
    CHALLENGED = "challenged"
    CONFIRMED = "confirmed"


@dataclass(slots=True, eq=False)
class PendingJoin:
    """A joiner between ``Join`` and ``Admit``/``Reject``; ``session`` None means a decoy.

    ``phase_started`` is when the relay got the joiner's latest message (Join, then Confirm),
    from which the leader's round trip is measured; ``answer_not_before`` is the padded time
    before which a live session's answer to it is held (see :mod:`relay.pacing`).
    """

    peer: Peer
    session: Session | None
    session_id: str
    peer_id: int
    name: str
    stage: Stage
    started: float
    phase_started: float = 0.0
    answer_not_before: float = 0.0


@dataclass(slots=True, eq=False)
class PendingConsent:
    consent_id: int
    request_id: int
    actor: int
    action: Action
    target: int | None
    from_peer: int


@dataclass(slots=True, eq=False)
class Session:
    id: str
    token: int
    organizer: Peer
    state: SessionState
    names: dict[int, str]
    members: dict[int, Peer]
    pending: dict[int, PendingJoin] = field(default_factory=dict)
    consents: dict[int, PendingConsent] = field(default_factory=dict)
    #: Every id this session ever admitted: never handed out again (``has_presented`` and the
    #: members' certificates name them). Ids of knocks that failed go back to the pool.
    admitted_ids: set[int] = field(default_factory=lambda: {1})
    next_consent_id: int = 1
    bytes_relayed: int = 0
    messages_relayed: int = 0
    peak_members: int = 1
    total_members: int = 1
    #: Wall-clock time the session was created (UNIX seconds), for the admin view.
    started_at: float = 0.0

    def allocate_peer_id(self) -> int:
        taken = self.admitted_ids | self.members.keys() | self.pending.keys()
        return draw_peer_id(taken)

    def roster(self) -> Roster:
        s = self.state
        return Roster(
            session_id=self.id,
            members=tuple(
                RosterEntry(
                    peer_id=pid,
                    name=self.names[pid],
                    is_organizer=pid == s.organizer,
                    state=MemberState.CONNECTED,
                )
                # Join order (the organizer first): ids are random, so sorting them would
                # shuffle the member list on every change.
                for pid in self.members
                if pid in s.members
            ),
            presenter=s.presenter,
            controller=s.controller,
            has_presented=tuple(sorted(s.has_presented)),
            locked=s.locked,
            paused=s.paused,
            has_password=s.has_password,
        )

    def broadcast(self, msg: Roster | SessionEnded) -> None:
        for member in self.members.values():
            member.send(msg)


def _verdict_sentence(verdict: Verdict, what: str) -> Refusal:
    seconds = max(1, round(verdict.retry_after))
    if verdict.locked_out:
        return Refusal(
            ErrorCode.LOCKED_OUT,
            f"Too many failed attempts {what}; locked for {seconds} s. "
            "Ask the organizer to check the session ID and password.",
        )
    return Refusal(
        ErrorCode.RATE_LIMITED,
        f"Too many failed attempts {what}. Try again in {seconds} s.",
    )


class Switchboard:
    """All live sessions of one relay, and the rules that move peers between them."""

    def __init__(
        self,
        config: RelayConfig,
        recorder: Recorder,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        schedule: Callable[[float, Callable[[], None]], None],
        decoy_secret: bytes,
    ) -> None:
        self.config = config
        self.recorder = recorder
        self.clock = clock
        self.wall_clock = wall_clock
        #: ``schedule(at, action)``: run ``action`` at ``clock()`` time ``at`` (the server sleeps).
        self.schedule = schedule
        self._decoy_secret = decoy_secret
        self.pacer = JoinPacer()
        #: Decoy joins still waiting (for their Challenge, or to Confirm): swept at the join
        #: timeout like a live session's knocks, or a prober who never confirms would see a
        #: live session time out and an unknown ID never.
        self.decoys: set[PendingJoin] = set()
        self.sessions: dict[str, Session] = {}
        self.join_failures_by_address = FailureTracker(config.join_failures_per_address)
        self.join_failures_by_network = FailureTracker(config.join_failures_per_network)
        self.join_failures_by_session = FailureTracker(config.join_failures_per_session)
        #: Addresses that joined recently: exempt from their network's failures.
        self.join_trust = TrustList(config.trust_for)
        #: Keeps every limiter of the relay (the server's login ones too) in the store.
        self.limits = LimitJournal(recorder, decoy_secret, clock=clock, wall_clock=wall_clock)
        for scope, tracker in (
            ("join_address", self.join_failures_by_address),
            ("join_network", self.join_failures_by_network),
            ("join_session", self.join_failures_by_session),
        ):
            self.limits.attach(scope, tracker)
        self.limits.attach_trust("join_trust", self.join_trust)
        self._next_token = 1
        self.bytes_relayed = 0
        self.messages_relayed = 0
        #: Told about session and membership changes (the admin socket's event stream).
        self.observers: list[Observer] = []
        #: Counts join refusals for ``serve --metrics`` (by error code, never by session).
        self.meter: Meter = NO_METER

    # -- creating ---------------------------------------------------------------------------------

    def create(self, peer: Peer, msg: CreateSession) -> None:
        if peer.username is None:
            raise Refusal(ErrorCode.NOT_LOGGED_IN, "Log in as an organizer to create a session.")
        self._require_no_session(peer)
        if len(self.sessions) >= self.config.max_sessions:
            raise Refusal(ErrorCode.SESSION_FULL, "This relay is at its session limit; try later.")
        if msg.requested_id is not None:
            if not msg.has_password:
                raise Refusal(
                    ErrorCode.CHOSEN_ID_NEEDS_PASSWORD,
                    "A session with a chosen ID needs a session password.",
                )
            if msg.requested_id in self.sessions:
                raise Refusal(
                    ErrorCode.SESSION_ID_TAKEN, f"Session ID {msg.requested_id} is in use."
                )
            session_id = msg.requested_id
        else:
            session_id = self._random_session_id()
        organizer_id = 1
        session = Session(
            id=session_id,
            token=self._next_token,
            organizer=peer,
            state=new_session(
                organizer_id,
                has_password=msg.has_password,
                organizer_presents=msg.organizer_presents,
            ),
            names={organizer_id: msg.organizer_name},
            members={organizer_id: peer},
            started_at=self.wall_clock(),
        )
        self._next_token += 1
        self.sessions[session_id] = session
        peer.session, peer.peer_id = session, organizer_id
        self.recorder.session_started(session.token, session_id, peer.username, session.started_at)
        peer.send(SessionCreated(session_id=session_id, peer_id=organizer_id))
        peer.send(session.roster())
        self._notify(SESSION_STARTED, session)

    def _random_session_id(self) -> str:
        while True:
            candidate = str(100_000_000 + secrets.randbelow(900_000_000))
            if candidate not in self.sessions:
                return candidate

    def _require_no_session(self, peer: Peer) -> None:
        if peer.session is not None or peer.pending is not None:
            raise Refusal(ErrorCode.ALREADY_DONE, "This connection is already in a session.")

    # -- joining ----------------------------------------------------------------------------------

    def join(self, peer: Peer, msg: Join) -> None:
        self._require_no_session(peer)
        now = self.clock()
        by_address = self.join_failures_by_address.check(peer.address_key, now)
        if not by_address.allowed:
            raise _verdict_sentence(by_address, "from your network address")
        # An address that joined recently waits only for its own failures: not for its
        # network's, nor for a session ID's (others' failures). Trust is per address, not per
        # session, so it answers a prober the same for live and unknown IDs.
        if not self.limits.trusted("join_trust", peer.address_key):
            by_network = self.join_failures_by_network.check(network_key(peer.address), now)
            if not by_network.allowed:
                raise _verdict_sentence(by_network, "from your network")
            by_session = self.join_failures_by_session.check(msg.session_id, now)
            if not by_session.allowed:
                raise _verdict_sentence(by_session, "for this session ID")
        session = self.sessions.get(msg.session_id)
        if session is None or session.state.ended:
            self._start_decoy(peer, msg, now)
            return
        if len(session.members) + len(session.pending) >= self.config.max_members:
            raise Refusal(ErrorCode.SESSION_FULL, "This session is full.")
        peer_id = session.allocate_peer_id()
        # The lock is applied once the leader has seen the right password (its Reject or our
        # check of its Admit): answering "locked" now would tell anyone that the ID is live.
        verdict = decide(replace(session.state, locked=False), peer_id, Action.JOIN)
        if isinstance(verdict, Refused):
            raise Refusal(verdict.code, verdict.reason)
        pending = PendingJoin(
            peer=peer,
            session=session,
            session_id=session.id,
            peer_id=peer_id,
            name=msg.name,
            stage=Stage.KNOCKED,
            started=now,
            phase_started=now,
            answer_not_before=self.pacer.live_answer_at(Phase.CHALLENGE, now),
        )
        session.pending[peer_id] = pending
        peer.pending = pending
        session.organizer.send(
            Knock(
                peer_id=peer_id,
                name=msg.name,
                ephemeral_key=msg.ephemeral_key,
                spake_message=msg.spake_message,
                member_key=msg.member_key,
                origin=peer.address,
            )
        )
        # The relay spends on a live knock the CPU it spends on a decoy (the same decoy
        # challenge, thrown away): the decoy's pure-Python SPAKE2 holds this event loop for
        # tens of milliseconds, and a prober timing its own Pings beside a probe would
        # otherwise see the relay stall for unknown IDs only.
        self._decoy_challenge(msg, peer_id)

    def _decoy_challenge(self, msg: Join, peer_id: int) -> ChallengeValues | None:
        """The decoy's challenge for this Join, or None for a knock a leader would refuse."""
        knock = KnockValues(
            peer_id=peer_id,
            name=msg.name,
            ephemeral_key=msg.ephemeral_key,
            spake_message=msg.spake_message,
            member_key=msg.member_key,
        )
        try:
            return decoy_challenge(msg.session_id, knock, self._decoy_secret)
        except CryptoError:
            return None

    def _start_decoy(self, peer: Peer, msg: Join, now: float) -> None:
        """Play the leader of an unknown session: same key per ID, answer paced like a real
        leader's; a malformed knock is refused as a real leader refuses it, as late."""
        peer_id = draw_peer_id(())
        pending = PendingJoin(
            peer=peer,
            session=None,
            session_id=msg.session_id,
            peer_id=peer_id,
            name=msg.name,
            stage=Stage.KNOCKED,
            started=now,
            phase_started=now,
        )
        peer.pending = pending
        self.decoys.add(pending)
        answer_at = self.pacer.decoy_answer_at(Phase.CHALLENGE, now)
        values = self._decoy_challenge(msg, peer_id)
        if values is None:
            self._join_failed(peer, msg.session_id, "malformed knock")
            self._answer_at(answer_at, pending, lambda: self._refuse(pending))
            return
        challenge = Challenge(
            peer_id=values.peer_id,
            ephemeral_key=values.ephemeral_key,
            spake_message=values.spake_message,
            leader_key=values.leader_key,
            signature=values.signature,
        )

        def deliver() -> None:
            pending.stage = Stage.CHALLENGED
            peer.send(challenge)

        self._answer_at(answer_at, pending, deliver)

    def _answer_at(self, at: float, pending: PendingJoin, answer: Callable[[], None]) -> None:
        """Give ``pending``'s joiner ``answer`` at time ``at`` (at once if that has passed),
        unless by then it stopped waiting on this join (left, or timed out)."""

        def run() -> None:
            if pending.peer.pending is pending:
                answer()

        if at <= self.clock():
            run()
        else:
            self.schedule(at, run)

    def _refuse(
        self,
        pending: PendingJoin,
        code: ErrorCode = ErrorCode.JOIN_REFUSED,
        message: str = JOIN_REFUSED_TEXT,
    ) -> None:
        pending.peer.pending = None
        self.decoys.discard(pending)
        self.meter.refused(code.name.lower())
        pending.peer.send(_join_error(code, message))

    def challenge(self, peer: Peer, msg: Challenge) -> None:
        pending = self._knock_for_organizer(peer, msg.peer_id, Stage.KNOCKED)
        self.pacer.record(Phase.CHALLENGE, self.clock() - pending.phase_started)
        pending.stage = Stage.CHALLENGED
        self._answer_at(pending.answer_not_before, pending, lambda: pending.peer.send(msg))

    def confirm(self, peer: Peer, msg: Confirm) -> None:
        pending = peer.pending
        if (
            pending is None
            or pending.peer_id != msg.peer_id
            or pending.stage is not Stage.CHALLENGED
        ):
            raise Refusal(ErrorCode.UNEXPECTED_MESSAGE, "No join is waiting for a confirmation.")
        now = self.clock()
        pending.stage = Stage.CONFIRMED
        pending.phase_started = now
        if pending.session is None:
            # The decoy's verdict is made now; counted now, like a real one when it arrives.
            self._join_failed(peer, pending.session_id, "unknown session")
            answer_at = self.pacer.decoy_answer_at(Phase.VERDICT, now)
            self._answer_at(answer_at, pending, lambda: self._refuse(pending))
        else:
            pending.answer_not_before = self.pacer.live_answer_at(Phase.VERDICT, now)
            pending.session.organizer.send(msg)

    def admit(self, peer: Peer, msg: Admit) -> None:
        pending = self._knock_for_organizer(peer, msg.peer_id, Stage.CONFIRMED)
        session = pending.session
        assert session is not None
        self.pacer.record(Phase.VERDICT, self.clock() - pending.phase_started)
        verdict = decide(session.state, session.state.organizer, Action.ADMIT, target=msg.peer_id)
        if not isinstance(verdict, Allowed):
            if isinstance(verdict, Refused) and verdict.code is ErrorCode.SESSION_LOCKED:
                # The leader admitted, so the joiner proved the password: it may hear why.
                self.cancel_pending(pending, ErrorCode.SESSION_LOCKED, "The session is locked.")
            reason = verdict.reason if isinstance(verdict, Refused) else "needs consent"
            raise Refusal(ErrorCode.NOT_ALLOWED, reason)
        del session.pending[msg.peer_id]
        joiner = pending.peer
        joiner.pending = None
        joiner.session, joiner.peer_id = session, msg.peer_id
        session.state = verdict.state
        session.names[msg.peer_id] = pending.name
        session.members[msg.peer_id] = joiner
        session.admitted_ids.add(msg.peer_id)
        session.total_members += 1
        session.peak_members = max(session.peak_members, len(session.members))
        self.join_failures_by_address.record_success(joiner.address_key)
        self.limits.trust("join_trust", joiner.address_key)
        joiner.send(msg)
        session.broadcast(session.roster())
        self._notify(MEMBER_JOINED, session, msg.peer_id)

    def reject(self, peer: Peer, msg: Reject) -> None:
        pending = self._knock_for_organizer(peer, msg.peer_id, None)
        session = pending.session
        assert session is not None
        del session.pending[msg.peer_id]
        proven = pending.stage is Stage.CONFIRMED
        phase = Phase.VERDICT if proven else Phase.CHALLENGE
        code, message = ErrorCode.JOIN_REFUSED, JOIN_REFUSED_TEXT
        if msg.reason in (RejectReason.WRONG_PASSWORD, RejectReason.BAD_HANDSHAKE):
            self.pacer.record(phase, self.clock() - pending.phase_started)
            self._join_failed(pending.peer, session.id, msg.reason.name.lower())
        elif not proven:
            # Any other verdict before the password proof would tell a prober the ID is live:
            # the joiner hears the same sentence as for an unknown ID (and it is no failure).
            pass
        elif msg.reason is RejectReason.DECLINED:
            code, message = ErrorCode.KNOCK_DECLINED, "The organizer declined your request to join."
        elif msg.reason is RejectReason.LOCKED:
            self.pacer.record(phase, self.clock() - pending.phase_started)
            code, message = ErrorCode.SESSION_LOCKED, "The session is locked."
        elif msg.reason is RejectReason.NAME_TAKEN:
            # Said only after the password proof, like "locked": a prober learns no names.
            self.pacer.record(phase, self.clock() - pending.phase_started)
            code, message = ErrorCode.NAME_TAKEN, name_taken_text(pending.name)
        else:
            code, message = ErrorCode.SESSION_FULL, "This session is full."
        self._answer_at(
            pending.answer_not_before, pending, lambda: self._refuse(pending, code, message)
        )

    def _knock_for_organizer(self, peer: Peer, peer_id: int, stage: Stage | None) -> PendingJoin:
        session = peer.session
        if session is None or session.organizer is not peer:
            raise Refusal(ErrorCode.NOT_ALLOWED, "Only the organizer answers knocks.")
        pending = session.pending.get(peer_id)
        if pending is None or (stage is not None and pending.stage is not stage):
            raise Refusal(ErrorCode.NO_SUCH_MEMBER, f"No knock {peer_id} is waiting for that.")
        return pending

    def _join_failed(self, peer: Peer, session_id: str, detail: str) -> None:
        now = self.clock()
        self.recorder.security_event(
            self.wall_clock(),
            SecurityEventKind.JOIN_FAILED,
            peer.address_key,
            session_id=session_id,
            detail=detail,
        )
        for tracker, key in (
            (self.join_failures_by_address, peer.address_key),
            (self.join_failures_by_network, network_key(peer.address)),
            (self.join_failures_by_session, session_id),
        ):
            verdict = tracker.record_failure(key, now)
            if verdict.newly_locked:
                self.recorder.security_event(
                    self.wall_clock(),
                    SecurityEventKind.LOCKOUT,
                    peer.address_key,
                    session_id=session_id,
                    detail=f"joins locked for {key}",
                )
            if tracker is self.join_failures_by_session and guessing_alarm(
                verdict.failures, self.config.guessing_alarm_after
            ):
                # Unknown IDs too: the alarm goes to the operator only, never to a prober.
                self.recorder.security_event(
                    self.wall_clock(),
                    SecurityEventKind.GUESSING,
                    peer.address_key,
                    session_id=session_id,
                    detail=f"{verdict.failures} failed joins for this session ID",
                )

    def cancel_pending(self, pending: PendingJoin, code: ErrorCode, message: str) -> None:
        """Drop a knock (timeout, joiner gone): tell the joiner and the organizer."""
        self.decoys.discard(pending)
        if pending.peer.pending is pending:
            pending.peer.pending = None
            self.meter.refused(code.name.lower())
            pending.peer.send(_join_error(code, message))
        if pending.session is not None and pending.session.pending.get(pending.peer_id) is pending:
            del pending.session.pending[pending.peer_id]
            pending.session.organizer.send(KnockCancelled(peer_id=pending.peer_id))

    def sweep(self) -> None:
        """Expire knocks that waited longer than the join timeout."""
        deadline = self.clock() - self.config.join_timeout
        stale = [
            p for s in self.sessions.values() for p in s.pending.values() if p.started < deadline
        ]
        stale += [p for p in self.decoys if p.started < deadline]
        for pending in stale:
            self.cancel_pending(
                pending, ErrorCode.TIMEOUT, "Nobody admitted you in time; ask the organizer."
            )

    # -- pair channel and content ------------------------------------------------------------------

    def pair(self, peer: Peer, msg: PairSealed) -> None:
        session = peer.session
        if session is None or session.organizer is not peer:
            raise Refusal(ErrorCode.NOT_ALLOWED, "Only the organizer sends pair messages.")
        member = session.members.get(msg.peer_id)
        if member is None or member is peer:
            raise Refusal(ErrorCode.NO_SUCH_MEMBER, f"Member {msg.peer_id} is not in the session.")
        member.send(msg)

    def route(self, peer: Peer, msg: Sealed) -> None:
        session = peer.session
        if session is None or peer.peer_id is None:
            raise Refusal(ErrorCode.NOT_IN_SESSION, "Join a session before sending content.")
        header = msg.header
        if header.session_id != session.id or header.sender != peer.peer_id:
            raise Refusal(
                ErrorCode.NOT_ALLOWED, "Sealed content must carry your own session and peer id."
            )
        state = session.state
        kind = header.content_type
        if kind in (ContentType.FRAME_UPDATE, ContentType.CURSOR):
            if peer.peer_id != state.presenter:
                raise Refusal(ErrorCode.NOT_ALLOWED, "Only the presenter sends screen updates.")
            if state.paused:
                raise Refusal(ErrorCode.NOT_ALLOWED, "The screen is paused; no updates flow.")
        elif kind is ContentType.INPUT_EVENT:
            if peer.peer_id != state.controller or header.recipient != state.presenter:
                raise Refusal(
                    ErrorCode.NOT_ALLOWED, "Only the controller sends input, to the presenter."
                )
        elif kind is ContentType.REFRESH_REQUEST and header.recipient != state.presenter:
            raise Refusal(ErrorCode.NOT_ALLOWED, "Refresh requests go to the presenter.")
        frame = encode_frame(msg)
        droppable = kind.droppable
        if header.recipient == 0:
            recipients = [m for pid, m in session.members.items() if pid != peer.peer_id]
        else:
            target = session.members.get(header.recipient)
            if target is None or target is peer:
                raise Refusal(
                    ErrorCode.NO_SUCH_MEMBER, f"Member {header.recipient} is not in the session."
                )
            recipients = [target]
        for member in recipients:
            if member.send_frame(frame, droppable=droppable):
                session.bytes_relayed += len(frame)
                session.messages_relayed += 1
                self.bytes_relayed += len(frame)
                self.messages_relayed += 1

    # -- actions and consent -----------------------------------------------------------------------

    def action(self, peer: Peer, msg: ActionRequest) -> None:
        session, actor = self._membership(peer)
        action = Action[msg.action.name]
        if action in _OWN_MESSAGE_ACTIONS:
            raise Refusal(ErrorCode.BAD_FIELD, f"{action.name} has its own message.")
        verdict = decide(session.state, actor, action, msg.target)
        if isinstance(verdict, NeedsConsent) and verdict.consent is Consent.ORGANIZER_LOCAL:
            if msg.confirmed:
                verdict = decide(session.state, actor, action, msg.target, consented=True)
            else:
                verdict = Refused(
                    ErrorCode.CONSENT_REFUSED, "Confirm this on your own screen first."
                )
        if isinstance(verdict, NeedsConsent):
            consent = PendingConsent(
                consent_id=session.next_consent_id,
                request_id=msg.request_id,
                actor=actor,
                action=action,
                target=msg.target,
                from_peer=verdict.from_peer,
            )
            session.next_consent_id += 1
            session.consents[consent.consent_id] = consent
            session.members[verdict.from_peer].send(
                ConsentAsk(
                    consent_id=consent.consent_id,
                    action=msg.action,
                    actor=actor,
                    target=msg.target,
                )
            )
            peer.send(_result(msg.request_id, ActionOutcome.WAITING_FOR_CONSENT))
            return
        self._conclude(session, peer, msg.request_id, verdict, actor, action)

    def consent_answer(self, peer: Peer, msg: ConsentAnswer) -> None:
        session, answerer = self._membership(peer)
        consent = session.consents.get(msg.consent_id)
        if consent is None or consent.from_peer != answerer:
            raise Refusal(ErrorCode.NO_SUCH_MEMBER, "No such consent request is waiting for you.")
        del session.consents[msg.consent_id]
        actor_peer = session.members.get(consent.actor)
        if not msg.granted:
            if actor_peer is not None:
                actor_peer.send(
                    _result(
                        consent.request_id,
                        ActionOutcome.REFUSED,
                        ErrorCode.CONSENT_REFUSED,
                        f"{session.names[answerer]} said no.",
                    )
                )
            return
        verdict = decide(
            session.state, consent.actor, consent.action, consent.target, consented=True
        )
        self._conclude(
            session, actor_peer, consent.request_id, verdict, consent.actor, consent.action
        )

    def _conclude(
        self,
        session: Session,
        actor_peer: Peer | None,
        request_id: int,
        verdict: Allowed | NeedsConsent | Refused,
        actor: int,
        action: Action,
    ) -> None:
        if isinstance(verdict, Refused):
            if actor_peer is not None:
                actor_peer.send(
                    _result(request_id, ActionOutcome.REFUSED, verdict.code, verdict.reason)
                )
            return
        if isinstance(verdict, NeedsConsent):
            if actor_peer is not None:
                actor_peer.send(
                    _result(
                        request_id,
                        ActionOutcome.REFUSED,
                        ErrorCode.CONSENT_REFUSED,
                        "The session changed while waiting for consent; ask again.",
                    )
                )
            return
        if actor_peer is not None:
            actor_peer.send(_result(request_id, ActionOutcome.APPLIED))
        self._apply(session, verdict.state, actor, action)

    def _apply(
        self,
        session: Session,
        new_state: SessionState,
        actor: int,
        action: Action,
        *,
        removed_message: str = _REMOVED_BY_ORGANIZER,
    ) -> None:
        old = session.state
        session.state = new_state
        if new_state.ended:
            who = session.names.get(actor, "someone")
            self.end_session(session, ErrorCode.SESSION_ENDED, f"{who} ended the session.")
            return
        gone_ids = sorted(old.members - new_state.members)
        for gone in gone_ids:
            member = session.members.pop(gone, None)
            self._forget_consents(session, gone)
            if member is not None:
                member.session, member.peer_id = None, None
                member.send(
                    SessionEnded(
                        session_id=session.id, code=ErrorCode.REMOVED, message=removed_message
                    )
                )
        session.broadcast(session.roster())
        for gone in gone_ids:
            self._notify(MEMBER_LEFT, session, gone, "removed")
        if not gone_ids:
            self._notify(SESSION_CHANGED, session)

    def _forget_consents(self, session: Session, peer_id: int) -> None:
        for consent_id, consent in list(session.consents.items()):
            if peer_id in (consent.actor, consent.from_peer, consent.target):
                del session.consents[consent_id]
                actor_peer = session.members.get(consent.actor)
                if actor_peer is not None and consent.actor != peer_id:
                    actor_peer.send(
                        _result(
                            consent.request_id,
                            ActionOutcome.REFUSED,
                            ErrorCode.NO_SUCH_MEMBER,
                            "A member this request depended on left.",
                        )
                    )

    def _membership(self, peer: Peer) -> tuple[Session, int]:
        if peer.session is None or peer.peer_id is None:
            raise Refusal(ErrorCode.NOT_IN_SESSION, "You are not in a session.")
        return peer.session, peer.peer_id

    # -- leaving and ending -----------------------------------------------------------------------

    def leave(self, peer: Peer, *, explicit: bool) -> None:
        """The peer leaves (``Leave``) or its connection ended (``explicit`` False)."""
        if peer.pending is not None:
            self.cancel_pending(peer.pending, ErrorCode.LEFT, "You stopped knocking.")
        session = peer.session
        if session is None or peer.peer_id is None:
            if explicit and peer.pending is None:
                raise Refusal(ErrorCode.NOT_IN_SESSION, "You are not in a session.")
            return
        peer_id = peer.peer_id
        verdict = decide(session.state, peer_id, Action.LEAVE)
        if not isinstance(verdict, Allowed):  # cannot happen for a member; be safe anyway
            return
        if verdict.state.ended:
            name = session.names.get(peer_id, "The organizer")
            self.end_session(session, ErrorCode.ORGANIZER_LEFT, f"{name} (organizer) left.")
            return
        session.state = verdict.state
        session.members.pop(peer_id, None)
        peer.session, peer.peer_id = None, None
        self._forget_consents(session, peer_id)
        if explicit:
            peer.send(SessionEnded(session_id=session.id, code=ErrorCode.LEFT, message="You left."))
        session.broadcast(session.roster())
        self._notify(MEMBER_LEFT, session, peer_id, "left" if explicit else "disconnected")

    def end_session(self, session: Session, code: ErrorCode, message: str) -> None:
        if self.sessions.get(session.id) is not session:
            return
        del self.sessions[session.id]
        session.state = _ended(session.state)
        ended = SessionEnded(session_id=session.id, code=code, message=message)
        for member in session.members.values():
            member.session, member.peer_id = None, None
            member.send(ended)
        for pending in list(session.pending.values()):
            self.cancel_pending(pending, ErrorCode.SESSION_ENDED, "The session ended.")
        self.recorder.session_ended(
            session.token,
            self.wall_clock(),
            code.name.lower(),
            session.peak_members,
            session.total_members,
            session.bytes_relayed,
            session.messages_relayed,
        )
        self._notify(SESSION_ENDED, session, reason=code.name.lower())

    def end_all(self, message: str) -> None:
        for session in list(self.sessions.values()):
            self.end_session(session, ErrorCode.SESSION_ENDED, message)

    def _notify(
        self, kind: str, session: Session, peer_id: int | None = None, reason: str = ""
    ) -> None:
        if self.observers:
            event = RelayEvent(kind, self.wall_clock(), session.id, peer_id, reason)
            notify(self.observers, event)

    # -- the relay operator (admin socket) -------------------------------------------------------

    def live_session(self, session_id: str) -> Session:
        """The live session ``session_id``, or a BAD_SESSION_ID refusal."""
        session = self.sessions.get(session_id)
        if session is None:
            raise Refusal(ErrorCode.BAD_SESSION_ID, f"There is no live session {session_id}.")
        return session

    def end_by_operator(self, session_id: str) -> None:
        """End a session for all its members (they get ``SessionEnded``), as the operator."""
        session = self.live_session(session_id)
        self.end_session(session, ErrorCode.SESSION_ENDED, "The relay operator ended the session.")

    def act_as_operator(self, session_id: str, action: Action, target: int | None = None) -> None:
        """Apply an organizer's action (remove a member, lock, unlock) on the operator's word.

        The same rules table judges it, with the organizer as actor, so the operator can do
        what the organizer could and no more (the organizer cannot be removed, for one). A
        removal is a roster change like any other: the organizer's client re-keys on it.
        """
        session = self.live_session(session_id)
        organizer = session.state.organizer
        verdict = decide(session.state, organizer, action, target)
        if isinstance(verdict, Refused):
            raise Refusal(verdict.code, verdict.reason)
        if not isinstance(verdict, Allowed):
            raise Refusal(ErrorCode.NOT_ALLOWED, "That needs a member's consent.")
        self._apply(session, verdict.state, organizer, action, removed_message=_REMOVED_BY_OPERATOR)


def _ended(state: SessionState) -> SessionState:
    return replace(state, ended=True, presenter=None, controller=None, paused=False)


def name_taken_text(name: str) -> str:
    """What a joiner whose display name another member holds is told (its own name, quoted)."""
    return f"The name '{name}' is taken in this session."


def _join_error(code: ErrorCode, message: str) -> ErrorMessage:
    return ErrorMessage(code=code, message=message, in_reply_to=Join.TYPE)


def _result(
    request_id: int,
    outcome: ActionOutcome,
    code: ErrorCode | None = None,
    message: str = "",
) -> ActionResult:
    return ActionResult(request_id=request_id, outcome=outcome, code=code, message=message)
