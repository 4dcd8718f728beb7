"""Every path to the relay's one TLS port, with real clients against a real relay on loopback.

* framed TLS (ALPN ``porthole/1``), WebSocket over TLS (ALPN ``http/1.1``, ``/ws``) and the same
  WebSocket through tinyproxy (HTTP CONNECT): a whole session on each (create, join, chat, a
  frame update, remote control granted by consent and an input event that arrives decrypted);
* ``auto`` falls back to the WebSocket when framed TLS is closed (``raw=False``, as
  ``porthole-relay serve --no-raw``), quickly, and says so;
* a wrong pin fails on every path with the same error, and ``auto`` does not fall back past it;
* the HTTP side: ``/healthz``, ``/join/ID`` (escaped, the same page for any well-formed ID),
  and garbage, oversized headers, a WebSocket text message, an invalid payload or an oversized
  message each closed while a live session over the WebSocket carries on.

For the proxy path, tinyproxy binds its outgoing connections to 127.0.0.5, so the relay's own
connection accounting shows the session's connections came from the proxy, and tinyproxy's log
shows the CONNECTs.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
import secrets
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
import trio
from proxykit import Tinyproxy, tinyproxy
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay, add_account, make_config
from sessionkit import next_event, round_trip
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import WebSocketURI

from core.client import (
    MemberSession,
    OrganizerSession,
    RelayClient,
    RelayUnreachable,
    open_relay_client,
)
from core.client.channel import open_channel
from core.client.events import ConsentRequested, ContentReceived, RosterChanged
from core.client.transport import PATHS, PathName, Transport
from core.errors import ErrorCode
from core.protocol import NEED_DATA, ClientConnection, Message
from core.protocol.content import FrameUpdate, InputEvent, InputKind
from core.protocol.framing import encode_frame
from core.protocol.messages import PROTOCOL_NAME, ActionCode, Close, Hello, Welcome
from core.tlspin import FingerprintMismatch, client_ssl_context
from relay.server import serve_relay
from relay.tls import ensure_certificate

SESSION_PASSWORD = "tangerine-7"
PROXY_BIND = "127.0.0.5"
ATTACKER = "127.0.0.3"
HELLO = Hello(protocol=PROTOCOL_NAME, software="test 0.0")


@pytest.fixture(autouse=True)
def relay_logs_no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Nothing here may reach the relay's "internal error" path (or websockets' own errors)."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [
        record
        for record in caplog.get_records("call")
        if record.name.startswith(("porthole.relay", "websockets"))
        and record.levelno >= logging.ERROR
    ]
    assert not errors, "\n".join(logging.Formatter().format(record) for record in errors)


@asynccontextmanager
async def running_relay(tmp_path: Path, **overrides: object) -> AsyncIterator[RunningRelay]:
    data_dir = tmp_path / "relay-data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    config = make_config(data_dir, **overrides)
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        info = await nursery.start(partial(serve_relay, config, stop=stop))
        try:
            yield RunningRelay(info, config, nursery, stop)
            # Let the relay see every client go before it is cancelled (a session ended by
            # cancellation races the records writer's shutdown; see the report).
            with trio.move_on_after(5):
                while info.relay.statistics().connections:
                    await trio.sleep(0.01)
        finally:
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def client_on(
    relay: RunningRelay,
    path: PathName,
    proxy: Tinyproxy | None = None,
    *,
    pinned: str | None = None,
    local_address: str | None = None,
) -> AsyncIterator[RelayClient]:
    """A real client that must take ``path`` (never the environment's proxy settings)."""
    transport: Transport = "tls" if path == "tls" else "wss"
    async with open_relay_client(
        "127.0.0.1",
        relay.port,
        pinned=pinned or relay.fingerprint,
        local_address=local_address,
        transport=transport,
        proxy=proxy.url if proxy is not None and path == "wss+proxy" else "",
    ) as client:
        assert client.channel.identity.transport == path
        yield client


@asynccontextmanager
async def live_session(
    relay: RunningRelay, path: PathName, proxy: Tinyproxy | None = None
) -> AsyncIterator[tuple[OrganizerSession, MemberSession]]:
    async with (
        client_on(relay, path, proxy) as oc,
        client_on(relay, path, proxy, local_address="127.0.0.2") as mc,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        member = await mc.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
        await round_trip(org, member, "before")
        yield org, member


# --------------------------------------------------------------------------------------------
# 1. A whole session on each path


@pytest.mark.parametrize("path", PATHS)
async def test_a_whole_session_with_remote_control_on_each_path(
    path: PathName, tmp_path: Path
) -> None:
    # Framed TLS stays on only for the framed path: the WebSocket paths run against a relay
    # that refuses it, as behind a middlebox that lets only HTTPS through.
    async with running_relay(tmp_path, raw=path == "tls") as relay:
        with _proxy_for(tmp_path, relay) if path == "wss+proxy" else _no_proxy() as proxy:
            async with live_session(relay, path, proxy) as (org, member):
                # A big frame update (several TLS records, a 64-bit WebSocket length).
                update = FrameUpdate(
                    frame_seq=1,
                    keyframe=True,
                    width=1280,
                    height=800,
                    captured_at_us=1,
                    tiles=secrets.token_bytes(1_500_000),
                )
                await org.send_content(update)
                got = await next_event(member, ContentReceived, lambda e: e.sender == org.peer_id)
                assert got.message == update

                # Remote control: the member asks, the presenter (the organizer) consents.
                await member.request(ActionCode.REQUEST_CONTROL)
                ask = await next_event(
                    org, ConsentRequested, lambda e: e.action is ActionCode.REQUEST_CONTROL
                )
                await org.answer_consent(ask.consent_id, granted=True)
                await next_event(
                    member, RosterChanged, lambda e: e.roster.controller == member.peer_id
                )
                key = InputEvent(
                    kind=InputKind.KEY_DOWN,
                    x=640,
                    y=400,
                    button=0,
                    wheel_dx=0,
                    wheel_dy=0,
                    modifiers=0,
                    key="a",
                    text="",
                )
                await member.send_content(key, recipient=org.peer_id)
                typed = await next_event(
                    org, ContentReceived, lambda e: isinstance(e.message, InputEvent)
                )
                assert typed.message == key
                assert typed.sender == member.peer_id
                await round_trip(org, member, "after control")

                connections = relay.info.relay.connections
                if path == "wss+proxy":
                    # The relay saw both clients only as the proxy's outgoing address.
                    assert connections.count(PROXY_BIND) == 2
                    assert connections.count("127.0.0.1") == connections.count("127.0.0.2") == 0
                    assert proxy is not None
                    target = f"127.0.0.1:{relay.port}"
                    assert proxy.connect_requests() == [target, target]
                else:
                    assert connections.count("127.0.0.1") == connections.count("127.0.0.2") == 1
                wanted = "tls" if path == "tls" else "wss"
                assert {p.transport for p in relay.info.relay._peers} == {wanted}


@contextlib.contextmanager
def _proxy_for(tmp_path: Path, relay: RunningRelay) -> Iterator[Tinyproxy | None]:
    with tinyproxy(tmp_path, connect_ports=[relay.port], bind=PROXY_BIND) as proxy:
        yield proxy


@contextlib.contextmanager
def _no_proxy() -> Iterator[Tinyproxy | None]:
    yield None


# --------------------------------------------------------------------------------------------
# 2. Automatic fallback


async def test_auto_uses_framed_tls_when_it_is_open(tmp_path: Path) -> None:
    async with running_relay(tmp_path) as relay:
        channel = await open_channel(
            "127.0.0.1", relay.port, pinned=relay.fingerprint, transport="auto", proxy=""
        )
        try:
            assert channel.identity.transport == "tls"
            print(f"\nauto, framed TLS open: path tls in {channel.identity.connect_ms:.1f} ms")
        finally:
            await channel.aclose()


async def test_auto_falls_back_to_the_websocket_when_framed_tls_is_refused(
    tmp_path: Path,
) -> None:
    async with running_relay(tmp_path, raw=False) as relay:
        # Framed TLS on its own is refused outright...
        with pytest.raises(RelayUnreachable):
            await open_channel("127.0.0.1", relay.port, pinned=relay.fingerprint, transport="tls")
        # ...and auto moves on to the WebSocket at once, and says which path it took.
        times = []
        for _ in range(5):
            started = trio.current_time()
            async with open_relay_client(
                "127.0.0.1", relay.port, pinned=relay.fingerprint, transport="auto", proxy=""
            ) as client:
                identity = client.channel.identity
                assert identity.transport == "wss"
                assert identity.transport_description == "WebSocket over TLS"
                assert 0 < identity.connect_ms <= (trio.current_time() - started) * 1000
                times.append(identity.connect_ms)
                await client.login(ORGANIZER, ORGANIZER_PASSWORD)
        assert max(times) < 3000, "the fallback must not wait for a timeout"
        shown = ", ".join(f"{t:.1f}" for t in times)
        print(f"\nauto fallback to wss against raw=False: connect_ms = {shown}")


async def test_a_refusing_proxy_is_reported_in_a_sentence(tmp_path: Path) -> None:
    async with running_relay(tmp_path, raw=False) as relay:
        other_port = relay.port + 1 if relay.port < 65535 else 1
        with (
            tinyproxy(tmp_path, connect_ports=[other_port]) as proxy,
            pytest.raises(RelayUnreachable) as refused,
        ):
            await open_channel(
                "127.0.0.1", relay.port, pinned=relay.fingerprint, transport="wss", proxy=proxy.url
            )
        assert f"the proxy at 127.0.0.1:{proxy.port} refused the tunnel" in str(refused.value)
        assert "403" in str(refused.value)


# --------------------------------------------------------------------------------------------
# 3. Pinning on every path


async def test_a_wrong_pin_fails_the_same_way_on_every_path_and_stops_auto(
    tmp_path: Path,
) -> None:
    impostor_pin = ensure_certificate(tmp_path / "impostor").fingerprint
    for raw in (True, False):
        async with running_relay(tmp_path / f"raw-{raw}", raw=raw) as relay:
            assert impostor_pin != relay.fingerprint
            inbound: list[bytes] = []

            def tap(_conn_id: int, way: str, data: bytes, inbound: list[bytes] = inbound) -> None:
                if way == "in":
                    inbound.append(data)

            relay.info.relay.wiretap = tap
            with tinyproxy(tmp_path / f"raw-{raw}", connect_ports=[relay.port]) as proxy:
                attempts: list[tuple[Transport, str]] = [
                    ("tls", ""),
                    ("wss", ""),
                    ("wss", proxy.url),
                    ("auto", proxy.url),
                ]
                messages = set()
                for transport, proxy_url in attempts:
                    # (Without raw, framed TLS still completes the TLS handshake before the
                    # relay hangs up: the pin is checked, and fails, on that path too.)
                    with pytest.raises(FingerprintMismatch) as mismatch:
                        await open_channel(
                            "127.0.0.1",
                            relay.port,
                            pinned=impostor_pin,
                            transport=transport,
                            proxy=proxy_url,
                        )
                    messages.add(str(mismatch.value))
                # One and the same sentence whatever the path.
                assert len(messages) == 1, messages
                (message,) = messages
                assert message.startswith("relay certificate fingerprint mismatch: expected ")
                assert f"the relay at 127.0.0.1:{relay.port} presented" in message
                # auto stopped at the first path: it never went on to the proxy, and only the
                # explicit proxy attempt (the third) asked tinyproxy for a tunnel.
                assert proxy.connect_requests() == [f"127.0.0.1:{relay.port}"]
                # Not one byte of ours reached the relay inside TLS (no Hello, no upgrade).
                assert inbound == []
                with trio.fail_after(5):
                    while relay.info.relay.statistics().connections:
                        await trio.sleep(0.01)


# --------------------------------------------------------------------------------------------
# 4. The HTTP side: /healthz and /join/ID


async def https(
    port: int, request: bytes, *, alpn: tuple[str, ...] | None = ("http/1.1",)
) -> tuple[int, dict[str, str], bytes]:
    """One request over TLS from the attacker's address; the relay closes after answering."""
    context = client_ssl_context(alpn) if alpn is not None else _no_alpn_context()
    tcp = await trio.open_tcp_stream("127.0.0.1", port, local_address=ATTACKER)
    stream = trio.SSLStream(tcp, context, server_hostname="127.0.0.1")
    answer = bytearray()
    with trio.fail_after(5):
        await stream.send_all(request)
        with contextlib.suppress(trio.BrokenResourceError):
            while data := await stream.receive_some(65536):
                answer += data
    await trio.aclose_forcefully(stream)
    head, _, body = bytes(answer).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def _no_alpn_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def get(path: str, host: str = "127.0.0.1", method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: test\r\n\r\n".encode()


async def test_healthz_and_the_join_page(tmp_path: Path) -> None:
    async with (
        running_relay(tmp_path, raw=False) as relay,
        live_session(relay, "wss") as (org, member),
    ):
        status, headers, body = await https(relay.port, get("/healthz"))
        assert (status, body) == (200, b"ok\n")
        assert headers["connection"] == "close"
        # A TLS client without ALPN (some load balancers' health checks) is served too.
        status, _, body = await https(relay.port, get("/healthz"), alpn=None)
        assert (status, body) == (200, b"ok\n")
        status, _, body = await https(relay.port, get("/healthz", method="HEAD"))
        assert (status, body) == (200, b"")

        # The join page: command and link for the ID, with the relay's pin.
        host = f"relay.example:{relay.port}"
        status, headers, page = await https(relay.port, get(f"/join/{org.session_id}", host))
        assert status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in headers["content-security-policy"]
        text = html.unescape(page.decode())
        link = f"porthole://{host}/{org.session_id}?fp={relay.fingerprint}"
        assert f"porthole join '{link}'" in text
        assert f'href="{link}"' in text

        # No existence oracle: any well-formed ID gets the very same page.
        other = "123456789" if org.session_id != "123456789" else "987654321"
        _, _, other_page = await https(relay.port, get(f"/join/{other}", host))
        assert other_page.replace(other.encode(), b"ID").replace(
            f"{other[:3]} {other[3:6]} {other[6:]}".encode(), b"SID"
        ) == page.replace(org.session_id.encode(), b"ID").replace(
            f"{org.session_id[:3]} {org.session_id[3:6]} {org.session_id[6:]}".encode(), b"SID"
        )

        # A Host header that is not a plain host name is not reflected at all.
        status, _, page = await https(
            relay.port, get(f"/join/{other}", host="<script>alert(1)</script>")
        )
        assert status == 200
        assert b"<script" not in page
        assert f"porthole://127.0.0.1:{relay.port}/{other}".encode() in page

        for path, expected in (
            ("/join/012345678", 404),
            ("/join/12345", 404),
            ("/join/1234567890", 404),
            ("/", 404),
            ("/ws", 426),  # a WebSocket endpoint, asked without the upgrade
        ):
            status, _, _ = await https(relay.port, get(path))
            assert status == expected, path
        status, headers, _ = await https(relay.port, get("/healthz", method="DELETE"))
        assert status == 405
        await round_trip(org, member, "after the pages")
        assert relay.info.relay.connections.count(ATTACKER) == 0


# --------------------------------------------------------------------------------------------
# 5. Abuse on the HTTP side, while a session over the WebSocket carries on


async def _closed_without_answer(port: int, data: bytes) -> bytes:
    tcp = await trio.open_tcp_stream("127.0.0.1", port, local_address=ATTACKER)
    stream = trio.SSLStream(tcp, client_ssl_context(("http/1.1",)), server_hostname="x")
    answer = bytearray()
    with trio.fail_after(5):
        await stream.send_all(data)
        with contextlib.suppress(trio.BrokenResourceError):
            while chunk := await stream.receive_some(65536):
                answer += chunk
    await trio.aclose_forcefully(stream)
    return bytes(answer)


class RawWebSocket:
    """A WebSocket client driven by hand (websockets sans-I/O), from the attacker's address."""

    def __init__(self, stream: trio.SSLStream[trio.SocketStream], protocol: ClientProtocol):
        self.stream = stream
        self.protocol = protocol
        self.conn = ClientConnection()

    @classmethod
    async def open(cls, port: int) -> RawWebSocket:
        tcp = await trio.open_tcp_stream("127.0.0.1", port, local_address=ATTACKER)
        stream = trio.SSLStream(tcp, client_ssl_context(("http/1.1",)), server_hostname="x")
        uri = WebSocketURI(secure=True, host="127.0.0.1", port=port, path="/ws", query="")
        protocol = ClientProtocol(uri, max_size=None)
        protocol.send_request(protocol.connect())
        await stream.send_all(b"".join(protocol.data_to_send()))
        while True:
            protocol.receive_data(bytes(await stream.receive_some(65536)))
            events = protocol.events_received()
            if events:
                assert isinstance(events[0], Response)
                assert events[0].status_code == 101
                return cls(stream, protocol)

    async def send_message(self, msg: Message) -> None:
        """A porthole message the honest way: its payload as one binary message."""
        await self.send_frame(Frame(Opcode.BINARY, self.conn.send(msg)[4:]))

    async def send_frame(self, frame: Frame) -> None:
        self.protocol.send_frame(frame)
        await self.stream.send_all(b"".join(self.protocol.data_to_send()))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def until_closed(self) -> tuple[list[Message], int | None]:
        """Every porthole message the relay sent until it closed, and the WebSocket close code."""
        received: list[Message] = []
        with trio.fail_after(5):
            while True:
                try:
                    data = bytes(await self.stream.receive_some(65536))
                except trio.BrokenResourceError:
                    data = b""
                if data:
                    self.protocol.receive_data(data)
                else:
                    self.protocol.receive_eof()
                for event in self.protocol.events_received():
                    if isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                        self.conn.receive_data(len(event.data).to_bytes(4, "big") + event.data)
                        while (msg := self.conn.next_event()) is not NEED_DATA:
                            assert isinstance(msg, Message)
                            received.append(msg)
                if not data:
                    break
        await trio.aclose_forcefully(self.stream)
        close = self.protocol.close_rcvd
        return received, None if close is None else int(close.code)


async def test_http_and_websocket_abuse_is_closed_while_a_session_carries_on(
    tmp_path: Path,
) -> None:
    async with (
        running_relay(tmp_path, raw=False, handshake_timeout=2.0) as relay,
        live_session(relay, "wss") as (org, member),
    ):

        def attacker_gone() -> bool:
            r = relay.info.relay
            return r.connections.count(ATTACKER) == 0 and r.statistics().connections == 2

        async def settle(what: str) -> None:
            with trio.fail_after(5):
                while not attacker_gone():
                    await trio.sleep(0.01)
            await round_trip(org, member, f"after {what}")

        # Garbage instead of an HTTP request: hung up on without a word.
        assert await _closed_without_answer(relay.port, b"\x00\x01garbage\r\n\r\n") == b""
        await settle("garbage")

        # An oversized request head: 431, then closed.
        huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n"
        answer = await _closed_without_answer(relay.port, huge)
        assert answer.startswith(b"HTTP/1.1 431 ")
        await settle("oversized headers")

        # A request body (not allowed anywhere): closed.
        body = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        assert await _closed_without_answer(relay.port, body) == b""
        await settle("a request body")

        # Silence after TLS: closed at the handshake deadline.
        started = trio.current_time()
        assert await _closed_without_answer(relay.port, b"") == b""
        assert 1.5 < trio.current_time() - started < 4
        await settle("silence")

        # A WebSocket text message: Close(MALFORMED), then the WebSocket closes.
        ws = await RawWebSocket.open(relay.port)
        await ws.send_message(HELLO)
        await ws.send_frame(Frame(Opcode.TEXT, b"hello relay"))
        received, _ = await ws.until_closed()
        assert isinstance(received[0], Welcome)
        assert isinstance(received[-1], Close)
        assert received[-1].code is ErrorCode.MALFORMED
        await settle("a text message")

        # An invalid payload in a binary message (an unknown message type): closed with why.
        ws = await RawWebSocket.open(relay.port)
        await ws.send_frame(Frame(Opcode.BINARY, b"\x01\xff\xfegarbage"))
        received, _ = await ws.until_closed()
        assert [(type(m), getattr(m, "code", None)) for m in received] == [
            (Close, ErrorCode.UNKNOWN_TYPE)
        ]
        await settle("an invalid payload")

        # An empty binary message is not a payload either.
        ws = await RawWebSocket.open(relay.port)
        await ws.send_frame(Frame(Opcode.BINARY, b""))
        received, _ = await ws.until_closed()
        assert [(type(m), getattr(m, "code", None)) for m in received] == [
            (Close, ErrorCode.MALFORMED)
        ]
        await settle("an empty message")

        # A message announced bigger than the relay's frame limit: refused after the header.
        ws = await RawWebSocket.open(relay.port)
        header = bytes([0x82, 0xFF]) + (relay.config.max_frame + 1).to_bytes(8, "big")
        await ws.send_raw(header + b"\x00\x00\x00\x00")  # + masking key, and no payload
        _, code = await ws.until_closed()
        assert code == 1009  # message too big
        await settle("an oversized message")

        # Half a WebSocket message, then nothing: cut at the frame timeout... or the handshake
        # deadline, whichever comes first (here: the 2 s handshake deadline, no Hello yet).
        ws = await RawWebSocket.open(relay.port)
        started = trio.current_time()
        await ws.send_raw(bytes([0x82, 0x80 | 100]) + b"\x00\x00\x00\x00" + b"x" * 10)
        received, _ = await ws.until_closed()
        assert [(type(m), getattr(m, "code", None)) for m in received] == [
            (Close, ErrorCode.TIMEOUT)
        ]
        assert trio.current_time() - started < 3
        await settle("half a message")

        # The session never noticed.
        assert relay.info.relay.statistics().sessions == 1
        assert re.fullmatch(r"\d{9}", org.session_id)


async def test_a_slow_websocket_message_is_cut_at_the_frame_timeout(tmp_path: Path) -> None:
    """The frame timeout counts a WebSocket message that has started, as for a framed one."""
    async with running_relay(tmp_path, raw=False, frame_timeout=1.0, idle_timeout=30.0) as relay:
        ws = await RawWebSocket.open(relay.port)
        await ws.send_message(HELLO)
        # Half a message, then a byte now and then: each read is progress, none completes it.
        await ws.send_raw(bytes([0x82, 0x80 | 100]) + b"\x00\x00\x00\x00" + b"x" * 10)
        started = trio.current_time()

        async def dribble() -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                for _ in range(20):
                    await trio.sleep(0.3)
                    await ws.send_raw(b"x")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(dribble)
            received, _ = await ws.until_closed()
            nursery.cancel_scope.cancel()
        assert isinstance(received[0], Welcome)
        last = received[-1]
        assert isinstance(last, Close)
        assert last.code is ErrorCode.TIMEOUT
        assert last.message == "A message took too long."
        assert trio.current_time() - started < 2.5


async def test_framed_tls_is_closed_on_a_relay_without_raw(tmp_path: Path) -> None:
    async with running_relay(tmp_path, raw=False) as relay:
        tcp = await trio.open_tcp_stream("127.0.0.1", relay.port)
        stream = trio.SSLStream(tcp, client_ssl_context(), server_hostname="x")
        await stream.do_handshake()
        assert stream.selected_alpn_protocol() == PROTOCOL_NAME
        data = b""
        with trio.fail_after(5), contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(encode_frame(HELLO))
            data = bytes(await stream.receive_some(65536))
        assert data == b""  # no Welcome: hung up
        await trio.aclose_forcefully(stream)
