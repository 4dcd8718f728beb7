"""The ceiling for bench/fanout.py: a trivial trio forwarder that copies bytes, nothing more.

It stands in for "the minimum any relay must do": accept one sender and N receivers per group,
read what the sender writes and write the same bytes to every receiver. No framing, no
validation, no routing decisions, no per-member queues beyond a bounded backlog (so a
slow receiver slows its sender instead of losing data: the ceiling never drops). Each receiver
has a backlog list; its writer sends everything queued in one write, and the sender waits only
when a receiver is more than 4 MiB behind. So it does the same socket and TLS work as a relay
(one read per chunk, one write per batch per receiver) minus everything porthole adds.

It listens on two loopback ports, plain TCP and TLS 1.3 (the relay's own TLS settings and
certificate code, so the TLS leg costs what porthole's does), and prints one line::

    forwarder tcp=PORT tls=PORT

Connection preamble (client → forwarder): 2 bytes, role (``S`` sender or ``R`` receiver) and
group number; the forwarder answers ``+`` once the connection is registered. Runs until killed
or until its standard input closes.

    python -m bench.forwarder --cert-dir DIR
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import trio

from relay.tls import ensure_certificate, server_ssl_context

RECEIVE_CHUNK = 256 * 1024  # the relay reads this much at a time, too
#: A receiver may lag this many bytes behind its sender before the sender waits for it.
MAX_PENDING = 4 * 1024 * 1024

AnyStream = trio.SocketStream | trio.SSLStream[trio.SocketStream]


class Receiver:
    """One receiver's backlog: chunks the sender appended and its writer has not sent yet."""

    def __init__(self) -> None:
        self.pending: list[bytes | bytearray] = []
        self.pending_bytes = 0
        self.has_data = trio.Event()
        self.has_room = trio.Event()
        self.has_room.set()
        self.closed = False

    def push(self, chunk: bytes | bytearray) -> None:
        self.pending.append(chunk)
        self.pending_bytes += len(chunk)
        self.has_data.set()
        if self.pending_bytes > MAX_PENDING:
            self.has_room = trio.Event()

    def take_all(self) -> bytes | bytearray:
        chunks, self.pending = self.pending, []
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def sent(self, size: int) -> None:
        self.pending_bytes -= size
        if self.pending_bytes <= MAX_PENDING:
            self.has_room.set()


@dataclass
class Group:
    receivers: list[Receiver] = field(default_factory=list)


class Forwarder:
    def __init__(self) -> None:
        self.groups: dict[int, Group] = {}

    async def handle(self, stream: AnyStream) -> None:
        try:
            await self._handle(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async def _handle(self, stream: AnyStream) -> None:
        head = b""
        while len(head) < 2:
            data = await stream.receive_some(RECEIVE_CHUNK)
            if not data:
                return
            head += data
        role, group_id, rest = head[:1], head[1], head[2:]
        group = self.groups.setdefault(group_id, Group())
        if role == b"R":
            await self._receiver(stream, group)
        elif role == b"S":
            await stream.send_all(b"+")
            await self._sender(stream, group, rest)

    async def _receiver(self, stream: AnyStream, group: Group) -> None:
        me = Receiver()
        group.receivers.append(me)
        try:
            await stream.send_all(b"+")
            while True:
                await me.has_data.wait()
                me.has_data = trio.Event()
                # Everything queued goes out in one write (over TLS a read yields at most one
                # 16 KiB record; a write per record per receiver would cost more than the relay).
                payload = me.take_all()
                await stream.send_all(payload)
                me.sent(len(payload))
        finally:
            me.closed = True
            me.has_room.set()
            group.receivers.remove(me)

    async def _sender(self, stream: AnyStream, group: Group, first: bytes) -> None:
        data: bytes | bytearray = first
        while True:
            if data:
                for receiver in group.receivers:
                    receiver.push(data)
                for receiver in list(group.receivers):
                    if not receiver.closed:
                        await receiver.has_room.wait()
            data = await stream.receive_some(RECEIVE_CHUNK)
            if not data:
                return


async def _watch_stdin(cancel: trio.CancelScope) -> None:
    """End when our parent closes our standard input (or dies)."""
    stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
    with contextlib.suppress(OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        while await stdin.receive_some(1024):
            pass
    cancel.cancel()


async def run(cert_dir: Path, host: str) -> None:
    paths = ensure_certificate(cert_dir)
    context = server_ssl_context(paths.cert, paths.key)
    forwarder = Forwarder()
    tcp = await trio.open_tcp_listeners(0, host=host)
    tls = await trio.open_ssl_over_tcp_listeners(0, context, host=host)
    tcp_port = tcp[0].socket.getsockname()[1]
    tls_transport = tls[0].transport_listener
    assert isinstance(tls_transport, trio.SocketListener)
    tls_port = tls_transport.socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, forwarder.handle, tcp)
        nursery.start_soon(trio.serve_listeners, forwarder.handle, tls)
        nursery.start_soon(_watch_stdin, nursery.cancel_scope)
        print(f"forwarder tcp={tcp_port} tls={tls_port}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.forwarder",
        description="The byte-copying fan-out forwarder bench/fanout.py uses as its ceiling.",
    )
    parser.add_argument("--cert-dir", type=Path, required=True, help="where to keep the TLS pair")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    args = parser.parse_args(argv)
    trio.run(run, args.cert_dir, args.host)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
