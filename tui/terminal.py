"""What the terminal and its user give the commands: app or console, and a default name."""

from __future__ import annotations

import getpass
import os
import sys


def wants_tui(*, console: bool) -> bool:
    """The app needs a terminal on both ends; scripts and pipes get the line console.

    ``--console`` forces the console; ``TERM=dumb`` (Emacs shells, some CI) gets it too.
    """
    if console or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def login_name(fallback: str = "") -> str:
    """The account name of whoever runs porthole (a default display name), or ``fallback``."""
    try:
        return getpass.getuser()[:64] or fallback
    except (OSError, KeyError):
        return fallback
