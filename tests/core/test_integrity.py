"""The sans-IO watches that notice a withholding relay, driven by an explicit clock.

End to end, through a real relay with a hook, they are tested in tests/relay/test_hostile_relay.py.
"""

from __future__ import annotations

from core.client.chat_gaps import ANNOUNCE_GRACE, ChatGaps
from core.client.chat_ledger import ACK_TIMEOUT, ChatLedger
from core.client.events import ChatDelivered, ChatGap, ChatUndelivered, ContentRefused
from core.client.refusals import REPORT_INTERVAL, RefusalReporter
from core.client.rekey_acks import RESEND_AFTER, RekeyTracker
from core.client.stream_watch import (
    BEHIND_LIMIT,
    HEARTBEAT_INTERVAL,
    IDLE_AFTER,
    SILENCE_LIMIT,
    StreamState,
    StreamWatch,
)


def _beats(watch: StreamWatch, start: float, end: float, frame_seq: int) -> None:
    t = start
    while t <= end:
        watch.on_heartbeat(frame_seq, True, t)
        t += HEARTBEAT_INTERVAL


def test_a_still_screen_is_idle_not_withheld() -> None:
    watch = StreamWatch(0.0)
    assert watch.poll(0.5).state is StreamState.WAITING
    watch.on_heartbeat(0, True, 0.5)
    watch.on_frame(1, 0.6)
    watch.on_heartbeat(1, True, 1.5)
    assert watch.poll(1.6).state is StreamState.FLOWING
    _beats(watch, 2.5, 30.0, 1)
    assert watch.poll(30.1).state is StreamState.IDLE
    assert 0.6 + IDLE_AFTER < 30.1


def test_an_announced_update_that_never_comes_is_withheld_then_restored() -> None:
    watch = StreamWatch(0.0)
    watch.on_heartbeat(10, True, 0.0)  # what was sent before we listened is not owed
    watch.on_frame(11, 0.2)
    watch.on_heartbeat(12, True, 1.0)  # 12 was sent, and the relay kept it
    assert watch.poll(1.0 + BEHIND_LIMIT - 0.1).state is not StreamState.WITHHELD
    verdict = watch.poll(1.0 + BEHIND_LIMIT + 0.1)
    assert (verdict.state, verdict.reason) == (StreamState.WITHHELD, "behind")
    watch.on_heartbeat(14, True, 3.5)
    watch.on_frame(14, 3.6)  # the relay lets updates through again
    assert watch.poll(3.7).state is StreamState.FLOWING


def test_a_frame_dropped_for_a_slow_viewer_is_covered_by_the_next_one() -> None:
    watch = StreamWatch(0.0)
    watch.on_heartbeat(0, True, 0.0)
    watch.on_frame(1, 0.1)
    watch.on_heartbeat(3, True, 1.0)  # 2 and 3 dropped (the relay said so: Dropped)
    watch.on_frame(5, 1.4)  # the keyframe asked for arrives
    assert watch.poll(1.0 + BEHIND_LIMIT + 1).state is not StreamState.WITHHELD


def test_silence_while_connected_is_withheld() -> None:
    watch = StreamWatch(0.0)
    watch.on_heartbeat(0, True, 0.2)
    assert watch.poll(0.2 + SILENCE_LIMIT - 0.1).state is not StreamState.WITHHELD
    verdict = watch.poll(0.2 + SILENCE_LIMIT + 0.1)
    assert (verdict.state, verdict.reason) == (StreamState.WITHHELD, "silent")
    # Never a heartbeat at all (the relay withholds them from the start) is silence too.
    assert StreamWatch(0.0).poll(SILENCE_LIMIT + 0.1).reason == "silent"


def test_a_presenter_not_sharing_and_a_restarted_stream() -> None:
    watch = StreamWatch(0.0)
    watch.on_heartbeat(40, False, 0.0)
    assert watch.poll(0.5).state is StreamState.NOT_SHARING
    watch.on_heartbeat(2, True, 1.0)  # a new stream counts from 1 again: nothing owed
    watch.on_frame(2, 1.1)
    assert watch.poll(1.2).state is StreamState.FLOWING
    assert watch.poll(1.0 + BEHIND_LIMIT + 0.5).state is not StreamState.WITHHELD


def test_chat_gaps_are_reported_once_from_a_later_line_or_a_heartbeat() -> None:
    gaps = ChatGaps()
    assert gaps.on_line(7, 3) is None  # lines 1 and 2 came before we joined
    assert gaps.on_line(7, 4) is None
    assert gaps.on_line(7, 6) == ChatGap(7, 5, 5)
    gaps.on_announced(7, 6, 10.0)
    assert gaps.poll(20.0) == []
    gaps.on_announced(7, 8, 21.0)  # 7 and 8 sent, neither arrived
    assert gaps.poll(21.0 + ANNOUNCE_GRACE - 0.1) == []
    assert gaps.poll(21.0 + ANNOUNCE_GRACE) == [ChatGap(7, 7, 8)]
    assert gaps.poll(40.0) == []
    assert gaps.on_line(7, 8) is None, "a late line is not a new gap"
    assert gaps.on_line(7, 10) == ChatGap(7, 9, 9)
    gaps.forget(7)
    assert gaps.on_line(7, 50) is None


def test_a_first_line_withheld_is_a_gap_once_the_sender_said_it_had_sent_none() -> None:
    gaps = ChatGaps()
    gaps.on_announced(5, 0, 0.0)  # the heartbeat every member sends on a membership change
    assert gaps.on_line(5, 2) == ChatGap(5, 1, 1)


def test_a_line_racing_its_heartbeat_is_no_gap() -> None:
    gaps = ChatGaps()
    gaps.on_announced(3, 1, 0.0)
    gaps.on_announced(3, 2, 1.0)  # the heartbeat was sealed just before line 2
    assert gaps.on_line(3, 2) is None
    assert gaps.poll(5.0) == []


def test_the_ledger_marks_lines_delivered_or_names_who_missed_them() -> None:
    ledger = ChatLedger()
    first = ledger.stamp({2, 3}, 0.0)
    second = ledger.stamp({2, 3}, 0.1)
    assert (first, second) == (1, 2)
    assert ledger.on_ack(2, first) is None
    assert ledger.on_ack(3, first) == ChatDelivered(1)
    assert ledger.on_ack(3, first) is None
    assert ledger.on_ack(9, second) is None, "only members there at the time count"
    assert ledger.on_ack(2, second) is None
    assert ledger.poll(0.1 + ACK_TIMEOUT - 0.01) == []
    assert ledger.poll(0.1 + ACK_TIMEOUT) == [ChatUndelivered(2, (3,))]
    assert ledger.poll(60.0) == []
    assert ledger.on_members({1, 2}) == [ChatDelivered(2)], "3 left: nobody else is missing"


def test_rekeys_are_resent_until_confirmed_and_reported_once() -> None:
    tracker = RekeyTracker()
    tracker.sent(4, [2, 3], 0.0)
    assert tracker.due(RESEND_AFTER - 0.1) == []
    assert tracker.confirmed(2, 4) is False
    assert tracker.due(RESEND_AFTER) == [(3, 4, True)]
    assert tracker.due(RESEND_AFTER + 0.5) == []
    assert tracker.due(2 * RESEND_AFTER) == [(3, 4, False)]
    assert tracker.confirmed(3, 3) is False, "an older epoch confirms nothing"
    assert tracker.confirmed(3, 4) is True
    assert tracker.due(100.0) == []
    tracker.sent(5, [3], 100.0)
    tracker.forget(3)
    assert tracker.due(200.0) == []


def test_refusals_are_reported_at_once_then_added_up() -> None:
    reporter = RefusalReporter()
    assert reporter.refused("unknown_epoch", 2, 0.0) is None, "normal at a membership change"
    assert reporter.refused("bad_signature", 2, 0.0) == ContentRefused("bad_signature", 2, 1)
    assert reporter.refused("bad_signature", 2, 0.1) is None
    assert reporter.refused("bad_signature", 2, 0.2) is None
    assert reporter.refused("replayed", 3, 0.3) == ContentRefused("replayed", 3, 1)
    assert reporter.poll(0.5) == []
    assert reporter.poll(REPORT_INTERVAL) == [ContentRefused("bad_signature", 2, 2)]
    assert reporter.poll(10.0) == []
