"""Lockouts that are no weapon: a guesser is slowed down by source, the organizer is warned, and
nobody else waits (docs/design.md §7.3). Real relays on loopback TLS, real clients.

Loopback stands in for the Internet's addresses: Linux routes all of 127/8 to ``lo``, so a
client socket bound to 127.0.0.3 is one source and 127.0.1.2 another. 127.0.0.x and 127.0.1.x
are two /24 networks, which is how the relay groups addresses (relay/limits.py:network_key):
the attacker and a neighbour share 127.0.0.0/24, a member elsewhere is in 127.0.1.0/24.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
import secrets
import signal
import sqlite3
import stat
from pathlib import Path

import pytest
import trio
from adminkit import Admin
from procs import serving
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay, add_account, running_relay
from sessionkit import connect, next_event, round_trip

from core.client import RelayClient, RequestRefused
from core.client.events import GuessingSuspected
from core.device_cookies import DeviceCookies
from core.errors import ErrorCode
from core.guessing import account_guessing_sentence
from relay.limits import BackoffPolicy, network_key
from relay.metrics import attach
from relay.server import serve_relay
from relay.store import SecurityEventKind

SESSION_PASSWORD = "tangerine-7"
ATTACKER = "127.0.0.3"
NEIGHBOUR = "127.0.0.4"  # the attacker's /24
ELSEWHERE = "127.0.1.2"  # another /24

#: The default policy's free burst (6 failures) and a lockout past the old per-session budget
#: of 20 failures, with waits short enough for a test yet far longer than the relay's pacing of
#: a refusal, so a wait is surely still running when the next attempt comes. (That the waits
#: double is test_relay_abuse.py's brute-force test.)
ADDRESS = BackoffPolicy(
    free_failures=6, window=60, base_delay=1.0, max_delay=1.0, lockout_after=22,
    lockout_duration=30,
)  # fmt: skip
NETWORK = BackoffPolicy(
    free_failures=12, window=60, base_delay=1.0, max_delay=1.0, lockout_after=44,
    lockout_duration=30,
)  # fmt: skip
#: A network that waits a minute once its free burst is spent: whoever is let in is not waiting.
NETWORK_SLOW = BackoffPolicy(free_failures=12, base_delay=60, max_delay=60, lockout_after=44)


def _limited(relay: RunningRelay, address: str) -> float:
    """How long ``address`` must wait before its next join (address and network limits)."""
    sb = relay.info.relay.switchboard
    now = trio.current_time()
    return max(
        sb.join_failures_by_address.check(address, now).retry_after,
        sb.join_failures_by_network.check(network_key(address), now).retry_after,
    )


async def guess(
    relay: RunningRelay, client: RelayClient, session_id: str, address: str, failures: int
) -> list[ErrorCode]:
    """Guess wrong passwords from ``address`` as fast as the relay allows, until ``failures``
    guesses were refused as wrong (or the address is locked out); every answer's code."""
    codes: list[ErrorCode] = []
    while codes.count(ErrorCode.JOIN_REFUSED) < failures:
        with pytest.raises(RequestRefused) as refused:
            await client.join(session_id, name="Eve", password=secrets.token_hex(4))
        code = refused.value.code
        assert code is not None
        codes.append(code)
        if code is ErrorCode.LOCKED_OUT:
            break
        if code is ErrorCode.RATE_LIMITED:
            await trio.sleep(_limited(relay, address))
    return codes


async def test_a_guessing_burst_slows_the_guesser_only_and_warns_the_organizer(
    tmp_path: Path,
) -> None:
    async with (
        running_relay(
            tmp_path, join_failures_per_address=ADDRESS, join_failures_per_network=NETWORK
        ) as relay,
        connect(relay.port, relay.fingerprint) as oc,
        connect(relay.port, relay.fingerprint, local_address=ATTACKER) as eve,
        connect(relay.port, relay.fingerprint, local_address=ELSEWHERE) as ac,
    ):
        r = relay.info.relay
        metrics = attach(r)
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)

        codes = await guess(relay, eve, org.session_id, ATTACKER, ADDRESS.lockout_after)

        # The guesser's rate is what it always was: six free guesses, then each one answered
        # only after a wait (an attempt made at once is refused without a guess being spent),
        # and a lockout.
        refused_at = [i for i, c in enumerate(codes) if c is ErrorCode.JOIN_REFUSED]
        assert refused_at[:6] == list(range(6))
        assert codes[6] is ErrorCode.RATE_LIMITED
        for before, after in itertools.pairwise(refused_at[5:]):
            assert ErrorCode.RATE_LIMITED in codes[before + 1 : after], codes
        assert codes.count(ErrorCode.JOIN_REFUSED) == ADDRESS.lockout_after
        with pytest.raises(RequestRefused) as locked:
            await eve.join(org.session_id, name="Eve", password=SESSION_PASSWORD)
        assert locked.value.code is ErrorCode.LOCKED_OUT
        assert locked.value.message.startswith("Too many failed attempts from your network address")

        # More failures against this session than the old per-session budget (20) allowed
        # before everyone was made to wait; the session itself is not slowed down.
        by_session = r.switchboard.join_failures_by_session.check(
            org.session_id, trio.current_time()
        )
        assert by_session.failures == ADDRESS.lockout_after > 20
        assert by_session.allowed

        # Olga's client counted the wrong passwords itself and warned her at 10 and 20.
        first = await next_event(org, GuessingSuspected)
        second = await next_event(org, GuessingSuspected)
        assert (first.failures, second.failures) == (10, 20)
        assert org.wrong_passwords == ADDRESS.lockout_after

        # Ana, with the right password from another network, is admitted at her first try.
        ana = await ac.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
        await round_trip(org, ana, "during the attack")

        # The operator sees the same alarms: security events (the admin app's stream), metric.
        await r.recorder.wait_idle()
        alarms = r.store.list_security_events(kind=SecurityEventKind.GUESSING, limit=None)
        assert sorted((e.session_id, e.address, e.detail) for e in alarms) == [
            (org.session_id, ATTACKER, "10 failed joins for this session ID"),
            (org.session_id, ATTACKER, "20 failed joins for this session ID"),
        ]
        assert b'porthole_relay_guessing_alarms_total{scope="join"} 2.0' in metrics.text()


async def test_hopping_addresses_in_a_network_buys_no_guesses_and_recent_members_never_wait(
    tmp_path: Path,
) -> None:
    async with (
        running_relay(
            tmp_path,
            join_failures_per_address=ADDRESS,
            join_failures_per_network=NETWORK_SLOW,
            join_failures_per_session=NETWORK_SLOW,  # a ceiling low enough to reach here
        ) as relay,
        connect(relay.port, relay.fingerprint) as oc,
        connect(relay.port, relay.fingerprint, local_address="127.0.0.7") as regular,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        # A regular joined from the attacker's network before the attack, and left.
        early = await regular.join(org.session_id, name="Rita", password=SESSION_PASSWORD)
        await round_trip(org, early, "before")
        await early.leave()

        # The attacker spends each address's free guesses, hopping through its /24 ...
        for address in (ATTACKER, "127.0.0.5"):
            async with connect(relay.port, relay.fingerprint, local_address=address) as eve:
                with trio.fail_after(60):
                    codes = await guess(relay, eve, org.session_id, address, 6)
                assert codes.count(ErrorCode.JOIN_REFUSED) == 6
        # ... and a fresh address there gets no free guess at all: the network is waiting.
        async with connect(relay.port, relay.fingerprint, local_address=NEIGHBOUR) as eve:
            with pytest.raises(RequestRefused) as refused:
                await eve.join(org.session_id, name="Eve", password=SESSION_PASSWORD)
            assert refused.value.code is ErrorCode.RATE_LIMITED
            assert refused.value.message.startswith("Too many failed attempts from your network.")

        # A stranger elsewhere waits for the session's ceiling, which the attack reached ...
        async with connect(relay.port, relay.fingerprint, local_address=ELSEWHERE) as stranger:
            with pytest.raises(RequestRefused) as refused:
                await stranger.join(org.session_id, name="Sam", password=SESSION_PASSWORD)
            assert refused.value.code is ErrorCode.RATE_LIMITED
            assert "for this session ID" in refused.value.message
        # ... but the regular, who got in from the attacked network recently, waits for neither
        # the network's failures nor the session's.
        async with connect(relay.port, relay.fingerprint, local_address="127.0.0.7") as again:
            back = await again.join(org.session_id, name="Rita", password=SESSION_PASSWORD)
            await round_trip(org, back, "during")


def _limiter_rows(data_dir: Path) -> list[tuple[str, str, int]]:
    """``(scope, key, failures)`` of the limiter rows the relay has written so far."""
    with contextlib.closing(sqlite3.connect(data_dir / "relay.db", timeout=10)) as conn:
        return conn.execute("SELECT scope, key, failures FROM limiter_failures").fetchall()


async def _wrong_login(client: RelayClient) -> tuple[ErrorCode | None, int]:
    """One wrong organizer login: the refusal's code and the wait it names (0 if none)."""
    with pytest.raises(RequestRefused) as refused:
        await client.login(ORGANIZER, secrets.token_hex(8))
    wait = re.search(r"Try again in (\d+) s", refused.value.message)
    return refused.value.code, int(wait.group(1)) if wait else 0


async def _fail_logins(client: RelayClient, failures: int) -> None:
    """``failures`` wrong logins, each after the wait the relay asks for."""
    done = 0
    while done < failures:
        code, wait = await _wrong_login(client)
        if code is ErrorCode.RATE_LIMITED:
            await trio.sleep(wait)
            continue
        assert code is ErrorCode.LOGIN_FAILED
        done += 1


async def test_a_guessers_backoff_survives_kill_9_of_the_relay(tmp_path: Path) -> None:
    """The production `serve` with its default limits: 6 free guesses, then waits. Seven guesses,
    ``kill -9``, a new relay on the same data directory: the guesser is still backing off."""
    data_dir = tmp_path / "relay-data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    with serving(data_dir) as (proc, first):
        async with connect(first.port, first.fingerprint, local_address=ATTACKER) as eve:
            with trio.fail_after(60):
                await _fail_logins(eve, 7)
        # The relay writes each failure through its recorder queue: wait until the 7th is on
        # disk, as it would be a moment after any failure, then kill it without warning.
        with trio.fail_after(30):
            while ("login_address", 7) not in {(s, n) for s, _, n in _limiter_rows(data_dir)}:
                await trio.sleep(0.05)
        proc.popen.kill()
        assert proc.popen.wait(timeout=30) == -signal.SIGKILL

    rows = _limiter_rows(data_dir)
    # Keyed digests only: the store names no address, network or user name.
    assert {scope for scope, _, _ in rows} == {"login_address", "login_network", "login_user"}
    assert all(re.fullmatch(r"[0-9a-f]{32}", key) for _, key, _ in rows)

    with serving(data_dir) as (proc, second):
        assert second.fingerprint == first.fingerprint
        async with connect(second.port, second.fingerprint, local_address=ATTACKER) as eve:
            with trio.fail_after(60):
                await _fail_logins(eve, 1)  # the 8th: spent only after the remembered wait
            # A fresh budget would answer the next guess too (six are free); the remembered
            # one makes it wait first.
            code, wait = await _wrong_login(eve)
            assert code is ErrorCode.RATE_LIMITED
            assert wait >= 1
        # The organizer, from another network, logs in at once.
        async with connect(second.port, second.fingerprint, local_address=ELSEWHERE) as oc:
            await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        proc.signal(signal.SIGTERM)
        assert proc.finish() == 0


#: Per account: ten free failures (the guessing alarm's count), then a minute's wait (so anyone
#: who is let in, is let in without waiting).
ACCOUNT = BackoffPolicy(free_failures=10, base_delay=60, max_delay=60, lockout_after=50)


async def test_a_device_cookie_or_a_recent_address_lets_the_organizer_past_a_guessed_account(
    tmp_path: Path,
) -> None:
    cookies = DeviceCookies(tmp_path / "config" / "device_cookies")
    async with running_relay(tmp_path, login_failures_per_user=ACCOUNT) as relay:
        # Olga logs in from the office once: her client keeps the cookie the relay hands out.
        async with connect(relay.port, relay.fingerprint, local_address=ELSEWHERE) as oc:
            await oc.login(ORGANIZER, ORGANIZER_PASSWORD, cookies=cookies)
        token = cookies.lookup(relay.fingerprint, ORGANIZER)
        assert token is not None
        assert stat.S_IMODE(cookies.path.stat().st_mode) == 0o600

        # Someone who knows her user name guesses from two networks (five free guesses each)
        # until the account waits.
        for address in (ATTACKER, "127.0.4.3"):
            async with connect(relay.port, relay.fingerprint, local_address=address) as eve:
                for _ in range(ACCOUNT.free_failures // 2):
                    assert (await _wrong_login(eve))[0] is ErrorCode.LOGIN_FAILED
        async with connect(relay.port, relay.fingerprint, local_address=ATTACKER) as eve:
            assert (await _wrong_login(eve))[0] is ErrorCode.RATE_LIMITED

        # A login nobody vouches for waits (the per-account limit still holds for strangers) ...
        async with connect(relay.port, relay.fingerprint, local_address="127.0.2.9") as stranger:
            with pytest.raises(RequestRefused) as refused:
                await stranger.login(ORGANIZER, ORGANIZER_PASSWORD)
            assert refused.value.code is ErrorCode.RATE_LIMITED
        # ... Olga's laptop with its cookie gets in at once from a new network (a café) ...
        async with connect(relay.port, relay.fingerprint, local_address="127.0.3.9") as cafe:
            await cafe.login(ORGANIZER, ORGANIZER_PASSWORD, cookies=cookies)
            # ... and is told that her account is being guessed at.
            assert cafe.failed_logins == ACCOUNT.free_failures
            warning = account_guessing_sentence(cafe.failed_logins)
            assert warning is not None
            assert "someone may be guessing your password" in warning
        # ... the cookie was renewed, not multiplied ...
        assert cookies.lookup(relay.fingerprint, ORGANIZER) == token
        # ... and so does any device at the office, where she logged in recently.
        async with connect(relay.port, relay.fingerprint, local_address=ELSEWHERE) as desk:
            await desk.login(ORGANIZER, ORGANIZER_PASSWORD)

        # The relay keeps a digest of the cookie, never the cookie.
        r = relay.info.relay
        await r.recorder.wait_idle()
        db = (relay.config.data_dir / "relay.db").read_bytes()
        assert token.hex().encode() not in db
        assert token not in db


async def test_a_lockout_restored_after_a_restart_is_listed_and_lifted_by_its_digest(
    tmp_path: Path,
) -> None:
    quick = BackoffPolicy(free_failures=10, lockout_after=2, lockout_duration=3600)
    async with running_relay(tmp_path, login_failures=quick) as relay:
        async with connect(relay.port, relay.fingerprint, local_address=ATTACKER) as eve:
            assert [(await _wrong_login(eve))[0] for _ in range(3)] == [
                ErrorCode.LOGIN_FAILED,
                ErrorCode.LOGIN_FAILED,
                ErrorCode.LOCKED_OUT,
            ]
        await relay.info.relay.recorder.wait_idle()

    async with trio.open_nursery() as nursery:
        info = await nursery.start(functools.partial(serve_relay, relay.config))
        async with Admin(relay.config.data_dir) as admin:
            listed = (await admin.call("lockouts.list"))["lockouts"]
            (entry,) = [e for e in listed if e["scope"] == "login_address"]
            # Not seen since the restart: named by its digest, as the store keeps it.
            assert re.fullmatch(r"#[0-9a-f]{32}", entry["key"])
            assert 3500 < entry["remaining_s"] <= 3600
            async with connect(info.port, info.fingerprint, local_address=ATTACKER) as eve:
                assert (await _wrong_login(eve))[0] is ErrorCode.LOCKED_OUT
            # Seen again, it is listed by its address.
            listed = (await admin.call("lockouts.list"))["lockouts"]
            assert [e["key"] for e in listed if e["scope"] == "login_address"] == [ATTACKER]
            await admin.call("lockouts.lift", key=ATTACKER, scope="login_address")
        async with connect(info.port, info.fingerprint, local_address=ATTACKER) as olga:
            await olga.login(ORGANIZER, ORGANIZER_PASSWORD)
        nursery.cancel_scope.cancel()
