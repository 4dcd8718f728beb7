"""The app demo's relay in a child process (`python -m tui.demo_relay`), all of it real: it
serves a real login, a busy port is one sentence (in the app: a dialog), and it ends with the
program that started it, however that program ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
from appkit import SIZE, on_screen
from pilotkit import run

from core.client import open_relay_client
from tui.app.dialogs import ErrorDialog
from tui.app.launch import demo_app
from tui.demo_relay import DEMO_ORGANIZER, DemoRelayFailed, DemoRelayProcess

REPO = Path(__file__).resolve().parents[2]


def test_it_serves_a_real_login_until_its_parent_lets_go() -> None:
    with DemoRelayProcess.start() as relay:
        ready = relay.wait_ready()

        async def log_in() -> str | None:
            async with open_relay_client(
                "127.0.0.1", ready.port, pinned=ready.fingerprint, proxy=""
            ) as client:
                await client.login(DEMO_ORGANIZER, ready.password)
                return client.username

        assert trio.run(log_in) == DEMO_ORGANIZER
        assert relay.stop() == 0  # the end of its stdin is a clean stop, not a kill


def test_a_busy_port_is_one_sentence_and_a_dialog_in_the_app() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with DemoRelayProcess.start(port) as relay, pytest.raises(DemoRelayFailed) as failed:
            relay.wait_ready()
        assert str(failed.value) == f"Port {port}: Address already in use."

        async def scenario() -> None:
            with DemoRelayProcess.start(port) as relay:
                app = demo_app(relay, name="Olga")
                async with app.run_test(size=SIZE) as pilot:
                    dialog = await on_screen(pilot, ErrorDialog)
                    assert dialog.title_text == "Cannot start the demo relay"
                    assert dialog.sentence == f"Port {port}: Address already in use."

        run(scenario)


#: A program that starts the demo relay, says the child's pid once it is ready, then waits.
PARENT = """
import sys, time
from tui.demo_relay import DemoRelayProcess
relay = DemoRelayProcess.start()
relay.wait_ready()
print(relay.pid, flush=True)
time.sleep(120)
"""


def gone(pid: int) -> bool:
    """The process has exited (it may linger as a zombie until init reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_it_ends_when_its_parent_is_killed_and_ignores_the_terminals_ctrl_c() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        # Ctrl+C in a terminal signals the foreground process group: the child is not in it.
        assert os.getpgid(child) != os.getpgid(parent.pid)
        assert not gone(child)
        parent.send_signal(signal.SIGKILL)  # no clean-up at all: only the pipe's end is left
        parent.wait()
        deadline = time.monotonic() + 30
        while not gone(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gone(child), "the demo relay outlived the program that started it"
    finally:
        parent.kill()
        parent.wait()
