"""`porthole demo` and `porthole join` as real subprocesses, talking to each other."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

LINK = re.compile(r"porthole join '(porthole://[^']+)'")


class Proc:
    """A subprocess with line-oriented stdin/stdout and a deadline on every wait."""

    def __init__(self, *argv: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []

    def expect(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        assert self.popen.stdout is not None
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            match = regex.search(line)
            if match:
                return match
        raise AssertionError(f"never saw {pattern!r}; output so far:\n" + "\n".join(self.lines))

    def say(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def finish(self, timeout: float = 15.0) -> int:
        return self.popen.wait(timeout=timeout)


@contextmanager
def running(*argv: str) -> Iterator[Proc]:
    proc = Proc(*argv)
    try:
        yield proc
    finally:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait()


def porthole() -> str:
    path = shutil.which("porthole")
    if path is None:
        pytest.fail("the porthole console script is not installed (pip install -e .)")
    return path


def test_demo_prints_a_join_command_that_works_end_to_end() -> None:
    with running(porthole(), "demo", "--name", "Olga") as demo:
        code = demo.expect(r"^\s+((?:\d{5} ){7}\d{5})\s*$").group(1)
        link = demo.expect(r"porthole join '(porthole://[^']+)'").group(1)
        with running(porthole(), "join", link, "--name", "Ana") as ana:
            demo.expect(r"Ana \(127\.0\.0\.1\) wants to join")
            demo.say("y")
            ana.expect(r"^joined\.")
            assert ana.expect(r"^\s+((?:\d{5} ){7}\d{5})\s*$").group(1) == code
            demo.expect(r"members: .*#2 Ana")
            ana.say("hello from the second terminal")
            demo.expect(r"^Ana: hello from the second terminal$")
            demo.say("/end")
            ana.expect(r"session over: Olga ended the session")
            assert ana.finish() == 0
        assert demo.finish() == 0


def test_join_with_a_wrong_fingerprint_refuses_before_sending_anything() -> None:
    with running(porthole(), "demo") as demo:
        link = demo.expect(r"porthole join '(porthole://[^']+)'").group(1)
        tampered = re.sub(
            r"fp=([0-9a-f])", lambda m: "fp=" + ("0" if m.group(1) != "0" else "1"), link
        )
        with running(porthole(), "join", tampered, "--name", "Eve") as eve:
            assert eve.finish() == 1
            output = "\n".join(eve.lines) + (eve.popen.stdout.read() if eve.popen.stdout else "")
        assert "may be intercepting" in output
        demo.say("/end")
        assert demo.finish() == 0


def test_join_with_a_bad_link_says_why() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "join", "porthole://127.0.0.1:9/12345"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "is not a session ID" in result.stderr
    assert "Traceback" not in result.stderr
