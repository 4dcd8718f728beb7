"""The relay side of the admin socket: a Unix socket in the data directory, mode 0600.

``serve_relay`` starts it in its nursery (trio's convention for servers)::

    await nursery.start(partial(serve_admin, relay, socket_path, listen=...))

Who may administer is who may log in as the relay's user: the socket is created 0600 (under a
0177 umask, so it is never more open, not even for an instant), and every connection's peer
credentials are checked as well — only the relay's own user and root are served, so loosening
the file's mode by hand does not open the relay to other users. A stale socket left by a relay
that died is replaced; a socket that still answers means another relay runs on this data
directory, and this one refuses to start. The socket is removed when the relay stops.

Every connection gets a reader (frames → requests → replies, in order) and a writer (a bounded
queue → the socket). Requests are validated against :data:`relay.admin_protocol.OPS` before
anything runs; a handler's refusal is an error reply with a stable code, and even a bug in a
handler costs one error reply, never the relay. ``events.subscribe`` adds the connection to the
live event stream, fed synchronously by the switchboard's and the recorder's observers; a
subscriber that stops reading is disconnected rather than allowed to grow memory.

What the admin socket shows is metadata the relay holds anyway — session IDs, organizer
accounts, member display names and addresses, roles, counters. There is no session content on
the relay to show, and no secret leaves through it: passwords only ever travel *in* (for
``accounts.add`` and ``accounts.passwd``), and a user name typed into a failed login appears only
if it names an existing account (it might be a password typed into the wrong field).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import socket
import stat
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from core.errors import ErrorCode
from core.links import BadLink, normalize_session_id
from core.rules import Action, Role, roles_of
from relay.admin_protocol import (
    DEFAULT_LIST_LIMIT,
    MAX_REQUEST,
    OPS,
    VERSION,
    AdminError,
    AdminErrorCode,
    FrameDecoder,
    FrameError,
    RequestError,
    ban_key,
    encode_frame,
    error_reply,
    event_message,
    ok_reply,
    parse_request,
    unix_address,
)
from relay.events import MEMBER_JOINED, SECURITY_PREFIX, SESSION_ENDED, RelayEvent
from relay.limits import FailureTracker
from relay.sessions import Refusal, Session
from relay.store import SecurityEventKind, StoreError

if TYPE_CHECKING:
    from relay.server import Relay

__all__ = ["AdminService", "AdminSocketError", "serve_admin"]

log = logging.getLogger("porthole.relay.admin")

MAX_CONNECTIONS = 16
"""Admin connections at once (a TUI holds two; scripts one each)."""
OUTBOX_FRAMES = 1024
"""Replies and events queued for one connection; a subscriber this far behind is dropped."""
FRAME_TIMEOUT = 30.0
"""A request frame that has started must be complete within this long."""
WRITE_TIMEOUT = 10.0
RECEIVE_CHUNK = 64 * 1024
LISTEN_BACKLOG = 16
#: Where operator actions come from, in security events (they have no network address).
OPERATOR_ADDRESS = "local"

Result = dict[str, object]
Handler = Callable[["_Connection", dict[str, object]], Awaitable[Result]]


class AdminSocketError(Exception):
    """The admin socket cannot be created; the sentence says why and what to do."""


# --- the socket file --------------------------------------------------------------------------


def _bind(path: Path) -> tuple[socket.socket, tuple[int, int]]:
    """A listening socket at ``path``, mode 0600; returns it and the file's (dev, inode)."""
    _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with unix_address(path) as address:
            old_umask = os.umask(0o177)
            try:
                sock.bind(address)
            finally:
                os.umask(old_umask)
        os.chmod(path, 0o600)
        info = os.lstat(path)
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise AdminSocketError(f"Cannot create the admin socket {path}: {reason}.") from None
    except BaseException:
        sock.close()
        raise
    return sock, (info.st_dev, info.st_ino)


def _clear_stale(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise AdminSocketError(f"{path} exists and is not a socket; move it out of the way.")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        with unix_address(path) as address:
            probe.connect(address)
    except (ConnectionRefusedError, FileNotFoundError):
        pass  # a relay died without removing it: ours to replace
    except OSError as exc:
        raise AdminSocketError(f"Cannot check the admin socket {path}: {exc.strerror}.") from None
    else:
        raise AdminSocketError(
            f"Another relay is running on {path.parent} (its admin socket {path.name} answers); "
            "stop it first or use another --data-dir."
        )
    finally:
        probe.close()
    path.unlink()


def _unlink_if_ours(path: Path, identity: tuple[int, int]) -> None:
    with contextlib.suppress(OSError):
        info = os.lstat(path)
        if (info.st_dev, info.st_ino) == identity:
            path.unlink()


def _peer_uid(sock: trio.socket.SocketType) -> int | None:
    size = struct.calcsize("3i")
    try:
        data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size)
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", data)
    return int(uid)


# --- serving ----------------------------------------------------------------------------------


async def serve_admin(
    relay: Relay,
    path: Path,
    *,
    listen: str = "",
    software: str = "",
    task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the admin socket at ``path`` until cancelled; remove the socket file on the way out.

    ``listen`` and ``software`` only describe the relay in ``relay.status`` (which reads the
    fingerprint from the relay: a certificate reload may change it).
    """
    sock, identity = _bind(path)
    service = AdminService(relay, listen=listen, software=software)
    relay.switchboard.observers.append(service.observe)
    relay.recorder.observers.append(service.observe)
    try:
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, service.handle, [listener])
            task_status.started(path)
    finally:
        relay.switchboard.observers.remove(service.observe)
        relay.recorder.observers.remove(service.observe)
        _unlink_if_ours(path, identity)
        sock.close()


@dataclass(frozen=True, slots=True)
class _Locked:
    scope: str
    key: str
    #: What the admin view shows: the key, unless it might be a secret (see _shown_user_key).
    shown: str
    tracker: FailureTracker
    locked_until: float  # on the relay's trio clock
    failures: int


class _Connection:
    """One admin client: its credentials, outbox and whether it wants events."""

    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.send_channel, self.receive_channel = trio.open_memory_channel[bytes](OUTBOX_FRAMES)
        self.cancel_scope = trio.CancelScope()
        self.subscribed = False

    def push_event(self, frame: bytes) -> None:
        try:
            self.send_channel.send_nowait(frame)
        except trio.WouldBlock:
            log.warning("admin client (uid %d) stopped reading events; disconnected", self.uid)
            self.cancel_scope.cancel()
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass


class AdminService:
    """The admin ops on one relay, and the connections that ask for them."""

    def __init__(self, relay: Relay, *, listen: str = "", software: str = "") -> None:
        self.relay = relay
        self.listen = listen
        self.software = software
        self.started_at = time.time()
        self.allowed_uids = frozenset({os.geteuid(), 0})
        self._connections: set[_Connection] = set()
        self._handlers: dict[str, Handler] = {
            "relay.status": self._relay_status,
            "sessions.list": self._sessions_list,
            "sessions.get": self._sessions_get,
            "sessions.end": self._sessions_end,
            "sessions.kick": self._sessions_kick,
            "sessions.lock": partial(self._sessions_lock, locked=True),
            "sessions.unlock": partial(self._sessions_lock, locked=False),
            "lockouts.list": self._lockouts_list,
            "lockouts.lift": self._lockouts_lift,
            "bans.list": self._bans_list,
            "bans.add": self._bans_add,
            "bans.remove": self._bans_remove,
            "accounts.list": self._accounts_list,
            "accounts.add": self._accounts_add,
            "accounts.passwd": self._accounts_passwd,
            "accounts.disable": partial(self._accounts_set_disabled, disabled=True),
            "accounts.enable": partial(self._accounts_set_disabled, disabled=False),
            "records.list": self._records_list,
            "events.list": self._events_list,
            "events.subscribe": self._events_subscribe,
        }
        assert set(self._handlers) == set(OPS), "every op in the table has a handler"

    # -- connections -------------------------------------------------------------------------

    async def handle(self, stream: trio.SocketStream) -> None:
        try:
            await self._handle(stream)
        except Exception:
            # A bug while serving one admin connection costs that connection, never the relay.
            log.exception("internal error on an admin connection")

    async def _handle(self, stream: trio.SocketStream) -> None:
        async with stream:
            uid = _peer_uid(stream.socket)
            if uid is None or uid not in self.allowed_uids:
                log.warning("refused an admin connection from uid %s", uid)
                await _refuse(stream, AdminErrorCode.FORBIDDEN, "Only the relay's user may.")
                return
            if len(self._connections) >= MAX_CONNECTIONS:
                await _refuse(
                    stream, AdminErrorCode.BUSY, "Too many admin connections; close some."
                )
                return
            conn = _Connection(uid)
            self._connections.add(conn)
            try:
                with conn.cancel_scope:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._writer, conn, stream)
                        try:
                            await self._reader(conn, stream)
                        finally:
                            # The writer sends what is queued (a last error reply), then ends.
                            conn.send_channel.close()
            finally:
                self._connections.discard(conn)

    async def _reader(self, conn: _Connection, stream: trio.SocketStream) -> None:
        decoder = FrameDecoder(MAX_REQUEST)
        frame_started: float | None = None
        while True:
            deadline = math.inf if frame_started is None else frame_started + FRAME_TIMEOUT
            data = b""
            with trio.move_on_at(deadline) as scope:
                try:
                    data = await stream.receive_some(RECEIVE_CHUNK)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
            if scope.cancelled_caught:
                await _queue(conn, error_reply(None, AdminErrorCode.BAD_FRAME, "Frame too slow."))
                return
            if not data:
                return
            decoder.feed(data)
            try:
                while (payload := decoder.next_payload()) is not None:
                    await self._serve_one(conn, payload)
            except FrameError as exc:
                await _queue(conn, error_reply(None, exc.code, exc.message))
                return
            if decoder.buffered:
                frame_started = trio.current_time() if frame_started is None else frame_started
            else:
                frame_started = None

    async def _writer(self, conn: _Connection, stream: trio.SocketStream) -> None:
        async for frame in conn.receive_channel:
            with trio.move_on_after(WRITE_TIMEOUT) as scope:
                try:
                    await stream.send_all(frame)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    conn.cancel_scope.cancel()
                    return
            if scope.cancelled_caught:
                conn.cancel_scope.cancel()
                return

    async def _serve_one(self, conn: _Connection, payload: bytes) -> None:
        try:
            request = parse_request(payload)
        except RequestError as exc:
            await _queue(conn, error_reply(exc.request_id, exc.code, exc.message))
            return
        handler = self._handlers[request.op.name]
        try:
            reply = ok_reply(request.id, await handler(conn, request.args))
        except AdminError as exc:
            reply = error_reply(request.id, exc.code, exc.message)
        except Refusal as exc:
            reply = error_reply(request.id, _refusal_code(exc.code), exc.message)
        except StoreError as exc:
            reply = error_reply(request.id, _store_code(exc.code), exc.message)
        except Exception:
            # Never the arguments: they may hold a password.
            log.exception("admin op %s failed", request.op.name)
            reply = error_reply(
                request.id, AdminErrorCode.INTERNAL, "Internal error; see the relay's log."
            )
        await _queue(conn, reply)
        if request.op.name == "events.subscribe" and reply["ok"]:
            conn.subscribed = True  # only now, so the reply comes before any event

    # -- the event stream ----------------------------------------------------------------------

    def observe(self, event: RelayEvent) -> None:
        """Observer for the switchboard and the recorder: quick, and never raises."""
        try:
            subscribers = [c for c in self._connections if c.subscribed]
            if not subscribers:
                return
            frame = encode_frame(event_message(self._event_payload(event)))
            for conn in subscribers:
                conn.push_event(frame)
        except Exception:
            log.exception("could not publish an admin event")

    def _event_payload(self, event: RelayEvent) -> Result:
        out: Result = {"kind": event.kind, "at": event.at}
        if event.session_id is not None:
            out["session_id"] = event.session_id
        if event.peer_id is not None:
            out["peer_id"] = event.peer_id
        if event.kind.startswith(SECURITY_PREFIX):
            out["address"] = event.address
            out["detail"] = event.reason
            return out
        if event.reason:
            out["reason"] = event.reason
        session = self.relay.switchboard.sessions.get(event.session_id or "")
        if session is not None and event.kind != SESSION_ENDED:
            if event.kind == MEMBER_JOINED and event.peer_id is not None:
                out["name"] = session.names.get(event.peer_id, "")
            out["session"] = _summary(session, time.time())
        return out

    # -- ops: relay and sessions ---------------------------------------------------------------

    async def _relay_status(self, conn: _Connection, args: dict[str, object]) -> Result:
        relay = self.relay
        stats = relay.statistics()
        now = time.time()
        return {
            "relay_name": relay.config.relay_name,
            "software": self.software,
            "protocol_version": VERSION,
            "listen": self.listen,
            "fingerprint": relay.fingerprint,
            "data_dir": str(relay.config.data_dir),
            "started_at": self.started_at,
            "uptime_s": now - self.started_at,
            "connections": stats.connections,
            "sessions": stats.sessions,
            "members": stats.members,
            "bytes_relayed": stats.bytes_relayed,
            "messages_relayed": stats.messages_relayed,
            "lockouts": len(self._locked()),
            "bans": len(relay.bans),
            "admin_connections": len(self._connections),
            "recorder": asdict(relay.recorder.statistics()),
            "ops": sorted(OPS),
        }

    async def _sessions_list(self, conn: _Connection, args: dict[str, object]) -> Result:
        now = time.time()
        sessions = sorted(self.relay.switchboard.sessions.values(), key=lambda s: s.started_at)
        return {"sessions": [_summary(s, now) for s in sessions]}

    async def _sessions_get(self, conn: _Connection, args: dict[str, object]) -> Result:
        session = self._session(args)
        detail = _summary(session, time.time())
        detail["members"] = [
            {
                "peer_id": pid,
                "name": session.names.get(pid, ""),
                "roles": _roles(session, pid),
                "address": peer.address,
                "address_key": peer.address_key,
                "queued_bytes": peer.queued_bytes,
                "dropped": peer.dropped_total,
            }
            for pid, peer in session.members.items()  # join order: ids are random
        ]
        now = trio.current_time()
        detail["knocks"] = [
            {
                "peer_id": pid,
                "name": pending.name,
                "address": pending.peer.address,
                "stage": pending.stage.value,
                "waiting_s": max(0.0, now - pending.started),
            }
            for pid, pending in sorted(session.pending.items(), key=lambda kv: kv[1].started)
        ]
        return {"session": detail}

    async def _sessions_end(self, conn: _Connection, args: dict[str, object]) -> Result:
        session = self._session(args)
        members = len(session.members)
        self.relay.switchboard.end_by_operator(session.id)
        self._audit(conn, "ended the session", session_id=session.id)
        return {"session_id": session.id, "ended": True, "members_told": members}

    async def _sessions_kick(self, conn: _Connection, args: dict[str, object]) -> Result:
        session = self._session(args)
        peer_id = args["peer_id"]
        assert isinstance(peer_id, int)
        if peer_id not in session.members:
            raise AdminError(
                AdminErrorCode.NOT_FOUND, f"Session {session.id} has no member {peer_id}."
            )
        self.relay.switchboard.act_as_operator(session.id, Action.KICK, peer_id)
        self._audit(conn, f"removed member {peer_id}", session_id=session.id)
        return {"session_id": session.id, "removed": peer_id}

    async def _sessions_lock(
        self, conn: _Connection, args: dict[str, object], *, locked: bool
    ) -> Result:
        session = self._session(args)
        changed = session.state.locked != locked
        if changed:
            action = Action.LOCK if locked else Action.UNLOCK
            self.relay.switchboard.act_as_operator(session.id, action)
            self._audit(conn, "locked" if locked else "unlocked", session_id=session.id)
        return {"session_id": session.id, "locked": locked, "changed": changed}

    def _session(self, args: dict[str, object]) -> Session:
        text = args["session_id"]
        assert isinstance(text, str)
        try:
            session_id = normalize_session_id(text)
        except BadLink as exc:
            raise AdminError(AdminErrorCode.BAD_ARGS, f"{exc}.") from None
        session = self.relay.switchboard.sessions.get(session_id)
        if session is None:
            raise AdminError(AdminErrorCode.NOT_FOUND, f"There is no live session {session_id}.")
        return session

    # -- ops: lockouts and bans ----------------------------------------------------------------

    def _trackers(self) -> dict[str, FailureTracker]:
        relay, switchboard = self.relay, self.relay.switchboard
        return {
            "login_address": relay.login_failures,
            "login_network": relay.login_failures_by_network,
            "login_user": relay.login_failures_by_user,
            "join_address": switchboard.join_failures_by_address,
            "join_network": switchboard.join_failures_by_network,
            "join_session": switchboard.join_failures_by_session,
        }

    def _locked(self, accounts: Iterable[str] = ()) -> list[_Locked]:
        known = {name.casefold() for name in accounts}
        now = trio.current_time()
        found: list[_Locked] = []
        for scope, tracker in self._trackers().items():
            for key, until in tracker.locked(now):
                shown = _shown_user_key(key, known) if scope == "login_user" else key
                failures = tracker.check(key, now).failures
                found.append(_Locked(scope, key, shown, tracker, until, failures))
        return found

    async def _account_names(self) -> list[str]:
        accounts = await trio.to_thread.run_sync(self.relay.store.list_accounts)
        return [a.username for a in accounts]

    async def _lockouts_list(self, conn: _Connection, args: dict[str, object]) -> Result:
        locked = self._locked(await self._account_names())
        now, wall = trio.current_time(), time.time()
        return {
            "lockouts": [
                {
                    "scope": entry.scope,
                    "key": entry.shown,
                    "locked_until": wall + (entry.locked_until - now),
                    "remaining_s": max(0.0, entry.locked_until - now),
                    "failures": entry.failures,
                }
                for entry in locked
            ]
        }

    async def _lockouts_lift(self, conn: _Connection, args: dict[str, object]) -> Result:
        key = args["key"]
        assert isinstance(key, str)
        scope = args.get("scope")
        lifted: list[dict[str, str]] = []
        for entry in self._locked(await self._account_names()):
            if scope not in (None, entry.scope) or key not in (entry.key, entry.shown):
                continue
            entry.tracker.lift(entry.key)
            lifted.append({"scope": entry.scope, "key": entry.shown})
            self._audit(
                conn,
                f"lifted the {entry.scope} lockout of {entry.shown}",
                kind=SecurityEventKind.LOCKOUT_LIFTED,
                address=entry.key if entry.scope.endswith("_address") else OPERATOR_ADDRESS,
                session_id=entry.key if entry.scope == "join_session" else None,
                username=entry.key.removeprefix("user:") if entry.scope == "login_user" else None,
            )
        if not lifted:
            where = f" in {scope}" if scope is not None else ""
            raise AdminError(AdminErrorCode.NOT_FOUND, f"{key} is not locked out{where}.")
        return {"lifted": lifted}

    async def _bans_list(self, conn: _Connection, args: dict[str, object]) -> Result:
        bans = await trio.to_thread.run_sync(self.relay.store.list_bans)
        return {"bans": [asdict(ban) for ban in bans]}

    async def _bans_add(self, conn: _Connection, args: dict[str, object]) -> Result:
        key = ban_key(_text(args, "address"))
        reason = str(args.get("reason", ""))
        if key in self.relay.bans:
            raise AdminError(AdminErrorCode.CONFLICT, f"{key} is already banned.")
        store = self.relay.store
        ban = await trio.to_thread.run_sync(store.add_ban, key, time.time(), reason)
        self.relay.bans.add(key)
        disconnected = self.relay.disconnect_address(key, "This address is banned.")
        note = f"banned{': ' + reason if reason else ''}"
        self._audit(conn, note, kind=SecurityEventKind.BAN, address=key)
        return {"ban": asdict(ban), "disconnected": disconnected}

    async def _bans_remove(self, conn: _Connection, args: dict[str, object]) -> Result:
        key = ban_key(_text(args, "address"))
        removed = await trio.to_thread.run_sync(self.relay.store.remove_ban, key)
        if not removed and key not in self.relay.bans:
            raise AdminError(AdminErrorCode.NOT_FOUND, f"{key} is not banned.")
        self.relay.bans.discard(key)
        self._audit(conn, "ban lifted", kind=SecurityEventKind.UNBAN, address=key)
        return {"removed": key}

    # -- ops: accounts, records, events ----------------------------------------------------------

    async def _accounts_list(self, conn: _Connection, args: dict[str, object]) -> Result:
        accounts = await trio.to_thread.run_sync(self.relay.store.list_accounts)
        return {"accounts": [asdict(a) for a in accounts]}

    async def _accounts_add(self, conn: _Connection, args: dict[str, object]) -> Result:
        username, password = _text(args, "username"), _text(args, "password")
        store = self.relay.store
        account = await trio.to_thread.run_sync(store.add_account, username, password, time.time())
        self._audit(conn, "created the account", username=account.username)
        return {"account": asdict(account)}

    async def _accounts_passwd(self, conn: _Connection, args: dict[str, object]) -> Result:
        username, password = _text(args, "username"), _text(args, "password")
        store = self.relay.store
        account = await trio.to_thread.run_sync(store.get_account, username)
        if account is None:
            raise AdminError(AdminErrorCode.NOT_FOUND, f"There is no account named {username!r}.")
        await trio.to_thread.run_sync(store.set_password, account.username, password, time.time())
        self._audit(conn, "set a new password", username=account.username)
        changed = await trio.to_thread.run_sync(store.get_account, account.username)
        assert changed is not None
        return {"account": asdict(changed)}

    async def _accounts_set_disabled(
        self, conn: _Connection, args: dict[str, object], *, disabled: bool
    ) -> Result:
        username = _text(args, "username")
        store = self.relay.store
        await trio.to_thread.run_sync(store.set_disabled, username, disabled)
        account = await trio.to_thread.run_sync(store.get_account, username)
        assert account is not None
        self._audit(
            conn, "disabled the account" if disabled else "enabled the account", username=username
        )
        return {"account": asdict(account)}

    async def _records_list(self, conn: _Connection, args: dict[str, object]) -> Result:
        organizer, since = args.get("organizer"), args.get("since")
        assert organizer is None or isinstance(organizer, str)
        assert since is None or isinstance(since, float)
        call = partial(
            self.relay.store.list_session_records,
            limit=_limit(args),
            organizer=organizer,
            since=since,
        )
        records = await trio.to_thread.run_sync(call)
        return {"records": [asdict(r) for r in records]}

    async def _events_list(self, conn: _Connection, args: dict[str, object]) -> Result:
        kind, since = args.get("kind"), args.get("since")
        assert since is None or isinstance(since, float)
        call = partial(
            self.relay.store.list_security_events,
            limit=_limit(args),
            kind=None if kind is None else SecurityEventKind(str(kind)),
            since=since,
        )
        events = await trio.to_thread.run_sync(call)
        return {"events": [asdict(e) for e in events]}

    async def _events_subscribe(self, conn: _Connection, args: dict[str, object]) -> Result:
        return {"subscribed": True}

    # -- helpers -------------------------------------------------------------------------------

    def _audit(
        self,
        conn: _Connection,
        what: str,
        *,
        kind: SecurityEventKind = SecurityEventKind.ADMIN_ACTION,
        address: str = OPERATOR_ADDRESS,
        session_id: str | None = None,
        username: str | None = None,
    ) -> None:
        """Every operator action leaves a security event (never with a password in it)."""
        log.info("operator (uid %d): %s %s", conn.uid, what, session_id or username or address)
        self.relay.recorder.security_event(
            time.time(),
            kind,
            address,
            session_id=session_id,
            username=username,
            detail=f"{what} (operator uid {conn.uid})"[:500],
        )


async def _queue(conn: _Connection, message: dict[str, object]) -> None:
    try:
        frame = encode_frame(message)
    except ValueError:
        request_id = message.get("id")
        frame = encode_frame(
            error_reply(
                request_id if isinstance(request_id, int) else None,
                AdminErrorCode.BAD_ARGS,
                "The answer would be too large; ask for fewer entries (limit).",
            )
        )
    with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
        await conn.send_channel.send(frame)


async def _refuse(stream: trio.SocketStream, code: AdminErrorCode, message: str) -> None:
    with trio.move_on_after(2), contextlib.suppress(trio.BrokenResourceError, OSError):
        await stream.send_all(encode_frame(error_reply(None, code, message)))


def _summary(session: Session, now: float) -> Result:
    state = session.state
    return {
        "session_id": session.id,
        "organizer": session.organizer.username or "",
        "organizer_name": session.names.get(state.organizer, ""),
        "started_at": session.started_at,
        "duration_s": max(0.0, now - session.started_at),
        "member_count": len(session.members),
        "knocking": len(session.pending),
        "presenter": state.presenter,
        "controller": state.controller,
        "locked": state.locked,
        "paused": state.paused,
        "has_password": state.has_password,
        "bytes_relayed": session.bytes_relayed,
        "messages_relayed": session.messages_relayed,
        "peak_members": session.peak_members,
        "total_members": session.total_members,
    }


def _roles(session: Session, peer_id: int) -> list[str]:
    roles = roles_of(session.state, peer_id)
    out = [
        role.value for role in (Role.ORGANIZER, Role.PARTICIPANT, Role.PRESENTER) if role in roles
    ]
    if session.state.controller == peer_id:
        out.append("controller")
    return out


def _shown_user_key(key: str, accounts: set[str]) -> str:
    """A per-user-name login lockout names the user only if it is an account.

    Anything else typed into a login's name field may be somebody's password; it is shown as a
    short digest, which ``lockouts.lift`` accepts as well.
    """
    name = key.removeprefix("user:")
    if key.startswith("#") or name.casefold() in accounts:  # "#…": restored, never seen since
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"user:#{digest}"


def _text(args: dict[str, object], name: str) -> str:
    value = args[name]
    assert isinstance(value, str)
    return value


def _limit(args: dict[str, object]) -> int:
    limit = args.get("limit", DEFAULT_LIST_LIMIT)
    assert isinstance(limit, int)
    return limit


def _refusal_code(code: ErrorCode) -> AdminErrorCode:
    if code in (ErrorCode.BAD_SESSION_ID, ErrorCode.NO_SUCH_MEMBER):
        return AdminErrorCode.NOT_FOUND
    if code is ErrorCode.ALREADY_DONE:
        return AdminErrorCode.CONFLICT
    return AdminErrorCode.NOT_ALLOWED


def _store_code(code: ErrorCode) -> AdminErrorCode:
    return {
        ErrorCode.BAD_FIELD: AdminErrorCode.BAD_ARGS,
        ErrorCode.WEAK_PASSWORD: AdminErrorCode.WEAK_PASSWORD,
        ErrorCode.ALREADY_DONE: AdminErrorCode.CONFLICT,
        ErrorCode.NO_SUCH_MEMBER: AdminErrorCode.NOT_FOUND,
    }.get(code, AdminErrorCode.INTERNAL)
