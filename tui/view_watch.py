"""What ``porthole view --headless`` does once it joined: watch, answer, report, maybe present.

Split from :mod:`tui.view` (the command's entry: arguments, connecting, joining, saving) so that
nothing here, nor the protocol's message classes it matches on, is imported before the viewer's
first byte on the wire (bench/README.md, "bench.startup").
"""

from __future__ import annotations

import argparse
import math
import signal
from typing import TYPE_CHECKING

import trio

from core.client import MemberSession
from core.client.events import (
    ConsentRequested,
    ContentReceived,
    EpochChanged,
    RosterChanged,
    SessionClosed,
    UpdatesDropped,
)
from core.protocol.content import Cursor, FrameUpdate, RefreshReason, RefreshRequest
from core.protocol.messages import ActionCode, Roster
from tui.headless import emit, refuse_offer, wants_files
from tui.integrity import INTEGRITY_EVENTS, integrity_json

if TYPE_CHECKING:
    # Loaded when used: the capture and the encoder only when this viewer agreed to present
    # (ShareOnRequest.start_capture), which is rare.
    from core.capture import Capturer
    from core.stream.presenter import ScreenPresenter
    from core.stream.viewer import ScreenViewer
    from tui.controller import ScriptedControl

__all__ = ["ShareOnRequest", "ask_presenter", "watch"]


async def ask_presenter(session: MemberSession, request: RefreshRequest) -> None:
    roster = session.roster
    if roster is not None and roster.presenter is not None and roster.presenter != session.peer_id:
        await session.send_content(request, recipient=roster.presenter)


async def watch(
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
            await nursery.start(share.run)
            if files is not None:
                await nursery.start(files.run)
            # Only now: a script that saw "joined" may stop us with a signal and get "ended".
            key = session.identity_fingerprint(session.peer_id)
            emit("joined", id=session.session_id, peer=session.peer_id,
                 code=session.security_code, key=key)  # fmt: skip
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
                        case ContentReceived(message=RefreshRequest(reason=reason)) as content:
                            share.keyframe(reason, content.sender)
                        case RosterChanged(roster=roster):
                            sharing = share.affected_by(roster)
                            await share.edge.on_roster(roster)
                            if roster.presenter != presenter:
                                presenter = roster.presenter
                                if presenter is not None and presenter != session.peer_id:
                                    await viewer.start()  # presenting moved on: watch anew
                            if not sharing and roster.paused != paused:
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
                        case _ if isinstance(event, INTEGRITY_EVENTS):
                            name, fields = integrity_json(event)
                            emit(name, **fields)
                        case SessionClosed() as closed:
                            code = closed.code.name.lower() if closed.code else None
                            emit("ended", code=code, message=closed.message)
                            break
            finally:
                share.stop_capture()  # also when a signal or the deadline cancels the watch
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
    gets nothing. It stops capturing the moment it is no longer the presenter. Those decisions
    are the client edge's (:mod:`core.client.edge`), as in the app; this is the headless policy
    (``--accept-presenter-requests``) and how capture starts here.
    """

    def __init__(self, args: argparse.Namespace, session: MemberSession) -> None:
        from core.client.edge import ClientEdge
        from core.client.edge_runner import EdgeRunner

        self.args = args
        self.session = session
        self.presenter: ScreenPresenter | None = None
        self.capturer: Capturer | None = None
        self.scope: trio.CancelScope | None = None
        self.nursery: trio.Nursery | None = None
        #: Why capture failed, for the ``presenting`` event of the stop that follows.
        self._failure: str | None = None
        self.edge = EdgeRunner(session, ClientEdge(session.peer_id), self)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            await nursery.start(self.edge.run)
            task_status.started()

    async def on_consent(self, ask: ConsentRequested) -> None:
        me = self.session.peer_id
        to_me = ask.action is ActionCode.PROPOSE_PRESENTER and ask.target == me
        granted = to_me and bool(self.args.accept_presenter_requests)
        emit("consent", id=ask.consent_id, action=ask.action.name.lower(), actor=ask.actor,
             answer="granted" if granted else "refused")  # fmt: skip
        if granted:
            self.edge.edge.agree_to_present()
        await self.session.answer_consent(ask.consent_id, granted=granted)

    def affected_by(self, roster: Roster) -> bool:
        """Whether this roster starts or stops our sharing (or changes who watches it)."""
        return roster.presenter == self.session.peer_id or self.presenter is not None

    def keyframe(
        self, reason: RefreshReason = RefreshReason.USER, member: int | None = None
    ) -> None:
        if self.presenter is None:
            return
        answer = self.presenter.request_keyframe(reason, member)
        if (report := answer.report) is not None:
            emit("refresh-limited", peer=report.member, dropped=report.dropped)

    # -- the edge's front end (core.client.edge_runner.EdgeFront) ------------------------------

    def start_capture(self) -> None:
        from core.stream.presenter import ScreenPresenter
        from tui.present import open_capturer

        assert self.nursery is not None
        self.capturer = open_capturer(self.args)
        self.presenter = ScreenPresenter(
            self.session.content_outlet(), self.capturer, fps=self.args.fps
        )
        self.scope = trio.CancelScope()
        self.nursery.start_soon(self._run, self.presenter, self.capturer, self.scope)
        emit("presenting", on=True)

    def stop_capture(self) -> None:
        failure, self._failure = self._failure, None
        if self.presenter is not None:
            self.presenter.stop()  # nothing more leaves from here on
        if self.presenter is not None or failure is not None:
            emit("presenting", on=False, **({"error": failure} if failure else {}))
        if self.scope is not None:
            self.scope.cancel()
        self.presenter = self.capturer = self.scope = None

    def set_audience(self, viewers: int) -> None:
        if self.presenter is not None:
            self.presenter.set_audience(viewers)

    def set_paused(self, paused: bool) -> None:
        if self.presenter is not None:
            self.presenter.set_paused(paused)

    def area(self) -> tuple[int, int, int, int] | None:
        return self.presenter.area if self.presenter is not None else None

    def control_changed(self, controller: int | None, reason: str, previous: int | None) -> None:
        """This program never grants control."""

    def hotkey_unavailable(self, reason: str) -> None:
        """Never armed: this program never grants control."""

    def said(self, text: str) -> None:
        """The members read it; the script gets the ``presenting`` event."""

    def cannot_capture(self, reason: str) -> None:
        """Said with the ``presenting`` event of the stop that follows (one event, not two)."""
        self._failure = reason

    async def _run(
        self, presenter: ScreenPresenter, capturer: Capturer, scope: trio.CancelScope
    ) -> None:
        from core.capture.errors import CaptureError

        try:
            with scope:
                await presenter.run()
        except CaptureError as exc:  # the shared window closed, the display went away
            await self.edge.capture_failed(str(exc))
        finally:
            capturer.close()  # only now: the presenter's thread used it until run() returned


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
