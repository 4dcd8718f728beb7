"""Start the Textual client for each entry point: ``porthole``, ``join``, ``create``, ``demo``.

``porthole demo`` comes with a relay: a child process (:class:`tui.demo_relay.DemoRelayProcess`,
started by the command before it imported Textual, stopped when the app ends) with a throw-away
data directory and organizer account. The app logs in and creates a password-less session at
once, so a first-time user lands on the session screen with the command to type in a second
terminal.
"""

from __future__ import annotations

import trio

from core.client import AdmitPolicy
from tui.app.app import PortholeApp
from tui.app.bridge import TrioGuest
from tui.app.driver import Driver
from tui.app.messages import Failed
from tui.app.start import RelayTarget, Start
from tui.demo_relay import DEMO_ORGANIZER, DemoRelayFailed, DemoRelayProcess


def run_app(start: Start | None = None) -> int:
    """Run the client until the person quits; returns the exit status."""
    result = PortholeApp(start).run()
    return int(result or 0)


def run_demo_app(relay: DemoRelayProcess, *, name: str = "Organizer") -> int:
    result = demo_app(relay, name=name).run()
    return int(result or 0)


def demo_app(relay: DemoRelayProcess, *, name: str = "Organizer") -> PortholeApp:
    """The demo: the client as organizer on the relay of ``relay`` (the caller stops it)."""

    async def prepare(guest: TrioGuest, driver: Driver) -> None:
        guest.start_soon(_demo_network, driver, relay, name)

    app = PortholeApp(Start(name=name, create_now=True, organize=True), prepare=prepare)
    app.sub_title = "demo: a relay beside this program, gone when you quit"
    return app


async def _demo_network(driver: Driver, relay: DemoRelayProcess, name: str) -> None:
    try:
        # Usually ready already: it started before this process imported Textual.
        ready = await trio.to_thread.run_sync(relay.wait_ready, abandon_on_cancel=True)
    except DemoRelayFailed as exc:
        driver.post(
            Failed(
                "Cannot start the demo relay",
                str(exc),
                "Choose another port with --port, or leave it out for any free port.",
            )
        )
        return

    async def organize() -> None:
        await driver.login(DEMO_ORGANIZER, ready.password)
        await driver.create(
            name=name,
            session_id=None,
            password="",
            admit_policy=AdmitPolicy.ASK,
            present=False,
        )

    target = RelayTarget("127.0.0.1", ready.port, ready.fingerprint)
    async with trio.open_nursery() as nursery:
        # The relay outlives this session until the app quits: the person may connect to it
        # again from the connect screen.
        await driver.connect(target, then=lambda: nursery.start_soon(organize))
