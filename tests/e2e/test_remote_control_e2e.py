"""Remote control end to end: a real relay, `porthole present --headless` on Xvfb, real members.

The controller is a real client in this process; the presenter is a subprocess injecting through
XTEST; a Tk window in its own process records what reaches the display, and xdotool reads the
pointer. Consent is the presenter's own: `--allow-control-from Cleo` is its user's policy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from procs import Proc, command
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay
from sessionkit import connect, next_event

from core.client import MemberSession
from core.client.events import ActionAnswered, RosterChanged
from core.protocol.content import ContentType, InputEvent, InputKind
from core.protocol.framing import FrameBuffer, decode_payload, encode_frame
from core.protocol.messages import ActionCode, ActionOutcome, Sealed

RECORDER = Path(__file__).resolve().parents[1] / "core" / "test_control_x11.py"
AREA = (40, 60, 400, 300)  # the shared region and the recorder window, in screen pixels
SESSION_PASSWORD = "tangerine-7"


def xdotool(*args: str) -> str:
    return subprocess.run(
        ["xdotool", *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout


def pointer() -> tuple[int, int]:
    match = re.search(r"x:(\d+) y:(\d+)", xdotool("getmouselocation"))
    assert match is not None
    return int(match.group(1)), int(match.group(2))


def held_keycodes() -> list[int]:
    """Keys the X server believes are down right now (python-xlib query_keymap)."""
    from Xlib import display as xdisplay  # type: ignore[import-untyped]

    d = xdisplay.Display()
    try:
        keymap = d.query_keymap()
    finally:
        d.close()
    return [i * 8 + bit for i, byte in enumerate(keymap) for bit in range(8) if byte >> bit & 1]


def event(kind: InputKind, x: int = 0, y: int = 0, **fields: object) -> InputEvent:
    base = InputEvent(
        kind=kind, x=x, y=y, button=0, wheel_dx=0, wheel_dy=0, modifiers=0, key="", text=""
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


@pytest.fixture
def recorder(display: object) -> Iterator[Proc]:
    proc = Proc(sys.executable, str(RECORDER), "recorder", *map(str, AREA))
    window = proc.expect(r"^ready \d+ \d+ (\d+)").group(1)
    xdotool("windowfocus", "--sync", window)
    yield proc
    proc.popen.kill()
    proc.popen.wait()


async def expect(
    proc: Proc, event_name: str, timeout: float = 20.0, **where: object
) -> dict[str, object]:
    """Wait for a JSON event off the trio thread (the relay runs on it, in this process)."""
    return await trio.to_thread.run_sync(lambda: proc.expect_event(event_name, timeout, **where))


async def recorded(proc: Proc, pattern: str, timeout: float = 10.0) -> str:
    match = await trio.to_thread.run_sync(lambda: proc.expect(pattern, timeout))
    return match.group(0)


async def test_input_lands_only_after_the_grant_and_ctrl_f12_revokes_everything(
    relay: RunningRelay, tmp_path: Path, recorder: Proc
) -> None:
    password_file = tmp_path / "session-password"
    password_file.write_text(SESSION_PASSWORD)
    presenter = Proc(
        command("porthole"), "present", "--headless",
        "--relay", f"127.0.0.1:{relay.port}", "--fingerprint", relay.fingerprint,
        "--user", ORGANIZER, "--password-stdin", "--session-password-file", str(password_file),
        "--region", ",".join(map(str, AREA)), "--allow-control-from", "Cleo",
        stdin_text=ORGANIZER_PASSWORD,
    )  # fmt: skip
    try:
        session_id = str((await expect(presenter, "session"))["id"])
        tapped: dict[int, bytearray] = {}

        def tap(conn_id: int, direction: str, data: bytes) -> None:
            if direction == "in":
                tapped.setdefault(conn_id, bytearray()).extend(data)

        relay.info.relay.wiretap = tap
        hotkey = await expect(presenter, "hotkey")
        assert hotkey["available"] is True, hotkey
        async with (
            connect(relay.port, relay.fingerprint) as cleo_c,
            connect(relay.port, relay.fingerprint) as eve_c,
        ):
            cleo = await cleo_c.join(session_id, name="Cleo", password=SESSION_PASSWORD)
            eve = await eve_c.join(session_id, name="Eve", password=SESSION_PASSWORD)
            presenter_id = 1

            async def send(member: MemberSession, e: InputEvent) -> None:
                await member.send_content(e, recipient=presenter_id)

            # Before any grant: the relay refuses the input, and nothing moves.
            xdotool("mousemove", "5", "5")
            await send(cleo, event(InputKind.POINTER_MOVE, 100, 50))
            await trio.sleep(0.5)
            assert pointer() == (5, 5)

            # Eve asks first: the presenter's policy refuses her.
            rid = await eve.request(ActionCode.REQUEST_CONTROL)
            answer = await next_event(
                eve,
                ActionAnswered,
                lambda a: (
                    a.request_id == rid and a.outcome is not ActionOutcome.WAITING_FOR_CONSENT
                ),
            )
            assert answer.outcome is ActionOutcome.REFUSED
            consent = await expect(presenter, "consent", name="Eve")
            assert consent["answer"] == "refused"

            # Cleo asks: granted by the presenter's own policy.
            rid = await cleo.request(ActionCode.REQUEST_CONTROL)
            await next_event(cleo, RosterChanged, lambda r: r.roster.controller == cleo.peer_id)
            await expect(presenter, "control", granted=True, name="Cleo")

            await send(cleo, event(InputKind.POINTER_MOVE, 100, 50))
            with trio.fail_after(10):
                while pointer() != (AREA[0] + 100, AREA[1] + 50):
                    await trio.sleep(0.05)
            await send(cleo, event(InputKind.KEY_DOWN, key="k"))
            await send(cleo, event(InputKind.KEY_UP, key="k"))
            await recorded(recorder, r"^kp k ")
            await recorded(recorder, r"^kr k ")

            # Eve, not granted, sends input anyway: the relay refuses it; nothing lands.
            await send(eve, event(InputKind.POINTER_MOVE, 300, 200))
            await trio.sleep(0.5)
            assert pointer() == (AREA[0] + 100, AREA[1] + 50)

            # A compromised relay replays Cleo's first move, and forwards Eve's input with
            # Cleo's identity written into the clear header: the presenter opens neither.
            live = relay.info.relay.switchboard.sessions[session_id]
            to_presenter = live.members[presenter_id]
            replayed = _sealed_inputs(tapped[live.members[cleo.peer_id].conn_id])[0]
            eve_input = _sealed_inputs(tapped[live.members[eve.peer_id].conn_id])[-1]
            forged = dataclasses.replace(
                eve_input, header=dataclasses.replace(eve_input.header, sender=cleo.peer_id)
            )
            await send(cleo, event(InputKind.POINTER_MOVE, 200, 100))
            with trio.fail_after(10):
                while pointer() != (AREA[0] + 200, AREA[1] + 100):
                    await trio.sleep(0.05)
            for bad in (replayed, forged):
                to_presenter.send_frame(encode_frame(bad), droppable=False)
            await trio.sleep(0.7)
            assert pointer() == (AREA[0] + 200, AREA[1] + 100), "a replay or forgery landed"

            # Cleo holds shift and a button; the presenter presses Ctrl+F12.
            await send(cleo, event(InputKind.KEY_DOWN, key="shift_l"))
            await send(cleo, event(InputKind.BUTTON_DOWN, 120, 60, button=1))
            await recorded(recorder, r"^bp 1 ")
            xdotool("key", "ctrl+F12")
            revoked = await expect(presenter, "control", granted=False)
            assert revoked["reason"] == "hotkey"
            await recorded(recorder, r"^br 1 ")  # the held button was released
            await next_event(cleo, RosterChanged, lambda r: r.roster.controller is None)
            assert held_keycodes() == [], "a key stayed held after revoke"

            # After the revoke nothing Cleo sends lands.
            await send(cleo, event(InputKind.POINTER_MOVE, 10, 10))
            await send(cleo, event(InputKind.KEY_DOWN, key="z"))
            await trio.sleep(0.7)
            assert pointer() != (AREA[0] + 10, AREA[1] + 10)
            leftovers = await trio.to_thread.run_sync(lambda: _drain(recorder))
            assert not any(line.startswith("kp z") for line in leftovers), leftovers
    finally:
        presenter.signal(signal.SIGINT)
        code = await trio.to_thread.run_sync(presenter.finish)
        assert code == 0, "\n".join(presenter.lines)


async def test_a_relay_side_grant_the_presenter_never_made_injects_nothing(
    relay: RunningRelay, tmp_path: Path, recorder: Proc
) -> None:
    password_file = tmp_path / "session-password"
    password_file.write_text(SESSION_PASSWORD)
    presenter = Proc(
        command("porthole"), "present", "--headless",
        "--relay", f"127.0.0.1:{relay.port}", "--fingerprint", relay.fingerprint,
        "--user", ORGANIZER, "--password-stdin", "--session-password-file", str(password_file),
        "--region", ",".join(map(str, AREA)), "--stats",
        stdin_text=ORGANIZER_PASSWORD,
    )  # fmt: skip
    try:
        session_id = str((await expect(presenter, "session"))["id"])
        async with connect(relay.port, relay.fingerprint) as mallory_c:
            mallory = await mallory_c.join(session_id, name="Mallory", password=SESSION_PASSWORD)
            # The relay is compromised: it names Mallory controller without any consent.
            live = relay.info.relay.switchboard.sessions[session_id]
            live.state = dataclasses.replace(live.state, controller=mallory.peer_id)
            live.broadcast(live.roster())
            await next_event(
                mallory, RosterChanged, lambda r: r.roster.controller == mallory.peer_id
            )
            xdotool("mousemove", "5", "5")
            for x in range(5):
                await mallory.send_content(event(InputKind.POINTER_MOVE, 100 + x, 50), recipient=1)
            await mallory.send_content(event(InputKind.KEY_DOWN, key="m"), recipient=1)
            stats = await expect(presenter, "stats")
            for _ in range(15):  # stats arrive once a second
                assert stats["input_injected"] == 0, stats
                if stats["input_dropped"] == {"not-granted": 6}:
                    break
                stats = await expect(presenter, "stats")
            assert stats["input_dropped"] == {"not-granted": 6}, json.dumps(stats)
            assert stats["input_injected"] == 0
            assert pointer() == (5, 5)
            leftovers = await trio.to_thread.run_sync(lambda: _drain(recorder))
            assert not any(line.startswith("kp") for line in leftovers), leftovers
    finally:
        presenter.signal(signal.SIGINT)
        code = await trio.to_thread.run_sync(presenter.finish)
        assert code == 0, "\n".join(presenter.lines)


def _sealed_inputs(stream: bytearray) -> list[Sealed]:
    """The sealed input events in one connection's captured inbound bytes, in order."""
    frames = FrameBuffer()
    frames.feed(bytes(stream))
    found: list[Sealed] = []
    while (payload := frames.next_payload()) is not None:
        msg = decode_payload(payload)
        if isinstance(msg, Sealed) and msg.header.content_type is ContentType.INPUT_EVENT:
            found.append(msg)
    assert found, "no sealed input was captured"
    return found


def _drain(proc: Proc) -> list[str]:
    """Lines the recorder printed within half a second (it prints every event it gets)."""
    with contextlib.suppress(AssertionError):
        proc.expect(r"^$never", timeout=0.5)
    return list(proc.lines)
