"""The WebSocket carrier over an in-memory stream, driven by a hand-held websockets client.

What the path tests against a real relay do not reach: fragmented messages, pings, the exact
``buffered`` count the relay's frame timeout relies on, the order of a violation after good
messages, the framing helpers, and proxy address parsing.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol
from websockets.uri import WebSocketURI

from core.client.transport import ProxyAddress, ProxyError, parse_proxy, resolve_proxy
from core.errors import ErrorCode, RemoteProtocolError
from core.protocol import NEED_DATA, ClientConnection, RelayConnection
from core.protocol.framing import encode_frame, frame_payload, split_frames
from core.protocol.messages import PROTOCOL_NAME, Hello, Ping, Welcome
from core.websocket_carrier import WebSocketCarrier

HELLO = Hello(protocol=PROTOCOL_NAME, software="test")


async def opened() -> tuple[WebSocketCarrier, ClientProtocol, trio.abc.Stream]:
    """A relay-side carrier and the client protocol talking to it through memory streams."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    uri = WebSocketURI(secure=True, host="relay", port=443, path="/ws", query="")
    client = ClientProtocol(uri)
    client.send_request(client.connect())
    request = b"".join(client.data_to_send())
    server = ServerProtocol()
    server.receive_data(request)
    (event,) = server.events_received()
    server.send_response(server.accept(event))  # type: ignore[arg-type]
    client.receive_data(b"".join(server.data_to_send()))
    assert client.events_received()[0].status_code == 101  # type: ignore[union-attr]
    return WebSocketCarrier(server_stream, server), client, client_stream


async def send(client: ClientProtocol, stream: trio.abc.Stream, *frames: Frame) -> None:
    for frame in frames:
        client.send_frame(frame)
    await stream.send_all(b"".join(client.data_to_send()))


async def test_fragmented_messages_are_reassembled_and_buffered_counts_exactly() -> None:
    carrier, client, stream = await opened()
    payload = encode_frame(HELLO)[4:]
    # A header and part of the first fragment: a message has started, nothing is whole.
    first = Frame(Opcode.BINARY, payload[:5], fin=False)
    client.send_frame(first)
    wire = b"".join(client.data_to_send())
    await stream.send_all(wire[:7])
    assert await carrier.receive_some() is None
    assert carrier.buffered == 7
    await stream.send_all(wire[7:])
    assert await carrier.receive_some() is None
    assert carrier.buffered == 5  # the fragment is in, the message is not
    await send(client, stream, Frame(Opcode.CONT, payload[5:], fin=True))
    data = await carrier.receive_some()
    assert data == encode_frame(HELLO)
    assert carrier.buffered == 0
    conn = RelayConnection()
    conn.receive_data(data)
    assert conn.next_event() == HELLO


async def test_pings_are_answered_and_two_messages_in_one_read_stay_two() -> None:
    carrier, client, stream = await opened()
    hello, ping = encode_frame(HELLO)[4:], encode_frame(Ping(nonce=7))[4:]
    await send(client, stream, Frame(Opcode.PING, b"are you there"), Frame(Opcode.BINARY, hello))
    await send(client, stream, Frame(Opcode.BINARY, ping))
    data = b""
    while len(data) < len(hello) + len(ping) + 8:
        chunk = await carrier.receive_some()
        assert chunk
        data += chunk
    assert [bytes(p) for p in split_frames(data)] == [hello, ping]
    # The pong went back on its own.
    client.receive_data(await stream.receive_some(65536))
    (pong,) = client.events_received()
    assert isinstance(pong, Frame)
    assert (pong.opcode, pong.data) == (Opcode.PONG, b"are you there")


async def test_sending_cuts_frames_into_one_binary_message_each() -> None:
    carrier, client, stream = await opened()
    conn = RelayConnection()
    conn.receive_data(encode_frame(HELLO))
    conn.next_event()
    welcome = Welcome(relay_name="r", software="s", max_frame=1 << 20, idle_timeout_s=60)
    await carrier.send_all(conn.send(welcome) + conn.send(Ping(nonce=1)))
    client.receive_data(await stream.receive_some(65536))
    frames = client.events_received()
    assert [f.opcode for f in frames] == [Opcode.BINARY, Opcode.BINARY]  # type: ignore[union-attr]
    mine = ClientConnection()
    mine.send(HELLO)
    for frame in frames:
        mine.receive_data(frame_payload(frame.data))  # type: ignore[union-attr]
    assert mine.next_event() == welcome
    assert mine.next_event() == Ping(nonce=1)
    assert mine.next_event() is NEED_DATA


async def test_a_text_message_is_refused_after_the_good_message_before_it() -> None:
    carrier, client, stream = await opened()
    await send(
        client,
        stream,
        Frame(Opcode.BINARY, encode_frame(HELLO)[4:]),
        Frame(Opcode.TEXT, b"hi"),
    )
    assert await carrier.receive_some() == encode_frame(HELLO)
    with pytest.raises(RemoteProtocolError) as refused:
        await carrier.receive_some()
    assert refused.value.code is ErrorCode.MALFORMED


async def test_an_oversized_message_is_refused_after_its_header() -> None:
    carrier, _, stream = await opened()
    carrier.protocol.max_message_size = 1000
    await stream.send_all(bytes([0x82, 0xFE]) + (5000).to_bytes(2, "big") + b"\0\0\0\0")
    with pytest.raises(RemoteProtocolError) as refused:
        await carrier.receive_some()
    assert refused.value.code is ErrorCode.OVERSIZED


async def test_end_of_stream_in_the_middle_of_a_message_is_truncation() -> None:
    carrier, client, stream = await opened()
    client.send_frame(Frame(Opcode.BINARY, encode_frame(HELLO)[4:]))
    await stream.send_all(b"".join(client.data_to_send())[:10])
    assert await carrier.receive_some() is None
    await stream.aclose()
    with pytest.raises(RemoteProtocolError) as refused:
        await carrier.receive_some()
    assert refused.value.code is ErrorCode.TRUNCATED


async def test_a_clean_close_is_the_end_of_the_stream() -> None:
    carrier, client, stream = await opened()
    client.send_close(1000)
    await stream.send_all(b"".join(client.data_to_send()))
    assert await carrier.receive_some() == b""


def test_framing_helpers_round_trip() -> None:
    frames = [encode_frame(HELLO), encode_frame(Ping(nonce=3))]
    payloads = split_frames(b"".join(frames))
    assert [frame_payload(p) for p in payloads] == frames
    with pytest.raises(ValueError, match="cut short"):
        split_frames(frames[0][:-1])


def test_proxy_addresses() -> None:
    assert parse_proxy("http://proxy.corp:3128") == ProxyAddress("proxy.corp", 3128)
    assert parse_proxy("proxy.corp:8080") == ProxyAddress("proxy.corp", 8080)
    assert parse_proxy("http://[::1]:3128/") == ProxyAddress("::1", 3128)
    with_auth = parse_proxy("http://ana:p%40ss@proxy:3128")
    assert (with_auth.username, with_auth.password) == ("ana", "p@ss")
    assert str(with_auth) == "proxy:3128"  # credentials never shown
    for bad in ("https://proxy:443", "socks5://proxy:1080", "proxy", "http://proxy:99999"):
        with pytest.raises(ProxyError):
            parse_proxy(bad)


def test_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_proxy("relay.example", 443, None) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert resolve_proxy("relay.example", 443, None) == ProxyAddress("proxy", 3128)
    assert resolve_proxy("relay.example", 443, "") is None  # explicitly none
    assert resolve_proxy("relay.example", 443, "other:1") == ProxyAddress("other", 1)
    monkeypatch.setenv("NO_PROXY", ".example")
    assert resolve_proxy("relay.example", 443, None) is None
