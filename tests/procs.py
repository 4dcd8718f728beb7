"""Real subprocesses for CLI tests: line-oriented output read on a thread, deadlines on waits."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


class Proc:
    """A subprocess whose stdout (stderr merged) is read line by line on a background thread."""

    def __init__(
        self, *argv: str, stdin_text: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.argv = argv
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        if stdin_text is not None:
            self.say(stdin_text)

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _next_line(self, deadline: float) -> str | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            line = self._queue.get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError from None
        if line is not None:
            self.lines.append(line)
        return line

    def expect(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """Read lines until one matches ``pattern``; fail with the output seen so far."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        try:
            while (line := self._next_line(deadline)) is not None:
                if match := regex.search(line):
                    return match
        except TimeoutError:
            pass
        raise AssertionError(
            f"{self.argv[1:3]} never printed {pattern!r}; output:\n" + "\n".join(self.lines)
        )

    def expect_event(self, event_name: str, timeout: float = 20.0, **where: Any) -> dict[str, Any]:
        """Read JSON lines until an event ``name`` whose fields include ``where`` arrives."""
        deadline = time.monotonic() + timeout
        try:
            while (line := self._next_line(deadline)) is not None:
                if not line.startswith("{"):
                    continue
                event: dict[str, Any] = json.loads(line)
                if event.get("event") == event_name and all(
                    event.get(k) == v for k, v in where.items()
                ):
                    return event
        except TimeoutError:
            pass
        raise AssertionError(
            f"{self.argv[1:3]} never emitted {event_name} {where}; output:\n"
            + "\n".join(self.lines)
        )

    def say(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def signal(self, signum: signal.Signals) -> None:
        self.popen.send_signal(signum)

    def finish(self, timeout: float = 20.0) -> int:
        code = self.popen.wait(timeout=timeout)
        # Let the reader thread drain what is left.
        deadline = time.monotonic() + 2
        try:
            while self._next_line(deadline) is not None:
                pass
        except TimeoutError:
            pass
        return code


@contextmanager
def running(*argv: str, stdin_text: str | None = None) -> Iterator[Proc]:
    proc = Proc(*argv, stdin_text=stdin_text)
    try:
        yield proc
    finally:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait()


def command(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"the {name} console script is not installed (pip install -e .)")
    return path


@dataclass(frozen=True)
class RelayProcess:
    """A `porthole-relay serve` subprocess on loopback, as an operator runs it."""

    port: int
    fingerprint: str
    data_dir: Path
    #: The running ``serve`` (to send it SIGHUP or read what it says after starting).
    proc: Proc


@contextmanager
def relay_process(
    data_dir: Path, organizer: str, password: str, *serve_args: str, says: tuple[str, ...] = ()
) -> Iterator[RelayProcess]:
    """Create the organizer's account, serve on a free loopback port, stop with SIGTERM (which
    must end it cleanly, exit 0). ``serve_args`` are extra `serve` options (e.g. --no-raw);
    ``says``, patterns of what the relay must print after it listens."""
    subprocess.run(
        [command("porthole-relay"), "account", "add", organizer, "--password-stdin",
         "--data-dir", str(data_dir)],
        input=password + "\n", text=True, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    with serving(data_dir, *serve_args, says=says) as (proc, relay):
        yield relay
        proc.signal(signal.SIGTERM)
        assert proc.finish() == 0


@contextmanager
def serving(
    data_dir: Path, *serve_args: str, says: tuple[str, ...] = ()
) -> Iterator[tuple[Proc, RelayProcess]]:
    """`porthole-relay serve` on a free loopback port over an existing data directory; the test
    decides how it ends (anything still running at the end is killed)."""
    with running(
        command("porthole-relay"), "serve", "--listen", "127.0.0.1:0",
        "--data-dir", str(data_dir), *serve_args,
    ) as proc:  # fmt: skip
        port = int(proc.expect(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        for pattern in says:
            proc.expect(pattern)
        fingerprint = proc.expect(r"\?fp=([0-9a-f]{64})").group(1)
        yield proc, RelayProcess(port, fingerprint, data_dir, proc)
