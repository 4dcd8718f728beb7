"""Start and stop a private Xvfb X server for tests.

Used by the ``xvfb`` fixture in ``tests/conftest.py``. The display number is
chosen by Xvfb itself through ``-displayfd``: Xvfb binds the first free local
display socket and writes that number to the given file descriptor once it is
ready to accept connections. So there is no probing race with other X servers
and no polling for readiness.
"""

from __future__ import annotations

import ctypes
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_WIDTH = 1280
DEFAULT_HEIGHT = 800
DEFAULT_DEPTH = 24
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

# $DISPLAY as it was when the test session started (conftest imports this module
# before any fixture runs): the private display must not be that one.
ORIGINAL_DISPLAY: str | None = os.environ.get("DISPLAY")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_DISPLAY_RE = re.compile(r"^[^:]*:(\d+)(?:\.\d+)?$")


@dataclass(frozen=True)
class Display:
    """A running X display: ``name`` is what goes in ``$DISPLAY`` (e.g. ``":7"``)."""

    name: str
    width: int
    height: int

    @property
    def number(self) -> int:
        return int(self.name.lstrip(":"))


class XvfbError(RuntimeError):
    """Xvfb could not be started."""


def find_xvfb() -> str | None:
    """The Xvfb binary on ``$PATH``, or None."""
    return shutil.which("Xvfb")


def display_number(name: str | None) -> int | None:
    """The display number in a ``$DISPLAY`` value (``":3"``, ``"host:10.0"``), else None."""
    if not name:
        return None
    m = _DISPLAY_RE.match(name.strip())
    return int(m.group(1)) if m else None


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec_fn so Xvfb gets SIGTERM if the test process dies without teardown.

    prctl is looked up here, in the parent, so the child only makes the call.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: best effort only
        return None
    sigterm = int(signal.SIGTERM)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)

    return hook


def _stop(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def _read_display_number(fd: int, proc: subprocess.Popen[bytes], deadline: float) -> int | None:
    """Read the ``N\\n`` that Xvfb writes to ``-displayfd`` when ready; None on EOF."""
    buf = b""
    while not buf.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
        if not ready:
            if proc.poll() is not None:
                return None
            continue
        chunk = os.read(fd, 64)
        if not chunk:  # Xvfb exited (the only writer closed the pipe)
            return None
        buf += chunk
    return int(buf.strip())


class Xvfb:
    """One Xvfb process. ``start()`` returns when the server accepts connections."""

    def __init__(
        self,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        depth: int = DEFAULT_DEPTH,
        binary: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """``extra_args`` go to Xvfb as they are, e.g. ``("-extension", "Composite")`` for a
        server without an extension."""
        self.extra_args = extra_args
        self.width = width
        self.height = height
        self.depth = depth
        self.binary = binary or find_xvfb()
        self.proc: subprocess.Popen[bytes] | None = None
        self.display: Display | None = None
        # Xvfb's stdout+stderr, for error messages. Anonymous (already unlinked),
        # so nothing is left behind even if the test process is killed.
        self._log = tempfile.TemporaryFile(prefix="porthole-xvfb-")  # noqa: SIM115 - stop()

    def log_tail(self, limit: int = 2000) -> str:
        if self._log.closed:
            return ""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        start = max(0, size - limit)
        return os.pread(fd, size - start, start).decode(errors="replace")

    def start(self, timeout: float = START_TIMEOUT) -> Display:
        if self.binary is None:
            raise FileNotFoundError("Xvfb")
        if self.proc is not None:
            raise XvfbError("already started")
        try:
            number = self._spawn(self.binary, timeout)
        except BaseException:
            self.stop()
            raise
        self.display = Display(name=f":{number}", width=self.width, height=self.height)
        return self.display

    def _spawn(self, binary: str, timeout: float) -> int:
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [
                    binary,
                    "-displayfd",
                    str(write_fd),
                    "-screen",
                    "0",
                    f"{self.width}x{self.height}x{self.depth}",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                    *self.extra_args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,  # a ^C in the terminal must not kill it before teardown
                preexec_fn=_die_with_parent_hook(),
            )
            os.close(write_fd)
            write_fd = -1
            try:
                number = _read_display_number(read_fd, self.proc, time.monotonic() + timeout)
            except TimeoutError:
                raise XvfbError(
                    f"Xvfb not ready after {timeout:.0f}s; log:\n{self.log_tail()}"
                ) from None
        finally:
            if write_fd >= 0:
                os.close(write_fd)
            os.close(read_fd)
        if number is None:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
            raise XvfbError(f"Xvfb exited with status {code}; log:\n{self.log_tail()}")
        return number

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
        self._log.close()

    def __enter__(self) -> Display:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_private_xvfb(
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    depth: int = DEFAULT_DEPTH,
    avoid: frozenset[int] = frozenset(),
    attempts: int = 5,
) -> Xvfb:
    """Start an Xvfb whose display number is not in ``avoid``.

    Xvfb's own choice never collides with a local server (it binds the socket),
    but ``$DISPLAY`` may name a TCP/forwarded display (``localhost:10``) that
    has no local socket. If Xvfb lands on such a number, keep it running so the
    next Xvfb must pick another number, then stop the unwanted ones.
    """
    unwanted: list[Xvfb] = []
    try:
        for _ in range(attempts):
            server = Xvfb(width, height, depth)
            display = server.start()
            if display.number not in avoid:
                return server
            unwanted.append(server)
        raise XvfbError(f"Xvfb kept choosing display numbers in {sorted(avoid)}")
    finally:
        for server in unwanted:
            server.stop()


def require_tool(name: str) -> str:
    """Path of an X utility (xdotool, xwininfo, …): missing fails in CI, skips elsewhere."""
    import pytest

    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (.ci/run installs it)", pytrace=False)
        pytest.skip(f"{name} not installed; apt-get install xdotool x11-utils")
    return path


@dataclass(frozen=True)
class Geometry:
    """A window's on-screen rectangle in root pixels."""

    x: int
    y: int
    width: int
    height: int

    def overlaps(self, left: int, top: int, width: int, height: int) -> bool:
        return (
            self.x < left + width
            and left < self.x + self.width
            and self.y < top + height
            and top < self.y + self.height
        )


def parse_xwininfo(out: str) -> Geometry | None:
    """``xwininfo -id W`` output as a Geometry; None when the window is unmapped or gone."""
    fields = {
        key.strip(): value.strip()
        for key, sep, value in (line.partition(":") for line in out.splitlines())
        if sep
    }
    if fields.get("Map State") != "IsViewable":
        return None
    return Geometry(
        int(fields["Absolute upper-left X"]),
        int(fields["Absolute upper-left Y"]),
        int(fields["Width"]),
        int(fields["Height"]),
    )
