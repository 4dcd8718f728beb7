"""The relay's HTTP/1.1 side of its one TLS port (ALPN ``http/1.1``, or no ALPN at all).

A network that lets nothing but HTTPS out still reaches the relay (docs/design.md §4.1): on the same
port, a TLS client that negotiated ``http/1.1`` gets a deliberately tiny web server:

``GET /ws`` (WebSocket upgrade)
    the ``porthole/1`` messages as WebSocket binary messages, one payload each; the connection
    then runs exactly the same reader, writer, limits and deadlines as a framed one.
``GET /healthz``
    ``200 ok`` for load balancers.
``GET /join/<9 digits>``
    a small HTML page with the ``porthole join`` command and link for that session ID. The page
    is the same for any well-formed ID (the relay does not look it up: no existence oracle).

One request per connection (``Connection: close``) except the upgrade; no request bodies; the
request head is limited to :data:`MAX_REQUEST_HEAD` bytes and must arrive before the relay's
handshake deadline (the one that also bounds TLS and Hello/Welcome). Request parsing, the
upgrade and the WebSocket framing are the sans-I/O core of ``websockets``
(:class:`~websockets.server.ServerProtocol`), fed from the trio stream here.
"""

from __future__ import annotations

import email.utils
import html
import ipaddress
import re
from http import HTTPStatus

import trio
from websockets.datastructures import Headers, MultipleValuesError
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from core.client.transport import HTTP_ALPN, WEBSOCKET_PATH
from core.links import JoinLink, format_session_id
from core.tlspin import format_fingerprint
from core.websocket_carrier import WebSocketCarrier, websocket_logger
from relay.config import RelayConfig

__all__ = ["HTTP_ALPN", "MAX_REQUEST_HEAD", "WebFront", "join_page"]

#: Request line plus headers. Browsers send well under 2 KiB; 16 KiB is generous.
MAX_REQUEST_HEAD = 16 * 1024
HEALTH_PATH = "/healthz"
_JOIN_PATH = re.compile(r"/join/(?P<id>[1-9][0-9]{8})")
_HOST_HEADER = re.compile(
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - compared against, not bound

#: websockets logs what it answers at INFO; ERROR would be a bug. Never frame bytes.
ws_log = websocket_logger("porthole.relay.web")


def _response(
    status: HTTPStatus,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    extra: tuple[tuple[str, str], ...] = (),
    head_only: bool = False,
) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Server", "porthole-relay"),
            ("Connection", "close"),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            *extra,
        ]
    )
    return Response(status.value, status.phrase, headers, b"" if head_only else body)


def _text(status: HTTPStatus, text: str, *, head_only: bool = False) -> Response:
    return _response(status, text.encode(), head_only=head_only)


def join_page(link: JoinLink) -> str:
    """The HTML page for ``/join/ID``; every interpolated value is escaped."""
    assert link.fingerprint is not None
    url = str(link)
    command = f"porthole join '{url}'"
    sid = format_session_id(link.session_id)
    e = html.escape
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Join porthole session {e(sid)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 3rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }}
pre {{ background: #f2f2f2; padding: .75rem 1rem; overflow-x: auto; }}
code {{ font-family: ui-monospace, monospace; }}
.fp {{ word-spacing: .2em; }}
</style>
</head>
<body>
<main>
<h1>Join porthole session {e(sid)}</h1>
<p>This is an end-to-end encrypted porthole screen-sharing session. Join it from a terminal:</p>
<pre><code>{e(command)}</code></pre>
<p>Or open the link with porthole installed: <a href="{e(url, quote=True)}">{e(url)}</a></p>
<p>The link pins this relay's key, fingerprint
<code class="fp">{e(format_fingerprint(link.fingerprint))}</code>.
A session password, if the session has one, is never part of a link: ask the organizer.</p>
<p>The relay switches the session's data but cannot read it: frames, input and chat are
sealed between the members.</p>
</main>
</body>
</html>
"""


class WebFront:
    """Answers one HTTP request on an accepted TLS stream, or upgrades it to a WebSocket."""

    def __init__(self, config: RelayConfig, fingerprint: str) -> None:
        self.config = config
        self.fingerprint = fingerprint

    async def serve(
        self, stream: trio.SSLStream[trio.SocketStream], deadline: float
    ) -> WebSocketCarrier | None:
        """Read the request (by ``deadline``) and answer it. Returns the WebSocket carrier for
        an accepted ``/ws`` upgrade; otherwise the stream is closed and the result is None."""
        head = bytearray()
        end = -1
        with trio.move_on_at(deadline):
            try:
                while end < 0 and len(head) <= MAX_REQUEST_HEAD:
                    data = await stream.receive_some(MAX_REQUEST_HEAD)
                    if not data:
                        break
                    searched = max(0, len(head) - 3)
                    head += data
                    end = head.find(b"\r\n\r\n", searched)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        protocol = ServerProtocol(max_size=self.config.max_frame, logger=ws_log)
        if end < 0 or end + 4 > MAX_REQUEST_HEAD:
            if len(head) > MAX_REQUEST_HEAD or end + 4 > MAX_REQUEST_HEAD:
                too_large = _text(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Request header too large.\n"
                )
                protocol.send_response(too_large)
                await self._finish(stream, protocol)
            else:  # EOF, broken, or the deadline: nothing worth answering
                await trio.aclose_forcefully(stream)
            return None
        protocol.receive_data(bytes(head[: end + 4]))
        events = protocol.events_received()
        if not events or not isinstance(events[0], Request):
            # Not HTTP/1.x (websockets already gave up on it): hang up without a word.
            await trio.aclose_forcefully(stream)
            return None
        request = events[0]
        response = self._route(request, protocol, stream)
        protocol.send_response(response)
        if response.status_code != 101:
            await self._finish(stream, protocol)
            return None
        with trio.move_on_at(deadline) as scope:
            try:
                await stream.send_all(b"".join(protocol.data_to_send()))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                scope.cancel()
        if scope.cancelled_caught:
            await trio.aclose_forcefully(stream)
            return None
        return WebSocketCarrier(stream, protocol, leftover=bytes(head[end + 4 :]))

    async def _finish(
        self, stream: trio.SSLStream[trio.SocketStream], protocol: ServerProtocol
    ) -> None:
        """Write the answer (bounded by the write timeout) and close."""
        data = b"".join(protocol.data_to_send())
        with trio.move_on_after(self.config.write_timeout):
            try:
                await stream.send_all(data)
                await stream.aclose()
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await trio.aclose_forcefully(stream)

    def _route(
        self,
        request: Request,
        protocol: ServerProtocol,
        stream: trio.SSLStream[trio.SocketStream],
    ) -> Response:
        path = request.path.partition("?")[0]
        if path == WEBSOCKET_PATH:
            # websockets checks method, version and the Upgrade/Key/Version headers; a plain
            # GET gets 426 Upgrade Required, anything else 400/405.
            return protocol.accept(request)
        head_only = request.method == "HEAD"
        if request.method not in ("GET", "HEAD"):
            response = _text(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed.\n")
            response.headers["Allow"] = "GET, HEAD"
            return response
        if path == HEALTH_PATH:
            return _text(HTTPStatus.OK, "ok\n", head_only=head_only)
        match = _JOIN_PATH.fullmatch(path)
        if match is not None:
            host, port = self._public_address(request, stream)
            link = JoinLink(host, port, match["id"], self.fingerprint)
            return _response(
                HTTPStatus.OK,
                join_page(link).encode(),
                content_type="text/html; charset=utf-8",
                extra=(
                    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
                    ("X-Frame-Options", "DENY"),
                ),
                head_only=head_only,
            )
        return _text(HTTPStatus.NOT_FOUND, "Not found.\n", head_only=head_only)

    def _public_address(
        self, request: Request, stream: trio.SSLStream[trio.SocketStream]
    ) -> tuple[str, int]:
        """Where people reach this relay: the Host the browser used, if it is a plain host
        name or address, else the address this connection arrived on."""
        try:
            value = request.headers.get("Host")
        except MultipleValuesError:
            value = None
        match = _HOST_HEADER.fullmatch(value or "")
        if match is not None:
            host = match["host"].strip("[]")
            port = int(match["port"]) if match["port"] else 443
            bracketed = match["host"].startswith("[")
            if 0 < port < 65536 and (not bracketed or _is_ipv6(host)):
                return host, port
        local = stream.transport_stream.socket.getsockname()
        host = self.config.host if self.config.host not in _WILDCARDS else str(local[0])
        return host, int(local[1])


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False
