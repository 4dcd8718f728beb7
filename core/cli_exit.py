"""How every command ends: one line on stderr, a JSON ``error`` event for headless ones, and
the documented exit code (see :mod:`core.failures`). Never a traceback.

Every entry point (``porthole …``, ``porthole-relay …``) runs its body through
:func:`run_command`. It also makes SIGTERM behave like Ctrl+C: a service manager or a script
that stops a command must get the same clean end (sessions left, files written) as a person
pressing Ctrl+C, not an abrupt kill.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import TextIO

from core.failures import Failure, Interrupted, failure_of

#: Set to see the traceback of an unexpected error (a bug) instead of the one-line summary.
DEBUG_ENV = "PORTHOLE_DEBUG"


def run_command(
    body: Callable[[], int],
    *,
    prefix: str,
    headless: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``body`` and return its exit code, or report what stopped it and return that code.

    ``prefix`` starts the stderr line (``"porthole: "``). With ``headless``, stdout also gets
    ``{"event":"error","code":…,"message":…,"next_step":…}`` for the script reading it.
    """
    terminated: list[str] = []
    try:
        with _sigterm_as_interrupt(terminated):
            return body()
    except SystemExit:
        raise
    except BaseException as exc:
        failure = failure_of(exc)
        if failure is None:
            if os.environ.get(DEBUG_ENV):
                raise
            failure = Failure(
                f"internal error: {type(exc).__name__}: {exc}",
                next_step=f"Please report this (set {DEBUG_ENV}=1 to see the details).",
                kind="internal",
            )
        if isinstance(failure, Interrupted) and terminated and failure.signal_name == "SIGINT":
            failure = Interrupted("SIGTERM")
        if isinstance(failure, Interrupted):
            # An interrupt can end the event loop between spawning a task and its first step;
            # its coroutine is then collected unstarted, and Python would add a warning line
            # to the one sentence promised here. Nothing was lost: the task never began.
            warnings.filterwarnings(
                "ignore", message=r"coroutine .* was never awaited", category=RuntimeWarning
            )
        report(failure, prefix=prefix, headless=headless, stdout=stdout, stderr=stderr)
        return failure.exit_code


def report(
    failure: Failure,
    *,
    prefix: str,
    headless: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> None:
    """Print ``failure`` as exactly one stderr line (and its JSON event, when headless)."""
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    if headless:
        event = {
            "event": "error",
            "code": failure.slug,
            "message": " ".join(failure.message.split()),
            "next_step": failure.next_step,
            "exit": failure.exit_code,
        }
        with suppress(OSError, ValueError):  # the reader is gone; stderr still says it
            print(json.dumps(event, separators=(",", ":")), file=out, flush=True)
    with suppress(OSError, ValueError):
        print(f"{prefix}{failure.sentence()}", file=err, flush=True)


@contextmanager
def _sigterm_as_interrupt(terminated: list[str]) -> Iterator[None]:
    """While inside, SIGTERM is delivered as SIGINT (KeyboardInterrupt, or trio's equivalent).

    Re-raising as SIGINT, rather than raising from this handler, lets trio decide where the
    interrupt is safe to deliver, exactly as for Ctrl+C. Commands that watch SIGTERM
    themselves (``trio.open_signal_receiver``) replace this handler while they do.
    """

    def forward(signum: int, frame: FrameType | None) -> None:
        terminated.append("SIGTERM")
        if callable(signal.getsignal(signal.SIGINT)):
            signal.raise_signal(signal.SIGINT)
        else:  # SIGINT ignored (a background job of a script): interrupt directly
            raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, forward)
    except ValueError:  # not the main thread (tests calling main() on a thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
