"""The trio client library: connect, log in, create or join, then drive a session.

::

    async with open_relay_client("relay.example", 7443, pinned=fp) as client:
        await client.login("olga", password)
        session = await client.create_session(name="Olga", password="s3cret")
        async for event in session.events:
            ...

One reader task owns the channel's receive side: it answers pings, completes whatever request
is waiting for a reply (login, create, the join round trips) and hands everything else to the
current session. A keepalive task pings the relay well inside its idle timeout. Both live in the
nursery of :func:`open_relay_client`, so leaving the ``async with`` block ends them.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.client.channel import ChannelClosed
from core.client.relay_channel import RelayChannel
from core.client.session import AdmitPolicy, MemberSession, OrganizerSession, SessionBase
from core.crypto import (
    ChallengeValues,
    CryptoError,
    JoinerAdmission,
    WrongPassword,
    public_key_bytes,
)
from core.device_cookies import DeviceCookies
from core.errors import ErrorCode
from core.failures import Refused, UsageError
from core.protocol import Message
from core.protocol.messages import (
    Admit,
    Challenge,
    Confirm,
    CreateSession,
    Error,
    Join,
    Login,
    LoginOk,
    Ping,
    Pong,
    SessionCreated,
)
from core.protocol.names import display_name_problem

#: How often the session's clock runs: heartbeats are due once a second, verdicts within 5 s.
TICK_INTERVAL = 0.25


class RequestRefused(Refused):
    """The relay (or the organizer, through it) said no; ``code`` is stable, the text human."""

    def __init__(self, code: ErrorCode | None, message: str) -> None:
        super().__init__(message, code=code)


@dataclass(slots=True, eq=False)
class _Waiter:
    accepts: Callable[[Message], bool]
    done: trio.Event
    #: Set by the consumer once it has acted on the reply (e.g. attached a session), so the
    #: reader does not hand the *next* message to a session that does not exist yet.
    consumed: trio.Event
    reply: Message | None = None
    failure: ChannelClosed | None = None


class RelayClient:
    """A connection to a relay; create with :func:`open_relay_client`."""

    def __init__(self, channel: RelayChannel) -> None:
        self.channel = channel
        self.username: str | None = None
        #: Failed logins to our account the relay remembered when we logged in (anyone's).
        self.failed_logins = 0
        self.session: SessionBase | None = None
        self._waiters: list[_Waiter] = []
        self._closed: ChannelClosed | None = None
        self._ping_nonces = itertools.count(1)
        self._pending_consumption: _Waiter | None = None

    @property
    def fingerprint(self) -> str:
        return self.channel.identity.fingerprint

    # -- requests --------------------------------------------------------------------------------

    async def login(
        self, username: str, password: str, *, cookies: DeviceCookies | None = None
    ) -> None:
        """Log in as an organizer. With ``cookies``, present the device cookie this relay gave
        this account before (if any) and keep the new one it hands out (docs/design.md §7.3)."""
        fingerprint = self.fingerprint
        token = cookies.lookup(fingerprint, username) if cookies is not None else None
        msg = Login(username=username, password=password, device_token=token)
        reply = await self._request(msg, LoginOk)
        self._consumed(reply)
        self.username = username
        assert isinstance(reply, LoginOk)
        self.failed_logins = reply.failed_logins
        if cookies is not None and reply.device_token is not None:
            # A full disk or a read-only home must not cost the login: the cookie only spares
            # a wait next time.
            with contextlib.suppress(OSError, ValueError):
                await trio.to_thread.run_sync(
                    cookies.remember, fingerprint, username, reply.device_token
                )

    async def create_session(
        self,
        *,
        name: str,
        password: str = "",
        session_id: str | None = None,
        organizer_presents: bool = True,
        admit_policy: AdmitPolicy = AdmitPolicy.PASSWORD,
        identity: Ed25519PrivateKey | None = None,
    ) -> OrganizerSession:
        """Create a session as its organizer (requires :meth:`login`)."""
        self._require_no_session()
        _check_own_name(name)
        msg = CreateSession(
            requested_id=session_id,
            has_password=bool(password),
            organizer_name=name,
            organizer_presents=organizer_presents,
        )
        reply = await self._request(msg, SessionCreated)
        try:
            assert isinstance(reply, SessionCreated)
            self.session = OrganizerSession(
                self.channel,
                session_id=reply.session_id,
                name=name,
                password=password,
                admit_policy=admit_policy,
                identity_key=public_key_bytes(identity) if identity is not None else None,
            )
        finally:
            self._consumed(reply)
        return self.session

    async def join(
        self,
        session_id: str,
        *,
        name: str,
        password: str = "",
        identity: Ed25519PrivateKey | None = None,
    ) -> MemberSession:
        """Knock, prove the password, and wait to be admitted (possibly for a person's approval).

        With ``identity``, also prove holding that long-term key; the roster then carries its
        fingerprint (docs/design.md §4.3 step 7).

        Raises :class:`RequestRefused` with JOIN_REFUSED for a wrong password *or* an unknown
        session (they are indistinguishable by design), KNOCK_DECLINED, SESSION_LOCKED, etc.
        """
        self._require_no_session()
        _check_own_name(name)
        admission = JoinerAdmission(session_id, name, password, identity)
        values = admission.join_values
        join = Join(
            session_id=session_id,
            name=name,
            ephemeral_key=values.ephemeral_key,
            spake_message=values.spake_message,
            member_key=values.member_key,
        )
        challenge = await self._request(join, Challenge, also_reply_to=(Confirm.TYPE,))
        self._consumed(challenge)
        assert isinstance(challenge, Challenge)
        try:
            mac = admission.on_challenge(
                ChallengeValues(
                    peer_id=challenge.peer_id,
                    ephemeral_key=challenge.ephemeral_key,
                    spake_message=challenge.spake_message,
                    leader_key=challenge.leader_key,
                    signature=challenge.signature,
                )
            )
        except CryptoError as exc:
            raise RequestRefused(
                ErrorCode.JOIN_REFUSED, f"The session's answer did not verify: {exc.message}"
            ) from None
        admit = await self._request(
            Confirm(peer_id=challenge.peer_id, mac=mac, identity=admission.sealed_identity_proof),
            Admit,
            reply_type=Join.TYPE,
            also_reply_to=(Confirm.TYPE,),
        )
        try:
            assert isinstance(admit, Admit)
            try:
                membership = admission.on_grant(admit.sealed_grant)
            except WrongPassword:
                raise RequestRefused(
                    ErrorCode.JOIN_REFUSED, "Wrong session ID or password."
                ) from None
            except CryptoError as exc:
                raise RequestRefused(
                    ErrorCode.JOIN_REFUSED, f"The admission did not verify: {exc.message}"
                ) from None
            session = MemberSession(self.channel, admission, membership)
            self.session = session
        finally:
            self._consumed(admit)
        return session

    def _require_no_session(self) -> None:
        if self.session is not None and self.session.closed is None:
            raise RuntimeError("this client is already in a session")

    async def _request(
        self,
        msg: Message,
        expect: type[Message],
        *,
        reply_type: int | None = None,
        also_reply_to: tuple[int, ...] = (),
    ) -> Message:
        """Send ``msg`` and wait for ``expect`` or an ``Error`` in reply to it.

        The caller must call :meth:`_consumed` on the reply once it has acted on it.
        """
        if self._closed is not None:
            raise self._closed
        reply_types = {reply_type or msg.TYPE, *also_reply_to}

        def accepts(m: Message) -> bool:
            return isinstance(m, expect) or (isinstance(m, Error) and m.in_reply_to in reply_types)

        waiter = _Waiter(accepts=accepts, done=trio.Event(), consumed=trio.Event())
        self._waiters.append(waiter)
        try:
            await self.channel.send(msg)
            await waiter.done.wait()
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        if waiter.failure is not None:
            raise waiter.failure
        reply = waiter.reply
        assert reply is not None
        if isinstance(reply, Error):
            waiter.consumed.set()
            raise RequestRefused(reply.code, reply.message)
        self._pending_consumption = waiter
        return reply

    def _consumed(self, reply: Message) -> None:
        waiter = self._pending_consumption
        if waiter is not None and waiter.reply is reply:
            waiter.consumed.set()
            self._pending_consumption = None

    # -- background tasks -------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        try:
            while True:
                msg = await self.channel.receive()
                if isinstance(msg, Ping):
                    await self.channel.send(Pong(nonce=msg.nonce))
                    continue
                if isinstance(msg, Pong):
                    continue
                waiter = next((w for w in self._waiters if w.accepts(msg)), None)
                if waiter is not None:
                    self._waiters.remove(waiter)
                    waiter.reply = msg
                    waiter.done.set()
                    await waiter.consumed.wait()
                    continue
                if self.session is not None and self.session.closed is None:
                    await self.session._handle(msg)
        except ChannelClosed as closed:
            self._closed = closed
            for waiter in self._waiters:
                waiter.failure = closed
                waiter.done.set()
            self._waiters.clear()
            if self.session is not None:
                await self.session._connection_lost(closed.code, closed.message)

    async def _keepalive(self) -> None:
        interval = max(1.0, self.channel.identity.welcome.idle_timeout_s / 3)
        while True:
            await trio.sleep(interval)
            try:
                await self.channel.send(Ping(nonce=next(self._ping_nonces)))
            except ChannelClosed:
                return

    async def _tick_forever(self) -> None:
        """A few times a second, let the session send heartbeats and notice what is overdue
        (docs/design.md §3.3)."""
        while True:
            await trio.sleep(TICK_INTERVAL)
            session = self.session
            if session is None or session.closed is not None:
                continue
            try:
                await session._tick()
            except ChannelClosed:
                return
            except trio.ClosedResourceError:
                continue  # the session ended meanwhile (its events are closed)


def _check_own_name(name: str) -> None:
    """Refuse our own unusable display name here, before a knock the leader would refuse."""
    problem = display_name_problem(name)
    if problem is not None:
        raise UsageError(
            f"The display name {name!r} {problem}.",
            next_step="Pick another name with --name.",
        )
