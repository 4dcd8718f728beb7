"""The admin TUI over real SSH, as operators use it: ``ssh -t host porthole-relay admin``.

An OpenSSH server on a free loopback port (temporary host key, a temporary authorized key, its
own config; nothing of the machine's sshd is touched), a tmux session running the ssh client in
80x24, keys sent with ``tmux send-keys`` and the screen read with ``tmux capture-pane``. The
relay and its live session run in this test; ending the session through the TUI must end it for
its members.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from adminkit import open_live_session
from procs import command
from relaykit import RunningRelay

from core.errors import ErrorCode

SSHD = "/usr/sbin/sshd"


def _require(program: str) -> str:
    found = shutil.which(program) or (program if os.access(program, os.X_OK) else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is required in CI (.ci/run installs it)", pytrace=False)
        pytest.skip(f"{program} is not installed")
    return found


@dataclass(frozen=True)
class SshServer:
    port: int
    user: str
    key: Path
    log: Path

    def command(self, remote: list[str]) -> list[str]:
        return [
            _require("ssh"),
            "-F",
            "/dev/null",
            "-t",
            "-p",
            str(self.port),
            "-i",
            str(self.key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            f"{self.user}@127.0.0.1",
            shlex.join(remote),
        ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _password_locked(user: str) -> bool:
    try:
        lines = Path("/etc/shadow").read_text().splitlines()
    except OSError:
        return False
    fields = next((line.split(":") for line in lines if line.startswith(f"{user}:")), [])
    return len(fields) > 1 and fields[1].startswith("!")


def _keygen(path: Path) -> None:
    subprocess.run(
        [_require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True
    )


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    """A private sshd on loopback that lets this user in with a key made for the test."""
    daemon = _require(SSHD)
    _require("ssh")
    home = tmp_path / "ssh"
    home.mkdir()
    _keygen(home / "host_key")
    _keygen(home / "client_key")
    shutil.copy(home / "client_key.pub", home / "authorized_keys")
    user = getpass.getuser()
    port = _free_port()
    config = home / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {home / 'host_key'}",
                f"PidFile {home / 'sshd.pid'}",
                f"AuthorizedKeysFile {home / 'authorized_keys'}",
                f"AllowUsers {user}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                # Without PAM sshd checks the password field itself and refuses an account
                # whose password is locked ("!"), as root's often is in containers; PAM does not.
                f"UsePAM {'yes' if _password_locked(user) else 'no'}",
                # The keys live under pytest's temporary directory, not in a home directory.
                "StrictModes no",
                "PrintMotd no",
                "PrintLastLog no",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        # sshd's privilege separation directory; a service start would make it.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = home / "sshd.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [daemon, "-D", "-e", "-f", str(config)], stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sshd did not start:\n{log.read_text()}", pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"sshd never listened:\n{log.read_text()}", pytrace=False)
                time.sleep(0.05)
        yield SshServer(port, user, home / "client_key", log)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Tmux:
    """A private tmux server (its own socket) with one 80x24 window."""

    def __init__(self, socket_path: Path) -> None:
        self.binary = _require("tmux")
        self.socket = socket_path

    async def run(self, *args: str) -> str:
        result = await trio.run_process(
            [self.binary, "-f", "/dev/null", "-S", str(self.socket), *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        return bytes(result.stdout).decode(errors="replace")

    async def start(self, argv: list[str], status_file: Path) -> None:
        # The window stays when the program ends (to show why), and its exit status is
        # written to ``status_file`` (tmux itself does not always learn it).
        script = f"{shlex.join(argv)}; echo $? > {shlex.quote(str(status_file))}"
        await self.run(
            "new-session", "-d", "-s", "admin", "-x", "80", "-y", "24", script,
            ";", "set-option", "-t", "admin", "remain-on-exit", "on",
        )  # fmt: skip

    async def keys(self, *keys: str) -> None:
        await self.run("send-keys", "-t", "admin", *keys)

    async def screen(self) -> str:
        return await self.run("capture-pane", "-p", "-t", "admin")

    async def wait_for(self, pattern: str, what: str, timeout: float = 20) -> str:
        regex = re.compile(pattern)
        shown = ""
        with trio.move_on_after(timeout):
            while True:
                shown = await self.screen()
                if regex.search(shown):
                    return shown
                await trio.sleep(0.1)
        raise AssertionError(f"the admin screen never showed {what}; it shows:\n{shown}")

    async def kill(self) -> None:
        await self.run("kill-server")


def _console_script() -> str:
    """porthole-relay of the interpreter running the tests (a PATH shim might pick another)."""
    beside = Path(sys.executable).with_name("porthole-relay")
    return str(beside) if beside.exists() else command("porthole-relay")


async def test_ending_a_live_session_over_ssh_in_tmux(
    relay: RunningRelay, sshd: SshServer, tmp_path: Path
) -> None:
    live = await open_live_session(relay.nursery, relay.info, ["Ana", "Ben"])
    sid = live.session_id
    shown_id = f"{sid[:3]} {sid[3:6]} {sid[6:]}"
    admin = [_console_script(), "admin", "--data-dir", str(relay.config.data_dir)]
    tmux = Tmux(tmp_path / "tmux.sock")
    status_file = tmp_path / "ssh-status"
    await tmux.start(sshd.command(admin), status_file)
    try:
        screen = await tmux.wait_for(re.escape(shown_id), "the live session")
        assert "1 live session, 3 members" in screen
        assert "e End session" in screen  # the bindings are in the footer
        assert len(screen.splitlines()) <= 24
        assert all(len(line) <= 80 for line in screen.splitlines())

        await tmux.keys("Enter")
        screen = await tmux.wait_for(r"Ana\s+participant", "the drill-down")
        assert "organizer, presenter" in screen
        await tmux.keys("Escape")
        await tmux.wait_for("live session", "the list again")

        await tmux.keys("e")
        await tmux.wait_for(re.escape(f"End session {shown_id}?"), "the confirmation")
        assert not any(m.closed.is_set() for m in live.everyone)
        await tmux.keys("y")
        for member in live.everyone:
            with trio.fail_after(20):
                await member.closed.wait()
            assert member.closed_with.code is ErrorCode.SESSION_ENDED
            assert "relay operator ended the session" in member.closed_with.message
        await tmux.wait_for("No live sessions", "the empty list")

        await tmux.keys("q")
        with trio.fail_after(10):
            while not status_file.exists() or not status_file.read_text().strip():
                await trio.sleep(0.05)
        assert status_file.read_text().strip() == "0", "ssh / porthole-relay admin failed"
    except AssertionError:
        print(sshd.log.read_text())
        raise
    finally:
        await tmux.kill()
