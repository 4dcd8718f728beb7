"""The presenter's doorbell: a blocking wait ends on the descriptor, a ring from another thread,
or the deadline. Times are bounds, never targets: "returned before this long" or "not before"."""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from core.stream.doorbell import Doorbell


@pytest.fixture
def bell() -> Iterator[Doorbell]:
    doorbell = Doorbell()
    yield doorbell
    doorbell.close()
    doorbell.close()  # twice is fine


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def later(seconds: float, action: object) -> threading.Timer:
    timer = threading.Timer(seconds, action)  # type: ignore[arg-type]
    timer.start()
    return timer


def test_a_readable_descriptor_ends_the_wait(
    bell: Doorbell, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    timer = later(0.05, lambda: b.send(b"x"))
    started = time.monotonic()
    bell.wait(a.fileno(), started + 10)
    assert 0.03 < time.monotonic() - started < 5
    timer.join()
    assert a.recv(1) == b"x"


def test_the_deadline_ends_the_wait(
    bell: Doorbell, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    for delay in (0.05, 0.1):
        started = time.monotonic()
        bell.wait(a.fileno(), started + delay)
        assert delay <= time.monotonic() - started < delay + 2
    # A deadline already past returns at once.
    started = time.monotonic()
    bell.wait(a.fileno(), started - 1)
    assert time.monotonic() - started < 2


def test_a_ring_from_another_thread_ends_the_wait(
    bell: Doorbell, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    timer = later(0.05, bell.ring)
    started = time.monotonic()
    bell.wait(a.fileno(), math.inf)
    assert time.monotonic() - started < 5
    timer.join()


def test_a_ring_before_the_wait_is_remembered_and_answered_once(
    bell: Doorbell, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    bell.ring()
    bell.ring()  # twice before anyone answers: one ring
    started = time.monotonic()
    bell.wait(None, math.inf)  # no descriptor, no deadline: only the ring can end it
    assert time.monotonic() - started < 5
    # Answered: the next wait sleeps again, until its deadline.
    started = time.monotonic()
    bell.wait(a.fileno(), started + 0.05)
    assert time.monotonic() - started >= 0.05


def test_no_ring_is_lost_when_rings_race_the_answers(bell: Doorbell) -> None:
    """A ringer and a waiter hammering each other: every ring ends a wait (the waiter would
    hang on a lost one: it waits without a deadline)."""
    rounds = 2000
    answered = threading.Semaphore(0)

    def ringer() -> None:
        for _ in range(rounds):
            bell.ring()
            assert answered.acquire(timeout=10), "a ring was lost"

    thread = threading.Thread(target=ringer)
    thread.start()
    for _ in range(rounds):
        started = time.monotonic()
        bell.wait(None, started + 10)
        assert time.monotonic() - started < 5, "a ring was lost"
        answered.release()
    thread.join()
    bell.wait(None, time.monotonic())  # at most one ring's byte may be left: taken here
    started = time.monotonic()
    bell.wait(None, started + 0.1)
    assert time.monotonic() - started >= 0.1  # and nothing keeps waking the waiter


def test_a_ring_byte_landing_after_its_ring_was_taken_wakes_at_most_once(bell: Doorbell) -> None:
    """The ringer sets the flag, then writes its byte; a wait in between takes the ring by the
    flag alone. The byte arriving afterwards may end one wait early, never every later one."""
    bell._ringing = True  # the ringer's first step...
    started = time.monotonic()
    bell.wait(None, math.inf)  # ...is enough to end a wait
    assert time.monotonic() - started < 5
    os.write(bell._bell_in, b"\0")  # the ringer's second step, late
    bell.wait(None, time.monotonic() + 10)  # one early wake-up at most, which takes the byte
    started = time.monotonic()
    bell.wait(None, started + 0.1)
    assert time.monotonic() - started >= 0.1


def test_a_new_descriptor_replaces_the_old(bell: Doorbell) -> None:
    first, first_peer = socket.socketpair()
    second, second_peer = socket.socketpair()
    try:
        first_peer.send(b"x")  # readable, but no longer watched
        bell.wait(first.fileno(), time.monotonic() + 10)  # returns: it is readable
        started = time.monotonic()
        bell.wait(second.fileno(), started + 0.1)
        assert time.monotonic() - started >= 0.1
        second_peer.send(b"y")
        started = time.monotonic()
        bell.wait(second.fileno(), started + 10)
        assert time.monotonic() - started < 5
    finally:
        for s in (first, first_peer, second, second_peer):
            s.close()
