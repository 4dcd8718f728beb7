"""Fixed sample states for screenshots and snapshot tests; never used by the running app.

A real session has a random session ID, security code, port and relay fingerprint, so pictures
taken through a real relay differ on every run. :class:`SampleApp` is the real
:class:`~tui.app.app.PortholeApp` (same screens, dialogs and stylesheet, the trio guest running
but never asked to connect) that, once mounted, puts itself into one named :data:`SCENES` state
built from fixed values and a real :class:`~core.protocol.messages.Roster`::

    app = SampleApp("session-organizer")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.save_screenshot("session.svg")

Used by ``screenshots/make_screenshots.py`` and ``tests/tui/test_client_snapshots.py``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from textual import events
from textual.pilot import Pilot
from textual.screen import Screen

from core.control.hotkey import revoke_hotkey_label
from core.known_relays import KnownRelays
from core.links import JoinLink
from core.protocol.messages import MemberState, Roster, RosterEntry
from tui.app.app import PortholeApp
from tui.app.dialogs import (
    AdmitDialog,
    BecomePresenterDialog,
    EndSessionDialog,
    ErrorDialog,
    FileOfferDialog,
    GrantControlDialog,
    SendFileDialog,
    TakeBackDialog,
    TrustDialog,
)
from tui.app.model import SessionView
from tui.app.screens.create import CreateScreen
from tui.app.screens.join import JoinScreen
from tui.app.screens.login import LoginScreen
from tui.app.screens.session import SessionScreen

RELAY_HOST: Final = "relay.example.org"
RELAY_PORT: Final = 7443
SESSION_ID: Final = "482913570"
SECURITY_CODE: Final = "31415 92653 58979 32384 62643 38327 95028 84197"
FINGERPRINT: Final = "5e1c7a0b93d24f68" * 4
LINK: Final = str(JoinLink(RELAY_HOST, RELAY_PORT, SESSION_ID, FINGERPRINT))
SUB_TITLE: Final = f"{RELAY_HOST}:{RELAY_PORT} · framed TLS"
#: Where :class:`SampleApp` would keep trusted relays: never read nor written (no connection).
NO_KNOWN_RELAYS: Final = Path("/nonexistent/porthole-samples/known_relays")

OLGA, ANA, BEN = 1, 2, 3


def _entry(peer_id: int, name: str, *, organizer: bool = False) -> RosterEntry:
    return RosterEntry(peer_id, name, organizer, MemberState.CONNECTED)


def organizer_roster() -> Roster:
    """Olga organizes; Ana has joined; nobody presents yet."""
    return Roster(
        session_id=SESSION_ID,
        members=(_entry(OLGA, "Olga", organizer=True), _entry(ANA, "Ana")),
        presenter=None,
        controller=None,
        has_presented=(),
        locked=False,
        paused=False,
        has_password=True,
    )


def presenting_roster(*, controller: int | None = BEN) -> Roster:
    """Olga organizes, Ana presents (Olga asked her to), Ben controls Ana's screen (or not)."""
    return Roster(
        session_id=SESSION_ID,
        members=(_entry(OLGA, "Olga", organizer=True), _entry(ANA, "Ana"), _entry(BEN, "Ben")),
        presenter=ANA,
        controller=controller,
        has_presented=(ANA,),
        locked=False,
        paused=False,
        has_password=True,
    )


class SampleApp(PortholeApp):
    """The client app, put into the fixed state :data:`SCENES` ``[scene]`` once mounted."""

    def __init__(self, scene: str) -> None:
        if scene not in SCENES:
            raise ValueError(f"unknown scene {scene!r}; one of {', '.join(SCENES)}")
        super().__init__(known_relays=KnownRelays(NO_KNOWN_RELAYS))
        self.scene = scene
        #: True once the scene is fully built (wait for it before taking a picture).
        self.scene_ready = False

    async def on_mount(self, event: events.Mount | None = None) -> None:
        # Textual would call PortholeApp.on_mount after this one; call it first instead: the
        # trio guest and the connect screen underneath, then the scene on top.
        if event is not None:
            event.prevent_default()
        await super().on_mount()
        await SCENES[self.scene](self)
        self.scene_ready = True


async def settle(pilot: Pilot[Any], timeout: float = 10.0) -> None:
    """Wait until the :class:`SampleApp` under ``pilot`` shows its scene, painted and still."""
    app = pilot.app
    assert isinstance(app, SampleApp)
    deadline = time.monotonic() + timeout
    while not app.scene_ready:
        if time.monotonic() > deadline:
            raise TimeoutError(f"scene {app.scene!r} not ready after {timeout:.0f}s")
        await pilot.pause(0.02)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def _connected(app: PortholeApp, screen: Screen[None]) -> None:
    app.sub_title = SUB_TITLE
    await app.push_screen(screen)


async def _session(
    app: PortholeApp, roster: Roster, me: int, *, controller_name: str | None = None
) -> SessionScreen:
    app.sub_title = SUB_TITLE
    organizer = me == OLGA
    screen = SessionScreen(SESSION_ID, SECURITY_CODE, organizer, LINK if organizer else "")
    app.session_screen = screen
    await app.push_screen(screen)
    screen.show_view(SessionView.from_roster(roster, me=me))
    if controller_name is not None:
        screen.show_control(controller_name, "")
    return screen


async def connect(app: PortholeApp) -> None:
    """The first screen, as ``porthole`` opens it (already there: nothing to do)."""


async def login(app: PortholeApp) -> None:
    await _connected(app, LoginScreen("olga"))


async def create(app: PortholeApp) -> None:
    await _connected(app, CreateScreen("Olga"))


async def join(app: PortholeApp) -> None:
    await _connected(app, JoinScreen(SESSION_ID, "Ana"))


async def session_organizer(app: PortholeApp) -> None:
    """Olga's session with Ana in it."""
    screen = await _session(app, organizer_roster(), OLGA)
    screen.log_line("Ana (203.0.113.24) is knocking.")
    screen.log_line("Admitted Ana.")


async def session_watching(app: PortholeApp) -> None:
    """Ben's view while Ana presents."""
    await _session(app, presenting_roster(controller=None), BEN)


async def session_controlled(app: PortholeApp) -> None:
    """Ana presents and Ben controls her screen: the banner says so, and how to revoke."""
    await _session(app, presenting_roster(), ANA, controller_name="Ben")


async def session_transfers(app: PortholeApp) -> None:
    """Olga sends a log to Ana while Ana's fix comes back: the transfers panel above the log."""
    screen = await _session(app, organizer_roster(), OLGA)
    screen.show_transfer(
        ("send", ANA, 1), "→ install.log to Ana · 62% of 48.0 MiB · 11.3 MiB/s · 0:01 left"
    )
    screen.show_transfer(("receive", ANA, 1), "← fix-config.sh from Ana · asking you")
    screen.log_line(
        "Received notes.txt from Ana (SHA-256 checked): saved as ~/Downloads/notes.txt."
    )


async def dialog_file_offer(app: PortholeApp) -> None:
    await _session(app, organizer_roster(), OLGA)
    await app.push_screen(
        FileOfferDialog("Ana", "fix-config.sh", 2_345, Path("/home/olga/Downloads"))
    )


async def dialog_send_file(app: PortholeApp) -> None:
    await _session(app, organizer_roster(), OLGA)
    await app.push_screen(SendFileDialog([(ANA, "Ana")]))


async def dialog_admit(app: PortholeApp) -> None:
    await _session(app, organizer_roster(), OLGA)
    await app.push_screen(AdmitDialog(BEN, "Ben", "198.51.100.7"))


async def dialog_become_presenter(app: PortholeApp) -> None:
    await _session(app, organizer_roster(), ANA)
    await app.push_screen(BecomePresenterDialog("Olga", app.sharing_description()))


async def dialog_grant_control(app: PortholeApp) -> None:
    await _session(app, presenting_roster(controller=None), ANA)
    await app.push_screen(GrantControlDialog("Ben", revoke_hotkey_label("linux")))


async def dialog_take_back(app: PortholeApp) -> None:
    await _session(app, presenting_roster(controller=None), OLGA)
    await app.push_screen(TakeBackDialog(app.sharing_description(), current_presenter="Ana"))


async def dialog_end_session(app: PortholeApp) -> None:
    await _session(app, organizer_roster(), OLGA)
    await app.push_screen(EndSessionDialog(1))


async def dialog_trust(app: PortholeApp) -> None:
    await app.push_screen(TrustDialog(RELAY_HOST, RELAY_PORT, FINGERPRINT))


async def dialog_error(app: PortholeApp) -> None:
    await app.push_screen(
        ErrorDialog(
            "Could not join",
            "No session 482 913 570 accepts that password.",
            "Check the session ID and password with the organizer.",
        )
    )


#: Every sample state by name (the names become file and snapshot names).
SCENES: Final[dict[str, Callable[[PortholeApp], Awaitable[None]]]] = {
    "connect": connect,
    "login": login,
    "create": create,
    "join": join,
    "session-organizer": session_organizer,
    "session-watching": session_watching,
    "session-controlled": session_controlled,
    "session-transfers": session_transfers,
    "dialog-admit": dialog_admit,
    "dialog-become-presenter": dialog_become_presenter,
    "dialog-grant-control": dialog_grant_control,
    "dialog-take-back": dialog_take_back,
    "dialog-end-session": dialog_end_session,
    "dialog-trust": dialog_trust,
    "dialog-error": dialog_error,
    "dialog-file-offer": dialog_file_offer,
    "dialog-send-file": dialog_send_file,
}
