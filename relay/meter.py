"""What the relay counts for its metrics, as calls on a :class:`Meter` (no metrics library here).

Why a protocol: the relay must run (and ``porthole-relay --help`` must start) without
prometheus-client loaded; ``serve --metrics`` plugs in :class:`relay.metrics.RelayMetrics`,
everything else keeps :data:`NO_METER`. Calls carry aggregate labels only — a transport name, an
error code's name — never a session ID, a member's name or an address (docs/design.md §7.8).
A meter must be quick and must not raise: it is called from the relay's connection tasks.
"""

from __future__ import annotations

from typing import Protocol


class Meter(Protocol):
    def connected(self, transport: str) -> None:
        """A connection chose its carrier (``tls`` framed, ``wss`` WebSocket)."""

    def handshake(self, transport: str, seconds: float) -> None:
        """Hello answered ``seconds`` after TCP accept (TLS, HTTP upgrade and Hello)."""

    def refused(self, reason: str) -> None:
        """The relay said no: an error code's name, lower case (``join_refused``, …)."""


class _NoMeter:
    def connected(self, transport: str) -> None:
        pass

    def handshake(self, transport: str, seconds: float) -> None:
        pass

    def refused(self, reason: str) -> None:
        pass


#: The meter of a relay served without ``--metrics``: counts nothing.
NO_METER: Meter = _NoMeter()
