"""A line-mode session console: roster, knocks, consent prompts and chat on a plain terminal.

``/view`` opens the presenter's screen in the same native viewer window as the app
(:mod:`tui.app.watching`), and ``/control`` asks for remote control, which that window then
sends while the presenter allows it.

This is what ``porthole demo``, ``join`` and ``create`` run without a terminal or with
``--console``: every
line in is a command or a chat message, every event out is one readable line. It never prints
anything it did not validate (names and chat have passed the wire codec's control-character
checks), and it holds chat only long enough to print it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from core.client import OrganizerSession, SessionBase
from core.client.events import (
    ActionAnswered,
    ConsentRequested,
    ContentReceived,
    GuessingSuspected,
    JoinAttemptFailed,
    KnockReceived,
    KnockWithdrawn,
    RelayError,
    RosterChanged,
    SessionClosed,
    UpdatesDropped,
)
from core.guessing import guessing_sentence
from core.protocol.content import Chat, Cursor, FrameUpdate
from core.protocol.messages import ActionCode, ActionOutcome, Roster
from tui.app.model import SessionView
from tui.app.watching import WindowWatch
from tui.integrity import INTEGRITY_EVENTS, integrity_sentence

Print = Callable[[str], None]

HELP = """\
commands:  y / n        admit or decline the oldest waiting knock (organizer)
           /who         list members
           /view        show the presenter's screen in the viewer window
           /control     ask the presenter for remote control (steer it in that window)
           /release     give remote control back
           /lock        lock the session (organizer)      /unlock
           /kick ID     remove a member (organizer)
           /end         end the session (organizer)
           /leave       leave the session
           /help        this text
anything else is sent to everyone as chat (end-to-end encrypted)."""


def _print(line: str) -> None:
    print(line, flush=True)


def describe_roster(
    roster: Roster,
    shown_as: Callable[[int, str], tuple[str, str | None]] = lambda _peer, name: (name, None),
) -> str:
    """One line; ``shown_as`` (:meth:`SessionBase.shown_as`) gives each member's certified
    name and identity key fingerprint."""
    parts = []
    for entry in roster.members:
        name, key = shown_as(entry.peer_id, entry.name)
        tags = []
        if key is not None:
            tags.append(f"key {key}")
        if entry.is_organizer:
            tags.append("organizer")
        if entry.peer_id == roster.presenter:
            tags.append("presenting")
        if entry.peer_id == roster.controller:
            tags.append("has control")
        suffix = f" ({', '.join(tags)})" if tags else ""
        parts.append(f"#{entry.peer_id} {name}{suffix}")
    lock = " · locked" if roster.locked else ""
    return f"members: {', '.join(parts)}{lock}"


_ACTION_WORDS = {
    ActionCode.PROPOSE_PRESENTER: "to make you the presenter (share your screen)",
    ActionCode.REQUEST_CONTROL: "for remote control of your screen",
    ActionCode.HAND_TO_ORGANIZER: "to hand presenting over to you",
}


@dataclass
class Console:
    """Feeds one session's events to the screen and the keyboard's lines to the session."""

    session: SessionBase
    out: Print = _print
    waiting_knocks: list[KnockReceived] = field(default_factory=list)
    finished: trio.Event = field(default_factory=trio.Event)
    #: The viewer window, once the person typed /view (a line console opens no window unasked).
    watch: WindowWatch | None = None
    viewer_env: dict[str, str] | None = None
    _nursery: trio.Nursery | None = field(default=None, repr=False)

    def name_of(self, peer_id: int | None) -> str:
        roster = self.session.roster
        if roster is not None:
            for entry in roster.members:
                if entry.peer_id == peer_id:
                    return entry.name
        return f"#{peer_id}"

    async def show_events(self) -> None:
        async for event in self.session.events:
            self.show(event)
            await self._to_window(event)
            if isinstance(event, ConsentRequested):
                # This console cannot capture a screen or be controlled yet: say no, visibly.
                await self.session.answer_consent(event.consent_id, granted=False)
                self.out("  → declined: this console cannot share a screen yet.")
        self.finished.set()

    async def _to_window(self, event: object) -> None:
        watch = self.watch
        if watch is None:
            return
        match event:
            case RosterChanged(roster=roster):
                watch.follow(SessionView.from_roster(roster, self.session.peer_id))
            case ContentReceived(message=FrameUpdate() as update):
                await watch.on_update(update)
            case ContentReceived(message=Cursor() as cursor):
                await watch.on_cursor(cursor)
            case UpdatesDropped():
                await watch.on_dropped()

    def _tell(self, text: str, severity: str) -> None:
        self.out(f"! {text}" if severity == "error" else text)

    def _open_window(self, nursery: trio.Nursery) -> None:
        roster = self.session.roster
        if self.watch is None:
            self.watch = WindowWatch(
                self.session,
                nursery,
                self._tell,
                env=self.viewer_env,
                reopen_hint="type /view to open it again",
            )
        if roster is None or roster.presenter in (None, self.session.peer_id):
            self.out("nobody else is presenting; the window opens when someone does.")
        self.watch.reopen(
            SessionView.from_roster(roster, self.session.peer_id) if roster is not None else None
        )

    def show(self, event: object) -> None:
        match event:
            case RosterChanged(roster=roster):
                self.out(describe_roster(roster, self.session.shown_as))
            case KnockReceived(needs_approval=True) as knock:
                self.waiting_knocks.append(knock)
                self.out(
                    f"{knock.name} ({knock.origin}) wants to join: type y to admit, n to decline."
                )
            case KnockReceived() as knock:
                self.out(f"{knock.name} ({knock.origin}) proved the password and is joining.")
            case KnockWithdrawn(peer_id=peer_id):
                self.waiting_knocks = [k for k in self.waiting_knocks if k.peer_id != peer_id]
                self.out(f"knock #{peer_id} was withdrawn.")
            case JoinAttemptFailed() as failed:
                self.out(failed.sentence)
            case GuessingSuspected(failures=failures):
                self.out(guessing_sentence(failures, "type /end to end this session"))
            case ContentReceived(message=Chat(text=text)) as content:
                self.out(f"{self.name_of(content.sender)}: {text}")
            case ConsentRequested(action=action, actor=actor):
                what = _ACTION_WORDS.get(action, action.name.lower().replace("_", " "))
                self.out(f"{self.name_of(actor)} asks {what}.")
            case ActionAnswered(outcome=ActionOutcome.REFUSED, message=message):
                self.out(f"refused: {message}")
            case RelayError(message=message):
                self.out(f"relay: {message}")
            case UpdatesDropped(count=count):
                self.out(f"(the relay dropped {count} updates: this connection is slow)")
            case SessionClosed(message=message):
                self.out(f"session over: {message}")
            case _ if isinstance(event, INTEGRITY_EVENTS):
                sentence, warning = integrity_sentence(event, self.name_of)
                self.out(f"! {sentence}" if warning else sentence)

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False means the user is done."""
        text = line.strip()
        if not text:
            return True
        session = self.session
        if text in ("y", "n") and isinstance(session, OrganizerSession) and self.waiting_knocks:
            knock = self.waiting_knocks.pop(0)
            if text == "y":
                await session.admit(knock.peer_id)
            else:
                await session.decline(knock.peer_id)
            return True
        command, _, argument = text.partition(" ")
        match command:
            case "/help":
                self.out(HELP)
            case "/view":
                assert self._nursery is not None
                self._open_window(self._nursery)
            case "/control":
                await session.request(ActionCode.REQUEST_CONTROL)
                if self.watch is None:
                    self.out("asked; type /view to see the screen and steer it once allowed.")
                else:
                    self.out("asked; steer in the viewer window once the presenter allows it.")
            case "/release":
                await session.request(ActionCode.RELEASE_CONTROL)
            case "/who":
                if session.roster is not None:
                    self.out(describe_roster(session.roster, session.shown_as))
            case "/lock":
                await session.request(ActionCode.LOCK)
            case "/unlock":
                await session.request(ActionCode.UNLOCK)
            case "/end":
                await session.request(ActionCode.END_SESSION)
            case "/kick":
                if not argument.strip().lstrip("#").isdigit():
                    self.out("usage: /kick ID   (the #number shown in the member list)")
                else:
                    await session.request(ActionCode.KICK, int(argument.strip().lstrip("#")))
            case "/leave":
                await session.leave()
                return False
            case _ if command.startswith("/"):
                self.out(f"unknown command {command}; /help lists them")
            case _:
                await session.send_content(Chat(text=text[:4000]))
                own = session.integrity.last_chat_seq
                self.out(f"{self.name_of(session.peer_id)} (you) [{own}]: {text[:4000]}")
        return True

    async def run(self) -> None:
        """Show events and read lines until the session ends or stdin closes."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.show_events)

            async def read_lines() -> None:
                while True:
                    # Abandoned on cancel: a blocked readline must not hold the exit hostage.
                    line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
                    if not line or not await self.handle_line(line):
                        if session_open(self.session):
                            await self.session.leave()
                        return

            nursery.start_soon(read_lines)
            await self.finished.wait()
            nursery.cancel_scope.cancel()


def session_open(session: SessionBase) -> bool:
    return session.closed is None
