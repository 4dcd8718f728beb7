"""A real HTTP CONNECT proxy for tests: tinyproxy (Debian package), started on a free port.

``tinyproxy -d -c CONF`` runs in the foreground and logs every request, so a test can check that
the client's CONNECT really went through it. ``bind`` makes tinyproxy open its outgoing
connections from that loopback address, so the relay can tell proxied connections apart.

:class:`UnixBridge` forwards a Unix socket to a TCP address. Unix sockets in the file system are
reachable from any network namespace, so a client started in an empty one (``unshare --net``)
can be given the proxy, and nothing else, through it (see ``tests/e2e/isolated.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

_CONNECT_LINE = re.compile(r"Request \(file descriptor \d+\): CONNECT (\S+) HTTP/1\.[01]")


def find_tinyproxy() -> str:
    path = shutil.which("tinyproxy") or next(
        (p for p in ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy") if os.path.exists(p)), None
    )
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("tinyproxy is required in CI (.ci/run installs it)", pytrace=False)
        pytest.skip("tinyproxy not installed; apt-get install tinyproxy")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Tinyproxy:
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def connect_requests(self) -> list[str]:
        """Every ``host:port`` a client asked this proxy to CONNECT to, in order."""
        return _CONNECT_LINE.findall(self.log())


@contextmanager
def tinyproxy(
    tmp_path: Path, *, connect_ports: Sequence[int], bind: str | None = None
) -> Iterator[Tinyproxy]:
    """A tinyproxy on 127.0.0.1 that allows CONNECT to ``connect_ports`` only."""
    exe = find_tinyproxy()
    for attempt in range(5):
        port = free_port()
        conf = tmp_path / f"tinyproxy-{port}.conf"
        lines = [
            f"Port {port}",
            "Listen 127.0.0.1",
            "Timeout 60",
            "MaxClients 50",
            "Allow 127.0.0.0/8",
            "DisableViaHeader Yes",
            "LogLevel Info",
            *(f"ConnectPort {p}" for p in connect_ports),
        ]
        if bind is not None:
            lines.append(f"Bind {bind}")
        conf.write_text("\n".join(lines) + "\n")
        log_path = tmp_path / f"tinyproxy-{port}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [exe, "-d", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
        proxy = Tinyproxy(port, log_path, popen)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and popen.poll() is None:
            if "Accepting connections" in proxy.log():
                break
            time.sleep(0.02)
        if popen.poll() is None and "Accepting connections" in proxy.log():
            break
        popen.kill()
        popen.wait()
        if attempt == 4:
            pytest.fail(f"tinyproxy did not start:\n{proxy.log()}")
    try:
        yield proxy
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class UnixBridge:
    """Accepts on a Unix socket and forwards each connection to ``(host, port)`` over TCP."""

    def __init__(self, path: Path, host: str, port: int) -> None:
        self.path = path
        self.target = (host, port)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(16)
        self._server.settimeout(0.1)
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._server.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
