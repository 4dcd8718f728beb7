"""What the session screen shows, derived from the relay's roster: pure, no I/O, easy to test.

The rules of docs/design.md §5.1 live once in :mod:`core.rules`; the TUI offers exactly the actions
:func:`core.rules.possible_actions` allows for this member right now, so a key that would be
refused is not even shown.
"""

from __future__ import annotations

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
    def from_roster(cls, roster: Roster, me: int) -> SessionView:
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
            rows.append(
                MemberRow(
                    peer_id=entry.peer_id,
                    name=entry.name,
                    roles=tuple(roles),
                    connection=_connection_words(entry.state),
                    is_me=entry.peer_id == me,
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
