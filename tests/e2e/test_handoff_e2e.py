"""Presenter handoff end to end: a participant's client captures only after its own yes.

A real relay (in this process), the organizer as a real client here, and the participant as a
`porthole view --headless` subprocess on Xvfb that may be asked to present.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path

import trio
from procs import Proc, command
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay
from sessionkit import collect, connect, next_event

from core.client import OrganizerSession
from core.client.events import ActionAnswered, ContentReceived, RosterChanged
from core.errors import ErrorCode
from core.links import JoinLink
from core.protocol.content import FrameUpdate
from core.protocol.messages import ActionCode, ActionOutcome

PAINTER = Path(__file__).with_name("paint_window.py")
PASSWORD = "tangerine-7"


async def expect(proc: Proc, event_name: str, **where: object) -> dict[str, object]:
    return await trio.to_thread.run_sync(lambda: proc.expect_event(event_name, 20.0, **where))


async def answer(org: OrganizerSession, rid: int) -> ActionAnswered:
    return await next_event(
        org,
        ActionAnswered,
        lambda a: a.request_id == rid and a.outcome is not ActionOutcome.WAITING_FOR_CONSENT,
    )


def participant(link: str, password_file: Path, name: str, *extra: str) -> Proc:
    return Proc(
        command("porthole"), "view", "--headless", link, "--name", name,
        "--session-password-file", str(password_file), "--duration", "60",
        "--region", "0,0,320,200", *extra,
    )  # fmt: skip


async def test_handoff_needs_the_participants_yes_and_take_back_stops_its_capture(
    relay: RunningRelay, tmp_path: Path, display: object
) -> None:
    painter = Proc(sys.executable, str(PAINTER), "handoff", "0", "0", "320", "200", "animate")
    await trio.to_thread.run_sync(lambda: painter.expect("ready"))
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    async with connect(relay.port, relay.fingerprint) as oc:
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=PASSWORD)
        link = str(JoinLink("127.0.0.1", relay.port, org.session_id, relay.fingerprint))
        refuser = participant(link, password_file, "Rita")
        sharer = participant(link, password_file, "Sam", "--accept-presenter-requests")
        try:
            rita = int(str((await expect(refuser, "joined"))["peer"]))
            sam = int(str((await expect(sharer, "joined"))["peer"]))

            # Rita is asked and says no (her client has no --accept-presenter-requests).
            refused = await answer(org, await org.request(ActionCode.PROPOSE_PRESENTER, rita))
            assert refused.code is ErrorCode.CONSENT_REFUSED
            assert (await expect(refuser, "consent"))["answer"] == "refused"

            # A relay that makes Rita presenter anyway gets no pixels: she never agreed.
            live = relay.info.relay.switchboard.sessions[org.session_id]
            live.state = dataclasses.replace(live.state, presenter=rita)
            live.broadcast(live.roster())
            events = await collect(org, 1.5)
            pixels = [
                e
                for e in events
                if isinstance(e, ContentReceived) and isinstance(e.message, FrameUpdate)
            ]
            assert not pixels
            live.state = dataclasses.replace(live.state, presenter=1)
            live.broadcast(live.roster())

            # Sam agrees: his client starts capturing and the organizer receives his screen.
            applied = await answer(org, await org.request(ActionCode.PROPOSE_PRESENTER, sam))
            assert applied.outcome is ActionOutcome.APPLIED
            assert (await expect(sharer, "consent"))["answer"] == "granted"
            await expect(sharer, "presenting", on=True)
            frame = await next_event(
                org,
                ContentReceived,
                lambda e: e.sender == sam and isinstance(e.message, FrameUpdate),
            )
            assert isinstance(frame.message, FrameUpdate)
            assert (frame.message.width, frame.message.height) == (320, 200)

            # The organizer takes presenting back: no question to Sam, who stops capturing.
            took = await answer(org, await org.request(ActionCode.TAKE_BACK, confirmed=True))
            assert took.outcome is ActionOutcome.APPLIED
            await next_event(org, RosterChanged, lambda e: e.roster.presenter == 1)
            await expect(sharer, "presenting", on=False)
            await trio.sleep(0.3)  # anything in flight before the switch lands now
            later = await collect(org, 1.5)
            frames_after = [
                e
                for e in later
                if isinstance(e, ContentReceived)
                and e.sender == sam
                and isinstance(e.message, FrameUpdate)
            ]
            assert not frames_after
            # Sam watches again: as a viewer he asks the new presenter for a keyframe.
            assert any(isinstance(e, ContentReceived) and e.sender == sam for e in later)
        finally:
            for proc in (refuser, sharer):
                proc.signal(signal.SIGINT)
            for proc in (refuser, sharer, painter):
                if proc.popen.poll() is None:
                    proc.popen.kill()
                await trio.to_thread.run_sync(proc.popen.wait)
