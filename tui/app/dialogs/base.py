"""The shape every consent dialog shares: a question, who asks, and two keyed answers.

Each consent of docs/design.md §5.1 has its own small dialog module (admit, become presenter, grant
control, take back, end) so its words can say exactly what yes means; they all answer
``True``/``False`` with ``y``/``n`` (Escape is no), and nothing is ever answered by default.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class YesNoDialog(ModalScreen[bool]):
    """A question answered with y (yes) or n / Escape (no)."""

    DEFAULT_CLASSES = "dialog"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", show=True),
        Binding("n", "answer(False)", "No", show=True),
        Binding("escape", "answer(False)", "No", show=False),
    ]
    YES = "Yes"
    NO = "No"

    def __init__(self, title: str, body: str, *, yes: str | None = None, no: str | None = None):
        super().__init__()
        self.title_text = title
        self.body_text = body
        self.yes_label = yes or self.YES
        self.no_label = no or self.NO

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body_text, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="primary")
                yield Button(f"{self.no_label} (n)", id="no", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
