"""A slow link on loopback: a TCP forwarder whose downstream direction has a byte rate.

    throttle = Throttle(relay_port, rate=150_000)   # a client connects to throttle.port
    ...
    throttle.close()

What reaches the client from the target (the relay) is paced to ``rate`` bytes a second in
small slices; what the client sends goes upstream at once. Both sockets on the slow side get
small kernel buffers (``buffer``), so the target's TCP sees a small window and its own send
queue fills as it would in front of a slow access link, instead of hiding megabytes in loopback
buffers. TLS runs end to end through it (the forwarder sees only bytes).

Used by ``bench.slow_member`` (a viewer behind a 150 kB/s link) and by the end-to-end test of a
slow member (tests/e2e/test_slow_member_e2e.py).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

#: Pacing slice: the rate is kept over this many seconds.
SLICE_SECONDS = 0.02


class Throttle:
    """Forwards connections to ``127.0.0.1:target_port``; the way back runs at ``rate`` B/s."""

    def __init__(self, target_port: int, rate: float, *, buffer: int = 32 * 1024) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.target_port = target_port
        self.rate = float(rate)
        self.buffer = buffer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        #: Bytes sent downstream so far (all connections; counted as each slice is sent).
        self.delivered = 0
        threading.Thread(target=self._accept, daemon=True, name="throttle-accept").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # Before connecting: the window the target's TCP is offered follows the buffer.
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.buffer)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.buffer)
            try:
                upstream.connect(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                upstream.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._paced, args=(upstream, client), daemon=True).start()

    def _paced(self, source: socket.socket, sink: socket.socket) -> None:
        piece = max(1, int(self.rate * SLICE_SECONDS))
        started = time.monotonic()
        sent = 0
        with contextlib.suppress(OSError):
            while data := source.recv(piece):
                with self._lock:
                    self.delivered += len(data)
                sink.sendall(data)
                sent += len(data)
                ahead = started + sent / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                elif ahead < -1.0:
                    # Idle for a while: the link's unused capacity does not pile up as credit.
                    started, sent = time.monotonic(), 0
        _shut(sink)

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    _shut(sink)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
