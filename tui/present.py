"""``porthole present --headless``: log in, create a session, and share a screen.

Scripts, kiosks and CI drive it; it prints JSON lines (``session``, ``knock``, ``joined``,
``left``, ``consent``, ``paused``, ``resumed``, ``stats``, ``ended``). SIGUSR1 toggles pause
(hide the screen; capture stops before anything else happens), SIGINT/SIGTERM end the session
for everyone and exit 0.

Admission (``--admit``):
  password  (default) admit joiners who proved the session password; knocks that would need a
            person's approval (no session password) are declined, because nobody is there to ask
  ask-none  like ``password``, but knocks without a password are put to the controlling script:
            it answers with ``admit PEER`` or ``decline PEER`` lines on standard input
  all       admit every joiner who completes the handshake (explicit opt-in only)
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import trio

from core.capture import (
    CaptureError,
    Capturer,
    CaptureSource,
    MonitorSource,
    WindowSource,
    parse_mask,
    parse_region,
    parse_window_id,
)
from core.client import (
    AdmitPolicy,
    ChannelClosed,
    OrganizerSession,
    RelayUnreachable,
    RequestRefused,
    open_relay_client,
)
from core.client.events import (
    ActionAnswered,
    ConsentRequested,
    ContentReceived,
    EpochChanged,
    JoinAttemptFailed,
    KnockReceived,
    KnockWithdrawn,
    RosterChanged,
    SessionClosed,
)
from core.links import JoinLink, normalize_session_id
from core.protocol.content import RefreshRequest
from core.protocol.messages import ActionCode, ActionOutcome, Roster
from core.stream import ScreenPresenter
from core.tlspin import FingerprintMismatch
from tui.headless import (
    HeadlessError,
    emit,
    parse_relay,
    pinned_fingerprint,
    read_secret_file,
    read_secret_stdin,
)

ADMIT_CHOICES = ("password", "ask-none", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--headless", action="store_true", help="run without a TUI (JSON lines on stdout)"
    )
    parser.add_argument("--relay", required=True, metavar="HOST:PORT", help="the relay")
    parser.add_argument("--fingerprint", metavar="HEX", help="relay certificate fingerprint")
    parser.add_argument("--user", required=True, help="organizer account on the relay")
    secret = parser.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password-file", type=Path, metavar="F", help="account password file")
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the account password from stdin"
    )
    parser.add_argument("--name", help="your display name (default: the account name)")
    parser.add_argument("--session-id", metavar="9DIGITS", help="choose the session ID")
    parser.add_argument(
        "--session-password-file", type=Path, metavar="F", help="session password file"
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--monitor", type=int, metavar="N", help="monitor (1 = first, 0 = all)")
    what.add_argument("--region", metavar="X,Y,W,H", help="a rectangle of the screen")
    what.add_argument("--window", metavar="TITLE|ID", help="one window, by title or X11 id")
    parser.add_argument(
        "--mask",
        action="append",
        default=[],
        metavar="X,Y,W,H",
        help="black out this screen rectangle before anything is encoded (repeatable)",
    )
    parser.add_argument("--fps", type=float, default=15.0, help="target frame rate (max 30)")
    parser.add_argument("--admit", choices=ADMIT_CHOICES, default="password")
    parser.add_argument("--stats", action="store_true", help="print a stats line every second")


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
        raise HeadlessError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    if not args.headless:
        raise HeadlessError("the interactive presenter comes with the TUI; use --headless for now")
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
    try:
        masks = [parse_mask(text) for text in args.mask]
    except ValueError as exc:
        raise HeadlessError(str(exc)) from None
    source = capture_source(args)
    try:
        capturer = Capturer(source, masks=masks)
    except CaptureError as exc:
        raise HeadlessError(str(exc)) from None
    with capturer:
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
    try:
        async with open_relay_client(host, port, pinned=fingerprint) as client:
            await client.login(args.user, password)
            session = await client.create_session(
                name=args.name or args.user,
                password=session_password,
                session_id=session_id,
                organizer_presents=True,
                admit_policy=policy,
            )
            link = JoinLink(host, port, session.session_id, fingerprint)
            emit("session", id=session.session_id, link=str(link), code=session.security_code)
            presenter = ScreenPresenter(session.send_content, capturer, fps=args.fps)
            await _drive(args, session, presenter)
    except FingerprintMismatch as exc:
        raise HeadlessError(str(exc)) from None
    except (RelayUnreachable, ChannelClosed) as exc:
        raise HeadlessError(str(exc)) from None
    except RequestRefused as exc:
        raise HeadlessError(exc.message) from None


async def _drive(
    args: argparse.Namespace, session: OrganizerSession, presenter: ScreenPresenter
) -> None:
    members: dict[int, str] = {}
    pause_requests: dict[int, bool] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(presenter.run)
        nursery.start_soon(_signals, session, presenter, pause_requests)
        if args.stats:
            nursery.start_soon(_stats, presenter)
        if args.admit == "ask-none":
            nursery.start_soon(_answers_from_stdin, session)
        async for event in session.events:
            match event:
                case KnockReceived() as knock:
                    answer = "admitted"
                    if knock.needs_approval:
                        answer = "asked" if args.admit == "ask-none" else "declined"
                    emit(
                        "knock",
                        peer=knock.peer_id,
                        name=knock.name,
                        origin=knock.origin,
                        answer=answer,
                    )
                    if answer == "declined":
                        await session.decline(knock.peer_id)
                case KnockWithdrawn(peer_id=peer):
                    emit("knock-withdrawn", peer=peer)
                case JoinAttemptFailed() as failed:
                    emit("join-failed", peer=failed.peer_id, name=failed.name, reason=failed.reason)
                case RosterChanged(roster=roster):
                    _report_roster(roster, members)
                    presenter.set_audience(len(members))
                case EpochChanged():
                    presenter.request_keyframe()
                case ContentReceived(message=RefreshRequest(reason=reason)):
                    presenter.request_keyframe(reason)
                case ConsentRequested() as ask:
                    emit(
                        "consent",
                        id=ask.consent_id,
                        action=ask.action.name.lower(),
                        actor=ask.actor,
                        answer="refused",
                    )
                    await session.answer_consent(ask.consent_id, granted=False)
                case ActionAnswered() as answered if answered.request_id in pause_requests:
                    if answered.outcome is not ActionOutcome.WAITING_FOR_CONSENT:
                        pause_requests.pop(answered.request_id)
                case SessionClosed() as closed:
                    code = closed.code.name.lower() if closed.code else None
                    emit("ended", code=code, message=closed.message)
                    break
        nursery.cancel_scope.cancel()


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


async def _signals(
    session: OrganizerSession, presenter: ScreenPresenter, pause_requests: dict[int, bool]
) -> None:
    with trio.open_signal_receiver(signal.SIGUSR1, signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if signum == signal.SIGUSR1:
                paused = not presenter.paused
                presenter.set_paused(paused)  # local first: capture stops now
                emit("paused" if paused else "resumed")
                action = ActionCode.PAUSE if paused else ActionCode.RESUME
                pause_requests[await session.request(action)] = paused
            else:
                await session.request(ActionCode.END_SESSION)


async def _stats(presenter: ScreenPresenter) -> None:
    while True:
        await trio.sleep(1.0)
        s = presenter.statistics()
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
        )


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
