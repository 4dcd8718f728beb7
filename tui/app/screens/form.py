"""What the four form screens share: a title, labelled inputs, a status line, keyboard first."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Static

if TYPE_CHECKING:
    from tui.app.app import PortholeApp


class FormScreen(Screen[None]):
    """A form: Enter in the last field submits, Tab moves, the status line says what happens."""

    TITLE_TEXT = ""
    HELP_TEXT = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Go", show=True, priority=True),
        Binding("escape", "back", "Back", show=True),
    ]

    @property
    def porthole(self) -> PortholeApp:
        from tui.app.app import PortholeApp

        return cast(PortholeApp, self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(classes="form"):
            yield Label(self.TITLE_TEXT, classes="form-title")
            if self.HELP_TEXT:
                yield Static(self.HELP_TEXT, classes="form-help", markup=False)
            yield from self.fields()
            yield Label("", id="status", classes="form-status")
        yield Footer()

    def fields(self) -> ComposeResult:
        yield from ()

    def on_screen_resume(self) -> None:
        # A form always has a field to type into: also when it comes back under a dialog (the
        # connect screen after a session ends), where nothing had focus to restore.
        if self.focused is None:
            first = next(iter(self.query(Input)), None)
            if first is not None:
                first.focus()

    def field(self, field_id: str) -> Input:
        return self.query_one(f"#{field_id}", Input)

    def set_status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Label)
        status.update(text)
        status.set_class(error, "error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        if event.input is inputs[-1]:
            self.action_submit()
        else:
            self.focus_next()

    def action_submit(self) -> None:
        raise NotImplementedError

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
