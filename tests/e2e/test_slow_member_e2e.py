"""One member must not slow everyone (docs/design.md §6.5, §7.2): the relay, the presenter and
the viewers as real processes on a real Xvfb, one viewer behind a slow link
(bench/throttle.py) and one member asking for keyframes eight times a second
(bench/refresh_spammer.py).

Nothing here is a rate: the test waits for conditions (with generous timeouts) and checks
states the presenter reports.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from procs import Proc, RelayProcess, relay_process
from test_screen_e2e import ORGANIZER, ORGANIZER_PASSWORD, SESSION_PASSWORD, present, stop, view

from bench.slow_member import slow_link
from bench.throttle import Throttle

FPS = 10
SPAMMER = Path(__file__).resolve().parents[2] / "bench" / "refresh_spammer.py"
#: The slow viewer's link, bytes a second: a fifth or so of what the video needs.
SLOW_LINK = 20_000


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    with relay_process(tmp_path / "relay", ORGANIZER, ORGANIZER_PASSWORD) as served:
        yield served


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "session-password"
    path.write_text(SESSION_PASSWORD + "\n")
    return path


@pytest.fixture
def video(display: object) -> Iterator[Proc]:
    """A 64×48 window of noise, a new frame ten times a second (~90 kB/s of updates)."""
    proc = Proc(sys.executable, "-m", "bench.slow_member", "video", "0", "0", "64", "48", "10")
    proc.expect("ready")
    yield proc
    proc.popen.kill()
    proc.popen.wait()


def stats_until(
    proc: Proc, done: Callable[[dict[str, Any]], bool], *, lines: int = 120
) -> dict[str, Any]:
    """Read ``proc``'s stats lines (one a second) until ``done(stats)``; fail after ``lines``."""
    for _ in range(lines):
        stats = proc.expect_event("stats")
        if done(stats):
            return stats
    pytest.fail(f"{proc.argv[1:3]} never reached the condition; output:\n" + "\n".join(proc.lines))


def test_a_slow_viewer_and_a_pushy_member_leave_the_others_stream_alone(
    relay: RelayProcess, password_file: Path, video: Proc
) -> None:
    pw = str(password_file)
    presenter = present(relay, password_file, "--region", "0,0,160,120", "--stats",
                        "--fps", str(FPS))  # fmt: skip
    throttle = Throttle(relay.port, SLOW_LINK)
    others: list[Proc] = []
    try:
        link = presenter.expect_event("session")["link"]
        fast = view(link, password_file, "--stats", "--name", "fast", "--duration", "300")
        others.append(fast)
        fast.expect_event("joined")
        slow = view(slow_link(link, throttle.port), password_file, "--stats",
                    "--name", "slow", "--duration", "300")  # fmt: skip
        others.append(slow)
        slow.expect_event("joined", timeout=60)
        spammer = Proc(sys.executable, "-P", str(SPAMMER), link,
                       "--session-password-file", pw, "--rate", "8")  # fmt: skip
        others.append(spammer)
        spammer.expect('"event":"spamming"', timeout=60)

        # The organizer is told about the pushy member, by name, and its requests are dropped.
        presenter.expect_event("refresh-limited", name="spammer", timeout=60)

        # The slow viewer falls behind: the relay skips updates for it (it then asks for a
        # keyframe: more requests than its first), and it gets newer pictures at its own pace.
        behind = stats_until(slow, lambda s: s["refreshes"] >= 2)
        stats_until(slow, lambda s: s["keyframes"] > behind["keyframes"])

        # Meanwhile the fast viewer's stream goes on...
        seen = fast.expect_event("stats")["updates"]
        stats_until(fast, lambda s: s["updates"] >= seen + 3 * FPS)
        # ... and the presenter never slowed down for the two of them: one viewer's gaps are
        # its own link's, and a rate-limited member's reports do not count.
        lines = [presenter.expect_event("stats") for _ in range(3)]
        assert all(s["fps"] == FPS for s in lines), lines
        refreshes = lines[-1]["refreshes"]
        assert refreshes["limited"] > 0
        # Its keyframes stayed within the budgets: far fewer than the requests.
        assert lines[-1]["keyframes"] < refreshes["asked"]
    finally:
        for proc in others:
            proc.popen.kill()
            proc.popen.wait()
        throttle.close()
        stop(presenter)
