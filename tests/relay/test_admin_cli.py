"""``porthole-relay admin``: the ops for scripts (``--json``) and the TUI, as real subprocesses."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path
from typing import Any

import trio
from adminkit import open_live_session, wait_until
from procs import command
from relaykit import RunningRelay
from sessionkit import connect

from core.errors import ErrorCode


async def _admin(
    data_dir: Path, *words: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    argv = [command("porthole-relay"), "admin", "--data-dir", str(data_dir), *words]
    result: subprocess.CompletedProcess[bytes] = await trio.run_process(
        argv, stdin=stdin, capture_stdout=True, capture_stderr=True, check=False
    )
    return result


def _json(result: subprocess.CompletedProcess[bytes]) -> Any:
    return json.loads(result.stdout)


async def test_list_and_end_a_live_session_from_a_script(relay: RunningRelay) -> None:
    data_dir = relay.config.data_dir
    live = await open_live_session(relay.nursery, relay.info, ["Ana"])
    for words in (["--json", "sessions.list"], ["--json", "sessions", "list"]):
        listed = await _admin(data_dir, *words)
        assert listed.returncode == 0, listed.stderr
        assert [s["session_id"] for s in _json(listed)["sessions"]] == [live.session_id]
    ended = await _admin(data_dir, "--json", "sessions", "end", f"session_id={live.session_id}")
    assert ended.returncode == 0, ended.stderr
    assert _json(ended)["ended"] is True
    for member in live.everyone:
        with trio.fail_after(10):
            await member.closed.wait()
        assert member.closed_with.code is ErrorCode.SESSION_ENDED
    again = await _admin(data_dir, "--json", "sessions.end", f"session_id={live.session_id}")
    assert again.returncode == 1
    assert _json(again)["error"]["code"] == "not_found"
    assert b"There is no live session" in again.stderr


async def test_accounts_take_the_password_from_stdin_never_from_the_command_line(
    relay: RunningRelay,
) -> None:
    data_dir = relay.config.data_dir
    password = "violet-ocean-compass-71"
    on_the_line = await _admin(
        data_dir, "--json", "accounts.add", "username=bob", f"password={password}"
    )
    assert on_the_line.returncode == 2
    assert b"Never put a password on the command line" in on_the_line.stderr
    added = await _admin(
        data_dir,
        "--json",
        "accounts.add",
        "username=bob",
        "--password-stdin",
        stdin=f"{password}\n".encode(),
    )
    assert added.returncode == 0, added.stderr
    assert _json(added)["account"]["username"] == "bob"
    assert password.encode() not in added.stdout + added.stderr
    async with connect(relay.port, relay.fingerprint) as client:
        await client.login("bob", password)
    weak = await _admin(
        data_dir, "--json", "accounts.passwd", "username=bob", "--password-stdin", stdin=b"bob\n"
    )
    assert weak.returncode == 1
    disabled = await _admin(data_dir, "--json", "accounts.disable", "username=bob")
    assert _json(disabled)["account"]["disabled"] is True


async def test_the_event_stream_prints_json_lines(relay: RunningRelay) -> None:
    argv = [
        command("porthole-relay"),
        "admin",
        "--data-dir",
        str(relay.config.data_dir),
        "--json",
        "events.subscribe",
    ]
    async with trio.open_nursery() as nursery:
        proc = await nursery.start(
            lambda task_status: trio.run_process(
                argv, stdout=subprocess.PIPE, check=False, task_status=task_status
            )
        )
        assert isinstance(proc, trio.Process)
        assert proc.stdout is not None
        lines: list[dict[str, Any]] = []

        async def read() -> None:
            assert proc.stdout is not None
            buffer = b""
            while chunk := await proc.stdout.receive_some():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    lines.append(json.loads(line))

        nursery.start_soon(read)

        # Wait until the subprocess has subscribed (it is one of the admin connections).
        async def admin_connections() -> int:
            status = await _admin(relay.config.data_dir, "--json", "relay.status")
            return int(_json(status)["admin_connections"])

        with trio.fail_after(20):
            while await admin_connections() < 2:
                await trio.sleep(0.1)
        live = await open_live_session(relay.nursery, relay.info, [])
        await wait_until(
            lambda: any(e.get("session_id") == live.session_id for e in lines), "an event line"
        )
        assert lines[0]["kind"] == "session.started"
        assert lines[0]["session"]["organizer"] == "olga"
        proc.kill()


async def test_usage_mistakes_and_a_missing_relay(tmp_path: Path, relay: RunningRelay) -> None:
    unknown = await _admin(relay.config.data_dir, "--json", "sessions.explode")
    assert unknown.returncode == 2
    assert b"unknown op" in unknown.stderr
    loose = await _admin(relay.config.data_dir, "session_id=1")
    assert loose.returncode == 2
    no_relay = await _admin(tmp_path / "nowhere", "--json", "sessions.list")
    assert no_relay.returncode == 1
    assert b"no relay admin socket" in no_relay.stderr
    no_tty = await _admin(relay.config.data_dir)
    assert no_tty.returncode == 2
    assert b"needs a terminal" in no_tty.stderr
    helped = await trio.run_process(
        [command("porthole-relay"), "admin", "--help"], capture_stdout=True
    )
    for op in ("sessions.end", "lockouts.lift", "bans.add", "accounts.passwd", "events.list"):
        assert op.encode() in helped.stdout


async def test_on_a_terminal_admin_opens_the_tui_the_tui_package_registered(
    relay: RunningRelay,
) -> None:
    # The relay package names no module of the TUI (docs/design.md §2.2): the app is found
    # through the entry point pyproject.toml registers. A real pseudo-terminal, a real process.
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    proc = subprocess.Popen(
        [command("porthole-relay"), "admin", "--data-dir", str(relay.config.data_dir)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        start_new_session=True,
    )
    os.close(secondary)
    shown = b""
    try:
        with trio.fail_after(30):
            while b"relay admin" not in shown and b"No live sessions" not in shown:
                await trio.lowlevel.wait_readable(primary)
                try:
                    shown += os.read(primary, 65536)
                except OSError:  # EIO: the program ended and closed the terminal
                    raise AssertionError(f"the admin TUI did not open: {shown!r}") from None
        os.write(primary, b"q")
        with trio.fail_after(20):
            while proc.poll() is None:
                with trio.move_on_after(0.1):
                    await trio.lowlevel.wait_readable(primary)
                    try:
                        os.read(primary, 65536)  # keep the terminal drained while it ends
                    except OSError:
                        await trio.sleep(0.05)  # EIO: it closed the terminal; reap it next
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)


def test_the_admin_tui_is_found_through_its_entry_point() -> None:
    from relay.admin_cli import _admin_ui
    from tui.relay_admin.launch import run

    assert _admin_ui() is run
