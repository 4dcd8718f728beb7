"""``open_relay_client``: reach the relay first, load the client library while it answers.

A headless program's first byte on the wire (the TLS ClientHello) used to wait for every module
the client library imports: the protocol's message classes, the crypto, the session logic. Here
only the light part, :func:`~core.client.channel.open_channel` (TCP, TLS, the pin), is imported
up front; :mod:`core.client.client` and all it brings are imported while the TLS handshake is in
flight, when the process would otherwise sit waiting for the relay's answer
(bench/README.md, "bench.startup").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from core.client.channel import open_channel
from core.client.transport import Transport

if TYPE_CHECKING:
    from core.client.client import RelayClient

__all__ = ["open_relay_client"]


def _load_client() -> None:
    import core.client.client  # noqa: F401  (the session logic, crypto and messages)


@asynccontextmanager
async def open_relay_client(
    host: str,
    port: int,
    *,
    pinned: str | None,
    connect_timeout: float = 10.0,
    local_address: str | None = None,
    transport: Transport = "auto",
    proxy: str | None = None,
) -> AsyncIterator[RelayClient]:
    """Connect to a relay (see :func:`~core.client.channel.open_channel`) and run the client.

    ``transport`` and ``proxy`` choose the path (framed TLS, WebSocket, WebSocket through an
    HTTP proxy); ``client.channel.identity.transport`` says which one was used.
    """
    channel = await open_channel(
        host,
        port,
        pinned=pinned,
        connect_timeout=connect_timeout,
        local_address=local_address,
        transport=transport,
        proxy=proxy,
        meanwhile=_load_client,
    )
    from core.client.client import RelayClient  # _load_client imported it

    client = RelayClient(channel)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._read_forever)
            nursery.start_soon(client._keepalive)
            nursery.start_soon(client._tick_forever)
            try:
                yield client
            finally:
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await channel.aclose()
