"""Sessions end to end through a real relay on loopback TLS with real clients."""

from __future__ import annotations

import functools
import stat
from pathlib import Path

import pytest
import trio
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay, add_account, make_config
from sessionkit import collect, connect, next_event

from core.client import MemberSession, RequestRefused
from core.client.events import (
    ActionAnswered,
    ConsentRequested,
    ContentReceived,
    EpochChanged,
    KnockReceived,
    RosterChanged,
    SessionClosed,
)
from core.crypto import UnknownEpoch
from core.errors import ErrorCode
from core.protocol.content import EVERYONE, Chat
from core.protocol.framing import FrameBuffer, decode_payload
from core.protocol.messages import ActionCode, ActionOutcome, Sealed
from relay.server import serve_relay
from relay.store import RelayStore

SESSION_PASSWORD = "tangerine-7"


async def test_organizer_and_three_participants_share_content(relay: RunningRelay) -> None:
    port, fp = relay.port, relay.fingerprint
    async with connect(port, fp) as org_client:
        await org_client.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await org_client.create_session(name="Olga", password=SESSION_PASSWORD)
        assert len(org.session_id) == 9
        assert org.session_id[0] != "0"
        members: list[MemberSession] = []
        async with connect(port, fp) as a, connect(port, fp) as b, connect(port, fp) as c:
            for client, name in ((a, "Ana"), (b, "Ben"), (c, "Cho")):
                member = await client.join(org.session_id, name=name, password=SESSION_PASSWORD)
                members.append(member)
                assert member.security_code == org.security_code
            await next_event(org, RosterChanged, lambda e: len(e.roster.members) == 4)
            # Wait until everyone holds the latest epoch before sending.
            for member in members[:-1]:
                await next_event(member, EpochChanged, lambda e: e.epoch == org.epoch)
            await org.send_content(Chat(text="welcome, all three"))
            await members[1].send_content(Chat(text="Ben here"))
            for member in members:
                got = await next_event(member, ContentReceived, lambda e: e.sender == 1)
                assert got.message == Chat(text="welcome, all three")
            from_ben = await next_event(org, ContentReceived)
            assert from_ben.message == Chat(text="Ben here")
            assert from_ben.sender == members[1].peer_id


async def test_passwordless_knock_waits_for_the_organizer(relay: RunningRelay) -> None:
    async with connect(relay.port, relay.fingerprint) as org_client:
        await org_client.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await org_client.create_session(name="Olga")  # no password
        async with connect(relay.port, relay.fingerprint) as ana_client:
            joined: list[MemberSession] = []

            async def join() -> None:
                joined.append(await ana_client.join(org.session_id, name="Ana"))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(join)
                knock = await next_event(org, KnockReceived)
                assert knock.needs_approval
                assert knock.name == "Ana"
                await trio.sleep(0.3)
                assert not joined, "admitted before the organizer approved"
                await org.admit(knock.peer_id)
            assert joined[0].security_code == org.security_code

        async with connect(relay.port, relay.fingerprint) as eve_client:

            async def knock_and_fail() -> None:
                with pytest.raises(RequestRefused) as refused:
                    await eve_client.join(org.session_id, name="Eve")
                assert refused.value.code is ErrorCode.KNOCK_DECLINED

            async with trio.open_nursery() as nursery:
                nursery.start_soon(knock_and_fail)
                knock = await next_event(org, KnockReceived, lambda e: e.name == "Eve")
                await org.decline(knock.peer_id)


async def test_wrong_password_and_unknown_id_look_the_same(relay: RunningRelay) -> None:
    async with connect(relay.port, relay.fingerprint) as org_client:
        await org_client.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await org_client.create_session(name="Olga", password=SESSION_PASSWORD)
        unknown = "999999999" if org.session_id != "999999999" else "888888888"
        answers = []
        for session_id, password in ((org.session_id, "wrong"), (unknown, SESSION_PASSWORD)):
            async with connect(relay.port, relay.fingerprint) as eve:
                with pytest.raises(RequestRefused) as refused:
                    await eve.join(session_id, name="Eve", password=password)
                answers.append((refused.value.code, refused.value.message))
        assert answers[0] == answers[1] == (ErrorCode.JOIN_REFUSED, "Wrong session ID or password.")


async def test_roles_change_only_as_the_rules_allow(relay: RunningRelay) -> None:
    async with (
        connect(relay.port, relay.fingerprint) as oc,
        connect(relay.port, relay.fingerprint) as ac,
        connect(relay.port, relay.fingerprint) as bc,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        ana = await ac.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
        ben = await bc.join(org.session_id, name="Ben", password=SESSION_PASSWORD)

        # A participant may not make someone else presenter.
        rid = await ana.request(ActionCode.PROPOSE_PRESENTER, ben.peer_id)
        refused = await next_event(ana, ActionAnswered, lambda e: e.request_id == rid)
        assert refused.outcome is ActionOutcome.REFUSED
        assert refused.code is ErrorCode.NOT_ALLOWED

        # The organizer proposes Ana; Ana says no: nothing changes.
        rid = await org.request(ActionCode.PROPOSE_PRESENTER, ana.peer_id)
        ask = await next_event(ana, ConsentRequested)
        assert (ask.action, ask.actor, ask.target) == (ActionCode.PROPOSE_PRESENTER, 1, ana.peer_id)
        await ana.answer_consent(ask.consent_id, granted=False)
        answer = await next_event(
            org,
            ActionAnswered,
            lambda e: e.request_id == rid and e.outcome is not ActionOutcome.WAITING_FOR_CONSENT,
        )
        assert answer.code is ErrorCode.CONSENT_REFUSED

        # Proposed again, Ana agrees: she presents.
        rid = await org.request(ActionCode.PROPOSE_PRESENTER, ana.peer_id)
        ask = await next_event(ana, ConsentRequested)
        await ana.answer_consent(ask.consent_id, granted=True)
        roster = await next_event(org, RosterChanged, lambda e: e.roster.presenter == ana.peer_id)
        assert ana.peer_id in roster.roster.has_presented

        # Ben asks for control; only the presenter (Ana) is asked, and she grants it.
        rid = await ben.request(ActionCode.REQUEST_CONTROL)
        ask = await next_event(
            ana, ConsentRequested, lambda e: e.action is ActionCode.REQUEST_CONTROL
        )
        await ana.answer_consent(ask.consent_id, granted=True)
        await next_event(org, RosterChanged, lambda e: e.roster.controller == ben.peer_id)

        # The organizer takes presenting back: refused without local confirmation, applied
        # with it, without asking Ana; Ben's control ends with the presenter change.
        rid = await org.request(ActionCode.TAKE_BACK)
        answer = await next_event(org, ActionAnswered, lambda e: e.request_id == rid)
        assert answer.code is ErrorCode.CONSENT_REFUSED
        rid = await org.request(ActionCode.TAKE_BACK, confirmed=True)
        answer = await next_event(org, ActionAnswered, lambda e: e.request_id == rid)
        assert answer.outcome is ActionOutcome.APPLIED
        roster = await next_event(ben, RosterChanged, lambda e: e.roster.presenter == 1)
        assert roster.roster.controller is None
        assert not any(isinstance(e, ConsentRequested) for e in await collect(ana, 0.3))


async def test_kick_lock_end_and_a_removed_member_reads_nothing_after_rekey(
    relay: RunningRelay,
) -> None:
    seen: dict[tuple[int, str], bytearray] = {}

    def tap(conn_id: int, direction: str, data: bytes) -> None:
        seen.setdefault((conn_id, direction), bytearray()).extend(data)

    relay.info.relay.wiretap = tap
    async with (
        connect(relay.port, relay.fingerprint) as oc,
        connect(relay.port, relay.fingerprint) as ac,
        connect(relay.port, relay.fingerprint) as bc,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        ana = await ac.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
        ben = await bc.join(org.session_id, name="Ben", password=SESSION_PASSWORD)
        await next_event(ana, EpochChanged, lambda e: e.epoch == org.epoch)
        secret_before = "the launch code is 0000 and only members may read it"
        await org.send_content(Chat(text=secret_before))
        assert (await next_event(ben, ContentReceived)).message == Chat(text=secret_before)

        # Kick Ben: he is told, the others get a roster without him and a new epoch.
        rid = await org.request(ActionCode.KICK, ben.peer_id)
        closed = await next_event(ben, SessionClosed)
        assert closed.code is ErrorCode.REMOVED
        await next_event(ana, EpochChanged, lambda e: e.epoch == org.epoch)
        seen.clear()
        secret_after = "sealed after Ben left: he must never read this sentence"
        await org.send_content(Chat(text=secret_after))
        assert (await next_event(ana, ContentReceived)).message == Chat(text=secret_after)

        # The relay saw only ciphertext, and Ben's keys do not open what it routed.
        streams = [bytes(data) for data in seen.values()]
        assert all(secret_after.encode() not in data for data in streams)
        sealed = [m for data in streams for m in _messages(data) if isinstance(m, Sealed)]
        # Acknowledgements addressed to Olga alone are refused as misrouted before any key is
        # tried; everything sealed for all must fail on the key.
        sealed = [m for m in sealed if m.header.recipient == EVERYONE]
        assert sealed, "the wiretap saw no sealed content"
        for msg in sealed:
            with pytest.raises(UnknownEpoch):
                ben._opener.open(msg.header, msg.ciphertext, msg.signature, trio.current_time())

        # Lock: a new joiner is refused with the reason.
        rid = await org.request(ActionCode.LOCK)
        await next_event(org, ActionAnswered, lambda e: e.request_id == rid)
        async with connect(relay.port, relay.fingerprint) as cc:
            with pytest.raises(RequestRefused) as refused:
                await cc.join(org.session_id, name="Cho", password=SESSION_PASSWORD)
            assert refused.value.code is ErrorCode.SESSION_LOCKED

        # The organizer ends the session: everyone is told why.
        await org.request(ActionCode.END_SESSION)
        for session in (org, ana):
            ended = await next_event(session, SessionClosed)
            assert ended.code is ErrorCode.SESSION_ENDED
            assert "Olga ended the session" in ended.message


async def test_organizer_leaving_ends_the_session_for_everyone(relay: RunningRelay) -> None:
    async with connect(relay.port, relay.fingerprint) as ac:
        async with connect(relay.port, relay.fingerprint) as oc:
            await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
            org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
            ana = await ac.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
        # The organizer's connection is gone (it closed without a Leave).
        ended = await next_event(ana, SessionClosed)
        assert ended.code is ErrorCode.ORGANIZER_LEFT
    assert relay.info.relay.statistics().sessions == 0


async def test_only_logged_in_organizers_create_and_chosen_ids_need_a_password(
    relay: RunningRelay,
) -> None:
    async with connect(relay.port, relay.fingerprint) as client:
        with pytest.raises(RequestRefused) as refused:
            await client.create_session(name="Mallory")
        assert refused.value.code is ErrorCode.NOT_LOGGED_IN
        with pytest.raises(RequestRefused) as refused:
            await client.login(ORGANIZER, "not the password at all")
        assert refused.value.code is ErrorCode.LOGIN_FAILED
        await client.login(ORGANIZER, ORGANIZER_PASSWORD)
        with pytest.raises(RequestRefused) as refused:
            await client.create_session(name="Olga", session_id="424242424")
        assert refused.value.code is ErrorCode.CHOSEN_ID_NEEDS_PASSWORD
        org = await client.create_session(
            name="Olga", session_id="424242424", password=SESSION_PASSWORD
        )
        assert org.session_id == "424242424"


async def test_records_survive_a_restart_and_the_data_dir_holds_only_what_it_should(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    config = make_config(data_dir)
    for round_ in range(2):
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            info = await nursery.start(functools.partial(serve_relay, config, stop=stop))
            async with (
                connect(info.port, info.fingerprint) as oc,
                connect(info.port, info.fingerprint) as ac,
            ):
                await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
                org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
                ana = await ac.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
                await next_event(org, RosterChanged, lambda e: len(e.roster.members) == 2)
                await ana.send_content(Chat(text=f"round {round_} chat: never stored"))
                await next_event(org, ContentReceived)
                await org.leave()
                await next_event(ana, SessionClosed)
            stop.set()
    with RelayStore.open(data_dir, time_cost=1, memory_cost=8 * 1024) as store:
        records = store.list_session_records(limit=None)
    assert len(records) == 2
    for record in records:
        assert record.ended_at is not None
        assert record.end_reason == "organizer_left"
        assert record.peak_members == 2
        assert record.bytes_relayed > 0
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "decoy.key",
        "relay-cert.pem",
        "relay-key.pem",
        "relay.db",
    ]
    decoy_key = data_dir / "decoy.key"
    assert stat.S_IMODE(decoy_key.stat().st_mode) == 0o600
    assert len(decoy_key.read_bytes()) == 32
    raw = (data_dir / "relay.db").read_bytes()
    assert b"never stored" not in raw
    assert b"Ana" not in raw
    assert SESSION_PASSWORD.encode() not in raw


def _messages(stream: bytes) -> list[object]:
    """Split one connection's captured bytes (one direction) back into messages."""
    frames = FrameBuffer()
    frames.feed(stream)
    out: list[object] = []
    while (payload := frames.next_payload()) is not None:
        out.append(decode_payload(payload))
    return out
