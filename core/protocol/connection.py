"""Sans-IO ``porthole/1`` connections in the h11 shape: bytes in, events out, no sockets.

::

    conn = ClientConnection()
    sock.send(conn.send(Hello(...)))          # send() returns the bytes to write
    conn.receive_data(sock.recv(65536))        # b"" means the peer closed the stream
    event = conn.next_event()                  # a Message, NEED_DATA or CONNECTION_CLOSED

Both ends run the same transition table (:data:`TRANSITIONS`) over the connection's state, fed by
what they send *and* what they receive, so both objects agree on where the conversation is. What
the table covers is the connection, not the session: the handshake order (``Hello`` first, then
``Welcome``), who may send which message, and that nothing follows ``Close``. Session logic
(login before create, the join flow) belongs to the relay and the client library above this.

Errors are sticky, as in h11: after a :class:`RemoteProtocolError` the connection is broken and
every later ``next_event`` raises the same error again, so a caller cannot accidentally carry on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.errors import ErrorCode, LocalProtocolError, ProtocolError, RemoteProtocolError
from core.protocol.framing import (
    DEFAULT_MAX_FRAME,
    FrameBuffer,
    decode_payload,
    encode_frame,
    encode_sealed_frame,
)
from core.protocol.messages import (
    PROTOCOL_NAME,
    Close,
    Error,
    Hello,
    Message,
    Sealed,
    Sender,
    Welcome,
)
from core.protocol.wire import clip_text


class State(Enum):
    AWAIT_HELLO = "await-hello"
    AWAIT_WELCOME = "await-welcome"
    OPEN = "open"
    CLOSED = "closed"


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: ``next_event`` needs more bytes before it can return a message.
NEED_DATA = _Sentinel("NEED_DATA")
#: The peer closed the byte stream cleanly (after a whole number of frames).
CONNECTION_CLOSED = _Sentinel("CONNECTION_CLOSED")

Event = Message | _Sentinel

#: (state, who sends, message class) → next state. A message class missing for a state is not
#: allowed in it. ``Error`` never changes the state: a refusal is not the end of a conversation.
TRANSITIONS: dict[tuple[State, Sender, type[Message]], State] = {
    (State.AWAIT_HELLO, Sender.CLIENT, Hello): State.AWAIT_WELCOME,
    (State.AWAIT_WELCOME, Sender.RELAY, Welcome): State.OPEN,
}
for _state in (State.AWAIT_HELLO, State.AWAIT_WELCOME, State.OPEN):
    for _sender in Sender:
        TRANSITIONS[(_state, _sender, Close)] = State.CLOSED
        TRANSITIONS[(_state, _sender, Error)] = _state


def next_state(state: State, sender: Sender, msg: Message) -> State | None:
    """The state after ``sender`` sends ``msg`` in ``state``, or ``None`` if not allowed."""
    return _next_state_for(state, sender, type(msg))


def _next_state_for(state: State, sender: Sender, cls: type[Message]) -> State | None:
    if (state, sender, cls) in TRANSITIONS:
        return TRANSITIONS[(state, sender, cls)]
    if state is State.OPEN and cls not in (Hello, Welcome):
        return State.OPEN
    return None


@dataclass(frozen=True, slots=True)
class ConnectionStatistics:
    state: State
    messages_sent: int
    messages_received: int
    bytes_sent: int
    bytes_received: int
    bytes_buffered: int


class Connection:
    """One end of a ``porthole/1`` connection. Use :class:`ClientConnection` or
    :class:`RelayConnection`."""

    our_role: Sender

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.state = State.AWAIT_HELLO
        self._frames = FrameBuffer(max_frame)
        self._eof = False
        self._broken: RemoteProtocolError | None = None
        self._messages_sent = 0
        self._messages_received = 0
        self._bytes_sent = 0
        self._bytes_received = 0
        #: (message class, state, next state) of the last send that passed :meth:`_check_send`.
        self._allowed_send: tuple[type[Message] | None, State | None, State] = (
            None,
            None,
            State.AWAIT_HELLO,
        )

    @property
    def their_role(self) -> Sender:
        return Sender.RELAY if self.our_role is Sender.CLIENT else Sender.CLIENT

    # -- sending --------------------------------------------------------------------------------

    def send(self, msg: Message) -> bytes:
        """Validate ``msg`` for this side and state, and return the bytes to write."""
        new_state = self._state_after(type(msg))
        return self._sent(encode_frame(msg), new_state)

    def send_sealed(self, header: bytes, ciphertext: bytes, signature: bytes) -> bytes:
        """:meth:`send` of a :class:`~core.protocol.messages.Sealed` given as the parts a
        :class:`~core.crypto.sealing.ContentSealer` made (see
        :func:`~core.protocol.framing.encode_sealed_frame`). Only sizes are checked here: the
        header's fields are trusted, so pass only what ``seal_parts`` returned (it checked
        them); anything else goes through :meth:`send`."""
        new_state = self._state_after(Sealed)
        return self._sent(encode_sealed_frame(header, ciphertext, signature), new_state)

    def _state_after(self, cls: type[Message]) -> State:
        state = self.state
        allowed = self._allowed_send
        if allowed[0] is cls and allowed[1] is state:
            return allowed[2]
        return self._check_send(cls, state)

    def _sent(self, data: bytes, new_state: State) -> bytes:
        self.state = new_state
        self._messages_sent += 1
        self._bytes_sent += len(data)
        return data

    def _check_send(self, cls: type[Message], state: State) -> State:
        """The state after we send a ``cls`` in ``state``, or a :class:`LocalProtocolError`.

        The answer depends on nothing else (our role and the table are fixed), so the last one
        is kept: a stream of ``Sealed`` in the open state is checked once, not once a message.
        """
        if self.our_role not in cls.SENDERS:
            raise LocalProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE,
                f"a {self.our_role.value} may not send {cls.__name__}",
            )
        new_state = _next_state_for(state, self.our_role, cls)
        if new_state is None:
            raise LocalProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE,
                f"cannot send {cls.__name__} while the connection is {state.value}",
            )
        self._allowed_send = (cls, state, new_state)
        return new_state

    # -- receiving ------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the transport; ``b""`` means the peer closed the stream."""
        if self._eof:
            raise LocalProtocolError(ErrorCode.UNEXPECTED_MESSAGE, "data received after EOF")
        if not data:
            self._eof = True
            return
        self._bytes_received += len(data)
        self._frames.feed(data)

    def next_event(self) -> Event:
        """The next message from the peer, :data:`NEED_DATA`, or :data:`CONNECTION_CLOSED`."""
        if self._broken is not None:
            raise self._broken
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self._broken = exc
            raise

    def _next_event(self) -> Event:
        payload = self._frames.next_payload()
        if payload is None:
            if not self._eof:
                return NEED_DATA
            if self._frames.buffered:
                raise RemoteProtocolError(
                    ErrorCode.TRUNCATED, "the peer closed the stream in the middle of a frame"
                )
            return CONNECTION_CLOSED
        if self.state is State.CLOSED:
            raise RemoteProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE, "the peer sent data after closing the connection"
            )
        msg = decode_payload(payload)
        self._check_received(msg)
        self._messages_received += 1
        return msg

    def _check_received(self, msg: Message) -> None:
        name = type(msg).__name__
        if self.their_role not in type(msg).SENDERS:
            raise RemoteProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE, f"a {self.their_role.value} may not send {name}"
            )
        new_state = next_state(self.state, self.their_role, msg)
        if new_state is None:
            raise RemoteProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE,
                f"{name} is not allowed while the connection is {self.state.value}",
            )
        if isinstance(msg, Hello) and msg.protocol != PROTOCOL_NAME:
            raise RemoteProtocolError(
                ErrorCode.UNSUPPORTED_VERSION,
                f"peer speaks {msg.protocol!r}; this relay speaks {PROTOCOL_NAME!r}",
            )
        self.state = new_state

    # -- helpers --------------------------------------------------------------------------------

    def error_for(self, exc: ProtocolError) -> Message:
        """The message that tells the peer about ``exc``.

        A :class:`RemoteProtocolError` breaks the connection (errors are sticky), so the answer is
        ``Close``; anything else is a refusal the conversation survives, so it is ``Error``.
        """
        text = clip_text(exc.message, 512)
        if isinstance(exc, RemoteProtocolError):
            return Close(code=exc.code, message=text)
        return Error(code=exc.code, message=text, in_reply_to=0)

    def statistics(self) -> ConnectionStatistics:
        return ConnectionStatistics(
            state=self.state,
            messages_sent=self._messages_sent,
            messages_received=self._messages_received,
            bytes_sent=self._bytes_sent,
            bytes_received=self._bytes_received,
            bytes_buffered=self._frames.buffered,
        )


class ClientConnection(Connection):
    """The client's end: sends ``Hello`` first, waits for ``Welcome``."""

    our_role = Sender.CLIENT


class RelayConnection(Connection):
    """The relay's end: waits for ``Hello``, answers ``Welcome``."""

    our_role = Sender.RELAY
