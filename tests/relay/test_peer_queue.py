"""A member's send queue at the relay (relay/peer.py): what is dropped for a member who is
behind, on a clock the test drives."""

from __future__ import annotations

from relay.peer import Peer

UPDATE = b"u" * 1000


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def peer(clock: Clock, *, age: float = 1.0) -> Peer:
    return Peer(
        1, "127.0.0.1", "127.0.0.1", max_frame=1 << 20, queue_bytes=1 << 24,
        queue_messages=512, droppable_age=age, clock=clock,
    )  # fmt: skip


def skipping(p: Peer) -> bool:
    return p.skipping


def test_a_member_behind_by_more_than_the_age_skips_until_its_queue_drains() -> None:
    clock = Clock()
    p = peer(clock)
    first, second = b"1" + UPDATE, b"2" + UPDATE
    assert p.send_frame(first, droppable=True)
    clock.now += 0.6
    assert p.send_frame(second, droppable=True)  # the oldest waited 0.6 s: still queued
    clock.now += 0.6
    # The oldest has now waited 1.2 s: this member is behind; updates are dropped, not queued
    # behind a backlog it cannot use...
    assert not p.send_frame(b"3" + UPDATE, droppable=True)
    assert skipping(p)
    p.took(first)
    clock.now += 0.1
    # ... until the whole queue has drained, however young what is left is.
    assert not p.send_frame(b"4" + UPDATE, droppable=True)
    p.took(second)
    assert not skipping(p)
    assert p.send_frame(b"5" + UPDATE, droppable=True)
    assert (p.dropped_total, p.dropped_unreported) == (2, 2)
    assert p.queued_messages == 1


def test_a_member_that_keeps_up_never_loses_an_update() -> None:
    clock = Clock()
    p = peer(clock)
    for i in range(1000):
        frame = i.to_bytes(4, "big") + UPDATE
        assert p.send_frame(frame, droppable=True)
        clock.now += 0.3
        p.took(frame)
    assert p.dropped_total == 0


def test_what_cannot_be_dropped_is_queued_behind_an_old_backlog() -> None:
    clock = Clock()
    p = peer(clock)
    assert p.send_frame(UPDATE, droppable=True)
    clock.now += 5
    assert not p.send_frame(UPDATE, droppable=True)
    assert p.send_frame(b"chat" + UPDATE, droppable=False)
    assert p.queued_messages == 2
    assert p.close_reason is None
