"""What the records and security-events screens share: a filter line, a table, CSV export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input

from relay.admin_protocol import MAX_LIST_LIMIT, parse_since
from tui.relay_admin.dialogs import ConfirmDialog, TextInputDialog
from tui.relay_admin.export import default_path, write_csv
from tui.relay_admin.screens.base import AdminScreen


class ListingScreen(AdminScreen):
    """Subclasses set EXPORT_NAME and implement :meth:`filter_args`, :meth:`csv_rows`."""

    AUTO_FOCUS = "DataTable"
    EXPORT_NAME: ClassVar[str] = "records"
    CSV_HEADER: ClassVar[tuple[str, ...]] = ()
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "filter", "Filter"),
        Binding("x", "export", "Export CSV"),
        Binding("escape", "focus_table", "To table", show=False),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one(DataTable)

    def filter_args(self) -> dict[str, Any] | None:
        """The op's arguments from the filter line (None after telling what is wrong)."""
        args: dict[str, Any] = {}
        since_text = self.query_one("#since", Input).value.strip()
        if since_text:
            try:
                args["since"] = parse_since(since_text, time.time())
            except ValueError as exc:
                self.notify(str(exc), title="Since", severity="error")
                return None
        limit_text = self.query_one("#limit", Input).value.strip() or "100"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIST_LIMIT:
            self.notify(f"The limit is 1 to {MAX_LIST_LIMIT}.", title="Limit", severity="error")
            return None
        args["limit"] = int(limit_text)
        return args

    def csv_rows(self) -> list[list[object]]:
        return []

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.refresh_data()
        self.table.focus()

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_focus_table(self) -> None:
        self.table.focus()

    @work(group="action", exclusive=True)
    async def action_export(self) -> None:
        if not self.rows:
            self.notify("Nothing to export: the list is empty.", severity="warning")
            return
        chosen = await self.app.push_screen_wait(
            TextInputDialog(
                f"Export {len(self.rows)} {self.EXPORT_NAME} as CSV",
                "File to write (on the relay's host; ~ is your home directory):",
                value=default_path(self.EXPORT_NAME, time.time()),
            )
        )
        if chosen is None:
            return
        path = Path(chosen).expanduser()
        if path.exists():
            overwrite = await self.app.push_screen_wait(
                ConfirmDialog(f"Replace {path}?", "The file exists; it is overwritten.", "Replace")
            )
            if not overwrite:
                return
        try:
            count = write_csv(path, self.CSV_HEADER, self.csv_rows())
        except OSError as exc:
            self.notify(f"Cannot write {path}: {exc.strerror or exc}.", severity="error")
            return
        self.notify(f"Wrote {count} {self.EXPORT_NAME} to {path}.")
