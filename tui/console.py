"""A line-mode session console: roster, knocks, consent prompts and chat on a plain terminal.

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
from core.protocol.content import Chat
from core.protocol.messages import ActionCode, ActionOutcome, Roster

Print = Callable[[str], None]

HELP = """\
commands:  y / n        admit or decline the oldest waiting knock (organizer)
           /who         list members
           /lock        lock the session (organizer)      /unlock
           /kick ID     remove a member (organizer)
           /end         end the session (organizer)
           /leave       leave the session
           /help        this text
anything else is sent to everyone as chat (end-to-end encrypted)."""


def _print(line: str) -> None:
    print(line, flush=True)


def describe_roster(roster: Roster) -> str:
    parts = []
    for entry in roster.members:
        tags = []
        if entry.is_organizer:
            tags.append("organizer")
        if entry.peer_id == roster.presenter:
            tags.append("presenting")
        if entry.peer_id == roster.controller:
            tags.append("has control")
        suffix = f" ({', '.join(tags)})" if tags else ""
        parts.append(f"#{entry.peer_id} {entry.name}{suffix}")
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
            if isinstance(event, ConsentRequested):
                # This console cannot capture a screen or be controlled yet: say no, visibly.
                await self.session.answer_consent(event.consent_id, granted=False)
                self.out("  → declined: this console cannot share a screen yet.")
        self.finished.set()

    def show(self, event: object) -> None:
        match event:
            case RosterChanged(roster=roster):
                self.out(describe_roster(roster))
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
            case "/who":
                if session.roster is not None:
                    self.out(describe_roster(session.roster))
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
        return True

    async def run(self) -> None:
        """Show events and read lines until the session ends or stdin closes."""
        async with trio.open_nursery() as nursery:
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
