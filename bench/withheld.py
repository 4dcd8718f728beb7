"""How soon is each person told that the relay withheld or tampered? (docs/design.md §3.3)

    python -m bench.withheld                # 5 rounds
    python -m bench.withheld --rounds 10

Each round runs a real relay in this process on loopback TLS, hooked by :mod:`bench.hostile`,
and three real clients: Olga (the organizer, presenting: a small update ten times a second at
the protocol level), Ana and, for the re-key, Bruno. One attack after the other, each undone
before the next:

- ``withheld``: the relay drops Olga's updates (her heartbeats pass): until Ana is told;
- ``silent``: it drops everything Olga sends: until Ana is told;
- ``rekey``: it drops Ana's re-key when Bruno joins: until Olga is told, and until Ana holds
  the epoch again (``rekey_healed``, the leader's re-send);
- ``chat_gap``: it drops Ana's last chat line: until Olga is told;
- ``chat_undelivered``: the same line, until Ana (its sender) is told;
- ``tampered``: it flips a bit of one of Olga's chat lines: until Ana is told.

Each time runs on the trio clock from the first message the relay dropped or altered to the
event. The design's budget is 5 s for every one; nothing here asserts (the tests check the
behaviour, ``tests/relay/test_hostile_relay.py``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio

from bench.common import machine_info, write_results
from bench.hostile import Hostile, flip_bit
from core.client import SessionBase, open_relay_client
from core.client.events import (
    ChatGap,
    ChatUndelivered,
    ContentRefused,
    EpochChanged,
    RekeyMissing,
    StreamRestored,
    StreamWithheld,
)
from core.protocol.content import Chat, ContentType, FrameUpdate
from core.protocol.messages import PairSealed, Sealed
from relay.config import RelayConfig
from relay.server import serve_relay
from relay.store import RelayStore

ORGANIZER = "olga"
ORGANIZER_PASSWORD = "plum-harbor-lantern-42"  # noqa: S105 - a throwaway bench account
SESSION_PASSWORD = "tangerine-7"  # noqa: S105 - a throwaway bench session
ATTACKS = ("withheld", "silent", "rekey", "rekey_healed", "chat_gap", "chat_undelivered",
           "tampered")  # fmt: skip
E = TypeVar("E")


class _Heard:
    """Events of one session as they arrive, stamped with the trio clock."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session
        self.seen: list[tuple[float, object]] = []

    async def listen(self) -> None:
        async for event in self.session.events:
            self.seen.append((trio.current_time(), event))

    async def when(self, kind: type[E], since: float, where: Callable[[E], bool] = bool) -> float:
        """The arrival time of the first ``kind`` event after ``since`` (30 s at most)."""
        with trio.fail_after(30):
            while True:
                for at, event in self.seen:
                    if at >= since and isinstance(event, kind) and where(event):
                        return at
                await trio.sleep(0.01)


class _Attack:
    """A rule that records when it first struck."""

    def __init__(self, strike: Callable[[Any], list[Any] | None]) -> None:
        self._strike = strike
        self.first: float | None = None

    def __call__(self, msg: Any) -> list[Any] | None:
        out = self._strike(msg)
        if out is not None and self.first is None:
            self.first = trio.current_time()
        return out

    async def struck(self) -> float:
        """When it first struck (waiting for the relay to route the message, 30 s at most)."""
        with trio.fail_after(30):
            while self.first is None:
                await trio.sleep(0.01)
        return self.first


async def _present(olga: SessionBase, stop: trio.Event) -> None:
    seq = 1
    while not stop.is_set():
        update = FrameUpdate(
            frame_seq=seq,
            keyframe=seq == 1,
            width=8,
            height=8,
            captured_at_us=time.time_ns() // 1000,
            tiles=b"\x00" * 16,
        )
        await olga.send_content(update)
        seq += 1
        await trio.sleep(0.1)


def _kind(sender: int, kind: ContentType) -> Callable[[Sealed], bool]:
    return lambda m: m.header.sender == sender and m.header.content_type is kind


async def _round(config: RelayConfig) -> dict[str, float]:
    times: dict[str, float] = {}
    async with trio.open_nursery() as nursery:
        info = await nursery.start(partial(serve_relay, config))
        hostile = Hostile(info)
        connect = partial(open_relay_client, "127.0.0.1", info.port, pinned=info.fingerprint)
        async with connect() as oc, connect() as ac, connect() as bc:
            await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
            olga = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
            ana = await ac.join(olga.session_id, name="Ana", password=SESSION_PASSWORD)
            at_olga, at_ana = _Heard(olga), _Heard(ana)
            nursery.start_soon(at_olga.listen)
            nursery.start_soon(at_ana.listen)
            stop = trio.Event()
            nursery.start_soon(_present, olga, stop)
            await trio.sleep(2)

            updates = _kind(olga.peer_id, ContentType.FRAME_UPDATE)
            attack = _Attack(lambda m: [] if updates(m) else None)
            armed = trio.current_time()
            hostile.sealed_rules[:] = [attack]
            told = await at_ana.when(StreamWithheld, armed, lambda e: e.reason == "behind")
            times["withheld"] = told - await attack.struck()
            hostile.sealed_rules.clear()
            await at_ana.when(StreamRestored, told)

            attack = _Attack(lambda m: [] if m.header.sender == olga.peer_id else None)
            armed = trio.current_time()
            hostile.sealed_rules[:] = [attack]
            told = await at_ana.when(StreamWithheld, armed, lambda e: e.reason == "silent")
            times["silent"] = told - await attack.struck()
            hostile.sealed_rules.clear()
            await at_ana.when(StreamRestored, told)

            rekey = _Attack(lambda m: [] if m.peer_id == ana.peer_id else None)
            once: list[PairSealed] = []

            def drop_once(msg: PairSealed) -> list[PairSealed] | None:
                if once or msg.peer_id != ana.peer_id:
                    return None
                once.append(msg)
                return rekey(msg)

            hostile.pair_rules[:] = [drop_once]
            bruno = await bc.join(olga.session_id, name="Bruno", password=SESSION_PASSWORD)
            told = await at_olga.when(RekeyMissing, await rekey.struck())
            times["rekey"] = told - await rekey.struck()
            healed = await at_ana.when(
                EpochChanged, await rekey.struck(), lambda e: e.epoch == bruno.epoch
            )
            times["rekey_healed"] = healed - await rekey.struck()
            hostile.pair_rules.clear()

            chats = _kind(ana.peer_id, ContentType.CHAT)
            attack = _Attack(lambda m: [] if chats(m) else None)
            await trio.sleep(1.5)  # Bruno's arrival settles (heartbeats with chat positions)
            await ana.send_content(Chat(text="said once"))
            hostile.sealed_rules[:] = [attack]
            await ana.send_content(Chat(text="withheld"))
            told = await at_olga.when(ChatGap, await attack.struck())
            times["chat_gap"] = told - await attack.struck()
            told = await at_ana.when(ChatUndelivered, await attack.struck())
            times["chat_undelivered"] = told - await attack.struck()

            chats = _kind(olga.peer_id, ContentType.CHAT)
            attack = _Attack(lambda m: [flip_bit(m)] if chats(m) else None)
            hostile.sealed_rules[:] = [attack]
            await olga.send_content(Chat(text="altered"))
            told = await at_ana.when(ContentRefused, await attack.struck())
            times["tampered"] = told - await attack.struck()
            stop.set()
        nursery.cancel_scope.cancel()
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rounds: list[dict[str, float]] = []
    for number in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp)
            with RelayStore.open(data, time_cost=1, memory_cost=8 * 1024) as store:
                store.add_account(ORGANIZER, ORGANIZER_PASSWORD, time.time())
            config = replace(
                RelayConfig(data_dir=data, host="127.0.0.1", port=0),
                argon2_time_cost=1,
                argon2_memory_cost=8 * 1024,
            )
            rounds.append(trio.run(_round, config))
        print(f"round {number + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in rounds[-1].items()))
    summary = {
        name: {
            "median_s": round(statistics.median(r[name] for r in rounds), 3),
            "max_s": round(max(r[name] for r in rounds), 3),
        }
        for name in ATTACKS
    }
    print(f"{'attack':<18} {'median':>8} {'max':>8}")
    for name, row in summary.items():
        print(f"{name:<18} {row['median_s']:>7.2f}s {row['max_s']:>7.2f}s")
    path = write_results(
        "withheld", {"machine": machine_info(), "rounds": rounds, "summary": summary}
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
