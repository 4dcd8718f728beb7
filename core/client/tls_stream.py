"""The client's TLS 1.3 stream to a relay: ``trio.SSLStream``'s job, minus two trips through the
scheduler per message.

The presenter sends one message per keystroke. Through ``trio.SSLStream`` each ``send_all`` passes
the scheduler twice even when the socket takes the bytes at once (its inner send lock, then the
socket's own checkpoint), and each trip costs tens of microseconds of cold CPU (what that saves the
presenter: bench/README.md, "Measurements behind design choices"). Here ``send_all`` encrypts,
writes what the socket takes right away, and only waits (a schedule point) when the socket is full.
It is still a cancel point: a cancelled task sends nothing.

It can also be written from one worker thread (the presenter's, see
:mod:`core.stream.presenter`): :meth:`ClientTLSStream.write_nowait` encrypts and writes what the
socket takes, and keeps the rest, in order, in a backlog that the next writer (or
:meth:`ClientTLSStream.drain` / :meth:`ClientTLSStream.drain_blocking`) sends first. The TLS
object, its buffers and the backlog are guarded by one ``threading.Lock``, held only for
non-blocking work (OpenSSL is not safe to use from two threads at once, and ``_ssl`` releases
the GIL inside ``SSL_read``/``SSL_write``).

Scope, on purpose small: client side only, TLS 1.3 only (:func:`core.tlspin.client_ssl_context`
refuses anything older), so there is no renegotiation and a write never needs a read. What a
read makes OpenSSL write (a KeyUpdate answer) waits in the outgoing buffer for the next send,
in order. One task sends and one receives at a time (each is checked). A send cancelled while
its bytes wait in the backlog leaves them there, and they go out, in order, before anything
written after them (``trio.SSLStream`` would break the stream: its half-written record could
not be finished); a failed write breaks the stream.
"""

from __future__ import annotations

import contextlib
import os
import select
import ssl
import threading
from collections.abc import Callable
from typing import Any

import trio

__all__ = ["ClientTLSStream"]

#: What one read asks of the socket and of OpenSSL.
READ_SIZE = 256 * 1024
#: How long a worker thread waits for room on the socket before checking whether the stream
#: was closed meanwhile (milliseconds).
_THREAD_POLL_MS = 250


class ClientTLSStream(trio.abc.Stream):
    """TLS over ``transport`` (a connected ``trio.SocketStream``), client side."""

    def __init__(
        self, transport: trio.SocketStream, context: ssl.SSLContext, *, server_hostname: str
    ) -> None:
        self.transport_stream = transport
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=server_hostname
        )
        self._fd = transport.socket.fileno()
        self._handshaken = False
        self._broken: BaseException | None = None
        self._closed = False
        self._sending = False
        self._receiving = False
        #: Guards the TLS object, its buffers and the backlog (see the module docstring).
        self._lock = threading.Lock()
        #: TLS bytes written by OpenSSL that the socket has not taken yet (sent before any other).
        self._backlog = bytearray()

    # -- what the TLS session says ----------------------------------------------------------

    def getpeercert(self, binary_form: bool = False) -> Any:
        return self._tls.getpeercert(binary_form)

    def selected_alpn_protocol(self) -> str | None:
        return self._tls.selected_alpn_protocol()

    def version(self) -> str | None:
        return self._tls.version()

    # -- handshake --------------------------------------------------------------------------

    async def do_handshake(self, meanwhile: Callable[[], object] | None = None) -> None:
        """Complete the handshake (the peer is not authenticated: check its pin next).

        ``meanwhile()``, when given, runs once as soon as the ClientHello is on the wire, before
        the wait for the relay's answer: the client loads what it needs next while the relay
        works and the network carries the reply (bench/README.md, "bench.startup")."""
        self._check_usable()
        if self._handshaken:
            await trio.lowlevel.checkpoint()
            return
        try:
            while True:
                try:
                    with self._lock:
                        self._tls.do_handshake()
                except ssl.SSLWantReadError:
                    await self._flush()
                    if meanwhile is not None:
                        run, meanwhile = meanwhile, None
                        run()
                    await self._read_more()
                    continue
                break
            await self._flush()
        except BaseException as exc:
            self._broken = exc
            raise
        self._handshaken = True

    # -- trio.abc.Stream --------------------------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._check_usable()
        self._require_handshake()
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this stream")
        await trio.lowlevel.checkpoint_if_cancelled()
        self._sending = True
        try:
            if not self.write_nowait(data):
                await self.drain()
        finally:
            self._sending = False

    def write_nowait(self, data: bytes | bytearray | memoryview) -> bool:
        """Encrypt ``data`` and write what the socket takes now, from any thread, never waiting;
        the rest waits in the backlog, in order. True when nothing is left waiting.

        Whoever writes next sends the backlog first; a task that must know its bytes left
        awaits :meth:`drain` (a worker thread calls :meth:`drain_blocking`).
        """
        self._require_handshake()
        with self._lock:
            self._check_usable()  # under the lock: aclose() marks the stream closed under it
            if data:
                try:
                    self._tls.write(data)
                except ssl.SSLError as exc:
                    raise self._break(exc) from exc
            return self._push()

    async def drain(self) -> None:
        """Wait until the socket took every byte written so far (a trio task). Cancelled, the
        bytes stay queued, in order, and leave with the next write or drain: the stream stays
        usable (nothing half-written ever reaches the peer with something else after it)."""
        while True:
            with self._lock:
                if self._push():
                    return
            await trio.lowlevel.wait_writable(self._fd)

    def drain_blocking(self, give_up: Callable[[], bool] | None = None) -> bool:
        """Wait until the socket took every byte written so far (a worker thread, not trio's:
        this blocks); True when it did. Raises ``trio.ClosedResourceError`` once the stream is
        closed meanwhile. ``give_up()`` is asked whenever the socket stayed full for a while:
        True ends the wait (answering False); the bytes stay queued, in order, and leave with
        the next write or :meth:`drain` (a stalled relay must not keep a thread from ending)."""
        poller: select.poll | None = None
        while True:
            with self._lock:
                if self._push():
                    return True
            if give_up is not None and give_up():
                return False
            if poller is None:
                poller = select.poll()
                poller.register(self._fd, select.POLLOUT)
            # A descriptor closed meanwhile answers POLLNVAL at once; _push then says closed.
            poller.poll(_THREAD_POLL_MS)

    async def wait_send_all_might_not_block(self) -> None:
        self._check_usable()
        await self.transport_stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        self._check_usable()
        self._require_handshake()
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this stream")
        size = READ_SIZE if max_bytes is None else max_bytes
        if size < 1:
            raise ValueError("max_bytes must be at least 1")
        self._receiving = True
        waited = False
        try:
            while True:
                try:
                    with self._lock:
                        data = self._tls.read(size)
                except ssl.SSLWantReadError:
                    await self._read_more()
                    waited = True
                    continue
                except ssl.SSLZeroReturnError:
                    data = b""  # the peer's close_notify: a clean end
                except ssl.SSLError as exc:
                    raise self._break(exc) from exc
                if not waited:
                    await trio.lowlevel.checkpoint()
                return data
        finally:
            self._receiving = False

    async def aclose(self) -> None:
        """Say close_notify (best effort, never waiting for the peer's), then close the socket."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        try:
            with self._lock:  # a worker thread writing now finishes first, then sees closed
                polite = self._handshaken and self._broken is None and not self._sending
                if polite:
                    with contextlib.suppress(ssl.SSLError):  # incl. want-read: we do not wait
                        self._tls.unwrap()
                    with contextlib.suppress(trio.BrokenResourceError):
                        self._push()
                self._closed = True
        finally:
            await self.transport_stream.aclose()

    # -- internals --------------------------------------------------------------------------

    async def _flush(self) -> None:
        """Send what OpenSSL wrote (handshake): at once if the socket takes it, else wait."""
        with self._lock:
            if self._push():
                return
        await self.drain()

    def _push(self) -> bool:
        """Write the backlog and what OpenSSL wrote since, as far as the socket takes them now;
        True when nothing is left. Call with the lock held. Checks first that the stream is
        still usable: once closed, its descriptor number may already belong to another file."""
        self._check_usable()
        out = self._outgoing.read()
        backlog = self._backlog
        if backlog:
            backlog += out
            sent = self._write(backlog)
            del backlog[:sent]
        elif out:
            sent = self._write(out)
            if sent < len(out):
                backlog += memoryview(out)[sent:]
        return not backlog

    def _write(self, data: bytes | bytearray) -> int:
        """What the socket takes of ``data`` now (0 when it is full)."""
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise self._break(exc) from exc

    async def _read_more(self) -> None:
        try:
            data = await self.transport_stream.receive_some(READ_SIZE)
        except trio.BrokenResourceError as exc:
            raise self._break(exc) from exc
        if not data:
            # EOF without close_notify: a truncation attack looks exactly like this.
            raise self._break(trio.BrokenResourceError("the relay closed the TLS connection"))
        with self._lock:
            self._incoming.write(data)

    def _break(self, cause: BaseException) -> trio.BrokenResourceError:
        if self._broken is None:
            self._broken = cause
        return trio.BrokenResourceError(f"the TLS stream broke: {cause}")

    def _check_usable(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("this TLS stream is closed")
        if self._broken is not None:
            raise trio.BrokenResourceError("this TLS stream broke earlier") from self._broken

    def _require_handshake(self) -> None:
        if not self._handshaken:
            raise RuntimeError("do_handshake() first")
