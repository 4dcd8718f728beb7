"""A new user's first five minutes, in real terminals: ``porthole demo`` and a join, in tmux.

Two tmux windows (terminals of 100x30) run the real console scripts: the organizer's demo
(embedded relay) and the join command it prints. Everything is done with keys, and each step is
read back from what the windows show, as a person would see it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from procs import command

SESSION = "porthole-walkthrough"
#: Each test gets a tmux server of its own: a server just killed by the previous test can still
#: be going away when the next one starts on the same socket.
_server = [SESSION]


def tmux(*args: str) -> str:
    result = subprocess.run(
        ["tmux", "-L", _server[0], *args], capture_output=True, text=True, timeout=10, check=True
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


@contextmanager
def start_demo(tmp_path: Path, width: int, height: int) -> Iterator[None]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing; .ci/run installs it")
        pytest.skip("tmux is not installed")
    env = f"HOME={tmp_path} XDG_CONFIG_HOME={tmp_path}/config TERM=xterm-256color"
    demo = f"env {env} {command('porthole')} demo --name Olga; sleep 60"
    _server[0] = f"{SESSION}-{secrets.token_hex(4)}"
    tmux("new-session", "-d", "-s", SESSION, "-x", str(width), "-y", str(height), demo)
    # What an application copies with OSC 52 becomes a tmux paste buffer (as in a terminal
    # that honours OSC 52, it becomes the clipboard).
    tmux("set-option", "-s", "set-clipboard", "on")
    try:
        yield
    finally:
        subprocess.run(["tmux", "-L", _server[0], "kill-server"], capture_output=True, check=False)


@pytest.fixture
def panes(tmp_path: Path) -> Iterator[None]:
    with start_demo(tmp_path, 100, 30):
        yield


JOIN_LINE = re.compile(r"^\s*porthole join '(porthole://[^'…]*)('|…)\s*$", re.M)


def copied_join_command() -> str:
    """Press j in the organizer's pane and return what it put on the clipboard."""
    before = tmux("list-buffers", "-F", "#{buffer_name}")
    tmux("send-keys", "-t", f"{SESSION}:0", "j")
    deadline = time.monotonic() + 10
    while tmux("list-buffers", "-F", "#{buffer_name}") == before:
        if time.monotonic() > deadline:
            raise AssertionError("j put nothing on the clipboard (no OSC 52 reached tmux)")
        time.sleep(0.1)
    return tmux("show-buffer")


@pytest.mark.parametrize(("width", "height"), [(80, 24), (120, 40)])
def test_the_join_command_is_one_line_and_j_copies_it_whole(
    tmp_path: Path, width: int, height: int
) -> None:
    """Never split inside the command (a pasted wrap runs `porthole join` alone); where it does
    not fit, the screen says it is cut and `j` copies all of it."""
    with start_demo(tmp_path, width, height):
        shown = wait_for(
            0,
            lambda t: JOIN_LINE.search(t) is not None and "others join with" in t,
            "the join command line and what it says about it",
        )
        line = JOIN_LINE.search(shown)
        assert line is not None
        cut = line.group(2) == "…"
        assert ("cut to fit" in shown) == cut, shown
        assert all(len(row) <= width for row in shown.splitlines())
        command_text = copied_join_command()
        copied = re.fullmatch(r"porthole join '(porthole://[^']+)'", command_text)
        assert copied is not None, command_text
        assert copied.group(1).startswith(line.group(1))
        assert re.search(r"\?fp=[0-9a-f]{64}$", copied.group(1)), "the whole fingerprint"
        if not cut:
            assert copied.group(1) == line.group(1)


def test_demo_then_join_from_a_second_pane_all_by_keyboard(panes: None, tmp_path: Path) -> None:
    wait_for(0, lambda t: JOIN_LINE.search(t) is not None, "the join command")
    link = re.fullmatch(r"porthole join '(porthole://[^']+)'", copied_join_command())
    assert link is not None
    env = f"HOME={tmp_path} XDG_CONFIG_HOME={tmp_path}/config TERM=xterm-256color"
    join = f"env {env} {command('porthole')} join '{link.group(1)}' --name Ana; sleep 60"
    tmux("new-window", "-t", f"{SESSION}:1", join)  # a second terminal, same size

    wait_for(1, lambda t: "Session password" in t, "the join screen")
    tmux("send-keys", "-t", f"{SESSION}:1", "Enter")  # no password: the organizer decides
    wait_for(0, lambda t: "Ana (from 127.0.0.1) wants to join" in t, "the knock dialog")
    tmux("send-keys", "-t", f"{SESSION}:0", "y")
    wait_for(0, lambda t: re.search(r"\d+\s+Ana\s+participant", t) is not None, "Ana in the roster")
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


def test_join_with_a_password_file_opens_the_app_and_knocks_at_once(
    panes: None, tmp_path: Path
) -> None:
    """The documented flags for password sessions give the app (viewer, control), not the line
    console, and knock without a form to fill (an empty file: the organizer decides)."""
    wait_for(0, lambda t: JOIN_LINE.search(t) is not None, "the join command")
    link = re.fullmatch(r"porthole join '(porthole://[^']+)'", copied_join_command())
    assert link is not None
    secret = tmp_path / "session-password"
    secret.write_text("\n")
    env = f"HOME={tmp_path} XDG_CONFIG_HOME={tmp_path}/config TERM=xterm-256color"
    join = (
        f"env {env} {command('porthole')} join '{link.group(1)}' --name Ana "
        f"--password-file {secret}; sleep 60"
    )
    tmux("new-window", "-t", f"{SESSION}:1", join)
    wait_for(0, lambda t: "Ana (from 127.0.0.1) wants to join" in t, "the knock, unprompted")
    tmux("send-keys", "-t", f"{SESSION}:0", "y")
    shown = wait_for(1, lambda t: "Ana (you)" in t, "Ana's session screen in the app")
    assert "Security code" in shown
