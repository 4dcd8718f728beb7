"""``porthole``: the Textual client app (connect, log in, create or join, the session).

The app owns the screens and dialogs; the :class:`~tui.app.driver.Driver` owns the network and
runs as trio tasks in the :class:`~tui.app.bridge.TrioGuest` hosted by Textual's asyncio loop.
Screens hand work to the driver with :meth:`PortholeApp.run_network`; the driver answers with
messages from :mod:`tui.app.messages`, handled here and passed to the screen that shows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from core.capture.errors import CaptureError
from core.capture.sources import CaptureSource
from core.client import AdmitPolicy
from core.control.hotkey import revoke_hotkey_label
from core.known_relays import KnownRelays
from core.protocol.messages import ActionCode
from tui.app.bridge import GuestNotRunning, TrioGuest
from tui.app.dialogs import (
    AdmitDialog,
    BecomePresenterDialog,
    EndSessionDialog,
    ErrorDialog,
    FileOfferDialog,
    GrantControlDialog,
    LeaveDialog,
    SendFileDialog,
    ShareDialog,
    TakeBackDialog,
    TrustDialog,
)
from tui.app.driver import Driver, describe_source
from tui.app.messages import (
    ConsentAsked,
    ConsentGone,
    ControlChanged,
    Failed,
    FileOffered,
    KnockArrived,
    KnockGone,
    Knocking,
    LoggedIn,
    Notice,
    RelayConnected,
    RelayDisconnected,
    SessionOver,
    SessionStarted,
    SessionUpdated,
    TransferChanged,
    TrustAsked,
)
from tui.app.model import SessionView
from tui.app.screens.connect import ConnectScreen
from tui.app.screens.create import CreateScreen
from tui.app.screens.form import FormScreen
from tui.app.screens.join import JoinScreen
from tui.app.screens.login import LoginScreen
from tui.app.screens.session import SessionScreen
from tui.app.start import RelayTarget, Start

__all__ = ["PortholeApp", "Start"]


class PortholeApp(App[int]):
    CSS_PATH = "porthole.tcss"
    TITLE = "porthole"
    SUB_TITLE = "end-to-end encrypted screen sharing"
    BINDINGS: ClassVar[list[BindingType]] = [
        # Shown by the connect screen; elsewhere l (leave) / esc (back) are the keys to show.
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
    ]

    def __init__(
        self,
        start: Start | None = None,
        *,
        known_relays: KnownRelays | None = None,
        viewer_env: dict[str, str] | None = None,
        prepare: Callable[[TrioGuest, Driver], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.start = start or Start()
        self.guest = TrioGuest(on_task_error=self._network_bug)
        self.driver = Driver(self.post_message, known_relays=known_relays, viewer_env=viewer_env)
        self.driver.identity = self.start.identity
        self._prepare = prepare
        self._organize = self.start.organize
        self._session_id = self.start.session_id
        self._start_password = self.start.password
        self._knocks: dict[int, AdmitDialog] = {}
        #: Consent dialogs on screen, by consent id (closed unanswered when the ask is void).
        self._consents: dict[int, Any] = {}
        self.session_screen: SessionScreen | None = None
        self.ended_message: str | None = None
        self.quitting = False

    # -- lifecycle: trio lives exactly as long as the app -------------------------------------

    async def on_mount(self) -> None:
        await self.guest.__aenter__()
        if self._prepare is not None:
            await self._prepare(self.guest, self.driver)
        start = self.start
        if start.create_now:
            # The demo's network side starts its relay, logs in and creates the session.
            self.push_screen(ConnectScreen(status="Starting the demo relay …"))
        elif start.relay is not None:
            self.push_screen(ConnectScreen(f"{start.relay.host}:{start.relay.port}"))
            self.connect(start.relay, organize=start.organize, session_id=start.session_id)
        else:
            self.push_screen(ConnectScreen())

    async def on_unmount(self) -> None:
        await self.guest.aclose()

    async def action_quit(self) -> None:
        """Leave the session properly (the others see it at once), then stop.

        In a session this asks first, as `e` and `l` do: for an organizer, quitting ends the
        session for everyone."""
        view = self.driver.view
        if self.driver.session is not None and view is not None and not self.quitting:
            if isinstance(self.screen, LeaveDialog):
                return  # already asking

            def answered(yes: bool | None) -> None:
                if yes:
                    self.quitting = True
                    self.call_later(self.action_quit)

            self.push_screen(
                LeaveDialog(organizer=view.i_organize, others=len(view.others), quitting=True),
                answered,
            )
            return
        self.quitting = True  # what the leave brings back (session over) needs no dialog
        if self.driver.session is not None:
            with contextlib.suppress(GuestNotRunning, TimeoutError):
                await asyncio.wait_for(self.guest.run(self.driver.disconnect), 2.0)
        self.exit(0)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette (ctrl+p) offers every key of the current screen the rules allow now."""
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if not isinstance(binding, Binding) or not binding.show:
                continue
            if screen.check_action(binding.action, ()) is False:
                continue
            key = binding.key.split(",")[0]
            yield SystemCommand(
                f"{binding.description} ({key})",
                f"Same as pressing {key} on this screen",
                functools.partial(self.call_later, screen.run_action, binding.action),
            )

    # -- handing work to the network side ------------------------------------------------------

    def run_network(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        try:
            self.guest.start_soon(functools.partial(fn, *args, **kwargs))
        except GuestNotRunning:
            self.push_screen(
                ErrorDialog(
                    "Network stopped",
                    "The network side of porthole is not running.",
                    "Quit (ctrl+q) and start porthole again.",
                )
            )

    def connect(self, target: RelayTarget, *, organize: bool, session_id: str | None) -> None:
        self._organize = organize
        self._session_id = session_id or ""
        self.run_network(self.driver.connect, target)

    def create_session(
        self,
        name: str,
        session_id: str | None,
        password: str,
        policy: AdmitPolicy,
        present: bool,
    ) -> None:
        self.run_network(
            self.driver.create,
            name=name,
            session_id=session_id,
            password=password,
            admit_policy=policy,
            present=present,
        )

    def sharing_description(self) -> str:
        return describe_source(self.driver.share_source)

    # -- dialogs the screens ask for ----------------------------------------------------------

    def confirm_presenting(self, view: SessionView) -> None:
        current = None if view.presenter is None else view.name_of(view.presenter)
        code = ActionCode.PRESENT if view.presenter is None else ActionCode.TAKE_BACK

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_network(self.driver.request, code)

        self.push_screen(
            TakeBackDialog(self.sharing_description(), current_presenter=current), answered
        )

    def confirm_end(self, others: int) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.run_network(self.driver.request, ActionCode.END_SESSION)

        self.push_screen(EndSessionDialog(others), answered)

    def pick_share(self) -> None:
        monitors, windows = _share_choices()

        def picked(source: CaptureSource | None) -> None:
            if source is not None:
                self.driver.set_share_source(source)  # same thread; takes effect at once
                self.notify(f"Sharing {describe_source(source)}.")
                if self.session_screen is not None and self.driver.view is not None:
                    self.session_screen.show_view(self.driver.view)

        self.push_screen(ShareDialog(monitors, windows), picked)

    # -- messages from the network side --------------------------------------------------------

    def on_trust_asked(self, message: TrustAsked) -> None:
        self.push_screen(
            TrustDialog(message.host, message.port, message.fingerprint),
            lambda yes: message.reply.answer(bool(yes)),
        )

    def on_relay_connected(self, message: RelayConnected) -> None:
        identity = message.identity
        self.sub_title = f"{message.host}:{message.port} · {identity.transport_description}"
        if self.start.create_now:
            return
        if self._organize:
            self.switch_to(LoginScreen(self.start.username))
        else:
            password, self._start_password = self._start_password, None  # used once
            self.switch_to(JoinScreen(self._session_id, self.start.name, password))

    def on_relay_disconnected(self, message: RelayDisconnected) -> None:
        self.sub_title = "not connected"
        if self.ended_message is None:
            self._fail("Connection lost", message.reason, "Connect again.")
            self.switch_to(ConnectScreen())

    def on_logged_in(self, message: LoggedIn) -> None:
        if self.start.create_now:
            # The demo creates its session at once: a create form it would replace a moment
            # later costs a whole screen's layout and paint (bench/README.md, "bench.startup").
            return
        self.switch_to(CreateScreen(message.username))

    def on_knocking(self, message: Knocking) -> None:
        screen = self.screen
        if isinstance(screen, FormScreen):
            screen.set_status(
                "Knocking … if the session has no password, the organizer must let you in."
            )

    def on_session_started(self, message: SessionStarted) -> None:
        self.ended_message = None
        self.session_screen = SessionScreen(
            message.session_id, message.security_code, message.organizer, message.link
        )
        self.switch_to(self.session_screen)

    def on_session_updated(self, message: SessionUpdated) -> None:
        if self.session_screen is not None:
            self.session_screen.show_view(message.view)

    def on_knock_arrived(self, message: KnockArrived) -> None:
        dialog = AdmitDialog(message.peer_id, message.name, message.origin)
        self._knocks[message.peer_id] = dialog
        self._session_log(f"{message.name} ({message.origin}) is knocking.")

        def answered(admit: bool | None) -> None:
            self._knocks.pop(message.peer_id, None)
            self.run_network(self.driver.answer_knock, message.peer_id, bool(admit))
            self._session_log(f"{'Admitted' if admit else 'Declined'} {message.name}.")

        self.push_screen(dialog, answered)

    def on_knock_gone(self, message: KnockGone) -> None:
        dialog = self._knocks.pop(message.peer_id, None)
        if dialog is not None and dialog.is_attached:
            dialog.dismiss(False)
        self._session_log(f"Knock #{message.peer_id} was withdrawn.")

    def on_consent_asked(self, message: ConsentAsked) -> None:
        sharing = self.sharing_description()
        match message.action:
            case ActionCode.REQUEST_CONTROL:
                dialog: Any = GrantControlDialog(message.actor_name, revoke_hotkey_label())
            case ActionCode.PROPOSE_PRESENTER:
                dialog = BecomePresenterDialog(message.actor_name, sharing)
            case ActionCode.HAND_TO_ORGANIZER:
                dialog = BecomePresenterDialog(message.actor_name, sharing, handed_back=True)
            case _:
                message.reply.answer(False)
                return
        self._consents[message.consent_id] = dialog

        def answered(yes: bool | None) -> None:
            if self._consents.pop(message.consent_id, None) is not None:
                message.reply.answer(bool(yes))

        self.push_screen(dialog, answered)

    def on_consent_gone(self, message: ConsentGone) -> None:
        dialog = self._consents.pop(message.consent_id, None)
        if dialog is not None and dialog.is_attached:
            dialog.dismiss(None)
        self._session_log(message.reason)

    def on_file_offered(self, message: FileOffered) -> None:
        dialog = FileOfferDialog(
            message.sender, message.name, message.size, self.driver.download_dir
        )

        def answered(save: bool | None) -> None:
            message.reply.answer(bool(save))
            if not save:
                self._session_log(f"Declined {message.name} from {message.sender}.")

        self.push_screen(dialog, answered)

    def on_transfer_changed(self, message: TransferChanged) -> None:
        if self.session_screen is not None:
            self.session_screen.show_transfer(message.key, message.line)
        if message.log is not None:
            self._session_log(message.log)

    def pick_file_to_send(self, members: list[tuple[int, str]]) -> None:
        def picked(choice: tuple[Path, int | None] | None) -> None:
            if choice is not None:
                self.run_network(self.driver.send_file, *choice)

        self.push_screen(SendFileDialog(members), picked)

    def on_control_changed(self, message: ControlChanged) -> None:
        if self.session_screen is not None:
            self.session_screen.show_control(message.controller, message.reason)

    def on_notice(self, message: Notice) -> None:
        self._session_log(message.text)
        if message.severity != "information":
            self.notify(message.text, severity=message.severity)  # type: ignore[arg-type]

    def on_failed(self, message: Failed) -> None:
        screen = self.screen
        if isinstance(screen, FormScreen):
            screen.set_status(message.sentence, error=True)
        self._fail(message.title, message.sentence, message.next_step)

    def on_session_over(self, message: SessionOver) -> None:
        if self.quitting:
            return
        if self.session_screen is None and self.ended_message is not None:
            return  # already told (a lost connection can be noticed twice)
        self.ended_message = message.message
        self._session_log(f"Session over: {message.message}")
        self.session_screen = None
        self.switch_to(ConnectScreen())
        self.push_screen(
            ErrorDialog("Session over", message.message, "Start or join another, or ctrl+q.")
        )
        self.run_network(self.driver.disconnect)

    def _network_bug(self, exc: Exception) -> None:
        """A bug on the network side: say so plainly instead of dying silently."""
        self._fail(
            "Internal error",
            f"{type(exc).__name__}: {exc}",
            "Please report this; you can keep going or restart porthole.",
        )

    # -- small helpers ----------------------------------------------------------------------------

    def switch_to(self, screen: Any) -> None:
        while isinstance(self.screen, ErrorDialog | TrustDialog):
            self.pop_screen()
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def _fail(self, title: str, sentence: str, next_step: str) -> None:
        if self.quitting:
            return
        self.push_screen(ErrorDialog(title, sentence, next_step))

    def _session_log(self, text: str) -> None:
        if self.session_screen is not None and self.session_screen.is_attached:
            self.session_screen.log_line(text)


def _share_choices() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Monitors (mss numbering) and top-level windows to offer in the share picker."""
    import mss  # the screen libraries load when a person picks what to share, not at start

    from core.capture.windows import XConnection

    monitors: list[tuple[int, str]] = []
    windows: list[tuple[int, str]] = []
    try:
        with mss.MSS() as grabber:
            for index, monitor in enumerate(grabber.monitors):
                size = f"{monitor['width']}x{monitor['height']}"
                label = "all monitors" if index == 0 else f"monitor {index}"
                monitors.append((index, f"{label} ({size})"))
    except mss.ScreenShotError:
        pass
    try:
        connection = XConnection(None)
        try:
            windows = [(w.xid, w.title) for w in connection.list_windows() if w.title][:30]
        finally:
            connection.close()
    except (CaptureError, OSError):
        pass
    return monitors, windows
