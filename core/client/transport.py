"""The ways a client reaches a relay's one TLS port, and the HTTP CONNECT proxy tunnel.

Three paths, tried in this order by ``transport="auto"`` (docs/design.md §4.1):

==============  ================================================================================
``tls``         framed ``porthole/1`` over TLS, ALPN ``porthole/1`` (the native path)
``wss``         WebSocket over TLS to the same host and port, ALPN ``http/1.1``, ``GET /ws``
``wss+proxy``   the same WebSocket, with the TLS session inside an HTTP ``CONNECT`` tunnel
==============  ================================================================================

The certificate pin is checked right after the TLS handshake on *every* path, before a byte of
ours goes inside the TLS session (the proxy only ever sees ``CONNECT host:port``). The content
is sealed end to end the same way whatever carries it; a carrier only changes how the relay's
messages are cut into network units.

Proxies come from ``--proxy URL`` or, failing that, ``HTTPS_PROXY``/``https_proxy`` (honouring
``NO_PROXY``/``no_proxy``). Only ``http://`` proxies: the tunnel's content is TLS already.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Final, Literal

import trio

from core.endpoints import TRANSPORTS, Transport

__all__ = [
    "AUTO_ATTEMPT_TIMEOUT",
    "HTTP_ALPN",
    "PATHS",
    "TRANSPORTS",
    "WEBSOCKET_PATH",
    "PathName",
    "ProxyAddress",
    "ProxyError",
    "Transport",
    "describe_path",
    "open_tunnel",
    "parse_proxy",
    "resolve_proxy",
]

PathName = Literal["tls", "wss", "wss+proxy"]
PATHS: Final[tuple[PathName, ...]] = ("tls", "wss", "wss+proxy")

#: ALPN for HTTP/1.1 (RFC 7301): the relay then serves /healthz, /join/ID and the /ws upgrade.
HTTP_ALPN = "http/1.1"
WEBSOCKET_PATH = "/ws"
#: In ``auto``, how long one path may take before the next is tried (the last one gets the
#: caller's whole connect timeout). Three seconds covers a TLS handshake across the world twice.
AUTO_ATTEMPT_TIMEOUT = 3.0
#: The proxy's answer to CONNECT is a status line and a few headers; more is not a proxy.
MAX_PROXY_RESPONSE = 16 * 1024

_DESCRIPTIONS: Final[dict[PathName, str]] = {
    "tls": "framed TLS",
    "wss": "WebSocket over TLS",
    "wss+proxy": "WebSocket over TLS through the HTTP proxy",
}
_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\s@\[\]]+):(?P<port>[0-9]{1,5})")
_SAFE_HOST = re.compile(r"[A-Za-z0-9._:%-]+")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (?P<code>[0-9]{3})(?: (?P<reason>[^\r\n]*))?")


def describe_path(path: PathName) -> str:
    """A few words for people: ``"WebSocket over TLS through the HTTP proxy"``."""
    return _DESCRIPTIONS[path]


class ProxyError(Exception):
    """The proxy address is unusable, or the proxy refused or broke the tunnel."""


@dataclass(frozen=True, slots=True)
class ProxyAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        """``host:port`` only: credentials never go into messages or logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_proxy(text: str) -> ProxyAddress:
    """``http://[user:password@]host[:port]`` or ``host:port``; raises :class:`ProxyError`."""
    text = text.strip()
    if "://" not in text:
        if not _HOST_PORT.fullmatch(text):
            raise ProxyError(f"a proxy is http://HOST:PORT or HOST:PORT, not {text!r}")
        text = f"http://{text}"
    parts = urllib.parse.urlsplit(text)
    if parts.scheme.lower() != "http":
        raise ProxyError(
            f"only http:// proxies are supported (the tunnel carries TLS already), not "
            f"{parts.scheme}://"
        )
    if not parts.hostname:
        raise ProxyError("the proxy address names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ProxyError("a proxy address is scheme, host and port, nothing more")
    try:
        port = parts.port or 80
    except ValueError:
        raise ProxyError("the proxy port is not a number from 1 to 65535") from None
    username = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    if username is not None and password is None:
        raise ProxyError("the proxy address has a user name but no password")
    return ProxyAddress(parts.hostname, port, username, password)


def resolve_proxy(host: str, port: int, proxy: str | None) -> ProxyAddress | None:
    """The proxy to try for ``host``: ``proxy`` if given (``""``: none at all), else the
    environment's ``https_proxy``/``HTTPS_PROXY`` unless ``no_proxy`` exempts ``host``."""
    if proxy is None:
        if urllib.request.proxy_bypass(f"{host}:{port}"):
            return None
        proxy = urllib.request.getproxies_environment().get("https")
    if not proxy:
        return None
    return parse_proxy(proxy)


async def open_tunnel(
    proxy: ProxyAddress, host: str, port: int, *, local_address: str | None = None
) -> trio.SocketStream:
    """A TCP stream to ``host:port`` through ``proxy`` (HTTP ``CONNECT``), ready for TLS.

    Raises :class:`ProxyError` if the proxy says no (with its status line), talks nonsense, or
    hangs up; ``OSError`` if it cannot be reached at all.
    """
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    if not _SAFE_HOST.fullmatch(host):
        raise ProxyError(f"{host!r} is not a host name or address to ask a proxy for")
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy.username is not None and proxy.password is not None:
        credentials = f"{proxy.username}:{proxy.password}".encode()
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(credentials).decode()}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    tcp = await trio.open_tcp_stream(proxy.host, proxy.port, local_address=local_address)
    try:
        await tcp.send_all(request)
        answer = bytearray()
        while (end := answer.find(b"\r\n\r\n")) < 0:
            if len(answer) > MAX_PROXY_RESPONSE:
                raise ProxyError(f"the proxy at {proxy} sent an oversized answer to CONNECT")
            data = await tcp.receive_some(MAX_PROXY_RESPONSE)
            if not data:
                raise ProxyError(f"the proxy at {proxy} hung up instead of opening the tunnel")
            answer += data
        status = _STATUS_LINE.match(answer)
        if status is None:
            raise ProxyError(f"the proxy at {proxy} did not answer CONNECT in HTTP")
        if not status["code"].startswith(b"2"):
            reason = (status["reason"] or b"").decode("latin-1").strip()
            code = status["code"].decode()
            raise ProxyError(
                f"the proxy at {proxy} refused the tunnel to {target}: {code} {reason}".rstrip()
            )
        if end + 4 != len(answer):
            # The relay speaks only after our TLS ClientHello: bytes here are the proxy's.
            raise ProxyError(f"the proxy at {proxy} sent data before the tunnel was used")
    except BaseException:
        await trio.aclose_forcefully(tcp)
        raise
    return tcp
