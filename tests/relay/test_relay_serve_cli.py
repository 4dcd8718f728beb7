"""``porthole-relay serve`` run for real, as a subprocess, with real clients connecting to it.

The operator's view: start it, read where it listens and which fingerprint to pin from its
stdout, let clients log in and run a session, stop it with a signal, and find the session in
the records and nothing else in the data directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from relaykit import ORGANIZER, ORGANIZER_PASSWORD
from sessionkit import connect, next_event

from core.client import RelayUnreachable
from core.client.events import ContentReceived, RosterChanged, SessionClosed
from core.errors import ErrorCode
from core.protocol.content import Chat
from core.tlspin import FingerprintMismatch, format_fingerprint

SESSION_PASSWORD = "tangerine-7"
LISTENING = re.compile(r"^porthole relay listening on 127\.0\.0\.1:(\d+)$")
FINGERPRINT = re.compile(r"^certificate fingerprint: ((?:[0-9a-f]{4} ){15}[0-9a-f]{4})$")
JOIN_LINK = re.compile(
    r"^join links look like: porthole://127\.0\.0\.1:(\d+)/SESSIONID\?fp=([0-9a-f]{64})$"
)


def entry_point() -> list[str]:
    path = shutil.which("porthole-relay")
    if path is None:
        pytest.fail("porthole-relay is not on PATH; install the package (pip install -e .)")
    return [path]


MODULE = [sys.executable, "-m", "relay.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The child's environment: no inherited relay location, a throwaway HOME."""
    child = {
        k: v for k, v in os.environ.items() if k not in ("PORTHOLE_RELAY_DATA", "XDG_DATA_HOME")
    }
    child["HOME"] = str(tmp_path / "home")
    return child


@dataclass
class Serving:
    process: trio.Process
    port: int
    fingerprint: str
    lines: list[str]
    _stdout: trio.abc.ReceiveStream
    _buffer: bytearray

    async def readline(self) -> str:
        while b"\n" not in self._buffer:
            chunk = await self._stdout.receive_some()
            if not chunk:
                raise AssertionError(f"porthole-relay serve closed stdout; it said {self.lines}")
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer[:] = rest
        text = line.decode()
        self.lines.append(text)
        return text

    async def stop(self, signum: signal.Signals) -> tuple[int, str, str]:
        """Signal it and wait (a few seconds at most); return exit code, rest of stdout, stderr."""
        self.process.send_signal(signum)
        with trio.fail_after(5):
            code = await self.process.wait()
            rest = bytes(self._buffer)
            while chunk := await self._stdout.receive_some():
                rest += chunk
            assert self.process.stderr is not None
            err = b""
            while chunk := await self.process.stderr.receive_some():
                err += chunk
        return code, rest.decode(), err.decode()


@asynccontextmanager
async def serving(
    command: Sequence[str], data_dir: Path, env: dict[str, str]
) -> AsyncIterator[Serving]:
    """``COMMAND serve --listen 127.0.0.1:0 --data-dir DATA_DIR``, up and listening."""
    argv = [*command, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)]
    process = await trio.lowlevel.open_process(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert process.stdout is not None
        serve = Serving(process, 0, "", [], process.stdout, bytearray())
        with trio.fail_after(30):
            listening = LISTENING.match(await serve.readline())
            grouped = FINGERPRINT.match(await serve.readline())
            link = JOIN_LINK.match(await serve.readline())
        assert listening, serve.lines
        assert grouped, serve.lines
        assert link, serve.lines
        serve.port = int(listening.group(1))
        serve.fingerprint = link.group(2)
        assert int(link.group(1)) == serve.port
        assert grouped.group(1) == format_fingerprint(serve.fingerprint)
        yield serve
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


async def relay_cli(
    command: Sequence[str], *args: str, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(60):
        return await trio.run_process(
            [*command, *args],
            stdin=stdin.encode(),
            capture_stdout=True,
            capture_stderr=True,
            env=env,
            check=False,
        )


async def test_serve_runs_a_session_and_stops_cleanly_on_sigterm(
    tmp_path: Path, env: dict[str, str]
) -> None:
    data_dir = tmp_path / "relay-data"
    cli = entry_point()
    added = await relay_cli(
        cli, "account", "add", ORGANIZER, "--password-stdin", "--data-dir", str(data_dir),
        env=env, stdin=ORGANIZER_PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    async with serving(cli, data_dir, env) as relay:
        # A client pinned to someone else's certificate refuses before sending a byte.
        wrong = ("0123456789abcdef" * 4) if not relay.fingerprint.startswith("0123") else "f" * 64
        with pytest.raises(FingerprintMismatch) as mismatch:
            async with connect(relay.port, wrong):
                pass
        assert format_fingerprint(relay.fingerprint) in str(mismatch.value)

        # Clients pinned to the printed fingerprint log in, create, join and talk.
        async with connect(relay.port, relay.fingerprint) as oc:
            await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
            org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
            async with connect(relay.port, relay.fingerprint) as ac:
                ana = await ac.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
                await next_event(org, RosterChanged, lambda e: len(e.roster.members) == 2)
                await ana.send_content(Chat(text="hello through the real daemon"))
                got = await next_event(org, ContentReceived)
                assert got.message == Chat(text="hello through the real daemon")

                # SIGTERM: the sessions end with a reason, then the process exits 0.
                started = trio.current_time()
                code, rest, err = await relay.stop(signal.SIGTERM)
                assert code == 0, err
                assert trio.current_time() - started < 5
                assert rest == "SIGTERM: ending sessions and shutting down\n"
                assert err == ""
                for session in (org, ana):
                    closed = await next_event(session, SessionClosed)
                    assert closed.code is ErrorCode.SESSION_ENDED
                    assert closed.message == "The relay is shutting down."

        # Nobody listens any more.
        with pytest.raises(RelayUnreachable):
            async with connect(relay.port, relay.fingerprint):
                pass

    records = await relay_cli(cli, "records", "--json", "--data-dir", str(data_dir), env=env)
    assert records.returncode == 0, records.stderr
    [record] = json.loads(records.stdout)
    assert record["session_id"] == org.session_id
    assert record["organizer"] == ORGANIZER
    assert record["ended_at"] is not None
    assert record["end_reason"] == "session_ended"
    assert record["peak_members"] == 2
    assert record["bytes_relayed"] > 0
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "decoy.key",
        "relay-cert.pem",
        "relay-key.pem",
        "relay.db",
    ]

    decoy_secret = (data_dir / "decoy.key").read_bytes()

    # Restarted (this time as python -m relay.cli, stopped with SIGINT), the relay is the same
    # relay: the same certificate, so the pins and join links people hold stay valid, and the
    # same decoy secret, so unknown session IDs keep their decoy leader keys.
    async with serving(MODULE, data_dir, env) as again:
        assert again.fingerprint == relay.fingerprint
        assert again.lines[1] == relay.lines[1]
        async with connect(again.port, again.fingerprint) as oc:
            await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        code, rest, err = await again.stop(signal.SIGINT)
        assert (code, rest, err) == (0, "SIGINT: ending sessions and shutting down\n", "")
    assert (data_dir / "decoy.key").read_bytes() == decoy_secret
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "decoy.key",
        "relay-cert.pem",
        "relay-key.pem",
        "relay.db",
    ]


@pytest.mark.parametrize("given", ["--cert", "--key"])
async def test_half_a_certificate_pair_is_a_usage_error(
    tmp_path: Path, env: dict[str, str], given: str
) -> None:
    data_dir = tmp_path / "relay-data"
    pem = tmp_path / "half.pem"
    pem.write_text("-----BEGIN NOTHING-----\n")
    result = await relay_cli(
        entry_point(), "serve", given, str(pem), "--listen", "127.0.0.1:0",
        "--data-dir", str(data_dir), env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr == b"porthole-relay serve: give both --cert and --key, or neither.\n"
    assert not data_dir.exists()  # refused before touching anything


async def test_a_damaged_decoy_secret_stops_the_start_with_one_sentence(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Never silently replaced: the operator sees which file and what to do."""
    data_dir = tmp_path / "relay-data"
    data_dir.mkdir(mode=0o700)
    (data_dir / "decoy.key").write_bytes(b"short")
    result = await relay_cli(
        entry_point(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), env=env
    )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"porthole-relay serve: {data_dir / 'decoy.key'} is damaged (5 bytes, not 32); "
        "delete it and the relay makes a new one.\n"
    )
    assert (data_dir / "decoy.key").read_bytes() == b"short"
