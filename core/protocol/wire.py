"""The binary field codec every ``porthole/1`` message is built from.

Why a hand-written codec and not msgpack/CBOR/protobuf: every field of every message must be
validated (sizes, ranges, enum values, text without control characters) before anything else
touches it, and a general-purpose deserializer first builds arbitrary nested objects and only then
lets us look. Here a message *is* its schema: each dataclass field is annotated with a
:class:`Field` that knows how to write, read and check exactly one value, and the decoder refuses
anything that does not fit, including trailing bytes. All integers are big-endian.

Encoding a bad value is our bug (:class:`LocalProtocolError`); decoding one is the peer's
(:class:`RemoteProtocolError`). Both carry :attr:`ErrorCode.BAD_FIELD` or a more precise code.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import typing
import unicodedata
from enum import IntEnum
from typing import Any, Generic, TypeVar

from core.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

T = TypeVar("T")
E = TypeVar("E", bound=IntEnum)


class Reader:
    """A cursor over received bytes that raises :class:`RemoteProtocolError` on any misfit."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = memoryview(data).toreadonly()
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, n: int) -> bytes:
        if n > self.remaining:
            raise RemoteProtocolError(
                ErrorCode.TRUNCATED,
                f"message ends early: needed {n} more bytes, {self.remaining} left",
            )
        chunk = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return chunk

    def unpack(self, fmt: struct.Struct) -> tuple[Any, ...]:
        return fmt.unpack(self.take(fmt.size))

    def finish(self) -> None:
        """Refuse trailing bytes: a message that decodes with leftovers is not the same message."""
        if self.remaining:
            raise RemoteProtocolError(
                ErrorCode.MALFORMED, f"{self.remaining} unexpected bytes after the message"
            )


class Writer:
    """Accumulates encoded fields."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def put(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def pack(self, fmt: struct.Struct, *values: Any) -> None:
        self._buf += fmt.pack(*values)

    def getvalue(self) -> bytes:
        return bytes(self._buf)


def _local(message: str) -> LocalProtocolError:
    return LocalProtocolError(ErrorCode.BAD_FIELD, message)


def _remote(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(ErrorCode.BAD_FIELD, message)


class Field(Generic[T]):
    """How one value is written, read and checked.

    ``check`` returns an error sentence or ``None``; it is shared by both directions so that
    what we refuse to send is exactly what we refuse to receive.
    """

    def write(self, w: Writer, value: T) -> None:
        raise NotImplementedError

    def read(self, r: Reader) -> T:
        raise NotImplementedError

    def check(self, value: object) -> str | None:
        """Why ``value`` cannot travel in this field, or ``None``; takes ``object`` because
        callers are not always type-checked."""
        return None

    def encode(self, w: Writer, value: T, name: str) -> None:
        problem = self.check(value)
        if problem is not None:
            raise _local(f"{name}: {problem}")
        self.write(w, value)

    def decode(self, r: Reader, name: str) -> T:
        value = self.read(r)
        problem = self.check(value)
        if problem is not None:
            raise _remote(f"{name}: {problem}")
        return value


class _Int(Field[int]):
    def __init__(self, fmt: str, low: int, high: int) -> None:
        self._struct = struct.Struct(fmt)
        self.low = low
        self.high = high

    def write(self, w: Writer, value: int) -> None:
        w.pack(self._struct, value)

    def read(self, r: Reader) -> int:
        value: int = r.unpack(self._struct)[0]
        return value

    def check(self, value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer, got {type(value).__name__}"
        if not self.low <= value <= self.high:
            return f"{value} is outside {self.low}..{self.high}"
        return None


def U8(low: int = 0, high: int = 0xFF) -> Field[int]:
    return _Int(">B", low, high)


def U16(low: int = 0, high: int = 0xFFFF) -> Field[int]:
    return _Int(">H", low, high)


def U32(low: int = 0, high: int = 0xFFFF_FFFF) -> Field[int]:
    return _Int(">I", low, high)


def U64(low: int = 0, high: int = 0xFFFF_FFFF_FFFF_FFFF) -> Field[int]:
    return _Int(">Q", low, high)


def I32(low: int = -(2**31), high: int = 2**31 - 1) -> Field[int]:
    return _Int(">i", low, high)


class Bool(Field[bool]):
    def write(self, w: Writer, value: bool) -> None:
        w.put(b"\x01" if value else b"\x00")

    def read(self, r: Reader) -> bool:
        byte = r.take(1)[0]
        if byte > 1:
            raise _remote(f"boolean byte must be 0 or 1, got {byte}")
        return byte == 1

    def check(self, value: object) -> str | None:
        return None if isinstance(value, bool) else "expected a boolean"


class Enum(Field[E]):
    """An :class:`IntEnum` on one byte (or two, for wide enums such as error codes).

    Unknown values are refused, never passed through.
    """

    def __init__(self, enum: type[E], *, width: int = 1) -> None:
        self.enum = enum
        self._struct = struct.Struct(">B" if width == 1 else ">H")

    def write(self, w: Writer, value: E) -> None:
        w.pack(self._struct, int(value))

    def read(self, r: Reader) -> E:
        (raw,) = r.unpack(self._struct)
        try:
            return self.enum(raw)
        except ValueError:
            raise _remote(f"{raw} is not a known {self.enum.__name__}") from None

    def check(self, value: object) -> str | None:
        if not isinstance(value, self.enum):
            return f"expected a {self.enum.__name__}"
        return None


class FixedBytes(Field[bytes]):
    """Exactly ``size`` bytes: keys, signatures, MACs."""

    def __init__(self, size: int) -> None:
        self.size = size

    def write(self, w: Writer, value: bytes) -> None:
        w.put(value)

    def read(self, r: Reader) -> bytes:
        return r.take(self.size)

    def check(self, value: object) -> str | None:
        if not isinstance(value, bytes):
            return "expected bytes"
        if len(value) != self.size:
            return f"must be exactly {self.size} bytes, got {len(value)}"
        return None


class Blob(Field[bytes]):
    """Length-prefixed bytes (u32 length) with a hard maximum checked before reading."""

    _LEN = struct.Struct(">I")

    def __init__(self, max_size: int, min_size: int = 0) -> None:
        self.max_size = max_size
        self.min_size = min_size

    def write(self, w: Writer, value: bytes) -> None:
        w.pack(self._LEN, len(value))
        w.put(value)

    def read(self, r: Reader) -> bytes:
        (size,) = r.unpack(self._LEN)
        if size > self.max_size:
            raise RemoteProtocolError(
                ErrorCode.OVERSIZED, f"a {size}-byte field exceeds its {self.max_size}-byte limit"
            )
        return r.take(size)

    def check(self, value: object) -> str | None:
        if not isinstance(value, bytes):
            return "expected bytes"
        if not self.min_size <= len(value) <= self.max_size:
            return f"length {len(value)} is outside {self.min_size}..{self.max_size}"
        return None


# Control characters (C0, DEL, C1) and the bidi overrides that let a name rewrite how the rest of
# a terminal line reads. Names and reasons end up in a TUI on someone else's screen: an escape
# sequence in a display name must never reach a terminal.
_FORBIDDEN_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FORBIDDEN_MULTILINE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


class Text(Field[str]):
    """UTF-8 text with a u16 byte-length prefix, a byte limit, and no control characters.

    ``multiline`` allows ``\\n`` and ``\\t`` (chat); everything else of category C* that could
    steer a terminal is refused in both directions.
    """

    _LEN = struct.Struct(">H")

    def __init__(self, max_bytes: int, *, min_chars: int = 0, multiline: bool = False) -> None:
        if max_bytes > 0xFFFF:
            raise ValueError("Text fields are limited to 65535 bytes")
        self.max_bytes = max_bytes
        self.min_chars = min_chars
        self._forbidden = _FORBIDDEN_MULTILINE if multiline else _FORBIDDEN_TEXT

    def write(self, w: Writer, value: str) -> None:
        data = value.encode("utf-8")
        w.pack(self._LEN, len(data))
        w.put(data)

    def read(self, r: Reader) -> str:
        (size,) = r.unpack(self._LEN)
        if size > self.max_bytes:
            raise RemoteProtocolError(
                ErrorCode.OVERSIZED, f"a {size}-byte text exceeds its {self.max_bytes}-byte limit"
            )
        raw = r.take(size)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _remote("text is not valid UTF-8") from None

    def check(self, value: object) -> str | None:
        if not isinstance(value, str):
            return "expected text"
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            return "text cannot be encoded as UTF-8"
        if size > self.max_bytes:
            return f"text of {size} bytes exceeds the {self.max_bytes}-byte limit"
        if len(value) < self.min_chars:
            return f"text must have at least {self.min_chars} characters"
        if self._forbidden.search(value) or any(unicodedata.category(ch) == "Cs" for ch in value):
            return "text contains control characters"
        return None


def clip_text(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8 on a character boundary, controls removed.

    For building human sentences that embed peer-supplied values: the result always passes a
    :class:`Text` field of that size.
    """
    cleaned = _FORBIDDEN_TEXT.sub("", text)
    return cleaned.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


class Digits(Field[str]):
    """A decimal identifier of exactly ``length`` digits, first digit non-zero, sent as a u32.

    Session IDs are 9 digits: they fit a u32 and arrive already validated as a number range.
    """

    _U32 = struct.Struct(">I")

    def __init__(self, length: int) -> None:
        if not 1 <= length <= 9:
            raise ValueError("Digits fields fit a u32: at most 9 digits")
        self.length = length
        self.low = 10 ** (length - 1)
        self.high = 10**length - 1

    def write(self, w: Writer, value: str) -> None:
        w.pack(self._U32, int(value))

    def read(self, r: Reader) -> str:
        (number,) = r.unpack(self._U32)
        if not self.low <= number <= self.high:
            raise _remote(f"{number} is not a {self.length}-digit identifier")
        return str(number)

    def check(self, value: object) -> str | None:
        if not isinstance(value, str) or len(value) != self.length or not value.isascii():
            return f"must be {self.length} digits"
        if not value.isdigit() or value[0] == "0":
            return f"must be {self.length} digits, not starting with 0"
        return None


class ListOf(Field[tuple[T, ...]]):
    """A u16 count followed by that many items; the count limit is checked before reading."""

    _LEN = struct.Struct(">H")

    def __init__(self, item: Field[T], max_items: int) -> None:
        self.item = item
        self.max_items = max_items

    def write(self, w: Writer, value: tuple[T, ...]) -> None:
        w.pack(self._LEN, len(value))
        for i, item in enumerate(value):
            self.item.encode(w, item, f"item {i}")

    def read(self, r: Reader) -> tuple[T, ...]:
        (count,) = r.unpack(self._LEN)
        if count > self.max_items:
            raise RemoteProtocolError(
                ErrorCode.OVERSIZED, f"{count} items exceed the limit of {self.max_items}"
            )
        return tuple(self.item.decode(r, f"item {i}") for i in range(count))

    def check(self, value: object) -> str | None:
        if not isinstance(value, tuple):
            return "expected a tuple"
        if len(value) > self.max_items:
            return f"{len(value)} items exceed the limit of {self.max_items}"
        return None


R = TypeVar("R")


class Struct(Field[R]):
    """A nested schema dataclass (roster entries, certificates)."""

    def __init__(self, cls: type[R]) -> None:
        self.cls = cls

    def write(self, w: Writer, value: R) -> None:
        encode_fields(w, value)

    def read(self, r: Reader) -> R:
        return decode_fields(r, self.cls)

    def check(self, value: object) -> str | None:
        return None if isinstance(value, self.cls) else f"expected a {self.cls.__name__}"


class Optional(Field[T | None]):
    """A presence byte, then the value if present."""

    def __init__(self, inner: Field[T]) -> None:
        self.inner = inner

    def write(self, w: Writer, value: T | None) -> None:
        if value is None:
            w.put(b"\x00")
        else:
            w.put(b"\x01")
            self.inner.encode(w, value, "value")

    def read(self, r: Reader) -> T | None:
        flag = r.take(1)[0]
        if flag == 0:
            return None
        if flag != 1:
            raise _remote(f"presence byte must be 0 or 1, got {flag}")
        return self.inner.decode(r, "value")


_SCHEMAS: dict[type[Any], tuple[tuple[str, Field[Any]], ...]] = {}


def schema(cls: type[Any]) -> tuple[tuple[str, Field[Any]], ...]:
    """The ordered ``(name, Field)`` pairs of a dataclass whose fields are ``Annotated[T, F]``.

    Computed once per class. A field without a :class:`Field` annotation is a programming error
    and fails loudly at import-time use, not on the wire.
    """
    cached = _SCHEMAS.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls, include_extras=True)
    out: list[tuple[str, Field[Any]]] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        codecs = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Field)]
        if len(codecs) != 1:
            raise TypeError(f"{cls.__name__}.{f.name} needs exactly one wire Field annotation")
        out.append((f.name, codecs[0]))
    _SCHEMAS[cls] = tuple(out)
    return _SCHEMAS[cls]


def encode_fields(w: Writer, value: Any) -> None:
    for name, codec in schema(type(value)):
        codec.encode(w, getattr(value, name), name)


def decode_fields(r: Reader, cls: type[R]) -> R:
    values = {name: codec.decode(r, name) for name, codec in schema(cls)}
    return cls(**values)


def to_bytes(value: Any) -> bytes:
    """Encode a schema dataclass on its own (used for signed structures and sealed plaintexts)."""
    w = Writer()
    encode_fields(w, value)
    return w.getvalue()


def from_bytes(cls: type[R], data: bytes | bytearray | memoryview) -> R:
    """Decode exactly one schema dataclass from ``data``; trailing bytes are an error."""
    r = Reader(data)
    value = decode_fields(r, cls)
    r.finish()
    return value


def check_all(value: Any) -> None:
    """Validate a schema dataclass without encoding it (raises :class:`LocalProtocolError`)."""
    to_bytes(value)


__all__ = (
    "I32",
    "U8",
    "U16",
    "U32",
    "U64",
    "Blob",
    "Bool",
    "Digits",
    "Enum",
    "Field",
    "FixedBytes",
    "ListOf",
    "Optional",
    "Reader",
    "Struct",
    "Text",
    "Writer",
    "clip_text",
    "decode_fields",
    "encode_fields",
    "from_bytes",
    "schema",
    "to_bytes",
)
