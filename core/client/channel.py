"""A message channel to a relay: TLS with a pinned certificate, framing, Hello/Welcome.

Everything above this module speaks messages (``send(msg)``, ``receive() -> msg``), so the carrier
can change (the WebSocket fallback of a later issue) without touching the session logic. The
certificate fingerprint is checked right after the TLS handshake and *before* a single byte of
ours is sent, so a password never reaches a relay we did not pin.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import trio

from core.errors import ErrorCode, ProtocolError, RemoteProtocolError
from core.protocol import CONNECTION_CLOSED, NEED_DATA, ClientConnection, Message, State
from core.protocol.messages import PROTOCOL_NAME, Close, Hello, Welcome
from core.tlspin import (
    ALPN_PROTOCOL,
    FingerprintMismatch,
    check_pinned,
    client_ssl_context,
    fingerprint,
)

CONNECT_TIMEOUT = 10.0
RECEIVE_CHUNK = 256 * 1024


class RelayUnreachable(Exception):
    """The relay could not be reached or did not speak ``porthole/1``; a sentence says why."""


class ChannelClosed(Exception):
    """The relay closed the connection; ``code`` and the message say why, when it told us."""

    def __init__(self, code: ErrorCode | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def client_software() -> str:
    try:
        return f"porthole {version('porthole')}"
    except PackageNotFoundError:
        return "porthole"


@dataclass(frozen=True, slots=True)
class RelayIdentity:
    """What we learned while connecting: the certificate fingerprint and the relay's Welcome."""

    host: str
    port: int
    fingerprint: str
    welcome: Welcome


class RelayChannel:
    """One connection to a relay. ``send`` is safe from any task; ``receive`` from one task."""

    def __init__(
        self,
        stream: trio.SSLStream[trio.SocketStream],
        conn: ClientConnection,
        identity: RelayIdentity,
    ) -> None:
        self._stream = stream
        self._conn = conn  # already past Hello/Welcome (open_channel did that)
        self.identity = identity
        self._send_lock = trio.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def send(self, msg: Message) -> None:
        data = self._conn.send(msg)
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._closed = True
                raise ChannelClosed(None, "The connection to the relay was lost.") from exc

    async def receive(self) -> Message:
        """The next message from the relay; raises :class:`ChannelClosed` when it is gone."""
        while True:
            try:
                event = self._conn.next_event()
            except RemoteProtocolError as exc:
                self._closed = True
                raise ChannelClosed(exc.code, f"The relay sent invalid data: {exc}") from exc
            if event is NEED_DATA:
                try:
                    data = await self._stream.receive_some(RECEIVE_CHUNK)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self._closed = True
                    raise ChannelClosed(None, "The connection to the relay was lost.") from exc
                self._conn.receive_data(data)
                continue
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
            await self._stream.aclose()
            return
        await trio.aclose_forcefully(self._stream)


async def open_channel(
    host: str,
    port: int,
    *,
    pinned: str | None,
    connect_timeout: float = CONNECT_TIMEOUT,
    local_address: str | None = None,
) -> RelayChannel:
    """Connect, check the certificate against ``pinned`` and exchange Hello/Welcome.

    ``pinned`` None is trust on first use: the caller must show :attr:`RelayIdentity.fingerprint`
    to the person (and remember it) before trusting anything said over this channel.
    Raises :class:`~core.tlspin.FingerprintMismatch` on a pin mismatch, :class:`RelayUnreachable`
    when the relay cannot be reached, and :class:`ChannelClosed` if it refuses us.
    """
    context: ssl.SSLContext = client_ssl_context()
    where = f"{host}:{port}"
    stream: trio.SSLStream[trio.SocketStream] | None = None
    try:
        with trio.fail_after(connect_timeout):
            tcp = await trio.open_tcp_stream(host, port, local_address=local_address)
            stream = trio.SSLStream(tcp, context, server_hostname=host)
            await stream.do_handshake()
            der = stream.getpeercert(binary_form=True)
            if pinned is not None:
                check_pinned(der, pinned, relay=where)
            if stream.selected_alpn_protocol() != ALPN_PROTOCOL:
                raise RelayUnreachable(f"{where} does not speak {PROTOCOL_NAME}.")
            conn = ClientConnection()
            await stream.send_all(
                conn.send(Hello(protocol=PROTOCOL_NAME, software=client_software()))
            )
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    conn.receive_data(await stream.receive_some(RECEIVE_CHUNK))
                    continue
                if isinstance(event, Welcome):
                    welcome = event
                    break
                if isinstance(event, Close):
                    raise ChannelClosed(event.code, event.message)
                raise RelayUnreachable(f"{where} answered the handshake with {event!r}.")
    except FingerprintMismatch:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise
    except trio.TooSlowError:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise RelayUnreachable(f"{where} did not answer within {connect_timeout:g} s.") from None
    except OSError as exc:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        reason = exc.strerror or str(exc)
        raise RelayUnreachable(f"Cannot reach the relay at {where}: {reason}.") from None
    except (trio.BrokenResourceError, ssl.SSLError, RemoteProtocolError) as exc:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise RelayUnreachable(f"The TLS handshake with {where} failed: {exc}.") from None
    if der is None:
        raise RelayUnreachable(f"{where} presented no certificate.")
    identity = RelayIdentity(host=host, port=port, fingerprint=fingerprint(der), welcome=welcome)
    return RelayChannel(stream, conn, identity)
