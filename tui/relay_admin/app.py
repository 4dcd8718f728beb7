"""The relay admin app: screens per area, a request connection and a live event stream.

Two connections to the admin socket: one for requests (serialized), one subscribed to events.
Both are opened lazily and re-opened after the relay restarts; while it is away the header
says so and every action answers with a notification instead of failing silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen

from relay.admin_client import AdminUnavailable, AsyncAdminClient
from tui.relay_admin.messages import ConnectionChanged, RelayEventReceived
from tui.relay_admin.screens.accounts import AccountsScreen
from tui.relay_admin.screens.base import AREAS, AdminScreen
from tui.relay_admin.screens.events import EventsScreen
from tui.relay_admin.screens.lockouts import LockoutsScreen
from tui.relay_admin.screens.records import RecordsScreen
from tui.relay_admin.screens.sessions import SessionsScreen

#: The admin stream's guessing alarm (relay/store.py SecurityEventKind.GUESSING).
GUESSING_EVENT = "security.guessing"


class RelayAdminApp(App[int]):
    """``porthole-relay admin``: administer the relay whose admin socket is ``socket_path``."""

    CSS_PATH = "relay_admin.tcss"
    TITLE = "relay admin"
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "sessions": SessionsScreen,
        "lockouts": LockoutsScreen,
        "accounts": AccountsScreen,
        "records": RecordsScreen,
        "events": EventsScreen,
    }
    DEFAULT_MODE = "sessions"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(key, f"area('{mode}')", label, show=False) for mode, key, label in AREAS),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, socket_path: Path, *, retry_interval: float = 1.0) -> None:
        super().__init__()
        self.socket_path = Path(socket_path)
        self.retry_interval = retry_interval
        self.connected = False
        self.status: dict[str, Any] | None = None
        self._client: AsyncAdminClient | None = None
        self._connecting = asyncio.Lock()

    # -- requests --------------------------------------------------------------------------------

    async def call(self, op: str, **args: Any) -> Any:
        """Run one admin op; raises AdminError (refused) or AdminUnavailable (no relay)."""
        async with self._connecting:
            if self._client is None:
                self._client = await AsyncAdminClient.connect(self.socket_path)
            client = self._client
        try:
            return await client.call(op, args)
        except AdminUnavailable:
            if self._client is client:
                self._client = None
                await client.close()
            raise

    # -- the event stream and the header ----------------------------------------------------------

    def on_mount(self) -> None:
        self.sub_title = "connecting…"
        self._follow_events()
        self.set_interval(2.0, self._poll_status)

    async def on_unmount(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @work(group="events", exclusive=True)
    async def _follow_events(self) -> None:
        while True:
            try:
                client = await AsyncAdminClient.connect(self.socket_path)
            except AdminUnavailable as exc:
                self.post_message(ConnectionChanged(False, str(exc)))
            else:
                try:
                    events = client.events()
                    self.post_message(ConnectionChanged(True))
                    async for event in events:
                        self.post_message(RelayEventReceived(event))
                except AdminUnavailable as exc:
                    self.post_message(ConnectionChanged(False, str(exc)))
                finally:
                    await client.close()
            await asyncio.sleep(self.retry_interval)

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        was = self.connected
        self.connected = message.connected
        if message.connected:
            self._poll_status()
            if not was:
                for screen in self._admin_screens():
                    screen.refresh_data()
        else:
            self.sub_title = "no connection to the relay; retrying"

    def on_relay_event_received(self, message: RelayEventReceived) -> None:
        event = message.event
        for screen in self._admin_screens():
            screen.relay_event(event)
        if event["kind"].startswith(("session.", "member.")):
            self._poll_status()
        elif event["kind"] == GUESSING_EVENT:
            # Whichever screen is open: a guessing attack is what an operator must not miss.
            target = f"session {event['session_id']}" if event.get("session_id") else "a login"
            self.notify(
                f"{event.get('detail', '')} (from {event.get('address', '?')}, latest). "
                "See Events; the organizer's client warns them too.",
                title=f"Someone may be guessing passwords: {target}",
                severity="error",
                timeout=30,
            )

    def _admin_screens(self) -> list[AdminScreen]:
        return [s for s in self.screen_stack if isinstance(s, AdminScreen)]

    @work(group="status", exclusive=True, exit_on_error=False)
    async def _poll_status(self) -> None:
        try:
            status: dict[str, Any] = await self.call("relay.status")
        except Exception:  # shown by the connection state; nothing else to do here
            return
        self.status = status
        sessions, members = status["sessions"], status["members"]
        self.sub_title = (
            f"{status['relay_name']} · {sessions} session{'' if sessions == 1 else 's'} · "
            f"{members} member{'' if members == 1 else 's'}"
        )

    # -- navigation ------------------------------------------------------------------------------

    def action_area(self, mode: str) -> None:
        if isinstance(self.screen, ModalScreen):
            return  # answer the dialog first
        if mode != self.current_mode:
            self.switch_mode(mode)
