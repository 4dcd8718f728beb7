"""The WebSocket carrier: ``porthole/1`` payloads as WebSocket binary messages.

What a carrier is, and why both carriers feed the same sans-IO connection: :mod:`core.carriers`
(docs/design.md §4.1). This one uses the sans-I/O core of the ``websockets`` package
(:class:`websockets.server.ServerProtocol` / :class:`websockets.client.ClientProtocol`), fed from
the trio stream here, exactly as our own sans-IO connection is fed; the caller did the opening
handshake (the relay routes HTTP by path first, the client checks the certificate pin before
sending its upgrade request), and hands over the protocol object already ``OPEN``.

It is a module of its own so that only the WebSocket path pays for importing ``websockets``.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping, Sequence
from typing import Any

import trio
from websockets.exceptions import InvalidState, PayloadTooBig
from websockets.frames import Frame, Opcode
from websockets.protocol import SEND_EOF, Event, Side, State
from websockets.protocol import Protocol as WebSocketProtocol

from core.carriers import RECEIVE_CHUNK
from core.errors import ErrorCode, RemoteProtocolError
from core.protocol.framing import frame_payload, split_frames

__all__ = ["WebSocketCarrier", "websocket_logger"]


class _NoFrameLogs(logging.LoggerAdapter[logging.Logger]):
    """websockets logs the first bytes of every frame at DEBUG. Those bytes can be a ``Login``
    with its password (inside TLS, but in clear to this process): porthole never logs message
    contents, so DEBUG is off for websockets whatever the logging configuration says."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        return

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


def websocket_logger(name: str) -> logging.LoggerAdapter[logging.Logger]:
    """The logger to give a websockets protocol object: ``name`` without frame dumps."""
    return _NoFrameLogs(logging.getLogger(name), {})


def _wire_size(frame: Frame, *, masked: bool) -> int:
    """How many bytes ``frame`` took on the wire (we never negotiate extensions).

    RFC 6455 §5.2 requires the shortest length encoding; a peer that pads it only makes
    :attr:`WebSocketCarrier.buffered` look busier, which can only cut *its* connection sooner.
    """
    size = len(frame.data)
    length_field = 0 if size < 126 else 2 if size < 65536 else 8
    return 2 + length_field + (4 if masked else 0) + size


class WebSocketCarrier:
    """``porthole/1`` payloads as WebSocket binary messages over a (TLS) byte stream.

    ``protocol`` is an OPEN websockets sans-I/O protocol (server or client side). ``pending``
    are events it already produced with the handshake (frames that came in the same read), and
    ``leftover`` bytes read past the handshake that it has not seen yet.
    """

    name = "wss"

    def __init__(
        self,
        stream: trio.abc.Stream,
        protocol: WebSocketProtocol,
        *,
        pending: Sequence[Event] = (),
        leftover: bytes = b"",
    ) -> None:
        if protocol.state is not State.OPEN:
            raise ValueError("the WebSocket handshake has not completed")
        self.stream = stream
        self.protocol = protocol
        self._masked_in = protocol.side is Side.SERVER  # clients mask what they send
        self._write_lock = trio.Lock()
        self._ready: list[bytes] = []
        self._partial: bytearray | None = None
        self._pending: list[Event] = list(pending)
        #: A rule broken after some whole messages: raised once those are delivered.
        self._violation: RemoteProtocolError | None = None
        self._fed = sum(
            _wire_size(e, masked=self._masked_in) for e in self._pending if isinstance(e, Frame)
        )
        self._consumed = 0
        self._eof = False
        if leftover:
            self._feed(leftover)

    @property
    def buffered(self) -> int:
        partial = len(self._partial) if self._partial is not None else 0
        return max(0, self._fed - self._consumed) + partial

    # -- receiving --------------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        self._fed += len(data)
        self.protocol.receive_data(data)
        self._pending.extend(self.protocol.events_received())

    async def receive_some(self) -> bytes | None:
        if self._violation is not None and not self._ready:
            raise self._violation
        if not self._ready and not self._eof and not self._pending:
            data = await self.stream.receive_some(RECEIVE_CHUNK)
            if data:
                self._feed(bytes(data))
            else:
                if self.buffered:
                    raise RemoteProtocolError(
                        ErrorCode.TRUNCATED, "the peer closed the stream in the middle of a message"
                    )
                self.protocol.receive_eof()
                self._eof = True
        events, self._pending = self._pending, []
        self._absorb(events)
        await self._flush()  # pongs and the echo of a close frame
        failure = self.protocol.parser_exc
        # EOFError is websockets' word for "the stream ended without a closing handshake",
        # which we treat like the end of a byte stream (truncation was checked above).
        if failure is not None and not isinstance(failure, EOFError) and self._violation is None:
            code = (
                ErrorCode.OVERSIZED if isinstance(failure, PayloadTooBig) else ErrorCode.MALFORMED
            )
            self._violation = RemoteProtocolError(code, f"invalid WebSocket data: {failure}")
        if self._violation is not None and not self._ready:
            raise self._violation
        if self._ready:
            ready, self._ready = self._ready, []
            return b"".join(ready)
        if self._eof or self.protocol.state in (State.CLOSING, State.CLOSED):
            self._eof = True
            return b""
        return None

    def _absorb(self, events: list[Event]) -> None:
        """Turn frames into whole framed payloads; stop at the first broken rule (what came
        before it is still delivered, as for bytes on a framed stream)."""
        for event in events:
            if self._violation is not None:
                return
            if not isinstance(event, Frame):
                self._violation = RemoteProtocolError(
                    ErrorCode.MALFORMED, "an HTTP message inside a WebSocket"
                )
                return
            self._consumed += _wire_size(event, masked=self._masked_in)
            opcode = event.opcode
            if opcode is Opcode.TEXT:
                self._violation = RemoteProtocolError(
                    ErrorCode.MALFORMED,
                    "a WebSocket text message: porthole/1 travels in binary messages only",
                )
                return
            if opcode is Opcode.BINARY:
                # websockets already refuses a new message inside a fragmented one.
                self._partial = bytearray(event.data)
            elif opcode is Opcode.CONT:
                assert self._partial is not None  # websockets refuses a stray continuation
                self._partial += event.data
            elif opcode is Opcode.CLOSE:
                self._eof = True
                continue
            else:
                continue  # PING (websockets queued the PONG) and PONG
            if event.fin:
                self._ready.append(frame_payload(self._partial))
                self._partial = None

    # -- sending ----------------------------------------------------------------------------------

    async def _write(self, chunks: list[bytes]) -> None:
        data = b"".join(chunks)
        if data:
            await self.stream.send_all(data)
        if SEND_EOF in chunks:
            # The WebSocket is over (websockets asks for the TCP close): no more reads.
            self._eof = True

    async def _flush(self) -> None:
        async with self._write_lock:
            await self._write(self.protocol.data_to_send())

    async def send_all(self, data: bytes) -> None:
        async with self._write_lock:
            if self.protocol.state is not State.OPEN:
                raise trio.ClosedResourceError("the WebSocket is closing")
            for payload in split_frames(data):
                self.protocol.send_binary(payload)
            await self._write(self.protocol.data_to_send())

    async def aclose(self) -> None:
        try:
            async with self._write_lock:
                if self.protocol.state is State.OPEN:
                    self.protocol.send_close(1000)
                    await self._write(self.protocol.data_to_send())
        except (trio.BrokenResourceError, trio.ClosedResourceError, InvalidState):
            await trio.aclose_forcefully(self.stream)
            return
        await self.stream.aclose()

    async def aclose_forcefully(self) -> None:
        await trio.aclose_forcefully(self.stream)
