"""Reaching a relay: TLS with a pinned certificate, a carrier, Hello/Welcome.

Everything above :func:`open_channel` speaks messages (``send(msg)``, ``receive() -> msg``), so
the carrier can change without touching the session logic: framed ``porthole/1`` on TLS, or the same
messages as WebSocket binary messages (directly or through an HTTP CONNECT proxy) when only
HTTPS gets out (:mod:`core.client.transport`). The certificate fingerprint is checked right after
the TLS handshake and *before* a single byte of ours is sent inside it, on every path, so a
password never reaches a relay we did not pin, and a pin mismatch ends the attempt at once:
``auto`` never "falls back" past it.

This module is what a client imports to *reach* a relay: TCP, TLS, the pin, the carrier. What
speaks ``porthole/1`` once there (:class:`~core.client.relay_channel.RelayChannel`, the sans-IO
protocol and its message classes) is imported while the TLS handshake is in flight, right after
the ClientHello left: a client's first byte on the wire does not wait for it, and on a real
network its import overlaps the relay's answer (bench/README.md, "bench.startup").
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

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
from core.errors import ErrorCode, RemoteProtocolError
from core.failures import EXIT_FAILED, EXIT_LOST, ConnectionFailure
from core.tlspin import (
    ALPN_PROTOCOL,
    FingerprintMismatch,
    check_pinned,
    client_ssl_context,
    fingerprint,
)
from core.version import software

if TYPE_CHECKING:
    from collections.abc import Callable

    from core.client.relay_channel import RelayChannel
    from core.protocol.messages import Welcome

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


async def open_channel(
    host: str,
    port: int,
    *,
    pinned: str | None,
    connect_timeout: float = CONNECT_TIMEOUT,
    local_address: str | None = None,
    transport: Transport = "auto",
    proxy: str | None = None,
    meanwhile: Callable[[], object] | None = None,
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

    ``meanwhile()``, when given, runs once, while the first TLS handshake is in flight (after
    the ClientHello left): the caller's chance to load what it needs once connected.
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
    loaded = False

    def load() -> None:
        # The message layer, and the caller's own, while the relay answers the ClientHello.
        nonlocal loaded
        if not loaded:
            loaded = True
            import core.client.relay_channel  # noqa: F401

            if meanwhile is not None:
                meanwhile()

    started = trio.current_time()
    failures: list[tuple[PathName, RelayUnreachable]] = []
    for number, path in enumerate(plan, start=1):
        timeout = connect_timeout
        if number < len(plan):
            timeout = min(AUTO_ATTEMPT_TIMEOUT, connect_timeout)
        try:
            channel = await _attempt(
                path, host, port, where, pinned, timeout, local_address, proxy_address, load
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
    load: Callable[[], object],
) -> RelayChannel:
    """One path, all of it (TCP, proxy, TLS, pin, upgrade, Hello/Welcome) within ``timeout``;
    ``load()`` runs as soon as the ClientHello left."""

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
            await stream.do_handshake(meanwhile=load)
            der = stream.getpeercert(binary_form=True)
            if pinned is not None:
                check_pinned(der, pinned, relay=where)
            if der is None:
                raise RelayUnreachable(f"{where} presented no certificate.")
            # Trusted from here on: only now does anything of ours go inside the TLS session.
            if stream.selected_alpn_protocol() != alpn:
                what = ALPN_PROTOCOL if path == "tls" else "HTTPS (http/1.1)"
                raise RelayUnreachable(f"{where} does not speak {what} on this port.")
            if path == "tls":
                carrier = StreamCarrier(stream)
            else:
                # Only this path loads the websockets package (see core/websocket_carrier.py).
                from core.client.websocket_path import upgrade

                stage = "WebSocket upgrade"
                carrier = await upgrade(stream, host, port, where)
            stage = f"{ALPN_PROTOCOL} handshake"
            from core.client.relay_channel import RelayChannel, hello  # load() imported it

            conn, welcome = await hello(carrier, where)
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
