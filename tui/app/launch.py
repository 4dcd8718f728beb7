"""Start the Textual client for each entry point: ``porthole``, ``join``, ``create``, ``demo``.

``porthole demo`` embeds a relay: it runs in the app's own trio guest (so it shares the one
thread and stops with the app), with a throw-away data directory and organizer account, and the
app logs in and creates a password-less session at once, so a first-time user lands on the
session screen with the command to type in a second terminal.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from core.client import AdmitPolicy
from tui.app.app import PortholeApp
from tui.app.bridge import TrioGuest
from tui.app.driver import Driver
from tui.app.messages import Failed
from tui.app.start import RelayTarget, Start
from tui.demo_relay import DEMO_ORGANIZER, prepare_demo_relay

if TYPE_CHECKING:
    from relay.config import RelayConfig


def run_app(start: Start | None = None) -> int:
    """Run the client until the person quits; returns the exit status."""
    result = PortholeApp(start).run()
    return int(result or 0)


def run_demo_app(*, port: int = 0, name: str = "Organizer") -> int:
    with tempfile.TemporaryDirectory(prefix="porthole-demo-") as tmp:
        app = demo_app(Path(tmp) / "relay", port=port, name=name)
        result = app.run()
    return int(result or 0)


def demo_app(data_dir: Path, *, port: int = 0, name: str = "Organizer") -> PortholeApp:
    """The demo: an embedded relay on loopback plus the client as its organizer."""
    config, password = prepare_demo_relay(data_dir, port=port)

    async def prepare(guest: TrioGuest, driver: Driver) -> None:
        guest.start_soon(_demo_network, driver, config, password, name)

    app = PortholeApp(Start(name=name, create_now=True, organize=True), prepare=prepare)
    app.sub_title = "demo: a relay inside this program, gone when you quit"
    return app


async def _demo_network(driver: Driver, config: RelayConfig, password: str, name: str) -> None:
    from relay.server import serve_relay  # the one client path that runs a relay

    async with trio.open_nursery() as nursery:
        try:
            info = await nursery.start(serve_relay, config)
        except OSError as exc:
            driver.post(
                Failed(
                    "Cannot start the demo relay",
                    f"Port {config.port}: {exc.strerror}.",
                    "Choose another port with --port, or leave it out for any free port.",
                )
            )
            return

        async def organize() -> None:
            await driver.login(DEMO_ORGANIZER, password)
            await driver.create(
                name=name,
                session_id=None,
                password="",
                admit_policy=AdmitPolicy.ASK,
                present=False,
            )

        target = RelayTarget("127.0.0.1", info.port, info.fingerprint)
        await driver.connect(target, then=lambda: nursery.start_soon(organize))
        # The session is over, but the relay stays up until the app quits: the person may
        # connect again from the connect screen (the guest cancels everything on quit).
        await trio.sleep_forever()
