"""The client's WebSocket path: ``GET /ws`` with ``Upgrade: websocket`` on a pinned TLS stream.

docs/design.md §4.1: when only HTTPS gets out, the same messages travel as WebSocket binary
messages. :func:`~core.client.channel.open_channel` imports this module only when it tries that
path, so a client on framed TLS never loads the ``websockets`` package.
"""

from __future__ import annotations

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake
from websockets.http11 import Response
from websockets.uri import WebSocketURI

from core.carriers import RECEIVE_CHUNK
from core.client.channel import RelayUnreachable, client_software
from core.client.tls_stream import ClientTLSStream
from core.client.transport import WEBSOCKET_PATH
from core.protocol import DEFAULT_MAX_FRAME
from core.websocket_carrier import WebSocketCarrier, websocket_logger

__all__ = ["upgrade"]


async def upgrade(stream: ClientTLSStream, host: str, port: int, where: str) -> WebSocketCarrier:
    """``GET /ws`` with ``Upgrade: websocket`` on the pinned TLS stream (websockets sans-I/O)."""
    uri = WebSocketURI(secure=True, host=host, port=port, path=WEBSOCKET_PATH, query="")
    protocol = ClientProtocol(
        uri, max_size=DEFAULT_MAX_FRAME, logger=websocket_logger("porthole.client.websocket")
    )
    request = protocol.connect()
    request.headers["User-Agent"] = client_software()
    protocol.send_request(request)
    await stream.send_all(b"".join(protocol.data_to_send()))
    while True:
        data = await stream.receive_some(RECEIVE_CHUNK)
        if data:
            protocol.receive_data(bytes(data))
        else:
            protocol.receive_eof()
        events = protocol.events_received()
        if events or not data:
            break
    if not events or not isinstance(events[0], Response):
        raise RelayUnreachable(f"{where} closed the connection instead of upgrading to WebSocket.")
    failure = protocol.handshake_exc
    if failure is not None:
        reason = str(failure)
        if isinstance(failure, InvalidHandshake) and events[0].status_code != 101:
            reason = f"HTTP {events[0].status_code} {events[0].reason_phrase}"
        raise RelayUnreachable(f"{where} refused the WebSocket upgrade: {reason}.")
    return WebSocketCarrier(stream, protocol, pending=events[1:])
