"""The state the session rules reason about, and nothing else.

:class:`SessionState` is the smallest picture of a session that decides every row of the rules
(docs/design.md §5.1):
who organizes, who is in, who presents, who controls, and the three switches (locked, paused,
ended). It deliberately holds no names, keys or connections: the relay and the clients keep those
next to it, and both can rebuild the same state from the roster, so they reach the same verdicts.

States are immutable. A transition returns a new state (``dataclasses.replace``), which lets a
client try an action against the state it sees without disturbing it, and lets tests keep every
intermediate state around.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PeerId = int
"""A relay-assigned member id (u32). ``0`` is never a member, so it can mean "nobody"."""

MAX_PEER_ID = 2**32 - 1


def is_valid_peer_id(peer: PeerId) -> bool:
    """A peer id that the relay could have assigned: a u32 other than the reserved ``0``."""
    return 0 < peer <= MAX_PEER_ID


class Role(StrEnum):
    """What a person sees next to a member's name in the roster."""

    ORGANIZER = "organizer"
    PRESENTER = "presenter"
    PARTICIPANT = "participant"


@dataclass(frozen=True, slots=True)
class SessionState:
    """One session as the rules see it.

    ``has_presented`` remembers the participants who agreed to present at some point in this
    session: the rules (docs/design.md §5.1) let the organizer take presenting back from such a
    participant without asking them again. It never contains the organizer (whose consent is asked
    every time anyway) and forgets members who leave, since a peer id is never reused for someone
    else's consent.
    """

    organizer: PeerId
    members: frozenset[PeerId]
    presenter: PeerId | None = None
    controller: PeerId | None = None
    has_presented: frozenset[PeerId] = frozenset()
    locked: bool = False
    paused: bool = False
    ended: bool = False
    has_password: bool = False

    @property
    def participants(self) -> frozenset[PeerId]:
        """Every member except the organizer."""
        return self.members - {self.organizer}


def new_session(organizer: PeerId, *, has_password: bool, organizer_presents: bool) -> SessionState:
    """The state right after the organizer created the session.

    Creating a session with presenting switched on *is* the organizer's consent to present, so
    the organizer starts as presenter without a further confirmation.
    """
    if not is_valid_peer_id(organizer):
        raise ValueError(f"peer id {organizer} cannot be a member")
    return SessionState(
        organizer=organizer,
        members=frozenset({organizer}),
        presenter=organizer if organizer_presents else None,
        has_password=has_password,
    )


def roles_of(state: SessionState, peer: PeerId) -> frozenset[Role]:
    """Every role ``peer`` holds: an organizer who presents is both organizer and presenter.

    A non-member has no role at all, which is what a roster should show for a stale id.
    """
    if peer not in state.members:
        return frozenset()
    roles = {Role.ORGANIZER if peer == state.organizer else Role.PARTICIPANT}
    if peer == state.presenter:
        roles.add(Role.PRESENTER)
    return frozenset(roles)


def invariant_violations(state: SessionState) -> tuple[str, ...]:
    """Every way ``state`` breaks the rules' invariants (empty when it is sound).

    Transitions from :func:`new_session` always keep these; the function exists for states rebuilt
    from a roster a peer sent, and for tests. Each entry is a sentence naming the broken promise.
    """
    problems: list[str] = []
    if not is_valid_peer_id(state.organizer) or state.organizer not in state.members:
        problems.append("the organizer must be a member")
    if any(not is_valid_peer_id(peer) for peer in state.members):
        problems.append("every member id must be a non-zero u32")
    if state.presenter is not None and state.presenter not in state.members:
        problems.append("the presenter must be a member")
    if state.controller is not None:
        if state.controller not in state.members:
            problems.append("the controller must be a member")
        if state.controller == state.presenter:
            problems.append("the presenter cannot control their own screen")
        if state.presenter is None or state.paused:
            problems.append("remote control needs a presenter who is sharing")
    if not state.has_presented <= state.participants:
        problems.append("only participants who are members can have presented")
    if state.presenter in state.participants and state.presenter not in state.has_presented:
        problems.append("a presenting participant must be recorded as having presented")
    if state.paused and state.presenter is None:
        problems.append("only a presenter can be paused")
    if state.ended and (state.presenter is not None or state.controller is not None):
        problems.append("an ended session has no presenter and no controller")
    return tuple(problems)
