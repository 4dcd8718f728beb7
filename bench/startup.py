"""How fast each command answers a person: `--help`, the first byte on the wire, the demo screen.

    python -m bench.startup               # 10 rounds (about a minute on 2 cores)
    python -m bench.startup --rounds 20

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
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import machine_info, median, write_results

GOALS = {"help_ratio": 3.0, "first_byte_s": 0.5, "demo_screen_s": 1.0}


def program(name: str, module: str) -> list[str]:
    """The console script as a person types it, or ``python -m MODULE`` when not installed."""
    path = shutil.which(name)
    return [path] if path else [sys.executable, "-m", module]


def time_run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def time_first_byte(porthole: list[str]) -> float:
    """Seconds from starting the headless viewer to its first byte on a loopback listener."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        link = f"porthole://127.0.0.1:{port}/123456789?fp={secrets.token_hex(32)}"
        argv = [*porthole, "view", "--headless", link, "--transport", "tls"]
        listener.settimeout(30)
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def time_demo_screen(porthole: list[str], marker: str = "porthole join") -> float:
    """Seconds from `porthole demo` to its session screen showing the join command."""
    name = f"bench-demo-{secrets.token_hex(4)}"
    command = " ".join(porthole) + " demo"
    start = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", command], check=True
    )
    try:
        deadline = start + 30
        while time.perf_counter() < deadline:
            pane = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True
            ).stdout
            if marker in pane:
                return time.perf_counter() - start
            time.sleep(0.01)
        raise RuntimeError(f"`porthole demo` never showed {marker!r}; the pane:\n{pane}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def measure(rounds: int) -> dict[str, list[float]]:
    porthole = program("porthole", "tui.cli")
    relay = program("porthole-relay", "relay.cli")
    steps: dict[str, Callable[[], float]] = {
        "baseline": lambda: time_run([sys.executable, "-c", "import argparse, json, ssl"]),
        "porthole --help": lambda: time_run([*porthole, "--help"]),
        "porthole view --help": lambda: time_run([*porthole, "view", "--help"]),
        "porthole-relay --help": lambda: time_run([*relay, "--help"]),
        "first byte": lambda: time_first_byte(porthole),
    }
    if shutil.which("tmux"):
        steps["demo screen"] = lambda: time_demo_screen(porthole)
    else:
        print("tmux is not installed: the demo screen is not measured", file=sys.stderr)
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for done in range(rounds):
        for name, step in steps.items():
            samples[name].append(step())
        print(f"round {done + 1}/{rounds}", file=sys.stderr, flush=True)
    return samples


def report(samples: dict[str, list[float]]) -> dict[str, Any]:
    baseline = median(samples["baseline"])
    rows: dict[str, Any] = {}
    print(f"{'what':<24} {'median':>9} {'min':>9} {'max':>9}  vs baseline  goal")
    for name, values in samples.items():
        mid = median(values)
        ratio = mid / baseline
        if name.endswith("--help"):
            goal = f"≤ {GOALS['help_ratio']:.0f}× baseline: {'met' if ratio <= 3 else 'MISSED'}"
        elif name == "first byte":
            goal = f"≤ 0.5 s: {'met' if mid <= GOALS['first_byte_s'] else 'MISSED'}"
        elif name == "demo screen":
            goal = f"≤ 1 s: {'met' if mid <= GOALS['demo_screen_s'] else 'MISSED'}"
        else:
            goal = ""
        rows[name] = {"median_s": mid, "ratio_to_baseline": ratio, "samples_s": values}
        print(
            f"{name:<24} {mid * 1000:>7.0f}ms {min(values) * 1000:>7.0f}ms "
            f"{max(values) * 1000:>7.0f}ms  {ratio:>10.2f}×  {goal}"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.startup",
        description=(__doc__ or "").split("\n\n", 1)[0],
    )
    parser.add_argument("--rounds", type=int, default=10, help="rounds (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    samples = measure(args.rounds)
    rows = report(samples)
    path = write_results(
        "startup",
        {"machine": machine_info(), "rounds": args.rounds, "goals": GOALS, "results": rows},
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
