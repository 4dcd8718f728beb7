"""Scripted screen activity on a private Xvfb: the same pixels for every system that watches.

    python -m bench.activity demo --out DIR          # run each activity once, save screenshots

A benchmark starts :class:`PrivateXvfb`, then for each activity builds a :class:`Scene`
(``setup()`` opens its windows and returns once they are drawn and still), lets every system
under test connect, and calls ``run()``, which performs the activity and returns its monotonic
start and end. Outside ``run()`` the screen does not change, so whatever a watcher receives
between a moment before ``run()`` and a moment after it is the activity's cost.

Activities (``ACTIVITIES``):

* ``scroll``: a 150x46 xterm (DejaVu Sans Mono 10, anti-aliased, dark theme; 1204x786 px of the
  1280x800 screen) already full of log lines prints 30 more a second (colour log levels, ~120
  characters each, deterministic content), so the whole terminal scrolls one line at a time.
* ``typing``: a 100x30 xterm shows 20 lines of code and a prompt; ``xdotool type``
  types prose into it (10 characters a second, through XTEST, echoed by the tty).
* ``photo``: a 480x320 Tk window showing a photograph-like picture, over a full-screen static
  terminal, is moved 8 px every 50 ms (``xdotool windowmove`` chained with ``sleep 0.05`` in
  one xdotool process), bouncing between x = 20 and x = 780.
* ``idle``: the photo scene, with nothing moving.

The helper programs run inside the windows as ``python -m bench.activity printer|editor|photo``.
Nothing here is timed: the benchmark that uses it measures.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO_DIR = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT, DEPTH = 1280, 800, 24
ACTIVITIES = ("scroll", "typing", "photo", "idle")
DESCRIPTIONS = {
    "scroll": "terminal printing 30 log lines/s (150x46 xterm, whole-terminal scroll)",
    "typing": "xdotool typing 10 chars/s into a 100x30 xterm",
    "photo": "480x320 photo window moved 8 px every 50 ms over a static terminal",
    "idle": "terminal + photo window, nothing changes",
}
XTERM_FONT = ("DejaVu Sans Mono", "10")
XTERM_COLOURS = ("#1e1e1e", "#d4d4d4")  # background, foreground
SCROLL_RATE = 30.0  # lines a second
TYPING_RATE = 10.0  # characters a second
#: ``xdotool type --delay`` waits half the delay after the key press and half after the release
#: (xdotool 3.x; measured: ``--delay 100`` types 20 characters a second).
XDOTOOL_TYPE_DELAY_MS = round(2 * 1000 / TYPING_RATE)
PHOTO_RECT = (60, 240, 480, 320)  # x, y, w, h
PHOTO_STEP_PX = 8
PHOTO_STEP_S = 0.05
PHOTO_X_RANGE = (20, 780)
READY_TIMEOUT = 30.0

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn: the child gets SIGTERM if the benchmark dies without cleaning up."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return hook


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


# -- the X server ----------------------------------------------------------------------------------


class PrivateXvfb:
    """One Xvfb that picks its own free display number (``-displayfd``), as tests/xvfb.py does."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT, depth: int = DEPTH) -> None:
        self.size = (width, height, depth)
        self.proc: subprocess.Popen[bytes] | None = None
        self.display = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = READY_TIMEOUT) -> str:
        width, height, depth = self.size
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                ["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                 f"{width}x{height}x{depth}", "-nolisten", "tcp", "-noreset"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(write_fd,),
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )  # fmt: skip
            os.close(write_fd)
            write_fd = -1
            buf = b""
            deadline = time.monotonic() + timeout
            while not buf.endswith(b"\n"):
                if time.monotonic() > deadline:
                    raise RuntimeError("Xvfb did not report a display number")
                ready, _, _ = select.select([read_fd], [], [], 0.5)
                if ready:
                    chunk = os.read(read_fd, 64)
                    if not chunk:
                        raise RuntimeError(f"Xvfb exited with {self.proc.wait()}")
                    buf += chunk
                elif self.proc.poll() is not None:
                    raise RuntimeError(f"Xvfb exited with {self.proc.returncode}")
        except BaseException:
            self.stop()
            raise
        finally:
            if write_fd >= 0:
                os.close(write_fd)
            os.close(read_fd)
        self.display = f":{int(buf.strip())}"
        return self.display

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def __enter__(self) -> PrivateXvfb:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


# -- the scenes ------------------------------------------------------------------------------------


def child_env(display: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WINDOWID", "DISPLAY")}
    env["DISPLAY"] = display
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_DIR), env.get("PYTHONPATH")]))
    return env


def _wait_for_file(path: Path, procs: list[subprocess.Popen[bytes]], what: str) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text()).endswith("\n"):
            return text
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        time.sleep(0.05)
    raise RuntimeError(f"{what} was not ready within {READY_TIMEOUT:.0f} s")


def run_timed(argv: list[str], env: dict[str, str]) -> float:
    """Run a short program to the end; its CPU seconds (from wait4, as /proc is gone by then)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        assert proc.stderr is not None
        raise RuntimeError(f"{argv[:2]} failed: {proc.stderr.read().decode(errors='replace')}")
    if proc.stderr is not None:
        proc.stderr.close()
    return usage.ru_utime + usage.ru_stime


@dataclass
class Scene:
    """The windows of one activity. ``setup()``, then ``run()`` (once), then ``close()``."""

    name: str
    display: str
    workdir: Path
    duration: float
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: Processes drawing the activity (xterm, the program in it, the Tk window), for CPU.
    pids: list[int] = field(default_factory=list)
    #: CPU seconds of the xdotool process that performed the activity (it exits before we look).
    script_cpu_s: float = 0.0
    _fifo: Path | None = None
    _terminal: int | None = None
    _photo: int | None = None

    @property
    def env(self) -> dict[str, str]:
        return child_env(self.display)

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(),
        )
        self.procs.append(proc)
        self.pids.append(proc.pid)
        return proc

    def _xterm(self, geometry: str, title: str, program: list[str]) -> int:
        """An xterm running ``python -m bench.activity PROGRAM``; returns its window id."""
        ready = self.workdir / f"{self.name}-{title}.ready"
        ready.unlink(missing_ok=True)
        proc = self._spawn(
            ["xterm", "-fa", XTERM_FONT[0], "-fs", XTERM_FONT[1], "+sb", "-geometry", geometry,
             "-title", title, "-bg", XTERM_COLOURS[0], "-fg", XTERM_COLOURS[1],
             "-xrm", "XTerm*cursorBlink: false", "-e",
             sys.executable, "-m", "bench.activity", *program, "--ready", str(ready)]
        )  # fmt: skip
        info = json.loads(_wait_for_file(ready, [proc], f"xterm {title}"))
        self.pids.append(int(info["pid"]))
        return int(info["window"])

    def _photo_window(self) -> int:
        x, y, w, h = PHOTO_RECT
        proc = self._spawn(
            [sys.executable, "-m", "bench.activity", "photo", "bench-photo",
             str(x), str(y), str(w), str(h)]
        )  # fmt: skip
        assert proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            if line.startswith("ready"):
                # The toplevel's wrapper window (the one with the title) is what moves; Tk's
                # own ids name the windows inside it.
                found = subprocess.run(
                    ["xdotool", "search", "--name", "^bench-photo$"],
                    env=self.env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                return int(found.stdout.split()[0])
            if not line:
                break
        raise RuntimeError("the photo window did not start")

    def setup(self) -> None:
        if self.name == "scroll":
            self._fifo = self.workdir / "scroll.go"
            self._fifo.unlink(missing_ok=True)
            os.mkfifo(self._fifo)
            self._xterm(
                "150x46+0+0",
                "bench-scroll",
                ["printer", "--fifo", str(self._fifo), "--rate", str(SCROLL_RATE),
                 "--duration", str(self.duration)],
            )  # fmt: skip
        elif self.name == "typing":
            self._terminal = self._xterm("100x30+60+40", "bench-typing", ["editor"])
            subprocess.run(
                ["xdotool", "windowfocus", str(self._terminal)], env=self.env, check=True
            )
        elif self.name in ("photo", "idle"):
            self._xterm("150x46+0+0", "bench-backdrop", ["editor", "--lines", "44"])
            self._photo = self._photo_window()
        else:
            raise ValueError(f"unknown activity {self.name!r}; choose from {ACTIVITIES}")
        time.sleep(1.0)  # let the windows finish drawing (fonts, the photo, expose events)

    def run(self) -> tuple[float, float]:
        """Perform the activity; returns its monotonic (start, end)."""
        if self.name == "scroll":
            assert self._fifo is not None
            with self._fifo.open("w"):  # the printer is blocked opening it; now it starts
                t0 = time.monotonic()
            time.sleep(self.duration)
            return t0, time.monotonic()
        if self.name == "typing":
            text = typing_text(round(self.duration * TYPING_RATE))
            t0 = time.monotonic()
            self.script_cpu_s = run_timed(
                ["xdotool", "type", "--delay", str(XDOTOOL_TYPE_DELAY_MS), text], self.env
            )
            return t0, time.monotonic()
        if self.name == "photo":
            assert self._photo is not None
            argv = ["xdotool", *photo_path_commands(self._photo, self.duration)]
            t0 = time.monotonic()
            self.script_cpu_s = run_timed(argv, self.env)
            return t0, time.monotonic()
        t0 = time.monotonic()
        time.sleep(self.duration)
        return t0, time.monotonic()

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        for pid in self.pids:  # the programs inside the xterms normally die with their pty
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self._fifo is not None:
            self._fifo.unlink(missing_ok=True)
        time.sleep(0.3)  # the X server redraws the uncovered root

    def __enter__(self) -> Scene:
        self.setup()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@contextlib.contextmanager
def scene(name: str, display: str, workdir: Path, duration: float) -> Iterator[Scene]:
    s = Scene(name, display, workdir, duration)
    try:
        s.setup()
        yield s
    finally:
        s.close()


# -- deterministic content -------------------------------------------------------------------------

_WORD_LIST = (
    "request handler cache miss upstream retry latency worker queue flush commit session token "
    "refresh tile encode frame relay viewer presenter socket buffer timeout shard replica lease "
    "checkpoint compaction snapshot index segment bloom filter merge vacuum partition"
)
WORDS = tuple(_WORD_LIST.split())
LEVELS = (("INFO ", 32), ("INFO ", 32), ("INFO ", 32), ("DEBUG", 36), ("WARN ", 33), ("ERROR", 31))
PROSE = (
    "The relay never sees a pixel: every update is sealed on the presenter's machine and opened "
    "only by the viewers in the session. Typing into a terminal changes a few glyphs at a time, "
    "so a good screen codec should send a handful of small tiles per keystroke.\n"
)
CODE = [
    "def encode(self, frame, *, keyframe=False):",
    '    """Encode one captured frame; None when nothing changed."""',
    "    if frame.shape != (self.height, self.width, 3):",
    "        raise ValueError(f'frame is {frame.shape}, expected {self.shape}')",
    "    changed = self._diff(frame) if not keyframe else self._all_tiles()",
    "    if not changed:",
    "        return None",
    "    moves = self._motion.detect(self._previous, frame, changed)",
    "    ops = [self._encode_tile(frame, tile) for tile in changed]",
    "    self._previous = frame",
    "    return EncodedUpdate(b''.join(ops), keyframe=keyframe)",
    "",
]


def log_line(i: int, width: int = 118) -> str:
    rng = random.Random(i)
    level, colour = rng.choice(LEVELS)
    ms = 41_000_000 + i * 33
    stamp = f"2026-11-27 {ms // 3_600_000 % 24:02d}:{ms // 60_000 % 60:02d}:"
    stamp += f"{ms // 1000 % 60:02d}.{ms % 1000:03d}"
    body = f"[worker-{rng.randrange(16):02d}] " + " ".join(
        rng.choice(WORDS) for _ in range(rng.randrange(6, 14))
    )
    body += f" id={rng.getrandbits(40):010x} took {rng.uniform(0.2, 250):.1f} ms"
    return f"{stamp} \x1b[{colour}m{level}\x1b[0m {body}"[: width + 9]


def typing_text(chars: int) -> str:
    text = PROSE * (chars // len(PROSE) + 1)
    return text[:chars]


def photo_path_commands(window: int, duration: float) -> list[str]:
    """xdotool arguments: ``windowmove`` + ``sleep 0.05`` pairs, 8 px apart, bouncing."""
    x, y = PHOTO_RECT[0], PHOTO_RECT[1]
    lo, hi = PHOTO_X_RANGE
    step = PHOTO_STEP_PX
    args: list[str] = []
    for _ in range(round(duration / PHOTO_STEP_S)):
        if not lo <= x + step <= hi:
            step = -step
        x += step
        args += ["windowmove", "--sync", str(window), str(x), str(y), "sleep", str(PHOTO_STEP_S)]
    return args


def photo_pixels(width: int, height: int) -> npt.NDArray[np.uint8]:
    """A photograph-like picture: smooth gradients, low-frequency blotches and fine grain.

    The first two parts are tests/e2e/paint_window.py's photo; the grain (sigma 4) is added so
    that, like a real photograph, neighbouring pixels are rarely identical."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        img[..., c] = 120 + 60 * np.sin(xx / (37 + 9 * c)) + 50 * np.cos(yy / (29 + 7 * c))
    coarse = rng.normal(0, 18, (height // 16 + 2, width // 16 + 2, 3)).astype(np.float32)
    img += np.kron(coarse, np.ones((16, 16, 1), np.float32))[:height, :width]
    img += rng.normal(0, 4, (height, width, 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


# -- the programs inside the windows -------------------------------------------------------------


def _announce(ready: Path) -> None:
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps({"window": int(os.environ["WINDOWID"]), "pid": os.getpid()}) + "\n")
    tmp.replace(ready)


def _sleep_forever() -> None:
    while True:
        time.sleep(3600)


def printer_main(fifo: Path, rate: float, duration: float, ready: Path) -> None:
    out = sys.stdout
    for i in range(60):  # a terminal already full of log, so every new line scrolls it
        out.write(log_line(-60 + i) + "\n")
    out.flush()
    _announce(ready)
    with fifo.open("r"):
        pass
    start = time.monotonic()
    for i in range(round(rate * duration)):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        out.write(log_line(i) + "\n")
        out.flush()
    _sleep_forever()


def editor_main(lines: int, ready: Path) -> None:
    out = sys.stdout
    for i in range(lines):
        out.write(f"{i + 1:4d}  {CODE[i % len(CODE)]}\n")
    out.write(":> ")
    out.flush()
    _announce(ready)
    while sys.stdin.readline():  # the tty echoes what is typed; we only swallow the lines
        pass
    _sleep_forever()


def photo_main(title: str, x: int, y: int, w: int, h: int) -> None:
    import tkinter as tk

    root = tk.Tk()
    root.title(title)
    root.geometry(f"{w}x{h}+{x}+{y}")
    canvas = tk.Canvas(root, width=w, height=h, highlightthickness=0, bd=0)
    canvas.pack(fill="both", expand=True)
    ppm = b"P6 %d %d 255\n" % (w, h) + photo_pixels(w, h).tobytes()
    image = tk.PhotoImage(width=w, height=h, data=ppm, format="ppm")
    canvas.create_image(0, 0, image=image, anchor="nw")
    root.update()
    root.after(200, lambda: print("ready", flush=True))
    root.mainloop()


# -- demo ----------------------------------------------------------------------------------------


def demo(out: Path, duration: float) -> None:
    """Run every activity once on a private Xvfb and save a screenshot before and after."""
    import mss
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    with PrivateXvfb() as xvfb:
        for name in ACTIVITIES:
            with scene(name, xvfb.display, out, duration) as s:
                shots = []
                for when in ("before", "after"):
                    if when == "after":
                        t0, t1 = s.run()
                        print(f"{name}: ran {t1 - t0:.2f} s, script cpu {s.script_cpu_s:.2f} s")
                    with mss.MSS(display=xvfb.display) as m:
                        shot = m.grab({"left": 0, "top": 0, "width": WIDTH, "height": HEIGHT})
                    path = out / f"{name}-{when}.png"
                    Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX").save(path)
                    shots.append(str(path))
                print("  " + ", ".join(shots))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.activity", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("printer", help="(inside an xterm) print log lines after a go signal")
    p.add_argument("--fifo", type=Path, required=True)
    p.add_argument("--rate", type=float, default=SCROLL_RATE)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--ready", type=Path, required=True)
    e = sub.add_parser("editor", help="(inside an xterm) code and a prompt that swallows input")
    e.add_argument("--lines", type=int, default=20)
    e.add_argument("--ready", type=Path, required=True)
    w = sub.add_parser("photo", help="a Tk window showing a photograph-like picture")
    w.add_argument("title")
    w.add_argument("geometry", type=int, nargs=4, metavar="X Y W H")
    d = sub.add_parser("demo", help="run each activity on a private Xvfb, save screenshots")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.command == "printer":
        printer_main(args.fifo, args.rate, args.duration, args.ready)
    elif args.command == "editor":
        editor_main(args.lines, args.ready)
    elif args.command == "photo":
        photo_main(args.title, *args.geometry)
    else:
        demo(args.out, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
