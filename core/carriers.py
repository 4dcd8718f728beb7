"""Carriers: what moves ``porthole/1`` frames between a sans-IO connection and a trio stream.

docs/design.md §4.1: the same messages travel either as length-prefixed frames on a TLS stream
(ALPN ``porthole/1``) or as WebSocket binary messages, one payload per message (ALPN
``http/1.1``, ``GET /ws``), so that a network which only lets HTTPS out still works. Both ends
keep their sans-IO :class:`~core.protocol.Connection` exactly as it is and talk to a *carrier*:

* :meth:`Carrier.send_all` takes whole frames as the connection encoded them (several may be
  joined); a WebSocket carrier strips each frame's 4-byte length and sends its payload as one
  binary message.
* :meth:`Carrier.receive_some` returns framed bytes for ``Connection.receive_data``; a WebSocket
  carrier puts the length back in front of each binary message it completed. So every check the
  connection makes (frame and per-type size limits, version, type registry, state table) applies
  to both carriers alike, and a message cannot span two WebSocket messages or share one.

``receive_some`` returns ``b""`` once the peer is gone (as ``receive_data(b"")`` expects) and
``None`` when bytes arrived but no whole unit yet, so the caller can still run its own deadlines
(the relay's frame timeout) using :attr:`Carrier.buffered`: bytes of a started but unfinished
unit that the carrier, not the connection, is holding.

The WebSocket carrier lives in :mod:`core.websocket_carrier`, so that a program on the framed
path never imports the ``websockets`` package (tens of milliseconds of its start-up: the headless
viewer's first byte, bench/README.md "bench.startup").
"""

from __future__ import annotations

from typing import Protocol

import trio

__all__ = ["RECEIVE_CHUNK", "Carrier", "StreamCarrier"]

RECEIVE_CHUNK = 256 * 1024


class Carrier(Protocol):
    """A frame carrier; see the module docstring. One task receives, one (or a lock) sends."""

    #: Which path this is, as clients report it: ``"tls"`` (framed) or ``"wss"`` (WebSocket).
    name: str

    @property
    def buffered(self) -> int:
        """Bytes of a started, unfinished unit held by the carrier (0 for a plain stream)."""
        ...

    async def receive_some(self) -> bytes | None:
        """Framed bytes; ``b""`` once closed; ``None`` if nothing whole arrived yet.

        Raises :class:`~core.errors.RemoteProtocolError` for a carrier-level violation (a
        WebSocket text message, an oversized or malformed WebSocket frame), and trio's
        ``BrokenResourceError``/``ClosedResourceError`` as the stream does.
        """
        ...

    async def send_all(self, data: bytes) -> None:
        """Send whole frames (one or several joined); raises like ``Stream.send_all``."""
        ...

    async def aclose(self) -> None:
        """Close politely (a WebSocket close frame first), then close the stream."""
        ...

    async def aclose_forcefully(self) -> None: ...


class StreamCarrier:
    """Framed ``porthole/1`` straight on a (TLS) byte stream: bytes in, bytes out."""

    name = "tls"
    buffered = 0

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    async def receive_some(self) -> bytes | None:
        return bytes(await self.stream.receive_some(RECEIVE_CHUNK))

    async def send_all(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def aclose_forcefully(self) -> None:
        await trio.aclose_forcefully(self.stream)
