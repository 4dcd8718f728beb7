"""A member's view of one session: keys, sealed content, roster, actions and consent.

:class:`OrganizerSession` is the leader of docs/design.md §4.3: it runs the admission handshake for
each knock, signs member certificates, and re-keys on every membership change.
:class:`MemberSession` is everyone else: it opens the grant, follows re-keys, and verifies every
roster it is given. Both seal what they send and open what they receive; anything that fails to open
is dropped and counted, never surfaced as content.

Sessions are driven by the :class:`~core.client.client.RelayClient` reader task, which calls
``_handle`` for each message; programs consume :attr:`SessionBase.events`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict
from enum import Enum

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.client.events import (
    JOIN_BAD_IDENTITY_REASON,
    JOIN_LOCKED_REASON,
    JOIN_NAME_TAKEN_REASON,
    JOIN_WRONG_PASSWORD_REASON,
    ActionAnswered,
    ConsentRequested,
    ContentReceived,
    EpochChanged,
    GuessingSuspected,
    JoinAttemptFailed,
    KnockReceived,
    KnockWithdrawn,
    RekeyConfirmed,
    RekeyMissing,
    RelayError,
    RosterChanged,
    SessionClosed,
    SessionEvent,
    UpdatesDropped,
)
from core.client.integrity import Integrity, Reaction
from core.client.rekey_acks import RekeyTracker
from core.client.relay_channel import RelayChannel
from core.crypto import (
    BadHandshake,
    ContentOpener,
    ContentSealer,
    CryptoError,
    JoinerAdmission,
    KnockValues,
    LeaderAdmission,
    Membership,
    WrongPassword,
    next_epoch_secret,
    public_key_bytes,
    security_code,
    sign_certificate,
)
from core.crypto.identity import short_fingerprint
from core.errors import ErrorCode, ProtocolError
from core.guessing import guessing_alarm
from core.protocol import ClientConnection, Message
from core.protocol.content import (
    EVERYONE,
    Chat,
    ContentHeader,
    ContentMessage,
    ContentType,
    FrameUpdate,
    ReKeyAck,
    decode_content,
    encode_content,
)
from core.protocol.messages import (
    ActionCode,
    ActionRequest,
    ActionResult,
    Admit,
    Challenge,
    Confirm,
    ConsentAnswer,
    ConsentAsk,
    Dropped,
    Error,
    Knock,
    KnockCancelled,
    Leave,
    PairSealed,
    Reject,
    RejectReason,
    Roster,
    Sealed,
    SessionEnded,
)
from core.protocol.names import same_name
from core.protocol.pair import MemberCertificate, ReKey, SignedCertificate, Standing

EVENT_BUFFER = 256


class AdmitPolicy(Enum):
    """When the organizer's client admits a knock without asking its user."""

    #: Joiners who proved the session password are admitted; password-less knocks are asked.
    PASSWORD = "password"  # noqa: S105 - a policy name, not a password
    #: Every knock is asked, password or not.
    ASK = "ask"
    #: Every knock that completes the handshake is admitted (explicit opt-in only).
    ALL = "all"


#: Seals one message for the connection, under the wire lock, right before it is written.
Build = Callable[[ClientConnection], bytes]


class ContentOutlet:
    """Sends content to everyone from one worker thread (the presenter's), in order with what
    trio tasks send: see :meth:`RelayChannel.send_from_thread`.

    :attr:`hold` is the channel's wire lock: while a trio task holds it (briefly, never across
    an await), no message is sealed or sent, so a flag it sets there (paused) is seen by every
    later ``withheld`` check.
    """

    __slots__ = ("_build", "_channel", "hold")

    def __init__(
        self, channel: RelayChannel, build: Callable[[ContentMessage, int], Build]
    ) -> None:
        self._channel = channel
        self._build = build
        self.hold: threading.Lock = channel.wire

    def send(self, message: ContentMessage, withheld: Callable[[], bool] | None = None) -> bool:
        """Seal and send ``message`` unless ``withheld()`` says no at the last moment (asked
        under :attr:`hold`); blocks this thread while the socket is full. Raises
        :class:`~core.client.channel.ChannelClosed` when the connection is gone."""
        return self._channel.send_from_thread(self._build(message, EVERYONE), withheld)


class SessionBase:
    """What organizer and member sessions share: sealing, events, actions, consent."""

    def __init__(
        self,
        channel: RelayChannel,
        *,
        session_id: str,
        peer_id: int,
        name: str,
        member_key: Ed25519PrivateKey,
        leader_public_key: bytes,
    ) -> None:
        self._channel = channel
        self._send = channel.send
        self.session_id = session_id
        self.peer_id = peer_id
        self.name = name
        self.security_code = security_code(leader_public_key)
        self._sealer = ContentSealer(session_id, peer_id, member_key)
        self._opener = ContentOpener(session_id, local_peer_id=peer_id)
        self._events_send, self.events = trio.open_memory_channel[SessionEvent](EVENT_BUFFER)
        self._request_ids = itertools.count(1)
        self.roster: Roster | None = None
        self.epoch = 0
        self.closed: SessionClosed | None = None
        self._integrity = Integrity(peer_id)
        #: Peer id → the leader-certified member certificate, for the current epoch.
        self._certified: dict[int, MemberCertificate] = {}

    def certified(self, peer_id: int) -> MemberCertificate | None:
        """What the leader certified about ``peer_id`` (name, identity key), or None.

        Unlike the relay's :class:`Roster` (relay-asserted names), this is signed by the leader
        key (checked by members), so decisions about a member rest on it.
        """
        return self._certified.get(peer_id)

    def identity_fingerprint(self, peer_id: int) -> str | None:
        """The short fingerprint of the identity key ``peer_id`` proved, for people to read."""
        cert = self._certified.get(peer_id)
        if cert is None or cert.identity_key is None:
            return None
        return short_fingerprint(cert.identity_key)

    def shown_as(self, peer_id: int, relay_name: str) -> tuple[str, str | None]:
        """The name and short key fingerprint to show for ``peer_id``: both as the leader
        certified them, the relay's name only until the certificate arrives (a re-key may
        come after the relay's roster)."""
        cert = self._certified.get(peer_id)
        return (cert.name if cert is not None else relay_name), self.identity_fingerprint(peer_id)

    # -- public API -----------------------------------------------------------------------------

    async def send_content(self, message: ContentMessage, recipient: int = EVERYONE) -> None:
        """Seal ``message`` for the current epoch and send it (to everyone, or one member).
        A chat line to everyone is numbered here (see :mod:`core.client.chat_ledger`)."""
        if isinstance(message, Chat):
            message = self._integrity.outgoing_chat(message, recipient, trio.current_time())
        await self._channel.send_built(self._build(message, recipient))

    def content_outlet(self) -> ContentOutlet:
        """Where a worker thread (the presenter's) sends content to everyone."""
        return ContentOutlet(self._channel, self._build)

    @property
    def integrity(self) -> Integrity:
        """Heartbeats, chat numbering and what they revealed (docs/design.md §3.3)."""
        return self._integrity

    def _build(self, message: ContentMessage, recipient: int) -> Build:
        kind, plaintext = encode_content(message)
        if not isinstance(message, FrameUpdate):
            return lambda conn: self._seal(conn, kind, recipient, plaintext)
        frame_seq, integrity = message.frame_seq, self._integrity

        def build(conn: ClientConnection) -> bytes:
            data = self._seal(conn, kind, recipient, plaintext)
            integrity.frame_sent(frame_seq)  # sealed for the wire: a heartbeat may count it
            return data

        return build

    def _seal(
        self, conn: ClientConnection, kind: ContentType, recipient: int, plaintext: bytes
    ) -> bytes:
        """Seal, sign and encode for ``conn``: called under the channel's wire lock, right
        before the bytes are written, so counters reach the relay in order whichever thread
        sealed."""
        return conn.send_sealed(*self._sealer.seal_parts(kind, recipient, plaintext))

    async def request(
        self, action: ActionCode, target: int | None = None, *, confirmed: bool = False
    ) -> int:
        """Ask the relay to apply a rules action; the answer arrives as :class:`ActionAnswered`.

        ``confirmed`` is this user's own local confirmation (taking presenting back, say): set it
        only after the person said yes on this machine.
        """
        request_id = next(self._request_ids)
        await self._send(
            ActionRequest(request_id=request_id, action=action, target=target, confirmed=confirmed)
        )
        return request_id

    async def answer_consent(self, consent_id: int, granted: bool) -> None:
        await self._send(ConsentAnswer(consent_id=consent_id, granted=granted))

    async def leave(self) -> None:
        if self.closed is None:
            await self._send(Leave())

    def opener_statistics(self) -> dict[str, int]:
        stats = self._opener.statistics()
        return {"opened": stats.opened, **stats.dropped_by_reason()}

    # -- driven by the client's reader task -------------------------------------------------------

    async def _emit(self, event: SessionEvent) -> None:
        await self._events_send.send(event)

    async def _handle(self, msg: Message) -> None:
        match msg:
            case Sealed():
                await self._open(msg)
            case Roster():
                self.roster = msg
                await self._on_roster(msg)
                await self._emit(RosterChanged(msg))
                for event in self._integrity.on_roster(msg, trio.current_time()):
                    await self._emit(event)
            case ConsentAsk():
                await self._emit(
                    ConsentRequested(msg.consent_id, msg.action, msg.actor, msg.target)
                )
            case ActionResult():
                await self._emit(ActionAnswered(msg.request_id, msg.outcome, msg.code, msg.message))
            case Dropped():
                await self._emit(UpdatesDropped(msg.count))
            case SessionEnded():
                await self._close(SessionClosed(msg.code, msg.message))
            case Error():
                await self._emit(RelayError(msg.code, msg.message, msg.in_reply_to))
            case _:
                await self._handle_specific(msg)

    async def _handle_specific(self, msg: Message) -> None:
        """Messages only one kind of session expects; others are ignored."""

    async def _on_roster(self, roster: Roster) -> None:
        """Hook: the organizer re-keys when members left."""

    async def _open(self, msg: Sealed) -> None:
        now = trio.current_time()
        self._opener.expire(now)
        try:
            plaintext = self._opener.open(msg.header, msg.ciphertext, msg.signature, now)
            content = decode_content(msg.header.content_type, plaintext)
        except CryptoError as exc:  # counted by the opener; reported if someone tampered
            for event in self._integrity.on_refused(exc.reason, msg.header.sender, now):
                await self._emit(event)
            return
        except ProtocolError:
            return  # a member sealed something that does not decode: nothing to show
        if isinstance(content, ReKeyAck):
            await self._on_rekey_ack(msg.header, content)
            return
        reaction = self._integrity.on_content(msg.header, content, now)
        if not reaction.consumed:
            await self._emit(ContentReceived(msg.header, content))
        await self._react(reaction)

    async def _react(self, reaction: Reaction) -> None:
        for event in reaction.events:
            await self._emit(event)
        for out in reaction.send:
            await self.send_content(out.message, out.recipient)

    async def _tick(self) -> None:
        """Driven a few times a second by the client: heartbeats, timeouts, re-sends."""
        now = trio.current_time()
        await self._react(self._integrity.tick(now))
        await self._tick_specific(now)

    async def _tick_specific(self, now: float) -> None:
        """Hook: the organizer re-sends re-keys nobody confirmed."""

    async def _on_rekey_ack(self, header: ContentHeader, ack: ReKeyAck) -> None:
        """Hook: only the leader expects these."""

    def _use_epoch(self, epoch: int, secret: bytes, keys: dict[int, bytes]) -> None:
        with self._channel.wire:  # never in the middle of a seal on the presenter's thread
            self._sealer.set_epoch(epoch, secret)
        self._opener.install(epoch, secret, keys, trio.current_time())
        self.epoch = epoch

    def _certify(self, roster: Mapping[int, MemberCertificate]) -> None:
        self._certified = dict(roster)

    async def _close(self, closed: SessionClosed) -> None:
        if self.closed is None:
            self.closed = closed
            await self._emit(closed)
            await self._events_send.aclose()

    async def _connection_lost(self, code: ErrorCode | None, message: str) -> None:
        if self.closed is None:
            self.closed = SessionClosed(code, message)
            with trio.move_on_after(1):
                await self._emit(self.closed)
            await self._events_send.aclose()


class OrganizerSession(SessionBase):
    """The organizer's (leader's) session: admission, certificates, re-keys."""

    def __init__(
        self,
        channel: RelayChannel,
        *,
        session_id: str,
        name: str,
        password: str,
        admit_policy: AdmitPolicy,
        identity_key: bytes | None = None,
    ) -> None:
        self._leader_key = Ed25519PrivateKey.generate()
        member_key = Ed25519PrivateKey.generate()
        super().__init__(
            channel,
            session_id=session_id,
            peer_id=1,
            name=name,
            member_key=member_key,
            leader_public_key=public_key_bytes(self._leader_key),
        )
        self._password = password
        self.admit_policy = admit_policy
        own = MemberCertificate(
            session_id=session_id,
            peer_id=1,
            name=name,
            member_key=public_key_bytes(member_key),
            standing=Standing.ORGANIZER,
            identity_key=identity_key,  # our own: nothing to prove to ourselves
        )
        self._certificates: dict[int, SignedCertificate] = {
            1: sign_certificate(own, self._leader_key)
        }
        self._admissions: dict[int, LeaderAdmission] = {}
        self._awaiting_approval: set[int] = set()
        self._origins: dict[int, str] = {}
        #: Admitted by us but not yet in a roster from the relay: not "gone" if a roster that
        #: the relay sent before it processed our Admit arrives now.
        self._unconfirmed: set[int] = set()
        self._rekeys = RekeyTracker()
        self._last_rekey: ReKey | None = None
        #: Wrong session passwords this session refused (the relay counts the same ones).
        self.wrong_passwords = 0
        self._use_epoch(1, next_epoch_secret(), self._member_keys())
        self._certify({pid: c.certificate for pid, c in self._certificates.items()})

    @property
    def awaiting_approval(self) -> frozenset[int]:
        return frozenset(self._awaiting_approval)

    async def admit(self, peer_id: int) -> None:
        """The organizer approves a knock that waits for approval."""
        if peer_id not in self._awaiting_approval:
            raise KeyError(f"no knock {peer_id} is waiting for approval")
        self._awaiting_approval.discard(peer_id)
        await self._admit(peer_id)

    async def decline(self, peer_id: int) -> None:
        self._awaiting_approval.discard(peer_id)
        self._admissions.pop(peer_id, None)
        await self._send(Reject(peer_id=peer_id, reason=RejectReason.DECLINED))

    async def _handle_specific(self, msg: Message) -> None:
        match msg:
            case Knock():
                await self._on_knock(msg)
            case Confirm():
                await self._on_confirm(msg)
            case KnockCancelled():
                self._admissions.pop(msg.peer_id, None)
                self._awaiting_approval.discard(msg.peer_id)
                await self._emit(KnockWithdrawn(msg.peer_id))

    async def _on_knock(self, knock: Knock) -> None:
        values = KnockValues(
            peer_id=knock.peer_id,
            name=knock.name,
            ephemeral_key=knock.ephemeral_key,
            spake_message=knock.spake_message,
            member_key=knock.member_key,
        )
        try:
            admission = LeaderAdmission(self.session_id, self._password, self._leader_key, values)
        except BadHandshake:
            await self._send(Reject(peer_id=knock.peer_id, reason=RejectReason.BAD_HANDSHAKE))
            return
        self._admissions[knock.peer_id] = admission
        self._origins[knock.peer_id] = knock.origin
        await self._send(Challenge(**asdict(admission.challenge)))

    async def _on_confirm(self, confirm: Confirm) -> None:
        admission = self._admissions.get(confirm.peer_id)
        if admission is None:
            return
        try:
            admission.check_confirmation(confirm.mac, confirm.identity)
        except (WrongPassword, ProtocolError):
            del self._admissions[confirm.peer_id]
            await self._send(Reject(peer_id=confirm.peer_id, reason=RejectReason.WRONG_PASSWORD))
            await self._emit(
                JoinAttemptFailed(confirm.peer_id, admission.knock.name, JOIN_WRONG_PASSWORD_REASON)
            )
            self.wrong_passwords += 1
            if guessing_alarm(self.wrong_passwords):
                await self._emit(GuessingSuspected(self.wrong_passwords))
            return
        except CryptoError:
            # The password was right but the identity proof is not for this admission (replayed
            # from another, or forged): a tampering relay or a broken client. Counted as a
            # failed join by the relay.
            del self._admissions[confirm.peer_id]
            self._origins.pop(confirm.peer_id, None)
            await self._send(Reject(peer_id=confirm.peer_id, reason=RejectReason.BAD_HANDSHAKE))
            await self._emit(
                JoinAttemptFailed(confirm.peer_id, admission.knock.name, JOIN_BAD_IDENTITY_REASON)
            )
            return
        if self.roster is not None and self.roster.locked:
            # Only now, after the proof: the relay answers everyone else exactly as for an
            # unknown session ID, so "locked" must not be said to someone without the password.
            del self._admissions[confirm.peer_id]
            self._origins.pop(confirm.peer_id, None)
            await self._send(Reject(peer_id=confirm.peer_id, reason=RejectReason.LOCKED))
            await self._emit(
                JoinAttemptFailed(confirm.peer_id, admission.knock.name, JOIN_LOCKED_REASON)
            )
            return
        if await self._refused_for_name(admission):
            self._origins.pop(confirm.peer_id, None)
            return
        needs_approval = self.admit_policy is AdmitPolicy.ASK or (
            self.admit_policy is AdmitPolicy.PASSWORD and not self._password
        )
        origin = self._origins.pop(confirm.peer_id, "")
        await self._emit(
            KnockReceived(confirm.peer_id, admission.knock.name, origin, needs_approval)
        )
        if needs_approval:
            self._awaiting_approval.add(confirm.peer_id)
        else:
            await self._admit(confirm.peer_id)

    async def _refused_for_name(self, admission: LeaderAdmission) -> bool:
        """Turn the knock away if a member (or a knock admitted a moment ago) holds its name.

        The leader decides, not the relay: these certificates are the ones it signs, so a relay
        cannot slip a second "Ana" past this check. Called after the password proof (the
        joiner may then hear why) and again when a person approves, since another "Ana" may
        have been admitted while this knock waited.
        """
        name = admission.knock.name
        if not any(same_name(name, c.certificate.name) for c in self._certificates.values()):
            return False
        peer_id = admission.peer_id
        self._admissions.pop(peer_id, None)
        await self._send(Reject(peer_id=peer_id, reason=RejectReason.NAME_TAKEN))
        await self._emit(JoinAttemptFailed(peer_id, name, JOIN_NAME_TAKEN_REASON))
        return True

    async def _admit(self, peer_id: int) -> None:
        admission = self._admissions[peer_id]
        if await self._refused_for_name(admission):
            return
        self._certificates[peer_id] = sign_certificate(
            admission.member_certificate(), self._leader_key
        )
        epoch, secret, roster = self._next_epoch()
        grant = admission.grant(epoch, secret, roster)
        self._unconfirmed.add(peer_id)
        await self._send(Admit(peer_id=peer_id, sealed_grant=grant))
        await self._distribute(epoch, secret, roster, skip=peer_id)

    async def _on_roster(self, roster: Roster) -> None:
        present = {entry.peer_id for entry in roster.members}
        self._unconfirmed -= present
        gone = [
            pid for pid in self._certificates if pid not in present and pid not in self._unconfirmed
        ]
        if not gone:
            return
        for pid in gone:
            del self._certificates[pid]
            self._admissions.pop(pid, None)
            self._rekeys.forget(pid)
        epoch, secret, certs = self._next_epoch()
        await self._distribute(epoch, secret, certs, skip=None)

    def _next_epoch(self) -> tuple[int, bytes, tuple[SignedCertificate, ...]]:
        epoch = self.epoch + 1
        secret = next_epoch_secret()
        roster = tuple(self._certificates[pid] for pid in sorted(self._certificates))
        return epoch, secret, roster

    async def _distribute(
        self,
        epoch: int,
        secret: bytes,
        roster: tuple[SignedCertificate, ...],
        *,
        skip: int | None,
    ) -> None:
        """Send the new epoch to every member over its pair channel, then switch ourselves."""
        rekey = ReKey(epoch=epoch, epoch_secret=secret, roster=roster)
        sent = []
        for pid, admission in self._admissions.items():
            if pid == skip or pid not in self._certificates:
                continue
            await self._send(PairSealed(peer_id=pid, sealed=admission.seal_rekey(rekey)))
            sent.append(pid)
        self._use_epoch(epoch, secret, self._member_keys())
        self._last_rekey = rekey
        self._rekeys.sent(epoch, sent, trio.current_time())
        self._certify({pid: c.certificate for pid, c in self._certificates.items()})
        await self._emit(EpochChanged(epoch))

    async def _tick_specific(self, now: float) -> None:
        """Re-send the newest epoch to each member that has not confirmed it in time (the
        relay may have dropped its re-key); the organizer hears of it the first time."""
        rekey = self._last_rekey
        for pid, epoch, first_time in self._rekeys.due(now):
            admission = self._admissions.get(pid)
            if rekey is None or rekey.epoch != epoch or admission is None:
                self._rekeys.forget(pid)
                continue
            if first_time:
                await self._emit(RekeyMissing(pid, epoch))
            await self._send(PairSealed(peer_id=pid, sealed=admission.seal_rekey(rekey)))

    async def _on_rekey_ack(self, header: ContentHeader, ack: ReKeyAck) -> None:
        # Sealed under the epoch it names, or it proves nothing.
        if header.epoch == ack.epoch and self._rekeys.confirmed(header.sender, ack.epoch):
            await self._emit(RekeyConfirmed(header.sender, ack.epoch))

    def _member_keys(self) -> dict[int, bytes]:
        return {pid: c.certificate.member_key for pid, c in self._certificates.items()}


class MemberSession(SessionBase):
    """A participant's session: keys come from the leader over the pair channel."""

    def __init__(
        self, channel: RelayChannel, admission: JoinerAdmission, membership: Membership
    ) -> None:
        super().__init__(
            channel,
            session_id=membership.session_id,
            peer_id=membership.peer_id,
            name=membership.name,
            member_key=membership.member_private_key,
            leader_public_key=membership.leader_public_key,
        )
        # The leader's key has been verified by the handshake; the code derives from it.
        self._admission = admission
        self._leader = next(
            (pid for pid, c in membership.roster.items() if c.standing is Standing.ORGANIZER), 1
        )
        self._use_epoch(membership.epoch, membership.epoch_secret, membership.member_keys())
        self._certify(membership.roster)

    async def _handle_specific(self, msg: Message) -> None:
        if isinstance(msg, PairSealed):
            try:
                update = self._admission.on_rekey(msg.sealed)
            except BadHandshake:
                # It opened, so the leader sent it: a re-send of an epoch we already hold
                # (our confirmation was lost). Confirm again.
                await self.send_content(ReKeyAck(epoch=self.epoch), recipient=self._leader)
                return
            except (CryptoError, ProtocolError):
                return
            self._use_epoch(update.epoch, update.epoch_secret, update.member_keys())
            self._certify(update.roster)
            await self._emit(EpochChanged(update.epoch))
            # Sealed under the new epoch: only a holder of its secret can confirm it.
            await self.send_content(ReKeyAck(epoch=update.epoch), recipient=self._leader)
