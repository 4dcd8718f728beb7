"""``python -m bench.vs_vnc --summarize``: the issue's targets across several results files.

A benchmark run on a shared machine is one sample; the summary is what the README quotes (each
target's median, range and how many runs met it), so it is checked here on results files made
for the purpose, through the real command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _result(commit: str, typing_ratio: float, scroll_bytes: float) -> dict[str, Any]:
    def row(target: str, activity: str, value: float, limit: float) -> dict[str, Any]:
        return {
            "target": target,
            "fps": 30.0,
            "activity": activity,
            "porthole": value,
            "reference": 1.0,
            "value": value,
            "limit": limit,
            "met": value <= limit,
        }

    return {
        "targets": [
            row("presenter CPU ≤ 1.5 × x11vnc ZRLE", "typing", typing_ratio, 1.5),
            row("bytes ≤ x11vnc ZRLE (total)", "scroll", scroll_bytes, 1.0),
        ],
        "machine": {"git_commit": commit},
    }


def test_summarize_gives_each_target_its_median_range_and_runs_met(tmp_path: Path) -> None:
    files = []
    for n, (ratio, bytes_ratio) in enumerate([(1.29, 0.03), (1.61, 0.03), (1.36, 0.04)]):
        path = tmp_path / f"run{n}.json"
        path.write_text(json.dumps(_result("abcdef0123", ratio, bytes_ratio)))
        files.append(str(path))
    done = subprocess.run(
        [sys.executable, "-m", "bench.vs_vnc", "--summarize", *files, "--markdown"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert "targets over 3 runs (commits abcdef0)" in lines
    typing = next(line for line in lines if "| typing |" in line)
    cells = [cell.strip() for cell in typing.strip("|").split("|")]
    assert cells == [
        "presenter CPU ≤ 1.5 × x11vnc ZRLE", "30", "typing", "3", "1.36", "1.29 – 1.61", "1.5",
        "2 of 3",
    ]  # fmt: skip
    scroll = next(line for line in lines if "| scroll |" in line)
    assert "| 0.03 | 0.03 – 0.04 |" in scroll
    assert "| 3 of 3 |" in scroll
