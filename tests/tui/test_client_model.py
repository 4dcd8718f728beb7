"""What the session screen shows and offers, derived from real rosters by the session rules."""

from __future__ import annotations

from core.protocol.messages import MemberState, Roster, RosterEntry
from core.rules import Action
from tui.app.model import SessionView, changes
from tui.app.watching import viewer_state
from tui.viewer.link import ViewerState


def roster(
    *,
    presenter: int | None = None,
    controller: int | None = None,
    paused: bool = False,
    locked: bool = False,
    has_presented: tuple[int, ...] = (),
    ana_state: MemberState = MemberState.CONNECTED,
    without: tuple[int, ...] = (),
) -> Roster:
    entries = (
        RosterEntry(1, "Olga", True, MemberState.CONNECTED),
        RosterEntry(2, "Ana", False, ana_state),
        RosterEntry(3, "Ben", False, MemberState.CONNECTED),
    )
    return Roster(
        session_id="123456789",
        members=tuple(e for e in entries if e.peer_id not in without),
        presenter=presenter,
        controller=controller,
        has_presented=has_presented,
        locked=locked,
        paused=paused,
        has_password=True,
    )


def test_roles_and_the_organizers_keys_follow_the_rules() -> None:
    view = SessionView.from_roster(roster(presenter=2, controller=3), me=1)
    assert [row.roles for row in view.members] == [
        ("organizer",),
        ("presenter",),
        ("controls",),
    ]
    assert view.i_organize
    assert not view.i_present
    assert Action.KICK in view.actions
    assert Action.REQUEST_CONTROL not in view.actions, "Ben holds control"
    assert Action.TAKE_BACK not in view.actions, "Ana has not presented before: she is asked"
    again = SessionView.from_roster(roster(presenter=2, has_presented=(2,)), me=1)
    assert Action.TAKE_BACK in again.actions
    assert Action.REQUEST_CONTROL in again.actions


def test_a_participant_is_offered_only_what_participants_may_do() -> None:
    viewer = SessionView.from_roster(roster(presenter=1), me=3)
    assert viewer.actions & {Action.KICK, Action.LOCK, Action.END_SESSION, Action.PAUSE} == set()
    assert Action.REQUEST_CONTROL in viewer.actions
    presenter = SessionView.from_roster(roster(presenter=3), me=3)
    assert {Action.PAUSE, Action.GRANT_CONTROL, Action.END_SESSION} <= presenter.actions
    assert Action.REQUEST_CONTROL not in presenter.actions


def test_the_viewer_overlay_follows_pause_and_the_presenters_connection() -> None:
    assert viewer_state(SessionView.from_roster(roster(presenter=2), me=3)) is ViewerState.LIVE
    paused = SessionView.from_roster(roster(presenter=2, paused=True), me=3)
    assert viewer_state(paused) is ViewerState.PAUSED
    away = SessionView.from_roster(
        roster(presenter=2, paused=True, ana_state=MemberState.RECONNECTING), me=3
    )
    assert viewer_state(away) is ViewerState.RECONNECTING


def log_of(
    before: Roster, after: Roster, me: int, removed: frozenset[int] = frozenset()
) -> list[str]:
    return changes(
        SessionView.from_roster(before, me=me), SessionView.from_roster(after, me=me), removed
    )


def test_the_log_says_who_came_went_or_was_removed() -> None:
    assert changes(None, SessionView.from_roster(roster(), me=1)) == []
    assert log_of(roster(without=(2,)), roster(), me=1) == ["Ana joined."]
    assert log_of(roster(), roster(without=(2,)), me=1) == ["Ana left."]
    assert log_of(roster(), roster(without=(2,)), me=1, removed=frozenset({2})) == [
        "Ana was removed."
    ]
    assert log_of(roster(), roster(), me=1) == []


def test_the_log_says_who_presents_pauses_locks_and_controls() -> None:
    assert log_of(roster(), roster(presenter=2), me=1) == ["Ana is presenting now."]
    assert log_of(roster(), roster(presenter=1), me=1) == ["You are presenting now."]
    assert log_of(roster(presenter=2), roster(), me=3) == ["Nobody is presenting now."]
    assert log_of(roster(presenter=2), roster(presenter=2, paused=True), me=1) == [
        "Ana paused the screen."
    ]
    assert log_of(roster(presenter=1, paused=True), roster(presenter=1), me=1) == [
        "You resumed sharing."
    ]
    assert log_of(roster(), roster(locked=True), me=3) == [
        "The session is locked: nobody new can join."
    ]
    assert log_of(roster(presenter=1), roster(presenter=1, controller=3), me=3) == [
        "You now control Olga's screen."
    ]
    assert log_of(roster(presenter=1, controller=3), roster(presenter=1), me=3) == [
        "Your remote control ended."
    ]
    assert log_of(roster(presenter=1), roster(presenter=1, controller=3), me=2) == [
        "Ben now controls Olga's screen."
    ]
    # The presenter's own lines come from its control guard (with the reason), not from here.
    assert log_of(roster(presenter=1), roster(presenter=1, controller=3), me=1) == []


def test_rows_carry_the_certified_key_fingerprints_and_only_those() -> None:
    certified = {2: ("Ana", "3f2a-91bc-07de-55aa"), 3: ("Ben", None)}

    def shown_as(peer: int, relay_name: str) -> tuple[str, str | None]:
        return certified.get(peer, (relay_name, None))

    view = SessionView.from_roster(roster(), me=3, shown_as=shown_as)
    assert [(row.name, row.key) for row in view.members] == [
        ("Olga", None),
        ("Ana", "3f2a-91bc-07de-55aa"),
        ("Ben", None),
    ]
    # The certified name wins over what the relay's roster says.
    certified[3] = ("Benedikt", None)
    view = SessionView.from_roster(roster(), me=3, shown_as=shown_as)
    assert view.name_of(3) == "Benedikt"
    # Without certificates to go by (the relay's roster alone), no row claims a key.
    assert all(row.key is None for row in SessionView.from_roster(roster(), me=3).members)
