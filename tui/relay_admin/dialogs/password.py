"""A new password, typed twice and never shown (it goes to the relay once, to be hashed)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.relay_admin.format import text


class PasswordDialog(ModalScreen[str | None]):
    """Dismisses with the password once both fields match, None on Escape.

    The relay judges strength (and says why it refuses); this dialog only makes sure the two
    entries agree. Nothing here logs, echoes or keeps the password after dismissing.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, prompt: str) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(text(self._title), classes="dialog-title")
            yield Static(text(self._prompt), classes="dialog-body")
            yield Input(password=True, placeholder="password", id="first")
            yield Input(password=True, placeholder="the same again", id="second")
            yield Static("", classes="dialog-error", id="error")
            yield Static(text("enter OK · escape Cancel", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#first", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        first, second = self.query_one("#first", Input), self.query_one("#second", Input)
        if event.input is first:
            second.focus()
            return
        error = self.query_one("#error", Static)
        if not first.value:
            error.update(text("Type the password first."))
            first.focus()
            return
        if first.value != second.value:
            error.update(text("The two entries differ; type them again."))
            first.value = second.value = ""
            first.focus()
            return
        self.dismiss(first.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
