"""``porthole/1`` without I/O: the wire codec, every message, framing and connection objects.

Nothing in this package touches a socket, a clock or a file; the relay and the client library
feed it bytes and act on the events it returns (the h11/wsproto shape).
"""

from core.protocol.connection import (
    CONNECTION_CLOSED,
    NEED_DATA,
    ClientConnection,
    Connection,
    ConnectionStatistics,
    Event,
    RelayConnection,
    State,
)
from core.protocol.framing import (
    DEFAULT_MAX_FRAME,
    FrameBuffer,
    decode_payload,
    encode_frame,
    encode_payload,
)
from core.protocol.messages import MESSAGE_TYPES, PROTOCOL_NAME, Message, Sender

__all__ = [
    "CONNECTION_CLOSED",
    "DEFAULT_MAX_FRAME",
    "MESSAGE_TYPES",
    "NEED_DATA",
    "PROTOCOL_NAME",
    "ClientConnection",
    "Connection",
    "ConnectionStatistics",
    "Event",
    "FrameBuffer",
    "Message",
    "RelayConnection",
    "Sender",
    "State",
    "decode_payload",
    "encode_frame",
    "encode_payload",
]
