"""The presenter's doorbell: a wait ends on the descriptor, a ring or the deadline, both with
epoll + timerfd (Linux) and with the cancel-scope fallback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import trio

from core.stream.doorbell import Doorbell


@pytest.fixture(params=[True, False], ids=["kernel", "fallback"])
def bell(request: pytest.FixtureRequest) -> Iterator[Doorbell]:
    doorbell = Doorbell(kernel=request.param)
    yield doorbell
    doorbell.close()
    doorbell.close()  # twice is fine


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_the_linux_doorbell_uses_the_kernel() -> None:
    doorbell = Doorbell()
    try:
        assert doorbell._poll is not None
        assert doorbell._timer is not None
    finally:
        doorbell.close()


async def test_a_readable_descriptor_ends_the_wait(
    bell: Doorbell, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair

    async def write_soon() -> None:
        await trio.sleep(0.05)
        b.send(b"x")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write_soon)
        started = trio.current_time()
        await bell.wait(a.fileno(), started + 10)
        assert 0.03 < trio.current_time() - started < 5
    assert not bell.rung
    assert a.recv(1) == b"x"


async def test_the_deadline_ends_the_wait_and_a_later_one_rearms(
    bell: Doorbell, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    for delay in (0.05, 0.1):
        started = trio.current_time()
        await bell.wait(a.fileno(), started + delay)
        elapsed = trio.current_time() - started
        assert delay <= elapsed < delay + 2
        assert not bell.rung
    # A deadline already past returns at once, and the timer does not keep firing after it.
    await bell.wait(a.fileno(), trio.current_time() - 1)
    started = trio.current_time()
    await bell.wait(a.fileno(), started + 0.1)
    assert trio.current_time() - started >= 0.1


async def test_a_ring_during_the_wait_ends_it(
    bell: Doorbell, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair

    async def ring_soon() -> None:
        await trio.sleep(0.05)
        bell.ring()
        bell.ring()  # twice before anyone answers: one ring

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ring_soon)
        started = trio.current_time()
        await bell.wait(a.fileno(), started + 10)
        assert trio.current_time() - started < 5
    assert bell.rung
    # Answered: the next wait sleeps again, until its deadline.
    started = trio.current_time()
    await bell.wait(a.fileno(), started + 0.05)
    assert trio.current_time() - started >= 0.05
    assert not bell.rung


async def test_a_ring_before_the_wait_is_remembered(
    bell: Doorbell, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    bell.ring()
    started = trio.current_time()
    await bell.wait(a.fileno(), started + 10)
    assert trio.current_time() - started < 5
    assert bell.rung


async def test_a_new_descriptor_replaces_the_old(bell: Doorbell) -> None:
    first, first_peer = socket.socketpair()
    second, second_peer = socket.socketpair()
    try:
        first_peer.send(b"x")  # readable, but no longer watched
        await bell.wait(first.fileno(), trio.current_time() + 10)  # returns: it is readable
        started = trio.current_time()
        await bell.wait(second.fileno(), started + 0.1)
        assert trio.current_time() - started >= 0.1
        second_peer.send(b"y")
        started = trio.current_time()
        await bell.wait(second.fileno(), started + 10)
        assert trio.current_time() - started < 5
    finally:
        for s in (first, first_peer, second, second_peer):
            s.close()


async def test_cancelling_the_waiter_leaves_the_doorbell_usable(
    bell: Doorbell, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    with trio.move_on_after(0.05):
        await bell.wait(a.fileno(), trio.current_time() + 10)
    b.send(b"x")
    started = trio.current_time()
    await bell.wait(a.fileno(), started + 10)
    assert trio.current_time() - started < 5
