"""``porthole present --headless``: log in, create a session, and share a screen.

Its command line and what it prints are described in :data:`tui.options.PRESENT_DESCRIPTION`
(what ``porthole present --help`` shows).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.capture import (
    Capturer,
    CaptureSource,
    MonitorSource,
    WindowSource,
    parse_mask,
    parse_region,
    parse_window_id,
)
from core.capture.errors import CaptureError
from core.client import AdmitPolicy, OrganizerSession, open_relay_client
from core.client.allowance import ControlAllowance
from core.client.edge import ClientEdge
from core.client.edge_runner import EdgeRunner
from core.client.events import (
    ConsentRequested,
    ContentReceived,
    EpochChanged,
    GuessingSuspected,
    JoinAttemptFailed,
    KnockReceived,
    KnockWithdrawn,
    RosterChanged,
    SessionClosed,
    SessionEvent,
)
from core.control import AreaTuple, HotkeyUnavailable, RevokeHotkeyWhileGranted, revoke_hotkey_for
from core.device_cookies import DeviceCookies
from core.failures import UsageError, session_end_failure
from core.guessing import account_guessing_sentence, guessing_sentence
from core.links import JoinLink, normalize_session_id
from core.protocol.content import InputEvent, RefreshRequest
from core.protocol.messages import ActionCode, Roster
from core.stream import ScreenPresenter
from tui.headless import (
    emit,
    emit_transport,
    parse_relay,
    pinned_fingerprint,
    read_secret_file,
    read_secret_stdin,
    refuse_offer,
    wants_files,
)
from tui.identity import identity_from_args
from tui.integrity import INTEGRITY_EVENTS, integrity_json

if TYPE_CHECKING:
    from core.stream.refresh import RefreshStatistics

if TYPE_CHECKING:
    from tui.headless_files import HeadlessFiles


def open_capturer(args: argparse.Namespace) -> Capturer:
    """The capturer for the options of :func:`add_capture_arguments` (errors as sentences)."""
    try:
        masks = [parse_mask(text) for text in args.mask]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return Capturer(capture_source(args), masks=masks)  # a CaptureError is a Failure as it is


def capture_source(args: argparse.Namespace) -> CaptureSource:
    try:
        if args.region:
            return parse_region(args.region)
        if args.window:
            text = args.window
            if text.lower().startswith("0x") or text.isdigit():
                return WindowSource(xid=parse_window_id(text))
            return WindowSource(title=text)
        return MonitorSource(args.monitor if args.monitor is not None else 1)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    if not args.headless:
        raise UsageError(
            "`porthole present` runs only with --headless",
            next_step="To present interactively, run `porthole create` and share from the "
            "session screen; add --headless for scripts and kiosks.",
        )
    trust = Trust(_allowance(args), identity_from_args(args))  # mistakes before any prompt
    host, port = parse_relay(args.relay)
    fingerprint = pinned_fingerprint(host, port, args.fingerprint)
    if args.password_stdin:
        password = read_secret_stdin("account password")
    else:
        password = read_secret_file(args.password_file, "account password")
    session_password = (
        read_secret_file(args.session_password_file, "session password")
        if args.session_password_file
        else ""
    )
    session_id = normalize_session_id(args.session_id) if args.session_id else None
    if wants_files(args):
        from tui.headless_files import check

        check(args)
    with open_capturer(args) as capturer:
        trio.run(
            _present,
            args,
            host,
            port,
            fingerprint,
            password,
            session_password,
            session_id,
            capturer,
            trust,
        )
    return 0


@dataclass(frozen=True, slots=True)
class Trust:
    """Whom this presenter lets control (``--allow-control-from``) and the identity key it
    shows as organizer (``--identity``)."""

    allowance: ControlAllowance | None
    identity: Ed25519PrivateKey | None


def _allowance(args: argparse.Namespace) -> ControlAllowance | None:
    if args.allow_control_from is None:
        return None
    try:
        return ControlAllowance.parse(args.allow_control_from)
    except ValueError as exc:
        raise UsageError(f"--allow-control-from: {exc}") from None


async def _present(
    args: argparse.Namespace,
    host: str,
    port: int,
    fingerprint: str,
    password: str,
    session_password: str,
    session_id: str | None,
    capturer: Capturer,
    trust: Trust,
) -> None:
    policy = {
        "password": AdmitPolicy.PASSWORD,
        "ask-none": AdmitPolicy.PASSWORD,
        "all": AdmitPolicy.ALL,
    }[args.admit]
    # Refusals (wrong login, ...) and a lost relay propagate as Failures: see core.cli_exit.
    async with open_relay_client(
        host, port, pinned=fingerprint, transport=args.transport, proxy=args.proxy
    ) as client:
        emit_transport(client.channel.identity)
        await client.login(args.user, password, cookies=DeviceCookies())
        warning = account_guessing_sentence(client.failed_logins)
        if warning is not None:
            emit("guessing", scope="account", failures=client.failed_logins, message=warning)
        session = await client.create_session(
            name=args.name or args.user,
            password=session_password,
            session_id=session_id,
            organizer_presents=True,
            admit_policy=policy,
            identity=trust.identity,
        )
        link = JoinLink(host, port, session.session_id, fingerprint)
        presenter = ScreenPresenter(session.content_outlet(), capturer, fps=args.fps)
        headless = HeadlessSession(args, session, presenter, trust.allowance)
        try:
            await headless.run(
                lambda: emit(
                    "session", id=session.session_id, link=str(link), code=session.security_code
                )
            )
        except* CaptureError as group:
            # The shared window closed or the display went away: this program ends with the
            # sentence (exit 1), but first the edge stops presenting and the members read why
            # in their chat, not only that the session ended (docs/design.md §5.3).
            with trio.move_on_after(2):
                await headless.edge.capture_failed(str(group.exceptions[0]))
            raise
    closed = session.closed
    if closed is not None and (failure := session_end_failure(closed.code, closed.message)):
        raise failure  # the relay went away (exit 3), or this organizer was removed


class HeadlessSession:
    """Turns one organizer session's events into JSON lines and policy answers.

    What a yes, a revoke or a pause *does* is the client edge's (:mod:`core.client.edge`), the
    same as in the app; this class is the headless policy (flags, signals, stdin) and the JSON.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        session: OrganizerSession,
        presenter: ScreenPresenter,
        allowance: ControlAllowance | None = None,
    ) -> None:
        self.args = args
        self.allowance = allowance
        self.session = session
        self.presenter = presenter
        self.members: dict[int, str] = {}
        # The organizer presents from the start: creating the session this way was the yes.
        self.edge = EdgeRunner(session, ClientEdge(session.peer_id, agreed_to_present=True), self)
        self.files: HeadlessFiles | None = None
        if wants_files(args):
            from tui.headless_files import HeadlessFiles

            self.files = HeadlessFiles(args, session)

    async def run(self, announce: Callable[[], None]) -> None:
        """Serve the session; ``announce`` tells the script it exists, once signals end it."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._signals)
            announce()
            await nursery.start(self.presenter.run)
            await nursery.start(self.edge.run)
            nursery.start_soon(self._hotkey_availability)
            if self.args.stats:
                nursery.start_soon(self._stats)
            if self.args.admit == "ask-none":
                nursery.start_soon(_answers_from_stdin, self.session)
            if self.files is not None:
                await nursery.start(self.files.run)
            async for event in self.session.events:
                if self.files is not None:
                    await self.files.on_event(event)
                else:
                    await refuse_offer(self.session, event)
                if not await self._on_event(event):
                    break
            nursery.cancel_scope.cancel()

    async def _on_event(self, event: SessionEvent) -> bool:
        session, presenter = self.session, self.presenter
        match event:
            case KnockReceived() as knock:
                answer = "admitted"
                if knock.needs_approval:
                    answer = "asked" if self.args.admit == "ask-none" else "declined"
                emit("knock", peer=knock.peer_id, name=knock.name, origin=knock.origin,
                     answer=answer)  # fmt: skip
                if answer == "declined":
                    await session.decline(knock.peer_id)
            case KnockWithdrawn(peer_id=peer):
                emit("knock-withdrawn", peer=peer)
            case JoinAttemptFailed() as failed:
                emit("join-failed", peer=failed.peer_id, name=failed.name, reason=failed.reason)
            case GuessingSuspected(failures=failures):
                how = "stop this program (Ctrl+C)"
                message = guessing_sentence(failures, how)
                emit("guessing", scope="session", failures=failures, message=message)
            case RosterChanged(roster=roster):
                for gone in _report_roster(roster, self.members, self.session.shown_as):
                    self.presenter.forget_member(gone)
                await self.edge.on_roster(roster)
            case EpochChanged():
                presenter.request_keyframe()
            case ContentReceived(message=RefreshRequest(reason=reason)) as content:
                asked = presenter.request_keyframe(reason, content.sender)
                if (report := asked.report) is not None:
                    name = self.members.get(report.member, "")
                    emit("refresh-limited", peer=report.member, name=name, dropped=report.dropped)
            case ContentReceived(message=InputEvent() as input_event) as content:
                self.edge.on_input(content.sender, input_event)
            case ConsentRequested() as ask:
                await self._on_consent(ask)
            case _ if isinstance(event, INTEGRITY_EVENTS):
                name, fields = integrity_json(event)
                emit(name, **fields)
            case SessionClosed() as closed:
                await self.edge.closed("ended")
                code = closed.code.name.lower() if closed.code else None
                emit("ended", code=code, message=closed.message)
                return False
        return True

    async def _on_consent(self, ask: ConsentRequested) -> None:
        name = self.members.get(ask.actor, "")
        if ask.action is ActionCode.REQUEST_CONTROL:
            # On what the leader (this client) certified, not on the relay's roster names.
            allowance = self.allowance
            granted = allowance is not None and allowance.allows(self.session.certified(ask.actor))
        elif ask.action in (ActionCode.PROPOSE_PRESENTER, ActionCode.HAND_TO_ORGANIZER):
            granted = bool(self.args.accept_presenter_requests)
        else:
            granted = False
        emit("consent", id=ask.consent_id, action=ask.action.name.lower(), actor=ask.actor,
             name=name, answer="granted" if granted else "refused")  # fmt: skip
        if granted and ask.action is ActionCode.REQUEST_CONTROL:
            await self.edge.grant(ask.actor, consent_id=ask.consent_id)
            return
        if granted and ask.action is ActionCode.HAND_TO_ORGANIZER:
            self.edge.edge.agree_to_present()
        await self.session.answer_consent(ask.consent_id, granted=granted)

    # -- the edge's front end (core.client.edge_runner.EdgeFront) ------------------------------

    def start_capture(self) -> None:
        """Capture runs from the start; presenting again only brings the audience back."""

    def stop_capture(self) -> None:
        self.presenter.set_audience(0)  # someone else presents: capture idles

    def set_audience(self, viewers: int) -> None:
        self.presenter.set_audience(viewers)

    def set_paused(self, paused: bool) -> None:
        self.presenter.set_paused(paused)

    def area(self) -> AreaTuple | None:
        # Before the first frame there is no area: the injector then refuses.
        return self.presenter.area

    def control_changed(self, controller: int | None, reason: str, previous: int | None) -> None:
        if controller is not None:
            emit("control", peer=controller, name=self.members.get(controller, ""), granted=True)
        else:
            emit("control", peer=previous, granted=False, reason=reason)

    def hotkey_unavailable(self, reason: str) -> None:
        emit("hotkey", keys=revoke_hotkey_for(), available=False, reason=reason)

    def said(self, text: str) -> None:
        """The chat line is for the members; the script gets the error and exit code."""

    def cannot_capture(self, reason: str) -> None:
        """Told as this program's error (exit 1) once the presenter's task raises."""

    # -- signals ---------------------------------------------------------------------------------

    async def _signals(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        wanted = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGTERM)
        with trio.open_signal_receiver(*wanted) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGUSR1:
                    if not self.presenter.paused:
                        await self.edge.pause()  # local first: capture stops now
                        emit("paused")
                    else:
                        await self.edge.resume()
                        emit("resumed")
                elif signum == signal.SIGUSR2:
                    await self.edge.revoke("signal")
                else:
                    await self.session.request(ActionCode.END_SESSION)

    async def _hotkey_availability(self) -> None:
        """Say once whether Ctrl+F12 can work here; the listener itself runs only while
        someone holds control (armed by the edge when this presenter grants it)."""
        try:
            await RevokeHotkeyWhileGranted.check_available()
        except HotkeyUnavailable as exc:
            emit("hotkey", keys=revoke_hotkey_for(), available=False, reason=str(exc))
            return
        emit("hotkey", keys=revoke_hotkey_for(), available=True)

    async def _stats(self) -> None:
        while True:
            await trio.sleep(1.0)
            s = self.presenter.statistics()
            g = self.edge.statistics()
            emit(
                "stats",
                frames=s.frames_captured,
                updates=s.updates_sent,
                keyframes=s.keyframes_sent,
                bytes=s.bytes_sent,
                unchanged=s.unchanged_frames,
                paused=s.paused,
                fps=round(s.fps_now, 2),
                encode_ms=round(s.last_encode_ms, 2),
                controller=g.granted_to if g else None,
                input_injected=g.injected if g else 0,
                input_dropped=g.dropped if g else {},
                content=self.session.opener_statistics(),
                refreshes=_refresh_figures(s.refreshes),
            )


def _refresh_figures(stats: RefreshStatistics | None) -> dict[str, int] | None:
    """The members' keyframe requests for the ``stats`` line: asked, granted, deferred (waited
    for the member's budget), limited (dropped as abusive)."""
    if stats is None:
        return None
    return {"asked": stats.asked, "granted": stats.granted, "deferred": stats.deferred,
            "limited": stats.limited}  # fmt: skip


def _report_roster(
    roster: Roster,
    members: dict[int, str],
    shown_as: Callable[[int, str], tuple[str, str | None]],
) -> list[int]:
    """``joined``/``left`` events, with names and keys as this leader certified them (``members``
    is updated); returns who left."""
    shown = {e.peer_id: shown_as(e.peer_id, e.name) for e in roster.members if not e.is_organizer}
    now = {peer: name for peer, (name, _key) in shown.items()}
    for peer, (name, key) in shown.items():
        if peer not in members:
            emit("joined", peer=peer, name=name, key=key)
    left = [peer for peer in members if peer not in now]
    for peer in left:
        emit("left", peer=peer, name=members[peer])
    members.clear()
    members.update(now)
    return left


async def _answers_from_stdin(session: OrganizerSession) -> None:
    while True:
        line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        if not line:
            return
        verb, _, peer_text = line.strip().partition(" ")
        if verb not in ("admit", "decline") or not peer_text.isdigit():
            print(f"porthole present: ignored {line.strip()!r}", file=sys.stderr)
            continue
        peer = int(peer_text)
        if peer not in session.awaiting_approval:
            print(f"porthole present: no knock {peer} is waiting", file=sys.stderr)
            continue
        if verb == "admit":
            await session.admit(peer)
        else:
            await session.decline(peer)
