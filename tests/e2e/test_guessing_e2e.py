"""The guessing alarm and the device cookie through real programs: `porthole-relay serve`,
`porthole present --headless` on a real Xvfb, and a guesser on two loopback networks.

Ten wrong session passwords, five from 127.0.0.x and five from 127.0.1.x, are all free (each
source gets six), so the production relay with its default limits answers every one at once;
the organizer's program counts them and prints the `guessing` event at the tenth.
"""

from __future__ import annotations

import json
import secrets
import signal
from pathlib import Path

import pytest
import trio
from procs import Proc, command, relay_process
from sessionkit import connect

from core.client import RequestRefused
from core.device_cookies import DeviceCookies
from core.errors import ErrorCode

ORGANIZER, ORGANIZER_PASSWORD = "olga", "plum-harbor-lantern-42"
SESSION_PASSWORD = "tangerine-7"


async def _guess(port: int, fingerprint: str, session_id: str) -> list[ErrorCode | None]:
    codes: list[ErrorCode | None] = []
    for address in ("127.0.0.3", "127.0.1.3"):
        async with connect(port, fingerprint, local_address=address) as eve:
            for _ in range(5):
                with pytest.raises(RequestRefused) as refused:
                    await eve.join(session_id, name="Eve", password=secrets.token_hex(4))
                codes.append(refused.value.code)
    return codes


def test_the_headless_organizer_is_told_of_guessing_and_keeps_a_device_cookie(
    tmp_path: Path, display: object
) -> None:
    password_file = tmp_path / "session-password"
    password_file.write_text(SESSION_PASSWORD + "\n")
    config = tmp_path / "config"
    with relay_process(tmp_path / "relay", ORGANIZER, ORGANIZER_PASSWORD) as relay:
        presenter = Proc(
            command("porthole"), "present", "--headless",
            "--relay", f"127.0.0.1:{relay.port}", "--fingerprint", relay.fingerprint,
            "--user", ORGANIZER, "--password-stdin",
            "--session-password-file", str(password_file),
            stdin_text=ORGANIZER_PASSWORD, env={"XDG_CONFIG_HOME": str(config)},
        )  # fmt: skip
        try:
            session_id = presenter.expect_event("session", timeout=60)["id"]
            codes = trio.run(_guess, relay.port, relay.fingerprint, session_id)
            assert codes == [ErrorCode.JOIN_REFUSED] * 10
            warning = presenter.expect_event("guessing", timeout=60)
            assert (warning["scope"], warning["failures"]) == ("session", 10)
            assert "new session" in warning["message"]
            assert "Ctrl+C" in warning["message"]
            events = [json.loads(line) for line in presenter.lines if line.startswith("{")]
            assert [e["event"] for e in events].count("join-failed") == 10
        finally:
            presenter.signal(signal.SIGINT)
            presenter.finish(timeout=30)
    # The login left a device cookie for this relay and account, private to the user.
    cookies = DeviceCookies(config / "porthole" / "device_cookies")
    assert cookies.lookup(relay.fingerprint, ORGANIZER) is not None
    assert cookies.path.stat().st_mode & 0o077 == 0
