"""The session rules (docs/design.md §5.1) as one table: who may do what, to whom, with whose yes.

Each :class:`Rule` in :data:`RULES` is one row of that table written as data: the kinds of actor
who may act, what the target must be, the named preconditions (each with its refusal code and
sentence), whose yes is needed, and the effect on the state. :func:`decide` is the only
interpreter of the table and :func:`possible_actions` is built on :func:`decide`, so the relay
(which enforces), the clients (which validate before sending) and the UI (which only offers what
is possible) can never disagree: there is no second copy of the rules.

Refusals come in a fixed order so a person gets the most useful reason first: an ended session,
then "you are not in it", then "not your role", then a bad target, then the row's own
preconditions in the order the row lists them. Consent is asked only once nothing else stands in
the way, so a "yes" is never wasted on something that would be refused anyway.

Consent is never remembered here: ``consented`` is about *this* request only. That is how "that
participant agrees, every time" and "the organizer agrees, every time" hold by construction.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import TypeAlias

from core.errors import ErrorCode, LocalProtocolError
from core.rules.state import PeerId, SessionState, is_valid_peer_id


class Action(StrEnum):
    """Everything a peer can ask the session to do; one member per rule of the table."""

    JOIN = "join"
    ADMIT = "admit"
    REJECT = "reject"
    PROPOSE_PRESENTER = "propose_presenter"
    HAND_TO_ORGANIZER = "hand_to_organizer"
    TAKE_BACK = "take_back"
    PRESENT = "present"
    SHARE = "share"
    PAUSE = "pause"
    RESUME = "resume"
    STOP_PRESENTING = "stop_presenting"
    REQUEST_CONTROL = "request_control"
    GRANT_CONTROL = "grant_control"
    REVOKE_CONTROL = "revoke_control"
    RELEASE_CONTROL = "release_control"
    END_SESSION = "end_session"
    KICK = "kick"
    LOCK = "lock"
    UNLOCK = "unlock"
    LEAVE = "leave"


class Consent(StrEnum):
    """Whose "yes" an action waits for.

    ``ORGANIZER`` is the organizer approving someone else's request on the organizer's machine;
    ``ORGANIZER_LOCAL`` is the acting organizer's own confirmation dialog. Both are asked of the
    organizer, but only the first involves a message from another peer.
    """

    TARGET = "target"
    PRESENTER = "presenter"
    ORGANIZER = "organizer"
    ORGANIZER_LOCAL = "organizer_local"


class ActorKind(StrEnum):
    """The capacities in which a peer can act; a peer usually has several at once."""

    ANYONE = "anyone"
    MEMBER = "member"
    ORGANIZER = "organizer"
    PRESENTER = "presenter"
    VIEWER = "viewer"
    """A member who is not presenting (the organizer too, while someone else presents)."""
    CONTROLLER = "controller"


class TargetKind(StrEnum):
    """What an action's ``target`` has to name."""

    NONE = "none"
    MEMBER = "member"
    NEWCOMER = "newcomer"
    """A peer outside the session: the knock being answered. Knocks live with the relay's
    connections, not in :class:`SessionState`, so any valid non-member id qualifies here."""


def actor_kinds(state: SessionState, peer: PeerId) -> frozenset[ActorKind]:
    """Every :class:`ActorKind` ``peer`` has in ``state``; the table matches rules against it."""
    if peer not in state.members:
        return frozenset({ActorKind.ANYONE})
    kinds = {ActorKind.ANYONE, ActorKind.MEMBER}
    if peer == state.organizer:
        kinds.add(ActorKind.ORGANIZER)
    kinds.add(ActorKind.PRESENTER if peer == state.presenter else ActorKind.VIEWER)
    if peer == state.controller:
        kinds.add(ActorKind.CONTROLLER)
    return frozenset(kinds)


# --------------------------------------------------------------------------------------------
# Decisions: what decide() answers.


@dataclass(frozen=True, slots=True)
class Allowed:
    """The action is allowed; ``state`` is the session after it."""

    state: SessionState


@dataclass(frozen=True, slots=True)
class NeedsConsent:
    """Allowed once ``from_peer`` says yes; ask them, then decide again with ``consented=True``."""

    consent: Consent
    from_peer: PeerId


@dataclass(frozen=True, slots=True)
class Refused:
    """Not allowed: ``code`` is for programs, ``reason`` is a sentence for the person."""

    code: ErrorCode
    reason: str


Decision: TypeAlias = Allowed | NeedsConsent | Refused


# --------------------------------------------------------------------------------------------
# The vocabulary rows are written in: one request, predicates over it, effects on the state.


@dataclass(frozen=True, slots=True)
class Move:
    """One request being judged: the state it applies to, who asks, and whom it is about."""

    state: SessionState
    actor: PeerId
    target: PeerId | None


Predicate: TypeAlias = Callable[[Move], bool]
Effect: TypeAlias = Callable[[Move], SessionState]


@dataclass(frozen=True, slots=True)
class Check:
    """A precondition of a row and what to say when it fails.

    ``reason`` is a template: ``{actor}``, ``{target}``, ``{organizer}``, ``{presenter}`` and
    ``{controller}`` are filled from the request, so a refusal can say *who* is in the way.
    """

    holds: Predicate
    code: ErrorCode
    reason: str

    @property
    def name(self) -> str:
        """The predicate's name, so a check can be identified in tests and logs."""
        return self.holds.__name__


def _always(move: Move) -> bool:
    """Consent applies unconditionally."""
    return True


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the rules table (docs/design.md §5.1), as data.

    ``who`` is the sentence given to an actor whose kind is not in ``actors``. ``consent`` is
    needed only when ``consent_when`` holds (a password-less join, say).
    """

    row: str
    actors: frozenset[ActorKind]
    effect: Effect
    who: str = ""
    target: TargetKind = TargetKind.NONE
    checks: tuple[Check, ...] = ()
    consent: Consent | None = None
    consent_when: Predicate = _always


# Predicates. Named, so that a row reads as a sentence.


def actor_id_valid(move: Move) -> bool:
    """The joiner has an id the relay could have assigned."""
    return is_valid_peer_id(move.actor)


def actor_not_member(move: Move) -> bool:
    """The joiner is not in the session yet."""
    return move.actor not in move.state.members


def unlocked(move: Move) -> bool:
    """The session still lets new people in."""
    return not move.state.locked


def locked(move: Move) -> bool:
    """The session is locked."""
    return move.state.locked


def no_password(move: Move) -> bool:
    """Nothing but the organizer vouches for a joiner."""
    return not move.state.has_password


def target_not_organizer(move: Move) -> bool:
    """The target is a participant."""
    return move.target != move.state.organizer


def target_not_presenter(move: Move) -> bool:
    """The target is not the one presenting."""
    return move.target != move.state.presenter


def target_not_controller(move: Move) -> bool:
    """The target does not hold remote control already."""
    return move.target != move.state.controller


def someone_presents(move: Move) -> bool:
    """There is a presenter."""
    return move.state.presenter is not None


def nobody_presents(move: Move) -> bool:
    """Nobody is presenting."""
    return move.state.presenter is None


def actor_not_presenter(move: Move) -> bool:
    """The actor is not the one presenting."""
    return move.actor != move.state.presenter


def presenter_is_participant(move: Move) -> bool:
    """The presenter is someone other than the organizer."""
    return move.state.presenter != move.state.organizer


def presenter_has_presented(move: Move) -> bool:
    """The presenting participant agreed to present in this session, so is not asked again."""
    return move.state.presenter in move.state.has_presented


def not_paused(move: Move) -> bool:
    """The presenter is sharing."""
    return not move.state.paused


def paused(move: Move) -> bool:
    """The presenter has hidden their screen."""
    return move.state.paused


def actor_not_controller(move: Move) -> bool:
    """The actor does not hold remote control already."""
    return move.actor != move.state.controller


def control_free(move: Move) -> bool:
    """Nobody holds remote control: one controller at a time."""
    return move.state.controller is None


def someone_controls(move: Move) -> bool:
    """Somebody holds remote control."""
    return move.state.controller is not None


# Effects. Each returns a new state; the helpers keep the "grants end when …" promises in one
# place so no row can forget them.


def _target(move: Move) -> PeerId:
    """The target of a row that has one (the target gate has already made sure)."""
    if move.target is None:
        raise LocalProtocolError(ErrorCode.INTERNAL, "rule effect needs a target")
    return move.target


def _hand_presenting(state: SessionState, peer: PeerId) -> SessionState:
    """``peer`` presents: any grant ends and any pause ends with the old presenter's screen."""
    has_presented = state.has_presented
    if peer != state.organizer:
        has_presented = has_presented | {peer}
    return replace(
        state, presenter=peer, controller=None, paused=False, has_presented=has_presented
    )


def _ended(state: SessionState) -> SessionState:
    """The session is over: nobody presents, every grant ends, nothing changes any more."""
    return replace(state, ended=True, presenter=None, controller=None, paused=False)


def _without(state: SessionState, peer: PeerId) -> SessionState:
    """``peer`` is gone. The organizer going ends the session; a presenter going leaves nobody
    presenting, because nobody else may be made to present without their consent."""
    if peer == state.organizer:
        return _ended(state)
    presenter_left = peer == state.presenter
    return replace(
        state,
        members=state.members - {peer},
        has_presented=state.has_presented - {peer},
        presenter=None if presenter_left else state.presenter,
        paused=False if presenter_left else state.paused,
        controller=None if presenter_left or peer == state.controller else state.controller,
    )


def admit_actor(move: Move) -> SessionState:
    """The joiner becomes a member."""
    return replace(move.state, members=move.state.members | {move.actor})


def admit_target(move: Move) -> SessionState:
    """The knocking peer becomes a member."""
    return replace(move.state, members=move.state.members | {_target(move)})


def no_change(move: Move) -> SessionState:
    """Allowed, but nothing the rules track changes (what is shared; a refused knock)."""
    return move.state


def target_presents(move: Move) -> SessionState:
    """The proposed participant presents."""
    return _hand_presenting(move.state, _target(move))


def organizer_presents(move: Move) -> SessionState:
    """The organizer presents."""
    return _hand_presenting(move.state, move.state.organizer)


def pause(move: Move) -> SessionState:
    """The screen is hidden, and with nothing to see nobody may steer: the grant ends."""
    return replace(move.state, paused=True, controller=None)


def resume(move: Move) -> SessionState:
    """The screen is shown again; control is not restored, it must be asked for anew."""
    return replace(move.state, paused=False)


def nobody_presents_now(move: Move) -> SessionState:
    """Nobody presents: with no screen shown nobody may steer, and there is nothing to pause."""
    return replace(move.state, presenter=None, controller=None, paused=False)


def actor_controls(move: Move) -> SessionState:
    """The requester holds remote control."""
    return replace(move.state, controller=move.actor)


def target_controls(move: Move) -> SessionState:
    """The member the presenter chose holds remote control."""
    return replace(move.state, controller=_target(move))


def drop_control(move: Move) -> SessionState:
    """Nobody holds remote control."""
    return replace(move.state, controller=None)


def end(move: Move) -> SessionState:
    """The session is over."""
    return _ended(move.state)


def remove_target(move: Move) -> SessionState:
    """The target is removed from the session."""
    return _without(move.state, _target(move))


def remove_actor(move: Move) -> SessionState:
    """The actor leaves."""
    return _without(move.state, move.actor)


def lock(move: Move) -> SessionState:
    """Nobody new gets in."""
    return replace(move.state, locked=True)


def unlock(move: Move) -> SessionState:
    """People may knock again."""
    return replace(move.state, locked=False)


# --------------------------------------------------------------------------------------------
# The table.

_ORGANIZER = frozenset({ActorKind.ORGANIZER})
_PRESENTER = frozenset({ActorKind.PRESENTER})
_ALREADY_PRESENTING = Check(
    actor_not_presenter, ErrorCode.ALREADY_DONE, "You are already presenting."
)
_OWN_SCREEN = "The presenter cannot take remote control of their own screen."

RULES: Mapping[Action, Rule] = MappingProxyType(
    {
        Action.JOIN: Rule(
            row="join: anyone with the ID (+ password); "
            "password-less knocks wait for the organizer",
            actors=frozenset({ActorKind.ANYONE}),
            checks=(
                Check(actor_id_valid, ErrorCode.BAD_FIELD, "Peer id {actor} cannot join."),
                Check(actor_not_member, ErrorCode.ALREADY_DONE, "You are already in the session."),
                Check(unlocked, ErrorCode.SESSION_LOCKED, "The session is locked."),
            ),
            consent=Consent.ORGANIZER,
            consent_when=no_password,
            effect=admit_actor,
        ),
        Action.ADMIT: Rule(
            row="admit a knock: organizer",
            actors=_ORGANIZER,
            who="Only the organizer can let someone in.",
            target=TargetKind.NEWCOMER,
            checks=(
                Check(
                    unlocked,
                    ErrorCode.SESSION_LOCKED,
                    "The session is locked; unlock it before letting anyone in.",
                ),
            ),
            effect=admit_target,
        ),
        Action.REJECT: Rule(
            row="turn a knock away: organizer",
            actors=_ORGANIZER,
            who="Only the organizer can turn a knock away.",
            target=TargetKind.NEWCOMER,
            effect=no_change,
        ),
        Action.PROPOSE_PRESENTER: Rule(
            row="make a participant the presenter: organizer or presenter proposes; "
            "that participant agrees, every time",
            actors=frozenset({ActorKind.ORGANIZER, ActorKind.PRESENTER}),
            who="Only the organizer or the presenter can propose a new presenter.",
            target=TargetKind.MEMBER,
            checks=(
                Check(
                    target_not_organizer,
                    ErrorCode.NOT_ALLOWED,
                    "The organizer is not proposed; they take presenting back or are handed it.",
                ),
                Check(
                    target_not_presenter,
                    ErrorCode.ALREADY_DONE,
                    "Member {target} is already presenting.",
                ),
            ),
            consent=Consent.TARGET,
            effect=target_presents,
        ),
        Action.HAND_TO_ORGANIZER: Rule(
            row="make the organizer the presenter: the presenter hands it over; "
            "the organizer agrees, every time",
            actors=_PRESENTER,
            who="Only the presenter can hand presenting to the organizer.",
            checks=(
                Check(
                    presenter_is_participant,
                    ErrorCode.ALREADY_DONE,
                    "The organizer is already presenting.",
                ),
            ),
            consent=Consent.ORGANIZER,
            effect=organizer_presents,
        ),
        Action.TAKE_BACK: Rule(
            row="make the organizer the presenter: the organizer takes it back, confirming "
            "locally every time; a participant who has presented is not asked",
            actors=_ORGANIZER,
            who="Only the organizer can take presenting back.",
            checks=(
                Check(
                    someone_presents,
                    ErrorCode.NOT_ALLOWED,
                    "Nobody is presenting; start presenting instead.",
                ),
                _ALREADY_PRESENTING,
                Check(
                    presenter_has_presented,
                    ErrorCode.NOT_ALLOWED,
                    "Member {presenter} has not presented yet; ask them to hand presenting over.",
                ),
            ),
            consent=Consent.ORGANIZER_LOCAL,
            effect=organizer_presents,
        ),
        Action.PRESENT: Rule(
            row="the organizer starts presenting when nobody does, confirming locally",
            actors=_ORGANIZER,
            who="Only the organizer can start presenting unasked; participants are proposed.",
            checks=(
                _ALREADY_PRESENTING,
                Check(
                    nobody_presents,
                    ErrorCode.NOT_ALLOWED,
                    "Member {presenter} is presenting; take presenting back instead.",
                ),
            ),
            consent=Consent.ORGANIZER_LOCAL,
            effect=organizer_presents,
        ),
        Action.SHARE: Rule(
            row="share what: presenter picks a monitor, region or window",
            actors=_PRESENTER,
            who="Only the presenter chooses what is shared.",
            effect=no_change,
        ),
        Action.PAUSE: Rule(
            row="hide: presenter pauses at any moment; any grant ends",
            actors=_PRESENTER,
            who="Only the presenter can pause sharing.",
            checks=(Check(not_paused, ErrorCode.ALREADY_DONE, "Sharing is already paused."),),
            effect=pause,
        ),
        Action.RESUME: Rule(
            row="show again: presenter resumes",
            actors=_PRESENTER,
            who="Only the presenter can resume sharing.",
            checks=(Check(paused, ErrorCode.ALREADY_DONE, "Sharing is not paused."),),
            effect=resume,
        ),
        Action.STOP_PRESENTING: Rule(
            row="stop presenting: the presenter stops at any moment (or cannot capture); "
            "any grant ends; nobody presents",
            actors=_PRESENTER,
            who="Only the presenter can stop presenting.",
            effect=nobody_presents_now,
        ),
        Action.REQUEST_CONTROL: Rule(
            row="request remote control: organizer or any viewer asks; "
            "the presenter agrees, always",
            actors=frozenset({ActorKind.ORGANIZER, ActorKind.VIEWER}),
            who=_OWN_SCREEN,
            checks=(
                Check(
                    someone_presents,
                    ErrorCode.NOT_ALLOWED,
                    "Nobody is presenting, so there is no screen to control.",
                ),
                Check(actor_not_presenter, ErrorCode.NOT_ALLOWED, _OWN_SCREEN),
                Check(
                    not_paused,
                    ErrorCode.NOT_ALLOWED,
                    "Sharing is paused; ask for control once it resumes.",
                ),
                Check(
                    actor_not_controller, ErrorCode.ALREADY_DONE, "You already have remote control."
                ),
                Check(
                    control_free,
                    ErrorCode.CONTROL_HELD,
                    "Member {controller} has remote control; the presenter must revoke it first.",
                ),
            ),
            consent=Consent.PRESENTER,
            effect=actor_controls,
        ),
        Action.GRANT_CONTROL: Rule(
            row="grant remote control: presenter offers to a member; one controller at a time",
            actors=_PRESENTER,
            who="Only the presenter can grant remote control of their screen.",
            target=TargetKind.MEMBER,
            checks=(
                Check(
                    target_not_presenter,
                    ErrorCode.NOT_ALLOWED,
                    "You already control your own screen.",
                ),
                Check(
                    not_paused,
                    ErrorCode.NOT_ALLOWED,
                    "Sharing is paused; resume before granting control.",
                ),
                Check(
                    target_not_controller,
                    ErrorCode.ALREADY_DONE,
                    "Member {target} already has remote control.",
                ),
                Check(
                    control_free,
                    ErrorCode.CONTROL_HELD,
                    "Member {controller} has remote control; revoke it first.",
                ),
            ),
            effect=target_controls,
        ),
        Action.REVOKE_CONTROL: Rule(
            row="revoke remote control: presenter, instantly",
            actors=_PRESENTER,
            who="Only the presenter can revoke remote control.",
            checks=(Check(someone_controls, ErrorCode.ALREADY_DONE, "Nobody has remote control."),),
            effect=drop_control,
        ),
        Action.RELEASE_CONTROL: Rule(
            row="give remote control up: the controller",
            actors=frozenset({ActorKind.CONTROLLER}),
            who="You do not have remote control.",
            effect=drop_control,
        ),
        Action.END_SESSION: Rule(
            row="end the session: organizer or presenter",
            actors=frozenset({ActorKind.ORGANIZER, ActorKind.PRESENTER}),
            who="Only the organizer or the presenter can end the session.",
            effect=end,
        ),
        Action.KICK: Rule(
            row="remove a member: organizer",
            actors=_ORGANIZER,
            who="Only the organizer can remove a member.",
            target=TargetKind.MEMBER,
            checks=(
                Check(
                    target_not_organizer,
                    ErrorCode.NOT_ALLOWED,
                    "The organizer cannot be removed; the organizer leaving ends the session.",
                ),
            ),
            effect=remove_target,
        ),
        Action.LOCK: Rule(
            row="lock the session: organizer",
            actors=_ORGANIZER,
            who="Only the organizer can lock the session.",
            checks=(Check(unlocked, ErrorCode.ALREADY_DONE, "The session is already locked."),),
            effect=lock,
        ),
        Action.UNLOCK: Rule(
            row="unlock the session: organizer",
            actors=_ORGANIZER,
            who="Only the organizer can unlock the session.",
            checks=(Check(locked, ErrorCode.ALREADY_DONE, "The session is not locked."),),
            effect=unlock,
        ),
        Action.LEAVE: Rule(
            row="leave: any member; the organizer leaving ends the session",
            actors=frozenset({ActorKind.MEMBER}),
            effect=remove_actor,
        ),
    }
)


# --------------------------------------------------------------------------------------------
# The interpreter.


def _format(template: str, move: Move) -> str:
    """Fill a refusal template from the request."""
    state = move.state
    return template.format(
        actor=move.actor,
        target=move.target,
        organizer=state.organizer,
        presenter=state.presenter,
        controller=state.controller,
    )


def _gate_session(action: Action, rule: Rule, move: Move) -> Refused | None:
    """Nothing happens in an ended session."""
    if move.state.ended:
        return Refused(ErrorCode.SESSION_ENDED, "The session has ended.")
    return None


def _gate_membership(action: Action, rule: Rule, move: Move) -> Refused | None:
    """Only members act, except where anyone may (knocking)."""
    if ActorKind.ANYONE in rule.actors or move.actor in move.state.members:
        return None
    return Refused(ErrorCode.NOT_IN_SESSION, "You are not in this session.")


def _gate_actor(action: Action, rule: Rule, move: Move) -> Refused | None:
    """The actor holds one of the roles the row names."""
    if rule.actors & actor_kinds(move.state, move.actor):
        return None
    return Refused(ErrorCode.NOT_ALLOWED, rule.who)


def _gate_target(action: Action, rule: Rule, move: Move) -> Refused | None:
    """The target names what the row is about: nobody, a member, or a knocking newcomer."""
    target, members = move.target, move.state.members
    if rule.target is TargetKind.NONE:
        if target is None:
            return None
        return Refused(ErrorCode.BAD_FIELD, f"'{action}' does not name a member.")
    if target is None:
        return Refused(ErrorCode.BAD_FIELD, f"'{action}' needs someone to act on.")
    if rule.target is TargetKind.MEMBER:
        if target in members:
            return None
        return Refused(ErrorCode.NO_SUCH_MEMBER, f"Member {target} is not in this session.")
    if not is_valid_peer_id(target):
        return Refused(ErrorCode.BAD_FIELD, f"Peer id {target} cannot be a member.")
    if target in members:
        return Refused(ErrorCode.ALREADY_DONE, f"Member {target} is already in the session.")
    return None


_GATES = (_gate_session, _gate_membership, _gate_actor, _gate_target)


def _refusal(action: Action, rule: Rule, move: Move) -> Refused | None:
    """The first reason, in the most useful order, why ``move`` cannot happen."""
    for gate in _GATES:
        refused = gate(action, rule, move)
        if refused is not None:
            return refused
    for check in rule.checks:
        if not check.holds(move):
            return Refused(check.code, _format(check.reason, move))
    return None


def _consenting_peer(consent: Consent, move: Move) -> PeerId:
    """Who has to say yes. The row's checks guarantee that party exists."""
    if consent is Consent.TARGET:
        return _target(move)
    if consent is Consent.PRESENTER:
        if move.state.presenter is None:
            raise LocalProtocolError(ErrorCode.INTERNAL, "presenter consent without a presenter")
        return move.state.presenter
    return move.state.organizer


def decide(
    state: SessionState,
    actor: PeerId,
    action: Action,
    target: PeerId | None = None,
    consented: bool = False,
) -> Decision:
    """Judge one request against the rules table (docs/design.md §5.2).

    ``consented`` says the party that :class:`NeedsConsent` named has agreed to *this* request;
    it is ignored by rows that need no consent and never weakens any other check.
    """
    rule = RULES[action]
    move = Move(state, actor, target)
    refused = _refusal(action, rule, move)
    if refused is not None:
        return refused
    if rule.consent is not None and not consented and rule.consent_when(move):
        return NeedsConsent(rule.consent, _consenting_peer(rule.consent, move))
    return Allowed(rule.effect(move))


def _fresh_peer(state: SessionState) -> PeerId:
    """A valid id outside the session: stands in for "somebody knocking"."""
    return next(peer for peer in itertools.count(1) if peer not in state.members)


def _candidate_targets(kind: TargetKind, state: SessionState) -> Iterable[PeerId | None]:
    """Enough targets to find out whether a row can apply at all."""
    if kind is TargetKind.NONE:
        return (None,)
    if kind is TargetKind.MEMBER:
        return sorted(state.members)
    return (_fresh_peer(state),)


def possible_actions(state: SessionState, actor: PeerId) -> frozenset[Action]:
    """What a client should offer ``actor``: every action :func:`decide` would not refuse for at
    least one target (possibly after asking for consent)."""
    return frozenset(
        action
        for action, rule in RULES.items()
        if any(
            not isinstance(decide(state, actor, action, target), Refused)
            for target in _candidate_targets(rule.target, state)
        )
    )


def possible_targets(state: SessionState, actor: PeerId, action: Action) -> frozenset[PeerId]:
    """The members ``actor`` may name for ``action`` (whom to propose, grant control to, kick).

    Empty for rows without a member target: pending knocks are not part of the state, so there
    is nothing here to list for ADMIT or REJECT.
    """
    if RULES[action].target is not TargetKind.MEMBER:
        return frozenset()
    return frozenset(
        peer
        for peer in state.members
        if not isinstance(decide(state, actor, action, peer), Refused)
    )
