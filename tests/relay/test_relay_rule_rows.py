"""Every row of the rules table (docs/design.md §5.1), through a real relay with real clients.

The pure table is tested exhaustively in tests/core/test_rules.py; here each row is driven at
least once over the wire, allowed and refused, to prove the relay enforces the same table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay
from sessionkit import connect, next_event

from core.client import MemberSession, OrganizerSession, RequestRefused
from core.client.events import ActionAnswered, ConsentRequested, RosterChanged, SessionClosed
from core.errors import ErrorCode
from core.protocol.messages import ActionCode, ActionOutcome, Roster

PASSWORD = "tangerine-7"


@dataclass
class Trio:
    org: OrganizerSession
    ana: MemberSession
    ben: MemberSession


@asynccontextmanager
async def session_of_three(relay: RunningRelay) -> AsyncIterator[Trio]:
    async with (
        connect(relay.port, relay.fingerprint) as oc,
        connect(relay.port, relay.fingerprint) as ac,
        connect(relay.port, relay.fingerprint) as bc,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=PASSWORD)
        ana = await ac.join(org.session_id, name="Ana", password=PASSWORD)
        ben = await bc.join(org.session_id, name="Ben", password=PASSWORD)
        await next_event(org, RosterChanged, lambda e: len(e.roster.members) == 3)
        yield Trio(org, ana, ben)


async def act(
    session: OrganizerSession | MemberSession,
    action: ActionCode,
    target: int | None = None,
    *,
    confirmed: bool = False,
) -> ActionAnswered:
    """Request ``action`` and return its final answer (after any consent)."""
    rid = await session.request(action, target, confirmed=confirmed)
    return await next_event(
        session,
        ActionAnswered,
        lambda a: a.request_id == rid and a.outcome is not ActionOutcome.WAITING_FOR_CONSENT,
    )


async def consent(session: OrganizerSession | MemberSession, action: ActionCode, yes: bool) -> None:
    ask = await next_event(session, ConsentRequested, lambda c: c.action is action)
    await session.answer_consent(ask.consent_id, granted=yes)


async def roster_where(session: OrganizerSession | MemberSession, ok: object) -> Roster:
    event = await next_event(session, RosterChanged, lambda e: ok(e.roster))  # type: ignore[operator]
    return event.roster


def refused(answer: ActionAnswered, code: ErrorCode) -> None:
    assert answer.outcome is ActionOutcome.REFUSED, answer
    assert answer.code is code, answer


def applied(answer: ActionAnswered) -> None:
    assert answer.outcome is ActionOutcome.APPLIED, answer


async def test_presenter_rows_propose_hand_over_take_back_present(relay: RunningRelay) -> None:
    async with session_of_three(relay) as s:
        org, ana, ben = s.org, s.ana, s.ben
        # start: the organizer presents. A participant cannot propose anyone.
        refused(await act(ben, ActionCode.PROPOSE_PRESENTER, ana.peer_id), ErrorCode.NOT_ALLOWED)
        # organizer proposes Ana: she must agree (first time) ...
        await org.request(ActionCode.PROPOSE_PRESENTER, ana.peer_id)
        await consent(ana, ActionCode.PROPOSE_PRESENTER, yes=True)
        await roster_where(org, lambda r: r.presenter == ana.peer_id)
        # ... the presenter (Ana) proposes Ben: Ben says no, every time he is asked.
        refused(
            await _with_consent(ana, ben, ActionCode.PROPOSE_PRESENTER, ben.peer_id, yes=False),
            ErrorCode.CONSENT_REFUSED,
        )
        # Ana hands presenting to the organizer: the organizer is asked, and agrees.
        answer = await _with_consent(ana, org, ActionCode.HAND_TO_ORGANIZER, None, yes=True)
        applied(answer)
        await roster_where(ana, lambda r: r.presenter == 1)
        # Ana again presents (asked again, agrees); the organizer takes it back without
        # asking her, but only with its own local confirmation.
        await _with_consent(org, ana, ActionCode.PROPOSE_PRESENTER, ana.peer_id, yes=True)
        await roster_where(org, lambda r: r.presenter == ana.peer_id)
        refused(await act(org, ActionCode.TAKE_BACK), ErrorCode.CONSENT_REFUSED)
        applied(await act(org, ActionCode.TAKE_BACK, confirmed=True))
        await roster_where(ana, lambda r: r.presenter == 1)
        # Nobody presents after the presenter leaves; the organizer may then PRESENT itself.
        await _with_consent(org, ben, ActionCode.PROPOSE_PRESENTER, ben.peer_id, yes=True)
        await roster_where(org, lambda r: r.presenter == ben.peer_id)
        await ben.leave()
        await roster_where(org, lambda r: r.presenter is None)
        refused(await act(ana, ActionCode.PRESENT), ErrorCode.NOT_ALLOWED)
        applied(await act(org, ActionCode.PRESENT, confirmed=True))
        await roster_where(ana, lambda r: r.presenter == 1)


async def _with_consent(
    actor: OrganizerSession | MemberSession,
    asked: OrganizerSession | MemberSession,
    action: ActionCode,
    target: int | None,
    *,
    yes: bool,
) -> ActionAnswered:
    rid = await actor.request(action, target)
    await consent(asked, action, yes)
    return await next_event(
        actor,
        ActionAnswered,
        lambda a: a.request_id == rid and a.outcome is not ActionOutcome.WAITING_FOR_CONSENT,
    )


async def test_share_pause_and_control_rows(relay: RunningRelay) -> None:
    async with session_of_three(relay) as s:
        org, ana, ben = s.org, s.ana, s.ben
        # SHARE and PAUSE/RESUME: the presenter only.
        refused(await act(ana, ActionCode.SHARE), ErrorCode.NOT_ALLOWED)
        applied(await act(org, ActionCode.SHARE))
        refused(await act(ben, ActionCode.PAUSE), ErrorCode.NOT_ALLOWED)
        applied(await act(org, ActionCode.PAUSE))
        await roster_where(ana, lambda r: r.paused)
        # While paused nobody can get control.
        refused(await act(ana, ActionCode.REQUEST_CONTROL), ErrorCode.NOT_ALLOWED)
        applied(await act(org, ActionCode.RESUME))
        await roster_where(ana, lambda r: not r.paused)
        # GRANT_CONTROL: the presenter's own act, no consent; one controller at a time.
        refused(await act(ana, ActionCode.GRANT_CONTROL, ben.peer_id), ErrorCode.NOT_ALLOWED)
        applied(await act(org, ActionCode.GRANT_CONTROL, ana.peer_id))
        await roster_where(ben, lambda r: r.controller == ana.peer_id)
        refused(await act(ben, ActionCode.REQUEST_CONTROL), ErrorCode.CONTROL_HELD)
        # RELEASE_CONTROL: the controller gives it up.
        refused(await act(ben, ActionCode.RELEASE_CONTROL), ErrorCode.NOT_ALLOWED)
        applied(await act(ana, ActionCode.RELEASE_CONTROL))
        await roster_where(org, lambda r: r.controller is None)
        # REQUEST_CONTROL: the presenter is asked, always; REVOKE_CONTROL by the presenter.
        refused(
            await _with_consent(ben, org, ActionCode.REQUEST_CONTROL, None, yes=False),
            ErrorCode.CONSENT_REFUSED,
        )
        applied(await _with_consent(ben, org, ActionCode.REQUEST_CONTROL, None, yes=True))
        await roster_where(ana, lambda r: r.controller == ben.peer_id)
        refused(await act(ana, ActionCode.REVOKE_CONTROL), ErrorCode.NOT_ALLOWED)
        applied(await act(org, ActionCode.REVOKE_CONTROL))
        await roster_where(ben, lambda r: r.controller is None)
        # Pausing ends a grant.
        applied(await act(org, ActionCode.GRANT_CONTROL, ben.peer_id))
        await roster_where(ana, lambda r: r.controller == ben.peer_id)
        applied(await act(org, ActionCode.PAUSE))
        roster = await roster_where(ana, lambda r: r.paused)
        assert roster.controller is None
        # STOP_PRESENTING: the presenter only, at any moment (paused too); nobody presents
        # after it, and nobody controls.
        applied(await act(org, ActionCode.RESUME))
        applied(await act(org, ActionCode.GRANT_CONTROL, ben.peer_id))
        await roster_where(ana, lambda r: r.controller == ben.peer_id)
        refused(await act(ben, ActionCode.STOP_PRESENTING), ErrorCode.NOT_ALLOWED)
        applied(await act(org, ActionCode.STOP_PRESENTING))
        roster = await roster_where(ana, lambda r: r.presenter is None)
        assert roster.controller is None
        assert not roster.paused
        refused(await act(org, ActionCode.STOP_PRESENTING), ErrorCode.NOT_ALLOWED)


async def test_organizer_rows_lock_unlock_kick_and_end_by_presenter(relay: RunningRelay) -> None:
    async with session_of_three(relay) as s:
        org, ana, ben = s.org, s.ana, s.ben
        refused(await act(ana, ActionCode.LOCK), ErrorCode.NOT_ALLOWED)
        applied(await act(org, ActionCode.LOCK))
        async with connect(relay.port, relay.fingerprint) as late:
            with pytest.raises(RequestRefused) as locked:
                await late.join(org.session_id, name="Cho", password=PASSWORD)
            assert locked.value.code is ErrorCode.SESSION_LOCKED
        refused(await act(org, ActionCode.LOCK), ErrorCode.ALREADY_DONE)
        refused(await act(ben, ActionCode.UNLOCK), ErrorCode.NOT_ALLOWED)
        applied(await act(org, ActionCode.UNLOCK))
        async with connect(relay.port, relay.fingerprint) as late:
            cho = await late.join(org.session_id, name="Cho", password=PASSWORD)
            assert cho.security_code == org.security_code
            refused(await act(ana, ActionCode.KICK, cho.peer_id), ErrorCode.NOT_ALLOWED)
            refused(await act(org, ActionCode.KICK, 1), ErrorCode.NOT_ALLOWED)
            applied(await act(org, ActionCode.KICK, cho.peer_id))
            assert (await next_event(cho, SessionClosed)).code is ErrorCode.REMOVED
        # END_SESSION: a participant may not; the presenter may (here: Ana, once presenting).
        refused(await act(ben, ActionCode.END_SESSION), ErrorCode.NOT_ALLOWED)
        await _with_consent(org, ana, ActionCode.PROPOSE_PRESENTER, ana.peer_id, yes=True)
        await roster_where(ben, lambda r: r.presenter == ana.peer_id)
        applied(await act(ana, ActionCode.END_SESSION))
        for member in (org, ben):
            ended = await next_event(member, SessionClosed)
            assert ended.code is ErrorCode.SESSION_ENDED
            assert "Ana ended the session" in ended.message
