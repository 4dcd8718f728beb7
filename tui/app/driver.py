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

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
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
from core.client.edge import END_REASONS, ClientEdge
from core.client.edge_runner import EdgeRunner
from core.client.events import (
    ActionAnswered,
    ConsentRequested,
    ContentReceived,
    EpochChanged,
    GuessingSuspected,
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
from core.control.hotkey import revoke_hotkey_label
from core.device_cookies import DeviceCookies
from core.guessing import account_guessing_sentence, guessing_sentence
from core.humanize import size as human_size
from core.known_relays import KnownRelays
from core.links import JoinLink
from core.protocol.content import (
    FILE_CONTENT,
    Chat,
    Cursor,
    FrameUpdate,
    InputEvent,
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
from tui.app.watching import WindowWatch
from tui.integrity import INTEGRITY_EVENTS, integrity_sentence
from tui.viewer.link import ViewerLink

if TYPE_CHECKING:
    # Capture and the encoder (numpy, Pillow, mss, the X client) load when this person starts
    # presenting (start_capture), not with the app: most sessions never present from here.
    from core.capture.capturer import Capturer
    from core.control.injector import AreaTuple
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
        #: ``--identity``: the key proved on every join and certified on every create.
        self.identity: Ed25519PrivateKey | None = None
        self.client: RelayClient | None = None
        self.target: RelayTarget | None = None
        self.session: SessionBase | None = None
        self.view: SessionView | None = None
        self.share_source: CaptureSource = MonitorSource(1)
        self._disconnect = trio.Event()
        #: Presenting and control, decided by the client edge every front end shares.
        self.edge: EdgeRunner | None = None
        #: Whether the session about to start counts this person's yes to present (create).
        self._presents_from_start = False
        # Sharing this member's screen (the edge says when; this is how).
        self._presenter: ScreenPresenter | None = None
        self._capturer: Capturer | None = None
        self._presenting_scope: trio.CancelScope | None = None
        #: Consents asked of this user and not answered yet, with the asker's name.
        self._asks: dict[int, tuple[ConsentRequested, str]] = {}
        # Watching someone else's screen.
        self.watch: WindowWatch | None = None
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
                if pinned is not None and not target.fingerprint:  # from the known-relays file
                    self.known_relays.upgrade(target.host, target.port, pinned, client.fingerprint)
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
            # The device cookie lives beside the known-relays file (core/device_cookies.py).
            cookies = DeviceCookies(self.known_relays.path.with_name("device_cookies"))
            await client.login(username, password, cookies=cookies)
            return True

        if await self._told("Login refused", logged_in()):
            self.post(LoggedIn(username))
            warning = account_guessing_sentence(client.failed_logins)
            if warning is not None:
                self.post(Notice(warning, "error"))

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
            identity=self.identity,
        )
        session = await self._told("Session not created", created)
        if session is not None:
            self._presents_from_start = present
            await self._run_session(session, organizer=True)

    # -- participant: join --------------------------------------------------------------------

    async def join(self, session_id: str, *, name: str, password: str) -> None:
        client = self._client_or_fail()
        if client is None:
            return
        self.post(Knocking(session_id))
        joined = client.join(session_id, name=name, password=password, identity=self.identity)
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
        edge = self.edge
        assert edge is not None
        # What the edge does for these (local first, the relay told after) is the same
        # whichever front end asks: docs/design.md §3.5.
        if action is ActionCode.PAUSE:
            await edge.pause()
        elif action is ActionCode.RESUME:
            await edge.resume()
        elif action is ActionCode.STOP_PRESENTING:
            await edge.stop_presenting()
        elif action is ActionCode.REVOKE_CONTROL:
            await edge.revoke("revoked")
        elif action is ActionCode.GRANT_CONTROL and target is not None:
            await edge.grant(target)  # `g`: the same grant as a yes to a request
        else:
            if action in (ActionCode.PRESENT, ActionCode.TAKE_BACK):
                edge.edge.agree_to_present()
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
            own = session.integrity.last_chat_seq
            self.post(Notice(f"{self._name(session.peer_id)} (you) [{own}]: {text[:4000]}"))

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
        if self.watch is not None:
            self.watch.reopen()

    @property
    def viewer(self) -> ViewerLink | None:
        """The viewer window's link while it is open."""
        return self.watch.link if self.watch is not None else None

    def set_share_source(self, source: CaptureSource) -> None:
        """Change what is shared; takes effect at once if this member is presenting."""
        self.share_source = source
        nursery, edge = self._session_nursery, self.edge
        if nursery is not None and edge is not None:
            nursery.start_soon(edge.reshare)

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
        presents = organizer and self._presents_from_start
        edge = ClientEdge(session.peer_id, agreed_to_present=presents)
        self.edge = EdgeRunner(session, edge, self, hotkey=revoke_hotkey_label())
        transfers = FileTransfers(session, ask=True)
        try:
            async with trio.open_nursery() as nursery:
                self._session_nursery = nursery
                self.watch = WindowWatch(session, nursery, self._tell, env=self.viewer_env)
                await nursery.start(self.edge.run)
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
            self.post(SessionOver(f"The connection to the relay was lost: {message}"))
        finally:
            # The edge's runner ended with the nursery: input stopped, the hotkey disarmed.
            self._session_nursery = None
            self.transfers = None
            with trio.CancelScope(shield=True):
                await transfers.aclose()  # what was arriving keeps its .part, to resume
            self.stop_capture()
            if self.watch is not None:
                self.watch.stop()
                self.watch = None
            self.session = None
            self.view = None
            self.edge = None
            self._presents_from_start = False

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
                await self._on_roster(roster)
            case KnockReceived(needs_approval=True) as knock:
                self.post(KnockArrived(knock.peer_id, knock.name, knock.origin))
            case KnockReceived() as knock:
                self.post(Notice(f"{knock.name} proved the session password and is joining."))
            case KnockWithdrawn(peer_id=peer_id):
                self.post(KnockGone(peer_id))
            case JoinAttemptFailed() as failed:
                self.post(Notice(failed.sentence, "warning"))
            case GuessingSuspected(failures=failures):
                self.post(
                    Notice(guessing_sentence(failures, "press e to end this session"), "error")
                )
            case ConsentRequested() as ask:
                self._on_consent(ask)
            case ActionAnswered(outcome=ActionOutcome.REFUSED, message=message):
                self.post(Notice(f"Refused: {message}", "warning"))
            case ActionAnswered(outcome=ActionOutcome.WAITING_FOR_CONSENT):
                self.post(Notice("Asked; waiting for their answer."))
            case ContentReceived(message=Chat(text=text)) as content:
                self.post(Notice(f"{self._name(content.sender)}: {text}"))
            case ContentReceived(message=FrameUpdate() as update):
                if self.watch is not None:
                    await self.watch.on_update(update)
            case ContentReceived(message=Cursor() as cursor):
                if self.watch is not None:
                    await self.watch.on_cursor(cursor)
            case ContentReceived(message=RefreshRequest(reason=reason)) as content:
                if self._presenter is not None:
                    answer = self._presenter.request_keyframe(reason, content.sender)
                    if (report := answer.report) is not None:
                        self.post(Notice(_refresh_limited(self._name(report.member)), "warning"))
            case ContentReceived(message=InputEvent() as input_event) as content:
                if self.edge is not None:
                    self.edge.on_input(content.sender, input_event)
            case EpochChanged():
                if self._presenter is not None:
                    self._presenter.request_keyframe()
                self._refresh_certified()
            case UpdatesDropped():
                if self.watch is not None:
                    await self.watch.on_dropped()
            case RelayError(message=message):
                self.post(Notice(f"Relay: {message}", "warning"))
            case _ if isinstance(event, INTEGRITY_EVENTS):
                sentence, warning = integrity_sentence(event, self._name)
                self.post(Notice(sentence, "warning" if warning else "information"))
            case SessionClosed(message=message):
                if self.edge is not None:
                    await self.edge.closed("ended")
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

    async def _on_roster(self, roster: Roster) -> None:
        session = self.session
        assert session is not None
        before = self.view
        self.view = view = SessionView.from_roster(roster, session.peer_id, session.shown_as)
        if before is not None and self._presenter is not None:
            staying = {row.peer_id for row in view.members}
            for row in before.members:
                if row.peer_id not in staying:
                    self._presenter.forget_member(row.peer_id)
        self.post(SessionUpdated(view))
        self._forget_void_asks(roster)
        if self.edge is not None:
            await self.edge.on_roster(roster)
        if self.watch is not None:
            self.watch.follow(view)

    def _refresh_certified(self) -> None:
        """A re-key brings the certificates (names and identity fingerprints as the leader
        signed them) for members the relay's roster, which may arrive first, already lists:
        show them once they are there."""
        session = self.session
        if session is None or session.roster is None or self.view is None:
            return
        view = SessionView.from_roster(session.roster, session.peer_id, session.shown_as)
        if view.members != self.view.members:
            self.view = view
            self.post(SessionUpdated(view))

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
            if session.closed is not None or self.edge is None:
                return
            if granted and ask.action is ActionCode.REQUEST_CONTROL:
                await self.edge.grant(ask.actor, consent_id=ask.consent_id)
                return
            if granted and ask.action in (
                ActionCode.PROPOSE_PRESENTER,
                ActionCode.HAND_TO_ORGANIZER,
            ):
                self.edge.edge.agree_to_present()
            await session.answer_consent(ask.consent_id, granted=granted)

        token = trio.lowlevel.current_trio_token()
        nursery = self._session_nursery
        assert nursery is not None
        reply = Reply(lambda value: token.run_sync_soon(nursery.start_soon, answer, value))
        self.post(ConsentAsked(ask.consent_id, ask.action, ask.actor, name, reply))

    # -- presenting: what the edge's runner calls (core.client.edge_runner.EdgeFront) ----------

    def start_capture(self) -> None:
        """Capture what this person picked to share; a CaptureError goes back to the edge,
        which stops presenting and says why."""
        nursery, session = self._session_nursery, self.session
        if nursery is None or session is None:
            return
        from core.capture.capturer import Capturer
        from core.stream.presenter import ScreenPresenter

        capturer = Capturer(self.share_source)
        presenter = ScreenPresenter(session.content_outlet(), capturer)
        self._capturer, self._presenter = capturer, presenter
        self._presenting_scope = trio.CancelScope()
        nursery.start_soon(self._present, presenter, capturer, self._presenting_scope)
        self.post(Notice(f"You are presenting: {describe_source(self.share_source)}."))

    def stop_capture(self) -> None:
        if self._presenter is not None:
            self._presenter.stop()  # nothing more leaves from here on
        if self._presenting_scope is not None:
            self._presenting_scope.cancel()
        self._presenter = self._capturer = self._presenting_scope = None

    def set_audience(self, viewers: int) -> None:
        if self._presenter is not None:
            self._presenter.set_audience(viewers)

    def set_paused(self, paused: bool) -> None:
        if self._presenter is not None:
            self._presenter.set_paused(paused)

    def area(self) -> AreaTuple | None:
        return self._presenter.area if self._presenter is not None else None

    def control_changed(self, controller: int | None, reason: str, previous: int | None) -> None:
        if controller is not None:
            self.post(ControlChanged(self._name(controller)))
        else:
            self.post(ControlChanged(None, END_REASONS.get(reason, reason)))

    def hotkey_unavailable(self, reason: str) -> None:
        self.post(
            Notice(
                f"The global {revoke_hotkey_label()} hotkey is unavailable ({reason}); "
                "revoke control with r in this window.",
                "warning",
            )
        )

    def said(self, text: str) -> None:
        session = self.session
        if session is not None:
            own = session.integrity.last_chat_seq
            self.post(Notice(f"{self._name(session.peer_id)} (you) [{own}]: {text}"))

    def cannot_capture(self, reason: str) -> None:
        self.fail(
            "Cannot share the screen",
            f"{reason}. You stopped presenting, and everyone was told why.",
            "Present again (p), then pick what to share (s); or let someone else present.",
        )

    async def _present(
        self, presenter: ScreenPresenter, capturer: Capturer, scope: trio.CancelScope
    ) -> None:
        with scope:
            try:
                await presenter.run()
            except CaptureError as exc:  # the shared window closed, the display went away
                self._capture_lost(str(exc))
            finally:
                capturer.close()  # only now: the presenter's thread used it until run() returned

    def _capture_lost(self, reason: str) -> None:
        nursery, edge = self._session_nursery, self.edge
        if nursery is not None and edge is not None:
            nursery.start_soon(edge.capture_failed, reason)

    def _tell(self, text: str, severity: str) -> None:
        self.post(Notice(text, severity))


def describe_source(source: CaptureSource) -> str:
    """How the session screen names what is shared (a window by its title)."""
    return describe(source)


def _refresh_limited(name: str) -> str:
    """The session log's line when a member's keyframe requests are being dropped."""
    return (
        f"{name} asks for screen refreshes faster than any viewer should; the extra requests "
        "are ignored, and the others' picture is not slowed down."
    )
