"""porthole's installed version, and a ``--version`` flag that looks it up only when used.

Why lazily: reading a distribution's metadata imports ``importlib.metadata`` and walks
``sys.path``; every command used to pay for that while building its parser, even for a usage
error. One reader also means one answer when porthole runs from a checkout that is not installed.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from typing import Any

NOT_INSTALLED = "(not installed)"


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


class VersionAction(argparse.Action):
    """``--version``: print ``PROG VERSION`` and exit, reading the version only now."""

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
        print(f"{parser.prog} {porthole_version()}")  # stdout, as argparse's own action does
        parser.exit()
