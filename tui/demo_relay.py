"""The relay `porthole demo` embeds: a throw-away data directory, account and loopback port.

The relay code is imported only here, when a demo starts, so no other client command loads the
server. The two demo front ends run it differently, for start-up time:

* The line console (``porthole demo --console``) serves it in its own trio loop
  (:func:`prepare_demo_relay` and ``relay.server.serve_relay``).
* The client app starts it in a child process, :class:`DemoRelayProcess` (``python -m
  tui.demo_relay``), *before* it imports Textual: the relay's imports, certificate, account and
  its side of the login and the session creation then run on another core while the app loads
  and paints, instead of after it (bench/README.md, "bench.startup"). The child lives exactly as
  long as the app: it serves until its standard input reaches end of file, which happens when
  the app closes the pipe or ends in any way, killed included. It runs in a session of its own,
  so the terminal's Ctrl+C reaches the app (which leaves properly), not the relay under it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relay.config import RelayConfig

DEMO_ORGANIZER = "demo-organizer"
#: Argon2 at its cheapest: the demo's account lives for one run, on loopback, and a first-time
#: user should not wait for a password hash.
DEMO_ARGON2_TIME_COST = 1
DEMO_ARGON2_MEMORY_COST = 8 * 1024
#: How long the app waits for a stopped child to exit before killing it (seconds).
STOP_TIMEOUT = 5.0


def prepare_demo_relay(data_dir: Path, *, port: int) -> tuple[RelayConfig, str]:
    """The demo relay's configuration and the organizer's one-run password (account created)."""
    from relay.config import RelayConfig
    from relay.store import RelayStore

    password = secrets.token_urlsafe(24)
    with RelayStore.open(
        data_dir, time_cost=DEMO_ARGON2_TIME_COST, memory_cost=DEMO_ARGON2_MEMORY_COST
    ) as store:
        store.add_account(DEMO_ORGANIZER, password, time.time())
    config = RelayConfig(
        data_dir=data_dir,
        host="127.0.0.1",
        port=port,
        argon2_time_cost=DEMO_ARGON2_TIME_COST,
        argon2_memory_cost=DEMO_ARGON2_MEMORY_COST,
    )
    return config, password


class DemoRelayFailed(Exception):
    """The child relay could not start; the message is a sentence for the person."""


@dataclass(frozen=True)
class DemoRelayReady:
    """Where the child relay listens, its certificate's fingerprint, the organizer's password."""

    port: int
    fingerprint: str
    password: str = field(repr=False)


class DemoRelayProcess:
    """The app demo's relay in a child process (see the module docstring).

    ``with DemoRelayProcess.start(port) as relay:`` starts it; :meth:`wait_ready` (blocking: a
    worker thread's job) says where it listens; leaving the block stops it. The one line the
    child writes (where, and the one-run password) travels on a pipe between the two processes,
    never in a command line, a file or a log.
    """

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen

    @classmethod
    def start(cls, port: int = 0) -> DemoRelayProcess:
        popen = subprocess.Popen(
            # -P: the working directory is not put on the path (a `tui` there is not ours)
            [sys.executable, "-P", "-m", "tui.demo_relay", "--port", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # nothing may draw over the app's screen
            start_new_session=True,
        )
        return cls(popen)

    def __enter__(self) -> DemoRelayProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self._popen.pid

    def wait_ready(self) -> DemoRelayReady:
        """Block until the child listens; :class:`DemoRelayFailed` if it could not."""
        assert self._popen.stdout is not None
        line = self._popen.stdout.readline()
        try:
            said: dict[str, Any] = json.loads(line) if line else {}
        except json.JSONDecodeError:
            said = {}
        if "error" in said:
            raise DemoRelayFailed(str(said["error"]))
        if not {"port", "fingerprint", "password"} <= said.keys():
            raise DemoRelayFailed("The demo relay stopped before it was ready.")
        return DemoRelayReady(int(said["port"]), str(said["fingerprint"]), str(said["password"]))

    def stop(self) -> int:
        """Close the child's stdin (its signal to stop), wait for it; its exit status."""
        if self._popen.stdin is not None:
            self._popen.stdin.close()
        try:
            code = self._popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            code = self._popen.wait()
        if self._popen.stdout is not None:
            self._popen.stdout.close()
        return code


def _tell(said: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(said) + "\n")
    sys.stdout.flush()


async def _serve_until_released(config: RelayConfig, password: str) -> None:
    """Serve, say where (or why not) on stdout, stop when stdin reaches end of file."""
    import trio

    from relay.server import serve_relay

    async with trio.open_nursery() as nursery:
        try:
            info = await nursery.start(serve_relay, config)
        except OSError as exc:
            _tell({"error": f"Port {config.port}: {exc.strerror}."})
            return
        _tell({"port": info.port, "fingerprint": info.fingerprint, "password": password})
        async with trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())) as parent:
            while await parent.receive_some():
                pass  # the app never writes; its end (however it ends) is the end of file
        nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    """``python -m tui.demo_relay [--port N]``: the child :class:`DemoRelayProcess` starts."""
    parser = argparse.ArgumentParser(prog="python -m tui.demo_relay")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    import trio

    with tempfile.TemporaryDirectory(prefix="porthole-demo-") as tmp:
        config, password = prepare_demo_relay(Path(tmp) / "relay", port=args.port)
        trio.run(_serve_until_released, config, password)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
