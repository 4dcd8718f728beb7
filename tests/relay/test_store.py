"""RelayStore against a real SQLite file in a temporary data directory.

What matters most here is what the relay leaves on disk: only ``relay.db``, private modes, no
password in any form but an argon2id hash, and records that survive (and are closed by) a restart.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher

from core.errors import ErrorCode
from relay.store import (
    DB_NAME,
    RELAY_RESTART,
    SCHEMA_VERSION,
    LoginCheck,
    RelayStore,
    SavedFailures,
    SecurityEventKind,
    StoreError,
    cheap_hasher,
)

PASSWORD = "vessel-LLAMA-orbit-7"
OTHER_PASSWORD = "quiet-harbour-Fig-31"
T0 = 1_700_000_000.0


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "relay-data"


@pytest.fixture
def store(data_dir: Path) -> Iterator[RelayStore]:
    with RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0) as s:
        yield s


def db_bytes(data_dir: Path) -> bytes:
    return (data_dir / DB_NAME).read_bytes()


def raw_query(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    """Look at the file with a separate, plain SQLite connection (as a third party would)."""
    conn = sqlite3.connect(data_dir / DB_NAME)
    try:
        return list(conn.execute(sql).fetchall())
    finally:
        conn.close()


# --- files on disk ---------------------------------------------------------------------------


def test_open_creates_private_directory_and_database(data_dir: Path, store: RelayStore) -> None:
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / DB_NAME).stat().st_mode) == 0o600
    assert sorted(os.listdir(data_dir)) == [DB_NAME]


def test_modes_hold_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with RelayStore.open(tmp_path / "d", hasher=cheap_hasher(), now=T0) as s:
            s.add_account("alice", PASSWORD, now=T0)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "d" / DB_NAME).stat().st_mode) == 0o600


def test_existing_database_with_loose_mode_is_tightened(data_dir: Path) -> None:
    RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0).close()
    os.chmod(data_dir / DB_NAME, 0o644)
    RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0).close()
    assert stat.S_IMODE((data_dir / DB_NAME).stat().st_mode) == 0o600


def test_only_the_database_is_left_between_and_after_operations(
    data_dir: Path, store: RelayStore
) -> None:
    store.add_account("alice", PASSWORD, now=T0)
    record = store.start_session_record("123456789", "alice", now=T0 + 1)
    # Between transactions, with the connection still open: no journal, no -wal/-shm.
    assert sorted(os.listdir(data_dir)) == [DB_NAME]
    store.verify_login("alice", PASSWORD)
    store.verify_login("nobody", PASSWORD)
    store.set_password("alice", OTHER_PASSWORD, now=T0 + 2)
    store.set_disabled("alice", True)
    store.add_security_event(T0 + 3, SecurityEventKind.LOGIN_FAILED, "192.0.2.7", username="bob")
    store.end_session_record(record, T0 + 60, "organizer_ended", 3, 4, 123_456, 789)
    store.list_session_records()
    store.list_security_events()
    assert sorted(os.listdir(data_dir)) == [DB_NAME]
    store.close()
    assert sorted(os.listdir(data_dir)) == [DB_NAME]


def test_journal_mode_is_the_rollback_journal(data_dir: Path, store: RelayStore) -> None:
    assert raw_query(data_dir, "PRAGMA journal_mode") == [("delete",)]


def test_a_wal_database_is_switched_back(data_dir: Path) -> None:
    RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0).close()
    raw_query(data_dir, "PRAGMA journal_mode = WAL")
    with RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0) as s:
        s.add_account("alice", PASSWORD, now=T0)
        assert sorted(os.listdir(data_dir)) == [DB_NAME]


def test_schema_version_is_recorded(data_dir: Path, store: RelayStore) -> None:
    assert raw_query(data_dir, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = {row[0] for row in raw_query(data_dir, "SELECT name FROM sqlite_master")}
    assert {"accounts", "sessions", "security_events"} <= tables


def test_a_newer_schema_is_refused(data_dir: Path) -> None:
    RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0).close()
    raw_query(data_dir, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this porthole-relay understands"):
        RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0)


def test_a_file_that_is_not_a_database_is_refused(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700)
    (data_dir / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="is not a usable relay database"):
        RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0)


def test_a_symlink_in_place_of_the_database_is_refused(data_dir: Path, tmp_path: Path) -> None:
    data_dir.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.db"
    (data_dir / DB_NAME).symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"):
        RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0)
    assert not target.exists()


def test_open_without_create_needs_an_existing_database(data_dir: Path) -> None:
    with pytest.raises(StoreError, match="no relay data directory"):
        RelayStore.open(data_dir, create=False)
    assert not data_dir.exists()
    data_dir.mkdir()
    with pytest.raises(StoreError, match=r"no relay database .* \(no relay\.db\)"):
        RelayStore.open(data_dir, create=False)
    assert os.listdir(data_dir) == []


# --- accounts and logins ---------------------------------------------------------------------


def test_login_ok_wrong_disabled_unknown(store: RelayStore) -> None:
    store.add_account("alice", PASSWORD, now=T0)
    assert store.verify_login("alice", PASSWORD) is LoginCheck.OK
    assert store.verify_login("alice", OTHER_PASSWORD) is LoginCheck.WRONG
    assert store.verify_login("alice", "") is LoginCheck.WRONG
    assert store.verify_login("mallory", PASSWORD) is LoginCheck.WRONG
    store.set_disabled("alice", True)
    assert store.verify_login("alice", PASSWORD) is LoginCheck.DISABLED
    # A guesser without the password cannot tell that the account is disabled.
    assert store.verify_login("alice", OTHER_PASSWORD) is LoginCheck.WRONG
    store.set_disabled("alice", False)
    assert store.verify_login("alice", PASSWORD) is LoginCheck.OK


class CountingHasher(PasswordHasher):
    """A cheap argon2id hasher that counts verifications (argon2's own code does the work)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192, parallelism=1)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verifications += 1
        return super().verify(hash, password)


def test_unknown_user_costs_a_real_verification(data_dir: Path) -> None:
    """An unknown name is checked against a dummy hash, not answered at once."""
    hasher = CountingHasher()
    with RelayStore.open(data_dir, hasher=hasher, now=T0) as s:
        s.add_account("alice", PASSWORD, now=T0)
        assert s.verify_login("alice", OTHER_PASSWORD) is LoginCheck.WRONG
        assert hasher.verifications == 1
        assert s.verify_login("nobody", PASSWORD) is LoginCheck.WRONG
        assert s.verify_login("x" * 10_000, PASSWORD) is LoginCheck.WRONG
        assert s.verify_login("alice", PASSWORD * 100) is LoginCheck.WRONG  # overlong
        assert hasher.verifications == 4


def test_overlong_password_is_wrong_not_an_error(store: RelayStore) -> None:
    store.add_account("alice", PASSWORD, now=T0)
    assert store.verify_login("alice", PASSWORD * 100) is LoginCheck.WRONG


def test_usernames_are_unique_regardless_of_case(store: RelayStore) -> None:
    store.add_account("Alice", PASSWORD, now=T0)
    with pytest.raises(StoreError) as info:
        store.add_account("alice", OTHER_PASSWORD, now=T0)
    assert info.value.code is ErrorCode.ALREADY_DONE
    assert str(info.value) == "There is already an account named 'Alice'."
    assert store.verify_login("ALICE", PASSWORD) is LoginCheck.OK
    assert [a.username for a in store.list_accounts()] == ["Alice"]


@pytest.mark.parametrize("name", ["", "a" * 65, "al ice", "alice\n", "ålice", "al/ice", "a:b"])
def test_bad_usernames_are_refused(store: RelayStore, name: str) -> None:
    with pytest.raises(StoreError, match="A user name is 1 to 64 characters") as info:
        store.add_account(name, PASSWORD, now=T0)
    assert info.value.code is ErrorCode.BAD_FIELD
    assert store.list_accounts() == []


@pytest.mark.parametrize("name", ["a", "a" * 64, "alice.smith", "ops_team-2", "X"])
def test_good_usernames_are_accepted(store: RelayStore, name: str) -> None:
    store.add_account(name, PASSWORD, now=T0)
    assert store.get_account(name) is not None


def test_weak_password_is_refused_with_its_sentence(store: RelayStore) -> None:
    with pytest.raises(StoreError) as info:
        store.add_account("alice", "short-pw1", now=T0)
    assert info.value.code is ErrorCode.WEAK_PASSWORD
    assert str(info.value) == "Use at least 12 characters; this one has 9."
    with pytest.raises(StoreError, match="commonly used passwords"):
        store.add_account("alice", "Password1234", now=T0)
    with pytest.raises(StoreError, match="must not contain the user name"):
        store.add_account("alice", "alice-the-organizer", now=T0)
    assert store.list_accounts() == []


def test_set_password(store: RelayStore) -> None:
    store.add_account("alice", PASSWORD, now=T0)
    store.set_password("alice", OTHER_PASSWORD, now=T0 + 100)
    assert store.verify_login("alice", PASSWORD) is LoginCheck.WRONG
    assert store.verify_login("alice", OTHER_PASSWORD) is LoginCheck.OK
    account = store.get_account("alice")
    assert account is not None
    assert (account.created_at, account.password_changed_at) == (T0, T0 + 100)
    with pytest.raises(StoreError) as info:
        store.set_password("alice", "123456789012", now=T0)
    assert info.value.code is ErrorCode.WEAK_PASSWORD


def test_unknown_accounts_are_reported(store: RelayStore) -> None:
    with pytest.raises(StoreError, match=r"There is no account named 'ghost'\.") as info:
        store.set_password("ghost", PASSWORD, now=T0)
    assert info.value.code is ErrorCode.NO_SUCH_MEMBER
    with pytest.raises(StoreError, match=r"There is no account named 'ghost'\.") as info:
        store.set_disabled("ghost", True)
    assert info.value.code is ErrorCode.NO_SUCH_MEMBER


def test_list_accounts(store: RelayStore) -> None:
    store.add_account("bob", PASSWORD, now=T0 + 1)
    store.add_account("alice", OTHER_PASSWORD, now=T0)
    store.set_disabled("bob", True)
    accounts = store.list_accounts()
    assert [(a.username, a.disabled, a.created_at) for a in accounts] == [
        ("alice", False, T0),
        ("bob", True, T0 + 1),
    ]
    assert not hasattr(accounts[0], "password_hash")


def test_unicode_passwords_match_across_normalization_forms(store: RelayStore) -> None:
    composed = unicodedata.normalize("NFC", "Kaffee-mit-Crème-ñ")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    store.add_account("alice", composed, now=T0)
    assert store.verify_login("alice", decomposed) is LoginCheck.OK


def test_hash_is_argon2id_and_upgraded_when_parameters_change(data_dir: Path) -> None:
    with RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0) as s:
        s.add_account("alice", PASSWORD, now=T0)
    [(old_hash,)] = raw_query(data_dir, "SELECT password_hash FROM accounts")
    assert isinstance(old_hash, str)
    assert old_hash.startswith("$argon2id$")
    stronger = PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1)
    with RelayStore.open(data_dir, hasher=stronger, now=T0) as s:
        assert s.verify_login("alice", OTHER_PASSWORD) is LoginCheck.WRONG
        assert raw_query(data_dir, "SELECT password_hash FROM accounts") == [(old_hash,)]
        assert s.verify_login("alice", PASSWORD) is LoginCheck.OK
    [(new_hash,)] = raw_query(data_dir, "SELECT password_hash FROM accounts")
    assert isinstance(new_hash, str)
    assert new_hash != old_hash
    assert not stronger.check_needs_rehash(new_hash)
    with RelayStore.open(data_dir, hasher=stronger, now=T0) as s:
        assert s.verify_login("alice", PASSWORD) is LoginCheck.OK


def test_no_plaintext_password_anywhere_in_the_file(data_dir: Path) -> None:
    old_secret = "Unique-Marker-Pass-0451"
    new_secret = "Another-Marker-Pass-9137"
    with RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0) as s:
        s.add_account("alice", old_secret, now=T0)
        s.verify_login("alice", old_secret)
        s.verify_login("alice", "Wrong-Marker-Guess-3377")
        s.set_password("alice", new_secret, now=T0 + 1)
        s.verify_login("alice", new_secret)
    content = db_bytes(data_dir)
    assert b"alice" in content  # the check can see text in the file at all
    for secret in (old_secret, new_secret, "Wrong-Marker-Guess-3377"):
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            assert secret.encode(encoding) not in content
            assert secret.lower().encode(encoding) not in content


# --- session records -------------------------------------------------------------------------


def test_session_records_survive_a_restart(data_dir: Path) -> None:
    with RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0) as s:
        rid = s.start_session_record("123456789", "alice", now=T0)
        s.end_session_record(rid, T0 + 90, "organizer_ended", 5, 7, 10_000_000, 4_321)
    with RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0 + 1000) as s:
        [record] = s.list_session_records()
    assert record.id == rid
    assert record.session_id == "123456789"
    assert record.organizer == "alice"
    assert (record.started_at, record.ended_at, record.end_reason) == (
        T0,
        T0 + 90,
        "organizer_ended",
    )
    assert (record.peak_members, record.total_members) == (5, 7)
    assert (record.bytes_relayed, record.messages_relayed) == (10_000_000, 4_321)


def test_unfinished_record_is_closed_as_relay_restart_on_reopen(data_dir: Path) -> None:
    s = RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0)
    finished = s.start_session_record("111111111", "alice", now=T0)
    s.end_session_record(finished, T0 + 10, "organizer_left", 2, 2, 100, 10)
    crashed = s.start_session_record("222222222", "alice", now=T0 + 20)
    s.close()  # the relay dies without ending the second session

    with RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0 + 500) as s:
        by_id = {r.id: r for r in s.list_session_records()}
    assert by_id[crashed].ended_at == T0 + 500
    assert by_id[crashed].end_reason == RELAY_RESTART
    assert by_id[finished].ended_at == T0 + 10
    assert by_id[finished].end_reason == "organizer_left"


def test_opening_beside_a_running_relay_leaves_its_records_open(data_dir: Path) -> None:
    with RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0) as relay:
        rid = relay.start_session_record("333333333", "alice", now=T0)
        with RelayStore.open(data_dir, close_unfinished=False, create=False) as tool:
            [record] = tool.list_session_records()
            assert record.ended_at is None
            tool.add_account("bob", PASSWORD, now=T0)  # two connections, one file
        relay.end_session_record(rid, T0 + 5, "organizer_ended", 1, 1, 0, 0)
        assert relay.get_account("bob") is not None


def test_end_session_record_refusals(store: RelayStore) -> None:
    rid = store.start_session_record("123456789", "alice", now=T0)
    with pytest.raises(StoreError, match="short token") as info:
        store.end_session_record(rid, T0, "The organizer said: hi!", 1, 1, 0, 0)
    assert info.value.code is ErrorCode.BAD_FIELD
    with pytest.raises(StoreError, match="non-negative integer"):
        store.end_session_record(rid, T0, "organizer_ended", -1, 1, 0, 0)
    with pytest.raises(StoreError, match="no session record 999"):
        store.end_session_record(999, T0, "organizer_ended", 1, 1, 0, 0)
    store.end_session_record(rid, T0 + 1, "organizer_ended", 1, 1, 0, 0)
    with pytest.raises(StoreError, match="already closed") as info:
        store.end_session_record(rid, T0 + 2, "organizer_ended", 1, 1, 0, 0)
    assert info.value.code is ErrorCode.ALREADY_DONE
    [record] = store.list_session_records()
    assert record.ended_at == T0 + 1


def test_start_session_record_refuses_control_characters(store: RelayStore) -> None:
    with pytest.raises(StoreError, match="control characters"):
        store.start_session_record("123\x1b[2J", "alice", now=T0)
    with pytest.raises(StoreError, match="must not be empty"):
        store.start_session_record("", "alice", now=T0)


def test_list_session_records_order_and_filters(store: RelayStore) -> None:
    ids = [
        store.start_session_record(f"10000000{i}", "alice" if i % 2 else "bob", now=T0 + i)
        for i in range(6)
    ]
    newest_first = [r.id for r in store.list_session_records()]
    assert newest_first == list(reversed(ids))
    assert [r.id for r in store.list_session_records(limit=2)] == [ids[5], ids[4]]
    assert {r.organizer for r in store.list_session_records(organizer="ALICE")} == {"alice"}
    assert [r.id for r in store.list_session_records(since=T0 + 4)] == [ids[5], ids[4]]
    assert len(store.list_session_records(limit=None)) == 6
    with pytest.raises(StoreError, match="positive whole number"):
        store.list_session_records(limit=0)


# --- security events -------------------------------------------------------------------------


def test_security_events(store: RelayStore) -> None:
    store.add_account("Eve", PASSWORD, now=T0)
    store.add_security_event(T0, SecurityEventKind.LOGIN_FAILED, "192.0.2.1:5000", username="eve")
    store.add_security_event(
        T0 + 1, SecurityEventKind.JOIN_FAILED, "192.0.2.1:5001", session_id="123456789"
    )
    store.add_security_event(
        T0 + 2, SecurityEventKind.LOCKOUT, "192.0.2.1", detail="7 failures in 60 s"
    )
    store.add_security_event(T0 + 3, SecurityEventKind("lockout_lifted"), "192.0.2.1")
    events = store.list_security_events()
    assert [e.kind for e in events] == [
        SecurityEventKind.LOCKOUT_LIFTED,
        SecurityEventKind.LOCKOUT,
        SecurityEventKind.JOIN_FAILED,
        SecurityEventKind.LOGIN_FAILED,
    ]
    assert events[1].detail == "7 failures in 60 s"
    assert events[2].session_id == "123456789"
    assert events[3].username == "Eve"  # as the account spells it
    assert events[3].session_id is None
    [lockout] = store.list_security_events(kind=SecurityEventKind.LOCKOUT)
    assert lockout.at == T0 + 2
    assert len(store.list_security_events(since=T0 + 2)) == 2
    assert len(store.list_security_events(limit=1)) == 1


def test_a_password_typed_as_user_name_is_not_recorded(data_dir: Path) -> None:
    """Failed logins name the user only if the account exists: people type passwords there."""
    typed = "Marker-Secret-Typed-In-Name-77"
    with RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0) as s:
        s.add_account("alice", PASSWORD, now=T0)
        assert s.verify_login(typed, "alice") is LoginCheck.WRONG
        s.add_security_event(T0, SecurityEventKind.LOGIN_FAILED, "192.0.2.1", username=typed)
        s.add_security_event(
            T0 + 1, SecurityEventKind.LOCKOUT, "192.0.2.1", username=typed, detail="6 in 60 s"
        )
        s.add_security_event(T0 + 2, SecurityEventKind.LOGIN_FAILED, "192.0.2.1", username="alice")
        events = s.list_security_events()
    assert [(e.username, e.detail) for e in events] == [
        ("alice", ""),
        (None, "6 in 60 s (unknown user name)"),
        (None, "unknown user name"),
    ]
    assert typed.encode() not in db_bytes(data_dir)


def test_security_event_refusals(store: RelayStore) -> None:
    with pytest.raises(StoreError, match="Unknown security event kind"):
        store.add_security_event(T0, "password_was_hunter2", "192.0.2.1")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="longer than 500"):
        store.add_security_event(T0, SecurityEventKind.BAN, "192.0.2.1", detail="x" * 501)
    assert store.list_security_events() == []


# --- threads ---------------------------------------------------------------------------------


def test_usable_from_worker_threads(store: RelayStore) -> None:
    """The server calls the store via trio.to_thread.run_sync: many threads, one store."""
    store.add_account("alice", PASSWORD, now=T0)
    barrier = threading.Barrier(8)

    def work(i: int) -> LoginCheck:
        barrier.wait()
        rid = store.start_session_record(f"{i:09d}", "alice", now=T0 + i)
        store.add_security_event(T0 + i, SecurityEventKind.JOIN_FAILED, f"192.0.2.{i}")
        result = store.verify_login("alice", PASSWORD if i % 2 else OTHER_PASSWORD)
        store.end_session_record(rid, T0 + i + 1, "organizer_ended", 1, 1, i, i)
        return result

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    assert results.count(LoginCheck.OK) == 4
    assert results.count(LoginCheck.WRONG) == 4
    records = store.list_session_records(limit=None)
    assert len(records) == 8
    assert all(r.ended_at is not None for r in records)
    assert len(store.list_security_events(limit=None)) == 8


def test_cost_parameters_can_be_given_instead_of_a_hasher(data_dir: Path) -> None:
    """What the relay's configuration carries: argon2 time and memory cost."""
    with RelayStore.open(data_dir, time_cost=1, memory_cost=8192, now=T0) as s:
        s.add_account("alice", PASSWORD, now=T0)
        assert s.verify_login("alice", PASSWORD) is LoginCheck.OK
    [(stored,)] = raw_query(data_dir, "SELECT password_hash FROM accounts")
    assert isinstance(stored, str)
    assert stored.startswith("$argon2id$v=19$m=8192,t=1,")
    with pytest.raises(TypeError):
        RelayStore.open(data_dir, hasher=cheap_hasher(), time_cost=1)


def test_limiter_rows_round_trip_and_expire(store: RelayStore) -> None:
    row = SavedFailures(
        scope="join_address", key="ab" * 16, failures=7, penalties=2, recent=(10.5, 11.25),
        last_failure=11.25, next_allowed=13.25, locked_until=None, expires_at=100.0,
    )  # fmt: skip
    brief = SavedFailures(**{**asdict(row), "key": "cd" * 16, "expires_at": 50.0})
    store.write_limits(
        {(row.scope, row.key): row, (brief.scope, brief.key): brief},
        {("device", "ef" * 16): 60.0},
    )
    assert sorted(store.load_failures(now=20.0), key=lambda r: r.key) == [row, brief]
    assert store.load_failures(now=60.0) == [row]  # the other one has expired
    assert store.load_trust(now=59.0) == [("device", "ef" * 16, 60.0)]
    assert store.load_trust(now=60.0) == []
    assert store.expire_limits(now=60.0) == 2  # the expired row and the trust are deleted
    assert store.load_failures(now=20.0) == [row]
    store.write_limits({(row.scope, row.key): None}, {})
    assert store.load_failures(now=20.0) == []
    with pytest.raises(StoreError):
        store.write_limits({("join_address", "00" * 16): row}, {})
