"""Create a session: random or chosen ID, optional password, whether to approve each join."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, Label

from core.client import AdmitPolicy
from core.links import normalize_session_id
from core.protocol.names import display_name_problem
from tui.app.screens.form import FormScreen


class CreateScreen(FormScreen):
    TITLE_TEXT = "Create a session"
    HELP_TEXT = (
        "Leave the ID empty for a random one (a chosen ID needs a password). Without a "
        "password, you approve every knock yourself."
    )

    def __init__(self, name: str) -> None:
        super().__init__()
        self.initial_name = name

    def fields(self) -> ComposeResult:
        yield Label("Your name, as members see it")
        yield Input(self.initial_name, id="name")
        yield Label("Session ID (9 digits, or empty for a random one)")
        yield Input(placeholder="random", id="session-id")
        yield Checkbox("Approve every join myself, even with the password", id="ask")
        yield Checkbox("Present my screen right away", id="present")
        yield Label("Session password (optional)")
        yield Input(password=True, id="password")

    def on_mount(self) -> None:
        self.field("session-id").focus()

    def action_submit(self) -> None:
        name = self.field("name").value.strip()
        typed_id = self.field("session-id").value.strip()
        password = self.field("password").value
        if not name:
            self.set_status("Type the name members will see.", error=True)
            return
        if (problem := display_name_problem(name)) is not None:
            self.set_status(f"That name {problem}.", error=True)
            return
        session_id = None
        if typed_id:
            try:
                session_id = normalize_session_id(typed_id)
            except ValueError as exc:
                self.set_status(str(exc), error=True)
                return
            if not password:
                self.set_status("A chosen session ID needs a password.", error=True)
                return
        ask = self.query_one("#ask", Checkbox).value or not password
        self.set_status("Creating the session …")
        self.field("password").value = ""  # not kept on screen once handed over
        self.porthole.create_session(
            name,
            session_id,
            password,
            AdmitPolicy.ASK if ask else AdmitPolicy.PASSWORD,
            self.query_one("#present", Checkbox).value,
        )
