"""``serve --metrics HOST:PORT``: Prometheus text on a listener of its own, served from trio.

Why a separate listener: counters of join outcomes on the public port would tell a prober which
sessions exist, so ``/metrics`` is never answered there (docs/design.md §3.3, §7.8). Why a tiny
HTTP/1.1 responder of our own rather than prometheus-client's server: that one runs a thread
outside the relay's nursery; this one is a trio task that ends with the relay. The registry is
private (not prometheus-client's global one), so nothing else in the process leaks into it.

Live values (connections, sessions, members, bytes and messages relayed, drops) are read from
the relay at scrape time; events (refusals, lockouts, handshakes) are counted as they happen,
through :class:`relay.meter.Meter` and the relay's event observers. No label ever holds a session
ID, a member's name or an address.

This module imports prometheus-client: only ``serve`` with ``--metrics`` imports it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import trio
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from relay.events import SECURITY_PREFIX, RelayEvent
from relay.store import SecurityEventKind

if TYPE_CHECKING:
    from relay.server import Relay

DEFAULT_METRICS_PORT = 9464
PREFIX = "porthole_relay"
#: Seconds from TCP accept to the answered Hello: loopback is milliseconds, a far client with
#: TLS and a WebSocket upgrade a few hundred; the relay gives up at its handshake timeout (10 s).
HANDSHAKE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: A scraper's request line and headers must fit in this and arrive within the timeout.
MAX_REQUEST = 8192
REQUEST_TIMEOUT = 5.0
LOCKOUT = f"{SECURITY_PREFIX}{SecurityEventKind.LOCKOUT.value}"
GUESSING = f"{SECURITY_PREFIX}{SecurityEventKind.GUESSING.value}"


class _LiveValues(Collector):
    """Gauges and counters the relay already keeps, read when Prometheus scrapes."""

    def __init__(self, relay: Relay) -> None:
        self._relay = relay

    def collect(self) -> Iterator[Metric]:
        relay = self._relay
        stats = relay.statistics()
        connections = GaugeMetricFamily(
            f"{PREFIX}_connections",
            "Open client connections, by transport (tls: framed porthole/1, wss: WebSocket).",
            labels=["transport"],
        )
        by_transport = relay.connections_by_transport()
        for transport in sorted({"tls", "wss", *by_transport}):
            connections.add_metric([transport], by_transport.get(transport, 0))
        yield connections
        yield GaugeMetricFamily(f"{PREFIX}_sessions", "Live sessions.", value=stats.sessions)
        yield GaugeMetricFamily(
            f"{PREFIX}_members", "Members of live sessions, organizers included.", stats.members
        )
        yield CounterMetricFamily(
            f"{PREFIX}_relayed_bytes",
            "Bytes of sealed content relayed to members since start.",
            value=stats.bytes_relayed,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_relayed_messages",
            "Sealed messages relayed to members since start.",
            value=stats.messages_relayed,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_dropped_updates",
            "Screen updates dropped for members that could not keep up, since start.",
            value=relay.dropped_total(),
        )


class RelayMetrics:
    """The relay's series on a private registry; a :class:`relay.meter.Meter` and an observer."""

    def __init__(self, relay: Relay) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_LiveValues(relay))
        self._connections = Counter(
            f"{PREFIX}_accepted_connections",
            "Client connections accepted since start, by transport.",
            ["transport"],
            registry=self.registry,
        )
        self._refusals = Counter(
            f"{PREFIX}_refusals",
            "Requests the relay refused since start, by reason (an error code, lower case).",
            ["reason"],
            registry=self.registry,
        )
        self._lockouts = Counter(
            f"{PREFIX}_lockouts",
            "Lockouts after repeated failures since start: scope login or join.",
            ["scope"],
            registry=self.registry,
        )
        self._guessing = Counter(
            f"{PREFIX}_guessing_alarms",
            "Guessing alarms since start (failures against one session ID or user name reached "
            "10, 20, 40, ...): scope login or join.",
            ["scope"],
            registry=self.registry,
        )
        self._handshake = Histogram(
            f"{PREFIX}_handshake_seconds",
            "Seconds from TCP accept to the relay's Welcome (TLS, HTTP upgrade, Hello).",
            ["transport"],
            buckets=HANDSHAKE_BUCKETS,
            registry=self.registry,
        )
        for scope in ("login", "join"):
            self._lockouts.labels(scope)
            self._guessing.labels(scope)
        for transport in ("tls", "wss"):
            self._connections.labels(transport)
            self._handshake.labels(transport)

    # -- relay.meter.Meter -----------------------------------------------------------------------

    def connected(self, transport: str) -> None:
        self._connections.labels(transport).inc()

    def handshake(self, transport: str, seconds: float) -> None:
        self._handshake.labels(transport).observe(max(0.0, seconds))

    def refused(self, reason: str) -> None:
        self._refusals.labels(reason).inc()

    # -- relay.events observer -------------------------------------------------------------------

    def observe(self, event: RelayEvent) -> None:
        """Count lockouts and guessing alarms (the detail names a key: only its scope is kept)."""
        if event.kind == LOCKOUT:
            self._lockouts.labels("join" if event.reason.startswith("joins") else "login").inc()
        elif event.kind == GUESSING:
            self._guessing.labels("join" if event.session_id is not None else "login").inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)


def attach(relay: Relay) -> RelayMetrics:
    """Count ``relay``'s connections, refusals and events from now on."""
    metrics = RelayMetrics(relay)
    relay.set_meter(metrics)
    relay.switchboard.observers.append(metrics.observe)
    relay.recorder.observers.append(metrics.observe)
    return metrics


def _response(status: str, content_type: str, body: bytes, head: bool = False) -> bytes:
    header = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return header.encode("ascii") + (b"" if head else body)


async def _read_request(stream: trio.SocketStream) -> bytes | None:
    data = b""
    with trio.move_on_after(REQUEST_TIMEOUT):
        while b"\r\n\r\n" not in data and len(data) <= MAX_REQUEST:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return None
            data += chunk
        return data if b"\r\n\r\n" in data else None
    return None


def answer(metrics: RelayMetrics, request: bytes) -> bytes:
    """The response to one request (sans-IO: tested without sockets too)."""
    line = request.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return _response("400 Bad Request", "text/plain", b"bad request\n")
    method, target, _ = parts
    path = target.split("?", 1)[0]
    if method not in ("GET", "HEAD"):
        return _response("405 Method Not Allowed", "text/plain", b"GET /metrics only\n")
    if path != "/metrics":
        return _response("404 Not Found", "text/plain", b"not found: try /metrics\n")
    return _response("200 OK", CONTENT_TYPE_LATEST, metrics.text(), head=method == "HEAD")


async def _handle(metrics: RelayMetrics, stream: trio.SocketStream) -> None:
    async with stream:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            request = await _read_request(stream)
            if request is None:
                return
            with trio.move_on_after(REQUEST_TIMEOUT):
                await stream.send_all(answer(metrics, request))


async def serve_metrics(
    metrics: RelayMetrics,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer GET /metrics on ``host:port`` until cancelled; ``started`` with the bound port."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound: int = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(
            trio.serve_listeners, lambda stream: _handle(metrics, stream), listeners
        )
        task_status.started(bound)
