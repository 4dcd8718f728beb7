"""Remote typing end to end: the scripted controller (`porthole view --headless
--request-control`) and a person typing into the viewer window, each into a shell on the
presenter's screen.

Everything is real and separate: a relay, `porthole present --headless` sharing a region of an
Xvfb with no window manager, an xterm with default resources running `bash --norc` in a
temporary directory, and the viewer as a subprocess. What arrived is read back from the files
the shell wrote, so a key that went astray (to no window, as a synthetic event xterm drops, or
with the wrong shift level) fails the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from procs import Proc, RelayProcess, command, relay_process
from Xlib import X  # type: ignore[import-untyped]
from Xlib.display import Display as XDisplay  # type: ignore[import-untyped]
from xvfb import Display, require_tool

ORGANIZER, ORGANIZER_PASSWORD = "olga", "plum-harbor-lantern-42"
SESSION_PASSWORD = "tangerine-7"
#: The xterm's top-left corner (no window manager: the geometry is exact) and the shared region.
XTERM_AT = (600, 400)
REGION = (580, 380, 560, 380)
WAIT = 15.0


Relay = RelayProcess


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    with relay_process(tmp_path / "relay", ORGANIZER, ORGANIZER_PASSWORD) as served:
        yield served


def xdotool(*args: str) -> None:
    subprocess.run([require_tool("xdotool"), *args], check=True, timeout=10)


def xdotool_on(display_name: str, *args: str) -> str:
    """xdotool on another X display (a second person's); its output ("" if it failed)."""
    result = subprocess.run(
        [require_tool("xdotool"), *args],
        env={**os.environ, "DISPLAY": display_name},
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    return result.stdout


@pytest.fixture
def shell(display: Display, tmp_path: Path) -> Iterator[Path]:
    """An xterm (default resources) running ``bash --norc`` in a fresh directory, which it
    returns; the pointer rests outside it and the focus follows the pointer (PointerRoot)."""
    home = tmp_path / "home"
    home.mkdir()
    conn = XDisplay(display.name)
    try:
        conn.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)
        conn.sync()
    finally:
        conn.close()
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "HISTFILE": "/dev/null"}
    term = subprocess.Popen(
        [require_tool("xterm"), "-geometry", f"80x24+{XTERM_AT[0]}+{XTERM_AT[1]}",
         "-e", require_tool("bash"), "--norc", "--noprofile", "-i"],
        cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Ready when the shell runs: it answers a file test typed by nobody yet, so wait for
        # the window instead, then a little for bash to start reading.
        wait_for(lambda: _window_mapped(display.name), "the xterm window")
        time.sleep(0.5)
        xdotool("mousemove", "5", "5")  # keys go nowhere until something points at the xterm
        yield home
    finally:
        term.terminate()
        try:
            term.wait(timeout=10)
        except subprocess.TimeoutExpired:
            term.kill()
            term.wait(timeout=10)


def _window_mapped(display_name: str) -> bool:
    conn = XDisplay(display_name)
    try:
        root = conn.screen().root
        return any(
            child.get_attributes().map_state == X.IsViewable
            and child.get_geometry().x == XTERM_AT[0]
            for child in root.query_tree().children
        )
    finally:
        conn.close()


def wait_for(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def file_says(path: Path, expected: str) -> None:
    def found() -> str:
        return path.read_text() if path.exists() else "(no file)"

    deadline = time.monotonic() + WAIT
    while found() != expected:
        if time.monotonic() > deadline:
            others = sorted(p.name for p in path.parent.iterdir())
            pytest.fail(f"{path.name}: {found()!r}, expected {expected!r} (files: {others})")
        time.sleep(0.05)


def present(relay: Relay, password_file: Path, *extra: str) -> Proc:
    return Proc(
        command("porthole"), "present", "--headless",
        "--relay", f"127.0.0.1:{relay.port}", "--fingerprint", relay.fingerprint,
        "--user", ORGANIZER, "--password-stdin", "--session-password-file", str(password_file),
        "--region", ",".join(map(str, REGION)), *extra,
        stdin_text=ORGANIZER_PASSWORD,
    )  # fmt: skip


def control(link: str, password_file: Path, *extra: str, env: dict[str, str] | None = None) -> Proc:
    return Proc(
        command("porthole"), "view", "--headless", link,
        "--session-password-file", str(password_file), "--name", "Ana",
        "--request-control", *extra, env=env,
    )  # fmt: skip


def imported(lines: list[str]) -> set[str]:
    """The modules a process imported (``python -X importtime`` lines, stderr merged)."""
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


def events(proc: Proc) -> list[dict[str, object]]:
    return [json.loads(line) for line in proc.lines if line.startswith("{")]


def stop(proc: Proc) -> None:
    proc.signal(signal.SIGINT)
    assert proc.finish() == 0, "\n".join(proc.lines)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "session-password"
    path.write_text(SESSION_PASSWORD + "\n")
    return path


def test_typed_text_and_keys_run_in_the_presenters_shell(
    relay: Relay, shell: Path, password_file: Path, tmp_path: Path
) -> None:
    presenter = present(relay, password_file, "--allow-control-from", "Ana")
    try:
        link = str(presenter.expect_event("session")["link"])
        # The presenter's own pointer rests on their terminal: keys go there.
        xdotool("mousemove", str(XTERM_AT[0] + 60), str(XTERM_AT[1] + 60))
        viewer = control(
            link, password_file, "--type", r"echo porthole-ok > ok.txt\n",
            env={"PYTHONPROFILEIMPORTTIME": "1"},
        )  # fmt: skip
        assert viewer.finish() == 0, "\n".join(viewer.lines)
        file_says(shell / "ok.txt", "porthole-ok\n")
        # The controller sends events; injecting them is the presenter's job alone.
        modules = imported(viewer.lines)
        assert "core.control.script" in modules
        assert not {
            "core.control.injector", "core.control.backend", "core.control.xtest",
            "core.capture", "core.codec.encoder", "Xlib", "pynput",
        } & modules  # fmt: skip
        states = [e["state"] for e in events(viewer) if e["event"] == "control"]
        assert states == ["requested", "granted", "released"], viewer.lines
        assert {"event": "typed", "chars": 26} in events(viewer)
        assert events(viewer)[-1]["event"] == "ended"
        assert "porthole-ok" not in "\n".join(viewer.lines), "the typed text was printed"
        presenter.expect_event("control", granted=True, name="Ana")
        presenter.expect_event("control", granted=False)  # given back

        # Again, the pointer away from the terminal: the script moves it there first (the
        # region's 40, 40 is inside the xterm), then keys: capitals, punctuation, a letter on
        # no key of the US layout, and a Ctrl combination (readline's ctrl+a: line start).
        xdotool("mousemove", "5", "5")
        script = tmp_path / "upkeep.txt"
        script.write_text("# into the terminal\nmove 60 60\nwait 0.1\n")
        viewer = control(
            link, password_file, "--input-script", str(script),
            "--type", "cho ",
            "--keys", "' P o r t , é : shift+z ; @ A '",
            "--type", " > keys.txt",
            "--keys", "ctrl+a e Return",
        )  # fmt: skip
        assert viewer.finish() == 0, "\n".join(viewer.lines)
        file_says(shell / "keys.txt", "Port,é:Z;@A\n")
        assert [e for e in events(viewer) if e["event"] == "sent"] == [
            {"event": "sent", "keys": 13},
            {"event": "sent", "keys": 3},
        ]
        released = [e for e in events(viewer) if e.get("state") == "released"]
        assert released == [{"event": "control", "state": "released", "typed": 16, "keys": 15}]
    finally:
        stop(presenter)


def test_a_presenter_that_refuses_makes_the_controller_exit_1(
    relay: Relay, display: Display, password_file: Path
) -> None:
    presenter = present(relay, password_file)  # no --allow-control-from: control is refused
    try:
        link = str(presenter.expect_event("session")["link"])
        viewer = control(link, password_file, "--type", r"echo never > never.txt\n")
        assert viewer.finish() == 1, "\n".join(viewer.lines)
        presenter.expect_event("consent", action="request_control", answer="refused")
    finally:
        stop(presenter)
    states = [e["state"] for e in events(viewer) if e["event"] == "control"]
    assert states == ["requested", "refused"], viewer.lines
    (error,) = [e for e in events(viewer) if e["event"] == "error"]
    assert error["exit"] == 1
    assert error["code"] == "consent_refused", error
    assert not [e for e in events(viewer) if e["event"] in ("typed", "sent")]
    # One sentence on stderr (merged into the output here), no traceback.
    prose = [line for line in viewer.lines if not line.startswith("{")]
    assert len(prose) == 1, prose
    assert prose[0].startswith("porthole: ")
    assert "Traceback" not in "\n".join(viewer.lines)


def test_a_key_allowance_grants_the_key_holder_and_not_a_namesake_without_it(
    relay: Relay, display: Display, password_file: Path, tmp_path: Path
) -> None:
    """``--allow-control-from key:FP``: "Ana" without the key is refused; once she left, "Ana"
    proving the key (``--identity``) is granted, and the presenter's roster shows its print."""
    key_path = tmp_path / "ana.key"
    created = subprocess.run(
        [command("porthole"), "identity", "create", "--path", str(key_path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    full = created.stdout.split("fingerprint ", 1)[1].split()[0]
    short = created.stdout.split("short", 1)[1].split()[0]
    presenter = present(relay, password_file, "--allow-control-from", f"key:{full.upper()}")
    try:
        link = str(presenter.expect_event("session")["link"])
        namesake = control(link, password_file, "--keys", "F5")
        assert namesake.finish() == 1, "\n".join(namesake.lines)
        joined = presenter.expect_event("joined", name="Ana")
        assert joined["key"] is None
        presenter.expect_event("consent", action="request_control", answer="refused")
        presenter.expect_event("left", name="Ana")

        holder = control(link, password_file, "--identity", str(key_path), "--keys", "F5")
        assert holder.finish() == 0, "\n".join(holder.lines)
        presenter.expect_event("joined", name="Ana", key=short)
        presenter.expect_event("consent", action="request_control", answer="granted")
        presenter.expect_event("control", granted=True, name="Ana")
        (mine,) = [e for e in events(holder) if e["event"] == "joined"]
        assert mine["key"] == short
    finally:
        stop(presenter)


def test_a_revoke_mid_typing_stops_the_controller(
    relay: Relay, shell: Path, password_file: Path
) -> None:
    presenter = present(relay, password_file, "--allow-control-from", "Ana")
    try:
        link = str(presenter.expect_event("session")["link"])
        xdotool("mousemove", str(XTERM_AT[0] + 60), str(XTERM_AT[1] + 60))
        # About 12 seconds of typing at the controller's pace; the Return never comes.
        long_line = "echo " + "x" * 1200 + r" > never.txt\n"
        viewer = control(link, password_file, "--type", long_line)
        viewer.expect_event("control", state="granted")
        time.sleep(0.5)
        presenter.signal(signal.SIGUSR2)  # the presenter's revoke
        presenter.expect_event("control", granted=False, reason="signal")
        started = time.monotonic()
        assert viewer.finish() == 1, "\n".join(viewer.lines)
        assert time.monotonic() - started < 5
        (revoked,) = [e for e in events(viewer) if e.get("state") == "revoked"]
        assert 0 < int(str(revoked["typed"])) < 1200, revoked
        (error,) = [e for e in events(viewer) if e["event"] == "error"]
        assert error["code"] == "revoked"
        time.sleep(0.5)
        assert not (shell / "never.txt").exists()
    finally:
        stop(presenter)


def test_a_session_ended_mid_script_is_not_reported_as_done(
    relay: Relay, display: Display, password_file: Path
) -> None:
    presenter = present(relay, password_file, "--allow-control-from", "Ana")
    link = str(presenter.expect_event("session")["link"])
    xdotool("mousemove", "5", "5")  # typed onto the bare root window: nothing receives it
    viewer = control(link, password_file, "--type", "x" * 1200)
    viewer.expect_event("control", state="granted")
    stop(presenter)  # ends the session for everyone
    assert viewer.finish() == 1, "\n".join(viewer.lines)
    assert not [e for e in events(viewer) if e["event"] in ("typed", "sent")]
    assert [e["code"] for e in events(viewer) if e["event"] == "error"] == ["unfinished"]


def test_keys_typed_into_the_viewer_window_run_in_the_presenters_shell(
    relay: Relay, shell: Path, password_file: Path, tmp_path: Path
) -> None:
    """A person's path, not a script's: Ana's app (Pilot) with its Tk viewer window on her own
    X display, keys typed into that window with xdotool, and the presenter's xterm on another
    display running what she typed: capitals, punctuation, a letter on no key of the US
    layout, Ctrl and Alt combinations; then the presenter's Ctrl+F12 revokes, and the xterm gets
    nothing of it."""
    from appkit import SESSION_PASSWORD as APP_SESSION_PASSWORD
    from appkit import SIZE, on_screen
    from pilotkit import run, until
    from xvfb import Xvfb

    from core.known_relays import KnownRelays
    from tui.app.app import PortholeApp, Start
    from tui.app.screens.join import JoinScreen
    from tui.app.screens.session import SessionScreen
    from tui.app.start import RelayTarget

    assert APP_SESSION_PASSWORD == SESSION_PASSWORD
    ana_server = Xvfb()
    ana_display = ana_server.start()
    presenter = present(relay, password_file, "--allow-control-from", "Ana")
    try:
        session_id = str(presenter.expect_event("session")["id"])
        xdotool("mousemove", str(XTERM_AT[0] + 60), str(XTERM_AT[1] + 60))  # on their shell

        def on_ana(*args: str) -> str:
            return xdotool_on(ana_display.name, *args)

        async def scenario() -> None:
            start = Start(
                relay=RelayTarget("127.0.0.1", relay.port, relay.fingerprint),
                session_id=session_id,
                name="Ana",
            )
            app = PortholeApp(
                start,
                known_relays=KnownRelays(tmp_path / "known_relays"),
                viewer_env={**os.environ, "DISPLAY": ana_display.name},
            )
            async with app.run_test(size=SIZE) as pilot:
                await on_screen(pilot, JoinScreen)
                await pilot.press(*SESSION_PASSWORD, "enter")
                screen = await on_screen(pilot, SessionScreen)
                found: list[str] = []

                def viewer_window() -> bool:
                    found[:] = on_ana("search", "--name", "presenting$").split()
                    return bool(found)

                await until(pilot, viewer_window, "Ana's viewer window", timeout=WAIT)
                await pilot.press("c")  # ask for control; the presenter's policy grants it
                await until(
                    pilot,
                    lambda: screen.view is not None and screen.view.i_control,
                    "Ana holds control",
                    timeout=WAIT,
                )
                window = found[0]
                on_ana("mousemove", "--window", window, "20", "20")
                on_ana("windowfocus", "--sync", window)
                on_ana("type", "--delay", "30", 'echo "Héllo, W0rld!" > typed.txt')
                on_ana("key", "Return")
                # Ctrl reaches bash too: ctrl+u (readline: kill the line) wipes the junk.
                on_ana("type", "--delay", "30", "junk")
                on_ana("key", "ctrl+u")
                on_ana("type", "--delay", "30", "echo ctrl-ok > ctrl.txt")
                on_ana("key", "Return")
                # Alt too: xterm's default for Meta sets the 8th bit, so alt+x types "ø".
                on_ana("type", "--delay", "30", "echo ")
                on_ana("key", "alt+x")
                on_ana("type", "--delay", "30", " > alt.txt")
                on_ana("key", "Return")
                await until(pilot, lambda: (shell / "alt.txt").exists(), "alt.txt", timeout=WAIT)
                # The presenter's Ctrl+F12 (their own keyboard, their display) ends control,
                # and their shell gets nothing of it: a stray ";5~" would break the next line.
                xdotool("key", "ctrl+F12")
                await until(
                    pilot,
                    lambda: screen.view is not None and not screen.view.i_control,
                    "control revoked",
                    timeout=WAIT,
                )
                xdotool("type", "--delay", "30", "echo clean > f12.txt")
                xdotool("key", "Return")
                await until(pilot, lambda: (shell / "f12.txt").exists(), "f12.txt", timeout=WAIT)

        run(scenario)
        file_says(shell / "typed.txt", "Héllo, W0rld!\n")
        file_says(shell / "ctrl.txt", "ctrl-ok\n")
        file_says(shell / "alt.txt", "ø\n")
        file_says(shell / "f12.txt", "clean\n")
        presenter.expect_event("control", granted=True, name="Ana")
        presenter.expect_event("control", granted=False, reason="hotkey")
    finally:
        stop(presenter)
        ana_server.stop()


def test_the_line_console_opens_the_viewer_window_and_steers_once_allowed(
    relay: Relay, shell: Path, password_file: Path
) -> None:
    """`porthole join --console` (the line mode for a plain terminal): /view opens the same
    viewer window as the app, on Ana's own display; /control asks, and once the presenter's
    policy allows it, what she types into that window runs in the presenter's shell."""
    from xvfb import Xvfb

    ana_server = Xvfb()
    ana_display = ana_server.start()
    presenter = present(relay, password_file, "--allow-control-from", "Ana")
    console: Proc | None = None
    try:
        link = str(presenter.expect_event("session")["link"])
        xdotool("mousemove", str(XTERM_AT[0] + 60), str(XTERM_AT[1] + 60))  # on their shell
        console = Proc(
            command("porthole"), "join", "--console", link, "--name", "Ana",
            "--password-file", str(password_file), env={"DISPLAY": ana_display.name},
        )  # fmt: skip
        console.expect(r"^joined\.")

        def on_ana(*args: str) -> str:
            return xdotool_on(ana_display.name, *args)

        console.say("/view")
        windows: list[str] = []

        def window_shown() -> bool:
            windows[:] = on_ana("search", "--name", "presenting$").split()
            return bool(windows)

        wait_for(window_shown, "the viewer window on Ana's display")
        console.say("/control")
        presenter.expect_event("control", granted=True, name="Ana")
        console.expect(r"Ana \(has control\)")  # the roster line: the window shows control too
        on_ana("mousemove", "--window", windows[0], "20", "20")
        on_ana("windowfocus", "--sync", windows[0])
        on_ana("type", "--delay", "30", "echo console-ok > console.txt")
        on_ana("key", "Return")
        file_says(shell / "console.txt", "console-ok\n")
        console.say("/release")
        presenter.expect_event("control", granted=False)
        console.say("/leave")
        assert console.finish() == 0, "\n".join(console.lines)
        assert "Traceback" not in "\n".join(console.lines)
    finally:
        if console is not None and console.popen.poll() is None:
            console.popen.kill()
            console.popen.wait()
        stop(presenter)
        ana_server.stop()
