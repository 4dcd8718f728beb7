"""A member that asks the presenter for a keyframe N times a second (for bench.slow_member and
tests/e2e/test_slow_member_e2e.py).

    python -P bench/refresh_spammer.py LINK --session-password-file FILE [--rate 4]

It joins with the client library, drains its events, and sends ``RefreshRequest(GAP)`` to the
presenter ``--rate`` times a second; it prints ``{"event":"spamming"}`` once joined and
``{"event":"sent","requests":N}`` every 20 requests. It imports nothing but ``core`` and the
standard library, so ``bench.slow_member --code DIR`` runs it against another checkout's
client library (run it by path with ``-P``: the modules come from PYTHONPATH).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path


def _say(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}, separators=(",", ":")), flush=True)


async def spam(link_text: str, password: str, rate: float) -> None:
    import trio

    from core.client import open_relay_client
    from core.links import parse_link
    from core.protocol.content import RefreshReason, RefreshRequest

    link = parse_link(link_text)
    async with open_relay_client(link.host, link.port, pinned=link.fingerprint, proxy="") as client:
        session = await client.join(link.session_id, name="spammer", password=password)

        async def drain() -> None:
            async for _ in session.events:
                pass

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain)
            sent = 0
            _say("spamming")
            while True:
                roster = session.roster
                presenter = roster.presenter if roster is not None else None
                if presenter is not None:
                    request = RefreshRequest(reason=RefreshReason.GAP)
                    await session.send_content(request, recipient=presenter)
                    sent += 1
                    if sent % 20 == 0:
                        _say("sent", requests=sent)
                await trio.sleep(1 / rate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/refresh_spammer.py")
    parser.add_argument("link")
    parser.add_argument("--session-password-file", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=4.0, help="requests a second")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import trio

    password = args.session_password_file.read_text().strip()
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(spam, args.link, password, args.rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
