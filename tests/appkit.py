"""Helpers for driving the porthole client app with Pilot against a real relay.

The relay runs in its own trio run on a thread (:class:`adminkit.RelayThread`); the app runs on
the test's asyncio loop with its own trio guest, exactly as in production. The other people in a
session are real clients (:class:`Peer`) living in the relay thread's trio run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import trio
from adminkit import RelayThread
from pilotkit import until
from relaykit import ORGANIZER, ORGANIZER_PASSWORD
from sessionkit import connect
from textual.pilot import Pilot
from textual.widgets import Input

from core.client import OrganizerSession, RelayClient, RequestRefused, SessionBase
from core.client.events import SessionClosed, SessionEvent
from core.known_relays import KnownRelays
from tui.app.app import PortholeApp, Start
from tui.app.start import RelayTarget

E = TypeVar("E")
SIZE = (80, 24)
WAIT = 10.0
SESSION_PASSWORD = "tangerine-7"


async def on_screen(pilot: Pilot[Any], kind: type, timeout: float = WAIT) -> Any:
    await until(
        pilot, lambda: isinstance(pilot.app.screen, kind), f"{kind.__name__} shows", timeout
    )
    await pilot.pause()  # let the screen's own on_mount (its initial focus) run first
    await pilot.pause()
    return pilot.app.screen


async def type_into(pilot: Pilot[Any], field_id: str, text: str) -> None:
    """Focus an input by id, clear it, and type ``text`` key by key."""
    widget = pilot.app.screen.query_one(f"#{field_id}", Input)
    widget.focus()
    await pilot.pause()
    widget.value = ""
    await pilot.press(*text)
    assert widget.value == text, f"typing into #{field_id} gave {widget.value!r}"


def make_app(relay: RelayThread, tmp_path: Path, start: Start | None = None) -> PortholeApp:
    """An app whose trust store lives in ``tmp_path`` (nothing of the user's is touched)."""
    return PortholeApp(start, known_relays=KnownRelays(tmp_path / "known_relays"))


def target(relay: RelayThread, *, pinned: bool = True) -> RelayTarget:
    info = relay.info
    assert info is not None
    return RelayTarget("127.0.0.1", info.port, info.fingerprint if pinned else None)


@dataclass(eq=False)
class Peer:
    """Another person in the session: a real client in the relay thread's trio run."""

    relay: RelayThread
    name: str
    session: SessionBase | None = None
    events: list[SessionEvent] = field(default_factory=list)
    refused: RequestRefused | None = None
    client: RelayClient | None = None
    #: Called with every session event in the relay thread's trio run (file transfers).
    hooks: list[Callable[[SessionEvent], Coroutine[Any, Any, None]]] = field(default_factory=list)
    _done: trio.Event | None = None

    @property
    def peer_id(self) -> int:
        assert self.session is not None
        return self.session.peer_id

    @classmethod
    async def organize(
        cls, relay: RelayThread, name: str = "Olga", *, password: str = SESSION_PASSWORD
    ) -> Peer:
        peer = cls(relay, name)

        async def create(client: RelayClient) -> SessionBase:
            await client.login(ORGANIZER, ORGANIZER_PASSWORD)
            return await client.create_session(name=name, password=password)

        await peer._start(create)
        await peer.wait(lambda: peer.session is not None, "the session exists")
        return peer

    @classmethod
    async def knock(
        cls, relay: RelayThread, session_id: str, name: str, *, password: str = ""
    ) -> Peer:
        """Start joining in the background (it may wait for the organizer's approval)."""
        peer = cls(relay, name)

        async def join(client: RelayClient) -> SessionBase:
            return await client.join(session_id, name=name, password=password)

        await peer._start(join)
        return peer

    async def _start(
        self, enter: Callable[[RelayClient], Coroutine[Any, Any, SessionBase]]
    ) -> None:
        info = self.relay.info
        assert info is not None

        async def hold() -> None:
            self._done = trio.Event()
            try:
                async with connect(info.port, info.fingerprint) as client:
                    self.client = client
                    try:
                        self.session = await enter(client)
                    except RequestRefused as exc:
                        self.refused = exc
                        return
                    async for event in self.session.events:
                        self.events.append(event)
                        for hook in self.hooks:
                            await hook(event)
                        if isinstance(event, SessionClosed):
                            break
            finally:
                self._done.set()

        async def spawn() -> None:
            assert self.relay.nursery is not None
            self.relay.nursery.start_soon(hold)

        await self.relay.call(spawn)

    async def wait(self, check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out waiting until {what}")
            await asyncio.sleep(0.05)

    async def event(
        self, kind: type[E], where: Callable[[E], bool] = lambda _: True, what: str = ""
    ) -> E:
        found: list[E] = []

        def check() -> bool:
            found[:] = [e for e in self.events if isinstance(e, kind) and where(e)]
            return bool(found)

        await self.wait(check, what or f"a {kind.__name__}")
        return found[-1]

    async def do(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        """Run ``fn(*args)`` in the relay thread's trio run (where this client lives)."""
        return await self.relay.call(fn, *args)

    @property
    def organizer(self) -> OrganizerSession:
        assert isinstance(self.session, OrganizerSession)
        return self.session

    def roster_names(self) -> list[str]:
        roster = self.session.roster if self.session is not None else None
        return [e.name for e in roster.members] if roster is not None else []
