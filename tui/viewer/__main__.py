"""``python -m tui.viewer``: the window the porthole client opens to show a shared screen.

Not meant to be run by hand: the client starts it with a pipe on stdin and stdout (see
:mod:`tui.viewer.pipe`) and feeds it decrypted updates. stdout is reserved for that pipe, so
the first thing this module does is point file descriptor 1 (and ``sys.stdout``) at stderr:
a stray ``print`` anywhere must not corrupt the stream the client parses.
"""

from __future__ import annotations

import argparse
import os
import sys
import tkinter as tk

DESCRIPTION = """\
The porthole viewer window. The porthole client starts it when you watch a shared screen and
talks to it over stdin/stdout with length-prefixed binary messages; it is not meant to be run
by hand. It shows the presenter's screen scaled to the window, overlays for paused / waiting /
reconnecting / ended, and, only while you hold remote control, sends your pointer and keys back
to the client. Nothing it receives is written to disk.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tui.viewer", description=DESCRIPTION)
    parser.add_argument(
        "--title", default="porthole", help="window title (e.g. 'porthole — Ana presenting')"
    )
    return parser.parse_args(argv)


def _claim_stdout() -> int:
    """Keep the real stdout for the pipe; route everything else printed to stderr."""
    pipe_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return pipe_fd


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pipe_out = _claim_stdout()
    # Imported late so that ``--help`` works without numpy/Pillow/Tk being loaded.
    from tui.viewer.threads import PipeReader, PipeWriter
    from tui.viewer.window import ViewerWindow

    writer = PipeWriter(pipe_out)
    writer.start()
    try:
        window = ViewerWindow(args.title, writer)
    except tk.TclError as exc:
        print(f"porthole viewer: cannot open a window: {exc}", file=sys.stderr)
        writer.close()
        return 1
    reader = PipeReader(sys.stdin.fileno(), window.deliver, window.finish)
    window.picture.start()
    reader.start()
    try:
        status = window.run()
    except KeyboardInterrupt:
        status = 130
    if window.error is not None:
        print(
            f"porthole viewer: closing: invalid data from the porthole client: {window.error}",
            file=sys.stderr,
        )
    writer.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
