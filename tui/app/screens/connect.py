"""First screen: which relay (address or a pasted join link), then join or organize."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Label

from core.endpoints import split_endpoint
from core.links import BadLink, parse_link
from core.tlspin import parse_fingerprint
from tui.app.screens.form import FormScreen
from tui.app.start import RelayTarget


class ConnectScreen(FormScreen):
    TITLE_TEXT = "Connect to a relay"
    HELP_TEXT = (
        "Type the relay's address (HOST:PORT), or paste a join link (porthole://…).\n"
        "enter joins a session · ctrl+o logs in to organize one."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Join", show=True, priority=True),
        Binding("ctrl+o", "organize", "Organize", show=True, priority=True),
        Binding("ctrl+q", "app.quit", "Quit", show=True, priority=True),
    ]

    def __init__(self, relay: str = "", fingerprint: str = "", *, status: str = "") -> None:
        super().__init__()
        self.initial_relay = relay
        self.initial_fingerprint = fingerprint
        self.initial_status = status

    def on_mount(self) -> None:
        if self.initial_status:
            self.set_status(self.initial_status)

    def fields(self) -> ComposeResult:
        yield Label("Relay address or join link")
        yield Input(self.initial_relay, placeholder="relay.example.org:7443", id="relay")
        yield Label("Certificate fingerprint (optional: known relays and links carry it)")
        yield Input(self.initial_fingerprint, placeholder="64 hex digits", id="fingerprint")

    def action_submit(self) -> None:
        self._go(organize=False)

    def action_organize(self) -> None:
        self._go(organize=True)

    def _go(self, *, organize: bool) -> None:
        text = self.field("relay").value.strip()
        if not text:
            self.set_status("Type the relay's address first.", error=True)
            return
        session_id = None
        try:
            if "://" in text:  # a link, or something that meant to be one: say which
                link = parse_link(text)
                host, port, fingerprint = link.host, link.port, link.fingerprint
                session_id = link.session_id
            else:
                host, port = split_endpoint(text)
                fingerprint = None
            typed = self.field("fingerprint").value.strip()
            if typed:
                fingerprint = parse_fingerprint(typed)
        except (BadLink, ValueError) as exc:
            self.set_status(str(exc), error=True)
            return
        self.set_status(f"Connecting to {host}:{port} …")
        self.porthole.connect(
            RelayTarget(host, port, fingerprint), organize=organize, session_id=session_id
        )
