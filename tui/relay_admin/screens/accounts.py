"""Organizer accounts: add, reset a password, disable, enable (passwords are never shown)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from relay.store import username_problem
from tui.relay_admin import format as fmt
from tui.relay_admin.dialogs import ConfirmDialog, PasswordDialog, TextInputDialog
from tui.relay_admin.screens.base import AdminScreen, keep_cursor, selected_key


class AccountsScreen(AdminScreen):
    AREA = "accounts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add"),
        Binding("p", "password", "Reset password"),
        Binding("d", "disable", "Disable"),
        Binding("e", "enable", "Enable"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.accounts: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static(
            fmt.text("Organizer accounts: only organizers log in, to start sessions."),
            classes="summary",
        )
        yield DataTable(id="accounts", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.table.add_columns("User name", "State", "Created", "Password changed")

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#accounts", DataTable)

    async def reload(self) -> None:
        result = await self.call("accounts.list")
        if result is None:
            return
        self.accounts = result["accounts"]
        table = self.table
        current = selected_key(table)
        table.clear()
        for a in self.accounts:
            state = fmt.text("disabled", "red") if a["disabled"] else fmt.text("enabled", "green")
            table.add_row(
                fmt.text(a["username"]),
                state,
                fmt.text(fmt.when(a["created_at"])),
                fmt.text(fmt.when(a["password_changed_at"])),
                key=a["username"],
            )
        keep_cursor(table, current)

    def _selected(self) -> str | None:
        name = selected_key(self.table)
        if name is None:
            self.notify("No account is selected.", severity="warning")
        return name

    @work(group="action", exclusive=True)
    async def action_add(self) -> None:
        name = await self.app.push_screen_wait(
            TextInputDialog(
                "New organizer account",
                "User name (letters, digits, '.', '_' or '-'):",
                check=username_problem,
            )
        )
        if name is None:
            return
        password = await self.app.push_screen_wait(
            PasswordDialog(
                f"Password for {name}",
                "At least 12 characters, not common, not a keyboard pattern.",
            )
        )
        if password is None:
            return
        if await self.call("accounts.add", username=name, password=password):
            self.notify(f"Created organizer account {name}.")
            self.refresh_data()

    @work(group="action", exclusive=True)
    async def action_password(self) -> None:
        name = self._selected()
        if name is None:
            return
        password = await self.app.push_screen_wait(
            PasswordDialog(f"New password for {name}", "The old password stops working.")
        )
        if password is not None and await self.call(
            "accounts.passwd", username=name, password=password
        ):
            self.notify(f"Changed the password of {name}.")
            self.refresh_data()

    @work(group="action", exclusive=True)
    async def action_disable(self) -> None:
        name = self._selected()
        if name is None:
            return
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"Disable {name}?",
                "They can no longer log in or start sessions; sessions already running go on. "
                "Enable (e) undoes it.",
                "Disable",
            )
        )
        if confirmed and await self.call("accounts.disable", username=name):
            self.notify(f"Disabled {name}.")
            self.refresh_data()

    @work(group="action", exclusive=True)
    async def action_enable(self) -> None:
        name = self._selected()
        if name is not None and await self.call("accounts.enable", username=name):
            self.notify(f"Enabled {name}.")
            self.refresh_data()
