"""The scripted controller end to end: `porthole view --headless --request-control` types into a
shell on the presenter's screen.

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
