"""The limiters' memory in relay.db (relay/limit_store.py): keyed digests, one write per turn."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from relay.limit_store import LimitJournal
from relay.limits import FailureTracker, TrustList
from relay.recorder import Recorder
from relay.store import RelayStore, cheap_hasher

SECRET = bytes(range(32))


async def test_changes_waiting_for_the_recorder_are_written_in_one_job(tmp_path: Path) -> None:
    store = RelayStore.open(tmp_path, hasher=cheap_hasher())
    recorder = Recorder(store)
    journal = LimitJournal(recorder, SECRET, clock=trio.current_time, wall_clock=time.time)
    tracker = FailureTracker()
    journal.attach("join_address", tracker)
    journal.attach_trust("join_trust", TrustList(3600))
    for i in range(50):  # a flood: one address again and again, and 50 others
        tracker.record_failure("192.0.2.7", trio.current_time())
        tracker.record_failure(f"198.51.100.{i}", trio.current_time())
    journal.trust("join_trust", "203.0.113.5")
    assert recorder.statistics().queued == 1
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        await recorder.wait_idle()
        nursery.cancel_scope.cancel()
    assert recorder.statistics().written == 1

    rows = {row.key: row for row in store.load_failures(time.time())}
    assert len(rows) == 51
    assert rows[journal.digest("join_address", "192.0.2.7")].failures == 50
    assert [(scope, key) for scope, key, _ in store.load_trust(time.time())] == [
        ("join_trust", journal.digest("join_trust", "203.0.113.5"))
    ]
    # Nothing in the file names an address.
    store.close()
    data = (tmp_path / "relay.db").read_bytes()
    assert b"192.0.2.7" not in data
    assert b"203.0.113" not in data


def test_digests_depend_on_the_secret_and_the_scope(tmp_path: Path) -> None:
    with RelayStore.open(tmp_path, hasher=cheap_hasher()) as store:
        recorder = Recorder(store)
        one, other = (
            LimitJournal(recorder, secret, clock=time.monotonic, wall_clock=time.time)
            for secret in (SECRET, bytes(32))
        )
        address = "192.0.2.7"
        assert one.digest("join_address", address) == one.digest("join_address", address)
        assert one.digest("join_address", address) != one.digest("login_address", address)
        assert one.digest("join_address", address) != other.digest("join_address", address)
