"""Every refusal, lost relay and interruption, as a person or a script meets it on the command line.

Each case runs a real ``porthole``/``porthole-relay`` subprocess against a real relay on loopback
TLS (one relay for the module, on a thread, with organizers that lock, decline or set a
password) and checks the one error model (``core.failures``): no traceback, exactly one line on
stderr, the documented exit code, and for headless commands a JSON ``error`` event on stdout.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from adminkit import RelayThread
from netkit import Cutter
from procs import command
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, add_account, make_config

from core.client import AdmitPolicy, open_relay_client
from core.client.events import KnockReceived, RosterChanged
from core.errors import ErrorCode
from core.failures import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOST,
    EXIT_OK,
    EXIT_STATUS_HELP,
    EXIT_USAGE,
    NEXT_STEP,
)
from core.protocol.messages import ActionCode

SESSION_PASSWORD = "quince-harbour-31"
UNKNOWN_SESSION = "987654321"


# --- the relay, its sessions and a cuttable path to it -----------------------------------------


@dataclass
class Sessions:
    relay: RelayThread
    port: int
    fingerprint: str
    locked: str = ""
    declining: str = ""
    password: str = ""
    tmp: Path = field(default_factory=Path)

    def link(self, session_id: str, port: int | None = None) -> str:
        return f"porthole://127.0.0.1:{port or self.port}/{session_id}?fp={self.fingerprint}"


async def _organize(
    port: int,
    fingerprint: str,
    *,
    password: str = "",
    lock: bool = False,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """An organizer that holds a session open: locked, or declining every knock it must answer."""
    async with open_relay_client("127.0.0.1", port, pinned=fingerprint) as client:
        await client.login(ORGANIZER, ORGANIZER_PASSWORD)
        session = await client.create_session(
            name="Olga",
            password=password,
            organizer_presents=False,
            admit_policy=AdmitPolicy.PASSWORD,
        )
        if lock:
            await session.request(ActionCode.LOCK)
        started = False
        async for event in session.events:
            if isinstance(event, RosterChanged) and not started and event.roster.locked == lock:
                started = True
                task_status.started(session.session_id)
            elif isinstance(event, KnockReceived) and event.needs_approval:
                await session.decline(event.peer_id)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sessions]:
    tmp = tmp_path_factory.mktemp("failures")
    data_dir = tmp / "relay"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    with RelayThread(make_config(data_dir)) as relay:
        assert relay.info is not None
        assert relay.nursery is not None
        port, fp = relay.info.port, relay.info.fingerprint
        nursery = relay.nursery

        async def start(**kwargs: Any) -> str:
            return str(await nursery.start(functools.partial(_organize, port, fp, **kwargs)))

        found = Sessions(relay, port, fp, tmp=tmp)
        found.locked = relay.run(functools.partial(start, lock=True))
        found.declining = relay.run(start)
        found.password = relay.run(functools.partial(start, password=SESSION_PASSWORD))
        (tmp / "right").write_text(SESSION_PASSWORD + "\n")
        (tmp / "wrong").write_text("not-the-password\n")
        (tmp / "login").write_text(ORGANIZER_PASSWORD + "\n")
        (tmp / "bad-login").write_text("not-the-login\n")
        yield found


def free_port() -> int:
    """A loopback port nothing listens on: the relay is down."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


# --- running a command ---------------------------------------------------------------------------


@dataclass
class Outcome:
    code: int
    stdout: list[str]
    stderr: list[str]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout if line.startswith("{")]


class Run:
    """A command with stdout and stderr read apart, each line by line on its own thread."""

    def __init__(self, *argv: str, stdin_text: str | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if "present" not in argv:
            env.pop("DISPLAY", None)  # nothing here may depend on a display but the presenter
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.popen.stdout is not None
        assert self.popen.stderr is not None
        threading.Thread(target=self._pump, args=(self.popen.stdout, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.popen.stderr, False), daemon=True).start()
        if stdin_text is not None:
            assert self.popen.stdin is not None
            self.popen.stdin.write(stdin_text)
            self.popen.stdin.flush()

    def _pump(self, stream: Any, is_stdout: bool) -> None:
        for line in stream:
            (self.stdout if is_stdout else self.stderr).append(line.rstrip("\n"))
            if is_stdout:
                self._lines.put(line)
        if is_stdout:
            self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None or time.monotonic() > deadline:
                self.popen.kill()
                raise AssertionError(f"never printed {pattern!r}: {self.stdout} {self.stderr}")
            if re.search(pattern, line):
                return

    def finish(self, timeout: float = 30.0) -> Outcome:
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"did not end: {self.stdout} {self.stderr}") from None
        time.sleep(0.1)  # the reader threads take the last lines
        return Outcome(code, self.stdout, [line for line in self.stderr if line.strip()])


def wait_until_catching_sigterm(pid: int, timeout: float = 20.0) -> None:
    """Until the process has its SIGTERM handler: only then has the command itself started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.M).group(1), 16)  # type: ignore[union-attr]
        if caught & (1 << (signal.SIGTERM - 1)):
            time.sleep(0.2)  # and is inside it (reading stdin)
            return
        time.sleep(0.05)
    raise AssertionError("the command never installed its SIGTERM handler")


def porthole(*args: str) -> list[str]:
    return [command("porthole"), *args]


def assert_one_sentence(outcome: Outcome, code: int, *, headless: bool, error: str | None) -> None:
    """The contract of core.cli_exit: one line, the exit code, the JSON event for scripts."""
    everything = "\n".join(outcome.stdout + outcome.stderr)
    assert "Traceback" not in everything, everything
    assert outcome.code == code, everything
    assert len(outcome.stderr) == 1, everything
    if headless:
        errors = [e for e in outcome.events() if e.get("event") == "error"]
        assert len(errors) == 1, everything
        assert errors[0]["code"] == error, everything
        assert errors[0]["message"]
        assert errors[0]["exit"] == code


# --- the refusals: join --console and view --headless --------------------------------------------


def _join(sessions: Sessions, session_id: str, *extra: str) -> list[str]:
    return porthole("join", "--console", sessions.link(session_id), "--name", "Ana", *extra)


def _view(sessions: Sessions, session_id: str, *extra: str) -> list[str]:
    return porthole("view", "--headless", sessions.link(session_id), "--name", "Ana", *extra)


REFUSALS: dict[str, tuple[str, str, str, ErrorCode]] = {
    # case: (which session, which password file, what stderr says, the relay's code)
    "locked": ("locked", "", "locked", ErrorCode.SESSION_LOCKED),
    "declined": ("declining", "", "declined", ErrorCode.KNOCK_DECLINED),
    "wrong password": ("password", "wrong", "wrong session id or password", ErrorCode.JOIN_REFUSED),
    # The same answer as a wrong password, by design: IDs must not be probed.
    "unknown session": ("unknown", "right", "wrong session id or password", ErrorCode.JOIN_REFUSED),
}


@pytest.mark.parametrize("cli", ["join --console", "view --headless"])
@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refusal_is_one_sentence_and_exit_1(sessions: Sessions, cli: str, case: str) -> None:
    which, secret, says, code = REFUSALS[case]
    session_id = UNKNOWN_SESSION if which == "unknown" else getattr(sessions, which)
    extra: list[str] = []
    if secret:
        flag = "--password-file" if cli.startswith("join") else "--session-password-file"
        extra = [flag, str(sessions.tmp / secret)]
    argv = (_join if cli.startswith("join") else _view)(sessions, session_id, *extra)
    outcome = Run(*argv).finish()
    headless = cli.startswith("view")
    assert_one_sentence(outcome, EXIT_FAILED, headless=headless, error=code.name.lower())
    line = outcome.stderr[0]
    assert line.startswith("porthole: ")
    assert says in line.lower(), line  # what is wrong
    assert line.endswith(" " + NEXT_STEP[code]), line  # and what to do next


@pytest.mark.parametrize("cli", ["join --console", "view --headless"])
def test_a_name_already_in_the_session_is_one_sentence_naming_it(
    sessions: Sessions, cli: str
) -> None:
    """The organizer is Olga; "ＯＬＧＡ" (full-width) is her name too, so the knock is refused."""
    flag = "--password-file" if cli.startswith("join") else "--session-password-file"
    build = _join if cli.startswith("join") else _view
    argv = build(
        sessions, sessions.password, flag, str(sessions.tmp / "right"), "--name", "ＯＬＧＡ"
    )
    outcome = Run(*argv).finish()
    assert_one_sentence(outcome, EXIT_FAILED, headless=cli.startswith("view"), error="name_taken")
    line = outcome.stderr[0]
    assert "The name 'ＯＬＧＡ' is taken in this session." in line, line
    assert line.endswith(" " + NEXT_STEP[ErrorCode.NAME_TAKEN]), line


@pytest.mark.parametrize("cli", ["join --console", "view --headless"])
def test_a_relay_that_is_down_exits_3(sessions: Sessions, cli: str) -> None:
    port = free_port()
    link = sessions.link(sessions.password, port=port)
    if cli.startswith("join"):
        argv = porthole("join", "--console", link, "--transport", "tls")
    else:
        argv = porthole("view", "--headless", link, "--transport", "tls")
    outcome = Run(*argv).finish()
    assert_one_sentence(
        outcome, EXIT_LOST, headless=cli.startswith("view"), error="relay_unreachable"
    )
    assert "relay is running" in outcome.stderr[0]


def _joined(sessions: Sessions, cli: str, port: int | None = None) -> Run:
    link = sessions.link(sessions.password, port=port)
    if cli.startswith("join"):
        run = Run(
            *porthole("join", "--console", link, "--name", "Ana", "--transport", "tls",
                      "--password-file", str(sessions.tmp / "right"))
        )  # fmt: skip
        run.wait_for(r"^joined\.")
    else:
        frame = sessions.tmp / f"frame-{time.monotonic_ns()}.png"
        run = Run(
            *porthole("view", "--headless", link, "--name", "Ana", "--transport", "tls",
                      "--session-password-file", str(sessions.tmp / "right"),
                      "--save-frame", str(frame))
        )  # fmt: skip
        run.wait_for(r'"event":"joined"')
    return run


@pytest.mark.parametrize("cli", ["join --console", "view --headless"])
def test_identity_shows_its_fingerprint_and_a_bad_one_is_one_sentence(
    sessions: Sessions, cli: str
) -> None:
    """``--identity PATH``: the roster line (console) or the ``joined`` event (headless) shows
    the short fingerprint the organizer certified; a missing key file is refused before any
    connection, as one sentence."""
    key_path = sessions.tmp / f"ida-{cli.split()[0]}.key"
    made = subprocess.run(
        [*porthole("identity", "create", "--path", str(key_path))],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    short = made.stdout.split("short", 1)[1].split()[0]
    link = sessions.link(sessions.password)
    secret = str(sessions.tmp / "right")
    if cli.startswith("join"):
        argv = porthole("join", "--console", link, "--name", "Ida", "--password-file", secret)
    else:
        argv = porthole("view", "--headless", link, "--name", "Ida",
                        "--session-password-file", secret)  # fmt: skip
    run = Run(*argv, "--identity", str(key_path))
    if cli.startswith("join"):
        run.wait_for(rf"^members: .*#\d+ Ida \(key {short}\)")
    else:
        run.wait_for(rf'"event":"joined".*"key":"{short}"')
    run.popen.send_signal(signal.SIGINT)
    assert run.finish().code == EXIT_INTERRUPTED

    outcome = Run(*argv, "--identity", str(sessions.tmp / "no-such.key")).finish()
    assert_one_sentence(outcome, EXIT_FAILED, headless=cli.startswith("view"), error="identity_key")
    assert "No identity key" in outcome.stderr[0]


@pytest.mark.parametrize("cli", ["join --console", "view --headless"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_end_cleanly_with_130(
    sessions: Sessions, cli: str, signum: signal.Signals
) -> None:
    run = _joined(sessions, cli)
    run.popen.send_signal(signum)
    outcome = run.finish()
    headless = cli.startswith("view")
    assert_one_sentence(outcome, EXIT_INTERRUPTED, headless=headless, error="interrupted")
    shown = "Ctrl+C" if signum == signal.SIGINT else "SIGTERM"
    assert outcome.stderr == [f"porthole: Stopped by {shown}."]
    if headless:  # the viewer still left, said so, and wrote what --save-frame asked for
        names = [e["event"] for e in outcome.events()]
        assert names[-3:] == ["ended", "saved", "error"], names
        assert outcome.events()[-3]["code"] == "left"
        assert "resumed" not in names  # joining an unpaused session is not a resume


@pytest.mark.parametrize("cli", ["join --console", "view --headless"])
def test_a_relay_that_dies_mid_session_exits_3(sessions: Sessions, cli: str) -> None:
    path = Cutter(sessions.port)
    run = _joined(sessions, cli, port=path.port)
    path.cut()
    outcome = run.finish()
    assert_one_sentence(
        outcome, EXIT_LOST, headless=cli.startswith("view"), error="connection_lost"
    )


# --- what a person types wrong -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["join", "--console", "12345", "--relay", "127.0.0.1:9"],
         "'12345' is not a session ID: it has 5 digits, a session ID has 9"),
        (["join", "--console", "xporthole://127.0.0.1:9/482913570"],
         "is not a porthole:// link: it starts with xporthole://"),
        (["view", "--headless", "porthole://127.0.0.1:9/048291357"],
         "it starts with 0, which a session ID never does"),
    ],
)  # fmt: skip
def test_a_malformed_link_or_id_says_what_is_wrong_and_exits_2(argv: list[str], says: str) -> None:
    outcome = Run(*porthole(*argv)).finish()
    headless = "--headless" in argv
    assert_one_sentence(outcome, EXIT_USAGE, headless=headless, error="bad_link")
    assert says in outcome.stderr[0]


@pytest.mark.parametrize(
    ("allowed", "says"),
    [
        ("key:3f2a-91bc-07de-55aa", "the full 64-digit fingerprint"),
        ("Ana\u200b", "U+200B"),
    ],
)
def test_a_malformed_allow_control_from_exits_2_before_asking_for_a_password(
    allowed: str, says: str
) -> None:
    argv = porthole("present", "--headless", "--relay", "127.0.0.1:9", "--user", "olga",
                    "--password-stdin", "--allow-control-from", allowed)  # fmt: skip
    outcome = Run(*argv).finish()  # stdin stays open: a prompt would hang until the timeout
    assert_one_sentence(outcome, EXIT_USAGE, headless=True, error="usage")
    assert outcome.stderr[0].startswith("porthole: --allow-control-from: ")
    assert says in outcome.stderr[0]


# --- the demo console ---------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_console_demo_ends_cleanly_on_ctrl_c_and_sigterm(signum: signal.Signals) -> None:
    run = Run(*porthole("demo", "--console"))
    run.wait_for(r"/end or Ctrl\+D to finish")
    run.popen.send_signal(signum)
    outcome = run.finish()
    assert_one_sentence(outcome, EXIT_INTERRUPTED, headless=False, error=None)


# --- present --headless: wrong login, relay down, relay lost, and its own signals --------------


def _present(sessions: Sessions, login: str, port: int | None = None) -> Run:
    return Run(
        *porthole("present", "--headless", "--relay", f"127.0.0.1:{port or sessions.port}",
                  "--fingerprint", sessions.fingerprint, "--user", ORGANIZER,
                  "--password-file", str(sessions.tmp / login), "--region", "0,0,64,48",
                  "--transport", "tls")
    )  # fmt: skip


def test_present_with_a_wrong_login_exits_1(sessions: Sessions, display: object) -> None:
    outcome = _present(sessions, "bad-login").finish()
    assert_one_sentence(outcome, EXIT_FAILED, headless=True, error="login_failed")
    assert "user name and password" in outcome.stderr[0]


def test_present_with_the_relay_down_exits_3(sessions: Sessions, display: object) -> None:
    outcome = _present(sessions, "login", port=free_port()).finish()
    assert_one_sentence(outcome, EXIT_LOST, headless=True, error="relay_unreachable")


def test_present_losing_the_relay_exits_3(sessions: Sessions, display: object) -> None:
    path = Cutter(sessions.port)
    run = _present(sessions, "login", port=path.port)
    run.wait_for(r'"event":"session"')
    path.cut()
    outcome = run.finish()
    assert_one_sentence(outcome, EXIT_LOST, headless=True, error="connection_lost")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_present_ends_its_session_on_a_signal_and_exits_0(
    sessions: Sessions, display: object, signum: signal.Signals
) -> None:
    """For the presenter a signal is its documented way to end the session: a normal end."""
    run = _present(sessions, "login")
    run.wait_for(r'"event":"session"')
    run.popen.send_signal(signum)
    outcome = run.finish()
    assert outcome.code == EXIT_OK, outcome
    assert outcome.stderr == []
    assert "ended" in [e["event"] for e in outcome.events()], outcome


# --- porthole-relay ---------------------------------------------------------------------------


def test_relay_admin_with_no_relay_running_is_one_sentence(tmp_path: Path) -> None:
    outcome = Run(
        command("porthole-relay"), "admin", "--data-dir", str(tmp_path), "--json", "relay.status"
    ).finish()
    assert_one_sentence(outcome, EXIT_FAILED, headless=False, error=None)
    assert outcome.stderr[0].startswith("porthole-relay: error: ")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_relay_account_add_interrupted_while_reading_the_password_exits_130(
    tmp_path: Path, signum: signal.Signals
) -> None:
    run = Run(
        command("porthole-relay"), "account", "add", "ana", "--password-stdin",
        "--data-dir", str(tmp_path / "relay"),
    )  # fmt: skip
    wait_until_catching_sigterm(run.popen.pid)  # it then waits for a password that never comes
    run.popen.send_signal(signum)
    outcome = run.finish()
    assert_one_sentence(outcome, EXIT_INTERRUPTED, headless=False, error=None)
    assert not (tmp_path / "relay").exists() or not any((tmp_path / "relay").iterdir())


# --- the exit codes are documented where people look ---------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["porthole"],
        ["porthole", "join"],
        ["porthole", "view"],
        ["porthole", "present"],
        ["porthole", "demo"],
        ["porthole", "create"],
        ["porthole", "identity"],
        ["porthole", "identity", "show"],
        ["porthole-relay"],
        ["porthole-relay", "serve"],
        ["porthole-relay", "account", "add"],
        ["porthole-relay", "records"],
        ["porthole-relay", "admin"],
    ],
)
def test_every_commands_help_lists_the_exit_codes(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from relay.cli import main as relay_main
    from tui.cli import main as porthole_main

    main = porthole_main if argv[0] == "porthole" else relay_main
    with pytest.raises(SystemExit) if argv[0] == "porthole" else contextlib.nullcontext():
        main([*argv[1:], "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert EXIT_STATUS_HELP.replace("\n", " ") in shown
