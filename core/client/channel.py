"""A message channel to a relay: TLS with a pinned certificate, a carrier, Hello/Welcome.

Everything above this module speaks messages (``send(msg)``, ``receive() -> msg``), so the carrier
can change without touching the session logic: framed ``porthole/1`` on TLS, or the same
messages as WebSocket binary messages (directly or through an HTTP CONNECT proxy) when only
HTTPS gets out (:mod:`core.client.transport`). The certificate fingerprint is checked right after
the TLS handshake and *before* a single byte of ours is sent inside it, on every path, so a
password never reaches a relay we did not pin, and a pin mismatch ends the attempt at once:
``auto`` never "falls back" past it.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import trio

from core.carriers import Carrier, StreamCarrier
from core.client.tls_stream import ClientTLSStream
from core.client.transport import (
    AUTO_ATTEMPT_TIMEOUT,
    HTTP_ALPN,
    TRANSPORTS,
    PathName,
    ProxyAddress,
    ProxyError,
    Transport,
    describe_path,
    open_tunnel,
    resolve_proxy,
)
from core.errors import ErrorCode, ProtocolError, RemoteProtocolError
from core.failures import EXIT_FAILED, EXIT_LOST, ConnectionFailure
from core.protocol import (
    CONNECTION_CLOSED,
    NEED_DATA,
    ClientConnection,
    Message,
    State,
)
from core.protocol.messages import PROTOCOL_NAME, Close, Hello, Welcome
from core.tlspin import (
    ALPN_PROTOCOL,
    FingerprintMismatch,
    check_pinned,
    client_ssl_context,
    fingerprint,
)
from core.version import software

CONNECT_TIMEOUT = 10.0

log = logging.getLogger("porthole.client")


class RelayUnreachable(ConnectionFailure):
    """The relay could not be reached or did not speak ``porthole/1``; a sentence says why."""

    kind = "relay_unreachable"

    def __init__(self, message: str) -> None:
        super().__init__(
            message, next_step="Check the address and port, and that the relay is running."
        )


class ChannelClosed(ConnectionFailure):
    """The relay closed the connection; ``code`` and the message say why, when it told us.

    Without a code the connection died (exit 3); with one the relay ended it on purpose (a
    refusal or a protocol error: exit 1).
    """

    def __init__(self, code: ErrorCode | None, message: str) -> None:
        super().__init__(message, code=code, exit_code=EXIT_LOST if code is None else EXIT_FAILED)


def client_software() -> str:
    return software("porthole")


@dataclass(frozen=True, slots=True)
class RelayIdentity:
    """What we learned while connecting: the certificate fingerprint, the relay's Welcome, the
    path that worked (``"tls"``, ``"wss"`` or ``"wss+proxy"``) and how long connecting took
    (from the first attempt to the Welcome, failed attempts included)."""

    host: str
    port: int
    fingerprint: str
    welcome: Welcome
    transport: PathName = "tls"
    connect_ms: float = 0.0

    @property
    def transport_description(self) -> str:
        return describe_path(self.transport)


class RelayChannel:
    """One connection to a relay. ``send`` is safe from any task; ``receive`` from one task;
    :meth:`send_from_thread` from one worker thread (the presenter's) at the same time.

    Everything that numbers or encodes an outgoing message (the sans-IO connection, a sealer's
    counter through :meth:`send_built`) and the write of its bytes happen under one
    ``threading.Lock``, :attr:`wire`, so messages leave in the order they were built, whichever
    thread built them: receivers drop a sealed message whose counter is not above the last.
    The reader takes it too, for the connection's state: while the presenter's thread seals a
    large keyframe (a few milliseconds of signing and encryption), trio waits that long.
    """

    def __init__(self, carrier: Carrier, conn: ClientConnection, identity: RelayIdentity) -> None:
        self._carrier = carrier
        self._conn = conn  # already past Hello/Welcome (open_channel did that)
        self.identity = identity
        #: One send at a time: whether one is under way, and the tasks waiting for their turn
        #: (a plain flag and a parking lot: the presenter sends once per keystroke, and a
        #: ``trio.Lock`` costs it several calls more each time, ownership tracking included).
        self._sending = False
        self._send_turns = trio.lowlevel.ParkingLot()
        self._closed = False
        self.wire = threading.Lock()
        """Held while a message is built, encoded and handed to the stream (never while
        waiting): holding it, nobody sends (see :meth:`send_built`'s ``withheld``)."""
        #: Framed TLS on our own TLS stream can be written from a worker thread directly;
        #: other carriers (WebSocket) go through trio (:meth:`send_from_thread`).
        stream = getattr(carrier, "stream", None)
        direct = isinstance(carrier, StreamCarrier) and isinstance(stream, ClientTLSStream)
        self._direct: ClientTLSStream | None = stream if direct else None

    @property
    def closed(self) -> bool:
        return self._closed

    async def send(self, msg: Message) -> None:
        await self.send_built(lambda conn: conn.send(msg))

    async def send_built(
        self, build: Callable[[ClientConnection], bytes], withheld: Callable[[], bool] | None = None
    ) -> bool:
        """Send the bytes ``build(conn)`` makes with this channel's sans-IO connection (its
        ``send`` or ``send_sealed``), built under :attr:`wire` right before they are written
        (so a sealer's counter follows the order on the wire). ``withheld()``,
        when given, is asked there too: True sends nothing (answers False). A task cancelled
        before its bytes were handed to the stream sends nothing; cancelled while they wait
        for room, they still leave, in order (see :meth:`ClientTLSStream.drain`)."""
        if self._closed:
            # The relay closed the connection (or it broke): say so, whatever the message.
            raise ChannelClosed(None, "The connection to the relay is closed.")
        if self._sending:
            # Another task is sending: wait until it hands the turn over (a task cancelled
            # while waiting is never handed it). Uncontended, no trip through the scheduler
            # here: the write below is the checkpoint.
            await self._send_turns.park()
        else:
            self._sending = True
        try:
            direct = self._direct
            if direct is not None:
                await trio.lowlevel.checkpoint_if_cancelled()
            with self.wire:
                self._check_open()
                if withheld is not None and withheld():
                    return False
                data = build(self._conn)
                if direct is not None and direct.write_nowait(data):
                    return True
            if direct is not None:
                await direct.drain()
            else:
                await self._carrier.send_all(data)
            return True
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._closed = True
            raise ChannelClosed(None, "The connection to the relay was lost.") from exc
        finally:
            if self._send_turns:
                self._send_turns.unpark()  # the turn passes straight to the next in line
            else:
                self._sending = False

    def send_from_thread(
        self, build: Callable[[ClientConnection], bytes], withheld: Callable[[], bool] | None = None
    ) -> bool:
        """:meth:`send_built` from a worker thread started by ``trio.to_thread`` (one at a
        time): on framed TLS it writes the bytes itself and waits in that thread while the
        socket is full, so the trio loop is not woken at all; on other carriers it asks trio
        to send. While it waits for room, ``withheld()`` turning true ends the wait: the
        message was committed and leaves, in order, with the next write (see
        :meth:`ClientTLSStream.drain_blocking`)."""
        direct = self._direct
        if direct is None:
            return trio.from_thread.run(self.send_built, build, withheld)
        try:
            with self.wire:
                self._check_open()
                if withheld is not None and withheld():
                    return False
                data = build(self._conn)
                if direct.write_nowait(data):
                    return True
            direct.drain_blocking(withheld)
            return True
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._closed = True
            raise ChannelClosed(None, "The connection to the relay was lost.") from exc

    def _check_open(self) -> None:
        """Under :attr:`wire`: the relay may have closed the connection since the caller last
        looked (the reader sees its ``Close`` under the same lock)."""
        if self._closed or self._conn.state is not State.OPEN:
            raise ChannelClosed(None, "The connection to the relay is closed.")

    async def receive(self) -> Message:
        """The next message from the relay; raises :class:`ChannelClosed` when it is gone."""
        while True:
            try:
                with self.wire:  # the sans-IO connection's state is shared with senders
                    event = self._conn.next_event()
                if event is NEED_DATA:
                    data = await self._carrier.receive_some()
                    if data is not None:
                        with self.wire:
                            self._conn.receive_data(data)
                    continue
            except RemoteProtocolError as exc:
                self._closed = True
                raise ChannelClosed(exc.code, f"The relay sent invalid data: {exc}") from exc
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._closed = True
                raise ChannelClosed(None, "The connection to the relay was lost.") from exc
            if event is CONNECTION_CLOSED:
                self._closed = True
                raise ChannelClosed(None, "The relay closed the connection.")
            assert isinstance(event, Message)
            if isinstance(event, Close):
                self._closed = True
                raise ChannelClosed(event.code, event.message)
            return event

    async def aclose(self) -> None:
        if not self._closed and self._conn.state is State.OPEN:
            try:
                with trio.move_on_after(1):
                    await self.send(Close(code=ErrorCode.LEFT, message="Goodbye."))
            except (ChannelClosed, ProtocolError):
                pass
        self._closed = True
        with trio.move_on_after(1):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self._carrier.aclose()
            return
        await self._carrier.aclose_forcefully()


async def open_channel(
    host: str,
    port: int,
    *,
    pinned: str | None,
    connect_timeout: float = CONNECT_TIMEOUT,
    local_address: str | None = None,
    transport: Transport = "auto",
    proxy: str | None = None,
) -> RelayChannel:
    """Connect, check the certificate against ``pinned`` and exchange Hello/Welcome.

    ``transport`` picks the path (:mod:`core.client.transport`): ``"tls"`` framed TLS only;
    ``"wss"`` WebSocket only, through the proxy when there is one; ``"auto"`` framed TLS, then
    WebSocket direct, then WebSocket through the proxy, each but the last given
    :data:`~core.client.transport.AUTO_ATTEMPT_TIMEOUT` seconds. ``proxy`` is an
    ``http://HOST:PORT`` URL; ``None`` takes ``HTTPS_PROXY``/``https_proxy`` from the
    environment, ``""`` means no proxy. :attr:`RelayChannel.identity` says which path worked.

    ``pinned`` None is trust on first use: the caller must show :attr:`RelayIdentity.fingerprint`
    to the person (and remember it) before trusting anything said over this channel.
    Raises :class:`~core.tlspin.FingerprintMismatch` on a pin mismatch (on any path, at once),
    :class:`RelayUnreachable` when no path reaches the relay, and :class:`ChannelClosed` if the
    relay refuses us.
    """
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        proxy_address = resolve_proxy(host, port, proxy)
    except ProxyError as exc:
        raise RelayUnreachable(f"Cannot use the proxy: {exc}.") from None
    plan: list[PathName]
    if transport == "tls":
        plan = ["tls"]
    elif transport == "wss":
        plan = ["wss+proxy" if proxy_address is not None else "wss"]
    else:
        plan = ["tls", "wss"]
        if proxy_address is not None:
            plan.append("wss+proxy")
    started = trio.current_time()
    failures: list[tuple[PathName, RelayUnreachable]] = []
    for number, path in enumerate(plan, start=1):
        timeout = connect_timeout
        if number < len(plan):
            timeout = min(AUTO_ATTEMPT_TIMEOUT, connect_timeout)
        try:
            channel = await _attempt(
                path, host, port, where, pinned, timeout, local_address, proxy_address
            )
        except RelayUnreachable as exc:
            log.info("%s to %s failed: %s", describe_path(path), where, exc)
            failures.append((path, exc))
            continue
        elapsed_ms = (trio.current_time() - started) * 1000
        channel.identity = replace(channel.identity, transport=path, connect_ms=elapsed_ms)
        return channel
    if len(failures) == 1:
        raise failures[0][1]
    tried = "; ".join(f"{describe_path(path)}: {exc}" for path, exc in failures)
    raise RelayUnreachable(f"Cannot reach the relay at {where} on any path. {tried}")


async def _attempt(
    path: PathName,
    host: str,
    port: int,
    where: str,
    pinned: str | None,
    timeout: float,
    local_address: str | None,
    proxy: ProxyAddress | None,
) -> RelayChannel:
    """One path, all of it (TCP, proxy, TLS, pin, upgrade, Hello/Welcome) within ``timeout``."""
    tcp: trio.SocketStream | None = None
    stream: ClientTLSStream | None = None
    carrier: Carrier | None = None
    stage = "TLS handshake"

    async def abandon() -> None:
        with trio.CancelScope(shield=True):
            if carrier is not None:
                await carrier.aclose_forcefully()
            elif stream is not None:
                await trio.aclose_forcefully(stream)
            elif tcp is not None:
                await trio.aclose_forcefully(tcp)

    try:
        with trio.fail_after(timeout):
            if path == "wss+proxy":
                assert proxy is not None
                tcp = await open_tunnel(proxy, host, port, local_address=local_address)
            else:
                tcp = await trio.open_tcp_stream(host, port, local_address=local_address)
            alpn = ALPN_PROTOCOL if path == "tls" else HTTP_ALPN
            stream = ClientTLSStream(tcp, client_ssl_context((alpn,)), server_hostname=host)
            await stream.do_handshake()
            der = stream.getpeercert(binary_form=True)
            if pinned is not None:
                check_pinned(der, pinned, relay=where)
            if der is None:
                raise RelayUnreachable(f"{where} presented no certificate.")
            # Trusted from here on: only now does anything of ours go inside the TLS session.
            if stream.selected_alpn_protocol() != alpn:
                what = PROTOCOL_NAME if path == "tls" else "HTTPS (http/1.1)"
                raise RelayUnreachable(f"{where} does not speak {what} on this port.")
            if path == "tls":
                carrier = StreamCarrier(stream)
            else:
                # Only this path loads the websockets package (see core/websocket_carrier.py).
                from core.client.websocket_path import upgrade

                stage = "WebSocket upgrade"
                carrier = await upgrade(stream, host, port, where)
            stage = f"{PROTOCOL_NAME} handshake"
            conn, welcome = await _hello(carrier, where)
    except (FingerprintMismatch, RelayUnreachable, ChannelClosed):
        await abandon()
        raise
    except trio.TooSlowError:
        await abandon()
        raise RelayUnreachable(f"{where} did not answer within {timeout:g} s.") from None
    except ProxyError as exc:
        await abandon()
        raise RelayUnreachable(f"{exc}.") from None
    except OSError as exc:
        await abandon()
        reason = exc.strerror or str(exc)
        via = f" through the proxy at {proxy}" if path == "wss+proxy" else ""
        raise RelayUnreachable(f"Cannot reach the relay at {where}{via}: {reason}.") from None
    except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError) as exc:
        await abandon()
        raise RelayUnreachable(f"The {stage} with {where} failed: {exc}.") from None
    except RemoteProtocolError as exc:
        await abandon()
        raise RelayUnreachable(f"{where} answered the handshake with invalid data: {exc}") from None
    except BaseException:
        await abandon()
        raise
    identity = RelayIdentity(host=host, port=port, fingerprint=fingerprint(der), welcome=welcome)
    return RelayChannel(carrier, conn, identity)


async def _hello(carrier: Carrier, where: str) -> tuple[ClientConnection, Welcome]:
    conn = ClientConnection()
    await carrier.send_all(conn.send(Hello(protocol=PROTOCOL_NAME, software=client_software())))
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            data = await carrier.receive_some()
            if data is not None:
                conn.receive_data(data)
            continue
        if isinstance(event, Welcome):
            return conn, event
        if isinstance(event, Close):
            raise ChannelClosed(event.code, event.message)
        if event is CONNECTION_CLOSED:
            raise RelayUnreachable(f"{where} closed the connection during the handshake.")
        raise RelayUnreachable(f"{where} answered the handshake with {event!r}.")
