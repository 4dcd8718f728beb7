"""The compiled encoders of :mod:`core.protocol.wire` against the field-by-field reference.

``to_bytes`` runs a generated encoder per schema class; :func:`~core.protocol.wire.encode_fields`
is the original path every Field's ``check`` and ``write`` go through. For every schema class of
the protocol (wire messages, content plaintexts, the clear content header, pair-channel
structures) and random values, valid or not, both must agree exactly: the same bytes, or the same
exception with the same code and sentence. Valid values must take the fast path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from collections.abc import Callable, Iterator
from functools import cache
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ErrorCode, LocalProtocolError
from core.protocol import ClientConnection, State, content, messages, pair, wire
from core.protocol.content import CONTENT_TYPES, ContentType
from core.protocol.framing import encode_frame, encode_payload
from core.protocol.messages import MESSAGE_TYPES, Message
from core.protocol.wire import (
    Blob,
    Bool,
    Digits,
    Enum,
    Field,
    FixedBytes,
    ListOf,
    Optional,
    Struct,
    Text,
    Writer,
    encode_fields,
    encoder_source,
    schema,
    to_bytes,
)


def _schema_classes() -> list[type[Any]]:
    found: list[type[Any]] = []
    for module in (content, messages, pair):
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and dataclasses.is_dataclass(obj)
                and obj.__module__ == module.__name__
            ):
                found.append(obj)
    return found


CLASSES = _schema_classes()
ENUM_MEMBERS = [m for e in (ContentType, ErrorCode, messages.ActionCode, pair.Standing) for m in e]


class IntSub(int):
    pass


class StrSub(str):
    __slots__ = ()


class BytesSub(bytes):
    pass


def test_every_protocol_class_is_covered() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {cls.__name__ for cls in MESSAGE_TYPES.values()} <= names
    assert {cls.__name__ for cls in CONTENT_TYPES.values()} <= names
    assert {"ContentHeader", "RosterEntry", "AdmissionGrant", "ReKey", "SignedCertificate"} <= names


def reference(value: Any) -> bytes:
    w = Writer()
    encode_fields(w, value)
    return w.getvalue()


def outcome(encode: Callable[[Any], bytes], value: Any) -> tuple[Any, ...]:
    """What encoding did: its bytes, or everything a caller can see of its exception."""
    try:
        return ("bytes", encode(value))
    except Exception as exc:  # any exception: the two paths must fail alike
        return ("raised", type(exc), str(exc), getattr(exc, "code", None))


@contextlib.contextmanager
def fast_path_only(cls: type[Any]) -> Iterator[None]:
    """Make the compiled encoder of ``cls`` fail loudly if it falls back to the reference path."""
    encoder_source(cls)  # compiled now, if it was not yet
    env = wire._ENCODERS[cls].__globals__

    def refuse(value: Any) -> list[bytes]:
        raise AssertionError(f"a valid {type(value).__name__} took the slow path: {value!r}")

    saved, env["_slow"] = env["_slow"], refuse
    try:
        yield
    finally:
        env["_slow"] = saved


# --- strategies ------------------------------------------------------------------------------

GOOD_TEXT = st.characters(blacklist_categories=("Cs", "Cc"))
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-2, 2),
    st.floats(allow_nan=False),
    st.text(max_size=6),
    st.binary(max_size=6),
    st.builds(bytearray, st.binary(max_size=4)),
    st.builds(IntSub, st.integers(0, 300)),
    st.builds(StrSub, st.text(max_size=4)),
    st.builds(BytesSub, st.binary(max_size=4)),
    st.sampled_from(ENUM_MEMBERS),
    st.tuples(),
    st.just([]),
)


@cache
def valid(codec: Field[Any]) -> st.SearchStrategy[Any]:
    """Values ``codec.check`` accepts, of the exact types a program sends."""
    if isinstance(codec, wire._Int):
        return st.integers(codec.low, codec.high) | st.sampled_from([codec.low, codec.high])
    if isinstance(codec, Bool):
        return st.booleans()
    if isinstance(codec, Enum):
        return st.sampled_from(list(codec.enum.__members__.values()))
    if isinstance(codec, Digits):
        return st.integers(codec.low, codec.high).map(str)
    if isinstance(codec, FixedBytes):
        return st.binary(min_size=codec.size, max_size=codec.size)
    if isinstance(codec, Blob):
        top = min(codec.max_size, codec.min_size + 80)
        return st.binary(min_size=codec.min_size, max_size=top)
    if isinstance(codec, Text):
        longest = st.just("x" * codec.max_bytes) | st.just("é" * (codec.max_bytes // 2))
        some = st.text(GOOD_TEXT, min_size=codec.min_chars, max_size=min(codec.max_bytes, 40))
        return (some | longest).filter(lambda s: codec.check(s) is None)
    if isinstance(codec, ListOf):
        return st.lists(valid(codec.item), max_size=min(codec.max_items, 3)).map(tuple)
    if isinstance(codec, Optional):
        return st.none() | valid(codec.inner)
    if isinstance(codec, Struct):
        return instances(codec.cls)
    raise AssertionError(f"no strategy for {codec!r}")


def edge_values(codec: Field[Any]) -> list[Any]:
    """Values at and just past the edges of a scalar ``codec``, and near-misses of its type."""
    if isinstance(codec, wire._Int):
        low, high = codec.low, codec.high
        return [low - 1, low, high, high + 1, True, False, IntSub(low), float(low), str(low)]
    if isinstance(codec, Bool):
        return [True, False, 0, 1, None, "true"]
    if isinstance(codec, Enum):
        members = list(codec.enum.__members__.values())
        return [*members, *(int(m) for m in members), *ENUM_MEMBERS[:3], max(members) + 1]
    if isinstance(codec, Digits):
        return [
            "012345678", "12345678", "1234567890", "12345678a", " 12345678", "12345678 ",
            "+12345678", "-12345678", "1_2345678", "١٢٣٤٥٦٧٨٩", "１２３４５６７８９", "123456789",
            "999999999", "100000000", "²23456789", StrSub("123456789"), 123456789, b"123456789",
        ]  # fmt: skip
    if isinstance(codec, FixedBytes):
        size = codec.size
        return [bytes(size - 1), bytes(size), bytes(size + 1), bytearray(size), BytesSub(size),
                memoryview(bytes(size)), "x" * size]  # fmt: skip
    if isinstance(codec, Blob):
        low, high = codec.min_size, codec.max_size
        return [b"", bytes(max(low - 1, 0)), bytes(low), bytes(low + 1), bytes(high),
                bytes(high + 1), BytesSub(low), bytearray(low), memoryview(bytes(low))]  # fmt: skip
    if isinstance(codec, Text):
        top = codec.max_bytes
        return ["", "x" * codec.min_chars, "x" * max(codec.min_chars - 1, 0), "x" * top,
                "x" * (top + 1), "é" * (top // 2), "é" * (top // 2 + 1), "€" * (top // 3 + 1),
                "a\x1b[2J", "a\u202eb", "a\u2066", "a\ud800", "\udfff", "line\nbreak\ttab",
                "\x85", "\x7f", "\x00", "😍", StrSub("ok"), b"ok"]  # fmt: skip
    return []


@cache
def invalid(codec: Field[Any]) -> st.SearchStrategy[Any]:
    """Values near the edge of ``codec`` (mostly refused), and anything at all."""
    near: st.SearchStrategy[Any]
    if isinstance(codec, ListOf):
        item = st.one_of(valid(codec.item), invalid(codec.item))
        near = st.lists(item, min_size=1, max_size=3).map(tuple) | st.lists(valid(codec.item))
        near |= valid(codec.item).map(lambda x: (x,) * (codec.max_items + 1))
    elif isinstance(codec, Optional):
        near = invalid(codec.inner)
    elif isinstance(codec, Struct):
        near = mutants(codec.cls)
    elif edges := edge_values(codec):
        near = st.sampled_from(edges)
    else:
        return ANY_VALUE
    # Half near misses, half anything: ``near | ANY_VALUE`` would weight by branch count.
    return st.booleans().flatmap(lambda pick_near: near if pick_near else ANY_VALUE)


def instances(cls: type[Any]) -> st.SearchStrategy[Any]:
    fields = {name: valid(codec) for name, codec in schema(cls)}
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


def mutants(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Instances of ``cls`` with one to three fields replaced by :func:`invalid` values."""
    fields = dict(schema(cls))

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        value = draw(instances(cls))
        if not fields:
            return value
        names = draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True))
        changes = {name: draw(invalid(fields[name])) for name in names}
        return dataclasses.replace(value, **changes)

    return build()


# --- properties ------------------------------------------------------------------------------

EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@EXAMPLES
@given(data=st.data())
def test_valid_values_take_the_fast_path_to_the_same_bytes(cls: type[Any], data: Any) -> None:
    value = data.draw(instances(cls))
    expected = reference(value)
    with fast_path_only(cls):
        assert to_bytes(value) == expected
    if isinstance(value, Message):
        head = struct.pack(">BH", 1, cls.TYPE)
        assert encode_payload(value) == head + expected
        assert encode_frame(value) == struct.pack(">I", len(head) + len(expected)) + head + expected


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@EXAMPLES
@given(data=st.data())
def test_any_value_encodes_or_fails_exactly_as_field_by_field(cls: type[Any], data: Any) -> None:
    value = data.draw(mutants(cls))
    expected = outcome(reference, value)
    assert outcome(to_bytes, value) == expected
    if isinstance(value, Message) and expected[0] == "raised":
        assert outcome(encode_payload, value) == expected
        assert outcome(encode_frame, value) == expected


def _leaf_codecs() -> list[Field[Any]]:
    """Every distinct scalar Field of every class, nested ones included."""
    seen: dict[int, Field[Any]] = {}

    def walk(codec: Field[Any]) -> None:
        if isinstance(codec, ListOf):
            walk(codec.item)
        elif isinstance(codec, Optional):
            walk(codec.inner)
        elif not isinstance(codec, Struct):
            seen.setdefault(id(codec), codec)

    for cls in CLASSES:
        for _name, codec in schema(cls):
            walk(codec)
    return list(seen.values())


LEAVES = _leaf_codecs()
ODD_VALUES = [None, 0, -1, 2**64, 1.5, "", "x", b"", b"x", bytearray(b"x"), (), [], object()]


@pytest.mark.parametrize("codec", LEAVES, ids=lambda c: f"{type(c).__name__}@{id(c):x}")
def test_every_field_edge_alone_and_before_another_field(codec: Field[Any]) -> None:
    """Each edge value in a field of its own, then followed by a field that is always wrong (so
    an accepted edge must reach the second field's error, exactly as field by field)."""
    alone = dataclasses.make_dataclass(
        "Alone", [("x", Annotated[Any, codec])], frozen=True, slots=True
    )
    then_bad = dataclasses.make_dataclass(
        "ThenBad",
        [("x", Annotated[Any, codec]), ("y", Annotated[Any, wire.U8()])],
        frozen=True,
        slots=True,
    )
    for edge in [*edge_values(codec), *ODD_VALUES]:
        for value in (alone(x=edge), then_bad(x=edge, y=-1)):
            assert outcome(to_bytes, value) == outcome(reference, value), (type(value), edge)


def test_error_sentences_are_unchanged() -> None:
    """A few refusals spelled out, so the shared sentences cannot drift unnoticed."""
    one: Any = 1  # where a bool or an enum belongs
    header = content.ContentHeader(
        version=1,
        content_type=ContentType.CHAT,
        session_id="123456789",
        epoch=1,
        sender=2,
        recipient=0,
        counter=1,
    )
    cases: list[tuple[Any, str]] = [
        (dataclasses.replace(header, counter=0), "counter: 0 is outside 1..18446744073709551615"),
        (dataclasses.replace(header, epoch=True), "epoch: expected an integer, got bool"),
        (dataclasses.replace(header, session_id="012345678"),
         "session_id: must be 9 digits, not starting with 0"),
        (dataclasses.replace(header, content_type=one), "content_type: expected a ContentType"),
        (messages.Sealed(header=header, ciphertext=b"x" * 15, signature=b"s" * 64),
         "ciphertext: length 15 is outside 16..4194320"),
        (messages.Sealed(header=dataclasses.replace(header, sender=0), ciphertext=b"x",
                         signature=b""), "sender: 0 is outside 1..4294967295"),
        (messages.Hello(protocol="porthole/1", software="a\x1b[2J"),
         "software: text contains control characters"),
        (messages.Hello(protocol="", software=""),
         "protocol: text must have at least 1 characters"),
        (messages.Hello(protocol="p\ud800", software=""),
         "protocol: text cannot be encoded as UTF-8"),
        (messages.Roster(session_id="123456789", members=(), presenter=0, controller=None,
                         has_presented=(), locked=one, paused=False, has_password=False),
         "value: 0 is outside 1..4294967295"),
        (content.FrameUpdate(frame_seq=1, keyframe=one, width=1, height=1, captured_at_us=0,
                             tiles=b""), "keyframe: expected a boolean"),
    ]  # fmt: skip
    for value, sentence in cases:
        for encode in (to_bytes, reference):
            got = outcome(encode, value)
            assert got[0] == "raised", (encode, got)
            assert got[3] is ErrorCode.BAD_FIELD
            assert got[2] == f"{sentence} [bad_field]"


class EvenU8(wire._Int):
    """A Field subclass with a stricter check: the compiler must not treat it as a plain U8."""

    def __init__(self) -> None:
        super().__init__(">B", 0, 0xFF)

    def check(self, value: object) -> str | None:
        problem = super().check(value)
        if problem is None and isinstance(value, int) and value % 2:
            return "must be even"
        return problem


@dataclasses.dataclass(frozen=True, slots=True)
class EvenAndType:
    even: Annotated[int, EvenU8()]
    kind: Annotated[ContentType, Enum(ContentType)]


def test_a_field_subclass_is_left_to_its_own_encode() -> None:
    assert to_bytes(EvenAndType(even=4, kind=ContentType.CHAT)) == b"\x04\x05"
    odd = EvenAndType(even=3, kind=ContentType.CHAT)
    assert outcome(to_bytes, odd) == outcome(reference, odd)
    assert outcome(to_bytes, odd)[2] == "even: must be even [bad_field]"


# --- Connection.send remembers its last allowed (class, state) --------------------------------


def test_a_remembered_send_is_refused_once_the_state_moved_on() -> None:
    client = ClientConnection()
    hello = messages.Hello(protocol=messages.PROTOCOL_NAME, software="test")
    client.send(hello)  # AWAIT_HELLO → AWAIT_WELCOME, remembered for AWAIT_HELLO only
    with pytest.raises(LocalProtocolError, match="cannot send Hello while the connection is"):
        client.send(hello)
    client.state = State.OPEN  # as if the Welcome had arrived
    ping = messages.Ping(nonce=1)
    assert client.send(ping) == client.send(ping)  # remembered: OPEN stays OPEN
    client.send(messages.Close(code=ErrorCode.LEFT, message="bye"))
    assert client.state is State.CLOSED
    with pytest.raises(LocalProtocolError, match="cannot send Ping while the connection is closed"):
        client.send(ping)
    with pytest.raises(LocalProtocolError, match="a client may not send Welcome"):
        client.send(
            messages.Welcome(relay_name="r", software="s", max_frame=2048, idle_timeout_s=5)
        )
