"""Live sessions: organizer, members, duration, throughput. Enter drills down."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from tui.relay_admin import format as fmt
from tui.relay_admin.dialogs import ConfirmDialog
from tui.relay_admin.screens.base import AdminScreen, keep_cursor, selected_key
from tui.relay_admin.screens.session_detail import SessionDetailScreen

COLUMNS = ("Session", "Organizer", "Members", "Lock", "Duration", "Rate", "Relayed")


class SessionsScreen(AdminScreen):
    AREA = "sessions"
    POLL = 1.0
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open"),
        Binding("e", "end", "End session"),
        Binding("l", "lock", "Lock/unlock"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, dict[str, Any]] = {}
        #: session ID → (bytes relayed, monotonic time) of the last poll, for the rate column.
        self._samples: dict[str, tuple[int, float]] = {}
        self._rates: dict[str, float] = {}

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="sessions-summary", classes="summary")
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#sessions", DataTable).add_columns(*COLUMNS)

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#sessions", DataTable)

    async def reload(self) -> None:
        result = await self.call("sessions.list")
        if result is None:
            return
        sessions = result["sessions"]
        now = time.monotonic()
        for s in sessions:
            sid, sent = s["session_id"], int(s["bytes_relayed"])
            previous = self._samples.get(sid)
            if previous is not None and now > previous[1]:
                self._rates[sid] = max(0.0, (sent - previous[0]) / (now - previous[1]))
            self._samples[sid] = (sent, now)
        self.sessions = {s["session_id"]: s for s in sessions}
        for gone in set(self._samples) - set(self.sessions):
            self._samples.pop(gone, None)
            self._rates.pop(gone, None)
        self._show()

    def _show(self) -> None:
        table = self.table
        current = selected_key(table)
        table.clear()
        members = 0
        for sid, s in self.sessions.items():
            members += int(s["member_count"])
            count = str(s["member_count"])
            if s["knocking"]:
                count += f" +{s['knocking']}"
            table.add_row(
                fmt.text(fmt.session_id(sid)),
                fmt.text(s["organizer"]),
                fmt.text(count),
                fmt.text("locked" if s["locked"] else "", style="bold yellow"),
                fmt.text(fmt.duration(s["duration_s"])),
                fmt.text(fmt.rate(self._rates.get(sid))),
                fmt.text(fmt.size(s["bytes_relayed"])),
                key=sid,
            )
        keep_cursor(table, current)
        live = len(self.sessions)
        summary = "No live sessions."
        if live:
            plural = "s" if live != 1 else ""
            summary = f"{live} live session{plural}, {members} members. Enter: details."
        self.query_one("#sessions-summary", Static).update(fmt.text(summary))

    def relay_event(self, event: dict[str, Any]) -> None:
        if event["kind"].startswith(("session.", "member.")):
            self.schedule_reload()

    # -- actions ---------------------------------------------------------------------------------

    def _selected(self) -> dict[str, Any] | None:
        sid = selected_key(self.table)
        session = None if sid is None else self.sessions.get(sid)
        if session is None:
            self.notify("No session is selected.", severity="warning")
        return session

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        session = self._selected()
        if session is not None:
            self.app.push_screen(SessionDetailScreen(session["session_id"]))

    @work(group="action", exclusive=True)
    async def action_end(self) -> None:
        session = self._selected()
        if session is None:
            return
        sid = fmt.session_id(session["session_id"])
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"End session {sid}?",
                f"All {session['member_count']} members ({session['organizer']}'s session) are "
                "told the session ended and are disconnected from it. This cannot be undone.",
                "End session",
            )
        )
        if confirmed and await self.call("sessions.end", session_id=session["session_id"]):
            self.notify(f"Ended session {sid}.")
            self.refresh_data()

    @work(group="action", exclusive=True)
    async def action_lock(self) -> None:
        session = self._selected()
        if session is None:
            return
        op = "sessions.unlock" if session["locked"] else "sessions.lock"
        result = await self.call(op, session_id=session["session_id"])
        if result is not None:
            state = "locked: nobody new may join" if result["locked"] else "unlocked"
            self.notify(f"Session {fmt.session_id(session['session_id'])} {state}.")
            self.refresh_data()
