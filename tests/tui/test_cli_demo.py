"""`porthole demo` and `porthole join` as real subprocesses, talking to each other."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from procs import command, running


def porthole() -> str:
    return command("porthole")


def test_demo_prints_a_join_command_that_works_end_to_end() -> None:
    with running(porthole(), "demo", "--name", "Olga") as demo:
        code = demo.expect(r"^\s+((?:\d{5} ){7}\d{5})\s*$").group(1)
        link = demo.expect(r"porthole join '(porthole://[^']+)'").group(1)
        with running(porthole(), "join", link, "--name", "Ana") as ana:
            demo.expect(r"Ana \(127\.0\.0\.1\) wants to join")
            demo.say("y")
            ana.expect(r"^joined\.")
            assert ana.expect(r"^\s+((?:\d{5} ){7}\d{5})\s*$").group(1) == code
            demo.expect(r"members: .*#\d+ Ana")
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
            output = "\n".join(eve.lines)
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
    assert result.returncode == 2  # usage: the link itself is wrong
    assert "is not a session ID: it has 5 digits, a session ID has 9" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("relay", "expected"),
    [
        ("127.0.0.1:7443", ["needs a terminal", "present --headless"]),
        ("nowhere", ["--relay expects HOST:PORT"]),
    ],
)
def test_create_without_a_terminal_or_with_a_bad_address_says_why(
    relay: str, expected: list[str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "create", "--relay", relay],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2  # usage: the wrong command for a script, or a bad address
    assert len(result.stderr.splitlines()) == 1
    for text in expected:
        assert text in result.stderr
    assert "Traceback" not in result.stderr
