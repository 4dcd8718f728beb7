"""A message channel to a relay: ``send(msg)``, ``receive() -> msg`` over a carrier.

:func:`~core.client.channel.open_channel` reaches the relay (TCP, TLS, the pin, the carrier),
loads this module while the TLS handshake is in flight, then says Hello here and wraps the
carrier in a :class:`RelayChannel`. Everything above speaks messages, so the carrier can change
without touching the session logic.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import trio

from core.carriers import Carrier, StreamCarrier
from core.client.channel import (
    ChannelClosed,
    RelayIdentity,
    RelayUnreachable,
    client_software,
)
from core.client.tls_stream import ClientTLSStream
from core.errors import ErrorCode, ProtocolError, RemoteProtocolError
from core.protocol import (
    CONNECTION_CLOSED,
    NEED_DATA,
    ClientConnection,
    Message,
    State,
)
from core.protocol.messages import PROTOCOL_NAME, Close, Hello, Welcome

__all__ = ["RelayChannel", "hello"]


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


async def hello(carrier: Carrier, where: str) -> tuple[ClientConnection, Welcome]:
    """Say Hello on a fresh carrier; the relay's Welcome, or its refusal as an exception."""
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
