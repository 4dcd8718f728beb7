"""The relay's admin protocol, version 1, without I/O: framing, requests, replies, events, ops.

The relay listens on a Unix socket in its data directory (:data:`SOCKET_NAME`, mode 0600, owned
by the relay's user), so whoever may administer the relay is whoever may log in as that user —
typically over ``ssh -t``. Both directions carry frames::

    u32 length (big-endian) ‖ that many bytes of UTF-8 JSON (one object)

A request frame is at most :data:`MAX_REQUEST` bytes; a reply or event frame at most
:data:`MAX_REPLY`. A request::

    {"v": 1, "id": 7, "op": "sessions.end", "args": {"session_id": "482913570"}}

``id`` is any integer the client picks (it is echoed; null in replies to requests that had none
or a bad one); ``args`` may be omitted when an op takes none. Replies::

    {"v": 1, "id": 7, "ok": true, "result": {...}}
    {"v": 1, "id": 7, "ok": false, "error": {"code": "not_found", "message": "..."}}

``events.subscribe`` adds a live stream to the connection: after its reply, frames without an
``id`` arrive whenever something happens, interleaved with replies to further requests::

    {"v": 1, "event": {"kind": "member.left", "at": 1760000000.5, "session_id": "...", ...}}

Every field is validated; anything else — a frame that is empty or too long, bytes that are
not JSON, a version other than 1, an unknown op, an unknown or ill-typed argument — gets an
error with a stable :class:`AdminErrorCode`, never a crash. After ``bad_frame`` the relay closes
the connection (it can no longer tell where the next frame starts); every other error leaves it
open. Passwords (``accounts.add``, ``accounts.passwd``) travel only inside this local socket and
are never logged, echoed or written anywhere but as an argon2id hash.

The ops and their arguments are one table, :data:`OPS`: the server validates against it, the
command line (``porthole-relay admin --json OP KEY=VALUE ...``) converts text against it, and its
help is generated from it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import os
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final

from relay.limits import address_key

__all__ = [
    "LOCKOUT_SCOPES",
    "MAX_REPLY",
    "MAX_REQUEST",
    "OPS",
    "SOCKET_NAME",
    "VERSION",
    "AdminError",
    "AdminErrorCode",
    "Arg",
    "FrameDecoder",
    "Op",
    "Request",
    "ban_key",
    "encode_frame",
    "error_reply",
    "ok_reply",
    "parse_cli_args",
    "parse_request",
    "parse_since",
    "unix_address",
]

VERSION: Final = 1
SOCKET_NAME: Final = "admin.sock"
MAX_REQUEST: Final = 64 * 1024
"""Largest request frame the relay accepts (bytes of JSON)."""
MAX_REPLY: Final = 16 * 1024 * 1024
"""Largest reply or event frame a client must accept (a long record list)."""
HEADER: Final = struct.Struct(">I")
MAX_LIST_LIMIT: Final = 10_000
DEFAULT_LIST_LIMIT: Final = 100
MAX_TEXT: Final = 255
MAX_REASON: Final = 200
MAX_PASSWORD_CHARS: Final = 1024
MAX_ID: Final = 2**53 - 1
"""Request ids stay exact in every JSON implementation."""

LOCKOUT_SCOPES: Final = (
    "login_address",
    "login_network",
    "login_user",
    "join_address",
    "join_network",
    "join_session",
)
"""Where a lockout lives: failed logins per address / network / user name, failed joins per
address / network / session ID (docs/design.md §7.3)."""

SECURITY_KINDS: Final = (
    "login_failed",
    "login_disabled",
    "join_failed",
    "lockout",
    "lockout_lifted",
    "ban",
    "unban",
    "connection_limit",
    "protocol_error",
    "admin_action",
    "guessing",
)
"""Values of :class:`relay.store.SecurityEventKind` (kept here so clients need not import the
store; a test checks that the two agree)."""


class AdminErrorCode(StrEnum):
    """Stable error codes of the admin protocol (add new ones, never rename)."""

    #: Frame length 0 or over :data:`MAX_REQUEST`; the relay closes the connection after this.
    BAD_FRAME = "bad_frame"
    #: The frame is not UTF-8 JSON.
    BAD_JSON = "bad_json"
    #: Valid JSON, but not a request object (missing or ill-typed v, id, op, args; extra keys).
    BAD_REQUEST = "bad_request"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_OP = "unknown_op"
    #: An argument is missing, unknown, of the wrong type or out of range.
    BAD_ARGS = "bad_args"
    #: No such session, member, account, lockout or ban.
    NOT_FOUND = "not_found"
    #: The session rules refuse it (removing the organizer, for one).
    NOT_ALLOWED = "not_allowed"
    #: It exists already (an account name, a ban).
    CONFLICT = "conflict"
    WEAK_PASSWORD = "weak_password"  # noqa: S105 (an error code, not a password)
    #: The connecting user is neither the relay's user nor root.
    FORBIDDEN = "forbidden"
    #: Too many admin connections at once.
    BUSY = "busy"
    #: A bug in the relay; the relay keeps running and logs it.
    INTERNAL = "internal"


class AdminError(Exception):
    """A refusal with a stable code and a sentence for people (both travel in error replies)."""

    def __init__(self, code: AdminErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.code.value}]"


# --- ops and their arguments ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of an op: its JSON type, bounds, and whether it is a secret."""

    name: str
    kind: type[str] | type[int] | type[float]
    help: str
    required: bool = True
    #: Strings: at most this many characters, printable only (unless ``secret``).
    max_len: int = MAX_TEXT
    #: Integers: inclusive bounds.
    minimum: int = 0
    maximum: int = 2**63 - 1
    #: One of these values (strings), if given.
    choices: tuple[str, ...] = ()
    #: Never logged, echoed or accepted on a command line.
    secret: bool = False


@dataclass(frozen=True, slots=True)
class Op:
    name: str
    summary: str
    args: tuple[Arg, ...] = ()

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)


_SESSION_ID = Arg("session_id", str, "the 9-digit session ID (spaces allowed)", max_len=64)
_USERNAME = Arg("username", str, "organizer account name", max_len=64)
_PASSWORD = Arg("password", str, "the new password", max_len=MAX_PASSWORD_CHARS, secret=True)
_SINCE = Arg("since", float, "only entries at or after this UNIX time", required=False)
_LIMIT = Arg(
    "limit",
    int,
    f"at most this many entries (default {DEFAULT_LIST_LIMIT})",
    required=False,
    minimum=1,
    maximum=MAX_LIST_LIMIT,
)

OPS: Final[Mapping[str, Op]] = {
    op.name: op
    for op in (
        Op("relay.status", "the relay's name, listener, fingerprint and counters"),
        Op("sessions.list", "live sessions: organizer, members, duration, bytes"),
        Op(
            "sessions.get",
            "one live session: members, roles, addresses, knocks",
            (_SESSION_ID,),
        ),
        Op("sessions.end", "end a session; its members are told", (_SESSION_ID,)),
        Op(
            "sessions.kick",
            "remove a member; the organizer's client re-keys",
            (
                _SESSION_ID,
                Arg("peer_id", int, "the member's peer id", minimum=1, maximum=2**32 - 1),
            ),
        ),
        Op("sessions.lock", "lock a session: nobody new may join", (_SESSION_ID,)),
        Op("sessions.unlock", "unlock a session", (_SESSION_ID,)),
        Op("lockouts.list", "keys locked out after failed logins or joins"),
        Op(
            "lockouts.lift",
            "lift a lockout (and forget the failures behind it)",
            (
                Arg("key", str, "the locked key as listed"),
                Arg(
                    "scope",
                    str,
                    "only this scope (default: every scope)",
                    required=False,
                    choices=LOCKOUT_SCOPES,
                ),
            ),
        ),
        Op("bans.list", "banned addresses (refused at connect)"),
        Op(
            "bans.add",
            "ban an address (IPv6: its /64); disconnects it",
            (
                Arg("address", str, "an IP address, or an IPv6 /64 as listed"),
                Arg("reason", str, "a note for operators", required=False, max_len=MAX_REASON),
            ),
        ),
        Op("bans.remove", "lift a ban", (Arg("address", str, "the address as listed"),)),
        Op("accounts.list", "organizer accounts (never any password)"),
        Op("accounts.add", "create an organizer account", (_USERNAME, _PASSWORD)),
        Op("accounts.passwd", "set a new password", (_USERNAME, _PASSWORD)),
        Op("accounts.disable", "stop an account from logging in", (_USERNAME,)),
        Op("accounts.enable", "let a disabled account log in again", (_USERNAME,)),
        Op(
            "records.list",
            "session records, newest first",
            (
                Arg("organizer", str, "only this organizer", required=False, max_len=64),
                _SINCE,
                _LIMIT,
            ),
        ),
        Op(
            "events.list",
            "security events, newest first",
            (
                Arg("kind", str, "only this kind", required=False, choices=SECURITY_KINDS),
                _SINCE,
                _LIMIT,
            ),
        ),
        Op("events.subscribe", "stream live events on this connection after the reply"),
    )
}


# --- framing ----------------------------------------------------------------------------------


def encode_frame(message: Mapping[str, object], *, limit: int = MAX_REPLY) -> bytes:
    """One frame: the length prefix and compact UTF-8 JSON. Raises ValueError over ``limit``."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    data = body.encode("utf-8")
    if len(data) > limit:
        raise ValueError(f"a {len(data)}-byte message is over the {limit}-byte limit")
    return HEADER.pack(len(data)) + data


class FrameError(AdminError):
    """The byte stream cannot be framed any more (empty or oversized frame)."""


class FrameDecoder:
    """Feed bytes, take whole payloads. A bad length raises :class:`FrameError` (sticky)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._broken: FrameError | None = None

    def feed(self, data: bytes | bytearray) -> None:
        self._buffer.extend(data)

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished frame (nonzero means a frame has started)."""
        return len(self._buffer)

    def next_payload(self) -> bytes | None:
        if self._broken is not None:
            raise self._broken
        if len(self._buffer) < HEADER.size:
            return None
        (length,) = HEADER.unpack_from(self._buffer)
        if length == 0 or length > self.limit:
            self._broken = FrameError(
                AdminErrorCode.BAD_FRAME,
                f"A frame of {length} bytes; frames are 1 to {self.limit} bytes of JSON "
                "after a 4-byte big-endian length.",
            )
            raise self._broken
        end = HEADER.size + length
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[HEADER.size : end])
        del self._buffer[:end]
        return payload


def decode_json(payload: bytes) -> object:
    """Parse one payload; raise BAD_JSON for anything that is not strict UTF-8 JSON."""

    def no_constants(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(payload.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AdminError(AdminErrorCode.BAD_JSON, "The frame is not UTF-8 JSON.") from None


# --- requests -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    id: int | None
    op: Op
    args: dict[str, object] = field(default_factory=dict)


class RequestError(AdminError):
    """A request that cannot be served; ``request_id`` is echoed in the error reply."""

    def __init__(self, code: AdminErrorCode, message: str, request_id: int | None) -> None:
        super().__init__(code, message)
        self.request_id = request_id


_REQUEST_KEYS = frozenset({"v", "id", "op", "args"})


def parse_request(payload: bytes) -> Request:
    """Validate one request frame against :data:`OPS`; raise :class:`RequestError` if bad."""
    try:
        message = decode_json(payload)
    except AdminError as exc:
        raise RequestError(exc.code, exc.message, None) from None
    if not isinstance(message, dict):
        raise RequestError(AdminErrorCode.BAD_REQUEST, "A request is a JSON object.", None)
    raw_id = message.get("id")
    request_id = raw_id if isinstance(raw_id, int) and _is_int(raw_id) else None
    if request_id is not None and not 0 <= request_id <= MAX_ID:
        request_id = None

    def bad(code: AdminErrorCode, text: str) -> RequestError:
        return RequestError(code, text, request_id)

    if "id" in message and request_id is None:
        raise bad(AdminErrorCode.BAD_REQUEST, f"The id must be an integer from 0 to {MAX_ID}.")
    extra = sorted(set(message) - _REQUEST_KEYS)
    if extra:
        raise bad(AdminErrorCode.BAD_REQUEST, f"Unknown request field(s): {', '.join(extra)}.")
    version = message.get("v")
    if not _is_int(version):
        raise bad(AdminErrorCode.BAD_REQUEST, 'A request needs the protocol version: "v": 1.')
    if version != VERSION:
        raise bad(
            AdminErrorCode.UNSUPPORTED_VERSION,
            f"This relay speaks admin protocol version {VERSION}, not {version}.",
        )
    name = message.get("op")
    if not isinstance(name, str):
        raise bad(AdminErrorCode.BAD_REQUEST, 'A request needs an "op" (a string).')
    op = OPS.get(name)
    if op is None:
        shown = name if len(name) <= 40 and name.isprintable() else "that op"
        raise bad(AdminErrorCode.UNKNOWN_OP, f"Unknown op {shown!r}; see relay.status for ops.")
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise bad(AdminErrorCode.BAD_REQUEST, 'The "args" of a request are a JSON object.')
    try:
        checked = validate_args(op, args)
    except AdminError as exc:
        raise bad(exc.code, exc.message) from None
    return Request(request_id, op, checked)


def validate_args(op: Op, args: Mapping[str, object]) -> dict[str, object]:
    """Check ``args`` against ``op``'s table entry; return them (missing optional ones absent)."""
    unknown = sorted(set(args) - {a.name for a in op.args})
    if unknown:
        shown = ", ".join(u if len(u) <= 40 and u.isprintable() else "?" for u in unknown)
        raise AdminError(AdminErrorCode.BAD_ARGS, f"{op.name} takes no argument(s) {shown}.")
    out: dict[str, object] = {}
    for spec in op.args:
        if spec.name not in args:
            if spec.required:
                raise AdminError(
                    AdminErrorCode.BAD_ARGS, f"{op.name} needs {spec.name}: {spec.help}."
                )
            continue
        out[spec.name] = _check_value(op, spec, args[spec.name])
    return out


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(op: Op, spec: Arg, value: object) -> object:
    where = f"{op.name}: {spec.name}"
    if spec.kind is str:
        if not isinstance(value, str):
            raise AdminError(AdminErrorCode.BAD_ARGS, f"{where} must be a string.")
        if not value:
            raise AdminError(AdminErrorCode.BAD_ARGS, f"{where} must not be empty.")
        if len(value) > spec.max_len:
            raise AdminError(
                AdminErrorCode.BAD_ARGS, f"{where} is longer than {spec.max_len} characters."
            )
        if not spec.secret and not value.isprintable():
            raise AdminError(AdminErrorCode.BAD_ARGS, f"{where} contains control characters.")
        if spec.choices and value not in spec.choices:
            raise AdminError(
                AdminErrorCode.BAD_ARGS, f"{where} is one of: {', '.join(spec.choices)}."
            )
        return value
    if spec.kind is int:
        if not _is_int(value):
            raise AdminError(AdminErrorCode.BAD_ARGS, f"{where} must be an integer.")
        assert isinstance(value, int)
        if not spec.minimum <= value <= spec.maximum:
            raise AdminError(
                AdminErrorCode.BAD_ARGS,
                f"{where} must be from {spec.minimum} to {spec.maximum}.",
            )
        return value
    # float: a number (an integer is fine), finite and not negative.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdminError(AdminErrorCode.BAD_ARGS, f"{where} must be a number.")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise AdminError(AdminErrorCode.BAD_ARGS, f"{where} must be a non-negative number.")
    return number


# --- replies and events -------------------------------------------------------------------


def ok_reply(request_id: int | None, result: object) -> dict[str, object]:
    return {"v": VERSION, "id": request_id, "ok": True, "result": result}


def error_reply(request_id: int | None, code: AdminErrorCode, message: str) -> dict[str, object]:
    return {
        "v": VERSION,
        "id": request_id,
        "ok": False,
        "error": {"code": code.value, "message": message},
    }


def event_message(event: Mapping[str, object]) -> dict[str, object]:
    return {"v": VERSION, "event": dict(event)}


def ban_key(text: str) -> str:
    """The address key a ban on ``text`` stores: an IPv4 address, or the /64 of an IPv6 one.

    Accepts what the relay lists (``2001:db8::/64``) as well as a plain address.
    """
    text = text.strip()
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise AdminError(AdminErrorCode.BAD_ARGS, f"{text!r} is not an address.") from None
        if network.version == 6 and network.prefixlen == 64:
            return str(network)
        if network.version == 4 and network.prefixlen == 32:
            return str(network.network_address)
        raise AdminError(
            AdminErrorCode.BAD_ARGS, "Ban one IPv4 address or one IPv6 /64 (what the relay counts)."
        )
    try:
        return address_key(text)
    except ValueError:
        raise AdminError(AdminErrorCode.BAD_ARGS, f"{text!r} is not an IP address.") from None


# --- the command line's view of the table ---------------------------------------------------


def parse_cli_args(op: Op, pairs: Sequence[str]) -> dict[str, object]:
    """Turn ``KEY=VALUE`` words into ``op``'s arguments, typed by the table.

    Secrets are refused here: a password on a command line is visible to every local user in
    the process list. (The CLI reads them from standard input or a prompt instead.)
    """
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise AdminError(AdminErrorCode.BAD_ARGS, f"Expected KEY=VALUE, got {pair!r}.")
        spec = op.arg(key)
        if spec is None:
            names = ", ".join(a.name for a in op.args if not a.secret) or "no arguments"
            raise AdminError(AdminErrorCode.BAD_ARGS, f"{op.name} takes {names}; not {key!r}.")
        if spec.secret:
            raise AdminError(
                AdminErrorCode.BAD_ARGS,
                f"Never put a {key} on the command line; use --password-stdin or the prompt.",
            )
        if key in out:
            raise AdminError(AdminErrorCode.BAD_ARGS, f"{key} is given twice.")
        out[key] = _from_text(op, spec, text)
    # Validate what was given; the secrets are added by the caller.
    public = Op(op.name, op.summary, tuple(a for a in op.args if not a.secret))
    return validate_args(public, out)


def _from_text(op: Op, spec: Arg, text: str) -> object:
    if spec.kind is str:
        return text
    if spec.name == "since":
        try:
            return parse_since(text, time.time())
        except ValueError as exc:
            raise AdminError(AdminErrorCode.BAD_ARGS, f"{op.name}: since: {exc}") from None
    try:
        return int(text) if spec.kind is int else float(text)
    except ValueError:
        kind = "an integer" if spec.kind is int else "a number"
        raise AdminError(
            AdminErrorCode.BAD_ARGS, f"{op.name}: {spec.name} must be {kind}, got {text!r}."
        ) from None


_AGO_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float) -> float:
    """A point in time as people type it, as UNIX seconds.

    ``90m``, ``24h``, ``7d``, ``2w`` mean that long before ``now``; ``2026-11-27`` and
    ``2026-11-27 14:30`` (or with ``T``, seconds optional) are local times; a plain number is
    UNIX seconds. Raises ValueError with a sentence otherwise.
    """
    text = text.strip()
    unit = _AGO_UNITS.get(text[-1:].lower())
    if unit is not None and text[:-1].isdigit():
        return max(0.0, now - int(text[:-1]) * unit)
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number) and number >= 0:
            return number
        raise ValueError("a time is not negative")
    try:
        moment = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use 24h, 7d, 2026-11-27, '2026-11-27 14:30' or UNIX seconds"
        ) from None
    return moment.timestamp() if moment.tzinfo else moment.astimezone().timestamp()


# --- where the socket is --------------------------------------------------------------------


def default_socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


#: sun_path holds 108 bytes on Linux, including the terminating NUL.
_SUN_PATH_MAX = 107


@contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """An address to bind or connect ``path`` with, even when ``path`` is too long for AF_UNIX.

    A long path is reached through the directory's file descriptor (``/proc/self/fd/N/name``),
    which is as good as the path itself for bind and connect on Linux.
    """
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield os.fspath(path)
        return
    flags = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path.parent, flags)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)
