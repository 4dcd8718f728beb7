"""``porthole-relay`` run for real, as a subprocess, against a temporary data directory.

The CLI is what an operator scripts against, so these tests check exit codes, the exact
sentences on stderr, the JSON shapes, and that no failure ever shows a traceback.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relay.cli import default_data_dir, parse_listen
from relay.store import DB_NAME, LoginCheck, RelayStore, SecurityEventKind, cheap_hasher

PASSWORD = "vessel-LLAMA-orbit-7"
OTHER_PASSWORD = "quiet-harbour-Fig-31"
T0 = 1_700_000_000.0


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of the child: no inherited relay location, a throwaway HOME."""
    child = {
        k: v for k, v in os.environ.items() if k not in ("PORTHOLE_RELAY_DATA", "XDG_DATA_HOME")
    }
    child["HOME"] = str(tmp_path / "home")
    child["COLUMNS"] = "200"
    return child


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "relay-data"


def relay_cli(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relay.cli", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def assert_clean_failure(
    result: subprocess.CompletedProcess[str], code: int, sentence: str
) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert sentence in result.stderr
    if code == 1:
        # One sentence, on one line, prefixed by the program name.
        assert result.stderr.startswith("porthole-relay: error: ")
        assert result.stderr.count("\n") == 1


def add_account(
    name: str, password: str, data_dir: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return relay_cli(
        "account", "add", name, "--password-stdin", "--data-dir", str(data_dir),
        env=env, stdin=password + "\n",
    )  # fmt: skip


def open_store(data_dir: Path) -> RelayStore:
    return RelayStore.open(data_dir, hasher=cheap_hasher(), close_unfinished=False)


# --- accounts --------------------------------------------------------------------------------


def test_add_account_from_stdin(data_dir: Path, env: dict[str, str]) -> None:
    result = add_account("alice", PASSWORD, data_dir, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Created organizer account 'alice'.\n"
    assert PASSWORD not in result.stdout + result.stderr
    assert sorted(os.listdir(data_dir)) == [DB_NAME]
    assert (data_dir.stat().st_mode & 0o777, (data_dir / DB_NAME).stat().st_mode & 0o777) == (
        0o700,
        0o600,
    )
    with open_store(data_dir) as store:
        assert store.verify_login("alice", PASSWORD) is LoginCheck.OK
    assert PASSWORD.encode() not in (data_dir / DB_NAME).read_bytes()


def test_windows_line_ending_on_stdin_is_not_part_of_the_password(
    data_dir: Path, env: dict[str, str]
) -> None:
    result = add_account("alice", PASSWORD + "\r", data_dir, env)
    assert result.returncode == 0, result.stderr
    with open_store(data_dir) as store:
        assert store.verify_login("alice", PASSWORD) is LoginCheck.OK


def test_weak_password_is_refused_with_its_sentence(data_dir: Path, env: dict[str, str]) -> None:
    result = add_account("alice", "short-pw1", data_dir, env)
    assert_clean_failure(result, 1, "Use at least 12 characters; this one has 9.")
    result = add_account("alice", "Password1234", data_dir, env)
    assert_clean_failure(result, 1, "That password is on the list of commonly used passwords.")
    result = add_account("alice", "qwertyuiop12", data_dir, env)
    assert_clean_failure(result, 1, "That password is on the list of commonly used passwords.")
    result = add_account("alice", "alice-the-organizer", data_dir, env)
    assert_clean_failure(result, 1, "The password must not contain the user name.")
    # Nothing was created for a refused account, not even the data directory.
    assert not data_dir.exists()


def test_duplicate_account_is_refused(data_dir: Path, env: dict[str, str]) -> None:
    assert add_account("alice", PASSWORD, data_dir, env).returncode == 0
    result = add_account("Alice", OTHER_PASSWORD, data_dir, env)
    assert_clean_failure(result, 1, "There is already an account named 'alice'.")
    with open_store(data_dir) as store:
        assert store.verify_login("alice", PASSWORD) is LoginCheck.OK


def test_bad_user_name_is_refused(data_dir: Path, env: dict[str, str]) -> None:
    result = add_account("al ice", PASSWORD, data_dir, env)
    assert_clean_failure(
        result,
        1,
        "A user name is 1 to 64 characters of letters, digits, '.', '_' and '-'; 'al ice' is not.",
    )


def test_list_and_json(data_dir: Path, env: dict[str, str]) -> None:
    empty = relay_cli("account", "list", "--data-dir", str(data_dir), env=env)
    assert_clean_failure(empty, 1, "There is no relay data directory at")
    assert add_account("bob", PASSWORD, data_dir, env).returncode == 0
    assert add_account("alice", OTHER_PASSWORD, data_dir, env).returncode == 0
    assert (
        relay_cli("account", "disable", "bob", "--data-dir", str(data_dir), env=env).returncode == 0
    )

    table = relay_cli("account", "list", "--data-dir", str(data_dir), env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    alice = next(line for line in lines if "alice" in line)
    bob = next(line for line in lines if "bob" in line)
    assert "enabled" in alice
    assert "disabled" in bob
    assert lines.index(alice) < lines.index(bob)

    listed = relay_cli("account", "list", "--json", "--data-dir", str(data_dir), env=env)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert [(a["username"], a["disabled"]) for a in data] == [("alice", False), ("bob", True)]
    assert set(data[0]) == {"username", "disabled", "created_at", "password_changed_at"}
    assert isinstance(data[0]["created_at"], float)
    for secret in (PASSWORD, OTHER_PASSWORD, "argon2"):
        assert secret not in listed.stdout + table.stdout


def test_disable_enable_and_verify_login(data_dir: Path, env: dict[str, str]) -> None:
    assert add_account("alice", PASSWORD, data_dir, env).returncode == 0
    result = relay_cli("account", "disable", "alice", "--data-dir", str(data_dir), env=env)
    assert result.returncode == 0, result.stderr
    assert "Disabled account 'alice'" in result.stdout
    with open_store(data_dir) as store:
        assert store.verify_login("alice", PASSWORD) is LoginCheck.DISABLED
    result = relay_cli("account", "enable", "alice", "--data-dir", str(data_dir), env=env)
    assert result.returncode == 0, result.stderr
    with open_store(data_dir) as store:
        assert store.verify_login("alice", PASSWORD) is LoginCheck.OK


def test_passwd(data_dir: Path, env: dict[str, str]) -> None:
    assert add_account("alice", PASSWORD, data_dir, env).returncode == 0
    args = ("account", "passwd", "alice", "--password-stdin", "--data-dir", str(data_dir))
    weak = relay_cli(*args, env=env, stdin="123456789012\n")
    assert_clean_failure(weak, 1, "That password is on the list of commonly used passwords.")
    result = relay_cli(*args, env=env, stdin=OTHER_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Changed the password of 'alice'.\n"
    with open_store(data_dir) as store:
        assert store.verify_login("alice", PASSWORD) is LoginCheck.WRONG
        assert store.verify_login("alice", OTHER_PASSWORD) is LoginCheck.OK
    ghost = relay_cli(
        "account", "passwd", "ghost", "--password-stdin", "--data-dir", str(data_dir),
        env=env, stdin=OTHER_PASSWORD + "\n",
    )  # fmt: skip
    assert_clean_failure(ghost, 1, "There is no account named 'ghost'.")


def test_password_needs_a_terminal_or_password_stdin(data_dir: Path, env: dict[str, str]) -> None:
    result = relay_cli("account", "add", "alice", "--data-dir", str(data_dir), env=env)
    assert_clean_failure(
        result,
        2,
        "Standard input is not a terminal, so the password cannot be asked for; "
        "pipe it in with --password-stdin.",
    )
    empty = relay_cli(
        "account", "add", "alice", "--password-stdin", "--data-dir", str(data_dir), env=env
    )
    assert_clean_failure(empty, 1, "--password-stdin was given but standard input is empty.")


# --- records ---------------------------------------------------------------------------------


def write_records(data_dir: Path) -> int:
    """Write what a relay would, through the store; return the id of a still-running session."""
    with RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0) as store:
        store.add_account("mallory", PASSWORD, now=T0)
        done = store.start_session_record("123456789", "alice", now=T0)
        store.end_session_record(done, T0 + 3725, "organizer_ended", 4, 6, 5_242_880, 1234)
        running = store.start_session_record("987654321", "bob", now=T0 + 4000)
        store.add_security_event(
            T0 + 10, SecurityEventKind.LOGIN_FAILED, "192.0.2.9:40000", username="mallory"
        )
        store.add_security_event(
            T0 + 20, SecurityEventKind.LOCKOUT, "192.0.2.9", detail="7 failures in 60 s"
        )
    return running


def test_records_json(data_dir: Path, env: dict[str, str]) -> None:
    running = write_records(data_dir)
    result = relay_cli("records", "--json", "--data-dir", str(data_dir), env=env)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["session_id"] for r in records] == ["987654321", "123456789"]
    newest, oldest = records
    assert oldest == {
        "id": 1,
        "session_id": "123456789",
        "organizer": "alice",
        "started_at": T0,
        "ended_at": T0 + 3725,
        "end_reason": "organizer_ended",
        "peak_members": 4,
        "total_members": 6,
        "bytes_relayed": 5_242_880,
        "messages_relayed": 1234,
    }
    assert newest["id"] == running
    assert newest["ended_at"] is None  # the CLI does not close a running relay's records

    limited = relay_cli("records", "--json", "--limit", "1", "--data-dir", str(data_dir), env=env)
    assert [r["session_id"] for r in json.loads(limited.stdout)] == ["987654321"]

    events = relay_cli("records", "--events", "--json", "--data-dir", str(data_dir), env=env)
    assert events.returncode == 0, events.stderr
    assert [(e["kind"], e["address"]) for e in json.loads(events.stdout)] == [
        ("lockout", "192.0.2.9"),
        ("login_failed", "192.0.2.9:40000"),
    ]

    with open_store(data_dir) as store:
        assert store.list_session_records()[0].ended_at is None


def test_records_table(data_dir: Path, env: dict[str, str]) -> None:
    write_records(data_dir)
    result = relay_cli("records", "--data-dir", str(data_dir), env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("123456789", "987654321", "alice", "organizer_ended", "running", "1:02:05"):
        assert expected in out
    assert "5.0 MiB" in out
    events = relay_cli("records", "--events", "--data-dir", str(data_dir), env=env)
    assert events.returncode == 0, events.stderr
    for expected in ("login_failed", "lockout", "mallory", "7 failures in 60 s"):
        assert expected in events.stdout


def test_records_when_empty(data_dir: Path, env: dict[str, str]) -> None:
    RelayStore.open(data_dir, hasher=cheap_hasher(), now=T0).close()
    result = relay_cli("records", "--data-dir", str(data_dir), env=env)
    assert (result.returncode, result.stdout) == (0, "No session records yet.\n")
    result = relay_cli("records", "--json", "--events", "--data-dir", str(data_dir), env=env)
    assert (result.returncode, json.loads(result.stdout)) == (0, [])


# --- errors, help and the data directory -----------------------------------------------------


def test_errors_are_sentences_not_tracebacks(
    data_dir: Path, env: dict[str, str], tmp_path: Path
) -> None:
    missing = relay_cli("records", "--data-dir", str(tmp_path / "nope"), env=env)
    assert_clean_failure(missing, 1, f"There is no relay data directory at {tmp_path / 'nope'}")

    data_dir.mkdir(mode=0o700)
    (data_dir / DB_NAME).write_bytes(b"garbage, not a database " * 200)
    corrupt = relay_cli("account", "list", "--data-dir", str(data_dir), env=env)
    assert corrupt.returncode == 1
    assert "is not a usable relay database" in corrupt.stderr
    assert "Traceback" not in corrupt.stderr

    unknown = relay_cli("account", "disable", "ghost", "--data-dir", str(data_dir), env=env)
    assert unknown.returncode == 1
    assert "Traceback" not in unknown.stderr

    bad_limit = relay_cli("records", "--limit", "0", "--data-dir", str(data_dir), env=env)
    assert_clean_failure(bad_limit, 2, "argument --limit: expected a positive whole number")

    bad_command = relay_cli("acount", "list", env=env)
    assert_clean_failure(bad_command, 2, "invalid choice: 'acount'")


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        ((), "stores no session content"),
        (("account",), "Manage organizer accounts"),
        (("account", "add"), "Create an organizer account"),
        (("account", "passwd"), "Replace an organizer's password"),
        (("account", "disable"), "Disable an organizer account"),
        (("account", "enable"), "Re-enable an organizer account"),
        (("account", "list"), "List organizer accounts"),
        (("records",), "--events"),
        (("serve",), "--listen HOST:PORT"),
    ],
)
def test_help_at_every_level(args: tuple[str, ...], phrase: str, env: dict[str, str]) -> None:
    result = relay_cli(*args, "--help", env=env)
    assert result.returncode == 0, result.stderr
    assert phrase in result.stdout
    assert "usage: porthole-relay" in result.stdout


def test_missing_subcommand_shows_help_and_exits_2(env: dict[str, str]) -> None:
    for args in ((), ("account",)):
        result = relay_cli(*args, env=env)
        assert result.returncode == 2
        assert "usage: porthole-relay" in result.stderr
        assert "Traceback" not in result.stderr


def test_data_dir_from_environment(tmp_path: Path, env: dict[str, str]) -> None:
    location = tmp_path / "from-env"
    result = relay_cli(
        "account", "add", "alice", "--password-stdin",
        env={**env, "PORTHOLE_RELAY_DATA": str(location)}, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (location / DB_NAME).is_file()


def test_default_data_dir_order() -> None:
    assert default_data_dir({"PORTHOLE_RELAY_DATA": "/srv/relay", "XDG_DATA_HOME": "/x"}) == Path(
        "/srv/relay"
    )
    assert default_data_dir({"XDG_DATA_HOME": "/x", "HOME": "/home/op"}) == Path(
        "/x/porthole-relay"
    )
    # The XDG spec says to ignore a relative XDG_DATA_HOME.
    assert default_data_dir({"XDG_DATA_HOME": "rel", "HOME": "/home/op"}) == Path(
        "/home/op/.local/share/porthole-relay"
    )


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:7443") == ("127.0.0.1", 7443)
    assert parse_listen("[::1]:8443") == ("::1", 8443)
    assert parse_listen("relay.example.org:443") == ("relay.example.org", 443)


def test_installed_entry_point(data_dir: Path, env: dict[str, str]) -> None:
    """The console script pip installed runs the same main()."""
    script = shutil.which("porthole-relay") or shutil.which(
        "porthole-relay", path=str(Path(sys.executable).parent)
    )
    assert script is not None, "porthole-relay is not installed; pip install -e '.[test]'"
    help_result = subprocess.run(
        [script, "--help"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert help_result.returncode == 0
    assert "usage: porthole-relay" in help_result.stdout
    added = subprocess.run(
        [script, "account", "add", "carol", "--password-stdin", "--data-dir", str(data_dir)],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    with open_store(data_dir) as store:
        assert store.verify_login("carol", PASSWORD) is LoginCheck.OK


# --- interactive password entry on a real terminal -------------------------------------------


def run_on_terminal(args: list[str], answers: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling tty; answer each prompt in turn.

    getpass reads from /dev/tty, so a pipe cannot drive it; a pty makes the prompt path real.
    """
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty is now stdin/stdout/stderr and the controlling terminal
        try:
            argv = [sys.executable, "-m", "relay.cli", *args]
            os.execve(sys.executable, argv, env)  # noqa: S606 -- our own argv, no shell wanted
        finally:
            os._exit(127)
    output = b""
    answered_upto = 0  # only a prompt that appeared after the last answer gets the next one
    pending = list(answers)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if pending and output[answered_upto:].rstrip().endswith(b":"):
                # getpass turned echo off (and flushed input) before printing the prompt.
                os.write(fd, pending.pop(0).encode() + b"\n")
                answered_upto = len(output)
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_password_prompted_twice_on_a_terminal(data_dir: Path, env: dict[str, str]) -> None:
    args = ["account", "add", "alice", "--data-dir", str(data_dir)]
    code, output = run_on_terminal(args, [PASSWORD, PASSWORD], env)
    assert code == 0, output
    assert "Password for new account alice:" in output
    assert "Repeat the password:" in output
    assert PASSWORD not in output  # not echoed
    with open_store(data_dir) as store:
        assert store.verify_login("alice", PASSWORD) is LoginCheck.OK

    args = ["account", "passwd", "alice", "--data-dir", str(data_dir)]
    code, output = run_on_terminal(args, [OTHER_PASSWORD, OTHER_PASSWORD + "x"], env)
    assert code == 1, output
    assert "The two passwords do not match; nothing was changed." in output
    assert "Traceback" not in output
    code, output = run_on_terminal(args, ["Password1234"], env)
    assert code == 1, output
    assert "That password is on the list of commonly used passwords." in output
    with open_store(data_dir) as store:
        assert store.verify_login("alice", PASSWORD) is LoginCheck.OK
