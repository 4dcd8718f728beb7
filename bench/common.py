"""What every benchmark shares: machine facts, process CPU from /proc, medians, JSON results."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_DIR = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

MB = 1_000_000
GB = 1_000_000_000
KIB = 1024
MIB = 1024 * 1024


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far, all its threads included.

    Fields 14 and 15 of ``/proc/PID/stat`` (utime, stime), in clock ticks (usually 10 ms).
    The command name (field 2) may contain spaces, so split after its closing parenthesis.
    """
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


@dataclass(frozen=True)
class CpuSample:
    """One reading of a process's CPU: every live thread's run time in nanoseconds (from
    ``/proc/PID/task/TID/schedstat``, the scheduler's exact count) and the clock-tick total of
    :func:`proc_cpu_seconds` (which also holds threads that have exited)."""

    ticks_s: float
    threads: Mapping[int, int]


def cpu_sample(pid: int) -> CpuSample:
    """Read :class:`CpuSample` of ``pid`` (raises OSError when it is gone)."""
    ticks = proc_cpu_seconds(pid)
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            threads[int(task.name)] = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
    return CpuSample(ticks, threads)


def cpu_seconds_between(before: CpuSample, after: CpuSample) -> float:
    """CPU seconds a process used between two samples.

    Exact (nanoseconds) when every thread of ``before`` is still alive in ``after`` (threads
    born in between count from zero); otherwise the clock-tick difference, which counts the
    threads that ended but only to 10 ms. Ticks alone made a 10-second window of a process at
    0.5 % of a core (50 ms) uncertain by a fifth.
    """
    if before.threads and before.threads.keys() <= after.threads.keys():
        return (sum(after.threads.values()) - sum(before.threads.values())) / 1e9
    return after.ticks_s - before.ticks_s


def self_cpu_seconds() -> float:
    """CPU seconds of this process (all threads), at full resolution."""
    return time.process_time()


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed_runs(fn: Callable[[], object], *, repeats: int, number: int) -> list[float]:
    """Seconds per call of ``fn``, measured ``repeats`` times over ``number`` calls each."""
    out: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - start) / number)
    return out


def calibrate(fn: Callable[[], object], target_seconds: float) -> int:
    """How many calls of ``fn`` take about ``target_seconds`` (at least one)."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= target_seconds / 4 or number >= 1 << 20:
            return max(1, round(number * target_seconds / max(elapsed, 1e-9)))
        number *= 4


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine_info() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "load_average": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "openssl": __import__("ssl").OPENSSL_VERSION,
        "packages": {p: _package(p) for p in ("porthole", "cryptography", "trio", "spake2")},
        "git_commit": _git_commit(),
    }


def utc_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def write_results(name: str, payload: dict[str, Any], *, directory: Path | None = None) -> Path:
    """Write ``payload`` as ``<directory>/<name>-<UTC timestamp>.json``; return the path."""
    target = directory or RESULTS_DIR
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}-{utc_stamp()}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path


def size_label(size: int) -> str:
    if size % MIB == 0:
        return f"{size // MIB} MiB"
    if size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size} B"


def parse_size(text: str) -> int:
    """``4k``/``4KiB``/``64K``/``1m``/``1MiB``/``4096`` → bytes (binary units)."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    factor = 1
    if t.endswith("k"):
        factor, t = KIB, t[:-1]
    elif t.endswith("m"):
        factor, t = MIB, t[:-1]
    value = int(t) * factor
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return value
