"""A yes/no question before anything that cannot be undone (end a session, remove, ban, …)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from tui.relay_admin.format import text


class ConfirmDialog(ModalScreen[bool]):
    """Dismisses with True only on an explicit yes: ``y`` or the action button.

    The focus starts on Cancel, so an Enter typed out of habit cancels instead of confirming.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes"),
        Binding("n", "cancel", "No"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, body: str, confirm_label: str = "Yes") -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._body = body
        self._confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(text(self._title), classes="dialog-title")
            yield Static(text(self._body), classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._confirm_label} (y)", variant="error", id="confirm")
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
