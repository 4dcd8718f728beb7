"""A relay that withholds or tampers is noticed (docs/design.md §3.3), through a real relay with
a hook (tests/hostilekit.py) and real clients on loopback TLS.

Each test arms one attack and waits, with a generous timeout, for the person it affects to be
told; the design's own budget (every verdict within 5 s of the attack) is checked on the
constants below, not on this loaded machine's clock.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import trio
from hostilekit import EventLog, stream_updates
from procs import running
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay
from sessionkit import connect, live_session

from bench.hostile import Hostile, flip_bit
from core.client import OrganizerSession, SessionBase
from core.client.chat_gaps import ANNOUNCE_GRACE
from core.client.chat_ledger import ACK_TIMEOUT
from core.client.client import TICK_INTERVAL
from core.client.events import (
    ChatDelivered,
    ChatGap,
    ChatUndelivered,
    ContentReceived,
    ContentRefused,
    EpochChanged,
    RekeyConfirmed,
    RekeyMissing,
    StreamRestored,
    StreamWithheld,
)
from core.client.rekey_acks import RESEND_AFTER
from core.client.stream_watch import BEHIND_LIMIT, HEARTBEAT_INTERVAL, SILENCE_LIMIT, StreamState
from core.failures import EXIT_INTERRUPTED
from core.protocol.content import Chat, ContentType, FrameUpdate
from core.protocol.messages import PairSealed, Sealed

SESSION_PASSWORD = "quince-44"


def test_every_verdict_fits_in_five_seconds() -> None:
    """Worst cases: an attack starting right after a heartbeat, noticed on the next tick."""
    assert SILENCE_LIMIT + TICK_INTERVAL < 5
    assert HEARTBEAT_INTERVAL + BEHIND_LIMIT + TICK_INTERVAL < 5
    assert HEARTBEAT_INTERVAL + ANNOUNCE_GRACE + TICK_INTERVAL < 5
    assert ACK_TIMEOUT + TICK_INTERVAL < 5
    assert RESEND_AFTER + TICK_INTERVAL < 5


async def _until_state(session: SessionBase, state: StreamState) -> None:
    """Wait for a steady state of the session's stream watch (not a transient one)."""
    with trio.fail_after(30):
        while session.integrity.stream_state is not state:
            await trio.sleep(0.1)


def _from(sender: int, kind: ContentType) -> Callable[[Sealed], bool]:
    return lambda m: m.header.sender == sender and m.header.content_type is kind


async def test_withheld_updates_are_told_apart_from_an_idle_presenter(
    relay: RunningRelay,
) -> None:
    hostile = Hostile(relay.info)
    async with live_session(relay, SESSION_PASSWORD) as (org, ana), trio.open_nursery() as n:
        log = EventLog(ana)
        n.start_soon(log.run)
        # A few updates, then a still screen: heartbeats keep coming, nothing is missing.
        stop = trio.Event()
        n.start_soon(stream_updates, org, stop)
        await log.wait_for(ContentReceived, lambda e: isinstance(e.message, FrameUpdate))
        await trio.sleep(0.5)
        stop.set()
        await _until_state(ana, StreamState.IDLE)
        await trio.sleep(SILENCE_LIMIT + 1)
        assert ana.integrity.stream_state is StreamState.IDLE
        assert not log.of(StreamWithheld), "a still screen is not withholding"

        # (a) The relay withholds the presenter's updates (its heartbeats still pass) for 3 s.
        sent_upto = org.integrity.last_frame_seq
        hide = _from(org.peer_id, ContentType.FRAME_UPDATE)
        hostile.sealed_rules.append(lambda m: [] if hide(m) else None)
        attack = trio.current_time()
        stop = trio.Event()
        n.start_soon(stream_updates, org, stop, sent_upto + 1)
        _, withheld = await log.wait_for(StreamWithheld, after=attack)
        assert withheld.presenter == org.peer_id
        assert withheld.reason == "behind"
        await trio.sleep(max(0.0, attack + 3 - trio.current_time()))
        hostile.sealed_rules.clear()
        await log.wait_for(StreamRestored, after=attack)
        assert hostile.dropped > 0

        # And when it withholds everything the presenter sends, heartbeats included.
        attack = trio.current_time()
        hostile.sealed_rules.append(lambda m: [] if m.header.sender == org.peer_id else None)
        _, silent = await log.wait_for(StreamWithheld, after=attack)
        assert silent.reason == "silent"
        hostile.sealed_rules.clear()
        await log.wait_for(StreamRestored, after=attack)
        stop.set()
        n.cancel_scope.cancel()


async def test_a_dropped_rekey_is_noticed_and_sent_again(relay: RunningRelay) -> None:
    hostile = Hostile(relay.info)
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, ana),
        trio.open_nursery() as n,
    ):
        assert isinstance(org, OrganizerSession)
        org_log, ana_log = EventLog(org), EventLog(ana)
        n.start_soon(org_log.run)
        n.start_soon(ana_log.run)
        dropped: list[PairSealed] = []

        def drop_first_to_ana(msg: PairSealed) -> list[PairSealed] | None:
            if msg.peer_id == ana.peer_id and not dropped:
                dropped.append(msg)
                return []
            return None

        hostile.pair_rules.append(drop_first_to_ana)
        # Bruno joins: everyone is re-keyed, and the relay drops Ana's re-key.
        async with connect(relay.port, relay.fingerprint) as bc:
            bruno = await bc.join(org.session_id, name="Bruno", password=SESSION_PASSWORD)
            assert dropped, "the relay was to drop Ana's re-key"
            epoch = bruno.epoch
            _, missing = await org_log.wait_for(RekeyMissing)
            assert (missing.peer_id, missing.epoch) == (ana.peer_id, epoch)
            # The leader re-sent it: Ana holds the epoch and says so.
            await ana_log.wait_for(EpochChanged, lambda e: e.epoch == epoch)
            await org_log.wait_for(RekeyConfirmed, lambda e: e.peer_id == ana.peer_id)
            line = Chat(text="after the re-key")
            await org.send_content(line, recipient=ana.peer_id)
            await ana_log.wait_for(ContentReceived, lambda e: e.message == line)
            assert not org_log.of(RekeyMissing, 0.0)[1:], "only Ana's re-key was dropped"
        n.cancel_scope.cancel()


async def test_dropped_chat_lines_are_gaps_for_receivers_and_undelivered_for_the_sender(
    relay: RunningRelay,
) -> None:
    hostile = Hostile(relay.info)
    async with live_session(relay, SESSION_PASSWORD) as (org, ana), trio.open_nursery() as n:
        org_log, ana_log = EventLog(org), EventLog(ana)
        n.start_soon(org_log.run)
        n.start_soon(ana_log.run)
        chats = _from(ana.peer_id, ContentType.CHAT)
        seen: list[Sealed] = []

        def drop_second_and_fourth(msg: Sealed) -> list[Sealed] | None:
            if not chats(msg):
                return None
            seen.append(msg)
            return [] if len(seen) in (2, 4) else None

        hostile.sealed_rules.append(drop_second_and_fourth)
        for number in range(1, 5):
            await ana.send_content(Chat(text=f"line {number}"))
        # Line 2 is a gap as soon as line 3 arrives; line 4, the last, once Ana's heartbeat
        # says she sent it.
        await org_log.wait_for(
            ChatGap, lambda g: (g.sender, g.first, g.last) == (ana.peer_id, 2, 2)
        )
        await org_log.wait_for(ChatGap, lambda g: (g.first, g.last) == (4, 4))
        lines = [e.message for _, e in org_log.of(ContentReceived) if e.sender == ana.peer_id]
        assert [m.seq for m in lines if isinstance(m, Chat) and m.seq] == [1, 3]
        # Ana: 1 and 3 delivered to everyone, 2 and 4 not confirmed by Olga.
        await ana_log.wait_for(ChatUndelivered, lambda u: u.seq == 4)
        assert [d.seq for _, d in ana_log.of(ChatDelivered)] == [1, 3]
        late = [(u.seq, u.missing) for _, u in ana_log.of(ChatUndelivered)]
        assert late == [(2, (org.peer_id,)), (4, (org.peer_id,))]
        assert len(org_log.of(ChatGap)) == 2, "each missing line is reported once"
        n.cancel_scope.cancel()


async def test_tampered_and_replayed_content_is_reported(relay: RunningRelay) -> None:
    hostile = Hostile(relay.info)
    async with live_session(relay, SESSION_PASSWORD) as (org, ana), trio.open_nursery() as n:
        ana_log = EventLog(ana)
        n.start_soon(ana_log.run)
        chats = _from(org.peer_id, ContentType.CHAT)
        hostile.sealed_rules.append(lambda m: [flip_bit(m)] if chats(m) else None)
        await org.send_content(Chat(text="flipped on the way"))
        _, tampered = await ana_log.wait_for(ContentRefused)
        assert (tampered.reason, tampered.sender, tampered.count) == (
            "bad_signature",
            org.peer_id,
            1,
        )
        hostile.sealed_rules[:] = [lambda m: [m, m] if chats(m) else None]
        twice = Chat(text="sent twice by the relay")
        await org.send_content(twice)
        await ana_log.wait_for(ContentReceived, lambda e: e.message == Chat(twice.text, seq=2))
        _, replayed = await ana_log.wait_for(ContentRefused, lambda r: r.reason == "replayed")
        assert replayed.count == 1
        shown = [e for _, e in ana_log.of(ContentReceived) if isinstance(e.message, Chat)]
        assert [e.message for e in shown] == [Chat(twice.text, seq=2)], "nothing tampered shown"
        assert ana.opener_statistics()["bad_signature"] == 1
        n.cancel_scope.cancel()


async def test_the_headless_viewer_prints_each_as_a_json_event(
    relay: RunningRelay, tmp_path: Path
) -> None:
    """``porthole view --headless`` (a real subprocess) against the hooked relay: withheld
    updates, a withheld chat line and a flipped bit each become one JSON event on stdout."""
    hostile = Hostile(relay.info)
    secret = tmp_path / "session-password"
    secret.write_text(SESSION_PASSWORD + "\n")
    async with connect(relay.port, relay.fingerprint) as oc, trio.open_nursery() as n:
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        org_log = EventLog(org)
        n.start_soon(org_log.run)
        link = f"porthole://127.0.0.1:{relay.port}/{org.session_id}?fp={relay.fingerprint}"
        argv = [sys.executable, "-m", "tui.cli", "view", "--headless", link, "--name", "Bea",
                "--session-password-file", str(secret), "--transport", "tls"]  # fmt: skip
        with running(*argv) as viewer:

            async def expect(event: str, **where: object) -> dict[str, object]:
                return await trio.to_thread.run_sync(
                    functools.partial(viewer.expect_event, event, 30.0, **where)
                )

            joined = await expect("joined")
            bea = int(str(joined["peer"]))
            stop = trio.Event()
            n.start_soon(stream_updates, org, stop)
            # (a) updates withheld (heartbeats pass)
            hide = _from(org.peer_id, ContentType.FRAME_UPDATE)
            hostile.sealed_rules.append(lambda m: [] if hide(m) else None)
            withheld = await expect("withheld")
            assert withheld["presenter"] == org.peer_id
            assert withheld["reason"] == "behind"
            hostile.sealed_rules.clear()
            await expect("withheld_ended", presenter=org.peer_id)
            # (c) a chat line withheld: the second of three.
            chats = _from(org.peer_id, ContentType.CHAT)
            seen: list[Sealed] = []

            def drop_second(msg: Sealed) -> list[Sealed] | None:
                if not chats(msg):
                    return None
                seen.append(msg)
                return [] if len(seen) == 2 else None

            hostile.sealed_rules.append(drop_second)
            for number in (1, 2, 3):
                await org.send_content(Chat(text=f"line {number}"))
            await expect("chat_gap", sender=org.peer_id, first=2, last=2)
            _, late = await org_log.wait_for(ChatUndelivered, lambda u: u.seq == 2)
            assert late.missing == (bea,)
            # (d) a flipped bit.
            hostile.sealed_rules[:] = [lambda m: [flip_bit(m)] if chats(m) else None]
            await org.send_content(Chat(text="altered on the way"))
            await expect("tampered", reason="bad_signature", sender=org.peer_id, count=1)
            stop.set()
            viewer.signal(signal.SIGTERM)
            assert await trio.to_thread.run_sync(viewer.finish) == EXIT_INTERRUPTED
        assert "Traceback" not in "\n".join(viewer.lines)
        n.cancel_scope.cancel()


async def test_the_console_numbers_own_lines_marks_delivery_and_says_what_was_withheld(
    relay: RunningRelay, tmp_path: Path
) -> None:
    """``porthole join --console`` (a real subprocess): your own line in your log with its
    number, the mark once everyone got it, and a line the relay withheld from you."""
    hostile = Hostile(relay.info)
    secret = tmp_path / "session-password"
    secret.write_text(SESSION_PASSWORD + "\n")
    async with connect(relay.port, relay.fingerprint) as oc:
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        link = f"porthole://127.0.0.1:{relay.port}/{org.session_id}?fp={relay.fingerprint}"
        argv = [sys.executable, "-m", "tui.cli", "join", "--console", link, "--name", "Ana",
                "--password-file", str(secret), "--transport", "tls"]  # fmt: skip
        with running(*argv) as console:

            async def expect(pattern: str) -> None:
                await trio.to_thread.run_sync(console.expect, pattern, 30.0)

            await expect(r"^joined\.")
            console.say("hello from the console")
            await expect(r"^Ana \(you\) \[1\]: hello from the console$")
            await expect(r"^✓ Your chat line 1 reached everyone\.$")
            chats = _from(org.peer_id, ContentType.CHAT)
            seen: list[Sealed] = []

            def drop_second(msg: Sealed) -> list[Sealed] | None:
                if not chats(msg):
                    return None
                seen.append(msg)
                return [] if len(seen) == 2 else None

            hostile.sealed_rules.append(drop_second)
            for number in (1, 2, 3):
                await org.send_content(Chat(text=f"line {number}"))
            await expect(r"^Olga: line 3$")
            await expect(r"^! Chat line 2 from Olga never arrived: the relay withheld them\.$")
            console.say("/leave")
            await trio.to_thread.run_sync(console.finish)
        assert "Traceback" not in "\n".join(console.lines)
        assert not any("line 2" in line for line in console.lines if line.startswith("Olga:"))


async def test_the_headless_presenter_reports_a_dropped_rekey_and_keeps_a_still_screen_idle(
    relay: RunningRelay, tmp_path: Path, display: object
) -> None:
    """``porthole present --headless`` (a real subprocess capturing a real X display) as the
    leader: the relay drops Ana's re-key when Bruno joins, and the presenter prints
    ``rekey_missing`` then ``rekey_confirmed``. Its heartbeats, sent beside real captured
    updates, keep Ana's watch on a still screen at "idle", never "withheld"."""
    hostile = Hostile(relay.info)
    login, secret = tmp_path / "login", tmp_path / "session-password"
    login.write_text(ORGANIZER_PASSWORD + "\n")
    secret.write_text(SESSION_PASSWORD + "\n")
    argv = [sys.executable, "-m", "tui.cli", "present", "--headless",
            "--relay", f"127.0.0.1:{relay.port}", "--fingerprint", relay.fingerprint,
            "--user", ORGANIZER, "--password-file", str(login), "--region", "0,0,64,48",
            "--session-password-file", str(secret), "--transport", "tls"]  # fmt: skip
    with running(*argv) as presenter:

        async def expect(event: str, **where: object) -> dict[str, object]:
            return await trio.to_thread.run_sync(
                functools.partial(presenter.expect_event, event, 30.0, **where)
            )

        session_id = str((await expect("session"))["id"])
        async with (
            connect(relay.port, relay.fingerprint) as ac,
            connect(relay.port, relay.fingerprint) as bc,
            trio.open_nursery() as n,
        ):
            ana = await ac.join(session_id, name="Ana", password=SESSION_PASSWORD)
            ana_log = EventLog(ana)
            n.start_soon(ana_log.run)
            await expect("joined", name="Ana")
            await ana_log.wait_for(ContentReceived, lambda e: isinstance(e.message, FrameUpdate))
            await _until_state(ana, StreamState.IDLE)
            await trio.sleep(SILENCE_LIMIT + 1)
            assert ana.integrity.stream_state is StreamState.IDLE
            assert not ana_log.of(StreamWithheld), "a still screen is not withholding"

            dropped: list[PairSealed] = []

            def drop_first_to_ana(msg: PairSealed) -> list[PairSealed] | None:
                if msg.peer_id != ana.peer_id or dropped:
                    return None
                dropped.append(msg)
                return []

            hostile.pair_rules.append(drop_first_to_ana)
            attack = trio.current_time()
            bruno = await bc.join(session_id, name="Bruno", password=SESSION_PASSWORD)
            missing = await expect("rekey_missing", peer=ana.peer_id)
            assert missing["epoch"] == bruno.epoch
            await expect("rekey_confirmed", peer=ana.peer_id, epoch=bruno.epoch)
            # Without the new epoch Ana could not open the keyframe sent for it: she is told
            # the stream was withheld, asks for a keyframe, and is back at "idle".
            await ana_log.wait_for(StreamRestored, after=attack)
            await _until_state(ana, StreamState.IDLE)
            n.cancel_scope.cancel()
        presenter.signal(signal.SIGTERM)
        await trio.to_thread.run_sync(presenter.finish)
    assert "Traceback" not in "\n".join(presenter.lines)
