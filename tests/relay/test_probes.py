"""A prober without the password cannot tell a live session ID from an unknown one.

Real relay on loopback TLS, real organizer clients, and the prober of ``bench.prober`` (a fresh
connection per attempt, a wrong password, the Challenge's signature checked as a joiner checks
it). Probes against a live ID, a locked live ID and unknown IDs take turns. What is compared is
what a prober sees: message types and fields, the leader key per ID, the peer ids. Timing is
measured by ``python -m bench.prober``, not asserted here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import trio
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay, add_account, make_config
from sessionkit import connect, next_event

from bench.prober import ProbeAnswer, ks_critical, ks_distance, probe, unknown_ids
from core.client import OrganizerSession
from core.client.channel import open_channel
from core.client.events import (
    JOIN_LOCKED_REASON,
    ActionAnswered,
    JoinAttemptFailed,
    RosterChanged,
)
from core.client.relay_channel import RelayChannel
from core.crypto import JoinerAdmission
from core.errors import ErrorCode
from core.protocol.messages import ActionCode, Challenge, Error, Join
from relay.config import RelayConfig
from relay.limits import BackoffPolicy
from relay.server import serve_relay
from relay.sessions import JOIN_REFUSED_TEXT, PEER_ID_LIMIT

SESSION_PASSWORD = "tangerine-7"
PROBES = 20  # per kind of target
UNKNOWN_IDS = 4
#: Join failures never slow the prober down here: the limits count live and unknown IDs alike
#: (per address, per network, per session ID), and this is about the answers.
LOOSE = BackoffPolicy(free_failures=100_000, lockout_after=100_000)


@pytest.fixture
def relay_config(tmp_path: Path) -> RelayConfig:
    data_dir = tmp_path / "relay-data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    return make_config(
        data_dir,
        join_failures_per_address=LOOSE,
        join_failures_per_network=LOOSE,
        join_failures_per_session=LOOSE,
    )


@asynccontextmanager
async def organizer(
    relay: RunningRelay, *, locked: bool = False
) -> AsyncIterator[OrganizerSession]:
    async with connect(relay.port, relay.fingerprint) as client:
        await client.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await client.create_session(name="Olga", password=SESSION_PASSWORD)
        if locked:
            request = await org.request(ActionCode.LOCK)
            await next_event(org, ActionAnswered, lambda e: e.request_id == request)
            await next_event(org, RosterChanged, lambda e: e.roster.locked)
        yield org


def uniform_ks(values: Sequence[int]) -> float:
    """One-sample KS distance of ``values`` from the uniform draw over the peer-id range."""
    ordered = sorted(values)
    low, high = 2, PEER_ID_LIMIT - 1
    n = len(ordered)
    return max(
        max((i + 1) / n - (v - low) / (high - low), (v - low) / (high - low) - i / n)
        for i, v in enumerate(ordered)
    )


async def test_live_locked_and_unknown_ids_answer_a_prober_alike(relay: RunningRelay) -> None:
    async with organizer(relay) as live, organizer(relay, locked=True) as locked:
        targets = {
            "live": [live.session_id],
            "locked": [locked.session_id],
            "unknown": unknown_ids(UNKNOWN_IDS, [live.session_id, locked.session_id]),
        }
        answers: dict[str, list[ProbeAnswer]] = {kind: [] for kind in targets}
        for number in range(PROBES):
            for kind, ids in targets.items():
                answers[kind].append(
                    await probe(relay.port, relay.fingerprint, ids[number % len(ids)])
                )

    # Every answer, of every kind: a Challenge whose signature verifies, then the one refusal.
    expected_shape = (
        ("Challenge", "Error"),
        (32, 33, 32, 64),
        True,
        ("JOIN_REFUSED", JOIN_REFUSED_TEXT, Join.TYPE),
    )
    for kind, found in answers.items():
        assert {a.shape() for a in found} == {expected_shape}, kind

    # One leader key per ID, on every probe, live or not; different IDs, different keys.
    keys: dict[str, set[bytes]] = {}
    for found in answers.values():
        for a in found:
            assert a.challenge is not None
            keys.setdefault(a.session_id, set()).add(a.challenge.leader_key)
    assert len(keys) == 2 + UNKNOWN_IDS
    assert all(len(k) == 1 for k in keys.values()), keys
    assert len(set.union(*keys.values())) == len(keys)

    # Peer ids: drawn uniformly over one range for every kind (a counter, or a narrower range
    # for decoys, fails these at once), and the kinds look alike.
    peer_ids = {
        kind: [a.challenge.peer_id for a in found if a.challenge is not None]
        for kind, found in answers.items()
    }
    alpha = 1e-4  # a false alarm once in ten thousand runs per check
    for kind, drawn in peer_ids.items():
        assert all(2 <= i < PEER_ID_LIMIT for i in drawn), kind
        limit = math.sqrt(-math.log(alpha / 2) / 2) / math.sqrt(len(drawn))
        assert uniform_ks(drawn) < limit, kind
    for kind in ("live", "locked"):
        distance = ks_distance(peer_ids[kind], peer_ids["unknown"])
        assert distance < ks_critical(PROBES, PROBES, alpha), kind


async def test_locked_is_said_only_after_the_proof(relay: RunningRelay) -> None:
    async with organizer(relay, locked=True) as org:
        right = await probe(
            relay.port, relay.fingerprint, org.session_id, password=SESSION_PASSWORD
        )
        assert right.messages == ("Challenge", "Error")
        assert isinstance(right.answer, Error)
        assert right.answer.code is ErrorCode.SESSION_LOCKED
        told = await next_event(org, JoinAttemptFailed)
        assert told.reason == JOIN_LOCKED_REASON
        assert "session is locked" in told.sentence
        # The same password for an unknown ID is just refused.
        [unknown] = unknown_ids(1, [org.session_id])
        elsewhere = await probe(relay.port, relay.fingerprint, unknown, password=SESSION_PASSWORD)
        assert isinstance(elsewhere.answer, Error)
        assert elsewhere.answer.code is ErrorCode.JOIN_REFUSED
        # Unlocked, the right password gets in again.
        await org.request(ActionCode.UNLOCK)
        await next_event(org, RosterChanged, lambda e: not e.roster.locked)
        async with connect(relay.port, relay.fingerprint) as ana_client:
            ana = await ana_client.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
            assert ana.security_code == org.security_code


@asynccontextmanager
async def knocking(
    port: int, fingerprint: str, session_id: str
) -> AsyncIterator[tuple[RelayChannel, Challenge]]:
    """A prober's Join (wrong password) up to the Challenge, and the channel to read on."""
    channel = await open_channel("127.0.0.1", port, pinned=fingerprint, transport="tls", proxy="")
    try:
        values = JoinerAdmission(session_id, "Eve", "a guess").join_values
        await channel.send(
            Join(
                session_id=session_id,
                name="Eve",
                ephemeral_key=values.ephemeral_key,
                spake_message=values.spake_message,
                member_key=values.member_key,
            )
        )
        with trio.fail_after(10):
            challenge = await channel.receive()
        assert isinstance(challenge, Challenge)
        yield channel, challenge
    finally:
        await channel.aclose()


async def test_a_verdict_before_the_proof_is_the_unknown_id_sentence(relay: RunningRelay) -> None:
    """An organizer (or a future client) that declines a knock before the joiner proved the
    password must not let the relay say "declined": that would tell a prober the ID is live."""
    async with (
        organizer(relay) as org,
        knocking(relay.port, relay.fingerprint, org.session_id) as (channel, challenge),
    ):
        await org.decline(challenge.peer_id)  # no Confirm has been sent
        with trio.fail_after(10):
            answer = await channel.receive()
    assert isinstance(answer, Error)
    assert (answer.code, answer.message, answer.in_reply_to) == (
        ErrorCode.JOIN_REFUSED,
        JOIN_REFUSED_TEXT,
        Join.TYPE,
    )


async def test_a_knock_that_never_confirms_times_out_alike(tmp_path: Path) -> None:
    """A prober who stops after the Challenge: the live session's knock expires at the join
    timeout, and so must the decoy's, with the same words."""
    data_dir = tmp_path / "relay-data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    config = make_config(data_dir, join_timeout=1.0)
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        info = await nursery.start(functools.partial(serve_relay, config, stop=stop))
        relay = RunningRelay(info, config, nursery, stop)
        answers: dict[str, tuple[object, ...]] = {}
        async with organizer(relay) as org:
            [unknown] = unknown_ids(1, [org.session_id])

            async def wait_out(kind: str, session_id: str) -> None:
                async with knocking(info.port, info.fingerprint, session_id) as (channel, _):
                    with trio.fail_after(10):
                        answer = await channel.receive()
                    assert isinstance(answer, Error)
                    answers[kind] = (answer.code, answer.message, answer.in_reply_to)

            async with trio.open_nursery() as probes:
                probes.start_soon(wait_out, "live", org.session_id)
                probes.start_soon(wait_out, "unknown", unknown)
        stop.set()
    assert answers["live"] == answers["unknown"]
    assert answers["live"][0] is ErrorCode.TIMEOUT
    assert not info.relay.switchboard.decoys


async def test_members_get_random_ids_and_the_roster_keeps_join_order(
    relay: RunningRelay,
) -> None:
    async with (
        organizer(relay) as org,
        connect(relay.port, relay.fingerprint) as a,
        connect(relay.port, relay.fingerprint) as b,
        connect(relay.port, relay.fingerprint) as c,
    ):
        members = [
            await client.join(org.session_id, name=name, password=SESSION_PASSWORD)
            for client, name in ((a, "Ana"), (b, "Ben"), (c, "Cho"))
        ]
        ids = [m.peer_id for m in members]
        assert len(set(ids)) == 3
        assert all(2 <= i < PEER_ID_LIMIT for i in ids)
        roster = await next_event(org, RosterChanged, lambda e: len(e.roster.members) == 4)
        assert [(e.peer_id, e.name) for e in roster.roster.members] == [
            (1, "Olga"),
            *zip(ids, ("Ana", "Ben", "Cho"), strict=True),
        ]


async def test_a_decoy_keeps_its_leader_key_across_relay_restarts(tmp_path: Path) -> None:
    """The key derives from decoy.key in the data directory: the same relay after a restart
    answers an unknown ID with the same key; another relay (another secret) with another."""
    [unknown] = unknown_ids(1, [])
    found: list[bytes] = []
    for data_dir in (tmp_path / "one", tmp_path / "one", tmp_path / "two"):
        config = replace(make_config(data_dir), join_failures_per_address=LOOSE)
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            info = await nursery.start(functools.partial(serve_relay, config, stop=stop))
            answer = await probe(info.port, info.fingerprint, unknown)
            assert answer.challenge is not None
            found.append(answer.challenge.leader_key)
            stop.set()
    assert found[0] == found[1]
    assert found[2] != found[0]
