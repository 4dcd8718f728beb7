"""The relay admin TUI, driven by Pilot against a real relay with live sessions of real clients.

The relay (and the clients) run in a trio run on a background thread (``adminkit.RelayThread``);
the app runs on the test's asyncio loop, as Textual wants. Every screen and every action is
driven with keys, and each action's effect is checked where it lands: in the members' clients,
on new connections, in the store.
"""

from __future__ import annotations

import asyncio
import csv
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from adminkit import SESSION_PASSWORD, Admin, RelayThread, socket_path
from pilotkit import run, until
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, add_account, make_config
from sessionkit import connect
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select

from core.client import RequestRefused
from core.errors import ErrorCode
from relay.limits import BackoffPolicy
from relay.store import RelayStore, SecurityEventKind
from tui.relay_admin.app import RelayAdminApp
from tui.relay_admin.dialogs import ConfirmDialog, PasswordDialog, TextInputDialog
from tui.relay_admin.screens.accounts import AccountsScreen
from tui.relay_admin.screens.events import EventsScreen
from tui.relay_admin.screens.lockouts import LockoutsScreen
from tui.relay_admin.screens.records import RecordsScreen
from tui.relay_admin.screens.session_detail import SessionDetailScreen
from tui.relay_admin.screens.sessions import SessionsScreen

SIZE = (80, 24)
QUICK_LOCK = BackoffPolicy(free_failures=10, lockout_after=2)
CAROL = ("carol", "violet-ocean-compass-71")


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayThread]:
    data_dir = tmp_path / "data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    add_account(data_dir, *CAROL)
    config = make_config(data_dir, join_failures_per_address=QUICK_LOCK)
    with RelayThread(config) as running:
        yield running


class Notes:
    """Every notification the app raised (via run_test's message hook)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.seen.append((message.notification.severity, message.notification.message))

    def has(self, text: str, severity: str | None = None) -> bool:
        return any(text in m and severity in (None, s) for s, m in self.seen)


def of(pilot: Pilot[Any]) -> RelayAdminApp:
    app = pilot.app
    assert isinstance(app, RelayAdminApp)
    return app


def table(app: RelayAdminApp, selector: str) -> DataTable[Any]:
    return app.screen.query_one(selector, DataTable)


def row_keys(app: RelayAdminApp, selector: str) -> list[str]:
    return [str(row.key.value) for row in table(app, selector).ordered_rows]


def cell_texts(app: RelayAdminApp, selector: str) -> list[list[str]]:
    found = table(app, selector)
    return [[str(cell) for cell in found.get_row(row.key)] for row in found.ordered_rows]


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*text)


async def confirm(pilot: Pilot[Any], app: RelayAdminApp, answer: str = "y") -> None:
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "a confirmation dialog")
    await pilot.press(answer)
    await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), "the dialog closed")


async def select_row(pilot: Pilot[Any], app: RelayAdminApp, selector: str, key: str) -> None:
    found = table(app, selector)
    found.focus()
    found.move_cursor(row=found.get_row_index(key))
    await pilot.pause()


# --- sessions -------------------------------------------------------------------------------


def test_sessions_screen_shows_live_sessions_and_ending_one_ends_it_for_its_members(
    relay: RelayThread,
) -> None:
    async def scenario() -> None:
        live = await relay.live_session(["Ana", "Ben"])
        app = RelayAdminApp(socket_path(relay.data_dir))
        async with app.run_test(size=SIZE) as pilot:
            assert isinstance(app.screen, SessionsScreen)
            await until(pilot, lambda: row_keys(app, "#sessions") == [live.session_id], "listed")
            (cells,) = cell_texts(app, "#sessions")
            sid = live.session_id
            assert cells[:3] == [f"{sid[:3]} {sid[3:6]} {sid[6:]}", ORGANIZER, "3"]
            await until(pilot, lambda: "1 session · 3 members" in app.sub_title, "the header")

            # Lock and unlock from the list.
            await pilot.press("l")
            await until(pilot, lambda: cell_texts(app, "#sessions")[0][3] == "locked", "locked")
            assert await relay.call(_locked, relay, live.session_id)
            await pilot.press("l")
            await until(pilot, lambda: cell_texts(app, "#sessions")[0][3] == "", "unlocked")
            assert not await relay.call(_locked, relay, live.session_id)

            # Asked, then cancelled: nothing happens.
            await pilot.press("e")
            await confirm(pilot, app, "n")
            await pilot.pause(0.3)
            assert not any(m.closed.is_set() for m in live.everyone)

            await pilot.press("e")
            await confirm(pilot, app, "y")
            for member in live.everyone:
                closed = await relay.wait_closed(member)
                assert closed.code is ErrorCode.SESSION_ENDED
                assert "relay operator ended the session" in closed.message
            await until(pilot, lambda: row_keys(app, "#sessions") == [], "the list is empty")

    run(scenario)


def test_drill_down_removes_a_member_locks_bans_and_ends(relay: RelayThread) -> None:
    async def scenario() -> None:
        live = await relay.live_session(["Ana", "Ben"], local_addresses={"Ben": "127.0.0.7"})
        ana, ben = live.members
        notes = Notes()
        app = RelayAdminApp(socket_path(relay.data_dir))
        async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
            await until(pilot, lambda: row_keys(app, "#sessions") == [live.session_id], "listed")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, SessionDetailScreen), "drill-down")
            await until(pilot, lambda: len(row_keys(app, "#members")) == 3, "three members")
            names = [row[1] for row in cell_texts(app, "#members")]
            assert names == ["Olga", "Ana", "Ben"]
            assert cell_texts(app, "#members")[0][2] == "organizer, presenter"

            # The organizer cannot be removed: said, and no dialog.
            await select_row(pilot, app, "#members", "1")
            await pilot.press("k")
            await until(pilot, lambda: notes.has("cannot be removed", "warning"), "a warning")
            assert isinstance(app.screen, SessionDetailScreen)

            # Lock and unlock.
            await pilot.press("l")
            await until(pilot, lambda: notes.has("Locked: nobody new may join."), "locked")
            assert await relay.call(_locked, relay, live.session_id)
            await pilot.press("l")
            await until(pilot, lambda: notes.has("Unlocked."), "unlocked")
            assert not await relay.call(_locked, relay, live.session_id)

            # Remove Ana: she is told; the others stay.
            await select_row(pilot, app, "#members", str(ana.peer_id))
            await pilot.press("k")
            await confirm(pilot, app)
            closed = await relay.wait_closed(ana)
            assert closed.code is ErrorCode.REMOVED
            await until(pilot, lambda: len(row_keys(app, "#members")) == 2, "Ana is gone")

            # Ban Ben's address: his connection is closed, the ban is listed.
            await select_row(pilot, app, "#members", str(ben.peer_id))
            await pilot.press("b")
            await confirm(pilot, app)
            await relay.wait_closed(ben)
            await until(pilot, lambda: notes.has("Banned 127.0.0.7"), "banned")

            # End the session from here: back on the list, which is empty.
            await until(pilot, lambda: len(row_keys(app, "#members")) == 1, "only Olga left")
            await pilot.press("e")
            await confirm(pilot, app)
            await relay.wait_closed(live.organizer)
            await until(pilot, lambda: isinstance(app.screen, SessionsScreen), "back to the list")
            await until(pilot, lambda: row_keys(app, "#sessions") == [], "the list is empty")

            await pilot.press("2")
            await until(pilot, lambda: isinstance(app.screen, LockoutsScreen), "lockouts")
            await until(pilot, lambda: row_keys(app, "#bans") == ["127.0.0.7"], "the ban listed")

    run(scenario)


async def _locked(relay: RelayThread, session_id: str) -> bool:
    assert relay.info is not None
    return relay.info.relay.switchboard.sessions[session_id].state.locked


# --- lockouts and bans --------------------------------------------------------------------------


def test_a_lockout_lifted_on_screen_lets_the_address_join_again(relay: RelayThread) -> None:
    guesser = "127.0.0.5"

    async def scenario() -> None:
        live = await relay.live_session([])
        await relay.call(_fail_joins, relay, live.session_id, guesser, 2)
        assert await relay.call(_join, relay, live.session_id, guesser) is ErrorCode.LOCKED_OUT
        notes = Notes()
        app = RelayAdminApp(socket_path(relay.data_dir))
        async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
            await pilot.press("2")
            await until(pilot, lambda: isinstance(app.screen, LockoutsScreen), "lockouts")
            await until(pilot, lambda: len(row_keys(app, "#lockouts")) == 1, "one lockout")
            scope, key, _remaining, failures = cell_texts(app, "#lockouts")[0]
            assert (scope, key, failures) == ("joins, address", guesser, "2")
            await pilot.press("x")
            await confirm(pilot, app)
            await until(pilot, lambda: row_keys(app, "#lockouts") == [], "lifted")
            assert await relay.call(_join, relay, live.session_id, guesser) is None

            # Ban by hand: a bad address is refused in the dialog, a good one is banned.
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, TextInputDialog), "the dialog")
            await type_text(pilot, "not-an-ip")
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, TextInputDialog), "a bad address closed the dialog"
            app.screen.query_one("#value", Input).value = ""
            await type_text(pilot, "192.0.2.7")
            await pilot.press("enter")
            await until(pilot, lambda: app.screen.query_one(Input).value != "192.0.2.7", "reason")
            await pilot.press("enter")  # the suggested reason
            await confirm(pilot, app)
            await until(pilot, lambda: row_keys(app, "#bans") == ["192.0.2.7"], "banned")

            # Unban it again.
            await select_row(pilot, app, "#bans", "192.0.2.7")
            await pilot.press("d")
            await confirm(pilot, app)
            await until(pilot, lambda: row_keys(app, "#bans") == [], "unbanned")
            assert notes.has("Lifted the ban on 192.0.2.7.")

    run(scenario)


async def _fail_joins(relay: RelayThread, session_id: str, address: str, times: int) -> None:
    assert relay.info is not None
    for _ in range(times):
        async with connect(relay.info.port, relay.info.fingerprint, local_address=address) as c:
            with pytest.raises(RequestRefused):
                await c.join(session_id, name="Eve", password="wrong guess")


async def _join(relay: RelayThread, session_id: str, address: str) -> ErrorCode | None:
    """Join with the right password from ``address``: None if admitted, else the refusal."""
    assert relay.info is not None
    async with connect(relay.info.port, relay.info.fingerprint, local_address=address) as c:
        try:
            session = await c.join(session_id, name="Eve", password=SESSION_PASSWORD)
        except RequestRefused as exc:
            return exc.code
        await session.leave()
    return None


# --- accounts -----------------------------------------------------------------------------------


def test_accounts_screen_adds_resets_disables_and_enables(relay: RelayThread) -> None:
    first, second = "amber-meadow-lantern-38", "quiet-harbor-willow-52"

    async def scenario() -> None:
        notes = Notes()
        app = RelayAdminApp(socket_path(relay.data_dir))
        async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
            await pilot.press("3")
            await until(pilot, lambda: isinstance(app.screen, AccountsScreen), "accounts")
            await until(pilot, lambda: row_keys(app, "#accounts") == ["carol", ORGANIZER], "list")

            # A weak password is refused by the relay, with its reason.
            await _add_account(pilot, app, "bob", "password1234")
            await until(pilot, lambda: notes.has("common", "error"), "the refusal")
            assert "bob" not in row_keys(app, "#accounts")

            # Two different entries are caught in the dialog.
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, TextInputDialog), "name dialog")
            await type_text(pilot, "bob")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, PasswordDialog), "password dialog")
            await type_text(pilot, first)
            await pilot.press("enter")
            await type_text(pilot, first + "x")
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, PasswordDialog)
            await type_text(pilot, first)
            await pilot.press("enter")
            await type_text(pilot, first)
            await pilot.press("enter")
            await until(pilot, lambda: "bob" in row_keys(app, "#accounts"), "bob is listed")
            assert await relay.call(_login, relay, "bob", first) is None

            # Reset the password.
            await select_row(pilot, app, "#accounts", "bob")
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, PasswordDialog), "password dialog")
            for _ in range(2):
                await type_text(pilot, second)
                await pilot.press("enter")
            await until(pilot, lambda: notes.has("Changed the password of bob."), "changed")
            assert await relay.call(_login, relay, "bob", first) is ErrorCode.LOGIN_FAILED
            assert await relay.call(_login, relay, "bob", second) is None

            # Disable (asked first), then enable.
            await pilot.press("d")
            await confirm(pilot, app)
            await until(pilot, lambda: _state(app, "bob") == "disabled", "disabled")
            assert await relay.call(_login, relay, "bob", second) is ErrorCode.ACCOUNT_DISABLED
            await pilot.press("e")
            await until(pilot, lambda: _state(app, "bob") == "enabled", "enabled")
            assert await relay.call(_login, relay, "bob", second) is None
        # No password was ever shown or said.
        said = " ".join(message for _, message in notes.seen)
        assert first not in said
        assert second not in said

    run(scenario)


async def _add_account(pilot: Pilot[Any], app: RelayAdminApp, name: str, password: str) -> None:
    await pilot.press("a")
    await until(pilot, lambda: isinstance(app.screen, TextInputDialog), "the name dialog")
    await type_text(pilot, name)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, PasswordDialog), "the password dialog")
    for _ in range(2):
        await type_text(pilot, password)
        await pilot.press("enter")


def _state(app: RelayAdminApp, name: str) -> str:
    rows = {row[0]: row[1] for row in cell_texts(app, "#accounts")}
    return rows.get(name, "")


async def _login(relay: RelayThread, username: str, password: str) -> ErrorCode | None:
    assert relay.info is not None
    async with connect(relay.info.port, relay.info.fingerprint) as client:
        try:
            await client.login(username, password)
        except RequestRefused as exc:
            return exc.code
    return None


# --- records and events ---------------------------------------------------------------------


def test_records_screen_filters_and_exports_csv(relay: RelayThread, tmp_path: Path) -> None:
    export = tmp_path / "records.csv"

    async def scenario() -> None:
        for account in ((ORGANIZER, ORGANIZER_PASSWORD), CAROL):
            live = await relay.live_session(["Ana"], account=account)
            await relay.call(_end_by_leaving, live.organizer)
        notes = Notes()
        app = RelayAdminApp(socket_path(relay.data_dir))
        async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
            await pilot.press("4")
            await until(pilot, lambda: isinstance(app.screen, RecordsScreen), "records")
            await until(pilot, lambda: len(row_keys(app, "#records")) == 2, "two records")
            assert {row[1] for row in cell_texts(app, "#records")} == {ORGANIZER, "carol"}
            assert {row[4] for row in cell_texts(app, "#records")} == {"organizer_left"}

            await pilot.press("f")
            await type_text(pilot, "carol")
            await pilot.press("enter")
            await until(pilot, lambda: len(row_keys(app, "#records")) == 1, "carol's only")
            assert cell_texts(app, "#records")[0][1] == "carol"

            app.screen.query_one("#since", Input).value = "2d"
            app.screen.query_one("#organizer", Input).value = ""
            app.screen.query_one("#since", Input).focus()
            await pilot.press("enter")
            await until(pilot, lambda: len(row_keys(app, "#records")) == 2, "both again")

            await pilot.press("x")
            await until(pilot, lambda: isinstance(app.screen, TextInputDialog), "export dialog")
            app.screen.query_one("#value", Input).value = str(export)
            await pilot.press("enter")
            await until(pilot, lambda: notes.has(f"Wrote 2 records to {export}."), "written")

            # Exporting again asks before replacing the file.
            await pilot.press("x")
            await until(pilot, lambda: isinstance(app.screen, TextInputDialog), "export dialog")
            app.screen.query_one("#value", Input).value = str(export)
            await pilot.press("enter")
            await confirm(pilot, app, "n")
        assert os.stat(export).st_mode & 0o777 == 0o600
        with export.open(newline="") as f:
            rows = list(csv.DictReader(f))
        assert {r["organizer"] for r in rows} == {ORGANIZER, "carol"}
        assert all(r["end_reason"] == "organizer_left" for r in rows)
        assert all(r["started_at"] and r["ended_at"] for r in rows)

    run(scenario)


async def _end_by_leaving(organizer: Any) -> None:
    await organizer.session.leave()
    with trio.fail_after(10):
        await organizer.closed.wait()


def test_events_screen_follows_security_events_live(relay: RelayThread, tmp_path: Path) -> None:
    async def scenario() -> None:
        notes = Notes()
        app = RelayAdminApp(socket_path(relay.data_dir))
        async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
            await pilot.press("5")
            await until(pilot, lambda: isinstance(app.screen, EventsScreen), "events")
            await pilot.pause(0.3)
            assert row_keys(app, "#events") == []
            # A failed login appears while we watch.
            assert await relay.call(_login, relay, "carol", "not her password") is not None
            await until(pilot, lambda: len(row_keys(app, "#events")) == 1, "the failed login")
            _at, kind, address, _session, user, _detail = cell_texts(app, "#events")[0]
            assert (kind, address, user) == ("login_failed", "127.0.0.1", "carol")
            # An operator action is a security event too.
            live = await relay.live_session([])
            await relay.call(_end_by_admin_call, app, live.session_id)
            await until(pilot, lambda: len(row_keys(app, "#events")) == 2, "the admin action")

            # Filter by kind.
            app.screen.query_one("#kind", Select).value = "admin_action"
            await until(pilot, lambda: len(row_keys(app, "#events")) == 1, "filtered")
            assert cell_texts(app, "#events")[0][1] == "admin_action"
            await pilot.press("x")
            await until(pilot, lambda: isinstance(app.screen, TextInputDialog), "export dialog")
            app.screen.query_one("#value", Input).value = str(tmp_path / "events.csv")
            await pilot.press("enter")
            await until(pilot, lambda: notes.has("Wrote 1 security-events"), "exported")
        with (tmp_path / "events.csv").open(newline="") as f:
            (row,) = list(csv.DictReader(f))
        assert row["kind"] == "admin_action"
        assert row["session_id"] == live.session_id

    run(scenario)


def test_a_guessing_alarm_is_raised_on_any_screen(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    add_account(data_dir, *CAROL)
    with RelayThread(make_config(data_dir, guessing_alarm_after=2)) as relay:

        async def scenario() -> None:
            notes = Notes()
            app = RelayAdminApp(socket_path(relay.data_dir))
            async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
                await until(pilot, lambda: app.connected, "connected")

                def alarmed() -> bool:
                    return notes.has("failed logins for the user name", "error")

                # The alarm rings at 2, 4, 8, 16 failures: one of them reaches the app, however
                # long its subscription took to start.
                for attempt in range(16):
                    assert await relay.call(_login, relay, "carol", f"guess {attempt}") is not None
                    await pilot.pause(0.05)
                    if alarmed():
                        break
                await until(pilot, alarmed, "the guessing alarm")

        run(scenario)


async def _end_by_admin_call(app: RelayAdminApp, session_id: str) -> None:
    # Through the same protocol the app speaks, from a second admin connection.
    async with Admin(Path(app.socket_path).parent) as admin:
        await admin.call("sessions.end", session_id=session_id)


# --- no relay -----------------------------------------------------------------------------------


def test_without_a_relay_the_app_says_so_and_keeps_running(tmp_path: Path) -> None:
    async def scenario() -> None:
        notes = Notes()
        app = RelayAdminApp(tmp_path / "admin.sock", retry_interval=0.1)
        async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
            await until(pilot, lambda: "no connection" in app.sub_title, "the header says so")
            await pilot.press("r")
            await until(pilot, lambda: notes.has("no relay admin socket", "error"), "told")
            for key in "2345":
                await pilot.press(key)
            await pilot.press("q")
        assert app.return_code == 0

    run(scenario)


def test_the_app_reconnects_when_the_relay_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    config = make_config(data_dir)

    async def scenario() -> None:
        app = RelayAdminApp(socket_path(data_dir), retry_interval=0.1)
        first = RelayThread(config).__enter__()
        try:
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: "0 sessions" in app.sub_title, "connected")
                await asyncio.to_thread(first.__exit__, None, None, None)
                await until(pilot, lambda: "no connection" in app.sub_title, "the relay gone")
                with RelayThread(config) as second:
                    live = await second.live_session(["Ana"])
                    await until(
                        pilot, lambda: row_keys(app, "#sessions") == [live.session_id], "back"
                    )
                    await until(pilot, lambda: "1 session ·" in app.sub_title, "the header")
        finally:
            first.__exit__(None, None, None)

    run(scenario)


# --- snapshots at 80x24 -------------------------------------------------------------------------

T0 = 1_790_000_000.0  # fixed times, so the pictures do not change from run to run


@pytest.fixture
def quiet_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RelayThread]:
    """A relay with fixed accounts and events and no sessions, in UTC: deterministic pictures."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    data_dir = tmp_path / "data"
    with RelayStore.open(data_dir, time_cost=1, memory_cost=8 * 1024, now=T0) as store:
        store.add_account("alice", "violet-ocean-compass-71", T0)
        store.add_account("bob", "amber-meadow-lantern-38", T0 + 3600)
        store.set_disabled("bob", True)
        store.add_security_event(
            T0 + 60, SecurityEventKind.LOGIN_FAILED, "192.0.2.7", username="bob"
        )
        store.add_security_event(
            T0 + 120, SecurityEventKind.LOCKOUT, "192.0.2.7", detail="logins locked for 192.0.2.7"
        )
    try:
        with RelayThread(make_config(data_dir, relay_name="north relay")) as running:
            yield running
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def _snapshot(
    relay: RelayThread,
    snap_compare: Any,
    area: str,
    rows: tuple[str, int],
    dialog_key: str | None = None,
) -> bool:
    """Open ``area``, wait until table ``rows[0]`` shows ``rows[1]`` rows (and, with
    ``dialog_key``, until that key's confirmation is up), then take the picture."""
    selector, count = rows

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: "0 sessions" in pilot.app.sub_title, "the header")
        await pilot.press(area)
        await until(pilot, lambda: bool(pilot.app.screen.query(selector)), "the area")
        await until(pilot, lambda: len(row_keys(of(pilot), selector)) == count, "the rows")
        if dialog_key is not None:
            await pilot.press(dialog_key)
            await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the dialog")
        await pilot.pause(0.2)

    app = RelayAdminApp(socket_path(relay.data_dir))
    return bool(snap_compare(app, terminal_size=SIZE, run_before=ready))


def test_snapshot_accounts(quiet_relay: RelayThread, snap_compare: Any) -> None:
    assert _snapshot(quiet_relay, snap_compare, "3", ("#accounts", 2))


def test_snapshot_disable_confirmation(quiet_relay: RelayThread, snap_compare: Any) -> None:
    assert _snapshot(quiet_relay, snap_compare, "3", ("#accounts", 2), dialog_key="d")


def test_snapshot_security_events(quiet_relay: RelayThread, snap_compare: Any) -> None:
    assert _snapshot(quiet_relay, snap_compare, "5", ("#events", 2))


def test_snapshot_no_sessions(quiet_relay: RelayThread, snap_compare: Any) -> None:
    assert _snapshot(quiet_relay, snap_compare, "1", ("#sessions", 0))
