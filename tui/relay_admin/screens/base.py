"""What every admin screen shares: the header, the area bar, calls to the relay, reloading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Header, Static
from textual.widgets.data_table import RowDoesNotExist

from relay.admin_client import AdminUnavailable
from relay.admin_protocol import AdminError

if TYPE_CHECKING:
    from tui.relay_admin.app import RelayAdminApp

#: (mode, key, label) of each area, in the order of the area bar.
AREAS: tuple[tuple[str, str, str], ...] = (
    ("sessions", "1", "Sessions"),
    ("lockouts", "2", "Lockouts & bans"),
    ("accounts", "3", "Accounts"),
    ("records", "4", "Records"),
    ("events", "5", "Security events"),
)


class AreaBar(Static):
    """One line naming the areas and their keys; the current one stands out."""

    def __init__(self, current: str) -> None:
        super().__init__(classes="area-bar")
        line = Text(no_wrap=True, overflow="ellipsis")
        for mode, key, label in AREAS:
            style = "reverse bold" if mode == current else ""
            line.append(f" {key} {label} ", style=style)
            line.append(" ")
        self.update(line)


class AdminScreen(Screen[None]):
    """Base of the admin screens. Subclasses implement :meth:`reload` (and maybe
    :meth:`relay_event`); the app hands every live event to each screen in its stack."""

    AREA: ClassVar[str] = "sessions"
    #: Poll the relay this often (seconds) while the screen is visible; 0: only on events.
    POLL: ClassVar[float] = 0.0

    def __init__(self) -> None:
        super().__init__()
        self._reload_timer: Timer | None = None

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Like Widget.notify, but plain text by default: messages carry names and addresses."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    @property
    def admin(self) -> RelayAdminApp:
        return cast("RelayAdminApp", self.app)

    def compose_top(self) -> ComposeResult:
        yield Header(icon="◆")
        yield AreaBar(self.AREA)

    def on_mount(self) -> None:
        if self.POLL:
            self.set_interval(self.POLL, self._poll)

    def on_screen_resume(self) -> None:
        self.refresh_data()

    def _poll(self) -> None:
        if self.is_current:
            self.refresh_data()

    # -- talking to the relay ------------------------------------------------------------------

    async def call(self, op: str, **args: Any) -> dict[str, Any] | None:
        """Run ``op``; on a refusal or a lost relay say so in a notification and return None."""
        try:
            result: dict[str, Any] = await self.admin.call(op, **args)
        except AdminError as exc:
            self.notify(exc.message, title="The relay refused", severity="error", timeout=8)
            return None
        except AdminUnavailable as exc:
            self.notify(str(exc), title="No connection to the relay", severity="error")
            return None
        return result

    async def ban(self, address: str, reason: str) -> None:
        """Ban ``address`` (the operator has confirmed) and say what that did."""
        result = await self.call("bans.add", address=address, reason=reason)
        if result is not None:
            self.notify(
                f"Banned {result['ban']['address']}; closed {result['disconnected']} connection(s)."
            )
            self.refresh_data()

    # -- reloading -----------------------------------------------------------------------------

    @work(group="reload", exclusive=True, exit_on_error=False)
    async def refresh_data(self) -> None:
        """Reload now (a newer reload replaces one still running)."""
        await self.reload()

    def schedule_reload(self, delay: float = 0.2) -> None:
        """Reload soon: a burst of events costs one reload."""
        if self._reload_timer is not None:
            self._reload_timer.stop()
        self._reload_timer = self.set_timer(delay, self._poll)

    async def reload(self) -> None:
        """Fetch what the screen shows and show it."""

    def relay_event(self, event: dict[str, Any]) -> None:
        """A live event from the relay (the screen may be under a dialog or another screen)."""

    def action_refresh(self) -> None:
        self.refresh_data()


def selected_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    if table.row_count == 0:
        return None
    row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    return None if row_key.value is None else str(row_key.value)


def keep_cursor(table: DataTable[Any], key: str | None) -> None:
    """After a reload, put the cursor back on the row it was on (if that row still exists)."""
    if key is None or table.row_count == 0:
        return
    try:
        row = table.get_row_index(key)
    except RowDoesNotExist:  # the row is gone: leave the cursor where the table put it
        return
    table.move_cursor(row=row, animate=False)
