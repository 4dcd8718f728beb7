"""``porthole view --headless``: join a session and keep the presenter's picture in memory.

Its command line and what it prints are described in :data:`tui.options.VIEW_DESCRIPTION`
(what ``porthole view --help`` shows).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from core.client import MemberSession, open_relay_client
from core.client.events import (
    ConsentRequested,
    ContentReceived,
    EpochChanged,
    RosterChanged,
    SessionClosed,
    UpdatesDropped,
)
from core.failures import Failure, Interrupted, UsageError, session_end_failure
from core.links import JoinLink, normalize_session_id, parse_link
from core.protocol.content import Cursor, FrameUpdate, RefreshReason, RefreshRequest
from core.protocol.messages import ActionCode, Roster
from tui.headless import (
    emit,
    emit_transport,
    parse_relay,
    pinned_fingerprint,
    read_secret_file,
    refuse_offer,
    wants_files,
)

if TYPE_CHECKING:
    # Loaded when used: the decoder once the relay answered (_view); the capture and the encoder
    # only when this viewer agreed to present (ShareOnRequest.on_roster), which is rare.
    from core.capture import Capturer
    from core.control.script import Step
    from core.stream.presenter import ScreenPresenter
    from core.stream.viewer import ScreenViewer
    from tui.controller import ScriptedControl


def resolve(args: argparse.Namespace) -> JoinLink:
    if args.link:
        link = parse_link(args.link)
    elif args.relay and args.session:
        host, port = parse_relay(args.relay)
        link = JoinLink(host, port, normalize_session_id(args.session), None)
    else:
        raise UsageError("give a join link, or --relay HOST:PORT and --session ID")
    fingerprint = link.fingerprint if link.fingerprint and not args.fingerprint else None
    if fingerprint is None:
        fingerprint = pinned_fingerprint(link.host, link.port, args.fingerprint)
    return JoinLink(link.host, link.port, link.session_id, fingerprint)


def run(args: argparse.Namespace) -> int:
    if not args.headless:
        raise UsageError(
            "`porthole view` runs only with --headless",
            next_step="To watch in a window, run `porthole join LINK`; add --headless for scripts.",
        )
    if args.frames is not None and args.frames < 1:
        raise UsageError("--frames must be at least 1")
    steps: list[Step] | None = None
    if args.request_control or getattr(args, "control_steps", None):
        # Only a controller loads the input parser: a plain viewer imports nothing of control.
        from tui.controller import parse_steps

        steps = parse_steps(args)  # a mistake is a usage error before anyone is contacted
    if wants_files(args):
        from tui.headless_files import check

        check(args)
    link = resolve(args)
    password = (
        read_secret_file(args.session_password_file, "session password")
        if args.session_password_file
        else ""
    )
    viewer_box: list[ScreenViewer] = []
    try:
        trio.run(_view, args, link, password, viewer_box, steps)
    finally:
        # Also after a refusal, a lost relay or a signal: a frame that arrived is kept.
        if args.save_frame is not None and viewer_box:
            _save(viewer_box[0], args.save_frame)
    return 0


async def _view(
    args: argparse.Namespace,
    link: JoinLink,
    password: str,
    viewer_box: list[ScreenViewer],
    steps: list[Step] | None = None,
) -> None:
    assert link.fingerprint is not None
    # Refusals (locked, declined, wrong password, ...) and a lost relay propagate as Failures.
    async with open_relay_client(
        link.host,
        link.port,
        pinned=link.fingerprint,
        transport=args.transport,
        proxy=args.proxy,
    ) as client:
        emit_transport(client.channel.identity)
        session = await client.join(link.session_id, name=args.name, password=password)
        # The decoder (numpy, Pillow) loads once the relay has been reached, not before the
        # first byte: a script polling a relay hears back sooner (bench/startup.py).
        from core.stream.viewer import ScreenViewer

        viewer = ScreenViewer(lambda req: _ask_presenter(session, req))
        viewer_box.append(viewer)
        control = None
        if steps is not None:
            from tui.controller import ScriptedControl

            control = ScriptedControl(session, steps, timeout=args.control_timeout)
        stopped_by = await _watch(args, session, viewer, control)
    if stopped_by is not None:
        raise Interrupted(stopped_by)
    closed = session.closed
    if closed is not None and (failure := session_end_failure(closed.code, closed.message)):
        raise failure  # the relay went away (exit 3), or this viewer was removed
    if control is not None:
        if control.failure is not None:
            raise control.failure  # refused or revoked: exit 1 with an error event
        if not control.finished:
            raise Failure(
                "The viewer stopped before the input script finished "
                "(the session ended, or --duration passed).",
                kind="unfinished",
            )


async def _ask_presenter(session: MemberSession, request: RefreshRequest) -> None:
    roster = session.roster
    if roster is not None and roster.presenter is not None and roster.presenter != session.peer_id:
        await session.send_content(request, recipient=roster.presenter)


async def _watch(
    args: argparse.Namespace,
    session: MemberSession,
    viewer: ScreenViewer,
    control: ScriptedControl | None = None,
) -> str | None:
    """Watch until the session ends, the limits are reached, a signal, or ``control`` (the
    scripted controller) is done; the signal's name."""
    deadline = math.inf if args.duration is None else trio.current_time() + args.duration
    paused: bool | None = None
    presenter: int | None = None
    share = ShareOnRequest(args, session)
    stopped_by: list[str] = []
    files = None
    if wants_files(args):
        from tui.headless_files import HeadlessFiles

        files = HeadlessFiles(args, session)
    with trio.move_on_at(deadline):
        async with trio.open_nursery() as nursery:
            await nursery.start(_stop_on_signals, nursery.cancel_scope, stopped_by)
            if files is not None:
                await nursery.start(files.run)
            # Only now: a script that saw "joined" may stop us with a signal and get "ended".
            emit("joined", id=session.session_id, peer=session.peer_id, code=session.security_code)
            if args.stats:
                nursery.start_soon(_stats, viewer)
            if control is not None:
                control.done = nursery.cancel_scope.cancel  # then leave the session
                nursery.start_soon(control.run)
            try:
                async for event in session.events:
                    if control is not None:
                        control.on_event(event)
                    if files is not None:
                        await files.on_event(event)
                    else:
                        await refuse_offer(session, event)
                    match event:
                        case ConsentRequested() as ask:
                            await share.on_consent(ask)
                        case EpochChanged():
                            share.keyframe()
                        case ContentReceived(message=RefreshRequest(reason=reason)):
                            share.keyframe(reason)
                        case RosterChanged(roster=roster) if share.affected_by(roster):
                            await share.on_roster(roster, nursery)
                            if roster.presenter not in (presenter, session.peer_id, None):
                                await viewer.start()  # presenting moved on: watch the new one
                            presenter = roster.presenter
                        case RosterChanged(roster=roster):
                            if roster.presenter != presenter:
                                presenter = roster.presenter
                                if presenter is not None and presenter != session.peer_id:
                                    await viewer.start()
                            if roster.paused != paused:
                                if paused is not None or roster.paused:  # not "resumed" on joining
                                    emit("paused" if roster.paused else "resumed")
                                paused = roster.paused
                        case ContentReceived(message=FrameUpdate() as update):
                            await viewer.on_update(update)
                            if args.frames is not None and viewer.frames_applied >= args.frames:
                                break
                        case ContentReceived(message=Cursor() as cursor):
                            viewer.on_cursor(cursor)
                        case UpdatesDropped():
                            await viewer.on_dropped()
                        case SessionClosed() as closed:
                            code = closed.code.name.lower() if closed.code else None
                            emit("ended", code=code, message=closed.message)
                            break
            finally:
                share.stop()  # also when a signal or the deadline cancels the watch
            nursery.cancel_scope.cancel()
    if args.stats:
        _emit_stats(viewer)
    if session.closed is None:
        with trio.move_on_after(2):
            await session.leave()
    if stopped_by:
        emit("ended", code="left", message=f"Left the session ({stopped_by[0]}).")
        return stopped_by[0]
    if control is not None and control.finished:
        why = "control given back" if control.failure is None else "no control"
        emit("ended", code="left", message=f"Left the session ({why}).")
    return None


async def _stop_on_signals(
    scope: trio.CancelScope,
    stopped_by: list[str],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """SIGINT/SIGTERM end the watch (then the session is left and the frame saved)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            stopped_by.append(signal.Signals(signum).name)
            scope.cancel()
            return


class ShareOnRequest:
    """This participant's screen: shared only after its own yes, only while it presents.

    Nothing is captured (no capturer even exists) until this program agreed to a proposal
    *and* the relay named it presenter; a relay that names it presenter without that agreement
    gets nothing. It stops capturing the moment it is no longer the presenter.
    """

    def __init__(self, args: argparse.Namespace, session: MemberSession) -> None:
        self.args = args
        self.session = session
        self.agreed = False
        self.presenter: ScreenPresenter | None = None
        self.capturer: Capturer | None = None
        self.scope: trio.CancelScope | None = None

    async def on_consent(self, ask: ConsentRequested) -> None:
        me = self.session.peer_id
        to_me = ask.action is ActionCode.PROPOSE_PRESENTER and ask.target == me
        granted = to_me and bool(self.args.accept_presenter_requests)
        emit("consent", id=ask.consent_id, action=ask.action.name.lower(), actor=ask.actor,
             answer="granted" if granted else "refused")  # fmt: skip
        if granted:
            self.agreed = True
        await self.session.answer_consent(ask.consent_id, granted=granted)

    def affected_by(self, roster: Roster) -> bool:
        """Whether this roster starts or stops our sharing (or changes who watches it)."""
        return roster.presenter == self.session.peer_id or self.presenter is not None

    async def on_roster(self, roster: Roster, nursery: trio.Nursery) -> None:
        me = self.session.peer_id
        if roster.presenter == me and self.presenter is None and self.agreed:
            from core.stream.presenter import ScreenPresenter
            from tui.present import open_capturer

            self.capturer = open_capturer(self.args)
            self.presenter = ScreenPresenter(
                self.session.content_outlet(), self.capturer, fps=self.args.fps
            )
            self.scope = trio.CancelScope()
            nursery.start_soon(self._run, self.presenter, self.capturer, self.scope)
            emit("presenting", on=True)
        elif roster.presenter != me and self.presenter is not None:
            self.stop()
            self.agreed = False  # the next time, this participant is asked again
            emit("presenting", on=False)
        if self.presenter is not None:
            self.presenter.set_audience(len(roster.members) - 1)
            self.presenter.set_paused(roster.paused)

    async def _run(
        self, presenter: ScreenPresenter, capturer: Capturer, scope: trio.CancelScope
    ) -> None:
        try:
            with scope:
                await presenter.run()
        finally:
            capturer.close()  # only now: the presenter's thread used it until run() returned

    def keyframe(self, reason: RefreshReason = RefreshReason.USER) -> None:
        if self.presenter is not None:
            self.presenter.request_keyframe(reason)

    def stop(self) -> None:
        if self.presenter is not None:
            self.presenter.stop()  # nothing more leaves from here on
        if self.scope is not None:
            self.scope.cancel()
        self.presenter = self.capturer = self.scope = None


async def _stats(viewer: ScreenViewer) -> None:
    while True:
        await trio.sleep(1.0)
        _emit_stats(viewer)


def _emit_stats(viewer: ScreenViewer) -> None:
    s = viewer.statistics()
    emit(
        "stats",
        updates=s.updates,
        keyframes=s.keyframes,
        rejected=s.rejected,
        before_first_keyframe=s.before_first_keyframe,
        refreshes=s.refreshes_requested,
        bytes=s.bytes_received,
        updates_per_second=round(s.updates_per_second, 2),
        bytes_per_second=round(s.bytes_per_second),
        latency_ms_p50=None if s.latency_ms_p50 is None else round(s.latency_ms_p50, 2),
        latency_ms_p95=None if s.latency_ms_p95 is None else round(s.latency_ms_p95, 2),
        width=s.width,
        height=s.height,
    )


def _save(viewer: ScreenViewer, path: Path) -> None:
    frame = viewer.frame
    if frame is None:
        emit("saved", path=None, reason="no frame was received")
        return
    from PIL import Image  # only for this explicit request: nothing else here writes images

    # Write beside the target and rename, so a reader never sees half a PNG.
    directory = path.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=".porthole-frame-", suffix=".png", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            Image.fromarray(frame, "RGB").save(handle, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    emit("saved", path=str(path), width=frame.shape[1], height=frame.shape[0], at=time.time())
