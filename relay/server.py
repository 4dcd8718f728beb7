"""The trio relay: TLS listener, one nursery per connection, limits, and the switchboard.

Each connection gets a reader task (bytes → sans-IO events → switchboard) and a writer task
(bounded outbox → socket), inside its own cancel scope, so ending one connection — a slow
reader, a protocol violation, a timeout — touches nothing else. Timeouts are deadlines, not
per-read allowances: the Hello/Welcome exchange (TLS included) must finish within
``handshake_timeout`` however slowly bytes dribble in, and a frame that has started must finish
within ``frame_timeout``; that is what defeats a slowloris.

Start it in a nursery (trio's convention for servers)::

    info = await nursery.start(serve_relay, config)
    print(info.port, info.fingerprint)
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import trio

from core.carriers import Carrier, StreamCarrier
from core.errors import ErrorCode, ProtocolError, RemoteProtocolError
from core.guessing import guessing_alarm
from core.protocol import CONNECTION_CLOSED, NEED_DATA, Message, State
from core.protocol.framing import encode_frame
from core.protocol.messages import (
    DEVICE_TOKEN_SIZE,
    ActionRequest,
    Admit,
    Challenge,
    Close,
    Confirm,
    ConsentAnswer,
    CreateSession,
    Dropped,
    Error,
    Hello,
    Join,
    Leave,
    Login,
    LoginOk,
    PairSealed,
    Ping,
    Pong,
    Reject,
    Sealed,
    Welcome,
)
from core.tlspin import ALPN_PROTOCOL
from core.version import software
from relay.admin_protocol import default_socket_path
from relay.admin_server import serve_admin
from relay.config import RelayConfig
from relay.decoy_secret import load_decoy_secret
from relay.limits import (
    ConnectionLimiter,
    FailureTracker,
    TokenBucket,
    TrustList,
    address_key,
    network_key,
)
from relay.meter import NO_METER, Meter
from relay.pacing import TimerLateness
from relay.peer import Peer
from relay.recorder import Recorder
from relay.sessions import Refusal, Switchboard
from relay.store import LoginCheck, RelayStore, SecurityEventKind
from relay.tls import ServerIdentity, ensure_certificate, load_identity
from relay.tls_reload import ReloadableIdentity
from relay.web import HTTP_ALPN, WebFront

log = logging.getLogger("porthole.relay")

RECEIVE_CHUNK = 256 * 1024
#: Seconds between sweeps of expired limiter records and trust (memory and relay.db).
LIMITS_HOUSEKEEPING = 3600.0
WRITE_BATCH = 256 * 1024


def _software() -> str:
    return software("porthole-relay")


@dataclass(frozen=True, slots=True)
class RelayInfo:
    """What ``nursery.start(serve_relay, ...)`` returns: where the relay listens and its pin
    (as it was at start), the relay, and its reloadable certificate (``serve``'s SIGHUP)."""

    host: str
    port: int
    fingerprint: str
    relay: Relay
    identity: ReloadableIdentity
    #: Sentences for the operator about the certificate served (an expired one, say).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RelayStatistics:
    connections: int
    sessions: int
    members: int
    bytes_relayed: int
    messages_relayed: int


class _PeerClosed(Exception):
    """The peer sent ``Close``: stop reading."""


class Relay:
    """Connection handling around one :class:`Switchboard`."""

    def __init__(
        self,
        config: RelayConfig,
        store: RelayStore,
        recorder: Recorder,
        *,
        fingerprint: str = "",
        decoy_secret: bytes | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.recorder = recorder
        self.switchboard = Switchboard(
            config,
            recorder,
            clock=trio.current_time,
            wall_clock=time.time,
            schedule=self._schedule,
            decoy_secret=decoy_secret or load_decoy_secret(config.data_dir),
        )
        self._timer_lateness = TimerLateness()
        self.connections = ConnectionLimiter(config.max_connections_per_address)
        self.login_failures = FailureTracker(config.login_failures)
        self.login_failures_by_network = FailureTracker(config.login_failures_per_network)
        self.login_failures_by_user = FailureTracker(config.login_failures_per_user)
        #: Who logged in recently: an address for one account ("user\0address"), and device
        #: cookies ("user\0token"); both exempt a login from others' failures.
        self.login_trust = TrustList(config.trust_for)
        self.device_trust = TrustList(config.trust_for)
        limits = self.switchboard.limits
        for scope, tracker in (
            ("login_address", self.login_failures),
            ("login_network", self.login_failures_by_network),
            ("login_user", self.login_failures_by_user),
        ):
            limits.attach(scope, tracker)
        limits.attach_trust("login_trust", self.login_trust)
        limits.attach_trust("device", self.device_trust)
        limits.load(store)
        self._hash_limiter = trio.CapacityLimiter(2)
        self._conn_ids = itertools.count(1)
        self._peers: set[Peer] = set()
        self._nursery: trio.Nursery | None = None
        #: Sees every byte the relay reads and writes, after TLS. For tests that prove the relay
        #: only ever handles ciphertext; nothing in the relay sets it, and no CLI option does.
        self.wiretap: Callable[[int, str, bytes], None] | None = None
        #: The HTTP side of the port (ALPN http/1.1): /ws, /healthz, /join/ID.
        self.web = WebFront(config, fingerprint)
        #: Address keys the operator banned (admin socket): refused at accept.
        self.bans: set[str] = {ban.address for ban in store.list_bans()}
        #: Counts for ``serve --metrics`` (relay.metrics); counts nothing otherwise.
        self.meter: Meter = NO_METER
        #: Updates dropped for slow members whose connections have ended (live ones: on the peer).
        self._dropped_closed = 0

    @property
    def fingerprint(self) -> str:
        """The pin of the certificate served now (join pages and ``relay.status`` show it)."""
        return self.web.fingerprint

    def certificate_reloaded(self, identity: ServerIdentity) -> None:
        """New handshakes now get ``identity``'s certificate: show its pin from now on."""
        self.web.fingerprint = identity.fingerprint

    def disconnect_address(self, key: str, message: str) -> int:
        """End every connection from address key ``key`` (a new ban); return how many."""
        peers = [peer for peer in self._peers if peer.address_key == key]
        for peer in peers:
            peer.disconnect(ErrorCode.NOT_ALLOWED, message)
        return len(peers)

    def set_meter(self, meter: Meter) -> None:
        """Count into ``meter`` from now on (the switchboard's join refusals too)."""
        self.meter = meter
        self.switchboard.meter = meter

    def connections_by_transport(self) -> dict[str, int]:
        """Open connections per carrier name, for the metrics gauge."""
        counts: dict[str, int] = {}
        for peer in self._peers:
            counts[peer.transport] = counts.get(peer.transport, 0) + 1
        return counts

    def dropped_total(self) -> int:
        """Updates dropped for slow members since start (ended connections and live ones)."""
        return self._dropped_closed + sum(peer.dropped_total for peer in self._peers)

    def statistics(self) -> RelayStatistics:
        sessions = self.switchboard.sessions.values()
        return RelayStatistics(
            connections=len(self._peers),
            sessions=len(sessions),
            members=sum(len(s.members) for s in sessions),
            bytes_relayed=self.switchboard.bytes_relayed,
            messages_relayed=self.switchboard.messages_relayed,
        )

    # -- background ------------------------------------------------------------------------------

    async def run_background(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            next_expiry = trio.current_time() + LIMITS_HOUSEKEEPING
            while True:
                await trio.sleep(min(5.0, self.config.join_timeout / 4))
                self.switchboard.sweep()
                if trio.current_time() >= next_expiry:
                    next_expiry = trio.current_time() + LIMITS_HOUSEKEEPING
                    self.switchboard.limits.expire()

    def _schedule(self, at: float, action: Callable[[], None]) -> None:
        """Run a switchboard ``action`` at trio time ``at`` (a paced answer to a joiner)."""

        async def later() -> None:
            asked = at - self._timer_lateness.advance()
            if asked > trio.current_time():
                await trio.sleep_until(asked)
                self._timer_lateness.record(asked, trio.current_time())
            try:
                action()
            except Exception:
                # Like a connection's bug (see handle): it costs that one answer, not the relay.
                log.exception("internal error in a paced answer to a joiner")

        assert self._nursery is not None
        self._nursery.start_soon(later)

    # -- one connection --------------------------------------------------------------------------

    async def handle(self, stream: trio.SSLStream[trio.SocketStream]) -> None:
        try:
            address = str(stream.transport_stream.socket.getpeername()[0])
        except OSError:
            await trio.aclose_forcefully(stream)
            return
        key = address_key(address)
        if key in self.bans:
            self.meter.refused("banned")
            await trio.aclose_forcefully(stream)
            return
        if not self.connections.try_acquire(key):
            self.meter.refused("too_many_connections")
            await self._refuse_connection(stream)
            return
        try:
            await self._serve_connection(stream, address, key)
        except Exception:
            # A bug while serving one connection must cost that connection only, never the
            # relay: log it (no message contents are in scope of a traceback's text) and move on.
            log.exception("internal error while serving a connection from %s", key)
        finally:
            self.connections.release(key)

    async def _serve_connection(
        self, stream: trio.SSLStream[trio.SocketStream], address: str, key: str
    ) -> None:
        # One deadline from accept for TLS, the HTTP request (WebSocket upgrade) *and*
        # Hello/Welcome, however slowly bytes arrive.
        accepted_at = trio.current_time()
        handshake_deadline = accepted_at + self.config.handshake_timeout
        tls_done = False
        with trio.move_on_at(handshake_deadline):
            try:
                await stream.do_handshake()
                tls_done = True
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        if not tls_done:
            await trio.aclose_forcefully(stream)
            return
        carrier = await self._open_carrier(stream, handshake_deadline)
        if carrier is None:
            return
        peer = Peer(
            next(self._conn_ids),
            address,
            key,
            max_frame=self.config.max_frame,
            queue_bytes=self.config.send_queue_bytes,
            queue_messages=self.config.send_queue_messages,
            droppable_age=self.config.droppable_max_age,
        )
        peer.transport = carrier.name
        peer.accepted_at = accepted_at
        self.meter.connected(carrier.name)
        self._peers.add(peer)
        try:
            with peer.cancel_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer, peer, carrier)
                    await self._reader(peer, carrier, handshake_deadline)
                    peer.cancel_scope.cancel()
        finally:
            self._peers.discard(peer)
            self._dropped_closed += peer.dropped_total
            self.switchboard.leave(peer, explicit=False)
            with trio.CancelScope(shield=True):
                await self._close(peer, carrier)

    async def _open_carrier(
        self, stream: trio.SSLStream[trio.SocketStream], handshake_deadline: float
    ) -> Carrier | None:
        """Choose by ALPN: porthole/1 is framed on the stream; http/1.1 (or no ALPN, as from
        plain HTTPS clients) goes to the web front, which answers one request and closes or
        upgrades /ws to a WebSocket carrier. Anything else, or framed with ``raw`` off: close."""
        alpn = stream.selected_alpn_protocol()
        if alpn == ALPN_PROTOCOL and self.config.raw:
            return StreamCarrier(stream)
        if alpn in (HTTP_ALPN, None):
            return await self.web.serve(stream, handshake_deadline)
        await trio.aclose_forcefully(stream)
        return None

    async def _refuse_connection(self, stream: trio.SSLStream[trio.SocketStream]) -> None:
        close = Close(
            code=ErrorCode.TOO_MANY_CONNECTIONS,
            message="Too many connections from your address; close some and try again.",
        )
        with (
            trio.move_on_after(2),
            contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
        ):
            await stream.send_all(encode_frame(close))
        await trio.aclose_forcefully(stream)

    async def _close(self, peer: Peer, carrier: Carrier) -> None:
        """Best effort: flush what is queued and say why we close, then close."""
        # A batch the writer took but was cancelled before writing comes first. (If part of it
        # went out, the TLS stream is broken and the send below fails: then we just close.)
        pending: list[bytes] = [peer.unsent] if peer.unsent else []
        while True:
            try:
                pending.append(peer.outbox.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        reason = peer.close_reason
        if reason is not None and peer.conn.state is not State.CLOSED:
            with contextlib.suppress(ProtocolError):
                pending.append(peer.conn.send(Close(code=reason.code, message=reason.message)))
        peer.close_outbox()
        with trio.move_on_after(1):
            try:
                if pending:
                    await carrier.send_all(b"".join(pending))
                await carrier.aclose()
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await carrier.aclose_forcefully()

    async def _writer(self, peer: Peer, carrier: Carrier) -> None:
        async for frame in peer.outbox:
            peer.took(frame)
            batch = [frame]
            size = len(frame)
            while size < WRITE_BATCH:
                try:
                    more = peer.outbox.receive_nowait()
                except trio.WouldBlock:
                    break
                peer.took(more)
                batch.append(more)
                size += len(more)
            if peer.dropped_unreported:
                batch.append(peer.conn.send(Dropped(count=min(peer.dropped_unreported, 2**32 - 1))))
                peer.dropped_unreported = 0
            payload = b"".join(batch)
            if self.wiretap is not None:
                self.wiretap(peer.conn_id, "out", payload)
            peer.unsent = payload
            with trio.move_on_after(self.config.write_timeout) as scope:
                try:
                    await carrier.send_all(payload)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    peer.cancel_scope.cancel()
                    return
            if scope.cancelled_caught:
                peer.disconnect(
                    ErrorCode.SLOW_CONSUMER, "Your connection stopped accepting data; disconnected."
                )
                return
            peer.unsent = b""

    async def _reader(
        self,
        peer: Peer,
        carrier: Carrier,
        handshake_deadline: float,
    ) -> None:
        conn = peer.conn
        cfg = self.config
        frame_started: float | None = None
        bucket = TokenBucket(cfg.control_rate, cfg.control_burst)
        while True:
            now = trio.current_time()
            if conn.state is State.AWAIT_HELLO:
                deadline, why = handshake_deadline, "The handshake took too long."
            else:
                deadline, why = now + cfg.idle_timeout, "Idle for too long."
            if frame_started is not None and frame_started + cfg.frame_timeout < deadline:
                deadline, why = frame_started + cfg.frame_timeout, "A message took too long."
            data: bytes | None = b""
            with trio.move_on_at(deadline) as scope:
                try:
                    # Framed bytes; None: a carrier unit (WebSocket message) is still coming.
                    data = await carrier.receive_some()
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                except RemoteProtocolError as exc:  # the carrier's own rules (WebSocket)
                    peer.disconnect(exc.code, exc.message)
                    return
            if scope.cancelled_caught:
                peer.disconnect(ErrorCode.TIMEOUT, why)
                return
            if self.wiretap is not None and data:
                self.wiretap(peer.conn_id, "in", data)
            try:
                if data is not None:
                    conn.receive_data(data)
                while True:
                    event = conn.next_event()
                    if event is NEED_DATA:
                        break
                    if event is CONNECTION_CLOSED:
                        return
                    assert isinstance(event, Message)
                    await self._dispatch(peer, event, bucket)
            except RemoteProtocolError as exc:
                peer.disconnect(exc.code, exc.message)
                return
            except _PeerClosed:
                return
            if conn.statistics().bytes_buffered or carrier.buffered:
                frame_started = frame_started if frame_started is not None else trio.current_time()
            else:
                frame_started = None

    async def _dispatch(self, peer: Peer, msg: Message, bucket: TokenBucket) -> None:
        if not isinstance(msg, Sealed | Ping | Pong) and not bucket.take(trio.current_time()):
            raise RemoteProtocolError(
                ErrorCode.RATE_LIMITED, "Too many requests too quickly; slow down."
            )
        sb = self.switchboard
        try:
            match msg:
                case Hello():
                    self.meter.handshake(peer.transport, trio.current_time() - peer.accepted_at)
                    peer.send(
                        Welcome(
                            relay_name=self.config.relay_name,
                            software=_software(),
                            max_frame=self.config.max_frame,
                            idle_timeout_s=max(1, int(self.config.idle_timeout)),
                        )
                    )
                case Ping(nonce=nonce):
                    peer.send(Pong(nonce=nonce))
                case Pong() | Error():
                    pass
                case Close():
                    raise _PeerClosed
                case Sealed():
                    sb.route(peer, msg)
                case Login():
                    await self._login(peer, msg)
                case CreateSession():
                    sb.create(peer, msg)
                case Join():
                    sb.join(peer, msg)
                case Challenge():
                    sb.challenge(peer, msg)
                case Confirm():
                    sb.confirm(peer, msg)
                case Admit():
                    sb.admit(peer, msg)
                case Reject():
                    sb.reject(peer, msg)
                case PairSealed():
                    sb.pair(peer, msg)
                case ActionRequest():
                    sb.action(peer, msg)
                case ConsentAnswer():
                    sb.consent_answer(peer, msg)
                case Leave():
                    sb.leave(peer, explicit=True)
                case _:
                    raise Refusal(
                        ErrorCode.UNEXPECTED_MESSAGE, f"{type(msg).__name__} is unexpected"
                    )
        except Refusal as refusal:
            self.meter.refused(refusal.code.name.lower())
            peer.send(Error(code=refusal.code, message=refusal.message, in_reply_to=msg.TYPE))

    async def _login(self, peer: Peer, msg: Login) -> None:
        if peer.username is not None:
            raise Refusal(ErrorCode.ALREADY_DONE, "This connection is already logged in.")
        now = trio.current_time()
        limits = self.switchboard.limits
        user = f"user:{msg.username.casefold()}"
        cookie = msg.device_token
        if cookie is not None and not limits.trusted("device", f"{user}\0{cookie.hex()}"):
            cookie = None  # unknown, expired, or another account's: worth nothing
        trusted = cookie is not None or limits.trusted("login_trust", f"{user}\0{peer.address_key}")
        # Failures count everywhere; they slow down only the source they came from, plus
        # (for a login nobody vouches for) its network and the account.
        trackers = (
            (self.login_failures, peer.address_key),
            (self.login_failures_by_network, network_key(peer.address)),
            (self.login_failures_by_user, user),
        )
        for tracker, key in trackers[:1] if trusted else trackers:
            verdict = tracker.check(key, now)
            if not verdict.allowed:
                seconds = max(1, round(verdict.retry_after))
                code = ErrorCode.LOCKED_OUT if verdict.locked_out else ErrorCode.RATE_LIMITED
                raise Refusal(code, f"Too many failed logins. Try again in {seconds} s.")
        async with self._hash_limiter:
            result = await trio.to_thread.run_sync(
                self.store.verify_login, msg.username, msg.password
            )
        if result is LoginCheck.OK:
            # Only this address's record is cleared: the account's and the network's keep
            # counting a guesser who may still be at it (the organizer no longer waits on them).
            self.login_failures.record_success(peer.address_key)
            limits.trust("login_trust", f"{user}\0{peer.address_key}")
            # A valid cookie is renewed, otherwise a new one issued: one per device.
            token = cookie if cookie is not None else secrets.token_bytes(DEVICE_TOKEN_SIZE)
            limits.trust("device", f"{user}\0{token.hex()}")
            peer.username = msg.username
            failed = self.login_failures_by_user.check(user, now).failures
            peer.send(LoginOk(username=msg.username, device_token=token, failed_logins=failed))
            return
        if result is LoginCheck.DISABLED:
            raise Refusal(
                ErrorCode.ACCOUNT_DISABLED,
                "This organizer account is disabled; ask the relay operator.",
            )
        now = trio.current_time()
        self.recorder.security_event(
            time.time(), SecurityEventKind.LOGIN_FAILED, peer.address_key, username=msg.username
        )
        for tracker, key in trackers:
            verdict = tracker.record_failure(key, now)
            if verdict.newly_locked:
                self.recorder.security_event(
                    time.time(),
                    SecurityEventKind.LOCKOUT,
                    peer.address_key,
                    username=msg.username,
                    # Not the typed name itself: it may be a password typed into the wrong
                    # field (the store keeps ``username`` only if it names an account).
                    detail="logins locked for the user name"
                    if key.startswith("user:")
                    else f"logins locked for {key}",
                )
            if tracker is self.login_failures_by_user and guessing_alarm(
                verdict.failures, self.config.guessing_alarm_after
            ):
                self.recorder.security_event(
                    time.time(),
                    SecurityEventKind.GUESSING,
                    peer.address_key,
                    username=msg.username,
                    detail=f"{verdict.failures} failed logins for the user name",
                )
        raise Refusal(ErrorCode.LOGIN_FAILED, "Wrong user name or password.")

    def end_all_sessions(self, message: str) -> None:
        self.switchboard.end_all(message)


async def serve_relay(
    config: RelayConfig,
    *,
    stop: trio.Event | None = None,
    task_status: trio.TaskStatus[RelayInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a relay until cancelled or until ``stop`` is set (then end sessions gracefully)."""
    if config.cert_path is not None and config.key_path is not None:
        cert_path, key_path = config.cert_path, config.key_path
    else:
        paths = ensure_certificate(config.data_dir)
        cert_path, key_path = paths.cert, paths.key
    alpn = (ALPN_PROTOCOL, HTTP_ALPN)
    identity = ReloadableIdentity(load_identity(cert_path, key_path, alpn), alpn)
    ssl_context = identity.listener_context
    fingerprint = identity.current.fingerprint
    store = RelayStore.open(
        config.data_dir,
        time_cost=config.argon2_time_cost,
        memory_cost=config.argon2_memory_cost,
    )
    try:
        listeners = await trio.open_ssl_over_tcp_listeners(
            config.port, ssl_context, host=config.host
        )
        port = _bound_port(listeners[0])
        recorder = Recorder(store)
        relay = Relay(config, store, recorder, fingerprint=fingerprint)
        for observer in config.observers:
            relay.switchboard.observers.append(observer)
            relay.recorder.observers.append(observer)
        async with trio.open_nursery() as nursery:
            await nursery.start(recorder.run)
            await nursery.start(relay.run_background)
            listen = f"[{config.host}]:{port}" if ":" in config.host else f"{config.host}:{port}"
            await nursery.start(
                partial(
                    serve_admin,
                    relay,
                    default_socket_path(config.data_dir),
                    listen=listen,
                    software=_software(),
                )
            )
            async with trio.open_nursery() as connections:
                await connections.start(trio.serve_listeners, relay.handle, listeners)
                info = RelayInfo(
                    config.host, port, fingerprint, relay, identity, identity.current.warnings
                )
                task_status.started(info)
                try:
                    if stop is None:
                        await trio.sleep_forever()
                    await stop.wait()
                    relay.end_all_sessions("The relay is shutting down.")
                    await trio.sleep(0.5)  # let writers flush the SessionEnded notices
                finally:
                    connections.cancel_scope.cancel()
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                relay.end_all_sessions("The relay is shutting down.")
                await recorder.wait_idle()
            nursery.cancel_scope.cancel()
    finally:
        store.close()


def _bound_port(listener: trio.SSLListener[trio.SocketStream]) -> int:
    transport = listener.transport_listener
    assert isinstance(transport, trio.SocketListener)
    port: int = transport.socket.getsockname()[1]
    return port
