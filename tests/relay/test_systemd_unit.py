"""The relay as a systemd service (docs/design.md §7.7): the unit's sandboxing and readiness.

``systemd-analyze security --offline=yes`` scores the unit shipped in deploy/ (≤ 2.0 is what we
promise operators; RustDesk's relay unit scores 9.5 there, coturn's 9.0). The readiness test runs
the real relay with a real ``$NOTIFY_SOCKET``: a unix datagram socket this test binds, as systemd
does, and receives ``READY=1`` only once the relay accepts connections, ``STOPPING=1`` on SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "porthole-relay.service"
SCORE = re.compile(r"Overall exposure level for porthole-relay\.service: (\d+\.\d+) (\w+)")
SERVE = [sys.executable, "-m", "relay.cli", "serve"]
STATUS = re.compile(r"^STATUS=listening on 127\.0\.0\.1:(\d+)$", re.MULTILINE)


def unit_settings() -> list[tuple[str, str]]:
    """(key, value) for every setting line of the unit, repeated keys kept."""
    settings = []
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.append((key, value))
    return settings


def test_systemd_analyze_scores_the_unit_at_most_2() -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = SCORE.search(done.stdout)
    assert match is not None, done.stdout + done.stderr
    assert float(match.group(1)) <= 2.0, done.stdout
    assert match.group(2) == "OK"


def test_the_unit_keeps_the_promised_settings() -> None:
    settings = dict(unit_settings())
    assert settings["Type"] == "notify"
    assert settings["User"] == "porthole-relay"  # static: admin over SSH as this user
    assert "DynamicUser" not in settings
    assert settings["ProtectSystem"] == "strict"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert settings["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert settings["ReadWritePaths"] == "/var/lib/porthole-relay"
    assert settings["Environment"] == "PORTHOLE_RELAY_DATA=/var/lib/porthole-relay"
    assert ("SystemCallFilter", "@system-service") in unit_settings()


def relay(tmp_path: Path, notify: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORTHOLE_RELAY_DATA",)}
    env.update(PYTHONPATH=str(REPO), NOTIFY_SOCKET=notify, HOME=str(tmp_path / "home"))
    return subprocess.Popen(
        [*SERVE, "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_relay_notifies_ready_after_it_listens_and_stopping_on_sigterm(
    tmp_path: Path, abstract: bool
) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(60)
    if abstract:
        name = f"porthole-test-{os.getpid()}-{tmp_path.name}"
        sock.bind("\0" + name)
        address = "@" + name
    else:
        address = str(tmp_path / "notify")
        sock.bind(address)
    process = relay(tmp_path, address)
    try:
        ready = sock.recv(4096).decode()
        assert "READY=1" in ready.splitlines()
        port = STATUS.search(ready)
        assert port is not None, ready
        # Ready means ready: the port accepts a connection the moment READY=1 arrives.
        with socket.create_connection(("127.0.0.1", int(port.group(1))), timeout=5):
            pass
        process.send_signal(signal.SIGTERM)
        assert sock.recv(4096) == b"STOPPING=1"
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 0, out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        sock.close()


def test_relay_that_cannot_listen_never_says_ready(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.5)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "PORTHOLE_RELAY_DATA"}
        env.update(PYTHONPATH=str(REPO), NOTIFY_SOCKET=str(tmp_path / "notify"))
        done = subprocess.run(
            [*SERVE, "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "cannot listen" in done.stderr
    with pytest.raises(TimeoutError):
        sock.recv(4096)
    sock.close()
