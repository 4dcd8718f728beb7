"""Where `porthole demo`'s time to its session screen goes: the moment each phase is reached.

    python -m bench.startup_timeline               # 5 runs, medians
    python -m bench.startup_timeline --runs 10

Each run starts ``porthole demo`` in a tmux pane (120×40), as ``bench.startup`` does, but through
a probe (``--probe FILE``, this module again) that notes the wall-clock time when a phase is
reached: a module finished importing (a meta-path hook), a method of the app or its network
side was entered or left (wrapped in place). The parent notes the start and the moment the pane
shows the join command. The table gives, per phase, the median time since the start.

The probe's wrappers cost microseconds; the hook's own import time is in "probe started".
Bytecode is cached as in ``bench.startup`` (a fresh ``PYTHONPYCACHEPREFIX``, one uncounted run).
"""

from __future__ import annotations

import argparse
import functools
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import machine_info, median, write_results
from bench.startup import Where, cached_bytecode_env, time_demo_screen

#: Module → phase name, noted when the module has finished importing.
IMPORTS = {
    "tui.cli": "command line parsed",
    "trio": "trio imported",
    "core.client.session": "client library imported",
    "textual.app": "Textual imported",
    "tui.app.launch": "app imported",
}
#: (module, class, method) → {"enter" or "leave": phase name}.
METHODS = {
    ("tui.app.app", "PortholeApp", "on_mount"): {"enter": "app mounted"},
    ("tui.demo_relay", "DemoRelayProcess", "wait_ready"): {"leave": "relay ready"},
    ("tui.app.screens.connect", "ConnectScreen", "on_mount"): {"enter": "starting screen mounted"},
    ("tui.app.driver", "Driver", "login"): {
        "enter": "connected (TLS, Hello)",
        "leave": "logged in",
    },
    ("tui.app.screens.session", "SessionScreen", "on_mount"): {"enter": "session screen mounted"},
}
SHOWN = "join command on screen"


class _Probe(importlib.abc.MetaPathFinder):
    """Notes import ends and wraps the methods of :data:`METHODS` as their modules load."""

    def __init__(self, note: Callable[[str], None]) -> None:
        self.note = note

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        watched = name in IMPORTS or any(owner == name for owner, _, _ in METHODS)
        if not watched:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return None
        loader: Any = spec.loader
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            for (owner, cls, method), phases in METHODS.items():
                found = getattr(module, cls, None) if owner == name else None
                if found is not None and hasattr(found, method):  # an older checkout may lack it
                    _wrap(found, method, phases, self.note)
            if name in IMPORTS:
                self.note(IMPORTS[name])

        loader.exec_module = exec_module
        return spec


def _wrap(cls: type, method: str, phases: dict[str, str], note: Callable[[str], None]) -> None:
    """Replace ``cls.method`` with one that notes ``phases["enter"]``/``["leave"]``."""
    original = getattr(cls, method)

    def mark(moment: str) -> None:
        if moment in phases:
            note(phases[moment])

    if _is_async(original):

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            mark("enter")
            try:
                return await original(*args, **kwargs)
            finally:
                mark("leave")

        setattr(cls, method, wrapper)
        return

    @functools.wraps(original)
    def plain(*args: Any, **kwargs: Any) -> Any:
        mark("enter")
        try:
            return original(*args, **kwargs)
        finally:
            mark("leave")

    setattr(cls, method, plain)


def _is_async(fn: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)


def probe(out: Path, argv: list[str]) -> int:
    """Run ``porthole ARGV`` in this process, noting each phase (first time only) in ``out``."""
    seen: set[str] = set()
    log = out.open("a", buffering=1)

    def note(phase: str) -> None:
        if phase not in seen:
            seen.add(phase)
            log.write(f"{time.time():.4f} {phase}\n")

    note("probe started")
    sys.meta_path.insert(0, _Probe(note))
    from tui.cli import main

    return main(argv)


def one_run(env: dict[str, str]) -> dict[str, float]:
    """One demo in tmux through the probe: seconds from the start to each phase."""
    with tempfile.TemporaryDirectory(prefix="porthole-timeline-") as tmp:
        out = Path(tmp) / "phases"
        probe_command = [sys.executable, "-m", "bench.startup_timeline", "--probe", str(out)]
        start = time.time()
        shown = time_demo_screen(probe_command, Where(env))
        phases: dict[str, float] = {}
        for line in out.read_text().splitlines():
            moment, phase = line.split(" ", 1)
            phases[phase] = float(moment) - start
        phases[SHOWN] = shown
        return phases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.startup_timeline",
        description=(__doc__ or "").split("\n\n", 1)[0],
    )
    parser.add_argument("--runs", type=int, default=5, help="runs (default: %(default)s)")
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.probe is not None:
        return probe(args.probe, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="porthole-bench-bytecode-") as cache:
        env = cached_bytecode_env(Path(cache))
        one_run(env)  # uncounted: fills the bytecode cache
        runs = [one_run(env) for _ in range(args.runs)]
    order = sorted(runs[0], key=lambda phase: median([r.get(phase, 0.0) for r in runs]))
    rows = {}
    print(f"{'phase':<28} {'median':>8} {'min':>8} {'max':>8}")
    for phase in order:
        values = [r[phase] for r in runs if phase in r]
        rows[phase] = {"median_s": median(values), "samples_s": values}
        print(
            f"{phase:<28} {median(values) * 1000:>6.0f}ms {min(values) * 1000:>6.0f}ms "
            f"{max(values) * 1000:>6.0f}ms"
        )
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f}")
    path = write_results(
        "startup_timeline", {"machine": machine_info(), "runs": args.runs, "phases": rows}
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
