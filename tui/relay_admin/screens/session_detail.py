"""One live session: members with roles and addresses, knocks; remove, ban, lock, end."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from relay.admin_client import AdminUnavailable
from relay.admin_protocol import AdminError, AdminErrorCode
from tui.relay_admin import format as fmt
from tui.relay_admin.dialogs import ConfirmDialog
from tui.relay_admin.screens.base import AdminScreen, keep_cursor, selected_key

COLUMNS = ("Peer", "Name", "Roles", "Address", "Queued", "Dropped")


class SessionDetailScreen(AdminScreen):
    AREA = "sessions"
    POLL = 1.0
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("k", "remove", "Remove"),
        Binding("b", "ban", "Ban"),
        Binding("l", "lock", "Lock"),
        Binding("e", "end", "End session"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.session: dict[str, Any] | None = None
        self._finished = False

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="detail", classes="detail")
        yield DataTable(id="members", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.members_table.add_columns(*COLUMNS)

    @property
    def members_table(self) -> DataTable[Any]:
        return self.query_one("#members", DataTable)

    async def reload(self) -> None:
        try:
            result = await self.admin.call("sessions.get", session_id=self.session_id)
        except AdminError as exc:
            if exc.code is AdminErrorCode.NOT_FOUND:
                self._gone("has ended")
            else:
                self.notify(exc.message, title="The relay refused", severity="error")
            return
        except AdminUnavailable as exc:
            self.notify(str(exc), title="No connection to the relay", severity="error")
            return
        self.session = result["session"]
        self._show(self.session)

    def _show(self, s: dict[str, Any]) -> None:
        info = Text(no_wrap=True, overflow="ellipsis")
        info.append(f"Session {fmt.session_id(s['session_id'])}", style="bold")
        info.append(f"  organizer {s['organizer']} ({s['organizer_name']})\n")
        info.append(f"Started {fmt.when(s['started_at'])}, running {fmt.duration(s['duration_s'])}")
        info.append("  LOCKED" if s["locked"] else "", style="bold yellow")
        info.append("  paused" if s["paused"] else "")
        info.append("\n")
        info.append(
            f"Relayed {fmt.size(s['bytes_relayed'])} in {s['messages_relayed']} messages; "
            f"{s['member_count']} members now, {s['peak_members']} at most, "
            f"{s['total_members']} in all"
        )
        for knock in s["knocks"]:
            info.append(
                f"\nKnocking: {knock['name']} from {knock['address']} "
                f"({knock['stage']}, {fmt.duration(knock['waiting_s'])})",
                style="italic",
            )
        self.query_one("#detail", Static).update(info)
        table = self.members_table
        current = selected_key(table)
        table.clear()
        for member in s["members"]:
            table.add_row(
                fmt.text(member["peer_id"]),
                fmt.text(member["name"]),
                fmt.text(", ".join(member["roles"])),
                fmt.text(member["address"]),
                fmt.text(fmt.size(member["queued_bytes"])),
                fmt.text(member["dropped"]),
                key=str(member["peer_id"]),
            )
        keep_cursor(table, current)

    def _gone(self, why: str) -> None:
        if self._finished:
            return
        self._finished = True
        self.notify(f"Session {fmt.session_id(self.session_id)} {why}.")
        if self.is_current:
            self.dismiss()

    def relay_event(self, event: dict[str, Any]) -> None:
        if event.get("session_id") != self.session_id:
            return
        if event["kind"] == "session.ended":
            self._gone(f"has ended ({event.get('reason', 'ended')})")
        else:
            self.schedule_reload()

    # -- actions ---------------------------------------------------------------------------------

    def _selected_member(self) -> dict[str, Any] | None:
        key = selected_key(self.members_table)
        members = [] if self.session is None else self.session["members"]
        member = next((m for m in members if str(m["peer_id"]) == key), None)
        if member is None:
            self.notify("No member is selected.", severity="warning")
        return member

    def action_back(self) -> None:
        self.dismiss()

    @work(group="action", exclusive=True)
    async def action_remove(self) -> None:
        member = self._selected_member()
        if member is None:
            return
        if "organizer" in member["roles"]:
            self.notify(
                "The organizer cannot be removed; end the session instead (e).",
                severity="warning",
            )
            return
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"Remove {member['name']} (peer {member['peer_id']})?",
                "They are disconnected from the session, and the organizer's client re-keys it, "
                "so they cannot read anything sent afterwards.",
                "Remove",
            )
        )
        if confirmed and await self.call(
            "sessions.kick", session_id=self.session_id, peer_id=member["peer_id"]
        ):
            self.notify(f"Removed {member['name']} from the session.")
            self.refresh_data()

    @work(group="action", exclusive=True)
    async def action_ban(self) -> None:
        member = self._selected_member()
        if member is None:
            return
        address = member["address"]
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"Ban {address}?",
                f"Every connection from {member['address_key']} is refused from now on, and its "
                f"open ones are closed ({member['name']} among them). Lift the ban under "
                "Lockouts & bans (2).",
                "Ban",
            )
        )
        if not confirmed:
            return
        reason = f"from session {fmt.session_id(self.session_id)}"
        await self.ban(address, reason)

    @work(group="action", exclusive=True)
    async def action_lock(self) -> None:
        if self.session is None:
            return
        op = "sessions.unlock" if self.session["locked"] else "sessions.lock"
        result = await self.call(op, session_id=self.session_id)
        if result is not None:
            self.notify("Locked: nobody new may join." if result["locked"] else "Unlocked.")
            self.refresh_data()

    @work(group="action", exclusive=True)
    async def action_end(self) -> None:
        if self.session is None:
            return
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"End session {fmt.session_id(self.session_id)}?",
                f"All {self.session['member_count']} members are told the session ended and are "
                "disconnected from it. This cannot be undone.",
                "End session",
            )
        )
        if confirmed and await self.call("sessions.end", session_id=self.session_id):
            self._gone("was ended")
