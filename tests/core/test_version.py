"""`porthole --version`, `porthole-relay --version`: the version, and a checkout's commit.

Run as real subprocesses. A ``git`` on ``PATH`` that records being called proves the lookup is
lazy: ``--help`` and usage errors never start git; ``--version`` does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = {"porthole": "tui.cli", "porthole-relay": "relay.cli"}
LINE = re.compile(r"^(porthole(?:-relay)?) (\S+) \(commit ([0-9a-f]{7,40})(, modified)?\)$")


def run(module: str, *args: str, root: Path = REPO, path: str | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": str(root)}
    if path is not None:
        env["PATH"] = path
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=root,
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize("program", PROGRAMS)
def test_version_names_the_checkouts_commit(program: str) -> None:
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    out = run(PROGRAMS[program], "--version").strip()
    match = LINE.match(out)
    assert match is not None, out
    assert match.group(1) == program
    assert head.startswith(match.group(3))


@pytest.mark.parametrize("program", PROGRAMS)
def test_no_commit_outside_a_checkout(program: str, tmp_path: Path) -> None:
    """An installed copy (no .git beside the packages) prints the version alone."""
    for package in ("core", "relay", "tui"):
        shutil.copytree(REPO / package, tmp_path / package)
    out = run(PROGRAMS[program], "--version", root=tmp_path).strip()
    assert re.fullmatch(rf"{program} \S+", out), out


def test_only_version_starts_git(tmp_path: Path) -> None:
    marker = tmp_path / "git-was-called"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real_git = shutil.which("git")
    assert real_git is not None
    fake = bin_dir / "git"
    fake.write_text(f'#!/bin/sh\necho >> "{marker}"\nexec "{real_git}" "$@"\n')
    fake.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    for module in PROGRAMS.values():
        run(module, "--help", path=path)
        run(module, "no-such-command", path=path)
    run("tui.cli", "verify", "--help", path=path)
    run("relay.cli", "serve", "--help", path=path)
    assert not marker.exists()
    out = run("relay.cli", "--version", path=path)
    assert "(commit " in out
    assert marker.exists()
