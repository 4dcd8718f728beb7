"""``python screenshots/make_screenshots.py --out DIR`` writes every README picture, valid.

The script starts its own private Xvfb for the viewer pictures (that path is what is tested
here), so this test needs Xvfb and xwininfo: it skips without them, except in CI where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tui.viewer.window import CONTROL_COLOUR

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "screenshots" / "make_screenshots.py"
SVGS = ("connect", "session-organizer", "dialog-grant-control", "session-control-banner")
PNGS = ("viewer", "viewer-paused")

pytestmark = pytest.mark.display


def _need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required in CI (.ci/run installs {package})", pytrace=False)
        pytest.skip(f"{tool} not installed; apt-get install {package}")


def test_script_writes_every_picture(tmp_path: Path) -> None:
    _need("Xvfb", "xvfb")
    _need("xwininfo", "x11-utils")
    out = tmp_path / "pictures"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=tmp_path,  # must not depend on being run from the repository root
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.svg" for name in SVGS] + [f"{name}.png" for name in PNGS]
    )

    texts = {}
    for name in SVGS:
        path = out / f"{name}.svg"
        assert 5_000 < path.stat().st_size < 200_000, path
        root = ET.parse(path).getroot()  # noqa: S314 - our own output
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        texts[name] = "".join(root.itertext()).replace("\xa0", " ")
        assert "porthole" in texts[name]
    for name in ("session-organizer", "session-control-banner"):
        assert "482 913 570" in texts[name]
        assert "31415 92653 58979 32384" in texts[name]
    assert "Remote control requested" in texts["dialog-grant-control"]
    assert "Ben controls your screen" in texts["session-control-banner"]

    amber = np.array([int(CONTROL_COLOUR[i : i + 2], 16) for i in (1, 3, 5)], np.uint8)
    shots = {}
    for name in PNGS:
        path = out / f"{name}.png"
        assert 5_000 < path.stat().st_size < 1_000_000, path
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.size == (800, 500)
            shots[name] = np.asarray(image.convert("RGB"))
        assert len(np.unique(shots[name].reshape(-1, 3), axis=0)) > 20  # a picture, not a fill
    live, paused = shots["viewer"], shots["viewer-paused"]
    assert np.all(live[:40] == amber, axis=2).mean() > 0.05  # the control marker and banner
    assert not np.any(np.all(paused == amber, axis=2))
    assert paused.mean() < live.mean() * 0.6  # dimmed under the paused overlay
