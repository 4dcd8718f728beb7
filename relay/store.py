"""What the relay keeps on disk: organizer accounts and ancillary, billing-like records.

The relay promises to store nothing of session content (docs/design.md §3.6). This module is the
only place the relay writes to disk besides its TLS certificate, and its schema is the proof of that
promise: accounts (a name and an argon2id hash, never a password), session records (which session
ID, which organizer, when, how many members, how many bytes and messages were switched),
security events (failed logins and joins, lockouts) and the operator's address bans. No column
can hold a frame, an input event, chat, a file name or any password; ``end_reason`` and event
kinds are short tokens, the free ``detail`` of a security event is bounded and meant for reasons
like "6 failures in 60 s", and a security event names a user only if that user exists (so a
password typed into the name field of a login is never written down).

sqlite3 is synchronous. The trio server calls this API through ``trio.to_thread.run_sync``, so a
store may be used from several worker threads, one at a time: the connection is opened with
``check_same_thread=False`` and every use of it holds :attr:`RelayStore._lock`. The slow part of
a login (argon2) runs *outside* the lock so one login does not stall record writes.

Files: the data directory (mode 0700 when we create it) holds ``relay.db`` (mode 0600) and,
between transactions, nothing else — the default rollback journal (``journal_mode=DELETE``)
removes ``relay.db-journal`` at every commit, where WAL would leave ``-wal``/``-shm`` files
beside the database for as long as a connection is open.

Times are float UNIX seconds supplied by the caller so that tests and the server control the
clock; only the CLI edge reads ``time.time()``.
"""

from __future__ import annotations

import enum
import errno
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import ErrorCode
from relay.passwords import MAX_BYTES, normalize_password, password_problem

DB_NAME: Final = "relay.db"
SCHEMA_VERSION: Final = 3

RELAY_RESTART: Final = "relay_restart"
"""End reason written for records the relay could not close itself (it crashed or was killed)."""

USERNAME_MAX: Final = 64
_USERNAME_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TOKEN_RE: Final = re.compile(r"[a-z0-9_]{1,64}")
MAX_SESSION_ID: Final = 64
MAX_ADDRESS: Final = 255
MAX_DETAIL: Final = 500


class StoreError(ValueError):
    """A refusal or failure of the store: a stable code for programs, a sentence for people.

    It is a ValueError because most refusals are about the caller's input (a weak password, a
    taken user name); :attr:`code` tells the server which ``ErrorCode`` to put on the wire.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class LoginCheck(enum.Enum):
    """Outcome of :meth:`RelayStore.verify_login`.

    DISABLED is only returned when the password was right: someone guessing cannot learn that
    an account exists or is disabled, they only ever see WRONG.
    """

    OK = "ok"
    WRONG = "wrong"
    DISABLED = "disabled"


class SecurityEventKind(enum.StrEnum):
    """What a security event records. Stored as its value; add members, never rename them."""

    LOGIN_FAILED = "login_failed"
    LOGIN_DISABLED = "login_disabled"
    JOIN_FAILED = "join_failed"
    LOCKOUT = "lockout"
    LOCKOUT_LIFTED = "lockout_lifted"
    BAN = "ban"
    UNBAN = "unban"
    CONNECTION_LIMIT = "connection_limit"
    PROTOCOL_ERROR = "protocol_error"
    #: The relay operator did something through the admin socket (end, kick, accounts, …).
    ADMIN_ACTION = "admin_action"
    #: Failures against one session ID or user name reached the guessing alarm
    #: (core/guessing.py): someone is probably guessing its password.
    GUESSING = "guessing"


@dataclass(frozen=True, slots=True)
class Account:
    """An organizer account as the outside sees it: the hash never leaves the store."""

    username: str
    disabled: bool
    created_at: float
    password_changed_at: float


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """Billing-like metadata about one session; ``ended_at`` is None while it runs."""

    id: int
    session_id: str
    organizer: str
    started_at: float
    ended_at: float | None
    end_reason: str | None
    peak_members: int
    total_members: int
    bytes_relayed: int
    messages_relayed: int


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One security-relevant event (failed login, lockout, …) with where it came from."""

    id: int
    at: float
    kind: SecurityEventKind
    address: str
    session_id: str | None
    username: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class Ban:
    """An address key the relay refuses at accept (see :func:`relay.limits.address_key`)."""

    address: str
    created_at: float
    reason: str


@dataclass(frozen=True, slots=True)
class SavedFailures:
    """One limiter record as the store keeps it (see :class:`relay.limits.Snapshot`).

    ``key`` is a digest; times are UNIX seconds, None where the limiter has ``-inf``.
    """

    scope: str
    key: str
    failures: int
    penalties: int
    recent: tuple[float, ...]
    last_failure: float
    next_allowed: float | None
    locked_until: float | None
    expires_at: float


def cheap_hasher() -> PasswordHasher:
    """An argon2id hasher with minimal cost, for tests only (never for a real relay)."""
    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def username_problem(username: str) -> str | None:
    """Return why ``username`` is not a valid account name, or None.

    The alphabet is restricted so that names are unambiguous in logs, tables and shell
    commands, and cannot smuggle control characters into a terminal.
    """
    if _USERNAME_RE.fullmatch(username) is None:
        shown = username if len(username) <= 40 else username[:40] + "…"
        return (
            f"A user name is 1 to {USERNAME_MAX} characters of letters, digits, '.', '_' and '-'; "
            f"{shown!r} is not."
        )
    return None


# --- schema ---------------------------------------------------------------------------------


def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    # Usernames compare case-insensitively so "Alice" and "alice" cannot be two accounts.
    conn.execute(
        """
        CREATE TABLE accounts (
            username TEXT PRIMARY KEY COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
            created_at REAL NOT NULL,
            password_changed_at REAL NOT NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            organizer TEXT NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL,
            end_reason TEXT,
            peak_members INTEGER NOT NULL DEFAULT 0,
            total_members INTEGER NOT NULL DEFAULT 0,
            bytes_relayed INTEGER NOT NULL DEFAULT 0,
            messages_relayed INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    conn.execute("CREATE INDEX sessions_started ON sessions (started_at)")
    conn.execute("CREATE INDEX sessions_open ON sessions (ended_at) WHERE ended_at IS NULL")
    conn.execute(
        """
        CREATE TABLE security_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            address TEXT NOT NULL,
            session_id TEXT,
            username TEXT,
            detail TEXT NOT NULL DEFAULT ''
        )
        """
    )
    conn.execute("CREATE INDEX security_events_at ON security_events (at)")


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    # Bans set by the operator through the admin socket; keys are address keys (an IPv4
    # address or an IPv6 /64), so one row covers what the relay counts as one address.
    conn.execute(
        """
        CREATE TABLE bans (
            address TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            reason TEXT NOT NULL DEFAULT ''
        )
        """
    )


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    # The abuse limiters' memory (docs/design.md §7.3), so a restart gives no guesser a fresh
    # budget. ``key`` is a keyed digest of an address, network, session ID or user name, never
    # the thing itself; times are UNIX seconds, NULL for "never". Rows are deleted once
    # ``expires_at`` passes.
    conn.execute(
        """
        CREATE TABLE limiter_failures (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            failures INTEGER NOT NULL,
            penalties INTEGER NOT NULL,
            recent TEXT NOT NULL DEFAULT '',
            last_failure REAL NOT NULL,
            next_allowed REAL,
            locked_until REAL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (scope, key)
        )
        """
    )
    # Who got in recently (an address, an address for one account, a device cookie's digest):
    # exempt from other people's failures until ``until``.
    conn.execute(
        """
        CREATE TABLE limiter_trust (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            until REAL NOT NULL,
            PRIMARY KEY (scope, key)
        )
        """
    )


MIGRATIONS: Final[tuple[Callable[[sqlite3.Connection], None], ...]] = (
    _migrate_0_to_1,
    _migrate_1_to_2,
    _migrate_2_to_3,
)
"""``MIGRATIONS[v]`` brings a database from schema version ``v`` to ``v + 1``."""

assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION` in one transaction; return the old version.

    The version lives in ``PRAGMA user_version`` (part of the database header, so it needs no
    table and moves with the file). A database from a newer relay is refused rather than
    guessed at.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                ErrorCode.INTERNAL,
                f"The relay database has schema version {version}, newer than this "
                f"porthole-relay understands ({SCHEMA_VERSION}); upgrade porthole.",
            )
        for step in range(version, SCHEMA_VERSION):
            MIGRATIONS[step](conn)
            conn.execute(f"PRAGMA user_version = {step + 1}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return version


# --- the store ------------------------------------------------------------------------------


class RelayStore:
    """Accounts and ancillary records in ``<data_dir>/relay.db``. Use :meth:`open`.

    Every public method is safe to call from any thread, one call at a time per store (the
    lock serializes them); a store is meant to live as long as the relay process.
    """

    def __init__(
        self, conn: sqlite3.Connection, path: Path, hasher: PasswordHasher | None = None
    ) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._hasher = hasher if hasher is not None else PasswordHasher()
        self._dummy_hash: str | None = None
        self.path = path

    # -- life cycle --

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        hasher: PasswordHasher | None = None,
        time_cost: int | None = None,
        memory_cost: int | None = None,
        create: bool = True,
        close_unfinished: bool = True,
        now: float | None = None,
    ) -> RelayStore:
        """Open (creating if needed) the store in ``data_dir``.

        ``hasher`` replaces argon2-cffi's default argon2id parameters (tests pass
        :func:`cheap_hasher`); alternatively ``time_cost`` / ``memory_cost`` (KiB) adjust just
        those two on top of the defaults, which is what a relay configuration carries.

        With ``create=False`` a missing database is an error instead of a new empty one (so a
        mistyped ``--data-dir`` is noticed). ``close_unfinished`` closes records a crashed relay
        left open, with end reason ``relay_restart`` at ``now`` (default: the current time);
        the relay wants this at start-up, but tools that open the store beside a *running*
        relay (the CLI) must pass False or they would close its live sessions' records.
        """
        if time_cost is not None or memory_cost is not None:
            if hasher is not None:
                raise TypeError("pass either hasher or time_cost/memory_cost, not both")
            defaults = PasswordHasher()
            hasher = PasswordHasher(
                time_cost=defaults.time_cost if time_cost is None else time_cost,
                memory_cost=defaults.memory_cost if memory_cost is None else memory_cost,
                parallelism=defaults.parallelism,
            )
        data_dir = Path(data_dir)
        path = data_dir / DB_NAME
        try:
            if not data_dir.exists():
                if not create:
                    raise StoreError(
                        ErrorCode.INTERNAL,
                        f"There is no relay data directory at {data_dir}; check --data-dir.",
                    )
                data_dir.parent.mkdir(parents=True, exist_ok=True)
                data_dir.mkdir(mode=0o700)
                os.chmod(data_dir, 0o700)  # mkdir's mode is filtered by the umask
            elif not data_dir.is_dir():
                raise StoreError(ErrorCode.INTERNAL, f"{data_dir} exists but is not a directory.")
            if not create and not path.exists():
                raise StoreError(
                    ErrorCode.INTERNAL,
                    f"There is no relay database in {data_dir} (no {DB_NAME}); "
                    "check --data-dir, or add an account first.",
                )
            _prepare_db_file(path)
        except OSError as exc:
            raise StoreError(ErrorCode.INTERNAL, _os_error_sentence(exc, data_dir)) from None

        try:
            conn = sqlite3.connect(
                path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(ErrorCode.INTERNAL, f"Cannot open {path}: {exc}.") from None
        try:
            mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
            if str(mode).lower() != "delete":
                raise StoreError(
                    ErrorCode.INTERNAL, f"Cannot switch {path} to the rollback journal."
                )
            # Temporary tables and indices stay in memory, never as files anywhere.
            conn.execute("PRAGMA temp_store = MEMORY")
            # Overwrite freed pages so an old password hash does not linger in the file.
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(
                ErrorCode.INTERNAL, f"{path} is not a usable relay database ({exc})."
            ) from None
        except BaseException:
            conn.close()
            raise
        store = cls(conn, path, hasher)
        if close_unfinished:
            store.close_unfinished_records(time.time() if now is None else now)
        return store

    def close(self) -> None:
        """Close the database; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> RelayStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and a write transaction; commit on success, roll back on error.

        BEGIN IMMEDIATE takes the write lock up front, so a concurrent writer (the CLI beside
        the relay) waits for ``timeout`` instead of failing half-way through.
        """
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(
                    ErrorCode.INTERNAL, f"The relay database is busy ({exc})."
                ) from None
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    # -- accounts --

    def add_account(self, username: str, password: str, now: float) -> Account:
        """Create an organizer account; refuse bad names, weak passwords and duplicates."""
        _check_username(username)
        _check_password(username, password)
        password_hash = self._hasher.hash(normalize_password(password))
        with self._transaction() as conn:
            taken = conn.execute(
                "SELECT username FROM accounts WHERE username = ?", (username,)
            ).fetchone()
            if taken is not None:
                raise StoreError(
                    ErrorCode.ALREADY_DONE, f"There is already an account named {taken[0]!r}."
                )
            conn.execute(
                "INSERT INTO accounts (username, password_hash, disabled, created_at, "
                "password_changed_at) VALUES (?, ?, 0, ?, ?)",
                (username, password_hash, now, now),
            )
        return Account(username, False, now, now)

    def set_password(self, username: str, password: str, now: float) -> None:
        """Replace an account's password (the new one must pass the strength rule too)."""
        stored = self._account_name(username)
        _check_password(stored, password)
        password_hash = self._hasher.hash(normalize_password(password))
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE accounts SET password_hash = ?, password_changed_at = ? WHERE username = ?",
                (password_hash, now, username),
            )
            if cur.rowcount != 1:
                raise _no_account(username)

    def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable (or re-enable) an account: a disabled organizer cannot log in."""
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE accounts SET disabled = ? WHERE username = ?", (int(disabled), username)
            )
            if cur.rowcount != 1:
                raise _no_account(username)

    def get_account(self, username: str) -> Account | None:
        """The account called ``username`` (case-insensitively), or None."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT username, disabled, created_at, password_changed_at FROM accounts "
                "WHERE username = ?",
                (username,),
            ).fetchone()
        return None if row is None else Account(row[0], bool(row[1]), row[2], row[3])

    def list_accounts(self) -> list[Account]:
        """All accounts, sorted by name."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT username, disabled, created_at, password_changed_at FROM accounts "
                "ORDER BY username"
            ).fetchall()
        return [Account(r[0], bool(r[1]), r[2], r[3]) for r in rows]

    def verify_login(self, username: str, password: str) -> LoginCheck:
        """Check an organizer's credentials.

        Timing does not reveal whether ``username`` exists: an unknown name is verified against
        a dummy hash made with the same parameters, so both paths cost one argon2 verification.
        A correct password on a disabled account gives DISABLED; a wrong one gives WRONG, so only
        the account holder learns that it is disabled. After a successful check the hash is
        upgraded if the hasher's parameters changed since it was made.
        """
        dummy = self._get_dummy_hash()
        with self._reading() as conn:
            row = conn.execute(
                "SELECT password_hash, disabled FROM accounts WHERE username = ?", (username,)
            ).fetchone()
        candidate = normalize_password(password)
        if len(candidate.encode("utf-8", errors="surrogatepass")) > MAX_BYTES:
            # No stored password is this long; still spend the time of a real check.
            self._verify(dummy, "x")
            return LoginCheck.WRONG
        if row is None:
            self._verify(dummy, candidate)
            return LoginCheck.WRONG
        stored_hash: str = row[0]
        if not self._verify(stored_hash, candidate):
            return LoginCheck.WRONG
        if self._hasher.check_needs_rehash(stored_hash):
            new_hash = self._hasher.hash(candidate)
            with self._transaction() as conn:
                # Only if nobody changed the password meanwhile.
                conn.execute(
                    "UPDATE accounts SET password_hash = ? WHERE username = ? "
                    "AND password_hash = ?",
                    (new_hash, username, stored_hash),
                )
        return LoginCheck.DISABLED if row[1] else LoginCheck.OK

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _get_dummy_hash(self) -> str:
        # Made on the first login check (known or unknown user alike), so no single path pays
        # for it; a fixed, never-issued password, hashed with this store's parameters.
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("porthole dummy password, never valid")
        return self._dummy_hash

    def _account_name(self, username: str) -> str:
        account = self.get_account(username)
        if account is None:
            raise _no_account(username)
        return account.username

    # -- session records --

    def start_session_record(self, session_id: str, organizer: str, now: float) -> int:
        """Record that ``organizer`` opened ``session_id``; return the record id to end it with."""
        _check_text("session ID", session_id, MAX_SESSION_ID, allow_empty=False)
        _check_text("organizer", organizer, USERNAME_MAX, allow_empty=False)
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO sessions (session_id, organizer, started_at) VALUES (?, ?, ?)",
                (session_id, organizer, now),
            )
            record_id = cur.lastrowid
        assert record_id is not None
        return record_id

    def end_session_record(
        self,
        record_id: int,
        now: float,
        end_reason: str,
        peak_members: int,
        total_members: int,
        bytes_relayed: int,
        messages_relayed: int,
    ) -> None:
        """Close a session record with its totals.

        ``end_reason`` is a short snake_case token ("organizer_left"), not free text, so a
        record cannot become a place where content is written.
        """
        _check_token("end reason", end_reason)
        counts: tuple[tuple[str, object], ...] = (
            ("peak_members", peak_members),
            ("total_members", total_members),
            ("bytes_relayed", bytes_relayed),
            ("messages_relayed", messages_relayed),
        )
        for label, value in counts:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
                raise StoreError(ErrorCode.BAD_FIELD, f"{label} must be a non-negative integer.")
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT ended_at FROM sessions WHERE id = ?", (record_id,)
            ).fetchone()
            if row is None:
                raise StoreError(ErrorCode.BAD_FIELD, f"There is no session record {record_id}.")
            if row[0] is not None:
                raise StoreError(
                    ErrorCode.ALREADY_DONE, f"Session record {record_id} is already closed."
                )
            conn.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ?, peak_members = ?, "
                "total_members = ?, bytes_relayed = ?, messages_relayed = ? WHERE id = ?",
                (
                    now,
                    end_reason,
                    peak_members,
                    total_members,
                    bytes_relayed,
                    messages_relayed,
                    record_id,
                ),
            )

    def close_unfinished_records(self, now: float, end_reason: str = RELAY_RESTART) -> int:
        """Close every record still open (the relay died during it); return how many.

        Their totals stay at what was last written (zero): the counts lived only in the dead
        process. :meth:`open` calls this unless told not to.
        """
        _check_token("end reason", end_reason)
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL",
                (now, end_reason),
            )
            return cur.rowcount

    def list_session_records(
        self, limit: int | None = 100, organizer: str | None = None, since: float | None = None
    ) -> list[SessionRecord]:
        """Session records, newest first; filter by organizer and/or ``started_at >= since``."""
        where: list[str] = []
        params: list[object] = []
        if organizer is not None:
            where.append("organizer = ? COLLATE NOCASE")
            params.append(organizer)
        if since is not None:
            where.append("started_at >= ?")
            params.append(since)
        sql = (
            "SELECT id, session_id, organizer, started_at, ended_at, end_reason, peak_members, "
            "total_members, bytes_relayed, messages_relayed FROM sessions"
        )
        sql += _where_order_limit(where, "started_at DESC, id DESC", limit, params)
        with self._reading() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [SessionRecord(*row) for row in rows]

    # -- security events --

    def add_security_event(
        self,
        now: float,
        kind: SecurityEventKind,
        address: str,
        session_id: str | None = None,
        username: str | None = None,
        detail: str = "",
    ) -> int:
        """Append a security event; return its id.

        ``detail`` is for the operator ("7 failures in 60 s"); never put a password, a session
        password or anything a member sent into it.

        ``username`` is kept only when it names an existing account (stored as that account
        spells it). Anything else is dropped and the detail says "unknown user name": people
        type their password into the name field, and a failed login must not write that
        password to disk.
        """
        kind = _parse_kind(kind)
        _check_text("address", address, MAX_ADDRESS, allow_empty=True)
        if session_id is not None:
            _check_text("session ID", session_id, MAX_SESSION_ID, allow_empty=False)
        _check_text("detail", detail, MAX_DETAIL, allow_empty=True)
        if username is not None and not isinstance(username, str):
            raise StoreError(ErrorCode.BAD_FIELD, "The user name must be text.")
        with self._transaction() as conn:
            if username is not None:
                known = conn.execute(
                    "SELECT username FROM accounts WHERE username = ?", (username,)
                ).fetchone()
                if known is not None:
                    username = str(known[0])
                else:
                    username = None
                    detail = f"{detail} (unknown user name)" if detail else "unknown user name"
            cur = conn.execute(
                "INSERT INTO security_events (at, kind, address, session_id, username, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (now, kind.value, address, session_id, username, detail),
            )
            event_id = cur.lastrowid
        assert event_id is not None
        return event_id

    def list_security_events(
        self,
        limit: int | None = 100,
        kind: SecurityEventKind | None = None,
        since: float | None = None,
    ) -> list[SecurityEvent]:
        """Security events, newest first; filter by kind and/or ``at >= since``."""
        where: list[str] = []
        params: list[object] = []
        if kind is not None:
            where.append("kind = ?")
            params.append(_parse_kind(kind).value)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        sql = "SELECT id, at, kind, address, session_id, username, detail FROM security_events"
        sql += _where_order_limit(where, "at DESC, id DESC", limit, params)
        with self._reading() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [SecurityEvent(r[0], r[1], _event_kind(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    # -- bans --

    def add_ban(self, address: str, now: float, reason: str = "") -> Ban:
        """Ban an address key (the caller normalizes it); refuse one that is already banned."""
        _check_text("address", address, MAX_ADDRESS, allow_empty=False)
        _check_text("reason", reason, MAX_DETAIL, allow_empty=True)
        with self._transaction() as conn:
            taken = conn.execute("SELECT 1 FROM bans WHERE address = ?", (address,)).fetchone()
            if taken is not None:
                raise StoreError(ErrorCode.ALREADY_DONE, f"{address} is already banned.")
            conn.execute(
                "INSERT INTO bans (address, created_at, reason) VALUES (?, ?, ?)",
                (address, now, reason),
            )
        return Ban(address, now, reason)

    def remove_ban(self, address: str) -> bool:
        """Lift a ban; returns whether there was one."""
        with self._transaction() as conn:
            cur = conn.execute("DELETE FROM bans WHERE address = ?", (address,))
            return cur.rowcount == 1

    def list_bans(self) -> list[Ban]:
        """Every ban, oldest first."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT address, created_at, reason FROM bans ORDER BY created_at, address"
            ).fetchall()
        return [Ban(r[0], r[1], r[2]) for r in rows]

    # -- the limiters' memory --

    def write_limits(
        self,
        failures: dict[tuple[str, str], SavedFailures | None],
        trust: dict[tuple[str, str], float],
    ) -> None:
        """Write the limiters' changes in one transaction.

        ``failures`` maps ``(scope, key)`` to the record to keep, or None to delete it;
        ``trust`` maps ``(scope, key)`` to when that trust ends. Keys are digests.
        """
        for (scope, key), saved in failures.items():
            _check_token("limiter scope", scope)
            _check_text("limiter key", key, MAX_ADDRESS, allow_empty=False)
            if saved is not None and (saved.scope, saved.key) != (scope, key):
                raise StoreError(
                    ErrorCode.BAD_FIELD, "A limiter record is filed under another key."
                )
        for scope, key in trust:
            _check_token("trust scope", scope)
            _check_text("trust key", key, MAX_ADDRESS, allow_empty=False)
        with self._transaction() as conn:
            for (scope, key), saved in failures.items():
                if saved is None:
                    conn.execute(
                        "DELETE FROM limiter_failures WHERE scope = ? AND key = ?", (scope, key)
                    )
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO limiter_failures (scope, key, failures, penalties, "
                    "recent, last_failure, next_allowed, locked_until, expires_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        scope,
                        key,
                        saved.failures,
                        saved.penalties,
                        " ".join(repr(t) for t in saved.recent),
                        saved.last_failure,
                        saved.next_allowed,
                        saved.locked_until,
                        saved.expires_at,
                    ),
                )
            conn.executemany(
                "INSERT OR REPLACE INTO limiter_trust (scope, key, until) VALUES (?, ?, ?)",
                [(scope, key, until) for (scope, key), until in trust.items()],
            )

    def load_failures(self, now: float) -> list[SavedFailures]:
        """Every limiter record still alive at ``now``, least recently failed first."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT scope, key, failures, penalties, recent, last_failure, next_allowed, "
                "locked_until, expires_at FROM limiter_failures WHERE expires_at > ? "
                "ORDER BY last_failure",
                (now,),
            ).fetchall()
        return [
            SavedFailures(r[0], r[1], r[2], r[3], tuple(float(t) for t in r[4].split()), *r[5:])
            for r in rows
        ]

    def load_trust(self, now: float) -> list[tuple[str, str, float]]:
        """``(scope, key, until)`` of every trust still valid at ``now``."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT scope, key, until FROM limiter_trust WHERE until > ? ORDER BY until",
                (now,),
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def expire_limits(self, now: float) -> int:
        """Delete limiter records and trust that ended by ``now``; returns how many rows.

        The relay calls this at start-up and every hour: a row outlives its use by at most that.
        """
        with self._transaction() as conn:
            failures = conn.execute("DELETE FROM limiter_failures WHERE expires_at <= ?", (now,))
            trust = conn.execute("DELETE FROM limiter_trust WHERE until <= ?", (now,))
            return failures.rowcount + trust.rowcount


# --- helpers --------------------------------------------------------------------------------


def _prepare_db_file(path: Path) -> None:
    """Create ``relay.db`` as 0600 before SQLite touches it, and refuse anything odd there.

    SQLite would create the file with the process umask (often 0644), readable by every local
    user. Creating it ourselves with O_NOFOLLOW also refuses a symlink planted in its place.
    SQLite gives its journal file the database's mode, so the journal is 0600 too.
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(ErrorCode.INTERNAL, f"{path} is not a regular file.")
        if stat.S_IMODE(info.st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _os_error_sentence(exc: OSError, data_dir: Path) -> str:
    if exc.errno == errno.ELOOP:
        return f"{data_dir / DB_NAME} is a symbolic link; refusing to use it."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"No permission to use the relay data directory {data_dir}."
    reason = exc.strerror or str(exc)
    return f"Cannot use the relay data directory {data_dir}: {reason}."


def _check_username(username: str) -> None:
    problem = username_problem(username)
    if problem is not None:
        raise StoreError(ErrorCode.BAD_FIELD, problem)


def _check_password(username: str, password: str) -> None:
    problem = password_problem(username, password)
    if problem is not None:
        raise StoreError(ErrorCode.WEAK_PASSWORD, problem)


def _check_token(label: str, value: object) -> None:
    if not isinstance(value, str) or _TOKEN_RE.fullmatch(value) is None:
        raise StoreError(
            ErrorCode.BAD_FIELD,
            f"The {label} must be a short token of lowercase letters, digits and '_'.",
        )


def _check_text(label: str, value: object, max_len: int, *, allow_empty: bool) -> None:
    if not isinstance(value, str):
        raise StoreError(ErrorCode.BAD_FIELD, f"The {label} must be text.")
    if not value and not allow_empty:
        raise StoreError(ErrorCode.BAD_FIELD, f"The {label} must not be empty.")
    if len(value) > max_len:
        raise StoreError(ErrorCode.BAD_FIELD, f"The {label} is longer than {max_len} characters.")
    if not value.isprintable():
        # Records are printed on operators' terminals; no escape sequences.
        raise StoreError(ErrorCode.BAD_FIELD, f"The {label} contains control characters.")


def _parse_kind(kind: object) -> SecurityEventKind:
    if isinstance(kind, str):
        try:
            return SecurityEventKind(kind)
        except ValueError:
            pass
    raise StoreError(ErrorCode.BAD_FIELD, f"Unknown security event kind {kind!r}.")


def _no_account(username: str) -> StoreError:
    return StoreError(ErrorCode.NO_SUCH_MEMBER, f"There is no account named {username!r}.")


def _event_kind(value: str) -> SecurityEventKind:
    try:
        return SecurityEventKind(value)
    except ValueError:
        # Written by a newer relay with a kind this one does not know: say so plainly rather
        # than mislabel the event.
        raise StoreError(
            ErrorCode.INTERNAL,
            f"The database holds a security event of unknown kind {value!r}; "
            "it was written by a newer porthole-relay.",
        ) from None


def _where_order_limit(where: list[str], order: str, limit: object, params: list[object]) -> str:
    sql = (" WHERE " + " AND ".join(where)) if where else ""
    sql += f" ORDER BY {order}"
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise StoreError(ErrorCode.BAD_FIELD, "The limit must be a positive whole number.")
        sql += " LIMIT ?"
        params.append(limit)
    return sql
