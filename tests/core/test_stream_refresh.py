"""Keyframe requests at the presenter (core/stream/refresh.py), on a clock the test drives."""

from __future__ import annotations

import pytest

from core.protocol.content import RefreshReason
from core.stream import refresh as refresh_module
from core.stream import viewer as viewer_module
from core.stream.refresh import (
    MEMBER_REFRESH_BURST,
    MEMBER_REFRESH_RATE,
    REFRESH_INTERVAL,
    REPORT_INTERVAL,
    LimitReport,
    Outcome,
    RefreshDesk,
)
from tui.viewer import picture as picture_module

GAP, USER = RefreshReason.GAP, RefreshReason.USER
ANA, BEN, CID, DAN = 11, 12, 13, 14


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(clock: Clock) -> RefreshDesk:
    return RefreshDesk(gap_window=3.0, clock=clock)


def test_the_clients_and_the_desk_agree_on_how_often_a_client_asks() -> None:
    assert viewer_module.REFRESH_INTERVAL == REFRESH_INTERVAL
    assert picture_module.REFRESH_INTERVAL == REFRESH_INTERVAL


def test_a_member_gets_its_burst_then_waits_for_its_budget(desk: RefreshDesk, clock: Clock) -> None:
    assert MEMBER_REFRESH_BURST == 2
    outcomes = []
    for _ in range(3):
        outcomes.append(desk.ask(ANA, USER, audience=3).outcome)
        clock.now += REFRESH_INTERVAL
    assert outcomes == [Outcome.GRANTED, Outcome.GRANTED, Outcome.PENDING]
    # The pending request is answered once a whole token has come back, not before.
    due = desk.due()
    assert due is not None
    assert due > clock.now
    assert desk.grant_due() == 0
    clock.now = due
    assert desk.grant_due() == 1
    assert desk.due() is None
    stats = desk.statistics()
    assert (stats.asked, stats.granted, stats.deferred, stats.pending) == (3, 3, 1, 0)


def test_requests_while_one_waits_merge_into_it(desk: RefreshDesk, clock: Clock) -> None:
    desk.ask(ANA, USER, audience=3)
    desk.ask(ANA, USER, audience=3)
    for _ in range(3):
        clock.now += REFRESH_INTERVAL
        assert desk.ask(ANA, GAP, audience=3).outcome is Outcome.PENDING
    clock.now += 10
    assert desk.grant_due() == 1  # one keyframe for all three
    assert desk.statistics().pending == 0


def test_a_waiting_request_answered_by_a_later_keyframe_costs_nothing(
    desk: RefreshDesk, clock: Clock
) -> None:
    desk.ask(ANA, USER, audience=3)
    desk.ask(ANA, USER, audience=3)
    asked_at = clock.now
    assert desk.ask(ANA, GAP, audience=3).outcome is Outcome.PENDING
    # Ben's request is granted; the keyframe for it was captured after Ana asked.
    assert desk.ask(BEN, GAP, audience=3).outcome is Outcome.GRANTED
    clock.now += 10
    assert desk.grant_due(answered_before=asked_at + 0.1) == 0
    assert desk.statistics().pending == 0
    # A keyframe captured before she asked would not have answered her.
    desk.ask(ANA, USER, audience=3)
    desk.ask(ANA, USER, audience=3)
    assert desk.ask(ANA, USER, audience=3).outcome is Outcome.PENDING
    clock.now += 10
    assert desk.grant_due(answered_before=clock.now - 20) == 1


def test_each_member_has_its_own_budget(desk: RefreshDesk, clock: Clock) -> None:
    for _ in range(2):
        desk.ask(ANA, USER, audience=3)
    assert desk.ask(ANA, USER, audience=3).outcome is Outcome.PENDING
    assert desk.ask(BEN, USER, audience=3).outcome is Outcome.GRANTED


def test_a_well_behaved_client_is_never_limited(desk: RefreshDesk, clock: Clock) -> None:
    """A viewer whose stream stays broken asks every REFRESH_INTERVAL, for a minute; and
    requests held up in transit may arrive four at once."""
    for _ in range(120):
        assert desk.ask(ANA, GAP, audience=3).outcome is not Outcome.LIMITED
        clock.now += REFRESH_INTERVAL
    clock.now += 2.0
    for _ in range(4):
        assert desk.ask(ANA, GAP, audience=3).outcome is not Outcome.LIMITED
    assert desk.statistics().limited == 0
    # Its budget still held it to MEMBER_REFRESH_RATE keyframes a second (plus the burst).
    clock.now += 100
    desk.grant_due()
    assert desk.statistics().granted <= MEMBER_REFRESH_BURST + 62 * MEMBER_REFRESH_RATE + 1


def test_a_member_asking_four_times_a_second_is_limited_and_reported_now_and_then(
    desk: RefreshDesk, clock: Clock
) -> None:
    reports: list[LimitReport] = []
    outcomes = []
    for _ in range(4 * 60):  # a minute
        answer = desk.ask(CID, GAP, audience=3)
        outcomes.append(answer.outcome)
        if answer.report is not None:
            reports.append(answer.report)
        clock.now += 0.25
    limited = outcomes.count(Outcome.LIMITED)
    # Half of them: a client may ask twice a second (plus the slack at the start).
    assert 4 * 60 / 2 - refresh_module.ABUSE_SLACK - 1 <= limited <= 4 * 60 / 2
    # The organizer hears of it at once, then at most once per REPORT_INTERVAL, with the count
    # of what was dropped since the last report.
    assert len(reports) == 2
    assert all(r.member == CID for r in reports)
    assert sum(r.dropped for r in reports) <= limited
    assert reports[0].dropped == 1
    assert reports[1].dropped >= REPORT_INTERVAL * 2 - 2
    # Dropped requests are not granted: the keyframes it caused stayed within its budget.
    clock.now += 100
    desk.grant_due()
    assert desk.statistics().granted <= MEMBER_REFRESH_BURST + 60 * MEMBER_REFRESH_RATE + 1


def test_one_members_gaps_do_not_slow_the_presenter_but_most_of_the_audiences_do(
    desk: RefreshDesk, clock: Clock
) -> None:
    audience = 4
    for _ in range(6):  # one viewer on a slow link, losing updates again and again
        assert not desk.ask(ANA, GAP, audience=audience).back_off
        clock.now += 1.0
    assert not desk.ask(BEN, GAP, audience=audience).back_off  # two of four: not most
    assert desk.ask(CID, GAP, audience=audience).back_off  # three of four: the stream's fault
    # Gaps older than the window no longer count.
    clock.now += 3.5
    assert not desk.ask(DAN, GAP, audience=audience).back_off
    # Other reasons never slow anything down; a member alone is the whole audience.
    assert not desk.ask(BEN, USER, audience=audience).back_off
    assert desk.ask(ANA, GAP, audience=1).back_off


def test_a_rate_limited_member_does_not_count_towards_slowing_down(
    desk: RefreshDesk, clock: Clock
) -> None:
    """Cid floods gap reports; the ones within a client's pace must not make him one of
    "most of the audience" either, for as long as he was limited recently."""
    audience = 3
    for _ in range(10):
        desk.ask(CID, GAP, audience=audience)
    assert desk.statistics().limited > 0
    clock.now += 2.0  # his pace has recovered: this report passes it
    assert desk.ask(CID, GAP, audience=audience).outcome is not Outcome.LIMITED
    assert not desk.ask(ANA, GAP, audience=audience).back_off  # Ana alone is not most of three
    clock.now += REPORT_INTERVAL + 1  # long after his flood, he counts again
    desk.ask(CID, GAP, audience=audience)
    assert desk.ask(ANA, GAP, audience=audience).back_off


def test_the_presenters_own_requests_are_always_granted(desk: RefreshDesk) -> None:
    for _ in range(20):
        answer = desk.ask(None, USER, audience=3)
        assert answer.outcome is Outcome.GRANTED
        assert not answer.back_off
    assert desk.ask(None, GAP, audience=3).back_off
    assert desk.statistics().limited == 0


def test_a_member_who_left_starts_afresh(desk: RefreshDesk) -> None:
    for _ in range(3):
        desk.ask(ANA, USER, audience=3)
    assert desk.statistics().pending == 1
    desk.forget(ANA)
    assert desk.statistics().pending == 0
    assert desk.ask(ANA, USER, audience=3).outcome is Outcome.GRANTED


def test_the_desk_remembers_a_bounded_number_of_members(
    desk: RefreshDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refresh_module, "MAX_MEMBERS", 3)
    for member in range(10):
        desk.ask(member, USER, audience=10)
    assert len(desk._members) == 3
