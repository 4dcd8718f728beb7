"""``bench.slow_member``'s arithmetic and ``bench.throttle``'s slow link (no timing asserted
beyond "not faster than the rate", which load cannot break)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from bench.slow_member import slow_link, summarize
from bench.throttle import SLICE_SECONDS, Throttle


def _row(rep: int, condition: str, rate: float, **extra: Any) -> dict[str, Any]:
    return {"rep": rep, "condition": condition, "median_rate": rate, **extra}


def test_ratios_are_taken_within_a_repetition_and_their_median_reported() -> None:
    rounds = [
        _row(0, "base", 10.0), _row(0, "slow", 9.0, slow_rate=1.0), _row(0, "spam", 5.0),
        _row(1, "base", 4.0), _row(1, "slow", 4.0, slow_rate=2.0), _row(1, "spam", 4.4),
        _row(2, "base", 20.0), _row(2, "slow", 19.0, slow_rate=3.0), _row(2, "spam", 19.0),
    ]  # fmt: skip
    summary = summarize(rounds)
    assert summary["ratios"]["slow"] == [0.9, 1.0, 0.95]
    assert summary["ratio"] == {"slow": 0.95, "spam": 0.95}
    assert summary["median_rate"]["base"] == 10.0
    assert summary["slow_viewer_rate"] == 2.0


def test_the_slow_link_is_the_same_link_through_another_port() -> None:
    link = "porthole://127.0.0.1:4433/123456789?fp=" + "ab" * 32
    assert slow_link(link, 5555) == "porthole://127.0.0.1:5555/123456789?fp=" + "ab" * 32


def test_the_throttle_delivers_everything_and_no_faster_than_its_rate() -> None:
    payload = bytes(range(256)) * 200  # 51,200 bytes
    rate = 100_000.0
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            assert conn.recv(2) == b"go"
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(4096):  # until the client closes: closing first could reset
                pass

    threading.Thread(target=serve, daemon=True).start()
    throttle = Throttle(server.getsockname()[1], rate)
    try:
        with socket.create_connection(("127.0.0.1", throttle.port), timeout=30) as client:
            client.sendall(b"go")  # upstream goes through at once
            started = time.monotonic()
            got = b""
            while len(got) < len(payload):
                chunk = client.recv(65536)
                assert chunk, "the throttle closed before delivering everything"
                got += chunk
            elapsed = time.monotonic() - started
        assert got == payload
        # The first slice may go out at once; the rest waits for the rate.
        assert elapsed >= (len(payload) - rate * SLICE_SECONDS) / rate
        assert throttle.delivered == len(payload)
    finally:
        throttle.close()
        server.close()
