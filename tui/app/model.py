"""What the session screen shows, derived from the relay's roster: pure, no I/O, easy to test.

The rules of docs/design.md §5.1 live once in :mod:`core.rules`; the TUI offers exactly the actions
:func:`core.rules.possible_actions` allows for this member right now, so a key that would be
refused is not even shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.protocol.messages import MemberState, Roster
from core.rules import Action, SessionState, possible_actions


@dataclass(frozen=True, slots=True)
class MemberRow:
    peer_id: int
    name: str
    roles: tuple[str, ...]
    connection: str
    is_me: bool
    #: Short fingerprint of the identity key the leader verified for this member, if any.
    key: str | None = None


@dataclass(frozen=True, slots=True)
class SessionView:
    """One roster as this member sees it."""

    session_id: str
    me: int
    members: tuple[MemberRow, ...]
    presenter: int | None
    controller: int | None
    organizer: int | None
    paused: bool
    locked: bool
    has_password: bool
    actions: frozenset[Action]

    @classmethod
    def from_roster(
        cls,
        roster: Roster,
        me: int,
        shown_as: Callable[[int, str], tuple[str, str | None]] | None = None,
    ) -> SessionView:
        """``shown_as`` (:meth:`SessionBase.shown_as`) gives a member's name and identity key
        fingerprint from the certificates the leader signed; without it, the relay's names."""
        organizer = next((e.peer_id for e in roster.members if e.is_organizer), None)
        rows = []
        for entry in roster.members:
            roles = []
            if entry.is_organizer:
                roles.append("organizer")
            if entry.peer_id == roster.presenter:
                roles.append("presenter")
            if entry.peer_id == roster.controller:
                roles.append("controls")
            if not roles:
                roles.append("participant")
            name, key = (
                (entry.name, None) if shown_as is None else shown_as(entry.peer_id, entry.name)
            )
            rows.append(
                MemberRow(
                    peer_id=entry.peer_id,
                    name=name,
                    roles=tuple(roles),
                    connection=_connection_words(entry.state),
                    is_me=entry.peer_id == me,
                    key=key,
                )
            )
        actions: frozenset[Action] = frozenset()
        if organizer is not None and any(e.peer_id == me for e in roster.members):
            state = state_from_roster(roster, organizer)
            actions = possible_actions(state, me)
        return cls(
            session_id=roster.session_id,
            me=me,
            members=tuple(rows),
            presenter=roster.presenter,
            controller=roster.controller,
            organizer=organizer,
            paused=roster.paused,
            locked=roster.locked,
            has_password=roster.has_password,
            actions=actions,
        )

    def name_of(self, peer_id: int | None) -> str:
        for row in self.members:
            if row.peer_id == peer_id:
                return row.name
        return "nobody" if peer_id is None else f"#{peer_id}"

    @property
    def i_present(self) -> bool:
        return self.presenter == self.me

    @property
    def i_organize(self) -> bool:
        return self.organizer == self.me

    @property
    def i_control(self) -> bool:
        return self.controller == self.me

    @property
    def others(self) -> tuple[MemberRow, ...]:
        return tuple(row for row in self.members if not row.is_me)


def state_from_roster(roster: Roster, organizer: int) -> SessionState:
    """The rules' view of a roster (the relay enforces the same table on its own state)."""
    return SessionState(
        organizer=organizer,
        members=frozenset(e.peer_id for e in roster.members),
        presenter=roster.presenter,
        controller=roster.controller,
        has_presented=frozenset(roster.has_presented),
        locked=roster.locked,
        paused=roster.paused,
        has_password=roster.has_password,
    )


def _connection_words(state: MemberState) -> str:
    return state.name.lower().replace("_", " ")


def changes(
    before: SessionView | None, after: SessionView, removed: frozenset[int] = frozenset()
) -> list[str]:
    """Log lines for what changed between two rosters, as this member should read them.

    Who joined, left or was removed (``removed``: whom this member asked the relay to remove),
    who presents, pause and resume, lock and unlock, and remote control
    between other members (the presenter's own "X controls your screen" comes from the control
    guard instead, which knows the reason a grant ended). The first roster says nothing: the
    screen itself shows it.
    """
    if before is None:
        return []
    lines: list[str] = []
    old = {row.peer_id: row for row in before.members}
    new = {row.peer_id: row for row in after.members}
    lines += [f"{new[p].name} joined." for p in new if p not in old and p != after.me]
    lines += [
        f"{old[p].name} was removed." if p in removed else f"{old[p].name} left."
        for p in old
        if p not in new
    ]
    if after.presenter != before.presenter:
        if after.presenter is None:
            lines.append("Nobody is presenting now.")
        elif after.i_present:
            lines.append("You are presenting now.")
        else:
            lines.append(f"{after.name_of(after.presenter)} is presenting now.")
    if after.paused != before.paused and after.presenter is not None:
        who = "You" if after.i_present else after.name_of(after.presenter)
        lines.append(f"{who} paused the screen." if after.paused else f"{who} resumed sharing.")
    if after.locked != before.locked:
        lines.append(
            "The session is locked: nobody new can join."
            if after.locked
            else "The session is unlocked: people can knock again."
        )
    if after.controller != before.controller and not after.i_present:
        presenter = after.name_of(after.presenter)
        if after.controller is None:
            who = "Your" if before.controller == after.me else "The"
            lines.append(f"{who} remote control ended.")
        elif after.i_control:
            lines.append(f"You now control {presenter}'s screen.")
        else:
            lines.append(f"{after.name_of(after.controller)} now controls {presenter}'s screen.")
    return lines
