"""The admin socket against a real relay with live sessions of real clients (docs/design.md §7.6).

Every op is exercised through the real blocking client (``relay.admin_client``, the one the
``--json`` command line uses) or by hand-made frames; the effects are checked where they land:
in the members' clients, on new connections, in the store.
"""

from __future__ import annotations

import functools
import grp
import json
import os
import pwd
import shutil
import socket
import sqlite3
import stat
import struct
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import trio
from adminkit import (
    SESSION_PASSWORD,
    Admin,
    RawAdmin,
    connect_as,
    frame,
    open_live_session,
    socket_path,
    wait_until,
)
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay, add_account, make_config
from sessionkit import connect

from core.client import RelayUnreachable, RequestRefused
from core.client.events import ContentReceived, EpochChanged, RosterChanged
from core.errors import ErrorCode
from core.protocol.content import Chat
from relay.admin_protocol import (
    MAX_REQUEST,
    OPS,
    SECURITY_KINDS,
    AdminError,
    AdminErrorCode,
    FrameDecoder,
    parse_cli_args,
    parse_request,
    parse_since,
)
from relay.admin_server import AdminSocketError
from relay.config import RelayConfig
from relay.limits import BackoffPolicy
from relay.server import serve_relay
from relay.store import RelayStore, SecurityEventKind, StoreError

#: Two failures lock a key: enough to reach lockouts quickly, no backoff delay before that.
QUICK_LOCK = BackoffPolicy(free_failures=10, lockout_after=2)
NOT_AN_ACCOUNT = "correct-horse-battery-staple-99"


async def _start(config: RelayConfig, nursery: trio.Nursery) -> RunningRelay:
    stop = trio.Event()
    info = await nursery.start(functools.partial(serve_relay, config, stop=stop))
    return RunningRelay(info, config, nursery, stop)


@pytest.fixture
async def strict_relay(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    """A relay whose lockouts come after two failures (joins and logins, per address and user)."""
    data_dir = tmp_path / "relay-data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    config = make_config(
        data_dir,
        join_failures_per_address=QUICK_LOCK,
        login_failures=QUICK_LOCK,
        login_failures_per_user=QUICK_LOCK,
    )
    async with trio.open_nursery() as nursery:
        yield await _start(config, nursery)
        nursery.cancel_scope.cancel()


def _stored_events(data_dir: Path) -> list[tuple[str, str, str | None, str | None, str]]:
    with RelayStore.open(data_dir, time_cost=1, memory_cost=8 * 1024, close_unfinished=False) as s:
        return [
            (e.kind.value, e.address, e.session_id, e.username, e.detail)
            for e in s.list_security_events(limit=None)
        ]


# --- the socket file ---------------------------------------------------------------------------


async def test_the_socket_is_0600_owned_by_the_relay_user_and_removed_on_stop(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    async with trio.open_nursery() as nursery:
        relay = await _start(make_config(data_dir), nursery)
        info = os.lstat(socket_path(data_dir))
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_uid == os.geteuid()
        async with Admin(data_dir) as admin:
            status = await admin.call("relay.status")
        assert status["protocol_version"] == 1
        assert status["software"].startswith("porthole-relay")
        assert status["fingerprint"] == relay.fingerprint
        assert status["listen"] == f"127.0.0.1:{relay.port}"
        assert sorted(status["ops"]) == sorted(OPS)
        relay.stop.set()
    assert not socket_path(data_dir).exists()
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "decoy.key",
        "relay-cert.pem",
        "relay-key.pem",
        "relay.db",
    ]


async def test_a_stale_socket_is_replaced_and_a_live_one_keeps_a_second_relay_out(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(os.fspath(socket_path(data_dir)))  # a relay that died without cleaning up
    stale.close()
    config = make_config(data_dir)
    async with trio.open_nursery() as nursery:
        first = await _start(config, nursery)
        async with Admin(data_dir) as admin:
            assert (await admin.call("sessions.list")) == {"sessions": []}
        with pytest.RaisesGroup(
            pytest.RaisesExc(AdminSocketError, match="Another relay is running"),
            flatten_subgroups=True,
        ):
            async with trio.open_nursery() as second:
                await _start(config, second)
        async with Admin(data_dir) as admin:  # the first relay's socket is untouched
            assert (await admin.call("sessions.list")) == {"sessions": []}
        first.stop.set()
    not_a_socket = socket_path(data_dir)
    not_a_socket.write_text("someone's file")
    with pytest.RaisesGroup(
        pytest.RaisesExc(AdminSocketError, match="is not a socket"), flatten_subgroups=True
    ):
        async with trio.open_nursery() as nursery:
            await _start(config, nursery)
    assert not_a_socket.read_text() == "someone's file"


async def test_a_data_dir_too_long_for_a_unix_socket_address_still_works(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    assert len(os.fsencode(socket_path(data_dir))) > 108
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    async with trio.open_nursery() as nursery:
        relay = await _start(make_config(data_dir), nursery)
        assert stat.S_IMODE(os.lstat(socket_path(data_dir)).st_mode) == 0o600
        async with Admin(data_dir) as admin:
            assert (await admin.call("relay.status"))["fingerprint"] == relay.fingerprint
        relay.stop.set()
    assert not socket_path(data_dir).exists()


@pytest.fixture
def world_traversable_dir() -> Iterator[Path]:
    """A directory other users can reach (pytest's tmp_path is 0700 and would hide the socket)."""
    base = Path(tempfile.mkdtemp(prefix="porthole-admin-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_a_non_owner_user_cannot_open_the_socket(world_traversable_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user (CI runs the tests as root)")
    nobody = pwd.getpwnam("nobody").pw_uid
    nogroup = grp.getgrnam("nogroup").gr_gid if _has_group("nogroup") else nobody
    data_dir = world_traversable_dir / "data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    async with trio.open_nursery() as nursery:
        relay = await _start(make_config(data_dir), nursery)
        path = socket_path(data_dir)
        try_as_nobody = functools.partial(connect_as, nobody, nogroup, path)

        # The data directory the relay made is 0700: nobody does not even reach the socket.
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert await trio.to_thread.run_sync(try_as_nobody) == "PermissionError"

        # With the directory opened up, the socket's own 0600 is the wall.
        data_dir.chmod(0o755)
        assert await trio.to_thread.run_sync(try_as_nobody) == "PermissionError"

        # Even with the socket itself opened up by hand, the relay checks who is calling.
        path.chmod(0o666)
        outcome = await trio.to_thread.run_sync(try_as_nobody)
        assert outcome.startswith("reply:"), outcome
        reply = json.loads(outcome.removeprefix("reply:"))
        assert reply["ok"] is False
        assert reply["error"]["code"] == "forbidden"

        # The owner (root here) is served all along.
        async with Admin(data_dir) as admin:
            assert (await admin.call("sessions.list")) == {"sessions": []}
        relay.stop.set()


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


# --- sessions ----------------------------------------------------------------------------------


async def test_sessions_list_and_get_show_live_sessions_and_no_content(
    relay: RunningRelay,
) -> None:
    live = await open_live_session(relay.nursery, relay.info, ["Ana", "Ben"])
    org = live.organizer.session
    assert org is not None
    await org.send_content(Chat(text="the secret plan is in the blue folder"))
    for member in live.members:
        await wait_until(
            lambda m=member: any(isinstance(e, ContentReceived) for e in m.events),  # type: ignore[misc]
            f"{member.name} got the chat",
        )
    async with Admin(relay.config.data_dir) as admin:
        listing = await admin.call("sessions.list")
        status = await admin.call("relay.status")
        spaced = f"{live.session_id[:3]} {live.session_id[3:6]} {live.session_id[6:]}"
        detail = (await admin.call("sessions.get", session_id=spaced))["session"]
    (summary,) = listing["sessions"]
    assert summary["session_id"] == live.session_id
    assert summary["organizer"] == ORGANIZER
    assert summary["organizer_name"] == "Olga"
    assert summary["member_count"] == 3
    assert summary["presenter"] == 1
    assert summary["locked"] is False
    assert summary["has_password"] is True
    assert summary["bytes_relayed"] > 0
    assert summary["messages_relayed"] >= 2
    assert 0 <= summary["duration_s"] < 60
    assert (status["sessions"], status["members"]) == (1, 3)
    members = {m["name"]: m for m in detail["members"]}
    assert members["Olga"]["roles"] == ["organizer", "presenter"]
    assert members["Ana"]["roles"] == ["participant"]
    assert members["Ben"]["address"] == "127.0.0.1"
    assert detail["knocks"] == []
    # Metadata only: no content and no secret in anything the admin socket said.
    said = json.dumps([listing, status, detail])
    assert "blue folder" not in said
    assert SESSION_PASSWORD not in said
    assert ORGANIZER_PASSWORD not in said


async def test_ending_a_session_ends_it_for_its_members(relay: RunningRelay) -> None:
    live = await open_live_session(relay.nursery, relay.info, ["Ana", "Ben"])
    async with Admin(relay.config.data_dir) as admin:
        result = await admin.call("sessions.end", session_id=live.session_id)
        assert result == {"session_id": live.session_id, "ended": True, "members_told": 3}
        for member in live.everyone:
            with trio.fail_after(10):
                await member.closed.wait()
            closed = member.closed_with
            assert closed.code is ErrorCode.SESSION_ENDED
            assert "relay operator ended the session" in closed.message
        assert (await admin.call("sessions.list")) == {"sessions": []}
        with pytest.raises(AdminError) as gone:
            await admin.call("sessions.end", session_id=live.session_id)
        assert gone.value.code is AdminErrorCode.NOT_FOUND
        await relay.info.relay.recorder.wait_idle()
        (record,) = (await admin.call("records.list"))["records"]
        assert record["session_id"] == live.session_id
        assert record["end_reason"] == "session_ended"
        events = (await admin.call("events.list", kind="admin_action"))["events"]
    assert events[0]["session_id"] == live.session_id
    assert events[0]["detail"].startswith("ended the session (operator uid ")


async def test_removing_a_member_rekeys_the_rest(relay: RunningRelay) -> None:
    live = await open_live_session(relay.nursery, relay.info, ["Ana", "Ben"])
    org, (ana, ben) = live.organizer, live.members
    assert org.session is not None
    epoch_before = org.session.epoch
    async with Admin(relay.config.data_dir) as admin:
        assert await admin.call("sessions.kick", session_id=live.session_id, peer_id=ben.peer_id)
        with trio.fail_after(10):
            await ben.closed.wait()
        assert ben.closed_with.code is ErrorCode.REMOVED
        assert "relay operator removed you" in ben.closed_with.message
        # The organizer's client saw the roster and re-keyed; Ana follows.
        await wait_until(
            lambda: org.session is not None and org.session.epoch > epoch_before, "rekey"
        )
        await wait_until(
            lambda: any(
                isinstance(e, EpochChanged)
                and org.session is not None
                and e.epoch == org.session.epoch
                for e in ana.events
            ),
            "Ana holds the new epoch",
        )
        await org.session.send_content(Chat(text="after Ben left"))
        await wait_until(
            lambda: any(
                isinstance(e, ContentReceived) and e.message == Chat(text="after Ben left")
                for e in ana.events
            ),
            "Ana reads what was sent after the re-key",
        )
        detail = (await admin.call("sessions.get", session_id=live.session_id))["session"]
        assert [m["name"] for m in detail["members"]] == ["Olga", "Ana"]

        for peer_id, code in ((1, AdminErrorCode.NOT_ALLOWED), (99, AdminErrorCode.NOT_FOUND)):
            with pytest.raises(AdminError) as refused:
                await admin.call("sessions.kick", session_id=live.session_id, peer_id=peer_id)
            assert refused.value.code is code


async def test_locking_keeps_newcomers_out_until_unlocked(relay: RunningRelay) -> None:
    live = await open_live_session(relay.nursery, relay.info, ["Ana"])
    ana = live.members[0]
    async with Admin(relay.config.data_dir) as admin:
        locked = await admin.call("sessions.lock", session_id=live.session_id)
        assert locked == {"session_id": live.session_id, "locked": True, "changed": True}
        await wait_until(
            lambda: any(isinstance(e, RosterChanged) and e.roster.locked for e in ana.events),
            "the members see the lock",
        )
        again = await admin.call("sessions.lock", session_id=live.session_id)
        assert again["changed"] is False
        async with connect(relay.port, relay.fingerprint) as cho:
            with pytest.raises(RequestRefused) as refused:
                await cho.join(live.session_id, name="Cho", password=SESSION_PASSWORD)
            assert refused.value.code is ErrorCode.SESSION_LOCKED
        unlocked = await admin.call("sessions.unlock", session_id=live.session_id)
        assert unlocked["locked"] is False
        async with connect(relay.port, relay.fingerprint) as cho:
            await cho.join(live.session_id, name="Cho", password=SESSION_PASSWORD)


# --- lockouts and bans ---------------------------------------------------------------------------


async def test_a_lifted_join_lockout_lets_the_address_in_again(strict_relay: RunningRelay) -> None:
    relay = strict_relay
    live = await open_live_session(relay.nursery, relay.info, [])
    guesser = "127.0.0.5"
    for _ in range(2):
        async with connect(relay.port, relay.fingerprint, local_address=guesser) as client:
            with pytest.raises(RequestRefused) as refused:
                await client.join(live.session_id, name="Eve", password="wrong guess")
            assert refused.value.code is ErrorCode.JOIN_REFUSED

    async def join_from_guesser() -> None:
        async with connect(relay.port, relay.fingerprint, local_address=guesser) as client:
            await client.join(live.session_id, name="Eve", password=SESSION_PASSWORD)

    async with connect(relay.port, relay.fingerprint, local_address=guesser) as client:
        with pytest.raises(RequestRefused) as locked:
            await client.join(live.session_id, name="Eve", password=SESSION_PASSWORD)
        assert locked.value.code is ErrorCode.LOCKED_OUT
    async with Admin(relay.config.data_dir) as admin:
        (lockout,) = (await admin.call("lockouts.list"))["lockouts"]
        assert (lockout["scope"], lockout["key"], lockout["failures"]) == (
            "join_address",
            guesser,
            2,
        )
        assert lockout["remaining_s"] > 3600
        assert (await admin.call("relay.status"))["lockouts"] == 1
        lifted = await admin.call("lockouts.lift", key=guesser)
        assert lifted == {"lifted": [{"scope": "join_address", "key": guesser}]}
        assert (await admin.call("lockouts.list")) == {"lockouts": []}
        await join_from_guesser()  # the right password, from the address that was locked
        with pytest.raises(AdminError) as not_locked:
            await admin.call("lockouts.lift", key=guesser)
        assert not_locked.value.code is AdminErrorCode.NOT_FOUND
        await relay.info.relay.recorder.wait_idle()
        events = (await admin.call("events.list", kind="lockout_lifted"))["events"]
    assert events[0]["address"] == guesser


async def test_login_lockouts_never_show_a_name_that_is_not_an_account(
    strict_relay: RunningRelay,
) -> None:
    relay = strict_relay
    for _ in range(2):
        async with connect(relay.port, relay.fingerprint, local_address="127.0.0.6") as client:
            with pytest.raises(RequestRefused):
                await client.login(NOT_AN_ACCOUNT, "whatever it was")
    async with Admin(relay.config.data_dir) as admin:
        lockouts = (await admin.call("lockouts.list"))["lockouts"]
        by_scope = {entry["scope"]: entry["key"] for entry in lockouts}
        assert by_scope["login_address"] == "127.0.0.6"
        assert by_scope["login_user"].startswith("user:#")
        await relay.info.relay.recorder.wait_idle()
        said = json.dumps([lockouts, await admin.call("events.list")])
        assert NOT_AN_ACCOUNT not in said
        lifted = await admin.call("lockouts.lift", key=by_scope["login_user"], scope="login_user")
        assert lifted["lifted"] == [{"scope": "login_user", "key": by_scope["login_user"]}]
        await admin.call("lockouts.lift", key="127.0.0.6")
        assert (await admin.call("lockouts.list")) == {"lockouts": []}
    async with connect(relay.port, relay.fingerprint, local_address="127.0.0.6") as client:
        await client.login(ORGANIZER, ORGANIZER_PASSWORD)


async def test_a_ban_disconnects_the_address_refuses_it_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    config = make_config(data_dir)
    banned = "127.0.0.7"
    async with trio.open_nursery() as nursery:
        relay = await _start(config, nursery)
        live = await open_live_session(
            nursery, relay.info, ["Ana", "Mal"], local_addresses={"Mal": banned}
        )
        ana, mal = live.members
        async with Admin(data_dir) as admin:
            result = await admin.call("bans.add", address=banned, reason="spraying passwords")
            assert result["disconnected"] == 1
            assert result["ban"]["address"] == banned
            with trio.fail_after(10):
                await mal.closed.wait()
            await wait_until(
                lambda: any(
                    isinstance(e, RosterChanged) and len(e.roster.members) == 2 for e in ana.events
                ),
                "the others see Mal gone",
            )
            with pytest.raises(RelayUnreachable):  # refused at accept, before TLS
                async with connect(relay.port, relay.fingerprint, local_address=banned):
                    pass
            with pytest.raises(AdminError) as twice:
                await admin.call("bans.add", address=banned)
            assert twice.value.code is AdminErrorCode.CONFLICT
            v6 = await admin.call("bans.add", address="2001:db8:1:2:3:4:5:6")
            assert v6["ban"]["address"] == "2001:db8:1:2::/64"
            for bad in ("not-an-address", "10.0.0.0/8"):
                with pytest.raises(AdminError) as refused:
                    await admin.call("bans.add", address=bad)
                assert refused.value.code is AdminErrorCode.BAD_ARGS
        relay.stop.set()

    async with trio.open_nursery() as nursery:
        relay = await _start(config, nursery)
        async with Admin(data_dir) as admin:
            bans = (await admin.call("bans.list"))["bans"]
            assert [(b["address"], b["reason"]) for b in bans] == [
                (banned, "spraying passwords"),
                ("2001:db8:1:2::/64", ""),
            ]
            with pytest.raises(RelayUnreachable):
                async with connect(relay.port, relay.fingerprint, local_address=banned):
                    pass
            assert await admin.call("bans.remove", address=banned) == {"removed": banned}
            with pytest.raises(AdminError) as missing:
                await admin.call("bans.remove", address=banned)
            assert missing.value.code is AdminErrorCode.NOT_FOUND
        async with connect(relay.port, relay.fingerprint, local_address=banned) as client:
            await client.login(ORGANIZER, ORGANIZER_PASSWORD)
        relay.stop.set()
    kinds = [kind for kind, *_ in _stored_events(data_dir)]
    assert {"ban", "unban"} <= set(kinds)


# --- accounts, records, events -----------------------------------------------------------------


async def test_accounts_add_passwd_disable_enable(relay: RunningRelay) -> None:
    data_dir = relay.config.data_dir
    first, second = "violet-ocean-compass-71", "amber-meadow-lantern-38"
    async with Admin(data_dir) as admin:
        with pytest.raises(AdminError) as weak:
            await admin.call("accounts.add", username="bob", password="password123")
        assert weak.value.code is AdminErrorCode.WEAK_PASSWORD
        added = await admin.call("accounts.add", username="bob", password=first)
        assert added["account"]["username"] == "bob"
        assert added["account"]["disabled"] is False
        with pytest.raises(AdminError) as taken:
            await admin.call("accounts.add", username="BOB", password=first)
        assert taken.value.code is AdminErrorCode.CONFLICT
        async with connect(relay.port, relay.fingerprint) as client:
            await client.login("bob", first)
        await admin.call("accounts.passwd", username="bob", password=second)
        async with connect(relay.port, relay.fingerprint) as client:
            with pytest.raises(RequestRefused):
                await client.login("bob", first)
            await client.login("bob", second)
        disabled = await admin.call("accounts.disable", username="bob")
        assert disabled["account"]["disabled"] is True
        async with connect(relay.port, relay.fingerprint) as client:
            with pytest.raises(RequestRefused) as refused:
                await client.login("bob", second)
            assert refused.value.code is ErrorCode.ACCOUNT_DISABLED
        await admin.call("accounts.enable", username="bob")
        async with connect(relay.port, relay.fingerprint) as client:
            await client.login("bob", second)
        names = [a["username"] for a in (await admin.call("accounts.list"))["accounts"]]
        assert names == ["bob", ORGANIZER]
        with pytest.raises(AdminError) as missing:
            await admin.call("accounts.passwd", username="nobody-here", password=second)
        assert missing.value.code is AdminErrorCode.NOT_FOUND
        await relay.info.relay.recorder.wait_idle()
        said = json.dumps(await admin.call("events.list"))
    stored = _stored_events(data_dir)
    details = [detail for kind, _, _, user, detail in stored if user == "bob"]
    assert any(d.startswith("created the account") for d in details)
    assert any(d.startswith("set a new password") for d in details)
    raw = (data_dir / "relay.db").read_bytes()
    for password in (first, second):
        assert password not in said
        assert password.encode() not in raw


async def test_records_and_events_with_filters(strict_relay: RunningRelay) -> None:
    relay = strict_relay
    add_account(relay.config.data_dir, "carol", "violet-ocean-compass-71")
    for _ in range(2):
        live = await open_live_session(relay.nursery, relay.info, ["Ana"])
        async with Admin(relay.config.data_dir) as admin:
            await admin.call("sessions.end", session_id=live.session_id)
    async with connect(relay.port, relay.fingerprint, local_address="127.0.0.8") as client:
        with pytest.raises(RequestRefused):
            await client.login("carol", "not her password at all")
    await relay.info.relay.recorder.wait_idle()
    async with Admin(relay.config.data_dir) as admin:
        records = (await admin.call("records.list"))["records"]
        assert len(records) == 2
        assert all(r["organizer"] == ORGANIZER for r in records)
        assert (await admin.call("records.list", organizer="carol")) == {"records": []}
        assert len((await admin.call("records.list", limit=1))["records"]) == 1
        future = records[0]["started_at"] + 3600
        assert (await admin.call("records.list", since=future)) == {"records": []}
        failed = (await admin.call("events.list", kind="login_failed"))["events"]
        assert [(e["address"], e["username"]) for e in failed] == [("127.0.0.8", "carol")]
        everything = (await admin.call("events.list", limit=2))["events"]
        assert len(everything) == 2


async def test_the_event_stream_follows_sessions_and_security(relay: RunningRelay) -> None:
    raw = await RawAdmin.open(relay.config.data_dir)
    reply = await raw.request({"v": 1, "id": 1, "op": "events.subscribe"})
    assert reply == {"v": 1, "id": 1, "ok": True, "result": {"subscribed": True}}
    live = await open_live_session(relay.nursery, relay.info, ["Ana"])
    ana = live.members[0]
    assert ana.session is not None
    await ana.session.leave()
    async with connect(relay.port, relay.fingerprint) as client:
        with pytest.raises(RequestRefused):
            await client.login(NOT_AN_ACCOUNT, "guess")
    # A request on the subscribed connection is still answered, between events.
    await raw.send(frame({"v": 1, "id": 2, "op": "sessions.list"}))
    async with Admin(relay.config.data_dir) as admin:
        await admin.call("sessions.end", session_id=live.session_id)
    seen: list[dict[str, object]] = []
    answered = False
    while not seen or seen[-1]["kind"] != "security.admin_action":
        message = await raw.receive()
        if "event" in message:
            seen.append(message["event"])
        else:
            assert message["id"] == 2
            answered = True
    assert answered
    kinds = [e["kind"] for e in seen]
    assert kinds[:2] == ["session.started", "member.joined"]
    assert "member.left" in kinds
    assert "security.login_failed" in kinds
    assert "security.admin_action" in kinds
    joined = seen[1]
    assert joined["name"] == "Ana"
    assert joined["session"]["member_count"] == 2  # type: ignore[index]
    left = next(e for e in seen if e["kind"] == "member.left")
    assert (left["peer_id"], left["reason"]) == (ana.peer_id, "left")
    ended = next(e for e in seen if e["kind"] == "session.ended")
    assert ended["reason"] == "session_ended"
    assert NOT_AN_ACCOUNT not in json.dumps(seen)
    await raw.aclose()


# --- bad requests -------------------------------------------------------------------------------


async def test_bad_requests_get_error_codes_and_the_relay_keeps_serving(
    relay: RunningRelay,
) -> None:
    data_dir = relay.config.data_dir
    raw = await RawAdmin.open(data_dir)
    cases: list[tuple[bytes, str]] = [
        (b"\xff\xfe not utf-8", "bad_json"),
        (b"{not json", "bad_json"),
        (b'{"v": 1, "id": 1, "op": "relay.status", "args": NaN}', "bad_json"),
        (b"[" * 5000 + b"]" * 5000, "bad_json"),
        (b"[1, 2]", "bad_request"),
        (b'{"id": 3, "op": "relay.status"}', "bad_request"),
        (b'{"v": 1, "id": "three", "op": "relay.status"}', "bad_request"),
        (b'{"v": 1, "id": 3, "op": "relay.status", "sudo": true}', "bad_request"),
        (b'{"v": 1, "id": 3, "op": 7}', "bad_request"),
        (b'{"v": 1, "id": 3, "op": "relay.status", "args": []}', "bad_request"),
        (b'{"v": 2, "id": 3, "op": "relay.status"}', "unsupported_version"),
        (b'{"v": 1, "id": 3, "op": "relay.reboot"}', "unknown_op"),
        (b'{"v": 1, "id": 3, "op": "sessions.get"}', "bad_args"),
        (b'{"v": 1, "id": 3, "op": "sessions.get", "args": {"session_id": 5}}', "bad_args"),
        (b'{"v": 1, "id": 3, "op": "sessions.get", "args": {"session_id": "12"}}', "bad_args"),
        (
            b'{"v": 1, "id": 3, "op": "sessions.get", "args": {"session_id": "123456789"}}',
            "not_found",
        ),
        (b'{"v": 1, "id": 3, "op": "sessions.list", "args": {"all": true}}', "bad_args"),
        (
            b'{"v": 1, "id": 3, "op": "sessions.kick", "args": '
            b'{"session_id": "123456789", "peer_id": true}}',
            "bad_args",
        ),
        (b'{"v": 1, "id": 3, "op": "records.list", "args": {"limit": 0}}', "bad_args"),
        (b'{"v": 1, "id": 3, "op": "records.list", "args": {"since": -1}}', "bad_args"),
        (b'{"v": 1, "id": 3, "op": "events.list", "args": {"kind": "everything"}}', "bad_args"),
        (
            b'{"v": 1, "id": 3, "op": "bans.add", "args": {"address": "1.2.3.4\\u001b[2J"}}',
            "bad_args",
        ),
        (
            b'{"v": 1, "id": 3, "op": "lockouts.lift", "args": {"key": "x", "scope": "all"}}',
            "bad_args",
        ),
    ]
    for payload, code in cases:
        reply = await raw.request(payload)
        assert reply["ok"] is False, payload
        assert reply["error"]["code"] == code, (payload, reply)
        assert reply["error"]["message"]
        if code not in ("bad_json",) and b'"id": 3' in payload:
            assert reply["id"] == 3, payload
    # The same connection still works after all of that.
    assert (await raw.request({"v": 1, "id": 9, "op": "sessions.list"}))["result"] == {
        "sessions": []
    }

    # Framing errors end the connection (after saying why).
    for garbage in (
        struct.pack(">I", MAX_REQUEST + 1) + b"{}",
        struct.pack(">I", 0),
        b"GET / HTTP/1.1\r\nHost: relay\r\n\r\n",
    ):
        conn = await RawAdmin.open(data_dir)
        await conn.send(garbage)
        reply = await conn.receive()
        assert reply["error"]["code"] == "bad_frame"
        assert reply["id"] is None
        assert await conn.closed()
        await conn.aclose()
    # A client that goes away mid-frame costs nothing.
    conn = await RawAdmin.open(data_dir)
    await conn.send(struct.pack(">I", 100) + b'{"v": 1')
    await conn.aclose()

    # The relay serves admins and sessions as before.
    live = await open_live_session(relay.nursery, relay.info, ["Ana"])
    async with Admin(data_dir) as admin:
        (summary,) = (await admin.call("sessions.list"))["sessions"]
        assert summary["session_id"] == live.session_id
    await raw.aclose()


# --- the protocol module -----------------------------------------------------------------------


def test_the_protocol_knows_every_security_event_kind() -> None:
    assert set(SECURITY_KINDS) == {kind.value for kind in SecurityEventKind}


def test_frames_and_requests_are_validated_without_io() -> None:
    decoder = FrameDecoder(limit=16)
    decoder.feed(frame(b'{"a":1}')[:5])
    assert decoder.next_payload() is None
    assert decoder.buffered == 5
    decoder.feed(frame(b'{"a":1}')[5:] + frame(b"x" * 17))
    assert decoder.next_payload() == b'{"a":1}'
    with pytest.raises(AdminError) as oversized:
        decoder.next_payload()
    assert oversized.value.code is AdminErrorCode.BAD_FRAME
    with pytest.raises(AdminError):
        decoder.next_payload()  # broken for good: the stream has lost its framing

    request = parse_request(
        b'{"v":1,"id":4,"op":"sessions.kick","args":{"session_id":"482913570","peer_id":3}}'
    )
    assert (request.id, request.op.name, request.args) == (
        4,
        "sessions.kick",
        {"session_id": "482913570", "peer_id": 3},
    )
    assert parse_request(b'{"v":1,"op":"relay.status"}').id is None


def test_command_line_arguments_are_typed_by_the_table_and_never_carry_a_password() -> None:
    kick = OPS["sessions.kick"]
    assert parse_cli_args(kick, ["session_id=482913570", "peer_id=3"]) == {
        "session_id": "482913570",
        "peer_id": 3,
    }
    for words in (["peer_id=three"], ["colour=red"], ["session_id"], ["peer_id=1", "peer_id=2"]):
        with pytest.raises(AdminError):
            parse_cli_args(kick, ["session_id=482913570", *words])
    with pytest.raises(AdminError, match="Never put a password on the command line"):
        parse_cli_args(OPS["accounts.add"], ["username=bob", "password=hunter2hunter2"])
    assert parse_cli_args(OPS["accounts.add"], ["username=bob"]) == {"username": "bob"}
    records = parse_cli_args(OPS["records.list"], ["since=1700000000", "limit=5"])
    assert records == {"since": 1700000000.0, "limit": 5}


def test_since_accepts_what_people_type() -> None:
    now = 1_800_000_000.0
    assert parse_since("90m", now) == now - 5400
    assert parse_since("24h", now) == now - 86400
    assert parse_since("2w", now) == now - 14 * 86400
    assert parse_since("1700000000", now) == 1_700_000_000
    assert parse_since("2026-11-27 14:30", now) == parse_since("2026-11-27T14:30:00", now)
    for bad in ("yesterday", "-5", "12x"):
        with pytest.raises(ValueError, match="not"):
            parse_since(bad, now)


async def test_a_config_with_defaults_runs_the_admin_socket_too(relay_config: RelayConfig) -> None:
    config = replace(relay_config, relay_name="north relay")
    async with trio.open_nursery() as nursery:
        relay = await _start(config, nursery)
        async with Admin(config.data_dir) as admin:
            assert (await admin.call("relay.status"))["relay_name"] == "north relay"
        relay.stop.set()


def test_bans_are_stored_and_an_older_database_gains_the_table(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with RelayStore.open(data_dir, time_cost=1, memory_cost=8 * 1024) as store:
        store.add_account(ORGANIZER, ORGANIZER_PASSWORD, 1_700_000_000.0)
    # Make it a schema-1 database, as the relay before bans (and limiter memory) wrote it.
    with sqlite3.connect(data_dir / "relay.db") as conn:
        conn.execute("DROP TABLE bans")
        conn.execute("DROP TABLE limiter_failures")
        conn.execute("DROP TABLE limiter_trust")
        conn.execute("PRAGMA user_version = 1")
    with RelayStore.open(data_dir, time_cost=1, memory_cost=8 * 1024) as store:
        assert store.get_account(ORGANIZER) is not None  # kept
        assert store.list_bans() == []
        store.add_ban("192.0.2.7", 1_700_000_100.0, "spraying")
        with pytest.raises(StoreError) as twice:
            store.add_ban("192.0.2.7", 1_700_000_200.0)
        assert twice.value.code is ErrorCode.ALREADY_DONE
        with pytest.raises(StoreError):
            store.add_ban("192.0.2.8", 1_700_000_200.0, "bell\x07")
        assert [(b.address, b.reason) for b in store.list_bans()] == [("192.0.2.7", "spraying")]
        assert store.remove_ban("192.0.2.7") is True
        assert store.remove_ban("192.0.2.7") is False
        assert store.list_bans() == []
