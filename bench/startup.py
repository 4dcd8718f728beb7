"""How fast each command answers a person: `--help`, the first byte on the wire, the demo screen.

    python -m bench.startup               # 10 rounds (about a minute on 2 cores)
    python -m bench.startup --rounds 20
    python -m bench.startup --before DIR  # also the same commands from another checkout (e.g.
                                          # `git worktree add DIR OLD_COMMIT`), interleaved

Every figure is a median over ``--rounds`` rounds; each round runs every measurement once, in
turn, so a busy moment of this shared machine falls on all of them alike. Beside them, the same
rounds time ``python -c "import argparse, json, ssl"``: the floor any Python command pays (the
interpreter, ``site`` and the standard library a CLI needs), and the yardstick of the goals.

* **help**: ``porthole --help``, ``porthole view --help`` and ``porthole-relay --help`` as
  subprocesses, start to exit. Goal: at most 3× the baseline.
* **first byte**: ``porthole view --headless LINK`` against a plain TCP listener on loopback,
  from the start of the process to the first byte the listener receives (the TLS ClientHello).
  The listener never answers, so only the client's own start-up is measured. Goal: ≤ 0.5 s.
* **demo screen**: ``porthole demo`` in a tmux pane (a real terminal, 120×40) from the start to
  the moment the pane shows the session screen's join command, polled every 10 ms; the demo
  starts its embedded relay (certificate, account) on the way. Goal: ≤ 1 s.

Every command runs with its bytecode cached, as after ``pip install`` (which compiles it): the
commands share a fresh ``PYTHONPYCACHEPREFIX`` directory, ``PYTHONDONTWRITEBYTECODE`` is dropped
from their environment, and one uncounted round fills the cache first. Without that, an
environment that sets ``PYTHONDONTWRITEBYTECODE`` (ours does) compiles every porthole module from
source on every run: some 120 ms more on the first byte, which no user pays.

With ``--before``, the report adds for each command the median of its per-round ratios to the
same command from the other checkout, run seconds apart in the same round.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import machine_info, median, write_results

GOALS = {"help_ratio": 3.0, "first_byte_s": 0.5, "demo_screen_s": 1.0}


def tmux(name: str) -> list[str]:
    """tmux on a server of its own for the session ``name`` (``-L``): the default server is
    shared with whatever else runs tmux here, and a server still exiting after its last
    session was killed fails the next ``new-session`` ("server exited unexpectedly")."""
    return ["tmux", "-L", name]


def program(name: str, module: str) -> list[str]:
    """The console script as a person types it, or ``python -m MODULE`` when not installed."""
    path = shutil.which(name)
    return [path] if path else [sys.executable, "-m", module]


@dataclass(frozen=True)
class Where:
    """How to run the commands: their environment, and the checkout they run from (``python -m``
    puts the working directory first on the path), or None for the installed code."""

    env: dict[str, str]
    checkout: Path | None = None

    @property
    def cwd(self) -> str | None:
        return None if self.checkout is None else str(self.checkout)


def cached_bytecode_env(cache: Path) -> dict[str, str]:
    """This environment, with bytecode written to and read from ``cache`` (see the docstring)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(cache)}


def checkout_where(checkout: Path, env: dict[str, str]) -> Where:
    """Run ``python -m`` from ``checkout`` instead of the installed code."""
    resolved = checkout.resolve()
    return Where({**env, "PYTHONPATH": str(resolved)}, resolved)


def time_run(argv: list[str], where: Where) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        env=where.env,
        cwd=where.cwd,
    )
    return time.perf_counter() - start


def time_first_byte(porthole: list[str], where: Where) -> float:
    """Seconds from starting the headless viewer to its first byte on a loopback listener."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        link = f"porthole://127.0.0.1:{port}/123456789?fp={secrets.token_hex(32)}"
        argv = [*porthole, "view", "--headless", link, "--transport", "tls"]
        listener.settimeout(30)
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=where.env, cwd=where.cwd
        )
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(30)
                if not conn.recv(1):
                    raise RuntimeError("the viewer connected but sent nothing")
                elapsed = time.perf_counter() - start
        finally:
            proc.kill()
            proc.wait()
    return elapsed


def time_demo_screen(porthole: list[str], where: Where, marker: str = "porthole join") -> float:
    """Seconds from `porthole demo` to its session screen showing the join command."""
    name = f"bench-demo-{secrets.token_hex(4)}"
    command = " ".join(shlex.quote(part) for part in [*porthole, "demo"])
    # The tmux server gives a new pane its own environment, not ours: pass what matters.
    settings = ["-u", "PYTHONDONTWRITEBYTECODE"]
    for key in ("PYTHONPYCACHEPREFIX", "PYTHONPATH"):
        if key in where.env:
            settings.append(f"{key}={where.env[key]}")
    command = f"env {' '.join(shlex.quote(part) for part in settings)} {command}"
    if where.cwd is not None:
        command = f"cd {shlex.quote(where.cwd)} && {command}"
    start = time.perf_counter()
    subprocess.run(
        [*tmux(name), "new-session", "-d", "-s", name, "-x", "120", "-y", "40", command], check=True
    )
    try:
        deadline = start + 30
        while time.perf_counter() < deadline:
            pane = subprocess.run(
                [*tmux(name), "capture-pane", "-p", "-t", name], capture_output=True, text=True
            ).stdout
            if marker in pane:
                return time.perf_counter() - start
            time.sleep(0.01)
        raise RuntimeError(f"`porthole demo` never showed {marker!r}; the pane:\n{pane}")
    finally:
        subprocess.run([*tmux(name), "kill-server"], capture_output=True)


def program_steps(
    porthole: list[str], relay: list[str], where: Where, suffix: str = ""
) -> dict[str, Callable[[], float]]:
    steps: dict[str, Callable[[], float]] = {
        f"porthole --help{suffix}": lambda: time_run([*porthole, "--help"], where),
        f"porthole view --help{suffix}": lambda: time_run([*porthole, "view", "--help"], where),
        f"porthole-relay --help{suffix}": lambda: time_run([*relay, "--help"], where),
        f"first byte{suffix}": lambda: time_first_byte(porthole, where),
    }
    if shutil.which("tmux"):
        steps[f"demo screen{suffix}"] = lambda: time_demo_screen(porthole, where)
    return steps


def measure(rounds: int, before: Path | None) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="porthole-bench-bytecode-") as cache:
        return measure_with(rounds, before, cached_bytecode_env(Path(cache)))


def measure_with(rounds: int, before: Path | None, env: dict[str, str]) -> dict[str, list[float]]:
    now = Where(env)
    steps: dict[str, Callable[[], float]] = {
        "baseline": lambda: time_run([sys.executable, "-c", "import argparse, json, ssl"], now),
    }
    steps.update(
        program_steps(program("porthole", "tui.cli"), program("porthole-relay", "relay.cli"), now)
    )
    if before is not None:
        steps.update(
            program_steps(
                [sys.executable, "-m", "tui.cli"],
                [sys.executable, "-m", "relay.cli"],
                checkout_where(before, env),
                suffix=" (before)",
            )
        )
    if not shutil.which("tmux"):
        print("tmux is not installed: the demo screen is not measured", file=sys.stderr)
    for step in steps.values():
        step()  # the uncounted round: it writes the bytecode cache
    print("bytecode cached", file=sys.stderr, flush=True)
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for done in range(rounds):
        for name, step in steps.items():
            samples[name].append(step())
        print(f"round {done + 1}/{rounds}", file=sys.stderr, flush=True)
    return samples


def report(samples: dict[str, list[float]]) -> dict[str, Any]:
    baseline = median(samples["baseline"])
    rows: dict[str, Any] = {}
    print(f"{'what':<33} {'median':>9} {'min':>9} {'max':>9}  vs baseline  goal")
    for name, values in samples.items():
        mid = median(values)
        ratio = mid / baseline
        if name.endswith("(before)"):
            goal = ""
        elif name.endswith("--help"):
            goal = f"≤ {GOALS['help_ratio']:.0f}× baseline: {'met' if ratio <= 3 else 'MISSED'}"
        elif name == "first byte":
            goal = f"≤ 0.5 s: {'met' if mid <= GOALS['first_byte_s'] else 'MISSED'}"
        elif name == "demo screen":
            goal = f"≤ 1 s: {'met' if mid <= GOALS['demo_screen_s'] else 'MISSED'}"
        else:
            goal = ""
        rows[name] = {"median_s": mid, "ratio_to_baseline": ratio, "samples_s": values}
        print(
            f"{name:<33} {mid * 1000:>7.0f}ms {min(values) * 1000:>7.0f}ms "
            f"{max(values) * 1000:>7.0f}ms  {ratio:>10.2f}×  {goal}"
        )
    paired = paired_ratios(samples)
    if paired:
        print("now / before, median of the per-round ratios (both ran in the same round):")
        for name, ratio in paired.items():
            rows[name]["ratio_to_before"] = ratio
            print(f"  {name:<31} {ratio:.2f}×")
    return rows


def paired_ratios(samples: dict[str, list[float]]) -> dict[str, float]:
    """For each measurement also taken ``(before)``: the median over rounds of now / before.

    On a machine whose load drifts, a ratio of two medians can compare a quiet stretch with a
    busy one; the two runs of one round are seconds apart, so their ratio is the fairer figure.
    """
    return {
        name: median(
            [now / then for now, then in zip(values, samples[f"{name} (before)"], strict=True)]
        )
        for name, values in samples.items()
        if f"{name} (before)" in samples
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.startup",
        description=(__doc__ or "").split("\n\n", 1)[0],
    )
    parser.add_argument("--rounds", type=int, default=10, help="rounds (default: %(default)s)")
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="also time the same commands run from this checkout (python -m, PYTHONPATH=DIR)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.before is not None and not (args.before / "tui" / "cli.py").is_file():
        parser.error(f"--before: {args.before} is not a porthole checkout (no tui/cli.py)")
    samples = measure(args.rounds, args.before)
    rows = report(samples)
    path = write_results(
        "startup",
        {
            "machine": machine_info(),
            "rounds": args.rounds,
            "before": None if args.before is None else str(args.before),
            "goals": GOALS,
            "results": rows,
        },
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
