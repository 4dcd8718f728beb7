"""One line of text from the operator (an address to ban, a user name, a file to export to)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.relay_admin.format import text

Check = Callable[[str], str | None]
"""Returns why a value is not acceptable, or None."""


class TextInputDialog(ModalScreen[str | None]):
    """Dismisses with the (stripped) text on Enter if ``check`` accepts it, None on Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        prompt: str,
        *,
        value: str = "",
        placeholder: str = "",
        check: Check | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._prompt = prompt
        self._value = value
        self._placeholder = placeholder
        self._check = check

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(text(self._title), classes="dialog-title")
            yield Static(text(self._prompt), classes="dialog-body")
            yield Input(value=self._value, placeholder=self._placeholder, id="value")
            yield Static("", classes="dialog-error", id="error")
            yield Static(text("enter OK · escape Cancel", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#value", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        problem = "Type something first." if not value else None
        if problem is None and self._check is not None:
            problem = self._check(value)
        if problem is not None:
            self.query_one("#error", Static).update(text(problem))
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
