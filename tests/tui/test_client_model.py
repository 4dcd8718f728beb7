"""What the session screen shows and offers, derived from real rosters by the session rules."""

from __future__ import annotations

from core.protocol.messages import MemberState, Roster, RosterEntry
from core.rules import Action
from tui.app.driver import viewer_state
from tui.app.model import SessionView
from tui.viewer.link import ViewerState


def roster(
    *,
    presenter: int | None = None,
    controller: int | None = None,
    paused: bool = False,
    has_presented: tuple[int, ...] = (),
    ana_state: MemberState = MemberState.CONNECTED,
) -> Roster:
    return Roster(
        session_id="123456789",
        members=(
            RosterEntry(1, "Olga", True, MemberState.CONNECTED),
            RosterEntry(2, "Ana", False, ana_state),
            RosterEntry(3, "Ben", False, MemberState.CONNECTED),
        ),
        presenter=presenter,
        controller=controller,
        has_presented=has_presented,
        locked=False,
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
