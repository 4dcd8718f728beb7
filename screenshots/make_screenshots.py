"""Regenerate the README's pictures of porthole: the TUI (SVG) and the viewer window (PNG).

    python screenshots/make_screenshots.py            # into screenshots/
    python screenshots/make_screenshots.py --out DIR  # somewhere else

The TUI pictures are the real client app (``tui.app``) in fixed sample states
(:mod:`tui.app.samples`: no relay, fixed session ID, security code and fingerprint), saved with
Textual's ``App.save_screenshot``. The viewer pictures are the real viewer window
(``python -m tui.viewer``, started by :func:`tui.viewer.link.open_viewer`) on a private Xvfb that
this script starts and stops, showing a synthetic desktop drawn with Pillow and sent through the
real tile encoder; the window is read back with mss.

Needs Xvfb and xwininfo (``apt-get install xvfb x11-utils``) for the viewer pictures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from tui.viewer.link import ViewerLink

    U8Array = npt.NDArray[np.uint8]

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent

#: (scene of tui.app.samples, file name): the TUI pictures.
TUI_SHOTS: Final = (
    ("connect", "connect.svg"),
    ("session-organizer", "session-organizer.svg"),
    ("dialog-grant-control", "dialog-grant-control.svg"),
    ("session-controlled", "session-control-banner.svg"),
)
TUI_SIZE: Final = (120, 32)
VIEWER_SHOTS: Final = ("viewer.png", "viewer-paused.png")
FRAME_SIZE: Final = (800, 500)
SCREEN: Final = "1280x800x24"
WAIT: Final = 20.0


def _importable() -> None:
    """Run from a checkout without installing: make ``tui`` and ``core`` importable."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------------------------------------
# The TUI


async def _tui_shot(scene: str, out: Path, size: tuple[int, int]) -> None:
    from tui.app.samples import SampleApp, settle

    app = SampleApp(scene)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.save_screenshot(out.name, str(out.parent))


def make_tui_shots(out_dir: Path) -> list[Path]:
    written = []
    for scene, name in TUI_SHOTS:
        path = out_dir / name
        asyncio.run(_tui_shot(scene, path, TUI_SIZE))
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------------
# A private X server


@contextmanager
def private_xvfb(screen: str = SCREEN, timeout: float = 30.0) -> Iterator[str]:
    """Start ``Xvfb -displayfd``; yield its ``$DISPLAY`` once it accepts connections."""
    binary = shutil.which("Xvfb")
    if binary is None:
        raise SystemExit("Xvfb is needed for the viewer pictures: apt-get install xvfb")
    read_fd, write_fd = os.pipe()
    process = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_fd,),
        start_new_session=True,
    )
    os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + timeout
        while not number.endswith(b"\n"):
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"Xvfb did not start (status {process.poll()})")
            ready, _, _ = select.select([read_fd], [], [], 0.5)
            if ready:
                chunk = os.read(read_fd, 64)
                if not chunk:
                    raise SystemExit(f"Xvfb exited (status {process.wait(timeout)})")
                number += chunk
        yield f":{int(number)}"
    finally:
        os.close(read_fd)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------------------------------
# The viewer window


def sample_desktop(width: int, height: int) -> U8Array:
    """A presenter's desktop, drawn: a terminal running the tests, and a notes window."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        for path in (
            "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
            "/usr/share/fonts/dejavu/DejaVuSansMono.ttf",
        ):
            if Path(path).exists():
                return ImageFont.truetype(path, size)
        return ImageFont.load_default(size)

    text, small = font(14), font(12)
    image = Image.new("RGB", (width, height), "#2c3e50")
    draw = ImageDraw.Draw(image)
    for y in range(height):  # a calm vertical gradient for the wallpaper
        shade = 40 + 30 * y // height
        draw.line([(0, y), (width, y)], fill=(shade // 2, shade, shade + 30))
    draw.rectangle([0, 0, width, 24], fill="#1b1f24")
    draw.text((10, 5), "Activities     Terminal", font=small, fill="#d8dee9")
    draw.text((width - 60, 5), "10:42", font=small, fill="#d8dee9")

    def window(box: tuple[int, int, int, int], title: str, lines: list[tuple[str, str]]) -> None:
        left, top, right, bottom = box
        draw.rectangle([left + 4, top + 4, right + 4, bottom + 4], fill="#101418")  # shadow
        draw.rectangle(box, fill="#1e1e1e", outline="#4c566a")
        draw.rectangle([left, top, right, top + 26], fill="#3b4252")
        for i, colour in enumerate(("#bf616a", "#ebcb8b", "#a3be8c")):
            draw.ellipse([left + 10 + 18 * i, top + 8, left + 22 + 18 * i, top + 20], colour)
        draw.text((left + 70, top + 6), title, font=small, fill="#e5e9f0")
        y = top + 36
        for line, colour in lines:
            draw.text((left + 12, y), line, font=text, fill=colour)
            y += 20

    plain, green, blue, grey = "#d8dee9", "#a3be8c", "#88c0d0", "#7b8394"
    window(
        (40, 56, 520, 440),
        "ana@laptop: ~/porthole",
        [
            ("$ git switch -c fix-reconnect", plain),
            ("Switched to a new branch 'fix-reconnect'", grey),
            ("$ python -m pytest tests/core -q", plain),
            ("........................................ [ 31%]", green),
            ("........................................ [ 63%]", green),
            ("........................................ [ 94%]", green),
            ("........                                 [100%]", green),
            ("512 passed in 41.07s", green),
            ("$ git diff --stat", plain),
            (" core/client/session.py | 14 +++++++++-----", blue),
            (" tests/core/test_reconnect.py | 38 +++++++++++", blue),
            (" 2 files changed, 47 insertions(+), 5 deletions(-)", grey),
            ("$ _", plain),
        ],
    )
    window(
        (548, 110, 770, 330),
        "notes.txt",
        [
            ("TODO", "#ebcb8b"),
            ("- reconnect: keep", plain),
            ("  the roster order", plain),
            ("- ask Ben to test", plain),
            ("  behind the proxy", plain),
            ("- release notes", plain),
        ],
    )
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


@dataclass
class _Stream:
    """A presenter in miniature: the real tile encoder and numbered FrameUpdates."""

    frame: U8Array
    seq: int = 0

    def __post_init__(self) -> None:
        from core.codec import Encoder

        height, width = self.frame.shape[:2]
        self.encoder = Encoder(width, height, lossless=True)

    async def send_keyframe(self, link: ViewerLink) -> None:
        from core.protocol.content import FrameUpdate

        encoded = self.encoder.encode(self.frame, keyframe=True)
        assert encoded is not None
        await link.send_update(
            FrameUpdate(
                frame_seq=self.seq,
                keyframe=encoded.keyframe,
                width=encoded.width,
                height=encoded.height,
                captured_at_us=self.seq,
                tiles=encoded.data,
            )
        )
        self.seq += 1


async def _window_box(window_id: int) -> tuple[int, int, int, int] | None:
    """``(x, y, width, height)`` of a mapped window, from xwininfo; None while unmapped."""
    import trio

    result = await trio.run_process(
        ["xwininfo", "-id", str(window_id)], capture_stdout=True, capture_stderr=True, check=False
    )
    fields = {
        key.strip(): value.strip()
        for key, sep, value in (line.partition(":") for line in result.stdout.decode().splitlines())
        if sep
    }
    if result.returncode != 0 or fields.get("Map State") != "IsViewable":
        return None
    return (
        int(fields["Absolute upper-left X"]),
        int(fields["Absolute upper-left Y"]),
        int(fields["Width"]),
        int(fields["Height"]),
    )


def _grab(box: tuple[int, int, int, int]) -> U8Array:
    import mss
    import numpy as np

    x, y, width, height = box
    with mss.MSS() as grabber:
        shot = grabber.grab({"left": x, "top": y, "width": width, "height": height})
    return np.frombuffer(shot.rgb, np.uint8).reshape(height, width, 3).copy()


async def _until_shown(window_id: int, check: Callable[[U8Array], bool], what: str) -> U8Array:
    import trio

    last = "the window was never mapped"
    with trio.move_on_after(WAIT):
        while True:
            box = await _window_box(window_id)
            if box is not None and box[2:] == FRAME_SIZE:
                shot = _grab(box)
                if check(shot):
                    return shot
                last = "its pixels never matched"
            elif box is not None:
                last = f"it stayed {box[2]}x{box[3]}"
            await trio.sleep(0.05)
    raise SystemExit(f"the viewer window did not show {what} within {WAIT:.0f}s: {last}")


def _save_png(shot: U8Array, path: Path) -> None:
    from PIL import Image

    Image.fromarray(shot).save(path, optimize=True)


async def _viewer_shots(display: str, out_dir: Path) -> list[Path]:
    import numpy as np
    import trio

    from core.protocol.content import Cursor
    from tui.viewer.link import Ready, Refresh, open_viewer
    from tui.viewer.pipe import ViewerState
    from tui.viewer.window import CONTROL_COLOUR

    frame = sample_desktop(*FRAME_SIZE)
    stream = _Stream(frame)
    amber = np.array([int(CONTROL_COLOUR[i : i + 2], 16) for i in (1, 3, 5)], np.uint8)
    # Away from the control border and banner, and from the pointer: must be the frame exactly.
    inner = (slice(60, 420), slice(20, 320))
    live_path, paused_path = (out_dir / name for name in VIEWER_SHOTS)
    env = {**os.environ, "DISPLAY": display}
    async with open_viewer("porthole — Ana presenting", env=env) as link:
        ready = trio.Event()
        window: list[int] = []

        async def pump() -> None:
            async for event in link.events:
                if isinstance(event, Ready):
                    window.append(event.window_id)
                    ready.set()
                elif isinstance(event, Refresh):
                    await stream.send_keyframe(link)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump)
            with trio.fail_after(WAIT):
                await ready.wait()
            await link.set_state(ViewerState.LIVE, control=True, presenter="Ana")
            await stream.send_keyframe(link)
            await link.send_cursor(Cursor(x=430, y=392, visible=True))

            def live(shot: U8Array) -> bool:
                top_amber = np.all(shot[:40] == amber, axis=2).mean()
                return bool(np.array_equal(shot[inner], frame[inner]) and top_amber > 0.05)

            _save_png(await _until_shown(window[0], live, "the frame with control"), live_path)

            await link.set_state(ViewerState.PAUSED, control=False, presenter="Ana")

            def paused(shot: U8Array) -> bool:
                corner = shot[40:120, 20:120]
                middle = shot[FRAME_SIZE[1] // 2 - 12 : FRAME_SIZE[1] // 2 + 12]
                dimmed = int(corner.max()) < 255 * 0.35
                return bool(dimmed and np.any(np.all(middle >= 200, axis=2)))

            _save_png(await _until_shown(window[0], paused, "the paused overlay"), paused_path)
            nursery.cancel_scope.cancel()
    return [live_path, paused_path]


def make_viewer_shots(out_dir: Path) -> list[Path]:
    import trio

    if shutil.which("xwininfo") is None:
        raise SystemExit("xwininfo is needed for the viewer pictures: apt-get install x11-utils")
    with private_xvfb() as display:
        saved = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = display  # for mss, xwininfo
        try:
            written: list[Path] = trio.run(_viewer_shots, display, out_dir)
        finally:
            if saved is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = saved
    return written


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python screenshots/make_screenshots.py",
        description=(
            "Regenerate the README's screenshots: SVGs of the porthole TUI in fixed sample "
            "states (connect, the organizer's session, the grant-control consent, the "
            "control banner) and PNGs of the viewer window (live with the control marker, "
            "paused), taken on a private Xvfb that this script starts and stops."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE,
        metavar="DIR",
        help="where to write the pictures (default: %(default)s)",
    )
    parser.add_argument("--no-viewer", action="store_true", help="only the TUI pictures")
    args = parser.parse_args(argv)
    _importable()
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    written = make_tui_shots(out_dir)
    if not args.no_viewer:
        written += make_viewer_shots(out_dir)
    for path in written:
        print(f"{path}  ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
