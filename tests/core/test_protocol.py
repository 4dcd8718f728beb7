"""The sans-IO protocol: two connection objects exchange every message through bytes only."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_samples import (
    CLIENT_MESSAGES,
    CLOSE,
    HEADER,
    HELLO,
    PLAINTEXTS,
    RELAY_MESSAGES,
    SID,
    WELCOME,
)

from core.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from core.protocol import (
    CONNECTION_CLOSED,
    MESSAGE_TYPES,
    NEED_DATA,
    ClientConnection,
    Connection,
    FrameBuffer,
    RelayConnection,
    State,
    decode_payload,
    encode_frame,
    encode_payload,
)
from core.protocol.content import (
    CONTENT_TYPES,
    Chat,
    ChatAck,
    ContentType,
    Heartbeat,
    ReKeyAck,
    decode_content,
    encode_content,
)
from core.protocol.messages import Close, Hello, Join, Login, Message, Sealed, Welcome
from core.protocol.wire import from_bytes, to_bytes


def pump(sender: Connection, receiver: Connection, msg: Message) -> Message:
    """Send ``msg`` as bytes from one connection object to the other; return what arrived."""
    receiver.receive_data(sender.send(msg))
    event = receiver.next_event()
    assert isinstance(event, Message)
    assert receiver.next_event() is NEED_DATA
    return event


def open_pair() -> tuple[ClientConnection, RelayConnection]:
    client, relay = ClientConnection(), RelayConnection()
    assert pump(client, relay, HELLO) == HELLO
    assert pump(relay, client, WELCOME) == WELCOME
    assert client.state is relay.state is State.OPEN
    return client, relay


def test_every_message_type_is_sampled() -> None:
    sampled = {type(m) for m in [*CLIENT_MESSAGES, *RELAY_MESSAGES, HELLO, CLOSE]}
    assert sampled == set(MESSAGE_TYPES.values())
    sampled_content = {type(p) for p in PLAINTEXTS}
    assert set(CONTENT_TYPES.values()) <= sampled_content


def test_every_message_crosses_both_ways_through_bytes() -> None:
    client, relay = open_pair()
    for msg in CLIENT_MESSAGES:
        assert pump(client, relay, msg) == msg
    for msg in RELAY_MESSAGES[1:]:
        assert pump(relay, client, msg) == msg
    assert pump(client, relay, CLOSE) == CLOSE
    assert client.state is relay.state is State.CLOSED


def test_many_messages_in_one_read_and_byte_by_byte() -> None:
    client, relay = open_pair()
    stream = b"".join(client.send(m) for m in CLIENT_MESSAGES)
    relay.receive_data(stream)
    got = [relay.next_event() for _ in CLIENT_MESSAGES]
    assert got == CLIENT_MESSAGES
    assert relay.next_event() is NEED_DATA

    client, relay = open_pair()
    for byte in client.send(CLIENT_MESSAGES[3]):
        assert relay.next_event() is NEED_DATA
        relay.receive_data(bytes([byte]))
    assert relay.next_event() == CLIENT_MESSAGES[3]


@pytest.mark.parametrize("plaintext", PLAINTEXTS, ids=lambda p: type(p).__name__)
def test_plaintexts_round_trip(plaintext: Any) -> None:
    assert from_bytes(type(plaintext), to_bytes(plaintext)) == plaintext


def test_the_integrity_messages_are_tiny() -> None:
    """Sent every second by every presenter, and once per line per member (docs/design.md §3.3):
    a few bytes inside the 106 that sealing adds (header, tag, signature)."""
    assert len(to_bytes(Heartbeat(frame_seq=2**32 - 1, chat_seq=2**32 - 1, presenting=True))) == 9
    assert len(to_bytes(ChatAck(seq=1))) == 4
    assert len(to_bytes(ReKeyAck(epoch=1))) == 4


def test_a_chat_lines_number_travels_though_lines_compare_by_text() -> None:
    kind, data = encode_content(Chat(text="numbered", seq=7))
    got = decode_content(kind, data)
    assert isinstance(got, Chat)
    assert got.seq == 7
    assert got == Chat(text="numbered")
    assert to_bytes(Chat(text="numbered")) != data, "the number is inside the sealed bytes"


def test_content_decodes_only_as_the_announced_type() -> None:
    kind, data = encode_content(Chat(text="hi"))
    assert kind is ContentType.CHAT
    assert decode_content(kind, data) == Chat(text="hi")
    with pytest.raises(RemoteProtocolError):
        decode_content(ContentType.CURSOR, data)


# --- the connection state machine --------------------------------------------------------------


def test_sealed_parts_cross_as_the_sealed_message_they_encode() -> None:
    client, relay = open_pair()
    sealed = Sealed(header=HEADER, ciphertext=b"c" * 40, signature=b"s" * 64)
    relay.receive_data(client.send_sealed(HEADER.pack(), sealed.ciphertext, sealed.signature))
    assert relay.next_event() == sealed
    assert client.statistics().messages_sent == 2  # Hello, then this
    fresh = ClientConnection()  # before Hello, content is refused like any other message
    with pytest.raises(LocalProtocolError):
        fresh.send_sealed(HEADER.pack(), sealed.ciphertext, sealed.signature)


def test_client_must_say_hello_first() -> None:
    client = ClientConnection()
    with pytest.raises(LocalProtocolError) as exc:
        client.send(CLIENT_MESSAGES[0])
    assert exc.value.code is ErrorCode.UNEXPECTED_MESSAGE

    relay = RelayConnection()
    relay.receive_data(encode_frame(CLIENT_MESSAGES[0]))
    with pytest.raises(RemoteProtocolError) as rexc:
        relay.next_event()
    assert rexc.value.code is ErrorCode.UNEXPECTED_MESSAGE


def test_nothing_but_close_before_welcome() -> None:
    client, relay = ClientConnection(), RelayConnection()
    pump(client, relay, HELLO)
    with pytest.raises(LocalProtocolError):
        client.send(Login(username="a", password="b"))
    assert pump(relay, client, CLOSE) == CLOSE
    assert client.state is State.CLOSED


def test_wrong_direction_is_refused_both_ways() -> None:
    client, relay = open_pair()
    with pytest.raises(LocalProtocolError):
        client.send(WELCOME)
    with pytest.raises(LocalProtocolError):
        relay.send(Login(username="a", password="b"))
    # A relay that sends a client-only message: the client refuses it.
    client.receive_data(encode_frame(Login(username="a", password="b")))
    with pytest.raises(RemoteProtocolError) as exc:
        client.next_event()
    assert exc.value.code is ErrorCode.UNEXPECTED_MESSAGE


def test_hello_with_another_protocol_name_is_refused() -> None:
    relay = RelayConnection()
    relay.receive_data(encode_frame(Hello(protocol="porthole/2", software="future")))
    with pytest.raises(RemoteProtocolError) as exc:
        relay.next_event()
    assert exc.value.code is ErrorCode.UNSUPPORTED_VERSION


def test_errors_are_sticky() -> None:
    relay = RelayConnection()
    relay.receive_data(b"\x00\x00\x00\x03\x09\x00\x01")
    with pytest.raises(RemoteProtocolError):
        relay.next_event()
    relay.receive_data(encode_frame(HELLO))
    with pytest.raises(RemoteProtocolError):
        relay.next_event()
    answer = relay.error_for(RemoteProtocolError(ErrorCode.MALFORMED, "x" * 2000))
    assert isinstance(answer, Close)
    assert len(answer.message.encode()) <= 512


def test_nothing_after_close() -> None:
    client, relay = open_pair()
    pump(relay, client, CLOSE)
    with pytest.raises(LocalProtocolError):
        client.send(CLIENT_MESSAGES[0])
    # A relay that keeps talking after its own Close breaks the connection.
    client.receive_data(encode_frame(RELAY_MESSAGES[1]))
    with pytest.raises(RemoteProtocolError):
        client.next_event()


def test_clean_eof_and_eof_mid_frame() -> None:
    client, relay = open_pair()
    relay.receive_data(b"")
    assert relay.next_event() is CONNECTION_CLOSED

    client, relay = open_pair()
    frame = client.send(CLIENT_MESSAGES[3])
    relay.receive_data(frame[:-1])
    assert relay.next_event() is NEED_DATA
    relay.receive_data(b"")
    with pytest.raises(RemoteProtocolError) as exc:
        relay.next_event()
    assert exc.value.code is ErrorCode.TRUNCATED


def test_statistics_count_bytes_and_messages() -> None:
    client, relay = open_pair()
    data = client.send(CLIENT_MESSAGES[0])
    relay.receive_data(data[:5])
    stats = relay.statistics()
    assert stats.messages_received == 1  # the Hello
    assert stats.bytes_buffered == 5
    assert client.statistics().messages_sent == 2


# --- framing limits ----------------------------------------------------------------------------


def test_oversized_frame_is_refused_from_its_length_alone() -> None:
    frames = FrameBuffer(max_frame=1024)
    frames.feed(struct.pack(">I", 1025))
    with pytest.raises(RemoteProtocolError) as exc:
        frames.next_payload()
    assert exc.value.code is ErrorCode.OVERSIZED


def test_control_message_over_its_own_limit_is_refused_after_the_prefix() -> None:
    # A "Hello" announcing a 1 MiB body: within the frame limit, far over Hello's limit.
    frames = FrameBuffer()
    frames.feed(struct.pack(">IBH", 3 + (1 << 20), 1, Hello.TYPE))
    with pytest.raises(RemoteProtocolError) as exc:
        frames.next_payload()
    assert exc.value.code is ErrorCode.OVERSIZED


def test_unknown_type_and_wrong_version() -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        decode_payload(struct.pack(">BH", 1, 999))
    assert exc.value.code is ErrorCode.UNKNOWN_TYPE
    with pytest.raises(RemoteProtocolError) as exc:
        decode_payload(struct.pack(">BH", 2, Hello.TYPE) + to_bytes(HELLO))
    assert exc.value.code is ErrorCode.UNSUPPORTED_VERSION


@pytest.mark.parametrize("msg", [*CLIENT_MESSAGES, *RELAY_MESSAGES], ids=lambda m: type(m).__name__)
def test_every_truncation_is_a_protocol_error(msg: Message) -> None:
    payload = encode_payload(msg)
    for cut in range(len(payload)):
        with pytest.raises(RemoteProtocolError):
            decode_payload(payload[:cut])
    with pytest.raises(RemoteProtocolError) as exc:
        decode_payload(payload + b"\x00")
    assert exc.value.code is ErrorCode.MALFORMED


def test_field_validation_on_both_sides() -> None:
    bad_name = Join(
        session_id=SID,
        name="evil\x1b[2Jname",
        ephemeral_key=b"\x01" * 32,
        spake_message=b"\x02" * 33,
        member_key=b"\x03" * 32,
    )
    with pytest.raises(LocalProtocolError) as exc:
        encode_payload(bad_name)
    assert exc.value.code is ErrorCode.BAD_FIELD
    # The same bytes forged by a peer are refused on receipt.
    good = encode_payload(
        Join(
            session_id=SID,
            name="evilXXXXname",
            ephemeral_key=b"\x01" * 32,
            spake_message=b"\x02" * 33,
            member_key=b"\x03" * 32,
        )
    )
    forged = good.replace(b"XXXX", b"\x1b[2J")
    with pytest.raises(RemoteProtocolError) as rexc:
        decode_payload(forged)
    assert rexc.value.code is ErrorCode.BAD_FIELD

    for bad in (
        Join(session_id="012345678", name="a", ephemeral_key=b"\x01" * 32,
             spake_message=b"\x02" * 33, member_key=b"\x03" * 32),
        Join(session_id=SID, name="", ephemeral_key=b"\x01" * 32,
             spake_message=b"\x02" * 33, member_key=b"\x03" * 32),
        Join(session_id=SID, name="a", ephemeral_key=b"\x01" * 31,
             spake_message=b"\x02" * 33, member_key=b"\x03" * 32),
        Join(session_id=SID, name="a" * 65, ephemeral_key=b"\x01" * 32,
             spake_message=b"\x02" * 33, member_key=b"\x03" * 32),
    ):  # fmt: skip
        with pytest.raises(LocalProtocolError):
            encode_payload(bad)


def test_session_id_out_of_range_on_the_wire() -> None:
    payload = bytearray(encode_payload(CLIENT_MESSAGES[3]))
    payload[3:7] = struct.pack(">I", 12345678)  # 8 digits
    with pytest.raises(RemoteProtocolError) as exc:
        decode_payload(payload)
    assert exc.value.code is ErrorCode.BAD_FIELD


def test_secrets_stay_out_of_repr() -> None:
    login = Login(username="olga", password="hunter2-but-longer")
    assert "hunter2" not in repr(login)
    sealed = next(m for m in CLIENT_MESSAGES if isinstance(m, Sealed))
    assert "eeee" not in repr(sealed)
    assert "\\xee" not in repr(sealed)
    assert "hello" not in repr(Chat(text="hello"))


# --- hypothesis: nothing but protocol errors -----------------------------------------------------

ALL_SAMPLES = [*CLIENT_MESSAGES, *RELAY_MESSAGES, HELLO, CLOSE]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_payloads_raise_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode_payload(data)


@settings(max_examples=400)
@given(st.binary(max_size=400))
def test_random_streams_raise_only_protocol_errors(data: bytes) -> None:
    relay = RelayConnection()
    if data:
        relay.receive_data(data)
    relay.receive_data(b"")
    try:
        for _ in range(100):
            if relay.next_event() is CONNECTION_CLOSED:
                break
    except RemoteProtocolError:
        pass


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    msg = draw(st.sampled_from(ALL_SAMPLES))
    payload = bytearray(encode_payload(msg))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        pos = draw(st.integers(0, max(0, len(payload) - 1)))
        if op == "flip" and payload:
            payload[pos] ^= draw(st.integers(1, 255))
        elif op == "delete" and payload:
            del payload[pos]
        elif op == "insert":
            payload.insert(pos, draw(st.integers(0, 255)))
        else:
            del payload[pos:]
    return bytes(payload)


@settings(max_examples=1500)
@given(mutated_payloads())
def test_mutated_messages_raise_only_protocol_errors(data: bytes) -> None:
    try:
        msg = decode_payload(data)
    except RemoteProtocolError:
        return
    # If a mutation still decodes, it must be a fully valid message that re-encodes identically.
    assert encode_payload(msg) == data


@settings(max_examples=300)
@given(st.sampled_from(PLAINTEXTS), st.data())
def test_mutated_plaintexts_raise_only_protocol_errors(plaintext: Any, data: st.DataObject) -> None:
    raw = bytearray(to_bytes(plaintext))
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    try:
        decoded = from_bytes(type(plaintext), bytes(raw))
    except RemoteProtocolError:
        return
    assert to_bytes(decoded) == bytes(raw)


@given(
    st.text(max_size=80),
    st.binary(min_size=32, max_size=32),
)
def test_any_valid_name_round_trips_and_any_invalid_is_refused_locally(
    name: str, key: bytes
) -> None:
    msg = Join(
        session_id=SID, name=name, ephemeral_key=key, spake_message=b"A" + key, member_key=key
    )
    try:
        payload = encode_payload(msg)
    except LocalProtocolError as exc:
        assert exc.code is ErrorCode.BAD_FIELD
        return
    assert decode_payload(payload) == msg


def test_welcome_max_frame_bounds() -> None:
    with pytest.raises(LocalProtocolError):
        encode_payload(Welcome(relay_name="r", software="s", max_frame=10, idle_timeout_s=5))


def test_wire_action_codes_name_every_rules_action() -> None:
    from core.protocol.messages import ActionCode
    from core.rules import Action

    assert {code.name for code in ActionCode} == {action.name for action in Action}
