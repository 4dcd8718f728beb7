"""Join a session: the 9-digit ID (or a pasted link), the session password, your name."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input, Label

from core.links import BadLink, normalize_session_id, parse_link
from core.protocol.names import display_name_problem
from tui.app.screens.form import FormScreen
from tui.terminal import login_name


class JoinScreen(FormScreen):
    TITLE_TEXT = "Join a session"
    HELP_TEXT = (
        "Type the session ID the organizer gave you, and the session password if there is "
        "one (leave it empty if not: the organizer then lets you in)."
    )

    def __init__(self, session_id: str = "", name: str = "", password: str | None = None) -> None:
        super().__init__()
        self.initial_id = session_id
        self.initial_name = name or login_name("guest")
        #: Given on the command line (``--password-file``/``--ask-password``): knock at once.
        self.given_password = password

    def fields(self) -> ComposeResult:
        yield Label("Session ID or join link")
        yield Input(self.initial_id, placeholder="123 456 789", id="session-id")
        yield Label("Your name, as others see it")
        yield Input(self.initial_name, id="name")
        yield Label("Session password (empty if none)")
        yield Input(password=True, id="password")

    def on_mount(self) -> None:
        self.field("password" if self.initial_id else "session-id").focus()
        if self.given_password is not None and self.initial_id:
            self.field("password").value = self.given_password
            self.given_password = None
            self.call_after_refresh(self.action_submit)

    def action_submit(self) -> None:
        typed = self.field("session-id").value.strip()
        name = self.field("name").value.strip()
        password = self.field("password").value
        try:
            if "://" in typed:
                session_id = parse_link(typed).session_id
            else:
                session_id = normalize_session_id(typed)
        except (BadLink, ValueError) as exc:
            self.set_status(str(exc), error=True)
            return
        if not name:
            self.set_status("Type the name others will see.", error=True)
            return
        if (problem := display_name_problem(name)) is not None:
            self.set_status(f"That name {problem}.", error=True)
            return
        self.set_status("Knocking …")
        self.field("password").value = ""  # not kept on screen once handed over
        self.porthole.run_network(
            self.porthole.driver.join, session_id, name=name, password=password
        )
