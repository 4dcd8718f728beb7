"""``porthole present --headless``: log in, create a session, and share a screen.

Its command line and what it prints are described in :data:`tui.options.PRESENT_DESCRIPTION`
(what ``porthole present --help`` shows).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from core.capture import (
    Capturer,
    CaptureSource,
    MonitorSource,
    WindowSource,
    parse_mask,
    parse_region,
    parse_window_id,
)
from core.client import AdmitPolicy, OrganizerSession, open_relay_client
from core.client.events import (
    ConsentRequested,
    ContentReceived,
    EpochChanged,
    JoinAttemptFailed,
    KnockReceived,
    KnockWithdrawn,
    RosterChanged,
    SessionClosed,
    SessionEvent,
)
from core.control import (
    AreaTuple,
    HotkeyUnavailable,
    Injector,
    RevokeHotkeyWhileGranted,
    revoke_hotkey_for,
)
from core.control import guard as guard_module
from core.control.guard import ControlGuard
from core.control.stuck_keys import StuckKeyWatch
from core.failures import UsageError, session_end_failure
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
        )
    return 0


async def _present(
    args: argparse.Namespace,
    host: str,
    port: int,
    fingerprint: str,
    password: str,
    session_password: str,
    session_id: str | None,
    capturer: Capturer,
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
        await client.login(args.user, password)
        session = await client.create_session(
            name=args.name or args.user,
            password=session_password,
            session_id=session_id,
            organizer_presents=True,
            admit_policy=policy,
        )
        link = JoinLink(host, port, session.session_id, fingerprint)
        presenter = ScreenPresenter(session.content_outlet(), capturer, fps=args.fps)
        await HeadlessSession(args, session, presenter).run(
            lambda: emit(
                "session", id=session.session_id, link=str(link), code=session.security_code
            )
        )
    closed = session.closed
    if closed is not None and (failure := session_end_failure(closed.code, closed.message)):
        raise failure  # the relay went away (exit 3), or this organizer was removed


class HeadlessSession:
    """Turns one organizer session's events into JSON lines, policy answers and injection."""

    def __init__(
        self, args: argparse.Namespace, session: OrganizerSession, presenter: ScreenPresenter
    ) -> None:
        self.args = args
        self.session = session
        self.presenter = presenter
        self.members: dict[int, str] = {}
        self.injector = Injector(self._area)
        self.guard = ControlGuard(self.injector)
        self.stuck_keys = StuckKeyWatch(self.injector)
        self._nursery: trio.Nursery | None = None
        self.announced_controller: int | None = None
        self._revoke_requests, self._revoke_receive = trio.open_memory_channel[str](64)
        self.hotkey = RevokeHotkeyWhileGranted(
            lambda: self._revoke_requests.send_nowait("hotkey"), immediate=self.injector.revoke
        )
        self._hotkey_available = False
        self._control_changed = trio.Event()
        self.files: HeadlessFiles | None = None
        if wants_files(args):
            from tui.headless_files import HeadlessFiles

            self.files = HeadlessFiles(args, session)

    def _area(self) -> AreaTuple:
        # Before the first frame there is no area; (0, 0, 0, 0) makes the injector refuse.
        return self.presenter.area or (0, 0, 0, 0)

    async def run(self, announce: Callable[[], None]) -> None:
        """Serve the session; ``announce`` tells the script it exists, once signals end it."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self._signals)
            announce()
            await nursery.start(self.presenter.run)
            nursery.start_soon(self.stuck_keys.run)
            nursery.start_soon(self._revoke_hotkey)
            nursery.start_soon(self._revoker)
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
        self.injector.close()

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
            case RosterChanged(roster=roster):
                self._on_roster(roster)
            case EpochChanged():
                presenter.request_keyframe()
            case ContentReceived(message=RefreshRequest(reason=reason)):
                presenter.request_keyframe(reason)
            case ContentReceived(message=InputEvent() as input_event) as content:
                area = presenter.area
                size = (area[2], area[3]) if area is not None else None
                self.guard.on_input(content.sender, input_event, size)
                self.stuck_keys.poke()
            case ConsentRequested() as ask:
                await self._on_consent(ask)
            case SessionClosed() as closed:
                self.guard.revoke()
                code = closed.code.name.lower() if closed.code else None
                emit("ended", code=code, message=closed.message)
                return False
        return True

    def _on_roster(self, roster: Roster) -> None:
        self._control_changed.set()
        _report_roster(roster, self.members)
        presenting = roster.presenter == self.session.peer_id
        # Capture only while this client presents and someone watches.
        self.presenter.set_audience(len(self.members) if presenting else 0)
        if self.guard.on_roster(roster):
            self._announce_revoked("relay")
        if self.guard.active and self.announced_controller != self.guard.granted_to:
            self.announced_controller = self.guard.granted_to
            peer = self.guard.granted_to
            emit("control", peer=peer, name=self.members.get(peer or 0, ""), granted=True)

    def _announce_revoked(self, reason: str) -> None:
        self._control_changed.set()
        if self.announced_controller is not None:
            emit("control", peer=self.announced_controller, granted=False, reason=reason)
            self.announced_controller = None

    async def _on_consent(self, ask: ConsentRequested) -> None:
        name = self.members.get(ask.actor, "")
        if ask.action is ActionCode.REQUEST_CONTROL:
            allowed = self.args.allow_control_from
            granted = allowed is not None and name == allowed
        elif ask.action in (ActionCode.PROPOSE_PRESENTER, ActionCode.HAND_TO_ORGANIZER):
            granted = bool(self.args.accept_presenter_requests)
        else:
            granted = False
        emit("consent", id=ask.consent_id, action=ask.action.name.lower(), actor=ask.actor,
             name=name, answer="granted" if granted else "refused")  # fmt: skip
        if granted and ask.action is ActionCode.REQUEST_CONTROL:
            self.guard.grant(ask.actor)  # this user's own policy said yes, before answering
            if self._hotkey_available:
                try:
                    await self.hotkey.arm()  # Ctrl+F12 works from the first injected event
                except HotkeyUnavailable as exc:
                    emit("hotkey", keys=revoke_hotkey_for(), available=False, reason=str(exc))
        await self.session.answer_consent(ask.consent_id, granted=granted)
        if granted and ask.action is ActionCode.REQUEST_CONTROL:
            assert self._nursery is not None
            self._nursery.start_soon(self._drop_if_unconfirmed, ask.actor)

    async def _drop_if_unconfirmed(self, peer: int) -> None:
        """See :data:`core.control.guard.GRANT_CONFIRM_SECONDS`."""
        await trio.sleep(guard_module.GRANT_CONFIRM_SECONDS)
        if self.guard.unconfirmed(peer):
            await self.revoke("the relay did not hand over control")

    async def revoke(self, reason: str) -> None:
        """Revoke now (local and immediate), then tell the relay."""
        had = self.guard.granted_to is not None
        self.guard.revoke()
        self._announce_revoked(reason)
        if had:
            await self.session.request(ActionCode.REVOKE_CONTROL)

    async def _signals(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        wanted = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGTERM)
        with trio.open_signal_receiver(*wanted) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGUSR1:
                    paused = not self.presenter.paused
                    if paused:
                        self.presenter.set_paused(True)  # local first: capture stops now
                        emit("paused")
                        await self.revoke("paused")
                        await self.session.request(ActionCode.PAUSE)
                    else:
                        # The relay first: the keyframe that follows must not reach it while
                        # it still holds the session paused (it would refuse it).
                        await self.session.request(ActionCode.RESUME)
                        self.presenter.set_paused(False)
                        emit("resumed")
                elif signum == signal.SIGUSR2:
                    await self.revoke("signal")
                else:
                    await self.session.request(ActionCode.END_SESSION)

    async def _revoke_hotkey(self) -> None:
        """Ctrl+F12 revokes: input stops on the listener thread, then trio tells the relay.

        The listener runs only while someone holds control (armed when this presenter grants
        it, disarmed here when control ends): no keystroke is observed otherwise.
        """
        try:
            await self.hotkey.check_available()
        except HotkeyUnavailable as exc:
            emit("hotkey", keys=revoke_hotkey_for(), available=False, reason=str(exc))
            return
        self._hotkey_available = True
        emit("hotkey", keys=revoke_hotkey_for(), available=True)
        try:
            while True:
                await self._control_changed.wait()
                self._control_changed = trio.Event()
                if self.guard.granted_to is None:
                    await self.hotkey.disarm()
        finally:
            await self.hotkey.disarm()

    async def _revoker(self) -> None:
        async for reason in self._revoke_receive:
            await self.revoke(reason)

    async def _stats(self) -> None:
        while True:
            await trio.sleep(1.0)
            s = self.presenter.statistics()
            g = self.guard.statistics()
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
                controller=g.granted_to,
                input_injected=g.injected,
                input_dropped=g.dropped,
                content=self.session.opener_statistics(),
            )


def _report_roster(roster: Roster, members: dict[int, str]) -> None:
    now = {entry.peer_id: entry.name for entry in roster.members if not entry.is_organizer}
    for peer, name in now.items():
        if peer not in members:
            emit("joined", peer=peer, name=name)
    for peer, name in members.items():
        if peer not in now:
            emit("left", peer=peer, name=name)
    members.clear()
    members.update(now)


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
