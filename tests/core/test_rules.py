"""The session rules (docs/design.md §5): every row allowed and refused, and the promises between.

States are built by playing actions from :func:`new_session`, never by hand (except where a test
says so), so every state a test sees is one the relay could actually reach.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ErrorCode
from core.rules import (
    MAX_PEER_ID,
    RULES,
    Action,
    Allowed,
    Consent,
    Decision,
    NeedsConsent,
    PeerId,
    Refused,
    Role,
    SessionState,
    TargetKind,
    decide,
    invariant_violations,
    new_session,
    possible_actions,
    possible_targets,
    roles_of,
)

ORG, ANN, BOB, CAT = 1, 2, 3, 4
OUTSIDER = 9

StateFactory = Callable[[], SessionState]


# --------------------------------------------------------------------------------------------
# Helpers


def apply(
    state: SessionState, actor: PeerId, action: Action, target: PeerId | None = None
) -> SessionState:
    """Play an action the test expects to go through, saying yes if someone is asked."""
    decision = decide(state, actor, action, target)
    if isinstance(decision, NeedsConsent):
        decision = decide(state, actor, action, target, consented=True)
    assert isinstance(decision, Allowed), decision
    return decision.state


def meeting(
    *,
    organizer_presents: bool = True,
    has_password: bool = True,
    joiners: Iterable[PeerId] = (ANN, BOB),
) -> SessionState:
    """An organizer and some participants who joined."""
    state = new_session(ORG, has_password=has_password, organizer_presents=organizer_presents)
    for peer in joiners:
        state = apply(state, peer, Action.JOIN)
    return state


def idle() -> SessionState:
    """Nobody presents yet."""
    return meeting(organizer_presents=False)


def org_presents() -> SessionState:
    return meeting()


def locked() -> SessionState:
    return apply(meeting(), ORG, Action.LOCK)


def org_paused() -> SessionState:
    return apply(meeting(), ORG, Action.PAUSE)


def bob_controls_org() -> SessionState:
    return apply(meeting(), ORG, Action.GRANT_CONTROL, BOB)


def ann_presents() -> SessionState:
    return apply(meeting(), ORG, Action.PROPOSE_PRESENTER, ANN)


def ann_paused() -> SessionState:
    return apply(ann_presents(), ANN, Action.PAUSE)


def org_controls_ann() -> SessionState:
    return apply(ann_presents(), ANN, Action.GRANT_CONTROL, ORG)


def bob_controls_ann() -> SessionState:
    return apply(ann_presents(), ANN, Action.GRANT_CONTROL, BOB)


def ann_presented_and_left() -> SessionState:
    return apply(ann_presents(), ANN, Action.LEAVE)


def ended() -> SessionState:
    return apply(bob_controls_ann(), ORG, Action.END_SESSION)


SAMPLE_STATES: list[StateFactory] = [
    idle,
    org_presents,
    locked,
    org_paused,
    bob_controls_org,
    ann_presents,
    ann_paused,
    org_controls_ann,
    bob_controls_ann,
    ann_presented_and_left,
    ended,
]


def code_of(decision: Decision) -> ErrorCode:
    assert isinstance(decision, Refused), decision
    return decision.code


# --------------------------------------------------------------------------------------------
# The table itself


def test_every_action_has_exactly_one_rule() -> None:
    assert set(RULES) == set(Action)


def test_sample_states_are_sound() -> None:
    for factory in SAMPLE_STATES:
        assert invariant_violations(factory()) == (), factory.__name__


def test_new_session_organizer_presenting_is_their_own_consent() -> None:
    state = new_session(ORG, has_password=False, organizer_presents=True)
    assert state.members == {ORG}
    assert state.presenter == ORG
    assert state.has_presented == frozenset()


@pytest.mark.parametrize("organizer", [0, -1, MAX_PEER_ID + 1])
def test_new_session_rejects_impossible_organizer(organizer: PeerId) -> None:
    with pytest.raises(ValueError, match="cannot be a member"):
        new_session(organizer, has_password=True, organizer_presents=False)


def test_roles_organizer_who_presents_has_both() -> None:
    state = org_presents()
    assert roles_of(state, ORG) == {Role.ORGANIZER, Role.PRESENTER}
    assert roles_of(state, ANN) == {Role.PARTICIPANT}
    assert roles_of(state, OUTSIDER) == frozenset()


def test_roles_participant_who_presents_has_both() -> None:
    state = ann_presents()
    assert roles_of(state, ORG) == {Role.ORGANIZER}
    assert roles_of(state, ANN) == {Role.PARTICIPANT, Role.PRESENTER}


# --------------------------------------------------------------------------------------------
# Every row, allowed. (state, actor, action, target, consent asked or None, check on new state)

Expect = Callable[[SessionState], bool]

ALLOWED = [
    pytest.param(
        org_presents, CAT, Action.JOIN, None, None, lambda s: CAT in s.members, id="join-password"
    ),
    pytest.param(
        lambda: meeting(has_password=False),
        CAT,
        Action.JOIN,
        None,
        (Consent.ORGANIZER, ORG),
        lambda s: CAT in s.members,
        id="join-knock-needs-organizer",
    ),
    pytest.param(
        lambda: meeting(has_password=False),
        ORG,
        Action.ADMIT,
        CAT,
        None,
        lambda s: CAT in s.members,
        id="admit",
    ),
    pytest.param(
        org_presents, ORG, Action.REJECT, CAT, None, lambda s: s == org_presents(), id="reject"
    ),
    pytest.param(
        org_presents,
        ORG,
        Action.PROPOSE_PRESENTER,
        ANN,
        (Consent.TARGET, ANN),
        lambda s: s.presenter == ANN and s.has_presented == {ANN},
        id="organizer-proposes",
    ),
    pytest.param(
        ann_presents,
        ANN,
        Action.PROPOSE_PRESENTER,
        BOB,
        (Consent.TARGET, BOB),
        lambda s: s.presenter == BOB and s.has_presented == {ANN, BOB},
        id="presenter-proposes",
    ),
    pytest.param(
        idle,
        ORG,
        Action.PROPOSE_PRESENTER,
        ANN,
        (Consent.TARGET, ANN),
        lambda s: s.presenter == ANN,
        id="propose-when-nobody-presents",
    ),
    pytest.param(
        ann_presents,
        ANN,
        Action.HAND_TO_ORGANIZER,
        None,
        (Consent.ORGANIZER, ORG),
        lambda s: s.presenter == ORG,
        id="hand-to-organizer",
    ),
    pytest.param(
        ann_presents,
        ORG,
        Action.TAKE_BACK,
        None,
        (Consent.ORGANIZER_LOCAL, ORG),
        lambda s: s.presenter == ORG,
        id="take-back",
    ),
    pytest.param(
        idle,
        ORG,
        Action.PRESENT,
        None,
        (Consent.ORGANIZER_LOCAL, ORG),
        lambda s: s.presenter == ORG,
        id="present",
    ),
    pytest.param(
        ann_presents, ANN, Action.SHARE, None, None, lambda s: s == ann_presents(), id="share"
    ),
    pytest.param(
        ann_paused, ANN, Action.SHARE, None, None, lambda s: s.paused, id="share-while-paused"
    ),
    pytest.param(org_presents, ORG, Action.PAUSE, None, None, lambda s: s.paused, id="pause"),
    pytest.param(org_paused, ORG, Action.RESUME, None, None, lambda s: not s.paused, id="resume"),
    pytest.param(
        bob_controls_ann,
        ANN,
        Action.STOP_PRESENTING,
        None,
        None,
        lambda s: s.presenter is None and s.controller is None and not s.paused,
        id="participant-stops-presenting",
    ),
    pytest.param(
        org_paused,
        ORG,
        Action.STOP_PRESENTING,
        None,
        None,
        lambda s: s.presenter is None and not s.paused,
        id="organizer-stops-presenting-while-paused",
    ),
    pytest.param(
        org_presents,
        ANN,
        Action.REQUEST_CONTROL,
        None,
        (Consent.PRESENTER, ORG),
        lambda s: s.controller == ANN,
        id="viewer-requests-control",
    ),
    pytest.param(
        ann_presents,
        ORG,
        Action.REQUEST_CONTROL,
        None,
        (Consent.PRESENTER, ANN),
        lambda s: s.controller == ORG,
        id="organizer-requests-control",
    ),
    pytest.param(
        org_presents,
        ORG,
        Action.GRANT_CONTROL,
        BOB,
        None,
        lambda s: s.controller == BOB,
        id="grant-control",
    ),
    pytest.param(
        bob_controls_ann,
        ANN,
        Action.REVOKE_CONTROL,
        None,
        None,
        lambda s: s.controller is None,
        id="revoke-control",
    ),
    pytest.param(
        bob_controls_ann,
        BOB,
        Action.RELEASE_CONTROL,
        None,
        None,
        lambda s: s.controller is None,
        id="release-control",
    ),
    pytest.param(idle, ORG, Action.END_SESSION, None, None, lambda s: s.ended, id="organizer-ends"),
    pytest.param(
        ann_presents, ANN, Action.END_SESSION, None, None, lambda s: s.ended, id="presenter-ends"
    ),
    pytest.param(
        org_presents,
        ORG,
        Action.KICK,
        BOB,
        None,
        lambda s: s.members == {ORG, ANN},
        id="kick",
    ),
    pytest.param(org_presents, ORG, Action.LOCK, None, None, lambda s: s.locked, id="lock"),
    pytest.param(locked, ORG, Action.UNLOCK, None, None, lambda s: not s.locked, id="unlock"),
    pytest.param(
        org_presents,
        BOB,
        Action.LEAVE,
        None,
        None,
        lambda s: s.members == {ORG, ANN} and not s.ended,
        id="participant-leaves",
    ),
    pytest.param(
        org_presents, ORG, Action.LEAVE, None, None, lambda s: s.ended, id="organizer-leaves"
    ),
]


@pytest.mark.parametrize(("factory", "actor", "action", "target", "consent", "expect"), ALLOWED)
def test_row_allowed(
    factory: StateFactory,
    actor: PeerId,
    action: Action,
    target: PeerId | None,
    consent: tuple[Consent, PeerId] | None,
    expect: Expect,
) -> None:
    state = factory()
    first = decide(state, actor, action, target)
    if consent is None:
        assert isinstance(first, Allowed)
    else:
        assert first == NeedsConsent(*consent)
    final = decide(state, actor, action, target, consented=True)
    assert isinstance(final, Allowed)
    assert expect(final.state)
    assert invariant_violations(final.state) == ()


def test_every_action_has_an_allowed_case() -> None:
    covered = {param.values[2] for param in ALLOWED}
    assert covered == set(Action)


# --------------------------------------------------------------------------------------------
# Every row, refused. (state, actor, action, target, code)

REFUSED = [
    # join
    pytest.param(locked, OUTSIDER, Action.JOIN, None, ErrorCode.SESSION_LOCKED, id="join-locked"),
    pytest.param(org_presents, ANN, Action.JOIN, None, ErrorCode.ALREADY_DONE, id="join-twice"),
    pytest.param(org_presents, 0, Action.JOIN, None, ErrorCode.BAD_FIELD, id="join-as-peer-0"),
    pytest.param(
        org_presents, MAX_PEER_ID + 1, Action.JOIN, None, ErrorCode.BAD_FIELD, id="join-too-big"
    ),
    pytest.param(org_presents, OUTSIDER, Action.JOIN, ANN, ErrorCode.BAD_FIELD, id="join-target"),
    # admit / reject
    pytest.param(
        org_presents, ANN, Action.ADMIT, CAT, ErrorCode.NOT_ALLOWED, id="admit-by-participant"
    ),
    pytest.param(locked, ORG, Action.ADMIT, CAT, ErrorCode.SESSION_LOCKED, id="admit-locked"),
    pytest.param(org_presents, ORG, Action.ADMIT, ANN, ErrorCode.ALREADY_DONE, id="admit-member"),
    pytest.param(org_presents, ORG, Action.ADMIT, None, ErrorCode.BAD_FIELD, id="admit-nobody"),
    pytest.param(org_presents, ORG, Action.ADMIT, 0, ErrorCode.BAD_FIELD, id="admit-peer-0"),
    pytest.param(
        org_presents, BOB, Action.REJECT, CAT, ErrorCode.NOT_ALLOWED, id="reject-by-participant"
    ),
    pytest.param(org_presents, ORG, Action.REJECT, ANN, ErrorCode.ALREADY_DONE, id="reject-member"),
    # propose a participant
    pytest.param(
        org_presents,
        ANN,
        Action.PROPOSE_PRESENTER,
        BOB,
        ErrorCode.NOT_ALLOWED,
        id="propose-by-viewer",
    ),
    pytest.param(
        ann_presents, BOB, Action.PROPOSE_PRESENTER, BOB, ErrorCode.NOT_ALLOWED, id="propose-self"
    ),
    pytest.param(
        ann_presents,
        ANN,
        Action.PROPOSE_PRESENTER,
        ORG,
        ErrorCode.NOT_ALLOWED,
        id="propose-organizer",
    ),
    pytest.param(
        ann_presents,
        ORG,
        Action.PROPOSE_PRESENTER,
        ANN,
        ErrorCode.ALREADY_DONE,
        id="propose-current-presenter",
    ),
    pytest.param(
        org_presents,
        ORG,
        Action.PROPOSE_PRESENTER,
        OUTSIDER,
        ErrorCode.NO_SUCH_MEMBER,
        id="propose-stranger",
    ),
    pytest.param(
        org_presents, ORG, Action.PROPOSE_PRESENTER, None, ErrorCode.BAD_FIELD, id="propose-nobody"
    ),
    # hand presenting to the organizer
    pytest.param(
        org_presents, ORG, Action.HAND_TO_ORGANIZER, None, ErrorCode.ALREADY_DONE, id="hand-to-self"
    ),
    pytest.param(
        ann_presents,
        BOB,
        Action.HAND_TO_ORGANIZER,
        None,
        ErrorCode.NOT_ALLOWED,
        id="hand-by-viewer",
    ),
    pytest.param(
        ann_presents, ORG, Action.HAND_TO_ORGANIZER, None, ErrorCode.NOT_ALLOWED, id="hand-by-org"
    ),
    # take back
    pytest.param(idle, ORG, Action.TAKE_BACK, None, ErrorCode.NOT_ALLOWED, id="take-back-nobody"),
    pytest.param(
        org_presents, ORG, Action.TAKE_BACK, None, ErrorCode.ALREADY_DONE, id="take-back-own"
    ),
    pytest.param(
        ann_presents, BOB, Action.TAKE_BACK, None, ErrorCode.NOT_ALLOWED, id="take-back-by-viewer"
    ),
    pytest.param(
        ann_presents,
        ANN,
        Action.TAKE_BACK,
        None,
        ErrorCode.NOT_ALLOWED,
        id="take-back-by-presenter",
    ),
    # present
    pytest.param(
        org_presents, ORG, Action.PRESENT, None, ErrorCode.ALREADY_DONE, id="present-twice"
    ),
    pytest.param(
        ann_presents,
        ORG,
        Action.PRESENT,
        None,
        ErrorCode.NOT_ALLOWED,
        id="present-over-participant",
    ),
    pytest.param(idle, ANN, Action.PRESENT, None, ErrorCode.NOT_ALLOWED, id="participant-presents"),
    # share / pause / resume
    pytest.param(
        org_presents, ANN, Action.SHARE, None, ErrorCode.NOT_ALLOWED, id="share-by-viewer"
    ),
    pytest.param(idle, ORG, Action.SHARE, None, ErrorCode.NOT_ALLOWED, id="share-unpresented"),
    pytest.param(ann_presents, ORG, Action.PAUSE, None, ErrorCode.NOT_ALLOWED, id="pause-by-org"),
    pytest.param(org_paused, ORG, Action.PAUSE, None, ErrorCode.ALREADY_DONE, id="pause-twice"),
    pytest.param(
        ann_paused, BOB, Action.RESUME, None, ErrorCode.NOT_ALLOWED, id="resume-by-viewer"
    ),
    pytest.param(
        org_presents, ORG, Action.RESUME, None, ErrorCode.ALREADY_DONE, id="resume-unpaused"
    ),
    pytest.param(
        ann_presents, ORG, Action.STOP_PRESENTING, None, ErrorCode.NOT_ALLOWED, id="stop-by-org"
    ),
    pytest.param(
        bob_controls_ann,
        BOB,
        Action.STOP_PRESENTING,
        None,
        ErrorCode.NOT_ALLOWED,
        id="stop-by-viewer",
    ),
    pytest.param(
        idle, ORG, Action.STOP_PRESENTING, None, ErrorCode.NOT_ALLOWED, id="stop-unpresented"
    ),
    # request control
    pytest.param(
        org_presents,
        ORG,
        Action.REQUEST_CONTROL,
        None,
        ErrorCode.NOT_ALLOWED,
        id="org-presenter-asks",
    ),
    pytest.param(
        ann_presents, ANN, Action.REQUEST_CONTROL, None, ErrorCode.NOT_ALLOWED, id="presenter-asks"
    ),
    pytest.param(
        idle, ANN, Action.REQUEST_CONTROL, None, ErrorCode.NOT_ALLOWED, id="ask-no-screen"
    ),
    pytest.param(
        ann_paused, BOB, Action.REQUEST_CONTROL, None, ErrorCode.NOT_ALLOWED, id="ask-paused"
    ),
    pytest.param(
        bob_controls_ann, BOB, Action.REQUEST_CONTROL, None, ErrorCode.ALREADY_DONE, id="ask-twice"
    ),
    pytest.param(
        bob_controls_ann, ORG, Action.REQUEST_CONTROL, None, ErrorCode.CONTROL_HELD, id="ask-held"
    ),
    # grant control
    pytest.param(
        ann_presents, BOB, Action.GRANT_CONTROL, ORG, ErrorCode.NOT_ALLOWED, id="grant-by-viewer"
    ),
    pytest.param(
        ann_presents,
        ORG,
        Action.GRANT_CONTROL,
        BOB,
        ErrorCode.NOT_ALLOWED,
        id="grant-by-org-viewer",
    ),
    pytest.param(
        ann_presents, ANN, Action.GRANT_CONTROL, ANN, ErrorCode.NOT_ALLOWED, id="grant-to-self"
    ),
    pytest.param(
        ann_paused, ANN, Action.GRANT_CONTROL, BOB, ErrorCode.NOT_ALLOWED, id="grant-paused"
    ),
    pytest.param(
        bob_controls_ann, ANN, Action.GRANT_CONTROL, BOB, ErrorCode.ALREADY_DONE, id="grant-twice"
    ),
    pytest.param(
        bob_controls_ann, ANN, Action.GRANT_CONTROL, ORG, ErrorCode.CONTROL_HELD, id="grant-held"
    ),
    pytest.param(
        ann_presents,
        ANN,
        Action.GRANT_CONTROL,
        OUTSIDER,
        ErrorCode.NO_SUCH_MEMBER,
        id="grant-stranger",
    ),
    pytest.param(
        ann_presents, ANN, Action.GRANT_CONTROL, None, ErrorCode.BAD_FIELD, id="grant-nobody"
    ),
    # revoke / release
    pytest.param(
        bob_controls_ann,
        BOB,
        Action.REVOKE_CONTROL,
        None,
        ErrorCode.NOT_ALLOWED,
        id="revoke-by-controller",
    ),
    pytest.param(
        bob_controls_ann,
        ORG,
        Action.REVOKE_CONTROL,
        None,
        ErrorCode.NOT_ALLOWED,
        id="revoke-by-org",
    ),
    pytest.param(
        ann_presents, ANN, Action.REVOKE_CONTROL, None, ErrorCode.ALREADY_DONE, id="revoke-nothing"
    ),
    pytest.param(
        bob_controls_ann,
        ORG,
        Action.RELEASE_CONTROL,
        None,
        ErrorCode.NOT_ALLOWED,
        id="release-not-held",
    ),
    # end
    pytest.param(
        ann_presents, BOB, Action.END_SESSION, None, ErrorCode.NOT_ALLOWED, id="end-by-viewer"
    ),
    pytest.param(
        bob_controls_ann,
        BOB,
        Action.END_SESSION,
        None,
        ErrorCode.NOT_ALLOWED,
        id="end-by-controller",
    ),
    # kick
    pytest.param(
        org_presents, ANN, Action.KICK, BOB, ErrorCode.NOT_ALLOWED, id="kick-by-participant"
    ),
    pytest.param(
        ann_presents, ANN, Action.KICK, BOB, ErrorCode.NOT_ALLOWED, id="kick-by-presenter"
    ),
    pytest.param(org_presents, ORG, Action.KICK, ORG, ErrorCode.NOT_ALLOWED, id="kick-self"),
    pytest.param(
        org_presents, ORG, Action.KICK, OUTSIDER, ErrorCode.NO_SUCH_MEMBER, id="kick-stranger"
    ),
    # lock / unlock
    pytest.param(
        org_presents, ANN, Action.LOCK, None, ErrorCode.NOT_ALLOWED, id="lock-by-participant"
    ),
    pytest.param(locked, ORG, Action.LOCK, None, ErrorCode.ALREADY_DONE, id="lock-twice"),
    pytest.param(
        locked, ANN, Action.UNLOCK, None, ErrorCode.NOT_ALLOWED, id="unlock-by-participant"
    ),
    pytest.param(
        org_presents, ORG, Action.UNLOCK, None, ErrorCode.ALREADY_DONE, id="unlock-unlocked"
    ),
    # leave
    pytest.param(
        org_presents, OUTSIDER, Action.LEAVE, None, ErrorCode.NOT_IN_SESSION, id="leave-stranger"
    ),
    pytest.param(org_presents, ANN, Action.LEAVE, BOB, ErrorCode.BAD_FIELD, id="leave-with-target"),
    # ended sessions
    pytest.param(ended, ORG, Action.LOCK, None, ErrorCode.SESSION_ENDED, id="ended-lock"),
    pytest.param(ended, OUTSIDER, Action.JOIN, None, ErrorCode.SESSION_ENDED, id="ended-join"),
]


@pytest.mark.parametrize(("factory", "actor", "action", "target", "code"), REFUSED)
def test_row_refused(
    factory: StateFactory,
    actor: PeerId,
    action: Action,
    target: PeerId | None,
    code: ErrorCode,
) -> None:
    state = factory()
    for consented in (False, True):
        decision = decide(state, actor, action, target, consented=consented)
        assert code_of(decision) == code
        assert isinstance(decision, Refused)
        assert decision.reason.endswith(".")
        assert "{" not in decision.reason


def test_every_action_has_a_refused_case() -> None:
    covered = {param.values[2] for param in REFUSED}
    assert covered == set(Action)


def test_wrong_role_gets_the_rows_own_sentence() -> None:
    decision = decide(org_presents(), ANN, Action.LOCK)
    assert decision == Refused(ErrorCode.NOT_ALLOWED, "Only the organizer can lock the session.")


def test_control_held_names_the_holder_and_says_to_revoke() -> None:
    decision = decide(bob_controls_ann(), ANN, Action.GRANT_CONTROL, ORG)
    assert isinstance(decision, Refused)
    assert decision.code is ErrorCode.CONTROL_HELD
    assert f"Member {BOB}" in decision.reason
    assert "revoke" in decision.reason


# --------------------------------------------------------------------------------------------
# Refusal order: the most useful reason first.


def test_ended_beats_not_in_session() -> None:
    assert code_of(decide(ended(), OUTSIDER, Action.KICK, ANN)) is ErrorCode.SESSION_ENDED


def test_not_in_session_beats_wrong_role() -> None:
    assert code_of(decide(org_presents(), OUTSIDER, Action.LOCK)) is ErrorCode.NOT_IN_SESSION


def test_wrong_role_beats_bad_target() -> None:
    assert code_of(decide(org_presents(), ANN, Action.KICK, OUTSIDER)) is ErrorCode.NOT_ALLOWED


def test_bad_target_beats_preconditions() -> None:
    assert (
        code_of(decide(ann_paused(), ANN, Action.GRANT_CONTROL, OUTSIDER))
        is ErrorCode.NO_SUCH_MEMBER
    )


@pytest.mark.parametrize("action", [a for a in Action if a is not Action.JOIN])
def test_non_member_may_do_nothing_but_join(action: Action) -> None:
    for target in (None, ANN, CAT):
        assert code_of(decide(org_presents(), OUTSIDER, action, target)) is ErrorCode.NOT_IN_SESSION


@pytest.mark.parametrize("actor", [ORG, ANN, BOB, OUTSIDER])
@pytest.mark.parametrize("action", list(Action))
def test_ended_session_refuses_everything(actor: PeerId, action: Action) -> None:
    state = ended()
    for target in (None, ORG, ANN, CAT):
        for consented in (False, True):
            decision = decide(state, actor, action, target, consented=consented)
            assert code_of(decision) is ErrorCode.SESSION_ENDED


# --------------------------------------------------------------------------------------------
# Presenting: consent every time, and the organizer's take-back.


def test_proposing_needs_the_participants_consent_again_after_they_presented() -> None:
    state = apply(ann_presents(), ORG, Action.TAKE_BACK)
    assert ANN in state.has_presented
    assert decide(state, ORG, Action.PROPOSE_PRESENTER, ANN) == NeedsConsent(Consent.TARGET, ANN)


def test_take_back_needs_the_organizers_confirmation_every_time() -> None:
    state = ann_presents()
    for _ in range(3):
        assert decide(state, ORG, Action.TAKE_BACK) == NeedsConsent(Consent.ORGANIZER_LOCAL, ORG)
        state = apply(state, ORG, Action.TAKE_BACK)
        assert state.presenter == ORG
        state = apply(state, ORG, Action.PROPOSE_PRESENTER, ANN)


def test_take_back_does_not_ask_the_participant() -> None:
    decision = decide(ann_presents(), ORG, Action.TAKE_BACK)
    assert isinstance(decision, NeedsConsent)
    assert decision.from_peer == ORG


def test_take_back_refused_from_a_participant_who_never_agreed_to_present() -> None:
    # Hand-built: a state that skipped the participant's consent, as a roster missing
    # has_presented would. The organizer must not take over without the participant's yes.
    state = SessionState(organizer=ORG, members=frozenset({ORG, ANN}), presenter=ANN)
    assert invariant_violations(state) != ()
    decision = decide(state, ORG, Action.TAKE_BACK, consented=True)
    assert code_of(decision) is ErrorCode.NOT_ALLOWED


def test_hand_to_organizer_asks_the_organizer_every_time() -> None:
    state = ann_presents()
    for _ in range(2):
        assert decide(state, ANN, Action.HAND_TO_ORGANIZER) == NeedsConsent(Consent.ORGANIZER, ORG)
        state = apply(
            apply(state, ANN, Action.HAND_TO_ORGANIZER), ORG, Action.PROPOSE_PRESENTER, ANN
        )


def test_presenter_change_ends_pause() -> None:
    state = apply(ann_paused(), ORG, Action.TAKE_BACK)
    assert state.presenter == ORG
    assert not state.paused


def test_presenter_leaving_leaves_nobody_presenting() -> None:
    state = apply(bob_controls_ann(), ANN, Action.LEAVE)
    assert state.presenter is None
    assert state.controller is None
    assert not state.ended
    assert ANN not in state.has_presented


def test_presenter_kicked_leaves_nobody_presenting() -> None:
    state = apply(ann_paused(), ORG, Action.KICK, ANN)
    assert state.presenter is None
    assert not state.paused


def test_organizer_leaving_ends_the_session() -> None:
    state = apply(bob_controls_ann(), ORG, Action.LEAVE)
    assert state.ended
    assert state.presenter is None
    assert state.controller is None


# --------------------------------------------------------------------------------------------
# Consent never changes state on its own.

EVERY_TARGET: tuple[PeerId | None, ...] = (None, 0, ORG, ANN, BOB, CAT, OUTSIDER)
EVERY_ACTOR: tuple[PeerId, ...] = (0, ORG, ANN, BOB, CAT, OUTSIDER)


@pytest.mark.parametrize("factory", SAMPLE_STATES)
def test_without_consent_nothing_that_needs_it_happens(factory: StateFactory) -> None:
    state = factory()
    for actor in EVERY_ACTOR:
        for action in Action:
            for target in EVERY_TARGET:
                asked = decide(state, actor, action, target, consented=False)
                agreed = decide(state, actor, action, target, consented=True)
                if isinstance(asked, NeedsConsent):
                    assert isinstance(agreed, Allowed)
                else:
                    # Refusals and consent-free rows do not depend on the flag.
                    assert asked == agreed


# --------------------------------------------------------------------------------------------
# One controller at a time, and when grants end.


def test_one_controller_at_a_time() -> None:
    state = bob_controls_ann()
    assert code_of(decide(state, ANN, Action.GRANT_CONTROL, ORG)) is ErrorCode.CONTROL_HELD
    assert code_of(decide(state, ORG, Action.REQUEST_CONTROL)) is ErrorCode.CONTROL_HELD
    state = apply(state, ANN, Action.REVOKE_CONTROL)
    assert apply(state, ANN, Action.GRANT_CONTROL, ORG).controller == ORG


GRANT_ENDERS = [
    pytest.param(ORG, Action.TAKE_BACK, None, id="organizer-takes-back"),
    pytest.param(ANN, Action.HAND_TO_ORGANIZER, None, id="handed-to-organizer"),
    pytest.param(ANN, Action.PROPOSE_PRESENTER, CAT, id="presenter-proposes-other"),
    pytest.param(ORG, Action.PROPOSE_PRESENTER, BOB, id="controller-becomes-presenter"),
    pytest.param(BOB, Action.LEAVE, None, id="controller-leaves"),
    pytest.param(ORG, Action.KICK, BOB, id="controller-kicked"),
    pytest.param(ANN, Action.LEAVE, None, id="presenter-leaves"),
    pytest.param(ORG, Action.KICK, ANN, id="presenter-kicked"),
    pytest.param(ANN, Action.PAUSE, None, id="paused"),
    pytest.param(ANN, Action.END_SESSION, None, id="presenter-ends"),
    pytest.param(ORG, Action.END_SESSION, None, id="organizer-ends"),
    pytest.param(ORG, Action.LEAVE, None, id="organizer-leaves"),
]


@pytest.mark.parametrize(("actor", "action", "target"), GRANT_ENDERS)
def test_grant_ends(actor: PeerId, action: Action, target: PeerId | None) -> None:
    state = apply(bob_controls_ann(), CAT, Action.JOIN)
    state = apply(state, actor, action, target)
    assert state.controller is None


@pytest.mark.parametrize(
    ("actor", "action", "target"),
    [
        pytest.param(CAT, Action.LEAVE, None, id="someone-else-leaves"),
        pytest.param(ORG, Action.KICK, CAT, id="someone-else-kicked"),
        pytest.param(ANN, Action.SHARE, None, id="share-changes"),
        pytest.param(ORG, Action.LOCK, None, id="lock"),
        pytest.param(ORG, Action.ADMIT, OUTSIDER, id="admit"),
    ],
)
def test_grant_survives(actor: PeerId, action: Action, target: PeerId | None) -> None:
    state = apply(bob_controls_ann(), CAT, Action.JOIN)
    assert apply(state, actor, action, target).controller == BOB


def test_resume_does_not_restore_control() -> None:
    state = apply(apply(bob_controls_ann(), ANN, Action.PAUSE), ANN, Action.RESUME)
    assert state.controller is None


# --------------------------------------------------------------------------------------------
# What the UI offers is exactly what decide allows.


@pytest.mark.parametrize("factory", SAMPLE_STATES)
def test_possible_actions_agrees_with_decide(factory: StateFactory) -> None:
    state = factory()
    for actor in EVERY_ACTOR:
        offered = possible_actions(state, actor)
        for action in Action:
            decidable = any(
                not isinstance(decide(state, actor, action, target), Refused)
                for target in EVERY_TARGET
            )
            assert (action in offered) == decidable, (factory.__name__, actor, action)


def test_possible_actions_for_a_viewer_while_the_organizer_presents() -> None:
    assert possible_actions(org_presents(), ANN) == {Action.REQUEST_CONTROL, Action.LEAVE}


def test_possible_actions_for_the_organizer_while_a_participant_presents() -> None:
    assert possible_actions(ann_presents(), ORG) == {
        Action.ADMIT,
        Action.REJECT,
        Action.PROPOSE_PRESENTER,
        Action.TAKE_BACK,
        Action.REQUEST_CONTROL,
        Action.END_SESSION,
        Action.KICK,
        Action.LOCK,
        Action.LEAVE,
    }


def test_possible_actions_for_a_stranger() -> None:
    assert possible_actions(org_presents(), OUTSIDER) == {Action.JOIN}
    assert possible_actions(locked(), OUTSIDER) == frozenset()


def test_possible_actions_on_an_ended_session_is_empty() -> None:
    for actor in EVERY_ACTOR:
        assert possible_actions(ended(), actor) == frozenset()


def test_possible_targets() -> None:
    state = ann_presents()
    assert possible_targets(state, ANN, Action.GRANT_CONTROL) == {ORG, BOB}
    assert possible_targets(state, ANN, Action.PROPOSE_PRESENTER) == {BOB}
    assert possible_targets(state, ORG, Action.KICK) == {ANN, BOB}
    assert possible_targets(state, BOB, Action.KICK) == frozenset()
    assert possible_targets(state, ORG, Action.ADMIT) == frozenset()


def test_possible_targets_only_for_member_rows() -> None:
    for action, rule in RULES.items():
        if rule.target is not TargetKind.MEMBER:
            assert possible_targets(org_presents(), ORG, action) == frozenset()


# --------------------------------------------------------------------------------------------
# Random play: nothing raises and the invariants hold after every step.

POOL = st.integers(min_value=0, max_value=5)
ANY_ACTION = st.sampled_from(list(Action))
ENDINGS = {Action.END_SESSION, Action.LEAVE}


def draw_step(
    data: st.DataObject, state: SessionState
) -> tuple[PeerId, Action, PeerId | None, bool]:
    """One random request from the small pool, leaning towards ones that could go through.

    Purely random requests are nearly all refused, so runs would never reach the states worth
    checking (a participant presenting, someone in control, a pause). Half the time the action is
    one the actor may take (other than ending or leaving, which would cut the run short) and the
    target a member; the rest is anything at all.
    """
    members = sorted(state.members)
    actor = data.draw(st.one_of(st.sampled_from(members), POOL), label="actor")
    offered = sorted(possible_actions(state, actor) - ENDINGS)
    action = data.draw(
        st.one_of(st.sampled_from(offered), ANY_ACTION) if offered else ANY_ACTION, label="action"
    )
    target = data.draw(st.one_of(st.none(), st.sampled_from(members), POOL), label="target")
    return actor, action, target, data.draw(st.booleans(), label="consented")


@settings(max_examples=300, deadline=None)
@given(
    has_password=st.booleans(),
    organizer_presents=st.booleans(),
    joiners=st.sets(st.integers(min_value=2, max_value=4)),
    length=st.integers(min_value=0, max_value=60),
    data=st.data(),
)
def test_random_play_keeps_the_invariants(
    has_password: bool,
    organizer_presents: bool,
    joiners: set[PeerId],
    length: int,
    data: st.DataObject,
) -> None:
    state = meeting(
        has_password=has_password, organizer_presents=organizer_presents, joiners=sorted(joiners)
    )
    ever_presented = {state.presenter} - {None}
    for _ in range(length):
        actor, action, target, consented = draw_step(data, state)
        decision = decide(state, actor, action, target, consented=consented)
        if state.ended:
            assert code_of(decision) is ErrorCode.SESSION_ENDED
            continue
        if isinstance(decision, NeedsConsent):
            assert not consented
            assert decision.from_peer in state.members
            continue
        if isinstance(decision, Refused):
            if RULES[action].target is TargetKind.NONE and target is None:
                assert action not in possible_actions(state, actor)
            continue
        assert action in possible_actions(state, actor)
        state = decision.state
        if state.presenter is not None:
            ever_presented.add(state.presenter)
        assert invariant_violations(state) == ()
        assert state.controller is None or state.controller != state.presenter
        assert state.has_presented <= ever_presented & state.members
