"""``porthole identity create|show`` as a person runs it: a real subprocess, a real key file.

Checks the file's mode and contents, that an existing key is never replaced without --force,
and that every mistake (missing key, a directory, a key others can read, a path that cannot be
written) is one sentence on stderr with exit 1 and no traceback.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from procs import command

from core.crypto import public_key_bytes
from core.crypto.identity import fingerprint, short_fingerprint
from core.failures import EXIT_FAILED

FINGERPRINT_LINE = re.compile(r"^fingerprint ([0-9a-f]{64})$", re.M)


def identity(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(config)}
    return subprocess.run(
        [command("porthole"), "identity", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == EXIT_FAILED, result
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("porthole: ")
    return lines[0]


def test_create_writes_a_private_key_and_show_prints_the_same_fingerprint(tmp_path: Path) -> None:
    config = tmp_path / "config"
    created = identity(config, "create")
    assert created.returncode == 0, created
    path = config / "porthole" / "identity.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    key = load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    public = public_key_bytes(key)
    match = FINGERPRINT_LINE.search(created.stdout)
    assert match is not None, created.stdout
    assert match.group(1) == fingerprint(public)
    assert short_fingerprint(public) in created.stdout
    assert "PRIVATE" not in created.stdout + created.stderr  # the key itself is never printed

    shown = identity(config, "show")
    assert shown.returncode == 0, shown
    assert FINGERPRINT_LINE.findall(shown.stdout) == [fingerprint(public)]


def test_an_existing_key_is_replaced_only_with_force(tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert identity(config, "create").returncode == 0
    path = config / "porthole" / "identity.key"
    before = path.read_bytes()
    line = one_sentence(identity(config, "create"))
    assert "already exists" in line
    assert "--force" in line
    assert path.read_bytes() == before
    forced = identity(config, "create", "--force")
    assert forced.returncode == 0, forced
    assert path.read_bytes() != before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_show_without_a_key_says_how_to_make_one(tmp_path: Path) -> None:
    line = one_sentence(identity(tmp_path / "empty", "show"))
    assert "No identity key" in line
    assert "porthole identity create" in line


@pytest.mark.parametrize("case", ["directory", "not a key", "readable by others", "unwritable"])
def test_a_bad_path_is_one_sentence(tmp_path: Path, case: str) -> None:
    config = tmp_path / "config"
    target = tmp_path / "target"
    if case == "directory":
        target.mkdir()
        line = one_sentence(identity(config, "show", "--path", str(target)))
        assert "directory" in line
    elif case == "not a key":
        target.write_text("hello\n")
        target.chmod(0o600)
        line = one_sentence(identity(config, "show", "--path", str(target)))
        assert "does not hold a porthole identity key" in line
    elif case == "readable by others":
        assert identity(config, "create", "--path", str(target)).returncode == 0
        target.chmod(0o644)
        line = one_sentence(identity(config, "show", "--path", str(target)))
        assert "chmod 600" in line
    else:
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        line = one_sentence(identity(config, "create", "--path", str(blocker / "identity.key")))
        assert "Cannot write" in line
