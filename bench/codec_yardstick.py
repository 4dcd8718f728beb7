"""Codec yardstick: the screen codec on the team's six deterministic screen sequences.

    python -m bench.codec_yardstick                 # six sequences x 60 frames, about 10 s
    python -m bench.codec_yardstick --quick         # 20 frames, fewer repeats (smoke)
    python -m bench.codec_yardstick --ablation      # also no motion, lossless, refine_after=5

The sequences come from ``make_screens.py`` (``shared/screens`` beside the repository; override
with ``--screens-dir`` or ``$PORTHOLE_SCREENS``). For every sequence, our codec and a BASELINE
(plain per-tile WebP-lossless, ``method=0``, on the 64x64 tiles that changed) are run on the same
frames:

* compression ratio = raw bytes of the changed frames (W*H*3 for every frame that differs from
  its predecessor, the first frame included) / encoded bytes;
* encode ms/frame: median over every frame of the sequence (unchanged frames included: they
  are part of the job, and should cost next to nothing);
* decode ms/frame: median over the updates our decoder applied;
* PSNR of what the viewer shows against the captured frame, per frame, min and mean ("exact"
  when every frame decoded pixel-exact).

Then a 1920x1080 keyframe (text-like and photo-like) is encoded ``--repeats`` times: the codec's
budget is 150 ms. Nothing is asserted; results go to stdout (a table) and
``bench/results/codec_yardstick-<UTC>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

from bench.common import machine_info, median, write_results
from core.codec import Decoder, Encoder

Frame = npt.NDArray[np.uint8]

BASELINE_TILE = 64
KEYFRAME_SIZE = (1920, 1080)
SCREENS_ENV = "PORTHOLE_SCREENS"
#: What the team measured for the baseline (60 frames): a sanity check, not a target.
TEAM_BASELINE = {"terminal-scroll": 36.0, "typing": 894.0, "window-drag": 9.0}


def default_screens_dir() -> Path:
    env = os.environ.get(SCREENS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "screens"


def load_make_screens(directory: Path) -> ModuleType:
    if not (directory / "make_screens.py").is_file():
        raise SystemExit(
            f"make_screens.py not found in {directory}; pass --screens-dir or set ${SCREENS_ENV}"
        )
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module("make_screens")
    finally:
        sys.path.remove(str(directory))


def psnr(a: Frame, b: Frame) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def raw_changed_bytes(frames: Sequence[Frame]) -> tuple[int, int]:
    changed = sum(1 for i, f in enumerate(frames) if i == 0 or not np.array_equal(f, frames[i - 1]))
    return changed, changed * frames[0].nbytes


def run_ours(frames: Sequence[Frame], **options: Any) -> dict[str, Any]:
    h, w = frames[0].shape[:2]
    encoder = Encoder(w, h, **options)
    decoder = Decoder()
    enc_ms: list[float] = []
    dec_ms: list[float] = []
    psnrs: list[float] = []
    total = keyframe_bytes = 0
    ops: Counter[str] = Counter()
    for frame in frames:
        start = time.perf_counter()
        update = encoder.encode(frame)
        enc_ms.append((time.perf_counter() - start) * 1000)
        if update is not None:
            total += len(update.data)
            if update.keyframe:
                keyframe_bytes += len(update.data)
            ops.update({kind.name: n for kind, n in update.ops.items()})
            start = time.perf_counter()
            decoder.apply(update.data, keyframe=update.keyframe)
            dec_ms.append((time.perf_counter() - start) * 1000)
        shown = decoder.frame
        assert shown is not None
        psnrs.append(psnr(shown, frame))
    finite = [p for p in psnrs if p != float("inf")]
    return {
        "bytes": total,
        "keyframe_bytes": keyframe_bytes,
        "updates": encoder.statistics().updates,
        "encode_ms_median": median(enc_ms),
        "encode_ms_mean": sum(enc_ms) / len(enc_ms),
        "encode_ms_max": max(enc_ms),
        "decode_ms_median": median(dec_ms),
        "decode_ms_max": max(dec_ms) if dec_ms else 0.0,
        "psnr_min_db": min(finite) if finite else None,
        "psnr_mean_db": sum(finite) / len(finite) if finite else None,
        "exact_frames": len(psnrs) - len(finite),
        "ops": dict(ops),
    }


def run_baseline(frames: Sequence[Frame]) -> dict[str, Any]:
    """Per-tile WebP lossless (method 0) of every 64x64 tile that differs from the last frame."""
    t = BASELINE_TILE
    h, w = frames[0].shape[:2]
    previous: Frame | None = None
    total = 0
    enc_ms: list[float] = []
    for frame in frames:
        start = time.perf_counter()
        for y in range(0, h, t):
            for x in range(0, w, t):
                tile = frame[y : y + t, x : x + t]
                if previous is not None and np.array_equal(tile, previous[y : y + t, x : x + t]):
                    continue
                out = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(tile)).save(
                    out, "WEBP", lossless=True, method=0
                )
                total += out.tell()
        enc_ms.append((time.perf_counter() - start) * 1000)
        previous = frame
    return {"bytes": total, "encode_ms_median": median(enc_ms), "encode_ms_max": max(enc_ms)}


def keyframe_frames(screens: ModuleType) -> dict[str, Frame]:
    """A 1920x1080 screen of text (an editor full of code) and one of photograph."""
    w, h = KEYFRAME_SIZE
    rng = random.Random(5)
    image = Image.new("RGB", (w, h), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    lines = [" ".join(rng.choice(screens.WORDS) for _ in range(30))[:236] for _ in range(66)]
    screens._text_grid(draw, 8, 4, lines, (30, 30, 30))
    return {"text-like": np.asarray(image), "photo-like": screens._photo(w, h, 11)}


def time_keyframes(screens: ModuleType, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    w, h = KEYFRAME_SIZE
    for name, frame in keyframe_frames(screens).items():
        enc: list[float] = []
        dec: list[float] = []
        size = 0
        quality = 0.0
        for _ in range(repeats):
            encoder = Encoder(w, h)
            start = time.perf_counter()
            update = encoder.encode(frame)
            enc.append((time.perf_counter() - start) * 1000)
            assert update is not None
            size = len(update.data)
            decoder = Decoder()
            start = time.perf_counter()
            decoder.apply(update.data, keyframe=True)
            dec.append((time.perf_counter() - start) * 1000)
            assert decoder.frame is not None
            quality = psnr(decoder.frame, frame)
        out[name] = {
            "encode_ms_median": median(enc),
            "encode_ms_min": min(enc),
            "decode_ms_median": median(dec),
            "bytes": size,
            "psnr_db": None if quality == float("inf") else quality,
        }
    return out


def _psnr_cell(row: dict[str, Any]) -> str:
    if row["psnr_min_db"] is None:
        return "exact"
    return f"{row['psnr_min_db']:.1f} ({row['psnr_mean_db']:.1f})"


def render(console: Console, result: dict[str, Any]) -> None:
    table = Table(title="Codec yardstick: ours vs per-tile WebP-lossless baseline")
    for col in (
        "sequence",
        "changed",
        "ratio",
        "enc ms",
        "dec ms",
        "PSNR min (mean) dB",
        "base ratio",
        "base enc ms",
        "ours/base",
    ):
        table.add_column(col, justify="right")
    for row in result["sequences"]:
        ours, base = row["ours"], row.get("baseline")
        cells = [
            row["name"],
            str(row["changed_frames"]),
            f"{ours['ratio']:,.1f}",
            f"{ours['encode_ms_median']:.2f}",
            f"{ours['decode_ms_median']:.2f}",
            _psnr_cell(ours),
        ]
        if base is not None:
            cells += [
                f"{base['ratio']:,.1f}",
                f"{base['encode_ms_median']:.2f}",
                f"{ours['ratio'] / base['ratio']:,.1f}x",
            ]
        else:
            cells += ["-", "-", "-"]
        table.add_row(*cells)
    console.print(table)
    if any("variants" in row for row in result["sequences"]):
        table = Table(title="Ablation: compression ratio (encode ms/frame)")
        names = list(result["sequences"][0]["variants"])
        table.add_column("sequence")
        for name in names:
            table.add_column(name, justify="right")
        for row in result["sequences"]:
            table.add_row(
                row["name"],
                *(
                    f"{v['ratio']:,.1f} ({v['encode_ms_median']:.2f})"
                    for v in row["variants"].values()
                ),
            )
        console.print(table)
    table = Table(title=f"{KEYFRAME_SIZE[0]}x{KEYFRAME_SIZE[1]} keyframe (budget 150 ms encode)")
    for col in ("content", "encode ms (median)", "encode ms (min)", "decode ms", "bytes", "PSNR"):
        table.add_column(col, justify="right")
    for name, row in result["keyframes"].items():
        table.add_row(
            name,
            f"{row['encode_ms_median']:.1f}",
            f"{row['encode_ms_min']:.1f}",
            f"{row['decode_ms_median']:.1f}",
            f"{row['bytes']:,}",
            "exact" if row["psnr_db"] is None else f"{row['psnr_db']:.1f} dB",
        )
    console.print(table)
    for row in result["sequences"]:
        team = TEAM_BASELINE.get(row["name"])
        base = row.get("baseline")
        if team is not None and base is not None:
            console.print(
                f"baseline sanity check, {row['name']}: {base['ratio']:.1f}x "
                f"(team measured {team:g}x)"
            )


def bench_sequence(
    screens: ModuleType, name: str, count: int, *, baseline: bool, ablation: bool
) -> dict[str, Any]:
    frames: list[Frame] = [np.ascontiguousarray(f) for f in screens.frames(name, count)]
    changed, raw = raw_changed_bytes(frames)
    row: dict[str, Any] = {"name": name, "frames": len(frames), "changed_frames": changed}
    row["raw_bytes"] = raw

    def measured(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        stats = run()
        stats["ratio"] = raw / max(1, stats["bytes"])
        return stats

    row["ours"] = measured(lambda: run_ours(frames))
    if baseline:
        row["baseline"] = measured(lambda: run_baseline(frames))
    if ablation:
        row["variants"] = {
            "default": row["ours"],
            "no motion": measured(lambda: run_ours(frames, detect_motion=False)),
            "lossless": measured(lambda: run_ours(frames, lossless=True)),
            "refine_after=5": measured(lambda: run_ours(frames, refine_after=5)),
        }
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.codec_yardstick",
        description="Screen codec vs a per-tile WebP-lossless baseline on the team's sequences.",
    )
    parser.add_argument("--screens-dir", type=Path, default=None, help="where make_screens.py is")
    parser.add_argument("--frames", type=int, default=60, help="frames per sequence (60)")
    parser.add_argument("--sequences", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--repeats", type=int, default=7, help="1080p keyframe encodes (7)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the WebP baseline")
    parser.add_argument("--ablation", action="store_true", help="also no motion, lossless, refine")
    parser.add_argument("--quick", action="store_true", help="20 frames, 3 keyframe repeats")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.repeats = 20, 3
    screens = load_make_screens(args.screens_dir or default_screens_dir())
    names = [n for n in args.sequences.split(",") if n] or list(screens.SCENARIOS)
    unknown = [n for n in names if n not in screens.SCENARIOS]
    if unknown:
        parser.error(f"unknown sequences {unknown}; known: {sorted(screens.SCENARIOS)}")

    console = Console(width=None if sys.stdout.isatty() else 140)
    result: dict[str, Any] = {
        "benchmark": "codec_yardstick",
        "command": " ".join(["python -m bench.codec_yardstick", *(argv or sys.argv[1:])]),
        "machine": machine_info(),
        "settings": {"frames": args.frames, "repeats": args.repeats, "baseline_tile": 64},
        "sequences": [],
    }
    for name in names:
        console.print(f"{name} ...")
        result["sequences"].append(
            bench_sequence(
                screens, name, args.frames, baseline=not args.no_baseline, ablation=args.ablation
            )
        )
    result["keyframes"] = time_keyframes(screens, max(1, args.repeats))
    render(console, result)
    if not args.no_json:
        path = write_results("codec_yardstick", result)
        console.print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
