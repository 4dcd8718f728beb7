"""Whether a command should open the Textual app or fall back to the line-mode console."""

from __future__ import annotations

import os
import sys


def wants_tui(*, console: bool) -> bool:
    """The app needs a terminal on both ends; scripts and pipes get the line console.

    ``--console`` forces the console; ``TERM=dumb`` (Emacs shells, some CI) gets it too.
    """
    if console or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()
