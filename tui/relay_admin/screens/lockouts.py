"""Lockouts (after failed logins and joins) and bans: view, lift, ban an address, unban."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Label

from relay.admin_protocol import AdminError, ban_key
from tui.relay_admin import format as fmt
from tui.relay_admin.dialogs import ConfirmDialog, TextInputDialog
from tui.relay_admin.screens.base import AdminScreen, keep_cursor, selected_key

SCOPES = {
    "login_address": "logins, address",
    "login_network": "logins, network",
    "login_user": "logins, user",
    "join_address": "joins, address",
    "join_network": "joins, network",
    "join_session": "joins, session",
}


def address_problem(value: str) -> str | None:
    """What the relay would say about banning ``value`` (the same rule, checked here first)."""
    try:
        ban_key(value)
    except AdminError as exc:
        return exc.message
    return None


class LockoutsScreen(AdminScreen):
    AREA = "lockouts"
    POLL = 2.0
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "lift", "Lift lockout"),
        Binding("a", "ban", "Ban address"),
        Binding("d", "unban", "Unban"),
        Binding("tab", "app.focus_next", "Next table", show=False),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.lockouts: list[dict[str, Any]] = []
        self.bans: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Label("Lockouts (x lifts the selected one)", classes="section", id="lockouts-title")
        yield DataTable(id="lockouts", cursor_type="row", zebra_stripes=True)
        yield Label(
            "Bans (a bans an address, d lifts the selected ban; tab switches tables)",
            classes="section",
            id="bans-title",
        )
        yield DataTable(id="bans", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.lockouts_table.add_columns("Scope", "Key", "Remaining", "Failures")
        self.bans_table.add_columns("Address", "Since", "Reason")

    @property
    def lockouts_table(self) -> DataTable[Any]:
        return self.query_one("#lockouts", DataTable)

    @property
    def bans_table(self) -> DataTable[Any]:
        return self.query_one("#bans", DataTable)

    async def reload(self) -> None:
        lockouts = await self.call("lockouts.list")
        bans = await self.call("bans.list")
        if lockouts is None or bans is None:
            return
        self.lockouts, self.bans = lockouts["lockouts"], bans["bans"]
        table = self.lockouts_table
        current = selected_key(table)
        table.clear()
        for entry in self.lockouts:
            table.add_row(
                fmt.text(SCOPES.get(entry["scope"], entry["scope"])),
                fmt.text(entry["key"]),
                fmt.text(fmt.duration(entry["remaining_s"])),
                fmt.text(entry["failures"]),
                key=f"{entry['scope']} {entry['key']}",
            )
        keep_cursor(table, current)
        table = self.bans_table
        current = selected_key(table)
        table.clear()
        for ban in self.bans:
            table.add_row(
                fmt.text(ban["address"]),
                fmt.text(fmt.when_short(ban["created_at"])),
                fmt.text(ban["reason"]),
                key=ban["address"],
            )
        keep_cursor(table, current)
        self.query_one("#lockouts-title", Label).update(
            fmt.text(f"Lockouts: {len(self.lockouts)} (x lifts the selected one)")
        )

    def relay_event(self, event: dict[str, Any]) -> None:
        if event["kind"].startswith("security."):
            self.schedule_reload()

    # -- actions ---------------------------------------------------------------------------------

    @work(group="action", exclusive=True)
    async def action_lift(self) -> None:
        key = selected_key(self.lockouts_table)
        entry = next((e for e in self.lockouts if f"{e['scope']} {e['key']}" == key), None)
        if entry is None:
            self.notify("No lockout is selected.", severity="warning")
            return
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"Lift the lockout of {entry['key']}?",
                f"Its {entry['failures']} failed attempts ({SCOPES.get(entry['scope'])}) are "
                "forgotten and it may try again at once.",
                "Lift",
            )
        )
        if confirmed and await self.call("lockouts.lift", key=entry["key"], scope=entry["scope"]):
            self.notify(f"Lifted the lockout of {entry['key']}.")
            self.refresh_data()

    @work(group="action", exclusive=True)
    async def action_ban(self) -> None:
        address = await self.app.push_screen_wait(
            TextInputDialog(
                "Ban an address",
                "IP address to refuse (an IPv6 address bans its whole /64):",
                placeholder="192.0.2.7",
                check=address_problem,
            )
        )
        if address is None:
            return
        reason = await self.app.push_screen_wait(
            TextInputDialog(
                f"Ban {address}",
                "A note for other operators (why):",
                value="banned by the operator",
            )
        )
        if reason is None:
            return
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"Ban {address}?",
                "It is refused from now on, and its open connections are closed now.",
                "Ban",
            )
        )
        if not confirmed:
            return
        await self.ban(address, reason)

    @work(group="action", exclusive=True)
    async def action_unban(self) -> None:
        address = selected_key(self.bans_table)
        if address is None:
            self.notify("No ban is selected.", severity="warning")
            return
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"Lift the ban on {address}?",
                "Connections from it are accepted again.",
                "Unban",
            )
        )
        if confirmed and await self.call("bans.remove", address=address):
            self.notify(f"Lifted the ban on {address}.")
            self.refresh_data()
