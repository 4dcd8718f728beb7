"""The TUI's network side: one relay connection, one session, the screen both ways.

Everything here runs as trio tasks inside the app's :class:`~tui.app.bridge.TrioGuest`. The
Textual side never touches sockets: it calls the ``async`` methods below through
``guest.start_soon`` and learns what happened from the :mod:`tui.app.messages` this driver
posts. Every failure a person can cause or meet (wrong password, lockout, unreachable relay,
changed certificate) becomes a :class:`~tui.app.messages.Failed` with a sentence and a next
step, never a traceback.

Screen sharing follows the same consent boundary as the headless programs: nothing is captured
until this person said yes on this machine (starting to present, taking it back, accepting a
proposal) *and* the relay names them presenter; input from a controller is injected only from
the member this person granted, while the relay agrees; Ctrl+F12 revokes at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from textual.message import Message

from core.capture.errors import CaptureError
from core.capture.sources import CaptureSource, MonitorSource, describe
from core.client import (
    AdmitPolicy,
    ChannelClosed,
    OrganizerSession,
    RelayClient,
    RelayUnreachable,
    RequestRefused,
    SessionBase,
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
    RelayError,
    RosterChanged,
    SessionClosed,
    UpdatesDropped,
)
from core.client.files import (
    FileTransfers,
    TransferDone,
    TransferFailed,
    TransferOffered,
    TransferProgress,
)
from core.control import HotkeyUnavailable, RevokeHotkeyWhileGranted
from core.control import guard as guard_module
from core.control.guard import ControlGuard
from core.control.hotkey import revoke_hotkey_label
from core.control.injector import Injector
from core.control.stuck_keys import StuckKeyWatch
from core.humanize import size as human_size
from core.known_relays import KnownRelays
from core.links import JoinLink
from core.protocol.content import (
    FILE_CONTENT,
    Chat,
    Cursor,
    FrameUpdate,
    InputEvent,
    RefreshReason,
    RefreshRequest,
)
from core.protocol.messages import ActionCode, ActionOutcome, Roster
from core.tlspin import FingerprintMismatch
from tui.app.messages import (
    ConsentAsked,
    ConsentGone,
    ControlChanged,
    Failed,
    FileOffered,
    KnockArrived,
    KnockGone,
    Knocking,
    LoggedIn,
    Notice,
    RelayConnected,
    RelayDisconnected,
    Reply,
    SessionOver,
    SessionStarted,
    SessionUpdated,
    TransferChanged,
    TrustAsked,
)
from tui.app.model import SessionView
from tui.app.start import RelayTarget
from tui.viewer.link import (
    Input,
    Refresh,
    ViewerLink,
    ViewerState,
    WindowClosed,
    open_viewer,
)

if TYPE_CHECKING:
    # Capture and the encoder (numpy, Pillow, mss, the X client) load when this person starts
    # presenting (_start_presenting), not with the app: most sessions never present from here.
    from core.capture.capturer import Capturer
    from core.stream.presenter import ScreenPresenter

Post = Callable[[Message], Any]
T = TypeVar("T")


def default_download_dir() -> Path:
    """Where files a person accepts are saved: ``~/Downloads`` if it exists, else the home."""
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.home()


class Driver:
    """Owns the relay client and the session for one TUI; see the module docstring."""

    def __init__(
        self,
        post: Post,
        *,
        known_relays: KnownRelays | None = None,
        viewer_env: dict[str, str] | None = None,
    ) -> None:
        self._post = post
        self.known_relays = known_relays if known_relays is not None else KnownRelays()
        self.viewer_env = viewer_env
        self.client: RelayClient | None = None
        self.target: RelayTarget | None = None
        self.session: SessionBase | None = None
        self.view: SessionView | None = None
        self.share_source: CaptureSource = MonitorSource(1)
        self._disconnect = trio.Event()
        # Sharing this member's screen.
        self._agreed_to_present = False
        self._presenter: ScreenPresenter | None = None
        self._capturer: Capturer | None = None
        self._presenting_scope: trio.CancelScope | None = None
        self._injector: Injector | None = None
        self._stuck_keys: StuckKeyWatch | None = None
        #: Consents asked of this user and not answered yet, with the asker's name.
        self._asks: dict[int, tuple[ConsentRequested, str]] = {}
        self._guard: ControlGuard | None = None
        self._announced_controller: int | None = None
        self._hotkey: RevokeHotkeyWhileGranted | None = None
        # Watching someone else's screen.
        self._viewer: ViewerLink | None = None
        self._viewer_scope: trio.CancelScope | None = None
        self._viewer_closed_by_user = False
        self._session_nursery: trio.Nursery | None = None
        # File transfers (docs/design.md §4.7): every offer is asked for; yes saves here.
        self.transfers: FileTransfers | None = None
        self.download_dir: Path = default_download_dir()
        self._transfer_names: dict[tuple[str, int, int], str] = {}
        self._transfer_start: dict[tuple[str, int, int], tuple[float, int]] = {}

    # -- helpers ------------------------------------------------------------------------------

    def post(self, message: Message) -> None:
        self._post(message)

    def fail(self, title: str, sentence: str, next_step: str) -> None:
        self.post(Failed(title, sentence, next_step))

    def _refused(self, title: str, exc: RequestRefused) -> None:
        self.fail(title, exc.message, exc.next_step)  # the table every front end shares

    # -- connection ---------------------------------------------------------------------------

    async def connect(self, target: RelayTarget, then: Callable[[], Any] | None = None) -> None:
        """Connect (asking to trust an unknown relay first); stays connected until told."""
        if self.client is not None:
            await self.disconnect()
        pinned = target.fingerprint or self.known_relays.lookup(target.host, target.port)
        self._disconnect = trio.Event()
        try:
            async with open_relay_client(
                target.host,
                target.port,
                pinned=pinned,
                transport=target.transport,  # type: ignore[arg-type]
                proxy=target.proxy,
            ) as client:
                if pinned is None and not await self._trusted(target, client.fingerprint):
                    self.fail(
                        "Relay not trusted",
                        "Nothing was sent to the relay.",
                        "Ask the relay's operator for its fingerprint and compare it.",
                    )
                    return
                self.client, self.target = client, target
                self.post(RelayConnected(target.host, target.port, client.channel.identity))
                if then is not None:
                    then()
                await self._disconnect.wait()
        except FingerprintMismatch as exc:
            self.fail(
                "Relay certificate changed",
                str(exc),
                "Do not continue unless the relay's operator confirms the new fingerprint.",
            )
        except RelayUnreachable as exc:
            self.fail("Relay unreachable", exc.message, exc.next_step)
        except ChannelClosed as exc:
            self.post(RelayDisconnected(exc.message))
        finally:
            self.client = None

    async def _trusted(self, target: RelayTarget, fingerprint: str) -> bool:
        answer: list[bool] = []
        answered = trio.Event()

        def deliver(value: bool) -> None:
            answer.append(value)
            answered.set()

        token = trio.lowlevel.current_trio_token()
        reply = Reply(lambda value: token.run_sync_soon(deliver, value))
        self.post(TrustAsked(target.host, target.port, fingerprint, reply))
        await answered.wait()
        if answer[0]:
            self.known_relays.remember(target.host, target.port, fingerprint)
        return answer[0]

    async def disconnect(self) -> None:
        session = self.session
        if session is not None and session.closed is None:
            await session.leave()
        self._disconnect.set()

    # -- organizer: login and create --------------------------------------------------------

    async def login(self, username: str, password: str) -> None:
        client = self._client_or_fail()
        if client is None:
            return

        async def logged_in() -> bool:
            await client.login(username, password)
            return True

        if await self._told("Login refused", logged_in()):
            self.post(LoggedIn(username))

    async def create(
        self,
        *,
        name: str,
        session_id: str | None,
        password: str,
        admit_policy: AdmitPolicy,
        present: bool,
    ) -> None:
        client = self._client_or_fail()
        if client is None:
            return
        created = client.create_session(
            name=name,
            password=password,
            session_id=session_id,
            organizer_presents=present,
            admit_policy=admit_policy,
        )
        session = await self._told("Session not created", created)
        if session is not None:
            self._agreed_to_present = present
            await self._run_session(session, organizer=True)

    # -- participant: join --------------------------------------------------------------------

    async def join(self, session_id: str, *, name: str, password: str) -> None:
        client = self._client_or_fail()
        if client is None:
            return
        self.post(Knocking(session_id))
        joined = client.join(session_id, name=name, password=password)
        session = await self._told("Could not join", joined)
        if session is not None:
            await self._run_session(session, organizer=False)

    async def _told(self, title: str, request: Awaitable[T]) -> T | None:
        """Await a relay request; a refusal or a lost connection becomes a dialog (None)."""
        try:
            return await request
        except RequestRefused as exc:
            self._refused(title, exc)
        except ChannelClosed as exc:
            self.fail("Connection lost", exc.message, "Connect again.")
        return None

    def _client_or_fail(self) -> RelayClient | None:
        if self.client is None:
            self.fail("Not connected", "There is no connection to a relay.", "Connect first.")
        return self.client

    # -- in a session: requests from the UI ---------------------------------------------------

    async def request(self, action: ActionCode, target: int | None = None) -> None:
        """A rules action; ``confirmed`` is implied: the UI only calls this after a local yes."""
        session = self.session
        if session is None or session.closed is not None:
            return
        if action in (ActionCode.PRESENT, ActionCode.TAKE_BACK):
            self._agreed_to_present = True
        if action is ActionCode.PAUSE:
            self._pause_locally()
        if action is ActionCode.REVOKE_CONTROL:
            self._revoke_locally("you revoked it")
        if action is ActionCode.GRANT_CONTROL and target is not None:
            # `g`: the same local grant as a yes to a request (injection, Ctrl+F12), then the
            # relay is told.
            await self._grant_control(
                session, target, lambda: session.request(action, target, confirmed=True)
            )
            return
        await session.request(action, target, confirmed=True)

    async def answer_knock(self, peer_id: int, admit: bool) -> None:
        session = self.session
        if isinstance(session, OrganizerSession) and session.closed is None:
            if admit:
                await session.admit(peer_id)
            else:
                await session.decline(peer_id)

    async def send_chat(self, text: str) -> None:
        session = self.session
        if session is not None and session.closed is None and text.strip():
            await session.send_content(Chat(text=text[:4000]))
            self.post(Notice(f"{self._name(session.peer_id)} (you): {text[:4000]}"))

    async def send_file(self, path: Path, recipient: int | None = None) -> None:
        """Offer ``path`` to one member, or to every other member (``None``); each is asked,
        and each transfer runs alone."""
        session, view, nursery = self.session, self.view, self._session_nursery
        transfers = self.transfers
        if session is None or view is None or nursery is None or transfers is None:
            return
        if not view.others:
            self.post(Notice("Nobody else is in the session to send a file to.", "warning"))
            return
        for row in view.others:
            if recipient is None or row.peer_id == recipient:
                nursery.start_soon(transfers.send_file, path, row.peer_id)

    async def cancel_transfer(self, key: tuple[str, int, int]) -> None:
        direction, peer, file_id = key
        if self.transfers is not None and direction in ("send", "receive"):
            await self.transfers.cancel("send" if direction == "send" else "receive", peer, file_id)

    async def reopen_viewer(self) -> None:
        self._viewer_closed_by_user = False
        if self.view is not None:
            self._follow_viewer(self.view)

    def set_share_source(self, source: CaptureSource) -> None:
        """Change what is shared; takes effect at once if this member is presenting."""
        self.share_source = source
        if self._presenter is not None and self.view is not None:
            self._stop_presenting()
            self._follow_presenting(self.view)

    async def leave(self) -> None:
        session = self.session
        if session is not None and session.closed is None:
            await session.leave()

    # -- in a session: events from the relay ---------------------------------------------------

    async def _run_session(self, session: SessionBase, *, organizer: bool) -> None:
        self.session = session
        self._asks.clear()  # consent ids are per session
        target = self.target
        link = ""
        if target is not None and self.client is not None:
            link = str(
                JoinLink(target.host, target.port, session.session_id, self.client.fingerprint)
            )
        self.post(SessionStarted(session.session_id, session.security_code, organizer, link))
        transfers = FileTransfers(session, ask=True)
        try:
            async with trio.open_nursery() as nursery:
                self._session_nursery = nursery
                self.transfers = transfers
                nursery.start_soon(transfers.run)
                nursery.start_soon(self._report_transfers, transfers)
                async for event in session.events:
                    await self._on_event(event)
                    if isinstance(event, SessionClosed):
                        break
                nursery.cancel_scope.cancel()
        except* ChannelClosed as lost:
            # A send (screen update, input, answer) met a connection that just died; the
            # session is over for this client either way.
            first = lost.exceptions[0]
            message = first.message if isinstance(first, ChannelClosed) else str(first)
            self._revoke_locally("the connection was lost")
            self.post(SessionOver(f"The connection to the relay was lost: {message}"))
        finally:
            self._session_nursery = None
            self.transfers = None
            with trio.CancelScope(shield=True):
                await transfers.aclose()  # what was arriving keeps its .part, to resume
            self._stop_presenting()
            self._stop_viewer()
            self.session = None
            self.view = None
            self._agreed_to_present = False

    async def _on_event(self, event: object) -> None:
        session = self.session
        assert session is not None
        match event:
            case ContentReceived() as content if content.header.content_type in FILE_CONTENT:
                if self.transfers is not None:
                    await self.transfers.handle(content)
            case RosterChanged(roster=roster):
                if self.transfers is not None:
                    await self.transfers.handle(event)  # transfers of members who left end
                self._on_roster(roster)
            case KnockReceived(needs_approval=True) as knock:
                self.post(KnockArrived(knock.peer_id, knock.name, knock.origin))
            case KnockReceived() as knock:
                self.post(Notice(f"{knock.name} proved the session password and is joining."))
            case KnockWithdrawn(peer_id=peer_id):
                self.post(KnockGone(peer_id))
            case JoinAttemptFailed() as failed:
                self.post(Notice(failed.sentence, "warning"))
            case ConsentRequested() as ask:
                self._on_consent(ask)
            case ActionAnswered(outcome=ActionOutcome.REFUSED, message=message):
                self.post(Notice(f"Refused: {message}", "warning"))
            case ActionAnswered(outcome=ActionOutcome.WAITING_FOR_CONSENT):
                self.post(Notice("Asked; waiting for their answer."))
            case ContentReceived(message=Chat(text=text)) as content:
                self.post(Notice(f"{self._name(content.sender)}: {text}"))
            case ContentReceived(message=FrameUpdate() as update):
                if self._viewer is not None:
                    await self._viewer.send_update(update)
            case ContentReceived(message=Cursor() as cursor):
                if self._viewer is not None:
                    await self._viewer.send_cursor(cursor)
            case ContentReceived(message=RefreshRequest(reason=reason)):
                if self._presenter is not None:
                    self._presenter.request_keyframe(reason)
            case ContentReceived(message=InputEvent() as input_event) as content:
                self._on_input(content.sender, input_event)
            case EpochChanged():
                if self._presenter is not None:
                    self._presenter.request_keyframe()
            case UpdatesDropped():
                if self._viewer is not None:
                    await self._viewer.notify_dropped()
            case RelayError(message=message):
                self.post(Notice(f"Relay: {message}", "warning"))
            case SessionClosed(message=message):
                self._revoke_locally("the session ended")
                self.post(SessionOver(message))

    async def _report_transfers(self, transfers: FileTransfers) -> None:
        """Turn transfer events into the offer dialog, the transfers panel and log lines."""
        async for event in transfers.events:
            key = (event.direction, event.peer, event.file_id)
            who = self._name(event.peer)
            match event:
                case TransferOffered(direction="receive") as offer:
                    self._transfer_names[key] = offer.name
                    self.post(TransferChanged(key, f"← {offer.name} from {who} · asking you"))
                    self._ask_about_file(transfers, offer, who)
                case TransferOffered() as offer:
                    self._transfer_names[key] = offer.name
                    self.post(TransferChanged(key, f"→ {offer.name} to {who} · waiting for a yes"))
                case TransferProgress() as progress:
                    self.post(TransferChanged(key, self._progress_line(key, progress, who)))
                case TransferDone() as done:
                    name = self._forget(key)
                    log = (
                        f"Sent {name} to {who} (SHA-256 checked)."
                        if done.direction == "send"
                        else f"Received {name} from {who} (SHA-256 checked): saved as {done.path}."
                    )
                    self.post(TransferChanged(key, None, log))
                case TransferFailed(reason=reason):
                    name = self._forget(key)
                    way = f"{name} to {who}" if event.direction == "send" else f"{name} from {who}"
                    self.post(TransferChanged(key, None, f"File {way}: {reason}"))

    def _ask_about_file(self, transfers: FileTransfers, offer: TransferOffered, who: str) -> None:
        from core.files.names import UnsafeName, check_name

        try:
            check_name(offer.name)
        except UnsafeName:
            return  # refused already: the failure follows, with the reason
        token = trio.lowlevel.current_trio_token()
        nursery = self._session_nursery
        assert nursery is not None
        directory = self.download_dir

        def deliver(value: bool) -> None:
            nursery.start_soon(transfers.answer, offer.peer, offer.file_id, value, directory)

        reply = Reply(lambda value: token.run_sync_soon(deliver, value))
        self.post(FileOffered(offer.peer, who, offer.file_id, offer.name, offer.size, reply))

    def _progress_line(
        self, key: tuple[str, int, int], progress: TransferProgress, who: str
    ) -> str:
        now = time.monotonic()
        started, at_start = self._transfer_start.setdefault(key, (now, progress.done))
        name = self._transfer_names.get(key, "a file")
        arrow, whom = ("→", f"to {who}") if progress.direction == "send" else ("←", f"from {who}")
        percent = 100 * progress.done // max(progress.size, 1)
        line = f"{arrow} {name} {whom} · {percent}% of {human_size(progress.size)}"
        elapsed = now - started
        if elapsed > 0.5 and progress.done > at_start:
            rate = (progress.done - at_start) / elapsed
            left = (progress.size - progress.done) / rate
            line += f" · {human_size(rate)}/s · {int(left) // 60}:{int(left) % 60:02d} left"
        return line

    def _forget(self, key: tuple[str, int, int]) -> str:
        self._transfer_start.pop(key, None)
        return self._transfer_names.pop(key, "a file")

    def _name(self, peer_id: int | None) -> str:
        return self.view.name_of(peer_id) if self.view is not None else f"#{peer_id}"

    def _on_roster(self, roster: Roster) -> None:
        session = self.session
        assert session is not None
        self.view = view = SessionView.from_roster(roster, session.peer_id)
        self.post(SessionUpdated(view))
        self._forget_void_asks(roster)
        self._follow_presenting(view)
        self._follow_control(roster)
        self._follow_viewer(view)

    def _forget_void_asks(self, roster: Roster) -> None:
        """Close the consent dialogs whose asker (or subject) left: the relay forgets such a
        request when the member goes, and an answer would only be refused."""
        present = {member.peer_id for member in roster.members}
        for consent_id, (ask, name) in list(self._asks.items()):
            if ask.actor in present and (ask.target is None or ask.target in present):
                continue
            del self._asks[consent_id]
            who = name if ask.actor not in present else "The member it was about"
            self.post(ConsentGone(consent_id, f"{who} left, so there is nothing to answer."))

    def _on_consent(self, ask: ConsentRequested) -> None:
        session = self.session
        assert session is not None
        name = self._name(ask.actor)
        self._asks[ask.consent_id] = (ask, name)

        async def answer(granted: bool) -> None:
            if self._asks.pop(ask.consent_id, None) is None:
                return  # void meanwhile (see _forget_void_asks): nothing to answer
            if session.closed is not None:
                return
            if granted and ask.action is ActionCode.REQUEST_CONTROL:
                await self._grant_control(
                    session,
                    ask.actor,
                    lambda: session.answer_consent(ask.consent_id, granted=True),
                )
                return
            if granted and ask.action in (
                ActionCode.PROPOSE_PRESENTER,
                ActionCode.HAND_TO_ORGANIZER,
            ):
                self._agreed_to_present = True
            await session.answer_consent(ask.consent_id, granted=granted)

        token = trio.lowlevel.current_trio_token()
        nursery = self._session_nursery
        assert nursery is not None
        reply = Reply(lambda value: token.run_sync_soon(nursery.start_soon, answer, value))
        self.post(ConsentAsked(ask.consent_id, ask.action, ask.actor, name, reply))

    async def _grant_control(
        self, session: SessionBase, peer_id: int, tell_relay: Callable[[], Awaitable[object]]
    ) -> None:
        """This presenter's own yes to ``peer_id``, whichever way it was given (answering their
        request, or `g`): the one path that grants control.

        The guard grants before the relay hears it and Ctrl+F12 is armed, so the revoke works
        from the first injected event. A grant the relay never applies (it refused, or another
        yes won) is dropped after :data:`guard_module.GRANT_CONFIRM_SECONDS`, and the relay is
        told, like after a revoke with r: locally nobody controls then.
        """
        if self._guard is not None:
            self._guard.grant(peer_id)
            await self._arm_hotkey()
        await tell_relay()
        await trio.sleep(guard_module.GRANT_CONFIRM_SECONDS)
        if self._guard is not None and self._guard.unconfirmed(peer_id):
            self._revoke_locally("the relay did not hand over control")
            if session.closed is None:
                await session.request(ActionCode.REVOKE_CONTROL, confirmed=True)

    # -- presenting ---------------------------------------------------------------------------

    def _follow_presenting(self, view: SessionView) -> None:
        if view.i_present and self._agreed_to_present and self._presenter is None:
            self._start_presenting()
        elif not view.i_present and self._presenter is not None:
            self._stop_presenting()
            self._agreed_to_present = False  # next time, this person is asked again
        if self._presenter is not None:
            self._presenter.set_audience(len(view.others))
            self._presenter.set_paused(view.paused)

    def _start_presenting(self) -> None:
        nursery = self._session_nursery
        session = self.session
        if nursery is None or session is None:
            return
        from core.capture.capturer import Capturer
        from core.stream.presenter import ScreenPresenter

        try:
            self._capturer = Capturer(self.share_source)
        except (CaptureError, ValueError) as exc:
            self.fail(
                "Cannot share the screen",
                str(exc),
                "Pick something else to share (s), or stop presenting.",
            )
            return
        presenter = ScreenPresenter(session.content_outlet(), self._capturer)
        self._presenter = presenter
        self._injector = Injector(lambda: presenter.area or (0, 0, 0, 0))
        self._guard = ControlGuard(self._injector)
        self._stuck_keys = StuckKeyWatch(self._injector)
        self._presenting_scope = trio.CancelScope()
        nursery.start_soon(
            self._present, presenter, self._capturer, self._stuck_keys, self._presenting_scope
        )
        self.post(Notice(f"You are presenting: {describe_source(self.share_source)}."))

    async def _present(
        self,
        presenter: ScreenPresenter,
        capturer: Capturer,
        stuck_keys: StuckKeyWatch,
        scope: trio.CancelScope,
    ) -> None:
        with scope:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(stuck_keys.run)
                    await presenter.run()
            finally:
                capturer.close()  # only now: the presenter's thread used it until run() returned
                hotkey, self._hotkey = self._hotkey, None
                if hotkey is not None:
                    await hotkey.disarm()

    async def _arm_hotkey(self) -> None:
        """Listen for Ctrl+F12 while someone may control this screen (and only then)."""
        if self._hotkey is None:
            injector = self._injector
            self._hotkey = RevokeHotkeyWhileGranted(
                self._on_revoke_hotkey, immediate=injector.revoke if injector else None
            )
        try:
            await self._hotkey.arm()
        except HotkeyUnavailable as exc:
            self.post(
                Notice(
                    f"The global {revoke_hotkey_label()} hotkey is unavailable ({exc}); "
                    "revoke control with r in this window.",
                    "warning",
                )
            )

    def _on_revoke_hotkey(self) -> None:  # on the trio thread
        self._revoke_locally("Ctrl+F12")
        session, nursery = self.session, self._session_nursery
        if session is not None and nursery is not None:
            nursery.start_soon(session.request, ActionCode.REVOKE_CONTROL)

    def _stop_presenting(self) -> None:
        self._revoke_locally("you stopped presenting")
        if self._presenter is not None:
            self._presenter.stop()  # nothing more leaves from here on
        if self._presenting_scope is not None:
            self._presenting_scope.cancel()
        if self._injector is not None:
            self._injector.close()
        self._presenter = self._capturer = self._presenting_scope = None
        self._injector = self._guard = self._stuck_keys = None

    def _pause_locally(self) -> None:
        """Hide now, before the relay hears it: the next capture never happens."""
        if self._presenter is not None:
            self._presenter.set_paused(True)
        self._revoke_locally("you paused")

    def _follow_control(self, roster: Roster) -> None:
        guard = self._guard
        if guard is None:
            return
        if guard.on_roster(roster):
            self._announce_revoked("it ended on the relay")
        if guard.active and self._announced_controller != guard.granted_to:
            self._announced_controller = guard.granted_to
            self.post(ControlChanged(self._name(guard.granted_to)))

    def _revoke_locally(self, reason: str) -> None:
        if self._guard is not None:
            self._guard.revoke()
        self._announce_revoked(reason)

    def _announce_revoked(self, reason: str) -> None:
        hotkey, nursery = self._hotkey, self._session_nursery
        if hotkey is not None and hotkey.armed and nursery is not None:
            nursery.start_soon(hotkey.disarm)  # nobody controls: stop observing keys
        if self._announced_controller is not None:
            self._announced_controller = None
            self.post(ControlChanged(None, reason))

    def _on_input(self, sender: int, event: InputEvent) -> None:
        presenter, guard = self._presenter, self._guard
        if presenter is None or guard is None:
            return
        area = presenter.area
        guard.on_input(sender, event, (area[2], area[3]) if area is not None else None)
        if self._stuck_keys is not None:
            self._stuck_keys.poke()

    # -- watching -----------------------------------------------------------------------------

    def _follow_viewer(self, view: SessionView) -> None:
        someone_else = view.presenter is not None and not view.i_present
        if not someone_else:
            self._viewer_closed_by_user = False
            self._stop_viewer()
            return
        if self._viewer_scope is None and not self._viewer_closed_by_user:
            nursery = self._session_nursery
            if nursery is not None:
                self._viewer_scope = trio.CancelScope()
                nursery.start_soon(self._watch, self._viewer_scope)
        elif self._viewer is not None and self._session_nursery is not None:
            self._session_nursery.start_soon(self._update_viewer_state)

    async def _update_viewer_state(self) -> None:
        viewer, view = self._viewer, self.view
        if viewer is None or view is None or not viewer.running:
            return
        state = viewer_state(view)
        await viewer.set_state(
            state, control=view.i_control, presenter=view.name_of(view.presenter)
        )

    async def _watch(self, scope: trio.CancelScope) -> None:
        session = self.session
        view = self.view
        if session is None or view is None:
            return
        title = f"porthole — {view.name_of(view.presenter)} presenting"
        env = dict(os.environ) if self.viewer_env is None else self.viewer_env
        with scope:
            try:
                async with open_viewer(title, env=env) as viewer:
                    self._viewer = viewer
                    await self._update_viewer_state()
                    await session.send_content(
                        RefreshRequest(reason=RefreshReason.LATE_JOIN),
                        recipient=view.presenter or 0,
                    )
                    async for event in viewer.events:
                        await self._on_viewer_event(event)
                        if isinstance(event, WindowClosed):
                            # Not reopened by itself (a window that cannot open, e.g. over
                            # SSH without a display, would fail on every roster change).
                            self._viewer_closed_by_user = True
                            if event.by_user:
                                text = "The viewer window was closed; press v to open it again."
                            else:
                                text = (
                                    f"The viewer window stopped: {viewer.stderr_tail.strip()} "
                                    "(press v to try again)"
                                )
                            self.post(Notice(text, "information" if event.by_user else "error"))
                            break
            except OSError as exc:
                self._viewer_closed_by_user = True
                self.post(Notice(f"Could not open the viewer window: {exc}", "error"))
            finally:
                self._viewer = None
                if self._viewer_scope is scope:
                    self._viewer_scope = None

    async def _on_viewer_event(self, event: object) -> None:
        session, view = self.session, self.view
        if session is None or view is None or view.presenter is None:
            return
        match event:
            case Input(event=input_event):
                if view.i_control:  # the window only sends while it shows control, but check
                    await session.send_content(input_event, recipient=view.presenter)
            case Refresh(reason=reason):
                await session.send_content(RefreshRequest(reason=reason), recipient=view.presenter)

    def _stop_viewer(self) -> None:
        if self._viewer_scope is not None:
            self._viewer_scope.cancel()
            self._viewer_scope = None


def viewer_state(view: SessionView) -> ViewerState:
    """Which overlay the viewer window shows for this roster."""
    presenter = next((row for row in view.members if row.peer_id == view.presenter), None)
    if presenter is not None and presenter.connection == "reconnecting":
        return ViewerState.RECONNECTING
    return ViewerState.PAUSED if view.paused else ViewerState.LIVE


def describe_source(source: CaptureSource) -> str:
    """How the session screen names what is shared (a window by its title)."""
    return describe(source)
