"""``--send``, ``--to`` and ``--accept-files`` of the headless programs, as real processes on a
real relay and a real Xvfb (the presenter captures a small region of it meanwhile)."""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import Proc, RelayProcess, command, relay_process
from xvfb import Display

ORGANIZER, ORGANIZER_PASSWORD = "olga", "plum-harbor-lantern-42"
SESSION_PASSWORD = "tangerine-7"
TIMEOUT = 60.0


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    with relay_process(tmp_path / "relay", ORGANIZER, ORGANIZER_PASSWORD) as served:
        yield served


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "session-password"
    path.write_text(SESSION_PASSWORD + "\n")
    return path


def _present(relay: RelayProcess, password_file: Path, *extra: str) -> Proc:
    return Proc(
        command("porthole"), "present", "--headless",
        "--relay", f"127.0.0.1:{relay.port}", "--fingerprint", relay.fingerprint,
        "--user", ORGANIZER, "--password-stdin", "--region", "0,0,64,48",
        "--session-password-file", str(password_file), *extra,
        stdin_text=ORGANIZER_PASSWORD,
    )  # fmt: skip


def _view(link: str, password_file: Path, *extra: str) -> Proc:
    return Proc(
        command("porthole"), "view", "--headless", link, "--name", "Ana",
        "--session-password-file", str(password_file), *extra,
    )  # fmt: skip


def _stop(proc: Proc) -> None:
    proc.signal(signal.SIGINT)
    proc.finish()


def test_a_viewer_sends_a_file_to_the_presenter(
    relay: RelayProcess, password_file: Path, tmp_path: Path, display: Display
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "debug.log").write_bytes(b"already here")
    source = tmp_path / "debug.log"
    data = secrets.token_bytes(3 * 1024 * 1024 + 7)
    source.write_bytes(data)
    presenter = _present(relay, password_file, "--accept-files", str(inbox))
    viewer = None
    try:
        link = presenter.expect_event("session")["link"]
        viewer = _view(link, password_file, "--send", str(source), "--to", ORGANIZER)
        offer = presenter.expect_event("file_offer", timeout=TIMEOUT, direction="receive")
        assert (offer["name"], offer["size"]) == ("debug.log", len(data))
        received = presenter.expect_event("file_done", timeout=TIMEOUT, direction="receive")
        sent = viewer.expect_event("file_done", timeout=TIMEOUT, direction="send")
    finally:
        if viewer is not None:
            _stop(viewer)
        _stop(presenter)
    digest = hashlib.sha256(data).hexdigest()
    assert received["sha256"] == sent["sha256"] == digest
    assert received["path"] == str(inbox / "debug (1).log")
    assert hashlib.sha256(Path(received["path"]).read_bytes()).hexdigest() == digest
    assert (inbox / "debug.log").read_bytes() == b"already here"
    assert sorted(os.listdir(inbox)) == ["debug (1).log", "debug.log"]
    progress = [line for line in presenter.lines if '"event":"file_progress"' in line]
    assert progress, "progress lines were printed (stdout is not a terminal)"


def test_a_presenter_that_takes_no_files_refuses_with_a_sentence(
    relay: RelayProcess, password_file: Path, tmp_path: Path, display: Display
) -> None:
    source = tmp_path / "fix.sh"
    source.write_bytes(b"echo fixed\n")
    presenter = _present(relay, password_file)
    viewer = None
    try:
        link = presenter.expect_event("session")["link"]
        viewer = _view(link, password_file, "--send", str(source))
        failed = viewer.expect_event("file_failed", timeout=TIMEOUT, direction="send")
    finally:
        if viewer is not None:
            _stop(viewer)
        _stop(presenter)
    assert failed["reason"] == "The receiver does not take files in this session."
    assert not any("file_" in line for line in presenter.lines), "no file code ran there"


def test_bad_file_options_are_usage_errors(tmp_path: Path) -> None:
    for extra, says in (
        (["--send", str(tmp_path / "missing.txt")], "not a readable file"),
        (["--accept-files", str(tmp_path / "nowhere")], "not a directory"),
        (["--to", "Olga"], "give --send FILE too"),
    ):
        proc = Proc(
            command("porthole"), "view", "--headless", "--relay", "127.0.0.1:9",
            "--session", "123456789", "--fingerprint", "00" * 32, *extra,
        )  # fmt: skip
        assert proc.finish() == 2, "\n".join(proc.lines)
        assert any(says in line for line in proc.lines), "\n".join(proc.lines)
