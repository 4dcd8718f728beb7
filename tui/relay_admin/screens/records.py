"""Session records (ancillary, billing-like metadata), filtered, exportable as CSV."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Label

from tui.relay_admin import format as fmt
from tui.relay_admin.export import iso
from tui.relay_admin.screens.base import keep_cursor, selected_key
from tui.relay_admin.screens.listing import ListingScreen

CSV_HEADER = (
    "id",
    "session_id",
    "organizer",
    "started_at",
    "ended_at",
    "duration_s",
    "end_reason",
    "peak_members",
    "total_members",
    "bytes_relayed",
    "messages_relayed",
)


class RecordsScreen(ListingScreen):
    AREA = "records"
    EXPORT_NAME = "records"
    CSV_HEADER = CSV_HEADER

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Horizontal(classes="filters"):
            yield Label("Organizer")
            yield Input(placeholder="anyone", id="organizer", compact=True)
            yield Label("Since")
            yield Input(placeholder="24h, 7d, 2026-11-27", id="since", compact=True)
            yield Label("Limit")
            yield Input(value="100", id="limit", compact=True, type="integer")
        yield DataTable(id="records", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.table.add_columns("Session", "Organizer", "Started", "Duration", "Ended", "Relayed")

    async def reload(self) -> None:
        args = self.filter_args()
        if args is None:
            return
        organizer = self.query_one("#organizer", Input).value.strip()
        if organizer:
            args["organizer"] = organizer
        result = await self.call("records.list", **args)
        if result is None:
            return
        self.rows = result["records"]
        table = self.table
        current = selected_key(table)
        table.clear()
        for r in self.rows:
            ended = r["ended_at"]
            took = None if ended is None else ended - r["started_at"]
            reason = fmt.text("running", "green") if ended is None else fmt.text(r["end_reason"])
            table.add_row(
                fmt.text(fmt.session_id(r["session_id"])),
                fmt.text(r["organizer"]),
                fmt.text(fmt.when_short(r["started_at"])),
                fmt.text(fmt.duration(took)),
                reason,
                fmt.text(fmt.size(r["bytes_relayed"])),
                key=str(r["id"]),
            )
        keep_cursor(table, current)

    def csv_rows(self) -> list[list[object]]:
        out: list[list[object]] = []
        for r in self.rows:
            ended = r["ended_at"]
            out.append(
                [
                    r["id"],
                    r["session_id"],
                    r["organizer"],
                    iso(r["started_at"]),
                    iso(ended),
                    "" if ended is None else round(ended - r["started_at"], 3),
                    r["end_reason"] or "",
                    r["peak_members"],
                    r["total_members"],
                    r["bytes_relayed"],
                    r["messages_relayed"],
                ]
            )
        return out

    def relay_event(self, event: dict[str, Any]) -> None:
        if event["kind"] in ("session.started", "session.ended"):
            self.schedule_reload(0.5)  # after the recorder wrote it
