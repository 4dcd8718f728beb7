"""One member must not slow everyone: three viewers' update rate beside a slow or pushy fourth.

    python -m bench.slow_member                   # 5 repetitions, 8 s windows (~6 min)
    python -m bench.slow_member --quick           # 2 repetitions, 5 s windows (~2.5 min)
    python -m bench.slow_member --code DIR        # presenter, viewers and relay from another
                                                  # checkout (git worktree add DIR OLD)
    python -m bench.slow_member --help            # every option

A real relay (``porthole-relay serve``), a real presenter (``porthole present --headless``
through ``bench.probe``) sharing a private Xvfb where ``bench.activity``'s ``scroll`` scene runs
(a terminal printing 30 log lines a second) with a small window of changing noise over it
(``python -m bench.slow_member video``, 128x96, 8 frames a second: together some 400 kB/s of
updates, more than the slow link carries), and three real headless viewers (``porthole view
--headless`` through ``bench.probe``, which logs the arrival of every update). Each repetition
measures, in an order that rotates:

* ``base``: the three viewers alone;
* ``slow``: plus a fourth headless viewer whose connection goes through :class:`~bench.throttle.
  Throttle` at ``--slow-rate`` bytes a second (150 kB/s);
* ``spam``: plus a member (``bench/refresh_spammer.py``, the client library) that asks
  the presenter for a keyframe ``--spam-rate`` times a second (4) with reason ``GAP``, the
  request that used to halve the presenter's frame rate.

The extra member joins, ``--settle`` seconds pass (its join re-keys the session, which costs a
keyframe; the slow viewer gets ``--slow-settle``, time for a relay to start dropping updates for
it), then the window of ``--window`` seconds is measured, then it leaves. A normal
viewer's **update rate** is the updates it applied per second in the window (from the probe
log); the figure per window is the median over the three; ratios (``slow ÷ base``, ``spam ÷
base``) are taken within a repetition and their median reported. Nothing is asserted: this
measures, with other jobs on the machine (the load average is recorded).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.activity import PrivateXvfb, child_env, scene, stop_process
from bench.common import machine_info, write_results
from bench.throttle import Throttle
from bench.vs_vnc import (
    ORGANIZER,
    ORGANIZER_PASSWORD,
    SESSION_PASSWORD,
    START_TIMEOUT,
    Child,
    read_probe,
    start_relay,
)

CONDITIONS = ("base", "slow", "spam")
#: Where the video plays, over the scrolling terminal (x, y, width, height), and its frames.
VIDEO_RECT = (760, 40, 128, 96)
VIDEO_FRAMES = 12
NORMAL_VIEWERS = 3


@dataclass(frozen=True)
class Settings:
    repeats: int = 5
    window: float = 8.0
    settle: float = 3.0
    #: How long the slow viewer is connected before its window: its relay queue must fill
    #: before the relay drops anything for it.
    slow_settle: float = 30.0
    fps: float = 15.0
    slow_rate: float = 150_000.0
    spam_rate: float = 4.0
    code: str | None = None
    activity: str = "scroll"
    #: Frames a second of the video window over the activity (0: none).
    video_rate: float = 8.0


QUICK = Settings(repeats=2, window=5.0)


# -- the extra members -----------------------------------------------------------------------------


# ``-P``: the modules come from PYTHONPATH (``--code DIR`` first), not from the current directory.


def start_viewer(name: str, link: str, workdir: Path, env: dict[str, str]) -> tuple[Child, Path]:
    log = workdir / f"{name}.probe"
    argv = [
        sys.executable, "-P", "-m", "bench.probe", "--log", str(log),
        "view", "--headless", link, "--session-password-file", str(workdir / "session-password"),
        "--stats", "--name", name,
    ]  # fmt: skip
    child = Child(name, argv, env, workdir)
    child.expect('"event":"joined"', timeout=START_TIMEOUT)
    return child, log


def start_spammer(link: str, rate: float, workdir: Path, env: dict[str, str]) -> Child:
    # By path and with -P: bench/refresh_spammer.py imports only the client library, which
    # comes from PYTHONPATH (with --code, the other checkout's, so that it speaks its protocol).
    argv = [
        sys.executable, "-P", str(Path(__file__).with_name("refresh_spammer.py")), link,
        "--session-password-file", str(workdir / "session-password"), "--rate", f"{rate:g}",
    ]  # fmt: skip
    child = Child("spammer", argv, env, workdir)
    child.expect('"event":"spamming"', timeout=START_TIMEOUT)
    return child


# -- a video: more than a slow link carries --------------------------------------------------------


def video_main(argv: list[str]) -> int:
    """A small Tk window showing a new frame of noise ``rate`` times a second: every pixel
    changes and nothing compresses, so it is a few tens of kB an update at little CPU (a
    photograph of the same byte rate would cost the encoder and every decoder far more, and
    on a loaded machine the benchmark would measure starvation instead)."""
    import tkinter as tk

    import numpy as np

    x, y, w, h = (int(v) for v in argv[:4])
    rate = float(argv[4])
    root = tk.Tk()
    root.title("bench-video")
    root.geometry(f"{w}x{h}+{x}+{y}")
    canvas = tk.Canvas(root, width=w, height=h, highlightthickness=0, bd=0)
    canvas.pack(fill="both", expand=True)
    rng = np.random.default_rng(17)
    images = []
    for _ in range(VIDEO_FRAMES):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ppm = b"P6 %d %d 255\n" % (w, h) + pixels.tobytes()
        images.append(tk.PhotoImage(width=w, height=h, data=ppm, format="ppm"))
    item = canvas.create_image(0, 0, image=images[0], anchor="nw")
    started = time.monotonic()

    def tick(n: int) -> None:
        canvas.itemconfigure(item, image=images[n % VIDEO_FRAMES])
        delay = started + (n + 1) / rate - time.monotonic()
        root.after(max(1, int(delay * 1000)), tick, n + 1)

    root.update()
    root.after(200, lambda: print("ready", flush=True))
    root.after(300, tick, 1)
    root.mainloop()
    return 0


def start_video(s: Settings, env: dict[str, str]) -> subprocess.Popen[bytes]:
    x, y, w, h = VIDEO_RECT
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.slow_member", "video", str(x), str(y), str(w), str(h),
         f"{s.video_rate:g}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    if not proc.stdout.readline().startswith(b"ready"):
        raise RuntimeError("the video window did not start")
    return proc


# -- the measurement -------------------------------------------------------------------------------


def start_presenter(
    relay_port: int, fingerprint: str, s: Settings, workdir: Path, env: dict[str, str]
) -> tuple[Child, str]:
    (workdir / "session-password").write_text(SESSION_PASSWORD + "\n")
    argv = [
        sys.executable, "-P", "-m", "bench.probe", "--log", str(workdir / "presenter.probe"),
        "present", "--headless", "--relay", f"127.0.0.1:{relay_port}",
        "--fingerprint", fingerprint, "--user", ORGANIZER, "--password-stdin",
        "--session-password-file", str(workdir / "session-password"),
        "--monitor", "1", "--fps", f"{s.fps:g}", "--stats",
    ]  # fmt: skip
    child = Child("presenter", argv, env, workdir, stdin_text=ORGANIZER_PASSWORD)
    link = child.expect(r'"link":"([^"]+)"').group(1)
    return child, link


def applied_between(log: Path, t0: float, t1: float) -> tuple[int, int]:
    """Updates applied, and keyframes among them, that arrived within [t0, t1)."""
    updates = [u for u in read_probe(log)[1] if t0 <= u.t < t1 and u.applied]
    return len(updates), sum(u.keyframe for u in updates)


def last_stats(child: Child) -> dict[str, Any] | None:
    for _, line in reversed(child.lines):
        if '"event":"stats"' in line:
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    return None


def events(child: Child, name: str) -> list[dict[str, Any]]:
    found = []
    for _, line in list(child.lines):
        if line.startswith("{") and f'"event":"{name}"' in line:
            found.append(json.loads(line))
    return found


def slow_link(link: str, port: int) -> str:
    """The same join link through the throttle's port."""
    head, _, rest = link.partition("://")
    address, _, tail = rest.partition("/")
    host = address.rsplit(":", 1)[0]
    return f"{head}://{host}:{port}/{tail}"


@contextlib.contextmanager
def extra_member(
    condition: str,
    link: str,
    relay_port: int,
    s: Settings,
    workdir: Path,
    env: dict[str, str],
    label: str,
) -> Iterator[dict[str, Any]]:
    """Start the extra member of ``condition`` (none for base); yields a dict to fill in."""
    info: dict[str, Any] = {}
    if condition == "base":
        yield info
        return
    if condition == "slow":
        throttle = Throttle(relay_port, s.slow_rate)
        child, log = start_viewer(f"slow-{label}", slow_link(link, throttle.port), workdir, env)
        info["log"] = log
        try:
            yield info
        finally:
            info["delivered_bytes"] = throttle.delivered
            child.stop()
            throttle.close()
        return
    child = start_spammer(link, s.spam_rate, workdir, env)
    try:
        yield info
    finally:
        child.stop()
        sent = events(child, "sent")
        info["spam_requests"] = sent[-1]["requests"] if sent else None


def measure(s: Settings, workdir: Path) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    per_round = 2 * s.settle + s.slow_settle + len(CONDITIONS) * (s.window + 3)
    duration = s.repeats * per_round + 120
    with PrivateXvfb() as xvfb:
        env = child_env(xvfb.display)
        if s.code:
            env["PYTHONPATH"] = os.pathsep.join([s.code, env["PYTHONPATH"]])
        relay = start_relay(workdir, env)
        with scene(s.activity, xvfb.display, workdir, duration) as activity:
            threading.Thread(target=activity.run, daemon=True).start()
            video = start_video(s, env) if s.video_rate > 0 else None
            presenter, link = start_presenter(relay.port, relay.fingerprint, s, workdir, env)
            viewers = [
                start_viewer(f"viewer-{i}", link, workdir, env) for i in range(NORMAL_VIEWERS)
            ]
            try:
                time.sleep(s.settle)
                for rep in range(s.repeats):
                    order = CONDITIONS[rep % 3 :] + CONDITIONS[: rep % 3]
                    for condition in order:
                        rounds.append(
                            one_window(
                                rep,
                                condition,
                                link,
                                relay.port,
                                s,
                                workdir,
                                env,
                                presenter,
                                viewers,
                            )
                        )
            finally:
                for child, _ in viewers:
                    child.stop()
                presenter.stop()
                relay.child.stop()
                if video is not None:
                    stop_process(video)
    return {"rounds": rounds, "limited_events": events(presenter, "refresh-limited")}


def one_window(
    rep: int,
    condition: str,
    link: str,
    relay_port: int,
    s: Settings,
    workdir: Path,
    env: dict[str, str],
    presenter: Child,
    viewers: list[tuple[Child, Path]],
) -> dict[str, Any]:
    label = f"{rep}-{condition}"
    with extra_member(condition, link, relay_port, s, workdir, env, label) as info:
        time.sleep(s.slow_settle if condition == "slow" else s.settle)
        before = last_stats(presenter)
        t0 = time.monotonic()
        time.sleep(s.window)
        t1 = time.monotonic()
        after = last_stats(presenter)
    counts = [applied_between(log, t0, t1) for _, log in viewers]
    rates = [n / (t1 - t0) for n, _ in counts]
    row: dict[str, Any] = {
        "rep": rep,
        "condition": condition,
        "seconds": t1 - t0,
        "viewer_rates": rates,
        "median_rate": statistics.median(rates),
        "viewer_keyframes": [k for _, k in counts],
        "load_average": os.getloadavg()[0],
    }
    if before is not None and after is not None:
        row["presenter_keyframes"] = after["keyframes"] - before["keyframes"]
        row["presenter_updates"] = after["updates"] - before["updates"]
        row["presenter_bytes_per_s"] = (after["bytes"] - before["bytes"]) / (t1 - t0)
        row["presenter_fps_end"] = after["fps"]
        if after.get("refreshes") and before.get("refreshes"):
            row["refreshes"] = {
                k: after["refreshes"][k] - before["refreshes"][k] for k in after["refreshes"]
            }
    if "log" in info:
        n, k = applied_between(info["log"], t0, t1)
        row["slow_rate"] = n / (t1 - t0)
        row["slow_keyframes"] = k
    for key in ("delivered_bytes", "spam_requests"):
        if key in info:
            row[key] = info[key]
    print(
        f"[{label}] normal viewers {statistics.median(rates):5.1f} updates/s "
        f"(each {', '.join(f'{r:.1f}' for r in rates)})"
        + (f", slow viewer {row['slow_rate']:.1f}/s" if "slow_rate" in row else "")
        + (f", presenter keyframes {row.get('presenter_keyframes')}" if before else "")
        + f", load {row['load_average']:.1f}",
        flush=True,
    )
    return row


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    by_rep: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rounds:
        by_rep.setdefault(row["rep"], {})[row["condition"]] = row
    ratios: dict[str, list[float]] = {"slow": [], "spam": []}
    for rows in by_rep.values():
        base = rows.get("base", {}).get("median_rate")
        for condition in ratios:
            if base and condition in rows:
                ratios[condition].append(rows[condition]["median_rate"] / base)

    def med(condition: str, key: str) -> float | None:
        values = [r[key] for r in rounds if r["condition"] == condition and key in r]
        return statistics.median(values) if values else None

    return {
        "median_rate": {c: med(c, "median_rate") for c in CONDITIONS},
        "ratio": {c: statistics.median(v) if v else None for c, v in ratios.items()},
        "ratios": ratios,
        "presenter_keyframes": {c: med(c, "presenter_keyframes") for c in CONDITIONS},
        "slow_viewer_rate": med("slow", "slow_rate"),
        "slow_viewer_keyframes": med("slow", "slow_keyframes"),
    }


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["video"]:
        return video_main(args_list[1:])
    parser = argparse.ArgumentParser(
        prog="python -m bench.slow_member", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="2 repetitions, 5 s windows")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--window", type=float, help="seconds measured per condition")
    parser.add_argument("--code", metavar="DIR", help="run presenter/viewers/relay from DIR")
    parser.add_argument("--slow-rate", type=float, help="the slow link, bytes a second")
    parser.add_argument("--spam-rate", type=float, help="keyframe requests a second")
    parser.add_argument("--activity", choices=("scroll", "photo", "typing"))
    parser.add_argument("--fps", type=float, help="the presenter's target frame rate")
    parser.add_argument("--slow-settle", type=float, help="seconds the slow viewer is on first")
    parser.add_argument("--video-rate", type=float, help="video frames a second (0: no video)")
    args = parser.parse_args(args_list)
    s = QUICK if args.quick else Settings()
    changes = {
        "repeats": args.repeats, "window": args.window, "code": args.code,
        "slow_rate": args.slow_rate, "spam_rate": args.spam_rate, "activity": args.activity,
        "video_rate": args.video_rate,
        "slow_settle": args.slow_settle,
        "fps": args.fps,
    }  # fmt: skip
    s = Settings(**{**s.__dict__, **{k: v for k, v in changes.items() if v is not None}})
    import tempfile

    with tempfile.TemporaryDirectory(prefix="porthole-slow-member-") as tmp:
        machine = machine_info()
        result = measure(s, Path(tmp))
    summary = summarize(result["rounds"])
    payload = {"settings": s.__dict__, "machine": machine, "summary": summary, **result}
    path = write_results("slow_member", payload)
    print()
    print("| condition | normal viewers' updates/s (median) | ÷ base (median of same-run ratios) "
          "| presenter keyframes per window |")  # fmt: skip
    print("| --- | ---: | ---: | ---: |")
    for c in CONDITIONS:
        rate = summary["median_rate"][c]
        ratio = summary["ratio"].get(c)
        kf = summary["presenter_keyframes"][c]
        print(
            f"| {c} | {rate:.2f} | {'1.00' if c == 'base' else f'{ratio:.2f}' if ratio else '-'} "
            f"| {kf if kf is not None else '-'} |"
        )
    slow = summary["slow_viewer_rate"]
    if slow is not None:
        print(f"\nslow viewer itself: {slow:.2f} updates/s, "
              f"{summary['slow_viewer_keyframes']} keyframes per window (median)")  # fmt: skip
    print(f"refresh-limited events from the presenter: {len(result['limited_events'])}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
