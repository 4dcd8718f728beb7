"""Display names are unique within a session: the leader turns away a second "Ana" (any case,
full-width, extra spaces), after the password proof, with a sentence naming the name.

Real relay on loopback TLS, real clients; the relay only forwards the leader's verdict.
"""

from __future__ import annotations

import pytest
import trio
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay
from sessionkit import connect, next_event

from core.client import MemberSession, RequestRefused
from core.client.events import JOIN_NAME_TAKEN_REASON, JoinAttemptFailed, KnockReceived
from core.errors import ErrorCode
from core.failures import NEXT_STEP, UsageError

SESSION_PASSWORD = "plum-orchard-12"


async def test_a_second_ana_is_refused_at_the_knock_with_the_name(relay: RunningRelay) -> None:
    async with (
        connect(relay.port, relay.fingerprint) as oc,
        connect(relay.port, relay.fingerprint) as ac,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        await ac.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
        for name in ("ana", "ＡＮＡ", "  Ana ", "OLGA"):
            async with connect(relay.port, relay.fingerprint) as eve:
                with pytest.raises(RequestRefused) as refused:
                    await eve.join(org.session_id, name=name, password=SESSION_PASSWORD)
            assert refused.value.code is ErrorCode.NAME_TAKEN, name
            assert refused.value.message == f"The name '{name}' is taken in this session."
            assert "--name" in refused.value.sentence()
            failed = await next_event(org, JoinAttemptFailed)
            assert (failed.name, failed.reason) == (name, JOIN_NAME_TAKEN_REASON)
        # A name that merely starts alike is a different name.
        async with connect(relay.port, relay.fingerprint) as bel:
            anabel = await bel.join(org.session_id, name="Anabel", password=SESSION_PASSWORD)
            assert anabel.security_code == org.security_code


async def test_a_wrong_password_under_a_taken_name_hears_only_wrong_password(
    relay: RunningRelay,
) -> None:
    """Names are said to be taken only to someone who proved the password (no name probing)."""
    async with connect(relay.port, relay.fingerprint) as oc:
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        async with connect(relay.port, relay.fingerprint) as eve:
            with pytest.raises(RequestRefused) as refused:
                await eve.join(org.session_id, name="olga", password="guess")
        assert refused.value.code is ErrorCode.JOIN_REFUSED


async def test_of_two_waiting_knocks_with_one_name_only_the_first_approved_gets_in(
    relay: RunningRelay,
) -> None:
    async with connect(relay.port, relay.fingerprint) as oc:
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga")  # no password: every knock waits
        outcomes: dict[str, object] = {}

        async def knock(client_name: str, name: str) -> None:
            async with connect(relay.port, relay.fingerprint) as client:
                try:
                    outcomes[client_name] = await client.join(org.session_id, name=name)
                except RequestRefused as exc:
                    outcomes[client_name] = exc.code
                    return
                await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(knock, "first", "Ana")
            first = await next_event(org, KnockReceived)
            nursery.start_soon(knock, "second", "ana")
            second = await next_event(org, KnockReceived)
            assert first.needs_approval
            assert second.needs_approval
            await org.admit(first.peer_id)
            await org.admit(second.peer_id)
            await next_event(org, JoinAttemptFailed, lambda e: e.peer_id == second.peer_id)
            with trio.fail_after(10):
                while len(outcomes) < 2:
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        assert isinstance(outcomes["first"], MemberSession)
        assert outcomes["second"] is ErrorCode.NAME_TAKEN


async def test_an_invisible_character_in_ones_own_name_is_said_before_knocking(
    relay: RunningRelay,
) -> None:
    async with (
        connect(relay.port, relay.fingerprint) as oc,
        connect(relay.port, relay.fingerprint) as ac,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        with pytest.raises(UsageError) as refused:
            await ac.join(org.session_id, name="Olga\u200b", password=SESSION_PASSWORD)
        assert "U+200B" in refused.value.message


def test_the_next_step_for_a_taken_name_says_how_to_pick_another() -> None:
    assert "--name" in NEXT_STEP[ErrorCode.NAME_TAKEN]
