"""Firewall traversal end to end: real programs, a relay that answers only HTTPS, tinyproxy.

The relay runs as ``porthole-relay serve --no-raw`` (framed TLS refused, as if a middlebox let
only HTTPS through). The presenter (``porthole present --headless``) finds the WebSocket path by
itself (``auto``). The viewer (``porthole view --headless``) runs in an empty network namespace
(``unshare --net``, ``tests/e2e/isolated.py``) whose only way out is tinyproxy: its direct
attempts are refused for real, it falls back to the WebSocket through the proxy, and decodes the
presenter's screen pixel for pixel. tinyproxy's log shows the CONNECT. A wrong pin fails the
same way on every path, from the command line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mss
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from procs import Proc, RelayProcess, command, relay_process
from proxykit import Tinyproxy, UnixBridge, tinyproxy

from relay.tls import ensure_certificate

PAINTER = Path(__file__).with_name("paint_window.py")
ISOLATED = Path(__file__).with_name("isolated.py")
ORGANIZER, ORGANIZER_PASSWORD = "olga", "plum-harbor-lantern-42"
SESSION_PASSWORD = "tangerine-7"
INSIDE_PROXY_PORT = 3128  # the proxy's address inside the viewer's namespace


Relay = RelayProcess


@pytest.fixture
def https_only_relay(tmp_path: Path) -> Iterator[Relay]:
    # --no-raw: only the HTTPS side answers (framed porthole/1 is off), as behind a web proxy.
    with relay_process(
        tmp_path / "relay",
        ORGANIZER,
        ORGANIZER_PASSWORD,
        "--no-raw",
        says=(r"framed porthole/1 is off \(--no-raw\)",),
    ) as served:
        yield served


@pytest.fixture
def proxy(tmp_path: Path, https_only_relay: Relay) -> Iterator[Tinyproxy]:
    with tinyproxy(tmp_path, connect_ports=[https_only_relay.port]) as running_proxy:
        yield running_proxy


@pytest.fixture
def isolated(proxy: Tinyproxy) -> Iterator[list[str]]:
    """The argv prefix that runs a command in a namespace where only the proxy is reachable."""
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "--net", "true"], capture_output=True)
    if unshare is None or probe.returncode != 0:
        reason = "cannot create a network namespace (unshare --net: needs root)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    # A short directory: Unix socket paths are limited to 107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="porthole-ns-"))
    bridge = UnixBridge(directory / "proxy.sock", "127.0.0.1", proxy.port)
    try:
        yield [unshare, "--net", sys.executable, str(ISOLATED),
               str(INSIDE_PROXY_PORT), str(bridge.path), "--"]  # fmt: skip
    finally:
        bridge.close()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def session_password_file(tmp_path: Path) -> Path:
    path = tmp_path / "session-password"
    path.write_text(SESSION_PASSWORD + "\n")
    return path


def grab(x: int, y: int, w: int, h: int) -> npt.NDArray[np.uint8]:
    with mss.MSS() as m:
        shot = m.grab({"left": x, "top": y, "width": w, "height": h})
    return np.asarray(Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX"))


def test_a_session_through_tinyproxy_with_the_direct_route_refused(
    https_only_relay: Relay,
    proxy: Tinyproxy,
    isolated: list[str],
    session_password_file: Path,
    display: object,
    tmp_path: Path,
) -> None:
    relay = https_only_relay
    painter = Proc(sys.executable, str(PAINTER), "porthole-proxy", "60", "60", "360", "220",
                   "pattern")  # fmt: skip
    try:
        painter.expect("ready")
        presenter = Proc(
            command("porthole"), "present", "--headless",
            "--relay", f"127.0.0.1:{relay.port}", "--fingerprint", relay.fingerprint,
            "--user", ORGANIZER, "--password-stdin",
            "--session-password-file", str(session_password_file),
            "--region", "60,60,360,220", "--proxy", "",
            stdin_text=ORGANIZER_PASSWORD,
        )  # fmt: skip
        try:
            # auto against --no-raw: framed TLS is refused, the WebSocket on the same port wins.
            transport = presenter.expect_event("transport")
            assert transport["path"] == "wss"
            print(f"\npresenter, auto against --no-raw: path wss in {transport['connect_ms']} ms")
            link = presenter.expect_event("session")["link"]

            out = tmp_path / "through-proxy.png"
            viewer = Proc(
                *isolated, command("porthole"), "view", "--headless", link,
                "--session-password-file", str(session_password_file),
                "--proxy", f"http://127.0.0.1:{INSIDE_PROXY_PORT}",
                "--frames", "1", "--save-frame", str(out), "--name", "behind-proxy",
            )  # fmt: skip
            assert viewer.finish(timeout=60) == 0, "\n".join(viewer.lines)
            events = [json.loads(line) for line in viewer.lines if line.startswith("{")]
            (transport,) = [e for e in events if e["event"] == "transport"]
            assert transport["path"] == "wss+proxy"
            print(f"viewer behind the proxy: path wss+proxy in {transport['connect_ms']} ms")
            presenter.expect_event("joined", name="behind-proxy")
        finally:
            presenter.signal(signal.SIGINT)
            assert presenter.finish() == 0, "\n".join(presenter.lines)
        got = np.asarray(Image.open(out).convert("RGB"))
        assert np.array_equal(got, grab(60, 60, 360, 220))
    finally:
        painter.popen.kill()
        painter.popen.wait()
    # The viewer's only connection went through the proxy, to the relay's port.
    assert proxy.connect_requests() == [f"127.0.0.1:{relay.port}"]


def test_join_reports_its_path_and_takes_the_proxy_from_the_environment(
    https_only_relay: Relay, proxy: Tinyproxy, isolated: list[str]
) -> None:
    relay = https_only_relay
    link = f"porthole://127.0.0.1:{relay.port}/123456789?fp={relay.fingerprint}"
    env = {**os.environ, "HTTPS_PROXY": f"http://127.0.0.1:{INSIDE_PROXY_PORT}"}
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    result = subprocess.run(
        [*isolated, command("porthole"), "join", link, "--name", "Ana"],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert re.search(
        r"connected to the relay over WebSocket over TLS through the HTTP proxy \(wss\+proxy\) "
        r"in \d+ ms",
        result.stdout,
    ), result.stdout + result.stderr
    # No such session: refused like a wrong password (the same answer for both, by design).
    assert result.returncode == 1
    assert "Wrong session ID or password." in result.stderr
    assert proxy.connect_requests() == [f"127.0.0.1:{relay.port}"]


def test_a_wrong_pin_fails_the_same_way_on_every_path(
    https_only_relay: Relay, proxy: Tinyproxy, tmp_path: Path
) -> None:
    relay = https_only_relay
    impostor = ensure_certificate(tmp_path / "impostor").fingerprint
    link = f"porthole://127.0.0.1:{relay.port}/123456789?fp={impostor}"
    errors = set()
    for extra in (
        ["--transport", "tls", "--proxy", ""],
        ["--transport", "wss", "--proxy", ""],
        ["--transport", "wss", "--proxy", proxy.url],
        ["--transport", "auto", "--proxy", proxy.url],
    ):
        result = subprocess.run(
            [command("porthole"), "view", "--headless", link, *extra],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 1, result.stdout + result.stderr
        # Not even a transport line (nothing connected): only the error event for the script.
        assert result.stdout.startswith('{"event":"error","code":"fingerprint_mismatch"')
        assert result.stdout.count("\n") == 1
        errors.add(result.stderr.strip())
    assert len(errors) == 1, errors
    (error,) = errors
    assert error.startswith("porthole: relay certificate fingerprint mismatch: expected ")
    assert f"the relay at 127.0.0.1:{relay.port} presented" in error
    # Only the explicit proxy attempt asked for a tunnel; auto stopped at its first path.
    assert proxy.connect_requests() == [f"127.0.0.1:{relay.port}"]
