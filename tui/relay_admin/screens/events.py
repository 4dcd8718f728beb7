"""Security events: failed logins and joins, lockouts, bans, operator actions; live, filtered."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Label, Select

from relay.admin_protocol import SECURITY_KINDS
from tui.relay_admin import format as fmt
from tui.relay_admin.export import iso
from tui.relay_admin.screens.base import keep_cursor, selected_key
from tui.relay_admin.screens.listing import ListingScreen

CSV_HEADER = ("id", "at", "kind", "address", "session_id", "username", "detail")
ALERTS = frozenset({"lockout", "ban", "login_failed", "join_failed", "guessing"})


class EventsScreen(ListingScreen):
    AREA = "events"
    EXPORT_NAME = "security-events"
    CSV_HEADER = CSV_HEADER

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Horizontal(classes="filters"):
            yield Label("Kind")
            yield Select(
                [(kind, kind) for kind in SECURITY_KINDS],
                prompt="any",
                id="kind",
                compact=True,
            )
            yield Label("Since")
            yield Input(placeholder="24h, 7d, 2026-11-27", id="since", compact=True)
            yield Label("Limit")
            yield Input(value="100", id="limit", compact=True, type="integer")
        yield DataTable(id="events", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.table.add_columns("At", "Kind", "Address", "Session", "User", "Detail")

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.refresh_data()

    def action_filter(self) -> None:
        self.query_one("#kind", Select).focus()

    async def reload(self) -> None:
        args = self.filter_args()
        if args is None:
            return
        kind = self.query_one("#kind", Select).value
        if isinstance(kind, str):
            args["kind"] = kind
        result = await self.call("events.list", **args)
        if result is None:
            return
        self.rows = result["events"]
        table = self.table
        current = selected_key(table)
        table.clear()
        for e in self.rows:
            style = "bold red" if e["kind"] in ALERTS else ""
            table.add_row(
                fmt.text(fmt.when_short(e["at"])),
                fmt.text(e["kind"], style),
                fmt.text(e["address"]),
                fmt.text(fmt.session_id(e["session_id"] or "")),
                fmt.text(e["username"] or ""),
                fmt.text(e["detail"]),
                key=str(e["id"]),
            )
        keep_cursor(table, current)

    def csv_rows(self) -> list[list[object]]:
        return [
            [
                e["id"],
                iso(e["at"]),
                e["kind"],
                e["address"],
                e["session_id"] or "",
                e["username"] or "",
                e["detail"],
            ]
            for e in self.rows
        ]

    def relay_event(self, event: dict[str, Any]) -> None:
        if event["kind"].startswith("security."):
            self.schedule_reload(0.3)  # after the recorder wrote it
