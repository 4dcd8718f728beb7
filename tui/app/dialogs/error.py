"""A failure told as a person would: what happened, and what to do next."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ErrorDialog(ModalScreen[None]):
    DEFAULT_CLASSES = "dialog"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close"),
    ]

    def __init__(self, title: str, sentence: str, next_step: str) -> None:
        super().__init__()
        self.title_text = title
        self.sentence = sentence
        self.next_step = next_step

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box error-box"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.sentence, classes="dialog-body", markup=False)
            if self.next_step:
                yield Static(self.next_step, classes="dialog-next", markup=False)
            yield Button("OK (enter)", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
