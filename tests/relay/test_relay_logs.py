"""``porthole-relay serve --log-format json``: a whole session's log, read as JSON lines.

The real relay runs as a subprocess; real clients log in (once with a wrong password typed into
the user name field as well), create a session, fail a join, join, chat and leave; SIGTERM stops
the relay. Every stderr line must be one JSON object with the documented fields, the session's
events must be there, and no password, chat text or content may appear anywhere in the log
(docs/design.md §7.7).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from relaykit import ORGANIZER, ORGANIZER_PASSWORD
from sessionkit import connect, next_event

from core.client import RequestRefused
from core.client.events import ContentReceived, RosterChanged
from core.protocol.content import Chat
from relay.logs import JsonLines, PlainText

REPO = Path(__file__).resolve().parents[2]
RELAY = [sys.executable, "-m", "relay.cli"]
SESSION_PASSWORD = "plum-orchard-41"
WRONG_PASSWORD = "hunter2-not-the-password"
PASSWORD_AS_NAME = "Olga-typed-her-password-here"
CHAT = "the quarterly numbers are in the blue folder"
LINK = re.compile(
    r"^join links look like: porthole://127\.0\.0\.1:(\d+)/SESSIONID\?fp=([0-9a-f]+)$"
)


def child_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORTHOLE_RELAY_DATA", "XDG_DATA_HOME")}
    env.update(PYTHONPATH=str(REPO), HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    return env


async def read_lines_until(
    stream: trio.abc.ReceiveStream, pattern: re.Pattern[str]
) -> re.Match[str]:
    buffer = b""
    while True:
        chunk = await stream.receive_some()
        assert chunk, buffer.decode()
        buffer += chunk
        for line in buffer.decode().splitlines():
            found = pattern.match(line)
            if found:
                return found


async def test_json_log_of_a_whole_session_has_its_events_and_no_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = child_env(tmp_path)
    added = await trio.run_process(
        [*RELAY, "account", "add", ORGANIZER, "--password-stdin", "--data-dir", str(data)],
        stdin=(ORGANIZER_PASSWORD + "\n").encode(),
        capture_stdout=True,
        capture_stderr=True,
        env=env,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    argv = [*RELAY, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)]
    process = await trio.lowlevel.open_process(
        [*argv, "--log-format", "json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        with trio.fail_after(30):
            link = await read_lines_until(process.stdout, LINK)
        port, fingerprint = int(link.group(1)), link.group(2)
        async with connect(port, fingerprint) as wrong:
            with pytest.raises(RequestRefused):
                await wrong.login(ORGANIZER, WRONG_PASSWORD)
        async with connect(port, fingerprint) as typo:
            with pytest.raises(RequestRefused):
                await typo.login(PASSWORD_AS_NAME, WRONG_PASSWORD)
        async with connect(port, fingerprint) as oc:
            await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
            org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
            async with connect(port, fingerprint) as bad:
                with pytest.raises(RequestRefused):
                    await bad.join(org.session_id, name="Eve", password=WRONG_PASSWORD)
            async with connect(port, fingerprint) as ac:
                ana = await ac.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
                await next_event(org, RosterChanged, lambda e: len(e.roster.members) == 2)
                await ana.send_content(Chat(text=CHAT))
                await next_event(org, ContentReceived)
            await next_event(org, RosterChanged, lambda e: len(e.roster.members) == 1)
        await trio.sleep(0.5)  # the organizer's departure ends the session
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await process.wait() == 0
        err = b""
        while chunk := await process.stderr.receive_some():
            err += chunk
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    text = err.decode()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines, "no log at all"
    for line in lines:
        assert isinstance(line, dict)
        assert {"time", "level", "logger", "event", "message"} <= set(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    events = [line["event"] for line in lines]
    assert events[0] == "relay.listening"
    assert events[-1] == "relay.stopping"
    for expected in ("session.started", "member.joined", "member.left", "session.ended"):
        assert expected in events, events
    assert any(event.startswith("security.") for event in events), events
    started = next(line for line in lines if line["event"] == "session.started")
    assert started["session_id"] == org.session_id
    for secret in (ORGANIZER_PASSWORD, SESSION_PASSWORD, WRONG_PASSWORD, PASSWORD_AS_NAME, CHAT):
        assert secret not in text
    assert "Traceback" not in text


def test_without_log_format_the_relay_logs_no_session_events() -> None:
    """The default stays quiet: only warnings (session events are info)."""
    import io
    import logging

    from relay.events import RelayEvent
    from relay.logs import configure, log_relay_event

    stream = io.StringIO()
    configure(None, None, stream)
    log_relay_event(RelayEvent("session.started", 0.0, session_id="123456789"))
    logging.getLogger("porthole.relay").warning("a warning")
    assert stream.getvalue().endswith("warning a warning\n")
    assert "session" not in stream.getvalue()


def test_formatters_log_an_exception_as_one_line_without_traceback() -> None:
    import logging

    try:
        raise ValueError("bad thing")
    except ValueError:
        record = logging.LogRecord(
            "porthole.relay", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    as_json = JsonLines().format(record)
    assert json.loads(as_json)["error"] == "ValueError: bad thing"
    assert "\n" not in as_json
    assert "\n" not in PlainText().format(record)
