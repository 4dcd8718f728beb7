"""Abuse against a real relay on loopback TLS: garbage, slowloris, slow readers, brute force.

Every test starts the production relay (:func:`relay.server.serve_relay`) with some limits
shrunk through ``make_config`` and attacks it over real sockets, while real clients run a live
session through the same relay. The attackers connect from 127.0.0.3 (Linux routes all of 127/8
to ``lo``), so the relay's per-address counters show exactly what the attacker holds, apart from
the honest clients on 127.0.0.1 and 127.0.0.2.

What the relay answers is decoded with the sans-IO :class:`~core.protocol.ClientConnection`, and
where the relay closes with a reason the test asserts the exact ``ErrorCode``.
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sessionkit
import trio
from relaykit import (
    ORGANIZER,
    ORGANIZER_PASSWORD,
    RunningRelay,
    running_relay,
)
from sessionkit import connect, next_event, round_trip

from core.client import MemberSession, OrganizerSession, RequestRefused
from core.client.events import (
    ContentReceived,
    EpochChanged,
    RosterChanged,
    SessionClosed,
    UpdatesDropped,
)
from core.client.session import SessionBase
from core.errors import ErrorCode, RemoteProtocolError
from core.protocol import (
    CONNECTION_CLOSED,
    NEED_DATA,
    ClientConnection,
    Message,
    RelayConnection,
)
from core.protocol.content import Chat, ContentMessage, Cursor, FileChunk, FrameUpdate
from core.protocol.framing import encode_frame
from core.protocol.messages import (
    PROTOCOL_NAME,
    Close,
    Error,
    Hello,
    Leave,
    Ping,
    Sealed,
    Welcome,
)
from core.protocol.wire import to_bytes
from core.tlspin import client_ssl_context
from relay.limits import BackoffPolicy
from relay.peer import Peer
from relay.store import SecurityEventKind

SESSION_PASSWORD = "tangerine-7"
ATTACKER = "127.0.0.3"
HONEST_ELSEWHERE = "127.0.0.2"
HELLO = Hello(protocol=PROTOCOL_NAME, software="attacker 0.0")
_FRAME_HEAD = struct.Struct(">IBH")  # length, version, type: the 7-byte frame prefix

#: What a relay closes a connection with when the bytes themselves are wrong.
BYTE_ERRORS = frozenset(
    {
        ErrorCode.MALFORMED,
        ErrorCode.TRUNCATED,
        ErrorCode.OVERSIZED,
        ErrorCode.UNKNOWN_TYPE,
        ErrorCode.UNSUPPORTED_VERSION,
        ErrorCode.UNEXPECTED_MESSAGE,
        ErrorCode.BAD_FIELD,
    }
)


# --------------------------------------------------------------------------------------------
# Harness


@pytest.fixture(autouse=True)
def relay_logs_no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No attack may reach the relay's "internal error" path: each is handled on purpose."""
    caplog.set_level(logging.WARNING, logger="porthole.relay")
    yield
    errors = [
        record
        for record in caplog.get_records("call")
        if record.name.startswith("porthole.relay") and record.levelno >= logging.ERROR
    ]
    assert not errors, "\n".join(logging.Formatter().format(record) for record in errors)


async def wait_until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    with trio.move_on_after(timeout):
        while not check():
            await trio.sleep(0.01)
        return
    raise AssertionError(f"timed out after {timeout} s waiting until {what}")


async def next_content(session: SessionBase, timeout: float = 10.0) -> ContentMessage:
    """The next decrypted content message for ``session`` (other events are skipped)."""
    event = await next_event(session, ContentReceived, timeout=timeout)
    return event.message


@asynccontextmanager
async def live_session(
    relay: RunningRelay,
) -> AsyncIterator[tuple[OrganizerSession, MemberSession]]:
    """An organizer and one member (from another address than the attacker's), chatting."""
    async with sessionkit.live_session(
        relay, SESSION_PASSWORD, member_address=HONEST_ELSEWHERE
    ) as pair:
        yield pair


def attacker_gone(relay: RunningRelay, honest_connections: int) -> Callable[[], bool]:
    """The relay holds nothing for the attacker: no connection slot, no peer, no member."""
    r = relay.info.relay

    def check() -> bool:
        stats = r.statistics()
        return (
            r.connections.count(ATTACKER) == 0
            and stats.connections == honest_connections
            and stats.members == honest_connections
        )

    return check


async def raw_tls(
    port: int, *, alpn: tuple[str, ...] = (PROTOCOL_NAME,)
) -> trio.SSLStream[trio.SocketStream]:
    """A TLS connection from the attacker's address that has said nothing yet."""
    tcp = await trio.open_tcp_stream("127.0.0.1", port, local_address=ATTACKER)
    stream = trio.SSLStream(tcp, client_ssl_context(alpn), server_hostname="127.0.0.1")
    await stream.do_handshake()
    return stream


async def read_until_closed(
    stream: trio.SSLStream[trio.SocketStream] | HandTLS, conn: ClientConnection
) -> list[Message]:
    """Everything the relay sends until it closes the connection, decoded."""
    received: list[Message] = []
    with trio.fail_after(5):
        while True:
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""  # closed without close_notify (or reset): still closed
            conn.receive_data(data)
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    break
                if event is CONNECTION_CLOSED:
                    return received
                assert isinstance(event, Message)
                received.append(event)


class HandTLS:
    """A TLS 1.3 client driven by hand over raw TCP, so a test decides what goes on the wire
    and when: dribble a ClientHello, or half-close with ``close_notify`` and keep reading."""

    def __init__(self, tcp: trio.SocketStream) -> None:
        self.tcp = tcp
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = client_ssl_context().wrap_bio(self._in, self._out)

    def client_hello(self) -> bytes:
        with contextlib.suppress(ssl.SSLWantReadError):
            self._tls.do_handshake()
        return self._out.read()

    async def _flush(self) -> None:
        data = self._out.read()
        if data:
            await self.tcp.send_all(data)

    async def handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            else:
                await self._flush()
                return
            await self._flush()
            data = await self.tcp.receive_some()
            if not data:
                raise trio.BrokenResourceError("the relay hung up during the handshake")
            self._in.write(data)

    async def send_all(self, plaintext: bytes) -> None:
        self._tls.write(plaintext)
        await self._flush()

    async def send_close_notify(self) -> None:
        """TLS EOF for our direction; the relay can still answer."""
        with contextlib.suppress(ssl.SSLWantReadError):
            self._tls.unwrap()
        await self._flush()

    async def receive_some(self, max_bytes: int) -> bytes:
        """Plaintext from the relay; ``b""`` once it closed."""
        while True:
            try:
                return self._tls.read(max_bytes)
            except ssl.SSLWantReadError:
                data = await self.tcp.receive_some()
                if not data:
                    return b""
                self._in.write(data)
            except ssl.SSLZeroReturnError:
                return b""


# --------------------------------------------------------------------------------------------
# 1. Garbage


def relay_verdict(data: bytes) -> ErrorCode:
    """The oracle: what the relay's sans-IO connection says about ``data`` from a client."""
    conn = RelayConnection()
    conn.receive_data(data)
    try:
        while (event := conn.next_event()) is not NEED_DATA:
            if isinstance(event, Hello):
                conn.send(Welcome(relay_name="r", software="s", max_frame=1024, idle_timeout_s=1))
    except RemoteProtocolError as exc:
        return exc.code
    raise AssertionError(f"{data[:16]!r}… is not garbage to a relay connection")


def frame_head(length: int, version: int, type_id: int) -> bytes:
    return _FRAME_HEAD.pack(length, version, type_id)


@dataclass(frozen=True, kw_only=True)
class Garbage:
    name: str = field(kw_only=False)
    data: bytes = field(kw_only=False)
    #: Whether ``data`` follows a valid Hello (the attacker then decodes a Welcome first).
    after_hello: bool = False
    #: The code of the relay's Close; None: ask the sans-IO oracle.
    expect: ErrorCode | None = None


def _random(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _hello_frame(body: bytes) -> bytes:
    """A correctly framed Hello around ``body``, whatever ``body`` is."""
    return frame_head(3 + len(body), 1, Hello.TYPE) + body


GARBAGE = [
    *(Garbage(f"random bytes #{seed}", _random(seed, 300 + 97 * seed)) for seed in range(4)),
    Garbage(
        "unknown message type",
        frame_head(3 + 4, 1, 999) + b"????",
        expect=ErrorCode.UNKNOWN_TYPE,
    ),
    Garbage("wrong version", frame_head(3 + 4, 2, Hello.TYPE) + b"\0" * 4),
    Garbage(
        "Hello for another protocol",
        encode_frame(Hello(protocol="porthole/2", software="future")),
        expect=ErrorCode.UNSUPPORTED_VERSION,
    ),
    Garbage("announces a 2 GiB frame", struct.pack(">I", 2**31), expect=ErrorCode.OVERSIZED),
    Garbage(
        "control message over its own limit",
        frame_head(3 + 70_000, 1, Hello.TYPE),
        expect=ErrorCode.OVERSIZED,
    ),
    Garbage(
        "frame shorter than its head", struct.pack(">I", 1) + b"\0", expect=ErrorCode.MALFORMED
    ),
    Garbage(
        "well-framed Hello with a random body",
        frame_head(3 + 40, 1, Hello.TYPE) + _random(99, 40),
    ),
    Garbage(
        "Hello that is not UTF-8",
        frame_head(3 + 8, 1, Hello.TYPE) + b"\x00\x04\xff\xfe\xfd\xfc\x00\x00",
        expect=ErrorCode.BAD_FIELD,
    ),
    Garbage(
        "Hello with bytes after its last field",
        _hello_frame(to_bytes(HELLO) + b"extra"),
        expect=ErrorCode.MALFORMED,
    ),
    Garbage(
        "Hello whose frame ends inside a field",
        _hello_frame(to_bytes(HELLO)[:-1]),
        expect=ErrorCode.TRUNCATED,
    ),
    Garbage("Ping before Hello", encode_frame(Ping(nonce=1)), expect=ErrorCode.UNEXPECTED_MESSAGE),
    Garbage(
        "a relay-only message from a client",
        encode_frame(Welcome(relay_name="me", software="x", max_frame=4096, idle_timeout_s=9)),
        expect=ErrorCode.UNEXPECTED_MESSAGE,
    ),
    Garbage("valid Hello, then random bytes", _random(7, 200), after_hello=True),
    Garbage(
        "valid Hello, then a second Hello",
        encode_frame(HELLO),
        after_hello=True,
        expect=ErrorCode.UNEXPECTED_MESSAGE,
    ),
    Garbage(
        "valid Hello, then a sealed message with a corrupt header",
        frame_head(3 + 200, 1, Sealed.TYPE) + _random(8, 200),
        after_hello=True,
    ),
    Garbage(
        "valid Hello, then a flood of control messages",
        encode_frame(Leave()) * 260,
        after_hello=True,
        expect=ErrorCode.RATE_LIMITED,
    ),
]


async def _throw_garbage(relay: RunningRelay, garbage: Garbage) -> None:
    """One attacker: connect, send the garbage, read the verdict."""
    stream = await raw_tls(relay.port)
    conn = ClientConnection()
    try:
        if garbage.after_hello:
            await stream.send_all(conn.send(HELLO))
            # Read the Welcome before sending garbage, so nothing of ours is unread.
            while (event := conn.next_event()) is NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            assert isinstance(event, Welcome)
        started = trio.current_time()
        await stream.send_all(garbage.data)
        received = await read_until_closed(stream, conn)
        elapsed = trio.current_time() - started
    finally:
        await trio.aclose_forcefully(stream)
    expect = garbage.expect or relay_verdict(conn_bytes(garbage))
    assert received, f"{garbage.name}: the relay closed without saying why"
    close = received[-1]
    assert isinstance(close, Close), f"{garbage.name}: last message was {close!r}"
    assert close.code is expect, f"{garbage.name}: {close}"
    assert close.message
    # Refused as soon as the bytes were wrong, not after some timeout.
    assert elapsed < 2.0, f"{garbage.name}: took {elapsed:.2f} s"
    if expect is ErrorCode.RATE_LIMITED:
        # Each message within the burst allowance was refused with its own Error first (the
        # Hello took one token), and those answers reached the attacker before the Close.
        refusals = [m for m in received if isinstance(m, Error)]
        assert len(refusals) >= relay.config.control_burst - 1, received[:3]
        assert all(m.code is ErrorCode.NOT_IN_SESSION for m in refusals)


def conn_bytes(garbage: Garbage) -> bytes:
    """Everything the attacker sent, for the oracle."""
    return (encode_frame(HELLO) if garbage.after_hello else b"") + garbage.data


async def test_garbage_is_closed_with_a_code_and_the_live_session_carries_on(
    tmp_path: Path,
) -> None:
    async with running_relay(tmp_path) as relay, live_session(relay) as (org, member):
        gone = attacker_gone(relay, honest_connections=2)
        for number, garbage in enumerate(GARBAGE):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_throw_garbage, relay, garbage)
                await round_trip(org, member, f"during attack {number}")
            await wait_until(gone, f"{garbage.name} is forgotten")
            await round_trip(org, member, f"after attack {number}")

        # Everything at once, while the session keeps talking.
        async with trio.open_nursery() as nursery:
            for garbage in GARBAGE:
                nursery.start_soon(_throw_garbage, relay, garbage)
            for number in range(5):
                await round_trip(org, member, f"during the volley {number}")
        await wait_until(gone, "the volley is forgotten")
        await round_trip(org, member, "after the volley")
        assert relay.info.relay.statistics().sessions == 1


async def test_garbage_below_the_porthole_protocol(tmp_path: Path) -> None:
    """Not TLS, the wrong ALPN, or a frame cut off by EOF: closed, nothing else happens."""
    async with running_relay(tmp_path) as relay, live_session(relay) as (org, member):
        gone = attacker_gone(relay, honest_connections=2)

        # Plain HTTP on the TLS port: the TLS handshake fails and the relay hangs up at once.
        tcp = await trio.open_tcp_stream("127.0.0.1", relay.port, local_address=ATTACKER)
        started = trio.current_time()
        await tcp.send_all(b"GET / HTTP/1.1\r\nHost: relay\r\n\r\n")
        with trio.fail_after(2), contextlib.suppress(trio.BrokenResourceError):
            while await tcp.receive_some():
                pass
        assert trio.current_time() - started < 1.0
        await tcp.aclose()
        await wait_until(gone, "the HTTP client is forgotten")
        await round_trip(org, member, "after HTTP")

        # TLS, but not porthole/1: closed before a single porthole byte. (Without ALPN the relay
        # reads an HTTP/1.1 request, as plain HTTPS clients send; an h2 client's connection
        # preface is not one, and is hung up on at once.)
        stream = await raw_tls(relay.port, alpn=("h2",))
        assert stream.selected_alpn_protocol() is None
        await stream.send_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert await read_until_closed(stream, ClientConnection()) == []
        await trio.aclose_forcefully(stream)
        await wait_until(gone, "the h2 client is forgotten")
        await round_trip(org, member, "after h2")

        # Half a Hello, then a TLS close_notify (EOF in the middle of a frame): TRUNCATED.
        hand = HandTLS(await trio.open_tcp_stream("127.0.0.1", relay.port, local_address=ATTACKER))
        await hand.handshake()
        await hand.send_all(encode_frame(HELLO)[:9])
        await round_trip(org, member, "while half a frame waits")
        await hand.send_close_notify()
        received = await read_until_closed(hand, ClientConnection())
        assert [(type(m), getattr(m, "code", None)) for m in received] == [
            (Close, ErrorCode.TRUNCATED)
        ]
        await hand.tcp.aclose()
        await wait_until(gone, "the truncating client is forgotten")

        # Half a Hello, then a bare TCP FIN (no close_notify): just closed.
        stream = await raw_tls(relay.port)
        await stream.send_all(encode_frame(HELLO)[:9])
        await stream.transport_stream.send_eof()
        assert await read_until_closed(stream, ClientConnection()) == []
        await trio.aclose_forcefully(stream)
        await wait_until(gone, "the FIN client is forgotten")
        await round_trip(org, member, "after the truncations")


# --------------------------------------------------------------------------------------------
# 2. Slowloris


async def _time_until_hangup(tcp: trio.SocketStream, started: float) -> float:
    """Seconds from ``started`` until the relay closes this raw TCP connection."""
    with trio.fail_after(10), contextlib.suppress(trio.BrokenResourceError):
        while await tcp.receive_some():
            pass
    return trio.current_time() - started


async def _dribble(send: Callable[[bytes], Awaitable[None]], data: bytes, interval: float) -> None:
    """Send ``data`` one byte every ``interval`` seconds until it is sent or the relay hangs up."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        for i in range(len(data)):
            await send(data[i : i + 1])
            await trio.sleep(interval)


async def test_slowloris_tls_handshake_is_cut_at_the_handshake_timeout(tmp_path: Path) -> None:
    timeout = 1.5
    async with (
        running_relay(tmp_path, handshake_timeout=timeout) as relay,
        live_session(relay) as (org, member),
    ):
        limiter = relay.info.relay.connections
        results: dict[str, float] = {}

        async def silent() -> None:
            tcp = await trio.open_tcp_stream("127.0.0.1", relay.port, local_address=ATTACKER)
            results["silent"] = await _time_until_hangup(tcp, trio.current_time())
            await tcp.aclose()

        async def dribbling() -> None:
            tcp = await trio.open_tcp_stream("127.0.0.1", relay.port, local_address=ATTACKER)
            started = trio.current_time()
            hello = HandTLS(tcp).client_hello()
            assert len(hello) > 100  # a real ClientHello: the dribble outlasts the timeout
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_dribble, tcp.send_all, hello, 0.05)
                results["dribbling"] = await _time_until_hangup(tcp, started)
                nursery.cancel_scope.cancel()
            await tcp.aclose()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(silent)
            nursery.start_soon(dribbling)
            await wait_until(lambda: limiter.count(ATTACKER) == 2, "both attackers hold a slot")
            while limiter.count(ATTACKER):
                await round_trip(org, member, "during the slow handshakes")
        for name, elapsed in results.items():
            assert timeout - 0.1 <= elapsed <= timeout + 0.8, f"{name}: hung up after {elapsed}"
        await wait_until(attacker_gone(relay, 2), "the slow handshakes are forgotten")
        await round_trip(org, member, "after the slow handshakes")


async def test_slowloris_hello_is_cut_at_the_handshake_deadline_counted_from_accept(
    tmp_path: Path,
) -> None:
    """The deadline covers TLS *and* Hello together, however slowly the bytes come."""
    timeout = 2.0
    async with (
        running_relay(
            tmp_path, handshake_timeout=timeout, idle_timeout=10.0, frame_timeout=10.0
        ) as relay,
        live_session(relay) as (org, member),
    ):
        results: dict[str, tuple[float, list[Message]]] = {}

        async def attacker(name: str, tls_after: float) -> None:
            tcp = await trio.open_tcp_stream("127.0.0.1", relay.port, local_address=ATTACKER)
            started = trio.current_time()
            await trio.sleep(tls_after)  # the TLS handshake itself is slow to start
            stream = trio.SSLStream(tcp, client_ssl_context(), server_hostname="127.0.0.1")
            await stream.do_handshake()
            conn = ClientConnection()
            hello = conn.send(Hello(protocol=PROTOCOL_NAME, software="slowloris " * 6))
            assert len(hello) * 0.1 > 2.5 * timeout  # the dribble outlasts two deadlines
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_dribble, stream.send_all, hello, 0.1)
                received = await read_until_closed(stream, conn)
                results[name] = (trio.current_time() - started, received)
                nursery.cancel_scope.cancel()
            await trio.aclose_forcefully(stream)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(attacker, "prompt TLS", 0.0)
            nursery.start_soon(attacker, "late TLS", 0.6 * timeout)
            for number in range(4):
                await trio.sleep(0.4)
                await round_trip(org, member, f"during the slow Hellos {number}")
        for name, (elapsed, received) in results.items():
            assert [(type(m), getattr(m, "code", None)) for m in received] == [
                (Close, ErrorCode.TIMEOUT)
            ], name
            assert isinstance(received[0], Close)
            assert received[0].message == "The handshake took too long."
            assert timeout - 0.1 <= elapsed <= timeout + 0.6, f"{name}: closed after {elapsed}"
        await wait_until(attacker_gone(relay, 2), "the slow Hellos are forgotten")
        await round_trip(org, member, "after the slow Hellos")


async def test_slowloris_frame_is_cut_at_the_frame_timeout_and_silence_at_idle(
    tmp_path: Path,
) -> None:
    frame_timeout, idle_timeout = 1.0, 2.0
    async with (
        running_relay(
            tmp_path, handshake_timeout=2.0, idle_timeout=idle_timeout, frame_timeout=frame_timeout
        ) as relay,
        live_session(relay) as (org, member),
    ):
        results: dict[str, tuple[float, list[Message]]] = {}

        async def attacker(name: str, frame: bytes) -> None:
            stream = await raw_tls(relay.port)
            conn = ClientConnection()
            await stream.send_all(conn.send(HELLO))
            while (event := conn.next_event()) is NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            assert isinstance(event, Welcome)
            started = trio.current_time()
            async with trio.open_nursery() as nursery:
                if frame:
                    await stream.send_all(frame[:7])  # announces the whole frame
                    # One byte every 0.2 s: never idle, but the frame never finishes.
                    nursery.start_soon(_dribble, stream.send_all, frame[7:], 0.2)
                received = await read_until_closed(stream, conn)
                results[name] = (trio.current_time() - started, received)
                nursery.cancel_scope.cancel()
            await trio.aclose_forcefully(stream)

        big = frame_head(3 + 1_000_000, 1, Sealed.TYPE) + bytes(1_000_000)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(attacker, "dribbled frame", big)
            nursery.start_soon(attacker, "silence", b"")
            for number in range(5):
                await trio.sleep(0.3)
                await round_trip(org, member, f"during the slow frame {number}")

        elapsed, received = results["dribbled frame"]
        assert received == [Close(code=ErrorCode.TIMEOUT, message="A message took too long.")]
        assert frame_timeout - 0.1 <= elapsed <= frame_timeout + 0.6
        elapsed, received = results["silence"]
        assert received == [Close(code=ErrorCode.TIMEOUT, message="Idle for too long.")]
        assert idle_timeout - 0.1 <= elapsed <= idle_timeout + 0.6
        await wait_until(attacker_gone(relay, 2), "the slow frames are forgotten")
        # The honest clients outlived both timeouts: their keepalive pings kept them.
        await round_trip(org, member, "after the slow frame")


# --------------------------------------------------------------------------------------------
# 3. A member that stops reading

TILES = bytes(200_000)  # sealed, so it is 200 kB of ciphertext on the wire whatever it holds


def frame(seq: int) -> FrameUpdate:
    return FrameUpdate(
        frame_seq=seq, keyframe=seq == 0, width=1280, height=800, captured_at_us=0, tiles=TILES
    )


@asynccontextmanager
async def three_members(
    relay: RunningRelay,
) -> AsyncIterator[tuple[OrganizerSession, MemberSession, MemberSession]]:
    """Organizer (presenting), a fast member and a slow one, everyone on the latest keys."""
    port, fp = relay.port, relay.fingerprint
    async with connect(port, fp) as oc, connect(port, fp) as fc, connect(port, fp) as sc:
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        fast = await fc.join(org.session_id, name="Fay", password=SESSION_PASSWORD)
        slow = await sc.join(org.session_id, name="Sol", password=SESSION_PASSWORD)
        await next_event(fast, EpochChanged, lambda e: e.epoch == org.epoch)
        await round_trip(org, fast, "ready")
        await round_trip(org, slow, "ready")
        yield org, fast, slow


def relay_peer(relay: RunningRelay, session: SessionBase) -> Peer:
    """The relay's view of a member's connection (public switchboard state)."""
    return relay.info.relay.switchboard.sessions[session.session_id].members[session.peer_id]


async def stop_reading(org: OrganizerSession, slow: MemberSession) -> None:
    """Make ``slow``'s client stop reading its socket, the way a hung program does.

    Nobody consumes ``slow.events``; once its buffer is full the client's reader task blocks
    handing over the next event and reads nothing more from the socket.
    """
    stats = slow.events.statistics
    for i in range(int(stats().max_buffer_size) + 40):
        await org.send_content(Chat(text=f"filler {i}"), recipient=slow.peer_id)
    await wait_until(lambda: stats().tasks_waiting_send == 1, "the slow reader is stuck")


async def send_in_step(
    org: OrganizerSession, fast: MemberSession, *messages: ContentMessage
) -> None:
    """Send to everyone and wait until the fast member has it all: it must get every one."""
    for message in messages:
        await org.send_content(message)
    for message in messages:
        got = await next_content(fast)
        assert got == message, f"the fast member got {got!r} instead of {message!r}"


async def test_slow_member_loses_only_droppable_updates_and_is_told(tmp_path: Path) -> None:
    async with (
        running_relay(tmp_path, send_queue_bytes=1_000_000) as relay,
        three_members(relay) as (org, fast, slow),
    ):
        slow_peer, fast_peer = relay_peer(relay, slow), relay_peer(relay, fast)
        await stop_reading(org, slow)

        # Screen updates until the slow member's queue overflows, and well beyond.
        sent = 0
        while slow_peer.dropped_total < 10:
            assert sent < 400, "the relay never dropped an update for the stalled member"
            await send_in_step(org, fast, frame(sent))
            sent += 1
        # Cursor moves (droppable too) until they are dropped as well: the queue is now as full
        # as droppable updates may make it.
        frames_dropped = slow_peer.dropped_total
        moves = 0
        while slow_peer.dropped_total < frames_dropped + 10:
            assert moves < 2000, "cursor moves were never dropped"
            await send_in_step(
                org, fast, *(Cursor(x=moves + i, y=0, visible=True) for i in range(16))
            )
            moves += 16
        assert fast_peer.dropped_total == 0
        assert slow_peer.close_reason is None

        # What cannot be dropped still reaches the member that is behind on the screen: a chat
        # to everyone, and a new member joining (a roster and a re-key).
        note = Chat(text="the slow member must still get this chat, it cannot be dropped")
        await send_in_step(org, fast, note)
        async with connect(relay.port, relay.fingerprint, local_address=HONEST_ELSEWHERE) as lc:
            late = await lc.join(org.session_id, name="Lev", password=SESSION_PASSWORD)
            await next_event(fast, EpochChanged, lambda e: e.epoch == org.epoch)
            await round_trip(org, late, "late joiner")
            assert slow_peer.close_reason is None, slow_peer.close_reason
            assert relay.info.relay.statistics().members == 4
            drops = slow_peer.dropped_total

            # The slow member resumes: it gets everything that was not dropped, in order, the
            # Dropped notice with the exact count, the chat and the new roster.
            frames_seen: list[int] = []
            moves_seen: list[int] = []
            told = 0
            got_note = got_roster = rekeyed = False
            with trio.fail_after(15):
                async for event in slow.events:
                    assert not isinstance(event, SessionClosed), event
                    if isinstance(event, ContentReceived):
                        message = event.message
                        if isinstance(message, FrameUpdate):
                            frames_seen.append(message.frame_seq)
                        elif isinstance(message, Cursor):
                            moves_seen.append(message.x)
                        got_note = got_note or message == note
                    elif isinstance(event, UpdatesDropped):
                        told += event.count
                    elif isinstance(event, RosterChanged):
                        got_roster = got_roster or len(event.roster.members) == 4
                    elif isinstance(event, EpochChanged):
                        rekeyed = rekeyed or event.epoch == org.epoch
                    if rekeyed and told >= drops:
                        break
            assert got_note
            assert got_roster
            assert told == drops == slow_peer.dropped_total > 0
            assert frames_seen == sorted(frames_seen)
            assert moves_seen == sorted(moves_seen)
            assert len(frames_seen) + len(moves_seen) + drops == sent + moves
            assert fast_peer.dropped_total == 0

            # And it is a full member again.
            await round_trip(org, slow, "back")
            await round_trip(slow, late, "back")


@pytest.mark.parametrize(
    ("limit", "why"),
    [
        ("queue", "Your connection is too slow to keep up with the session; disconnected."),
        ("write_timeout", "Your connection stopped accepting data; disconnected."),
    ],
)
async def test_slow_member_that_cannot_keep_up_is_disconnected_alone(
    tmp_path: Path, limit: str, why: str
) -> None:
    # "queue": only non-droppable content, which overflows the queue long before any write
    # times out. "write_timeout": only droppable content, which is dropped rather than queued,
    # so the stuck write is what gives out.
    write_timeout = 60.0 if limit == "queue" else 1.0
    async with (
        running_relay(tmp_path, send_queue_bytes=1_000_000, write_timeout=write_timeout) as relay,
        three_members(relay) as (org, fast, slow),
    ):
        slow_peer, fast_peer = relay_peer(relay, slow), relay_peer(relay, fast)
        await stop_reading(org, slow)
        sent = 0
        while slow_peer.close_reason is None:
            assert sent < 400, "the stalled member was never disconnected"
            if limit == "queue":
                message: ContentMessage = FileChunk(
                    file_id=1, attempt=0, offset=sent * 250_000, last=False, data=bytes(250_000)
                )
            else:
                message = frame(sent)
            await send_in_step(org, fast, message)
            sent += 1
            if slow_peer.dropped_total:
                await trio.sleep(0.02)  # behind already: let the stuck write time out
        assert slow_peer.close_reason.code is ErrorCode.SLOW_CONSUMER
        assert slow_peer.close_reason.message == why
        if limit == "write_timeout":
            assert slow_peer.dropped_total > 0  # it was behind, and dropped for, first

        # Only the slow member is gone; the session goes on, re-keyed, for the others.
        await wait_until(lambda: relay.info.relay.statistics().members == 2, "the slow member left")
        roster = await next_event(org, RosterChanged, lambda e: len(e.roster.members) == 2)
        assert slow.peer_id not in {m.peer_id for m in roster.roster.members}
        await next_event(fast, EpochChanged, lambda e: e.epoch == org.epoch)
        await round_trip(org, fast, "without the slow one")
        assert fast_peer.dropped_total == 0
        assert fast_peer.close_reason is None

        # When the stuck program wakes up, it learns its session is over.
        closed = await next_event(slow, SessionClosed, timeout=10)
        # The relay's Close cannot get past a half-written TLS record, so usually the client
        # only sees the connection drop.
        assert closed.code in (None, ErrorCode.SLOW_CONSUMER)
        stats = relay.info.relay.statistics()
        assert (stats.connections, stats.sessions, stats.members) == (2, 1, 2)


# --------------------------------------------------------------------------------------------
# 4. Brute force

#: Delays longer than the relay's pacing of a refusal (up to ~0.15 s after the failure is
#: counted), so a wait is still running when the refusal arrives.
JOIN_POLICY = BackoffPolicy(
    free_failures=3,
    window=60,
    base_delay=0.4,
    max_delay=0.8,
    lockout_after=8,
    lockout_duration=30,
)


async def test_join_brute_force_backs_off_then_locks_out_only_that_address(
    tmp_path: Path,
) -> None:
    async with (
        running_relay(tmp_path, join_failures_per_address=JOIN_POLICY) as relay,
        connect(relay.port, relay.fingerprint) as oa,
        connect(relay.port, relay.fingerprint) as ob,
    ):
        r = relay.info.relay
        tracker = r.switchboard.join_failures_by_address
        await oa.login(ORGANIZER, ORGANIZER_PASSWORD)
        await ob.login(ORGANIZER, ORGANIZER_PASSWORD)
        target = await oa.create_session(name="Olga", password=SESSION_PASSWORD)
        other = await ob.create_session(name="Olga", password=SESSION_PASSWORD)

        def random_id() -> str:
            while True:
                candidate = str(100_000_000 + secrets.randbelow(900_000_000))
                if candidate not in r.switchboard.sessions:
                    return candidate

        refused = 0
        waits: list[tuple[float, float]] = []
        locked: RequestRefused | None = None
        async with connect(relay.port, relay.fingerprint) as eve:  # from 127.0.0.1
            for attempt in range(30):
                guess = (
                    (target.session_id, f"guess-{attempt}")
                    if attempt % 2 == 0
                    else (random_id(), SESSION_PASSWORD)
                )
                started = trio.current_time()
                with pytest.raises(RequestRefused) as failed:
                    await eve.join(guess[0], name="Eve", password=guess[1])
                if failed.value.code is ErrorCode.LOCKED_OUT:
                    locked = failed.value
                    break
                assert failed.value.code is ErrorCode.JOIN_REFUSED, failed.value
                refused += 1
                verdict = tracker.check("127.0.0.1", trio.current_time())
                if refused < JOIN_POLICY.free_failures:
                    assert verdict.allowed, "a mistyped password or two costs nothing"
                    continue
                assert not verdict.allowed
                if verdict.locked_out:
                    continue  # the next attempt is refused LOCKED_OUT
                waits.append((verdict.retry_after, trio.current_time() - started))
                # Trying again right away is refused without a guess being spent.
                with pytest.raises(RequestRefused) as limited:
                    await eve.join(target.session_id, name="Eve", password="too-soon")
                assert limited.value.code is ErrorCode.RATE_LIMITED
                assert limited.value.message == (
                    "Too many failed attempts from your network address. Try again in 1 s."
                )
                await trio.sleep(tracker.check("127.0.0.1", trio.current_time()).retry_after)

        assert refused == JOIN_POLICY.lockout_after
        # The waits grow exponentially and are capped: 0.4, 0.8, 0.8, 0.8, 0.8 (seconds,
        # minus the moment between the failure and our look at the tracker: the failure is
        # counted when the verdict is made, and the refusal is paced after it, so at most the
        # whole attempt's duration earlier).
        expected = [0.4, 0.8, 0.8, 0.8, 0.8]
        assert len(waits) == len(expected)
        for (got, elapsed), want in zip(waits, expected, strict=True):
            assert want - elapsed - 0.01 < got <= want
        assert locked is not None
        assert locked.message.startswith(
            "Too many failed attempts from your network address; locked for 30 s."
        )
        # Locked means locked: even the right password from that address is refused, at once.
        async with connect(relay.port, relay.fingerprint) as eve:
            with pytest.raises(RequestRefused) as refused_anyway:
                await eve.join(target.session_id, name="Eve", password=SESSION_PASSWORD)
            assert refused_anyway.value.code is ErrorCode.LOCKED_OUT

        # Someone on another address joins both sessions and talks: the lockout is per address,
        # and the attacked session was not locked for everyone.
        async with (
            connect(relay.port, relay.fingerprint, local_address=HONEST_ELSEWHERE) as ac,
            connect(relay.port, relay.fingerprint, local_address=HONEST_ELSEWHERE) as bc,
        ):
            in_other = await bc.join(other.session_id, name="Ana", password=SESSION_PASSWORD)
            await round_trip(other, in_other, "other session")
            in_target = await ac.join(target.session_id, name="Ana", password=SESSION_PASSWORD)
            await round_trip(target, in_target, "attacked session")

        # The security log tells the operator what happened.
        await r.recorder.wait_idle()
        failures = r.store.list_security_events(kind=SecurityEventKind.JOIN_FAILED, limit=None)
        assert len(failures) == JOIN_POLICY.lockout_after
        assert {e.address for e in failures} == {"127.0.0.1"}
        assert (
            sorted(e.detail for e in failures) == ["unknown session"] * 4 + ["wrong_password"] * 4
        )
        lockouts = r.store.list_security_events(kind=SecurityEventKind.LOCKOUT, limit=None)
        assert [(e.address, e.detail) for e in lockouts] == [
            ("127.0.0.1", "joins locked for 127.0.0.1")
        ]
        # Ana's two connections are gone once the relay has read their goodbyes (a send does
        # not wait for the relay, which runs in this same trio loop).
        await wait_until(lambda: r.statistics().members == 2, "Ana's connections left")
        assert r.statistics().sessions == 2


LOGIN_POLICY = BackoffPolicy(
    free_failures=3, window=60, base_delay=0.1, max_delay=0.4, lockout_after=6, lockout_duration=30
)


async def test_organizer_password_guessing_backs_off_then_locks_out(tmp_path: Path) -> None:
    other_account = ("pavel", "quiet-harbour-Fig-31")
    async with running_relay(
        tmp_path,
        accounts=(other_account,),
        login_failures=LOGIN_POLICY,
        login_failures_per_user=LOGIN_POLICY,
    ) as relay:
        r = relay.info.relay
        codes: list[ErrorCode | None] = []
        async with connect(relay.port, relay.fingerprint, local_address=ATTACKER) as mallory:
            for attempt in range(40):
                with pytest.raises(RequestRefused) as refused:
                    await mallory.login(ORGANIZER, f"wrong-password-{attempt}")
                codes.append(refused.value.code)
                if refused.value.code is ErrorCode.LOCKED_OUT:
                    assert refused.value.message == "Too many failed logins. Try again in 30 s."
                    break
                if refused.value.code is ErrorCode.RATE_LIMITED:
                    assert refused.value.message == "Too many failed logins. Try again in 1 s."
                    verdict = r.login_failures.check(ATTACKER, trio.current_time())
                    await trio.sleep(verdict.retry_after)
            # The right password from the locked address is refused too.
            with pytest.raises(RequestRefused) as refused:
                await mallory.login(ORGANIZER, ORGANIZER_PASSWORD)
            assert refused.value.code is ErrorCode.LOCKED_OUT
        wrong = [c for c in codes if c is ErrorCode.LOGIN_FAILED]
        assert len(wrong) == LOGIN_POLICY.lockout_after
        assert codes[: LOGIN_POLICY.free_failures] == [ErrorCode.LOGIN_FAILED] * 3
        assert ErrorCode.RATE_LIMITED in codes
        assert codes[-1] is ErrorCode.LOCKED_OUT

        # Another organizer from another address logs in and runs a session meanwhile.
        async with (
            connect(relay.port, relay.fingerprint, local_address=HONEST_ELSEWHERE) as pc,
            connect(relay.port, relay.fingerprint, local_address=HONEST_ELSEWHERE) as ac,
        ):
            await pc.login(*other_account)
            pavel = await pc.create_session(name="Pavel", password=SESSION_PASSWORD)
            ana = await ac.join(pavel.session_id, name="Ana", password=SESSION_PASSWORD)
            await round_trip(pavel, ana, "organizer elsewhere")

        await r.recorder.wait_idle()
        failed = r.store.list_security_events(kind=SecurityEventKind.LOGIN_FAILED, limit=None)
        assert len(failed) == LOGIN_POLICY.lockout_after
        assert {(e.address, e.username) for e in failed} == {(ATTACKER, ORGANIZER)}
        lockouts = r.store.list_security_events(kind=SecurityEventKind.LOCKOUT, limit=None)
        # The per-user lockout names the user in its own field (kept because the account
        # exists), never in the detail: a typed name may be a password in the wrong field.
        assert sorted((e.detail, e.username) for e in lockouts) == [
            (f"logins locked for {ATTACKER}", ORGANIZER),
            ("logins locked for the user name", ORGANIZER),
        ]
        assert {e.address for e in lockouts} == {ATTACKER}
