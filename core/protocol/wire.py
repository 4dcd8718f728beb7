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
import keyword
import linecache
import re
import struct
import typing
import unicodedata
from enum import Flag, IntEnum
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
    """Encode ``value`` field by field: the reference every compiled encoder must match."""
    for name, codec in schema(type(value)):
        codec.encode(w, getattr(value, name), name)


def decode_fields(r: Reader, cls: type[R]) -> R:
    values = {name: codec.decode(r, name) for name, codec in schema(cls)}
    return cls(**values)


def to_bytes(value: Any) -> bytes:
    """Encode a schema dataclass on its own (used for signed structures and sealed plaintexts)."""
    encoder = _ENCODERS.get(type(value)) or _compile_encoder(type(value))
    return b"".join(encoder(value))


def encode_chunks(value: Any) -> list[bytes]:
    """:func:`to_bytes` as byte strings to concatenate, so that a caller adding its own prefix
    (framing) copies the body once instead of twice. The list is the caller's to keep."""
    encoder = _ENCODERS.get(type(value)) or _compile_encoder(type(value))
    return encoder(value)


def from_bytes(cls: type[R], data: bytes | bytearray | memoryview) -> R:
    """Decode exactly one schema dataclass from ``data``; trailing bytes are an error."""
    r = Reader(data)
    value = decode_fields(r, cls)
    r.finish()
    return value


def check_all(value: Any) -> None:
    """Validate a schema dataclass without encoding it (raises :class:`LocalProtocolError`)."""
    to_bytes(value)


# ---------------------------------------------------------------------------------------------
# Compiled encoders.
#
# Why: the field-by-field path above costs about five Python calls per field (encode, check,
# write, Writer.pack, Writer.put), some 110 calls to send one keystroke's screen update. So each
# schema class gets, once, a generated function that fetches its fields as attributes, checks
# them inline and packs each run of fixed-size fields with one precomputed struct.Struct.
#
# Why it cannot change behaviour: the inline checks are a *conservative* version of each Field's
# ``check`` (``type(v) is int`` where ``check`` says ``isinstance``, and so on). Whenever one of
# them fails, the generated function hands the whole value to :func:`encode_fields`, which
# either raises exactly the error it always raised or, for an unusual but valid value (an int
# subclass, say), encodes it the slow way. Only values every inline check accepts take the fast
# path, and for them the packed bytes are those the Field's ``write`` would produce. Field types
# without a fast form (Optional, ListOf, Field subclasses, ...) are encoded in place by their own
# ``encode``. ``tests/core/test_wire_compiled.py`` checks both claims for every message class.
# :func:`encoder_source` shows what was generated for a class.

_Encoder = typing.Callable[[Any], list[bytes]]
_ENCODERS: dict[type[Any], _Encoder] = {}
_SOURCES: dict[type[Any], str] = {}

#: struct codes the fast path packs integers with, and the range each can hold.
_INT_RANGES = {
    "B": (0, 0xFF),
    "H": (0, 0xFFFF),
    "I": (0, 0xFFFF_FFFF),
    "Q": (0, 0xFFFF_FFFF_FFFF_FFFF),
    "i": (-(2**31), 2**31 - 1),
}


def _encode_slowly(value: Any) -> list[bytes]:
    """The fallback of every compiled encoder: the reference path, which raises the right error."""
    w = Writer()
    encode_fields(w, value)
    return [w.getvalue()]


class _Source:
    """The body of one compiled encoder, written field by field.

    Statements check each field and bind its value to a fresh local; ``_fmt``/``_args`` collect
    the fixed-size fields since the last variable-length chunk, which :meth:`chunk` closes into
    one ``struct.pack`` call. The function returns the list of chunks; nothing is packed before
    every field has passed its check.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {"_slow": _encode_slowly}
        self.chunks: list[str] = []
        self._fmt = ""
        self._args: list[str] = []
        self._count = 0

    def local(self, prefix: str = "v") -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def const(self, obj: object) -> str:
        """A name for ``obj`` in the generated function's globals."""
        for name, known in self.env.items():
            if known is obj:
                return name
        name = f"_c{len(self.env)}"
        self.env[name] = obj
        return name

    def fetch(self, owner: str, name: str) -> str:
        """Bind field ``name`` of the object in local ``owner`` to a fresh local."""
        var = self.local()
        if name.isidentifier() and not keyword.iskeyword(name):
            self.lines.append(f"{var} = {owner}.{name}")
        else:
            self.lines.append(f"{var} = getattr({owner}, {name!r})")
        return var

    def guard(self, condition: str) -> None:
        """Take the slow path unless ``condition`` holds."""
        self.lines.append(f"if not ({condition}):")
        self.lines.append("    return _slow(value)")

    def pack(self, code: str, arg: str) -> None:
        self._fmt += code
        self._args.append(arg)

    def chunk(self, expr: str) -> None:
        self._close_struct()
        self.chunks.append(expr)

    def finish(self) -> list[str]:
        self._close_struct()
        return [*self.lines, f"return [{', '.join(self.chunks)}]"]

    def _close_struct(self) -> None:
        if self._args:
            packer = self.const(struct.Struct(">" + self._fmt).pack)
            self.chunks.append(f"{packer}({', '.join(self._args)})")
            self._fmt, self._args = "", []


def _int_code(fmt: struct.Struct, low: object, high: object) -> str | None:
    """The struct code of a big-endian one-value format whose range holds ``low..high``."""
    code = fmt.format[1:] if fmt.format.startswith(">") else ""
    limits = _INT_RANGES.get(code)
    if limits is None or type(low) is not int or type(high) is not int:
        return None
    return code if limits[0] <= low <= high <= limits[1] else None


# One emitter per Field class with a fast form. Each first decides whether it can compile the
# field (returning False, before writing anything, if not), then writes its check and packing.
_Nest = tuple[type[Any], ...]
_Emitter = typing.Callable[[_Source, str, Any, _Nest], bool]


def _emit_int(src: _Source, v: str, codec: _Int, nest: _Nest) -> bool:
    code = _int_code(codec._struct, codec.low, codec.high)
    if code is None:
        return False
    src.guard(f"type({v}) is int and {codec.low} <= {v} <= {codec.high}")
    src.pack(code, v)
    return True


def _emit_bool(src: _Source, v: str, codec: Bool, nest: _Nest) -> bool:
    src.guard(f"type({v}) is bool")
    src.pack("?", v)  # packs True/False as 1/0, like Bool.write
    return True


def _emit_enum(src: _Source, v: str, codec: Enum[Any], nest: _Nest) -> bool:
    enum: type[Any] = codec.enum  # any class at run time, whatever the annotation says
    if not isinstance(enum, type) or issubclass(enum, Flag) or not issubclass(enum, IntEnum):
        return False
    values = [int(member) for member in enum]
    code = _int_code(codec._struct, min(values, default=0), max(values, default=0))
    if code is None:
        return False
    # Members of an enum with members cannot be subclassed: ``type() is`` is ``isinstance``.
    src.guard(f"type({v}) is {src.const(enum)}")
    src.pack(code, v)
    return True


def _emit_digits(src: _Source, v: str, codec: Digits, nest: _Nest) -> bool:
    src.guard(
        f"type({v}) is str and len({v}) == {codec.length} and {v}.isascii()"
        f" and {v}.isdigit() and {v}[0] != '0'"
    )
    src.pack("I", f"int({v})")
    return True


def _emit_fixed_bytes(src: _Source, v: str, codec: FixedBytes, nest: _Nest) -> bool:
    if type(codec.size) is not int:
        return False
    src.guard(f"type({v}) is bytes and len({v}) == {codec.size}")
    src.chunk(v)
    return True


def _emit_blob(src: _Source, v: str, codec: Blob, nest: _Nest) -> bool:
    if _int_code(Blob._LEN, codec.min_size, codec.max_size) is None:
        return False
    n = src.local("n")
    src.guard(f"type({v}) is bytes")
    src.lines.append(f"{n} = len({v})")
    src.guard(f"{codec.min_size} <= {n} <= {codec.max_size}")
    src.pack("I", n)
    src.chunk(v)
    return True


def _emit_text(src: _Source, v: str, codec: Text, nest: _Nest) -> bool:
    """Strict UTF-8 refuses every surrogate, so once ``encode`` succeeded the category-Cs test
    of :meth:`Text.check` can only pass and is not repeated."""
    if type(codec.max_bytes) is not int or type(codec.min_chars) is not int:
        return False
    data, n = src.local("d"), src.local("n")
    src.guard(f"type({v}) is str")
    src.lines += [
        "try:",
        f"    {data} = {v}.encode('utf-8')",
        "except UnicodeEncodeError:",
        "    return _slow(value)",
        f"{n} = len({data})",
    ]
    min_chars = f" and len({v}) >= {codec.min_chars}" if codec.min_chars > 0 else ""
    clean = f"{src.const(codec._forbidden.search)}({v}) is None"
    src.guard(f"{n} <= {codec.max_bytes}{min_chars} and {clean}")
    src.pack("H", n)
    src.chunk(data)
    return True


def _emit_struct(src: _Source, v: str, codec: Struct[Any], nest: _Nest) -> bool:
    """A nested dataclass is inlined: its fields join the runs of the enclosing one."""
    if codec.cls in nest:
        return False
    try:
        fields = schema(codec.cls)
    except TypeError:
        return False  # a broken nested class fails where the reference path fails it
    src.guard(f"type({v}) is {src.const(codec.cls)}")
    for name, inner in fields:
        _emit_field(src, v, name, inner, (*nest, codec.cls))
    return True


_EMITTERS: dict[type[Any], _Emitter] = {
    _Int: _emit_int,
    Bool: _emit_bool,
    Enum: _emit_enum,
    Digits: _emit_digits,
    FixedBytes: _emit_fixed_bytes,
    Blob: _emit_blob,
    Text: _emit_text,
    Struct: _emit_struct,
}


def _emit_field(src: _Source, owner: str, name: str, codec: Field[Any], nest: _Nest) -> None:
    """Fetch one field and compile it, or let its own ``encode`` write it in place.

    Keyed by exact class: a subclass of a Field may check or write differently.
    """
    v = src.fetch(owner, name)
    emit = _EMITTERS.get(type(codec))
    if emit is not None and emit(src, v, codec, nest):
        return
    writer = src.local("w")
    src.lines.append(f"{writer} = {src.const(Writer)}()")
    src.lines.append(f"{src.const(codec)}.encode({writer}, {v}, {name!r})")
    src.chunk(f"{writer}.getvalue()")


def _compile_encoder(cls: type[Any]) -> _Encoder:
    """Generate, cache and return the encoder of one schema class (see the comment above)."""
    src = _Source()
    for name, codec in schema(cls):
        _emit_field(src, "value", name, codec, (cls,))
    body = "\n".join(f"    {line}" for line in src.finish())
    source = f"def encode(value):\n{body}\n"
    filename = f"<wire encoder {cls.__module__}.{cls.__qualname__}>"
    namespace = dict(src.env)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated source
    encoder: _Encoder = namespace["encode"]
    encoder.__qualname__ = f"encode_{cls.__qualname__}"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    _SOURCES[cls] = source
    _ENCODERS[cls] = encoder
    return encoder


def encoder_source(cls: type[Any]) -> str:
    """The generated source of ``cls``'s compiled encoder (for reading and debugging)."""
    if cls not in _SOURCES:
        _compile_encoder(cls)
    return _SOURCES[cls]


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
    "encode_chunks",
    "encode_fields",
    "encoder_source",
    "from_bytes",
    "schema",
    "to_bytes",
)
