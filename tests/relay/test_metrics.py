"""``porthole-relay serve --metrics``: Prometheus text on its own listener, read by Prometheus's
own parser during a live session, never on the public port, never naming a session or a member
(docs/design.md §7.8 and §3.3).

The real relay runs as a subprocess; real clients fail a login, log in, create a session, fail a
join, join and chat. ``/metrics`` is then scraped over plain HTTP from the metrics listener and
parsed with ``prometheus_client.parser.text_string_to_metric_families``.
"""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families
from relaykit import ORGANIZER, ORGANIZER_PASSWORD
from sessionkit import connect, next_event

from core.client import RequestRefused
from core.client.events import ContentReceived, RosterChanged
from core.protocol.content import Chat
from relay.metrics_address import is_loopback

REPO = Path(__file__).resolve().parents[2]
RELAY = [sys.executable, "-m", "relay.cli"]
SESSION_PASSWORD = "plum-orchard-41"
WRONG_PASSWORD = "hunter2-not-the-password"
CHAT = "the quarterly numbers are in the blue folder"
LINK = re.compile(
    r"^join links look like: porthole://127\.0\.0\.1:(\d+)/SESSIONID\?fp=([0-9a-f]+)$"
)
METRICS = re.compile(r"^metrics \(Prometheus\) on http://127\.0\.0\.1:(\d+)/metrics$")
#: Every series the README documents.
DOCUMENTED = {
    "porthole_relay_connections",
    "porthole_relay_accepted_connections",
    "porthole_relay_sessions",
    "porthole_relay_members",
    "porthole_relay_relayed_bytes",
    "porthole_relay_relayed_messages",
    "porthole_relay_dropped_updates",
    "porthole_relay_refusals",
    "porthole_relay_lockouts",
    "porthole_relay_guessing_alarms",
    "porthole_relay_handshake_seconds",
}


def child_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORTHOLE_RELAY_DATA", "XDG_DATA_HOME")}
    env.update(PYTHONPATH=str(REPO), HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    return env


async def http_get(stream: trio.abc.Stream, path: str, method: str = "GET") -> tuple[str, bytes]:
    """One HTTP/1.1 request on ``stream`` (the server closes after answering): status, body."""
    await stream.send_all(f"{method} {path} HTTP/1.1\r\nHost: relay\r\n\r\n".encode())
    data = b""
    with trio.fail_after(10):
        while chunk := await stream.receive_some():
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(), body


async def plain_get(port: int, path: str, method: str = "GET") -> tuple[str, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        return await http_get(stream, path, method)


async def scrape(port: int) -> str:
    status, body = await plain_get(port, "/metrics")
    assert status == "HTTP/1.1 200 OK", status
    return body.decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) → value, as Prometheus's parser reads the text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_during_a_live_session_parse_with_plausible_values(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = child_env(tmp_path)
    added = await trio.run_process(
        [*RELAY, "account", "add", ORGANIZER, "--password-stdin", "--data-dir", str(data)],
        stdin=(ORGANIZER_PASSWORD + "\n").encode(),
        capture_stdout=True,
        capture_stderr=True,
        env=env,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    argv = [*RELAY, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)]
    process = await trio.lowlevel.open_process(
        [*argv, "--metrics", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        out = ""
        with trio.fail_after(30):
            while not any(LINK.match(line) for line in out.splitlines()):
                chunk = await process.stdout.receive_some()
                assert chunk, out
                out += chunk.decode()
        lines = out.splitlines()
        link = next(m for line in lines if (m := LINK.match(line)))
        metrics_port = int(next(m for line in lines if (m := METRICS.match(line))).group(1))
        port, fingerprint = int(link.group(1)), link.group(2)

        before = samples(await scrape(metrics_port))
        assert before[("porthole_relay_sessions", ())] == 0
        # The metrics listener answers GET /metrics and nothing else.
        assert (await plain_get(metrics_port, "/"))[0] == "HTTP/1.1 404 Not Found"
        assert (await plain_get(metrics_port, "/metrics", "POST"))[0].startswith("HTTP/1.1 405")

        async with connect(port, fingerprint) as wrong:
            with pytest.raises(RequestRefused):
                await wrong.login(ORGANIZER, WRONG_PASSWORD)
        async with connect(port, fingerprint) as oc:
            await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
            org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
            async with connect(port, fingerprint) as bad:
                with pytest.raises(RequestRefused):
                    await bad.join(org.session_id, name="Eve", password=WRONG_PASSWORD)
            async with connect(port, fingerprint) as ac:
                ana = await ac.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
                await next_event(org, RosterChanged, lambda e: len(e.roster.members) == 2)
                await ana.send_content(Chat(text=CHAT))
                await next_event(org, ContentReceived)

                async with connect(port, fingerprint, transport="wss"):
                    text = await scrape(metrics_port)
                public_status, public_body = await get_on_public_port(port)

        process.send_signal(signal.SIGTERM)
        with trio.fail_after(15):  # the metrics listener ends with the relay
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    values = samples(text)
    families = {family.name for family in text_string_to_metric_families(text)}
    assert families >= DOCUMENTED, DOCUMENTED - families
    assert values[("porthole_relay_sessions", ())] == 1
    assert values[("porthole_relay_members", ())] == 2
    assert values[("porthole_relay_connections", (("transport", "tls"),))] == 2
    assert values[("porthole_relay_connections", (("transport", "wss"),))] == 1
    assert values[("porthole_relay_accepted_connections_total", (("transport", "wss"),))] == 1
    assert values[("porthole_relay_handshake_seconds_count", (("transport", "wss"),))] == 1
    assert values[("porthole_relay_relayed_bytes_total", ())] > 0
    assert values[("porthole_relay_relayed_messages_total", ())] >= 1
    assert values[("porthole_relay_refusals_total", (("reason", "login_failed"),))] == 1
    assert values[("porthole_relay_refusals_total", (("reason", "join_refused"),))] == 1
    assert values[("porthole_relay_accepted_connections_total", (("transport", "tls"),))] >= 4
    # Every framed connection said Hello: each one is in the handshake histogram, well under
    # the relay's 10 s handshake timeout.
    handshakes = values[("porthole_relay_handshake_seconds_count", (("transport", "tls"),))]
    assert handshakes >= 4
    slow = values[
        ("porthole_relay_handshake_seconds_bucket", (("le", "10.0"), ("transport", "tls")))
    ]
    assert slow == handshakes
    assert values[("porthole_relay_handshake_seconds_sum", (("transport", "tls"),))] > 0
    assert values[("porthole_relay_lockouts_total", (("scope", "join"),))] == 0

    # No session ID and no name anywhere in the text.
    for secret in (org.session_id, "Olga", "Ana", "Eve", ORGANIZER, CHAT, SESSION_PASSWORD):
        assert secret not in text, secret

    # The public port answers /metrics like any unknown page: nothing of the metrics.
    assert public_status.startswith("HTTP/1.1 404"), public_status
    assert b"porthole_relay" not in public_body


async def get_on_public_port(port: int) -> tuple[str, bytes]:
    """GET https://127.0.0.1:PORT/metrics on the relay's public port, as a plain HTTPS client."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=context)
    async with stream:
        return await http_get(stream, "/metrics")


@pytest.mark.parametrize("address", ["0.0.0.0:9464", "192.0.2.7:9464", "relay.example:9464"])
def test_a_non_loopback_metrics_address_is_refused_without_the_explicit_flag(
    tmp_path: Path, address: str
) -> None:
    done = subprocess.run(
        [*RELAY, "serve", "--data-dir", str(tmp_path), "--metrics", address],
        capture_output=True,
        text=True,
        env=child_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--metrics-any-address" in done.stderr
    assert "Traceback" not in done.stderr


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.8.9.10")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")  # noqa: S104
    assert not is_loopback("::")
    assert not is_loopback("10.0.0.1")


def test_the_config_file_takes_both_metrics_keys(tmp_path: Path) -> None:
    from relay.serve_config import parse_serve_config

    values = parse_serve_config('metrics = "[::1]:9464"\nmetrics-any-address = true\n', tmp_path)
    assert values == {"metrics": ("::1", 9464), "metrics_any_address": True}


def test_a_non_loopback_address_from_the_config_file_is_refused_too(tmp_path: Path) -> None:
    config = tmp_path / "relay.toml"
    config.write_text('metrics = "0.0.0.0:9464"\n', encoding="utf-8")
    done = subprocess.run(
        [*RELAY, "serve", "--data-dir", str(tmp_path), "--config", str(config)],
        capture_output=True,
        text=True,
        env=child_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--metrics-any-address" in done.stderr


def test_a_metrics_port_in_use_stops_the_relay_with_one_sentence(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        serve = [*RELAY, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path)]
        done = subprocess.run(
            [*serve, "--metrics", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            env=child_env(tmp_path),
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"porthole-relay serve: cannot serve metrics on 127.0.0.1:{port}: Address already in use."
    )
    assert "join links" not in done.stdout  # never announced as ready
