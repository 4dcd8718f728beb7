"""A new user's first five minutes, in real terminals: ``porthole demo`` and a join, in tmux.

Two tmux windows (terminals of 100x30) run the real console scripts: the organizer's demo
(embedded relay) and the join command it prints. Everything is done with keys, and each step is
read back from what the windows show, as a person would see it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from procs import command

SESSION = "porthole-walkthrough"


def tmux(*args: str) -> str:
    result = subprocess.run(
        ["tmux", "-L", SESSION, *args], capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout


def pane(index: int) -> str:
    return tmux("capture-pane", "-p", "-J", "-t", f"{SESSION}:{index}")


def wait_for(index: int, check: Callable[[str], bool], what: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = pane(index)
        if check(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"pane {index}: timed out waiting for {what}; it shows:\n{text}")


def flat(text: str) -> str:
    """The pane's lines joined without their wrapping (a long link spans several lines)."""
    return "".join(line.rstrip() for line in text.splitlines())


@pytest.fixture
def panes(tmp_path: Path) -> Iterator[None]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing; .ci/run installs it")
        pytest.skip("tmux is not installed")
    env = f"HOME={tmp_path} XDG_CONFIG_HOME={tmp_path}/config TERM=xterm-256color"
    demo = f"env {env} {command('porthole')} demo --name Olga; sleep 60"
    tmux("new-session", "-d", "-s", SESSION, "-x", "100", "-y", "30", demo)
    try:
        yield
    finally:
        subprocess.run(["tmux", "-L", SESSION, "kill-server"], capture_output=True, check=False)


def test_demo_then_join_from_a_second_pane_all_by_keyboard(panes: None, tmp_path: Path) -> None:
    shown = wait_for(0, lambda t: "porthole join" in t and "'" in flat(t)[-200:], "the link")
    link = re.search(r"porthole join'(porthole://[^']+)'", flat(shown))
    assert link is not None
    env = f"HOME={tmp_path} XDG_CONFIG_HOME={tmp_path}/config TERM=xterm-256color"
    join = f"env {env} {command('porthole')} join '{link.group(1)}' --name Ana; sleep 60"
    tmux("new-window", "-t", f"{SESSION}:1", join)  # a second terminal, same size

    wait_for(1, lambda t: "Session password" in t, "the join screen")
    tmux("send-keys", "-t", f"{SESSION}:1", "Enter")  # no password: the organizer decides
    wait_for(0, lambda t: "Ana (from 127.0.0.1) wants to join" in t, "the knock dialog")
    tmux("send-keys", "-t", f"{SESSION}:0", "y")
    wait_for(0, lambda t: re.search(r"2\s+Ana\s+participant", t) is not None, "Ana in the roster")
    joined = wait_for(1, lambda t: "Ana (you)" in t, "Ana's session screen")
    organizer = pane(0)
    code = re.search(r"(\d{5} \d{5} \d{5} \d{5})", organizer)
    assert code is not None
    assert code.group(1) in joined, "both see the same security code"

    tmux("send-keys", "-t", f"{SESSION}:0", "e")
    wait_for(0, lambda t: "End the session?" in t, "the end dialog")
    tmux("send-keys", "-t", f"{SESSION}:0", "y")
    wait_for(1, lambda t: "Olga ended the session" in t, "Ana sees the session end")
    wait_for(0, lambda t: "Session over" in t, "Olga sees it end")

    for index in (1, 0):
        tmux("send-keys", "-t", f"{SESSION}:{index}", "Enter")
        time.sleep(0.3)
        tmux("send-keys", "-t", f"{SESSION}:{index}", "C-q")
    wait_for(0, lambda t: "porthole —" not in t, "the demo quit")
