"""The trio client library: pinned connection to a relay, login, create/join, sealed sessions.

It is what the headless programs and the TUI use; it binds the sans-IO protocol and the pure
crypto to a network connection and turns what happens into :mod:`core.client.events`.
"""

from core.client.channel import (
    ChannelClosed,
    RelayChannel,
    RelayIdentity,
    RelayUnreachable,
    open_channel,
)
from core.client.client import RelayClient, RequestRefused, open_relay_client
from core.client.session import AdmitPolicy, MemberSession, OrganizerSession, SessionBase

__all__ = [
    "AdmitPolicy",
    "ChannelClosed",
    "MemberSession",
    "OrganizerSession",
    "RelayChannel",
    "RelayClient",
    "RelayIdentity",
    "RelayUnreachable",
    "RequestRefused",
    "SessionBase",
    "open_channel",
    "open_relay_client",
]
