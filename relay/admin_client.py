"""Clients of the relay's admin socket: blocking (the ``--json`` command line) and asyncio (TUI).

Both speak :mod:`relay.admin_protocol` and raise :class:`~relay.admin_protocol.AdminError` for an
error reply, :class:`AdminUnavailable` when the socket cannot be reached or the connection ends.
Neither keeps a password it was given beyond the request that carries it.

::

    with AdminClient(data_dir / "admin.sock") as admin:
        for session in admin.call("sessions.list")["sessions"]:
            print(session["session_id"])

    client = await AsyncAdminClient.connect(path)      # inside an asyncio loop (Textual)
    status = await client.call("relay.status")
    async for event in client.events():               # a second connection, for the stream
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from relay.admin_protocol import (
    HEADER,
    MAX_REPLY,
    MAX_REQUEST,
    VERSION,
    AdminError,
    AdminErrorCode,
    decode_json,
    encode_frame,
    unix_address,
)

__all__ = ["AdminClient", "AdminUnavailable", "AsyncAdminClient", "unavailable_sentence"]


class AdminUnavailable(Exception):
    """The admin socket cannot be reached, or the relay closed the connection."""


def unavailable_sentence(path: Path, exc: OSError) -> str:
    """Why connecting to the admin socket at ``path`` failed, in words an operator can act on."""
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return (
            f"There is no relay admin socket at {path}; is the relay running with this "
            "data directory (--data-dir)?"
        )
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return f"Nothing answers at {path}: the relay that made it is not running."
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"Permission denied for {path}: administer the relay as the user it runs as "
            "(for example: ssh -t relay-user@host porthole-relay admin)."
        )
    return f"Cannot connect to {path}: {exc.strerror or exc}."


def _request(request_id: int, op: str, args: Mapping[str, object] | None) -> bytes:
    message: dict[str, object] = {"v": VERSION, "id": request_id, "op": op}
    if args:
        message["args"] = dict(args)
    try:
        return encode_frame(message, limit=MAX_REQUEST)
    except ValueError:
        raise AdminError(AdminErrorCode.BAD_ARGS, "The request is too large.") from None


def _reply_object(payload: bytes) -> dict[str, Any]:
    message = decode_json(payload)
    if not isinstance(message, dict):
        raise AdminUnavailable("The relay sent something that is not an admin message.")
    return message


def _result(reply: Mapping[str, Any]) -> Any:
    """The result of a reply, or its error raised as :class:`AdminError`."""
    if reply.get("ok") is True:
        return reply.get("result")
    error = reply.get("error")
    if not isinstance(error, dict):
        raise AdminUnavailable("The relay sent a reply without a result or an error.")
    raw_code, message = error.get("code"), str(error.get("message", ""))
    try:
        code = AdminErrorCode(str(raw_code))
    except ValueError:
        code = AdminErrorCode.INTERNAL
        message = f"{message} [{raw_code}]"
    raise AdminError(code, message)


def _is_reply_to(message: Mapping[str, Any], request_id: int) -> bool:
    """Replies carry the request's id; an error with id null answers whatever was asked
    (a refused connection, a broken frame)."""
    if "event" in message:
        return False
    return message.get("id") == request_id or (
        message.get("id") is None and message.get("ok") is False
    )


# --- blocking -------------------------------------------------------------------------------


class AdminClient:
    """A blocking admin connection. ``timeout`` bounds each request (None: wait forever)."""

    def __init__(self, path: Path, *, timeout: float | None = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._buffer = bytearray()

    def connect(self) -> AdminClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            with unix_address(self.path) as address:
                sock.connect(address)
        except OSError as exc:
            sock.close()
            raise AdminUnavailable(unavailable_sentence(self.path, exc)) from None
        self._sock = sock
        return self

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> AdminClient:
        return self.connect() if self._sock is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def call(self, op: str, args: Mapping[str, object] | None = None) -> Any:
        """Send one request and return its result; raise AdminError for an error reply."""
        request_id = next(self._ids)
        self._send(_request(request_id, op, args))
        while True:
            message = self._receive()
            if _is_reply_to(message, request_id):
                return _result(message)

    def events(self) -> Iterator[dict[str, Any]]:
        """Subscribe, then yield each event as it arrives (blocks; ends when the relay does)."""
        self.call("events.subscribe")
        assert self._sock is not None
        self._sock.settimeout(None)
        while True:
            message = self._receive()
            event = message.get("event")
            if isinstance(event, dict):
                yield event

    def _send(self, frame: bytes) -> None:
        sock = self._require()
        try:
            sock.sendall(frame)
        except OSError as exc:
            raise AdminUnavailable(f"The relay closed the admin connection ({exc}).") from None

    def _receive(self) -> dict[str, Any]:
        header = self._read_exactly(HEADER.size)
        (length,) = HEADER.unpack(header)
        if not 0 < length <= MAX_REPLY:
            raise AdminUnavailable(f"The relay sent a frame of {length} bytes.")
        return _reply_object(self._read_exactly(length))

    def _read_exactly(self, count: int) -> bytes:
        sock = self._require()
        while len(self._buffer) < count:
            try:
                chunk = sock.recv(max(65536, count - len(self._buffer)))
            except TimeoutError:
                raise AdminUnavailable("The relay did not answer in time.") from None
            except OSError as exc:
                raise AdminUnavailable(f"The admin connection failed ({exc}).") from None
            if not chunk:
                raise AdminUnavailable("The relay closed the admin connection.")
            self._buffer.extend(chunk)
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise AdminUnavailable("Not connected to the admin socket.")
        return self._sock


# --- asyncio --------------------------------------------------------------------------------


class AsyncAdminClient:
    """An asyncio admin connection; requests are serialized, one reply at a time."""

    def __init__(
        self, path: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.path = path
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, path: Path) -> AsyncAdminClient:
        path = Path(path)
        try:
            with unix_address(path) as address:
                reader, writer = await asyncio.open_unix_connection(address, limit=MAX_REPLY)
        except OSError as exc:
            raise AdminUnavailable(unavailable_sentence(path, exc)) from None
        return cls(path, reader, writer)

    async def call(self, op: str, args: Mapping[str, object] | None = None) -> Any:
        """Send one request and return its result; raise AdminError for an error reply."""
        async with self._lock:
            request_id = next(self._ids)
            await self._send(_request(request_id, op, args))
            while True:
                message = await self._receive()
                if _is_reply_to(message, request_id):
                    return _result(message)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Subscribe this connection, then yield events until it ends (AdminUnavailable)."""
        await self.call("events.subscribe")
        while True:
            message = await self._receive()
            event = message.get("event")
            if isinstance(event, dict):
                yield event

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def _send(self, frame: bytes) -> None:
        try:
            self._writer.write(frame)
            await self._writer.drain()
        except OSError as exc:
            raise AdminUnavailable(f"The relay closed the admin connection ({exc}).") from None

    async def _receive(self) -> dict[str, Any]:
        try:
            header = await self._reader.readexactly(HEADER.size)
            (length,) = HEADER.unpack(header)
            if not 0 < length <= MAX_REPLY:
                raise AdminUnavailable(f"The relay sent a frame of {length} bytes.")
            payload = await self._reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise AdminUnavailable("The relay closed the admin connection.") from None
        except OSError as exc:
            raise AdminUnavailable(f"The admin connection failed ({exc}).") from None
        return _reply_object(payload)
