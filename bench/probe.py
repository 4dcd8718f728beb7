"""``porthole present|view`` exactly as the CLI runs them, plus a per-frame log for benchmarks.

    python -m bench.probe --log FILE present --headless ...     # arguments as for `porthole`
    python -m bench.probe --log FILE view --headless LINK ...

This is ``tui.cli.main`` with four methods wrapped from the outside (no porthole code is
changed), so that a benchmark gets per-update figures the ``--stats`` lines only give as
running totals. One line per event goes to FILE:

* ``F t_grab grab_ms encode_ms bytes keyframe``: the presenter captured a frame
  (``Capturer.grab_changes``, or ``Capturer.grab``) and encoded it (``Encoder.encode``);
  ``bytes`` is -1 when the encoder found nothing changed. ``t_grab`` is ``time.monotonic()``
  when the grab started. A capture that found nothing drawn (XDAMAGE) is never encoded, so it
  has no line. These are kept in memory and written when the command returns (the headless
  presenter ends cleanly on SIGTERM/SIGINT): formatting and writing a line per keystroke cost
  the presenter ~3 % of its CPU in the typing benchmark, which measures that CPU.
* ``U t_arrived t_decoded bytes keyframe arrival_ms decoded_ms applied``: the viewer got a
  ``FrameUpdate`` (``ScreenViewer.on_update``). ``arrival_ms`` is the viewer's own latency
  figure (``time.time()`` on arrival minus the presenter's ``captured_at``: capture to
  arrival, the same clock on one machine); ``decoded_ms`` is the same up to the end of the
  decode. ``applied`` is 0 if the decoder refused it. Written at once (unbuffered
  ``os.write``): the headless viewer dies on SIGTERM without running any more code.

The cost is a few clock reads per frame, and one small write per viewer update.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from core.capture import CapturedFrame, Capturer
from core.codec import EncodedUpdate, Encoder, Rect
from core.protocol.content import FrameUpdate
from core.stream import ScreenViewer

#: The presenter's ``F`` records, until :func:`flush` writes them.
_frames: list[tuple[float, float, float, int, int]] = []


def install(fd: int) -> None:
    def write(line: str) -> None:
        os.write(fd, line.encode())

    grab = Capturer.grab
    grab_changes = Capturer.grab_changes
    encode = Encoder.encode
    on_update = ScreenViewer.on_update
    last_grab: dict[str, float] = {"t": 0.0, "ms": 0.0}

    def timed_grab(self: Capturer) -> CapturedFrame:
        t = time.monotonic()
        started = time.perf_counter()
        frame = grab(self)
        last_grab["t"] = t
        last_grab["ms"] = (time.perf_counter() - started) * 1000
        return frame

    def timed_grab_changes(self: Capturer, **options: Any) -> CapturedFrame:
        t = time.monotonic()
        started = time.perf_counter()
        frame = grab_changes(self, **options)
        last_grab["t"] = t
        last_grab["ms"] = (time.perf_counter() - started) * 1000
        return frame

    def timed_encode(
        self: Encoder, frame: Any, *, keyframe: bool = False, changed: Any = None
    ) -> EncodedUpdate | None:
        started = time.perf_counter()
        update = encode(self, frame, keyframe=keyframe, changed=changed)
        ms = (time.perf_counter() - started) * 1000
        size = -1 if update is None else len(update.data)
        kf = int(update is not None and update.keyframe)
        _frames.append((last_grab["t"], last_grab["ms"], ms, size, kf))
        return update

    async def timed_on_update(
        self: ScreenViewer, update: FrameUpdate, now: float | None = None
    ) -> list[Rect]:
        arrived = time.time() if now is None else now
        t_arrived = time.monotonic()
        rejected = self._rejected
        damaged = await on_update(self, update, arrived)
        decoded = time.time()
        applied = int(self._rejected == rejected)
        captured = update.captured_at_us / 1_000_000
        write(
            f"U {t_arrived:.6f} {time.monotonic():.6f} {len(update.tiles)} {int(update.keyframe)} "
            f"{(arrived - captured) * 1000:.3f} {(decoded - captured) * 1000:.3f} {applied}\n"
        )
        return damaged

    Capturer.grab = timed_grab  # type: ignore[method-assign]
    Capturer.grab_changes = timed_grab_changes  # type: ignore[method-assign]
    Encoder.encode = timed_encode  # type: ignore[method-assign]
    ScreenViewer.on_update = timed_on_update  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[0] != "--log":
        print("usage: python -m bench.probe --log FILE (present|view) ARGS...", file=sys.stderr)
        return 2
    fd = os.open(args[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    install(fd)
    from tui.cli import main as porthole_main

    try:
        return porthole_main(args[2:])
    finally:
        flush(fd)


def flush(fd: int) -> None:
    """Write the buffered ``F`` records."""
    lines = [f"F {t:.6f} {grab:.3f} {ms:.3f} {size} {kf}\n" for t, grab, ms, size, kf in _frames]
    _frames.clear()
    os.write(fd, "".join(lines).encode())


if __name__ == "__main__":
    raise SystemExit(main())
