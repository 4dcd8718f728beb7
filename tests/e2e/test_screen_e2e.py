"""The screen pipeline end to end: relay, presenter and viewers as real processes on a real Xvfb.

Known content is painted by a Tk window in its own process; `porthole present --headless`
captures it and `porthole view --headless` saves what it decoded, which is compared with an
independent mss grab of the same screen rectangle.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mss
import numpy as np
import numpy.typing as npt
import pytest
import trio
from PIL import Image
from procs import Proc, RelayProcess, command, relay_process, running
from sessionkit import connect, next_event
from xvfb import Display, Xvfb

from core.client.events import ContentReceived
from core.protocol.content import Chat, FrameUpdate

PAINTER = Path(__file__).with_name("paint_window.py")
#: The colour of a window that covers a shared one (no test pattern has it).
COVER, COVER_RGB = "#ff00ff", (255, 0, 255)
ORGANIZER, ORGANIZER_PASSWORD = "olga", "plum-harbor-lantern-42"
SESSION_PASSWORD = "tangerine-7"


Relay = RelayProcess


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    with relay_process(tmp_path / "relay", ORGANIZER, ORGANIZER_PASSWORD) as served:
        yield served


@pytest.fixture
def session_password_file(tmp_path: Path) -> Path:
    path = tmp_path / "session-password"
    path.write_text(SESSION_PASSWORD + "\n")
    return path


@pytest.fixture
def painter(display: object) -> Iterator[object]:
    """Start painters with ``painter(title, x, y, w, h, mode)``; all are killed at the end."""
    procs: list[Proc] = []

    def start(title: str, x: int, y: int, w: int, h: int, mode: str) -> Proc:
        proc = Proc(sys.executable, str(PAINTER), title, str(x), str(y), str(w), str(h), mode)
        procs.append(proc)
        proc.expect("ready")
        return proc

    yield start
    for proc in procs:
        proc.popen.kill()
        proc.popen.wait()


def present(
    relay: Relay, password_file: Path, *extra: str, env: dict[str, str] | None = None
) -> Proc:
    proc = Proc(
        command("porthole"), "present", "--headless",
        "--relay", f"127.0.0.1:{relay.port}", "--fingerprint", relay.fingerprint,
        "--user", ORGANIZER, "--password-stdin",
        "--session-password-file", str(password_file), *extra,
        stdin_text=ORGANIZER_PASSWORD, env=env,
    )  # fmt: skip
    return proc


def view(link: str, password_file: Path, *extra: str, env: dict[str, str] | None = None) -> Proc:
    return Proc(
        command("porthole"), "view", "--headless", link,
        "--session-password-file", str(password_file), *extra, env=env,
    )  # fmt: skip


#: Python lists every module a process imports, at startup or later, on stderr (-X importtime).
IMPORT_TIMES = {"PYTHONPROFILEIMPORTTIME": "1"}


def imported(lines: list[str]) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


def loaded(lines: list[str], *prefixes: str) -> list[str]:
    names = imported(lines)
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes))


def grab(x: int, y: int, w: int, h: int, *, display: str | None = None) -> npt.NDArray[np.uint8]:
    with mss.MSS() if display is None else mss.MSS(display=display) as m:
        shot = m.grab({"left": x, "top": y, "width": w, "height": h})
    return np.asarray(Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX"))


def load(path: Path) -> npt.NDArray[np.uint8]:
    return np.asarray(Image.open(path).convert("RGB"))


def psnr(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def stop(proc: Proc) -> None:
    proc.signal(signal.SIGINT)
    assert proc.finish() == 0, "\n".join(proc.lines)


def test_region_arrives_pixel_exact_with_masks_black(
    relay: Relay, session_password_file: Path, painter: object, tmp_path: Path
) -> None:
    painter("porthole-pattern", 100, 100, 420, 260, "pattern")  # type: ignore[operator]
    presenter = present(
        relay, session_password_file, "--region", "100,100,420,260", "--mask", "130,110,60,40"
    )
    try:
        link = presenter.expect_event("session")["link"]
        out = tmp_path / "frame.png"
        viewer = view(link, session_password_file, "--frames", "1", "--save-frame", str(out))
        assert viewer.finish() == 0, "\n".join(viewer.lines)
        presenter.expect_event("joined", name="viewer")
    finally:
        stop(presenter)
    got = load(out)
    expected = grab(100, 100, 420, 260).copy()
    mask = (slice(10, 50), slice(30, 90))  # the mask, relative to the region
    assert not got[mask].any(), "masked pixels left the presenter"
    assert expected[mask].any(), "the test pattern should have content under the mask"
    expected[mask] = 0
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_headless_viewer_and_presenter_each_load_only_their_half(
    relay: Relay, session_password_file: Path, display: object, tmp_path: Path
) -> None:
    """A whole session, every module either program imported on the way: the viewer loads no
    capture, encoder or input injection; the presenter no decoder; neither the relay server,
    Textual or, on the framed TLS path that worked, the WebSocket library (fast start, and less
    code where it is not needed)."""
    presenter = present(relay, session_password_file, "--region", "0,0,320,200", env=IMPORT_TIMES)
    try:
        link = presenter.expect_event("session")["link"]
        out = tmp_path / "frame.png"
        viewer = view(
            link, session_password_file, "--frames", "1", "--save-frame", str(out),
            env=IMPORT_TIMES,
        )  # fmt: skip
        assert viewer.finish() == 0, "\n".join(viewer.lines)
        presenter.expect_event("joined", name="viewer")
    finally:
        stop(presenter)
    assert load(out).shape == (200, 320, 3)  # it really decoded and saved a frame
    assert "core.codec.decoder" in imported(viewer.lines)
    assert "core.codec.encoder" in imported(presenter.lines)
    assert not loaded(
        viewer.lines, "core.capture", "core.codec.encoder", "core.control",
        "core.stream.presenter", "mss", "Xlib", "pynput", "relay", "textual", "websockets",
    )  # fmt: skip
    assert "spake2" in imported(viewer.lines)  # the join ran SPAKE2: it loaded when needed
    assert not loaded(
        presenter.lines, "core.codec.decoder", "core.stream.viewer", "relay", "textual",
        "websockets",
    )  # fmt: skip


@dataclass(frozen=True)
class Screen:
    """An X display for the window tests: the session's (with XComposite) or one without."""

    name: str
    composite: bool


@pytest.fixture(params=["composite", "no-composite"])
def screen(request: pytest.FixtureRequest, display: Display) -> Iterator[Screen]:
    if request.param == "composite":
        yield Screen(display.name, composite=True)
        return
    # A real X server without the extension, where the presenter must black out covers.
    server = Xvfb(extra_args=("-extension", "Composite"))
    other = server.start()
    try:
        yield Screen(other.name, composite=False)
    finally:
        server.stop()


def test_window_capture_shows_only_that_window(
    relay: Relay, session_password_file: Path, screen: Screen, tmp_path: Path
) -> None:
    """A window of a colour no pattern has lies over the shared window: the viewer's frame has
    none of it. With XComposite it is the shared window's own pixels, exactly as they were
    before anything covered it; without, the covered part is black."""
    env = {"DISPLAY": screen.name}
    painters: list[Proc] = []

    def paint(*args: object) -> None:
        proc = Proc(sys.executable, str(PAINTER), *map(str, args), env=env)
        painters.append(proc)
        proc.expect("ready")

    target, cover = (40, 420, 360, 240), (300, 500, 200, 200)
    try:
        paint("porthole-other", 600, 300, 300, 200, "photo")  # elsewhere: never in the frame
        paint("porthole-target", *target, "pattern")
        uncovered = grab(*target, display=screen.name)
        paint("porthole-cover", *cover, COVER)
        on_screen = grab(*target, display=screen.name)
        assert (on_screen == COVER_RGB).all(axis=2).any()  # it does lie over the target
        presenter = present(relay, session_password_file, "--window", "porthole-target", env=env)
        try:
            link = presenter.expect_event("session")["link"]
            out = tmp_path / "window.png"
            viewer = view(link, session_password_file, "--frames", "1", "--save-frame", str(out))
            assert viewer.finish() == 0, "\n".join(viewer.lines)
        finally:
            stop(presenter)
    finally:
        for proc in painters:
            proc.popen.kill()
            proc.popen.wait()
    got = load(out)
    assert got.shape == (240, 360, 3)
    assert not (got == COVER_RGB).all(axis=2).any(), "the covering window's pixels were sent"
    if screen.composite:
        assert np.array_equal(got, uncovered)
    else:
        expected = uncovered.copy()
        expected[500 - 420 :, 300 - 40 :] = 0  # the part of the target under the cover
        assert np.array_equal(got, expected)


def test_a_headless_presenter_whose_window_closes_tells_the_members_why_and_exits_1(
    relay: Relay, session_password_file: Path, painter: Any
) -> None:
    """The shared window goes away mid-session: the members read why in their chat before the
    session ends, and the script gets the sentence, an ``error`` event and exit code 1."""
    window = painter("porthole-closing", 60, 80, 200, 120, "pattern")
    presenter = present(relay, session_password_file, "--window", "porthole-closing")
    try:
        session_id = presenter.expect_event("session")["id"]

        async def member() -> str:
            async with connect(relay.port, relay.fingerprint) as client:
                ana = await client.join(session_id, name="Ana", password=SESSION_PASSWORD)
                await next_event(ana, ContentReceived, lambda c: isinstance(c.message, FrameUpdate))
                window.popen.kill()  # the shared window closes
                said = await next_event(
                    ana, ContentReceived, lambda c: isinstance(c.message, Chat), timeout=20
                )
                assert isinstance(said.message, Chat)
                return said.message.text

        text = trio.run(member)
        assert text.startswith("I stopped presenting: cannot capture the screen: ")
        error = presenter.expect_event("error")
        assert presenter.finish() == 1, "\n".join(presenter.lines)
        assert "Traceback" not in "\n".join(presenter.lines)
        assert error["message"]
    finally:
        if presenter.popen.poll() is None:
            presenter.popen.kill()
            presenter.popen.wait()


def test_photographic_content_keeps_40_db(
    relay: Relay, session_password_file: Path, painter: object, tmp_path: Path
) -> None:
    painter("porthole-photo", 200, 150, 640, 400, "photo")  # type: ignore[operator]
    presenter = present(relay, session_password_file, "--region", "200,150,640,400")
    try:
        link = presenter.expect_event("session")["link"]
        out = tmp_path / "photo.png"
        viewer = view(link, session_password_file, "--frames", "1", "--save-frame", str(out))
        assert viewer.finish() == 0, "\n".join(viewer.lines)
    finally:
        stop(presenter)
    assert psnr(load(out), grab(200, 150, 640, 400)) >= 40.0


def test_pause_stops_every_update_and_a_late_joiner_gets_a_keyframe(
    relay: Relay, session_password_file: Path, painter: object, tmp_path: Path
) -> None:
    painter("porthole-animated", 0, 0, 400, 300, "animate")  # type: ignore[operator]
    presenter = present(
        relay, session_password_file, "--region", "0,0,400,300", "--stats", "--fps", "10"
    )
    try:
        link = presenter.expect_event("session")["link"]
        with running(
            command("porthole"), "view", "--headless", link,
            "--session-password-file", str(session_password_file),
            "--duration", "30", "--stats", "--name", "first",
        ) as first:  # fmt: skip
            first.expect_event("joined")
            # The screen animates: updates flow.
            before = presenter.expect_event("stats")["updates"]
            while presenter.expect_event("stats")["updates"] < before + 5:
                pass
            presenter.signal(signal.SIGUSR1)
            presenter.expect_event("paused")
            first.expect_event("paused")
            frozen = presenter.expect_event("stats", paused=True)["updates"]
            for _ in range(3):  # three more seconds of a changing screen
                assert presenter.expect_event("stats")["updates"] == frozen
            viewer_seen = first.expect_event("stats")["updates"]
            presenter.signal(signal.SIGUSR1)
            presenter.expect_event("resumed")
            first.expect_event("resumed")
            while presenter.expect_event("stats")["updates"] <= frozen:
                pass
            assert first.expect_event("stats")["updates"] >= viewer_seen

            # A late joiner decodes from its very first update: a keyframe was sent for it.
            out = tmp_path / "late.png"
            late = view(
                link, session_password_file, "--frames", "3", "--save-frame", str(out),
                "--stats", "--name", "late",
            )  # fmt: skip
            assert late.finish() == 0, "\n".join(late.lines)
            final = [line for line in late.lines if '"event":"stats"' in line][-1]
            assert '"rejected":0' in final
            assert '"keyframes":' in final
            assert '"keyframes":0' not in final
            assert load(out).shape == (300, 400, 3)
    finally:
        stop(presenter)
