"""Helpers for admin-socket tests: live sessions held open by real clients, admin calls from trio,
raw frames, and a relay on a background thread for tests whose own loop is asyncio (Pilot)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import trio
from relaykit import ORGANIZER, ORGANIZER_PASSWORD
from sessionkit import connect

from core.client import SessionBase
from core.client.events import SessionClosed, SessionEvent
from relay.admin_client import AdminClient
from relay.admin_protocol import SOCKET_NAME
from relay.config import RelayConfig
from relay.server import RelayInfo, serve_relay

T = TypeVar("T")
SESSION_PASSWORD = "tangerine-7"
WAIT = 10.0


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


# --- live sessions ------------------------------------------------------------------------------


@dataclass(eq=False)
class Member:
    """One real client in a live session; a background task records every event it gets."""

    name: str
    session: SessionBase | None = None
    events: list[SessionEvent] = field(default_factory=list)
    closed: trio.Event = field(default_factory=trio.Event)

    @property
    def peer_id(self) -> int:
        assert self.session is not None
        return self.session.peer_id

    @property
    def closed_with(self) -> SessionClosed:
        found = [e for e in self.events if isinstance(e, SessionClosed)]
        assert found, f"{self.name} was not closed"
        return found[-1]


@dataclass(eq=False)
class LiveSession:
    session_id: str
    organizer: Member
    members: list[Member]

    @property
    def everyone(self) -> list[Member]:
        return [self.organizer, *self.members]


async def _hold(
    info: RelayInfo,
    member: Member,
    join: Callable[[Any], Awaitable[SessionBase]],
    local_address: str | None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with connect(info.port, info.fingerprint, local_address=local_address) as client:
        member.session = await join(client)
        task_status.started()
        async for event in member.session.events:
            member.events.append(event)
        # The session is over for this client (its events end with SessionClosed): hang up.
        member.closed.set()


async def open_live_session(
    nursery: trio.Nursery,
    info: RelayInfo,
    names: list[str],
    *,
    organizer_name: str = "Olga",
    account: tuple[str, str] = (ORGANIZER, ORGANIZER_PASSWORD),
    session_id: str | None = None,
    local_addresses: dict[str, str] | None = None,
) -> LiveSession:
    """An organizer and members ``names``, connected and admitted, held open in ``nursery``."""
    addresses = local_addresses or {}
    organizer = Member(organizer_name)

    async def create(client: Any) -> SessionBase:
        await client.login(*account)
        session: SessionBase = await client.create_session(
            name=organizer_name, password=SESSION_PASSWORD, session_id=session_id
        )
        return session

    await nursery.start(_hold, info, organizer, create, addresses.get(organizer_name))
    assert organizer.session is not None
    sid = organizer.session.session_id
    members: list[Member] = []
    for name in names:
        member = Member(name)

        async def join(client: Any, name: str = name) -> SessionBase:
            session: SessionBase = await client.join(sid, name=name, password=SESSION_PASSWORD)
            return session

        await nursery.start(_hold, info, member, join, addresses.get(name))
        members.append(member)
    live = LiveSession(sid, organizer, members)
    await wait_until(
        lambda: (
            organizer.session is not None
            and organizer.session.roster is not None
            and len(organizer.session.roster.members) == len(names) + 1
        ),
        "the organizer sees every member",
    )
    return live


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.02)
        return
    raise AssertionError(f"timed out waiting until {what}")


# --- admin calls from trio --------------------------------------------------------------------


class Admin:
    """The real blocking client, called from trio through a worker thread."""

    def __init__(self, data_dir: Path) -> None:
        self.client = AdminClient(socket_path(data_dir), timeout=WAIT)

    async def __aenter__(self) -> Admin:
        await trio.to_thread.run_sync(self.client.connect)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.client.close()

    async def call(self, op: str, **args: object) -> Any:
        return await trio.to_thread.run_sync(functools.partial(self.client.call, op, args))


def frame(message: object) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


class RawAdmin:
    """A trio Unix-socket connection that speaks frames by hand (for malformed requests)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def open(cls, data_dir: Path) -> RawAdmin:
        return cls(await trio.open_unix_socket(os.fspath(socket_path(data_dir))))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def request(self, message: object) -> dict[str, Any]:
        await self.send(frame(message))
        return await self.receive()

    async def receive(self, timeout: float = WAIT) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                if len(self.buffer) >= 4:
                    (length,) = struct.unpack(">I", self.buffer[:4])
                    if len(self.buffer) >= 4 + length:
                        body = bytes(self.buffer[4 : 4 + length])
                        del self.buffer[: 4 + length]
                        message: dict[str, Any] = json.loads(body)
                        return message
                data = await self.stream.receive_some(65536)
                if not data:
                    raise EOFError("the relay closed the admin connection")
                self.buffer.extend(data)

    async def closed(self, timeout: float = WAIT) -> bool:
        """True once the relay has closed this connection (reads EOF)."""
        with trio.fail_after(timeout):
            while True:
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    return True
                if not data:
                    return True

    async def aclose(self) -> None:
        await self.stream.aclose()


# --- a non-owner user -------------------------------------------------------------------------


def connect_as(uid: int, gid: int, path: Path) -> str:
    """Fork, drop to ``uid``/``gid``, try the admin socket; return what happened, as text.

    ``"PermissionError"`` if connect was refused by the file system, ``"reply:<json>"`` if the
    relay answered a ``relay.status`` request. A forked child (not a new interpreter) because
    the interpreter may live where the other user cannot read it.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no trio, no threads, only syscalls
        status = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.connect(os.fspath(path))
            except OSError as exc:
                outcome = type(exc).__name__
            else:
                # The relay may refuse at once, before reading anything: send what we can,
                # then read what it said.
                with contextlib.suppress(OSError):
                    sock.sendall(frame({"v": 1, "id": 1, "op": "relay.status"}))
                data = b""
                with contextlib.suppress(OSError):
                    while chunk := sock.recv(65536):
                        data += chunk
                outcome = "reply:" + data[4:].decode() if data else "closed"
            os.write(write_end, outcome.encode())
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as reader:
        while chunk := reader.read(65536):
            chunks.append(chunk)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


# --- a relay on a background thread (for asyncio tests) --------------------------------------


class RelayThread:
    """A real relay in its own ``trio.run`` on a thread; clients run there too.

    ``await relay.call(async_fn, *args)`` runs ``async_fn`` in the relay's trio run without
    blocking the asyncio loop of the test (Textual's)."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.info: RelayInfo | None = None
        self.nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="relay", daemon=True)

    def __enter__(self) -> RelayThread:
        self._thread.start()
        self._ready.wait(WAIT)
        if self._failure is not None:
            raise self._failure
        assert self.info is not None, "the relay did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the relay (gracefully: sessions end, the admin socket goes); idempotent."""
        if self._thread.is_alive() and self._stop is not None and self._token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(WAIT)

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            stop = trio.Event()
            self.info = await nursery.start(functools.partial(serve_relay, self.config, stop=stop))
            self._ready.set()
            await self._stop.wait()
            stop.set()
            await trio.sleep(0.6)
            nursery.cancel_scope.cancel()

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        assert self._token is not None
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await asyncio.to_thread(self.run, fn, *args)

    async def live_session(self, names: list[str], **kwargs: Any) -> LiveSession:
        async def start() -> LiveSession:
            assert self.nursery is not None
            assert self.info is not None
            return await open_live_session(self.nursery, self.info, names, **kwargs)

        return await self.call(start)

    async def wait_closed(self, member: Member) -> SessionClosed:
        async def wait() -> SessionClosed:
            with trio.fail_after(WAIT):
                await member.closed.wait()
            return member.closed_with

        return await self.call(wait)
