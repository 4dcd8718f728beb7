"""``porthole-relay serve --config relay.toml``, run for real (docs/design.md §7.7).

The relay is started as a subprocess with a configuration file: its settings take effect, a flag
given too wins over the file, and a bad file stops the relay with one line naming the key.
Readiness comes from a real ``$NOTIFY_SOCKET``, which says where the relay listens.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from relay.serve_config import ConfigError, parse_serve_config

REPO = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "relay.cli", "serve"]
STATUS = re.compile(r"^STATUS=listening on 127\.0\.0\.1:(\d+)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORTHOLE_RELAY_DATA", "XDG_DATA_HOME")}
    env.update(PYTHONPATH=str(REPO), HOME=str(tmp_path / "home"), **extra)
    return env


def serve_until_ready(tmp_path: Path, *args: str) -> tuple[int, str]:
    """Start the relay, wait for READY=1, stop it; (its port, everything it printed)."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(60)
    process = subprocess.Popen(
        [*SERVE, *args],
        env=child_env(tmp_path, NOTIFY_SOCKET=str(tmp_path / "notify")),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = notify.recv(4096).decode()
        found = STATUS.search(ready)
        assert found is not None, ready
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 0, out
        return int(found.group(1)), out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        notify.close()


def test_the_file_sets_listen_data_dir_and_no_raw(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "etc" / "relay.toml"
    config.parent.mkdir()
    # data-dir relative to the file's directory, not to the working directory.
    config.write_text(f'listen = "127.0.0.1:{port}"\ndata-dir = "state"\nno-raw = true\n')
    got, out = serve_until_ready(tmp_path, "--config", str(config))
    assert got == port
    assert "framed porthole/1 is off (--no-raw)" in out
    assert (tmp_path / "etc" / "state" / "relay.db").exists()


def test_flags_override_the_file(tmp_path: Path) -> None:
    in_file, on_command_line = free_port(), free_port()
    config = tmp_path / "relay.toml"
    config.write_text(f'listen = "127.0.0.1:{in_file}"\ndata-dir = "from-file"\n')
    got, _ = serve_until_ready(
        tmp_path,
        "--config",
        str(config),
        "--listen",
        f"127.0.0.1:{on_command_line}",
        "--data-dir",
        str(tmp_path / "from-flag"),
    )
    assert got == on_command_line
    assert (tmp_path / "from-flag" / "relay.db").exists()
    assert not (tmp_path / "from-file").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("listen = 7443\n", "key 'listen' must be a string \"HOST:PORT\", not 7443"),
        ('listen = "nowhere"\n', "key 'listen' must be \"HOST:PORT\""),
        ('no-raw = "yes"\n', "key 'no-raw' must be true or false, not 'yes'"),
        ("no_raw = true\n", "unknown key 'no_raw' (known keys: listen, data-dir, cert, key"),
        ('cert = ""\n', "key 'cert' must be a path as a non-empty string"),
        ("listen = \n", "is not valid TOML"),
    ],
)
def test_a_bad_file_stops_the_relay_with_one_line_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "relay.toml"
    config.write_text(text)
    done = subprocess.run(
        [*SERVE, "--config", str(config), "--data-dir", str(tmp_path / "data")],
        env=child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "data").exists()


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [*SERVE, "--config", str(tmp_path / "absent.toml")],
        env=child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("porthole-relay: error: cannot read ")
    assert "Traceback" not in done.stderr


def test_every_serve_flag_has_a_key() -> None:
    """A flag added to `serve` without a config key fails here."""
    from relay.cli import build_parser
    from relay.serve_config import KEYS

    parser = build_parser()
    commands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    serve = commands.choices["serve"]
    flags = {
        option[2:]
        for action in serve._actions
        for option in action.option_strings
        if option.startswith("--") and option not in ("--help", "--config")
    }
    assert flags == set(KEYS)


def test_relative_paths_are_taken_from_the_files_directory(tmp_path: Path) -> None:
    values = parse_serve_config('cert = "c.pem"\nkey = "/abs/k.pem"\n', tmp_path)
    assert values == {"cert": tmp_path / "c.pem", "key": Path("/abs/k.pem")}
    with pytest.raises(ConfigError, match="unknown key 'port'"):
        parse_serve_config("port = 1\n", tmp_path)


def test_the_shipped_example_is_valid() -> None:
    example = REPO / "deploy" / "relay.toml"
    values = parse_serve_config(example.read_text(), example.parent)
    assert values["listen"] == ("0.0.0.0", 443)  # noqa: S104 (a public relay listens on all)
    assert values["data_dir"] == Path("/var/lib/porthole-relay")
