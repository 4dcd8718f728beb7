"""The trio client library: pinned connection to a relay, login, create/join, sealed sessions.

It is what the headless programs and the TUI use; it binds the sans-IO protocol and the pure
crypto to a network connection and turns what happens into :mod:`core.client.events`.
"""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from core.client.channel import ChannelClosed as ChannelClosed
    from core.client.channel import RelayIdentity as RelayIdentity
    from core.client.channel import RelayUnreachable as RelayUnreachable
    from core.client.channel import open_channel as open_channel
    from core.client.client import RelayClient as RelayClient
    from core.client.client import RequestRefused as RequestRefused
    from core.client.connect import open_relay_client as open_relay_client
    from core.client.relay_channel import RelayChannel as RelayChannel
    from core.client.session import AdmitPolicy as AdmitPolicy
    from core.client.session import MemberSession as MemberSession
    from core.client.session import OrganizerSession as OrganizerSession
    from core.client.session import SessionBase as SessionBase

# Imported on first use (see core/lazy.py): importing the package costs nothing.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "channel": (
            "ChannelClosed",
            "RelayIdentity",
            "RelayUnreachable",
            "open_channel",
        ),
        "client": (
            "RelayClient",
            "RequestRefused",
        ),
        "connect": ("open_relay_client",),
        "relay_channel": ("RelayChannel",),
        "session": (
            "AdmitPolicy",
            "MemberSession",
            "OrganizerSession",
            "SessionBase",
        ),
    },
)
