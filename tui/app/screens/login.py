"""Organizer login: user name and password, checked by the relay (argon2id, lockouts)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input, Label

from tui.app.screens.form import FormScreen
from tui.terminal import login_name


class LoginScreen(FormScreen):
    TITLE_TEXT = "Log in to organize a session"
    HELP_TEXT = "Organizer accounts are made by the relay's operator (porthole-relay account add)."

    def __init__(self, username: str = "") -> None:
        super().__init__()
        self.initial_username = username or login_name()

    def fields(self) -> ComposeResult:
        yield Label("User name")
        yield Input(self.initial_username, id="username")
        yield Label("Password")
        yield Input(password=True, id="password")

    def on_mount(self) -> None:
        self.field("password" if self.initial_username else "username").focus()

    def action_submit(self) -> None:
        username = self.field("username").value.strip()
        password = self.field("password").value
        if not username or not password:
            self.set_status("Type your user name and password.", error=True)
            return
        self.set_status("Logging in …")
        self.field("password").value = ""
        self.porthole.run_network(self.porthole.driver.login, username, password)
