"""porthole's installed version, and a ``--version`` flag that looks it up only when used.

Why lazily: reading a distribution's metadata imports ``importlib.metadata`` and walks
``sys.path``; every command used to pay for that while building its parser, even for a usage
error. One reader also means one answer when porthole runs from a checkout that is not installed.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NOT_INSTALLED = "(not installed)"

#: The directory holding ``core/``: a git checkout when porthole runs from source.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def porthole_version() -> str:
    """The installed ``porthole`` distribution's version, or ``"(not installed)"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("porthole")
    except PackageNotFoundError:
        return NOT_INSTALLED


def software(program: str) -> str:
    """``"PROGRAM VERSION"`` as a peer announces itself (the bare name when not installed)."""
    found = porthole_version()
    return program if found == NOT_INSTALLED else f"{program} {found}"


def source_commit(root: Path = SOURCE_ROOT) -> str | None:
    """``"1a2b3c4"`` (``"1a2b3c4, modified"`` with uncommitted changes) for a git checkout.

    Why: a relay or client run from a checkout is a version plus whatever was committed since;
    a bug report needs the commit. ``None`` for an installed wheel (no ``.git`` beside the
    packages), without git, or when git fails: the version line is printed regardless. Called
    only by ``--version``, so no other command ever starts a git process.
    """
    if not (root / ".git").exists():
        return None
    import subprocess

    try:
        done = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--abbrev=12", "--dirty=+"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    described = done.stdout.strip()
    if done.returncode != 0 or not described:
        return None
    if described.endswith("+"):
        return f"{described[:-1]}, modified"
    return described


def version_line(program: str) -> str:
    """What ``--version`` prints: ``PROG VERSION`` and, from a checkout, its commit."""
    commit = source_commit()
    line = f"{program} {porthole_version()}"
    return line if commit is None else f"{line} (commit {commit})"


class VersionAction(argparse.Action):
    """``--version``: print ``PROG VERSION (commit …)`` and exit, looking both up only now."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **_: Any):
        super().__init__(
            option_strings,
            dest=dest,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show the program's version and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(version_line(parser.prog))  # stdout, as argparse's own action does
        parser.exit()
