"""The client edge as event lists: what goes in (rosters, this person's acts, time) and exactly
which effects come out, in which order (core/client/edge.py; docs/design.md §3.5).

Each test is one rule a client enforces on its own side of the relay: nothing captured without
this person's yes, input only after a local grant and only while the relay agrees, revoke and
pause local first, control ending with presenting, and no request that did not come from a
local act.
"""

from __future__ import annotations

import itertools
import random

from core.client.edge import (
    AllowInput,
    Answer,
    ArmHotkey,
    ClientEdge,
    ControlNotice,
    DisarmHotkey,
    Effect,
    EndInput,
    RelayController,
    Request,
    Say,
    SetAudience,
    SetPaused,
    StartCapture,
    StopCapture,
)
from core.protocol.messages import ActionCode, MemberState, Roster, RosterEntry

OLGA, ANA, BOB = 1, 2, 3
NAMES = {OLGA: "Olga", ANA: "Ana", BOB: "Bob"}


def roster(
    *,
    presenter: int | None = OLGA,
    controller: int | None = None,
    paused: bool = False,
    members: tuple[int, ...] = (OLGA, ANA, BOB),
) -> Roster:
    return Roster(
        session_id="123456789",
        members=tuple(
            RosterEntry(
                peer_id=p, name=NAMES[p], is_organizer=p == OLGA, state=MemberState.CONNECTED
            )
            for p in members
        ),
        presenter=presenter,
        controller=controller,
        has_presented=(),
        locked=False,
        paused=paused,
        has_password=True,
    )


def presenting(me: int = OLGA) -> ClientEdge:
    """Olga's edge, presenting to Ana and Bob (she agreed; the relay names her)."""
    edge = ClientEdge(me, agreed_to_present=True, confirm_seconds=10.0)
    edge.roster(roster(presenter=me), now=0.0)
    return edge


def granted(peer: int = ANA) -> ClientEdge:
    """Presenting, with ``peer`` in control (granted here, applied by the relay)."""
    edge = presenting()
    edge.grant(peer, now=0.0, consent_id=7)
    edge.roster(roster(controller=peer), now=0.1)
    return edge


def kinds(effects: list[Effect]) -> list[type]:
    return [type(effect) for effect in effects]


# -- presenting ------------------------------------------------------------------------------


def test_nothing_is_captured_until_this_person_agreed_and_the_relay_names_them() -> None:
    edge = ClientEdge(ANA)
    # A relay that names Ana presenter without her yes gets nothing.
    assert StartCapture() not in edge.roster(roster(presenter=ANA), now=0.0)
    assert not edge.capturing
    edge.agree_to_present()
    assert StartCapture() not in edge.roster(roster(presenter=OLGA), now=1.0)
    effects = edge.roster(roster(presenter=ANA), now=2.0)
    assert effects == [
        StartCapture(),
        SetAudience(2),
        SetPaused(False),
        RelayController(None),
    ]


def test_capture_stops_when_someone_else_presents_and_the_next_time_is_asked_again() -> None:
    edge = presenting()
    effects = edge.roster(roster(presenter=ANA), now=1.0)
    assert effects == [StopCapture(), EndInput(), DisarmHotkey(), RelayController(None)]
    assert StartCapture() not in edge.roster(roster(presenter=OLGA), now=2.0)


def test_the_audience_is_every_other_member_and_capture_idles_with_none() -> None:
    edge = presenting()
    assert SetAudience(0) in edge.roster(roster(members=(OLGA,)), now=1.0)
    assert SetAudience(1) in edge.roster(roster(members=(OLGA, BOB)), now=2.0)


def test_reshare_restarts_capture_for_the_same_audience_and_as_hidden() -> None:
    edge = presenting()
    edge.pause()
    assert edge.reshare() == [StopCapture(), StartCapture(), SetAudience(2), SetPaused(True)]
    assert ClientEdge(ANA).reshare() == []  # not presenting: nothing to restart


# -- granting --------------------------------------------------------------------------------


def test_a_yes_to_a_request_and_an_offer_grant_alike_and_arm_before_the_relay_hears() -> None:
    answered = presenting().grant(ANA, now=1.0, consent_id=7)
    offered = presenting().grant(ANA, now=1.0)
    assert answered == [AllowInput(ANA), ArmHotkey(), Answer(7, True)]
    assert offered == [AllowInput(ANA), ArmHotkey(), Request(ActionCode.GRANT_CONTROL, ANA)]


def test_control_is_announced_once_when_the_relay_applies_the_grant() -> None:
    edge = presenting()
    edge.grant(ANA, now=0.0, consent_id=7)
    assert ControlNotice(ANA) in edge.roster(roster(controller=ANA), now=0.1)
    assert ControlNotice(ANA) not in edge.roster(roster(controller=ANA), now=0.2)


def test_a_yes_the_relay_never_applies_is_dropped_and_the_relay_told() -> None:
    edge = presenting()
    edge.grant(ANA, now=100.0, consent_id=7)
    assert edge.next_deadline == 110.0
    assert edge.due(109.9) == []
    # Never announced, so nobody is told control "ended"; the relay is told: nobody.
    assert edge.due(110.0) == [EndInput(), Request(ActionCode.REVOKE_CONTROL), DisarmHotkey()]
    assert edge.granted_to is None
    assert edge.next_deadline is None


def test_an_applied_yes_has_no_deadline_left() -> None:
    edge = granted()
    assert edge.next_deadline is None
    assert edge.due(1000.0) == []


def test_a_yes_to_bob_ends_anas_control_here_first() -> None:
    edge = granted(ANA)
    effects = edge.grant(BOB, now=1.0)
    assert effects == [
        EndInput(),
        ControlNotice(None, "switched", previous=ANA),
        AllowInput(BOB),
        ArmHotkey(),
        Request(ActionCode.GRANT_CONTROL, BOB),
    ]


# -- ending control --------------------------------------------------------------------------


def test_revoking_stops_input_first_tells_the_relay_then_stops_listening() -> None:
    edge = granted()
    assert edge.revoke("hotkey") == [
        EndInput(),
        ControlNotice(None, "hotkey", previous=ANA),
        Request(ActionCode.REVOKE_CONTROL),
        DisarmHotkey(),
    ]
    # Nobody controls any more: a second revoke sends nothing.
    edge.roster(roster(controller=None), now=1.0)
    assert Request(ActionCode.REVOKE_CONTROL) not in edge.revoke("hotkey")


def test_control_ends_here_when_the_relay_ends_it_without_a_request() -> None:
    for after in (
        roster(controller=None),  # revoked by the relay operator, released by Ana
        roster(controller=None, members=(OLGA, BOB)),  # Ana left
        roster(controller=BOB),  # the relay gave it to Bob
    ):
        edge = granted()
        effects = edge.roster(after, now=1.0)
        control = [e for e in effects if not isinstance(e, SetAudience | SetPaused)]
        assert control == [
            RelayController(after.controller),
            EndInput(),
            ControlNotice(None, "relay", previous=ANA),
            DisarmHotkey(),
        ]
        assert not [e for e in effects if isinstance(e, Request)]


def test_pausing_is_local_first_and_ends_control() -> None:
    edge = granted()
    assert edge.pause() == [
        SetPaused(True),
        EndInput(),
        ControlNotice(None, "paused", previous=ANA),
        Request(ActionCode.PAUSE),
        DisarmHotkey(),
    ]


def test_a_roster_crossing_a_pause_in_flight_never_shows_the_screen_again() -> None:
    edge = presenting()
    edge.pause()
    # Bob joins before the relay applied the pause: the roster still says "not paused".
    assert SetPaused(True) in edge.roster(roster(paused=False), now=1.0)
    assert SetPaused(True) in edge.roster(roster(paused=True), now=2.0)
    # Resuming: the relay first, then capture shows again.
    assert edge.resume() == [Request(ActionCode.RESUME), SetPaused(False)]
    assert SetPaused(False) in edge.roster(roster(paused=False), now=3.0)


def test_stopping_presenting_stops_capture_before_the_relay_hears() -> None:
    edge = granted()
    assert edge.stop_presenting() == [
        StopCapture(),
        EndInput(),
        ControlNotice(None, "stopped", previous=ANA),
        DisarmHotkey(),
        Request(ActionCode.STOP_PRESENTING),
    ]


def test_a_capture_failure_stops_presenting_and_says_why_first() -> None:
    edge = presenting()
    effects = edge.capture_failed("window 0x20000c was closed")
    assert effects == [
        StopCapture(),
        EndInput(),
        DisarmHotkey(),
        Say("I stopped presenting: cannot capture the screen: window 0x20000c was closed."),
        Request(ActionCode.STOP_PRESENTING),
    ]
    assert not edge.capturing


def test_the_end_of_the_session_stops_everything_and_sends_nothing() -> None:
    effects = granted().closed("ended")
    assert effects == [
        StopCapture(),
        EndInput(),
        ControlNotice(None, "ended", previous=ANA),
        DisarmHotkey(),
    ]


# -- what only a local act can do ------------------------------------------------------------


def test_no_roster_sequence_makes_the_edge_grant_capture_unasked_or_send_anything() -> None:
    """Whatever a relay sends (here: 2,000 random rosters), without this person's acts the edge
    never captures, never allows input, never arms, never requests and never answers."""
    rng = random.Random(1234)
    choices = list(itertools.product((None, OLGA, ANA, BOB), (None, OLGA, ANA, BOB), (False, True)))
    edge = ClientEdge(OLGA)
    for step in range(2000):
        presenter, controller, paused = rng.choice(choices)
        effects = edge.roster(
            roster(presenter=presenter, controller=controller, paused=paused), now=float(step)
        )
        effects += edge.due(float(step))
        bad = [
            e
            for e in effects
            if isinstance(e, StartCapture | AllowInput | ArmHotkey | Request | Answer | Say)
        ]
        assert bad == [], (step, presenter, controller, paused, bad)
