"""ClientTLSStream against a real trio TLS server on loopback: the bytes, the back-pressure,
the ends (close_notify, a bare EOF, a refused handshake) and the one-task-each rules."""

from __future__ import annotations

import functools
import hashlib
import itertools
import secrets
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from core.client.tls_stream import ClientTLSStream
from core.tlspin import client_ssl_context, fingerprint
from relay.tls import ensure_certificate, load_fingerprint, server_ssl_context

Handler = Callable[[trio.SSLStream[trio.SocketStream]], Awaitable[None]]


@pytest.fixture
def server_context(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    paths = ensure_certificate(tmp_path)
    context = server_ssl_context(paths.cert, paths.key, alpn=("porthole/1",))
    return context, load_fingerprint(paths.cert)


@pytest.fixture
async def serve(
    server_context: tuple[ssl.SSLContext, str], nursery: trio.Nursery
) -> Callable[[Handler], Awaitable[int]]:
    context, _ = server_context

    async def start(handler: Handler) -> int:
        async def accept(tcp: trio.SocketStream) -> None:
            stream = trio.SSLStream(tcp, context, server_side=True)
            try:
                await handler(stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                await trio.aclose_forcefully(stream)

        serve_tcp = functools.partial(trio.serve_tcp, accept, 0, host="127.0.0.1")
        listeners = await nursery.start(serve_tcp)
        port: int = listeners[0].socket.getsockname()[1]
        return port

    return start


async def connect(port: int) -> ClientTLSStream:
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = ClientTLSStream(tcp, client_ssl_context(("porthole/1",)), server_hostname="localhost")
    await stream.do_handshake()
    return stream


async def receive_into(stream: ClientTLSStream, received: bytearray, count: int) -> None:
    """Read until ``received`` holds ``count`` bytes (the peer ending first is a failure)."""
    while len(received) < count:
        data = await stream.receive_some(65536)
        assert data
        received.extend(data)


async def echo(stream: trio.SSLStream[trio.SocketStream]) -> None:
    while data := await stream.receive_some():
        await stream.send_all(data)
    await stream.aclose()


async def test_the_handshake_shows_the_relay_certificate_and_alpn(
    serve: Callable[[Handler], Awaitable[int]], server_context: tuple[ssl.SSLContext, str]
) -> None:
    stream = await connect(await serve(echo))
    assert fingerprint(stream.getpeercert(binary_form=True)) == server_context[1]
    assert stream.selected_alpn_protocol() == "porthole/1"
    assert stream.version() == "TLSv1.3"
    await stream.aclose()


async def test_bytes_go_both_ways_intact_under_back_pressure(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    """8 MB each way at once, in sizes from 1 byte to 1 MB: the socket fills (the echo side
    reads slowly at first), so sends wait halfway and resume; every byte arrives in order."""

    async def slow_echo(stream: trio.SSLStream[trio.SocketStream]) -> None:
        await trio.sleep(0.3)  # let the client's socket buffer fill
        await echo(stream)

    stream = await connect(await serve(slow_echo))
    sizes = [1, 5, 4096, 16384, 16385, 100_000, 1 << 20] * 7
    chunks = [secrets.token_bytes(n) for n in sizes]
    sent = hashlib.sha256(b"".join(chunks)).hexdigest()
    total = sum(sizes)
    received = hashlib.sha256()
    count = 0

    async def send() -> None:
        for chunk in chunks:
            await stream.send_all(chunk)

    async def receive() -> None:
        nonlocal count
        while count < total:
            data = await stream.receive_some(65536)
            assert data
            assert len(data) <= 65536
            received.update(data)
            count += len(data)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            nursery.start_soon(receive)
    assert received.hexdigest() == sent
    await stream.aclose()


async def test_a_thread_and_a_task_write_at_once_under_back_pressure(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    """A worker thread writes (``write_nowait`` + ``drain_blocking``) while a trio task sends
    and another receives the echo; the socket fills, both wait their way through, and the
    stream carries each writer's chunks whole and in order (sizes tell the writers apart)."""

    async def slow_echo(stream: trio.SSLStream[trio.SocketStream]) -> None:
        await trio.sleep(0.3)  # let the client's socket buffer fill
        await echo(stream)

    stream = await connect(await serve(slow_echo))
    thread_chunks = [bytes([1]) * 300_000] * 8
    task_chunks = [bytes([2]) * 70_000] * 30
    total = sum(map(len, thread_chunks + task_chunks))
    received = bytearray()

    def write_from_thread() -> None:
        for chunk in thread_chunks:
            if not stream.write_nowait(chunk):
                stream.drain_blocking()

    async def send() -> None:
        for chunk in task_chunks:
            await stream.send_all(chunk)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_into, stream, received, total)
            nursery.start_soon(send)
            await trio.to_thread.run_sync(write_from_thread)
    assert len(received) == total
    # Each writer's bytes arrive in its order; a chunk may be split only by whole chunks of
    # the other writer (a write is atomic on the stream).
    runs = [(b, len(list(g))) for b, g in itertools.groupby(received)]
    assert sum(n for b, n in runs if b == 1) == 8 * 300_000
    assert all(n % 300_000 == 0 for b, n in runs if b == 1)
    assert all(n % 70_000 == 0 for b, n in runs if b == 2)
    await stream.aclose()


async def test_a_thread_can_give_up_waiting_and_the_bytes_still_leave_in_order(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    """A worker thread must not be held forever by a peer that stopped reading: it gives up
    waiting, its bytes stay queued, and the next drain sends them, intact and in order."""
    reading = trio.Event()
    got = hashlib.sha256()
    count = 0

    async def stalled_then_reads(stream: trio.SSLStream[trio.SocketStream]) -> None:
        nonlocal count
        await stream.do_handshake()
        await reading.wait()
        while data := await stream.receive_some():
            got.update(data)
            count += len(data)

    stream = await connect(await serve(stalled_then_reads))
    chunk = secrets.token_bytes(1 << 20)
    payload = bytearray()
    asked = 0

    def give_up() -> bool:
        nonlocal asked
        asked += 1
        return True

    def write_from_thread() -> bool:
        while len(payload) < 256 << 20:  # until the socket buffers are full
            payload.extend(chunk)
            if not stream.write_nowait(chunk):
                return stream.drain_blocking(give_up)
        raise AssertionError("the socket never filled up")

    assert await trio.to_thread.run_sync(write_from_thread) is False
    assert asked == 1
    reading.set()
    with trio.fail_after(30):
        await stream.drain()
        while count < len(payload):
            await trio.sleep(0.01)
    assert got.hexdigest() == hashlib.sha256(payload).hexdigest()
    await stream.aclose()


async def test_the_peer_close_notify_is_a_clean_end(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    async def greet_and_close(stream: trio.SSLStream[trio.SocketStream]) -> None:
        await stream.send_all(b"bye")
        await stream.aclose()

    stream = await connect(await serve(greet_and_close))
    data = b""
    with trio.fail_after(10):
        while chunk := await stream.receive_some():
            data += chunk
    assert data == b"bye"
    await stream.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await stream.send_all(b"x")


async def test_a_bare_eof_breaks_the_stream(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    """No close_notify, just TCP FIN: indistinguishable from a truncation, so it is an error."""

    async def hang_up(stream: trio.SSLStream[trio.SocketStream]) -> None:
        await stream.send_all(b"half")
        await stream.transport_stream.aclose()

    stream = await connect(await serve(hang_up))
    with trio.fail_after(10), pytest.raises(trio.BrokenResourceError):  # noqa: PT012
        while await stream.receive_some():
            pass
    with pytest.raises(trio.BrokenResourceError):
        await stream.send_all(b"x")
    await stream.aclose()


async def test_a_server_that_is_not_tls_fails_the_handshake(nursery: trio.Nursery) -> None:
    async def http(tcp: trio.SocketStream) -> None:
        await tcp.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await tcp.aclose()

    listeners = await nursery.start(functools.partial(trio.serve_tcp, http, 0, host="127.0.0.1"))
    tcp = await trio.open_tcp_stream("127.0.0.1", listeners[0].socket.getsockname()[1])
    stream = ClientTLSStream(tcp, client_ssl_context(), server_hostname="localhost")
    with pytest.raises((ssl.SSLError, trio.BrokenResourceError)):
        await stream.do_handshake()
    with pytest.raises(trio.BrokenResourceError):
        await stream.do_handshake()
    await stream.aclose()


async def test_one_sender_and_one_receiver_at_a_time(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    async def silent(stream: trio.SSLStream[trio.SocketStream]) -> None:
        await stream.do_handshake()
        await trio.sleep_forever()

    stream = await connect(await serve(silent))
    big = bytes(32 << 20)  # more than the socket buffers hold: the first sender waits
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.send_all, big)
        nursery.start_soon(stream.receive_some)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await stream.send_all(b"x")
        with pytest.raises(trio.BusyResourceError):
            await stream.receive_some()
        nursery.cancel_scope.cancel()
    await stream.aclose()


async def test_a_send_cancelled_halfway_still_leaves_whole_before_the_next(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    """Cancelled while the socket was full, a send's bytes stay queued: the stream is not
    broken, and they reach the peer whole, before what is sent next."""
    reading = trio.Event()

    async def echo_later(stream: trio.SSLStream[trio.SocketStream]) -> None:
        await stream.do_handshake()
        await reading.wait()
        await echo(stream)

    stream = await connect(await serve(echo_later))
    big = secrets.token_bytes(32 << 20)  # more than the socket buffers hold
    with trio.move_on_after(0.3) as scope:
        await stream.send_all(big)
    assert scope.cancelled_caught
    reading.set()
    received = bytearray()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_into, stream, received, len(big) + 5)
            await stream.send_all(b"after")
    assert bytes(received) == big + b"after"
    await stream.aclose()


async def test_a_cancelled_send_sends_nothing(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    stream = await connect(await serve(echo))
    with trio.CancelScope() as scope:
        scope.cancel()
        await stream.send_all(b"never")
    await stream.send_all(b"after")
    with trio.fail_after(10):
        assert await stream.receive_some() == b"after"
    await stream.aclose()


async def test_sending_before_the_handshake_is_a_mistake(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    port = await serve(echo)
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = ClientTLSStream(tcp, client_ssl_context(("porthole/1",)), server_hostname="x")
    with pytest.raises(RuntimeError, match="handshake"):
        await stream.send_all(b"x")
    await stream.aclose()
    await stream.aclose()  # twice is fine
