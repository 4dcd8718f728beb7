"""The porthole client app, driven by keys with Pilot against a real relay and real peers.

Each flow is checked where it lands: on the other clients (roster, consent answers, session
end), in the trust store, and on the screen the person sees.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from adminkit import RelayThread
from appkit import (
    SESSION_PASSWORD,
    SIZE,
    Peer,
    make_app,
    on_screen,
    target,
    type_into,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hostilekit import stream_updates
from netkit import Cutter
from pilotkit import run, until
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, add_account, make_config
from textual.pilot import Pilot
from textual.widgets import DataTable, Label, OptionList, RichLog, Static

from bench.hostile import Hostile, flip_bit
from core.client import edge as edge_module
from core.client.events import (
    ConsentRequested,
    ContentReceived,
    RosterChanged,
    SessionClosed,
    SessionEvent,
)
from core.client.files import FileTransfers, TransferDone, TransferFailed
from core.client.stream_watch import StreamState
from core.control import guard as guard_module
from core.crypto import public_key_bytes
from core.crypto.identity import short_fingerprint
from core.errors import ErrorCode
from core.known_relays import KnownRelays
from core.links import JoinLink
from core.protocol.content import Chat, ContentType, FileOffer, FrameUpdate, InputEvent, InputKind
from core.protocol.messages import ActionCode, PairSealed, Sealed
from core.tlspin import certificate_fingerprint
from relay.limits import BackoffPolicy
from relay.tls import CERT_FILENAME
from tui.app.app import PortholeApp, Start
from tui.app.dialogs import (
    AdmitDialog,
    BecomePresenterDialog,
    EndSessionDialog,
    ErrorDialog,
    FileOfferDialog,
    GrantControlDialog,
    LeaveDialog,
    PickMemberDialog,
    SendFileDialog,
    ShareDialog,
    TakeBackDialog,
    TrustDialog,
)
from tui.app.screens.connect import ConnectScreen
from tui.app.screens.create import CreateScreen
from tui.app.screens.join import JoinScreen
from tui.app.screens.login import LoginScreen
from tui.app.screens.session import SessionScreen
from tui.app.start import RelayTarget

QUICK_LOCK = BackoffPolicy(free_failures=10, lockout_after=3)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayThread]:
    data_dir = tmp_path / "data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    config = make_config(data_dir, login_failures=QUICK_LOCK)
    with RelayThread(config) as running:
        yield running


def error_text(screen: ErrorDialog) -> str:
    return f"{screen.title_text}: {screen.sentence} {screen.next_step}"


async def _organize(pilot: Pilot[Any], password: str = SESSION_PASSWORD) -> SessionScreen:
    """Log in and create a session from the app's own screens; returns the session screen."""
    await on_screen(pilot, LoginScreen)
    await type_into(pilot, "username", ORGANIZER)
    await type_into(pilot, "password", ORGANIZER_PASSWORD)
    await pilot.press("enter")
    await on_screen(pilot, CreateScreen)
    await type_into(pilot, "name", "Olga")
    if password:
        await type_into(pilot, "password", password)
    await pilot.press("ctrl+s")
    screen = await on_screen(pilot, SessionScreen)
    await until(pilot, lambda: screen.view is not None, "the roster")
    assert isinstance(screen, SessionScreen)
    return screen


async def _joins(
    pilot: Pilot[Any], relay: RelayThread, screen: SessionScreen, name: str, members: int
) -> Peer:
    """``name`` joins with the session password; returns once the app's roster shows
    ``members`` members."""
    peer = await Peer.knock(relay, screen.session_id, name, password=SESSION_PASSWORD)
    await peer.wait(lambda: peer.session is not None, f"{name} joined")
    assert peer.session is not None
    await until(
        pilot, lambda: screen.view is not None and len(screen.view.members) == members, name
    )
    return peer


async def _present_to_ana(pilot: Pilot[Any], relay: RelayThread) -> tuple[SessionScreen, Peer]:
    """Organize, let Ana join, and start presenting to her (confirmed locally)."""
    screen = await _organize(pilot)
    ana = await _joins(pilot, relay, screen, "Ana", 2)
    await pilot.press("p")
    await on_screen(pilot, TakeBackDialog)
    await pilot.press("y")
    await until(pilot, lambda: screen.view is not None and screen.view.i_present, "presenting")
    return screen, ana


# --- connect, trust, unreachable -----------------------------------------------------------------


def test_an_unknown_relay_asks_for_trust_first_and_remembers_a_yes(
    relay: RelayThread, tmp_path: Path
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, ConnectScreen)
            await type_into(pilot, "relay", f"127.0.0.1:{target(relay).port}")
            await pilot.press("enter", "enter")  # to the fingerprint field, then submit
            trust = await on_screen(pilot, TrustDialog)
            assert relay.info is not None
            assert relay.info.fingerprint[:4] in trust.body_text.replace(":", "").lower()
            await pilot.press("y")
            await on_screen(pilot, JoinScreen)
        known = KnownRelays(tmp_path / "known_relays")
        assert known.lookup("127.0.0.1", target(relay).port) == target(relay).fingerprint

    run(scenario)


def test_a_known_relay_pinned_by_its_whole_certificate_is_upgraded_to_its_key_pin(
    relay: RelayThread, tmp_path: Path
) -> None:
    """An entry from before pins named keys still admits, and becomes the key pin, so the
    operator's next renewal does not read as an interception."""
    cert = x509.load_pem_x509_certificate((relay.config.data_dir / CERT_FILENAME).read_bytes())
    whole = certificate_fingerprint(cert.public_bytes(serialization.Encoding.DER))
    port = target(relay).port
    known = KnownRelays(tmp_path / "known_relays")
    known.remember("127.0.0.1", port, whole)
    assert whole != target(relay).fingerprint

    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay, pinned=False)))
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, JoinScreen)  # no trust dialog: the old pin matched

    run(scenario)
    assert known.lookup("127.0.0.1", port) == target(relay).fingerprint


def test_refusing_trust_sends_nothing_and_says_what_to_do(
    relay: RelayThread, tmp_path: Path
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay, pinned=False)))
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, TrustDialog)
            await pilot.press("n")
            error = await on_screen(pilot, ErrorDialog)
            assert "Nothing was sent" in error_text(error)
            assert "fingerprint" in error_text(error)
        assert KnownRelays(tmp_path / "known_relays").entries() == []

    run(scenario)


def test_an_unreachable_relay_is_a_dialog_with_a_next_step(
    relay: RelayThread, tmp_path: Path
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, ConnectScreen)
            await type_into(pilot, "relay", "127.0.0.1:9")
            await pilot.press("ctrl+s")
            error = await on_screen(pilot, ErrorDialog, timeout=30)
            assert error.title_text == "Relay unreachable"
            assert "relay is running" in error.next_step
            await pilot.press("enter")
            await on_screen(pilot, ConnectScreen)

    run(scenario)


def test_a_mistyped_relay_address_says_what_is_wrong_and_stays(
    relay: RelayThread, tmp_path: Path
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = await on_screen(pilot, ConnectScreen)
            for typed, says in (
                ("relay.example.org", "expected HOST:PORT"),
                ("::1:7443", "write an IPv6 address in brackets: [::1]:7443"),
                ("relay.example.org:70000", "the port must be a number from 1 to 65535"),
            ):
                await type_into(pilot, "relay", typed)
                await pilot.press("ctrl+s")
                await pilot.pause()
                status = screen.query_one("#status", Label)
                assert says in str(status.render())
                assert status.has_class("error")
                assert app.screen is screen  # nothing was attempted

    run(scenario)


# --- organizer: login, create, admit, end ---------------------------------------------------------


def test_login_refusal_then_lockout_are_explained(relay: RelayThread, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, LoginScreen)
            messages = []
            for _ in range(4):
                await type_into(pilot, "username", ORGANIZER)
                await type_into(pilot, "password", "not-the-password-at-all")
                await pilot.press("enter")
                error = await on_screen(pilot, ErrorDialog)
                messages.append(error_text(error))
                await pilot.press("enter")
                await on_screen(pilot, LoginScreen)
            assert "Check the user name and password" in messages[0]
            assert any("Wait until the lockout ends" in m for m in messages[1:]), messages

    run(scenario)


def test_organizer_creates_a_session_admits_one_knock_declines_another_and_ends_it(
    relay: RelayThread, tmp_path: Path
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, LoginScreen)
            await type_into(pilot, "username", ORGANIZER)
            await type_into(pilot, "password", ORGANIZER_PASSWORD)
            await pilot.press("enter")
            await on_screen(pilot, CreateScreen)
            await type_into(pilot, "name", "Olga")
            await pilot.press("ctrl+s")  # random ID, no password: every knock is asked
            screen = await on_screen(pilot, SessionScreen)
            await until(pilot, lambda: screen.view is not None, "the roster arrived")
            session_id = screen.session_id

            eve = await Peer.knock(relay, session_id, "Eve")
            dialog = await on_screen(pilot, AdmitDialog)
            assert "Eve" in dialog.body_text
            await pilot.press("n")
            await eve.wait(lambda: eve.refused is not None, "Eve is turned away")
            assert eve.refused is not None
            assert eve.refused.code is ErrorCode.KNOCK_DECLINED

            ana = await Peer.knock(relay, session_id, "Ana")
            await on_screen(pilot, AdmitDialog)
            await pilot.press("y")
            await ana.wait(lambda: ana.session is not None, "Ana is admitted")
            assert ana.session is not None
            assert ana.session.security_code == screen.security_code
            await until(
                pilot,
                lambda: screen.view is not None and len(screen.view.members) == 2,
                "the roster shows Ana",
            )
            assert "Ana" in [row.name for row in screen.view.members]

            await pilot.press("e")
            await on_screen(pilot, EndSessionDialog)
            await pilot.press("y")
            closed = await ana.event(SessionClosed)
            assert "ended" in closed.message
            error = await on_screen(pilot, ErrorDialog)
            assert error.title_text == "Session over", error_text(error)

    run(scenario)


# --- participant: join by ID and by link, wrong password, leave -----------------------------------


def test_join_by_id_shows_the_same_security_code_and_leaving_updates_the_roster(
    relay: RelayThread, tmp_path: Path
) -> None:
    async def scenario() -> None:
        olga = await Peer.organize(relay)
        assert olga.session is not None
        app = make_app(relay, tmp_path, Start(relay=target(relay)))
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, JoinScreen)
            await type_into(pilot, "session-id", olga.session.session_id)
            await type_into(pilot, "name", "Ana")
            await type_into(pilot, "password", SESSION_PASSWORD)
            await pilot.press("enter")
            screen = await on_screen(pilot, SessionScreen)
            assert screen.security_code == olga.session.security_code
            await olga.event(RosterChanged, lambda r: len(r.roster.members) == 2)
            await until(pilot, lambda: screen.view is not None, "the roster")
            await pilot.press("l")
            await on_screen(pilot, LeaveDialog)  # asked first, as `e` is
            await pilot.press("y")
            await olga.event(RosterChanged, lambda r: len(r.roster.members) == 1, "Ana left")

    run(scenario)


def test_join_by_link_with_a_wrong_password_is_refused_with_a_sentence(
    relay: RelayThread, tmp_path: Path
) -> None:
    async def scenario() -> None:
        olga = await Peer.organize(relay)
        assert olga.session is not None
        start = Start(relay=target(relay), session_id=olga.session.session_id, name="Mallory")
        app = make_app(relay, tmp_path, start)
        async with app.run_test(size=SIZE) as pilot:
            join = await on_screen(pilot, JoinScreen)
            assert join.field("session-id").value == olga.session.session_id
            await pilot.press(*"wrong-password", "enter")
            error = await on_screen(pilot, ErrorDialog)
            assert error.title_text == "Could not join"
            assert "Wrong session ID or password" in error.sentence

    run(scenario)


def test_a_password_given_on_the_command_line_knocks_at_once_in_the_app(
    relay: RelayThread, tmp_path: Path
) -> None:
    """`porthole join LINK --password-file F` (or --ask-password) opens the app and knocks with
    that password: no form to fill, and the app (viewer, control) instead of the line console."""

    async def scenario() -> None:
        olga = await Peer.organize(relay)
        assert olga.session is not None
        start = Start(
            relay=target(relay),
            session_id=olga.session.session_id,
            name="Ana",
            password=SESSION_PASSWORD,
        )
        app = make_app(relay, tmp_path, start)
        async with app.run_test(size=SIZE) as pilot:
            screen = await on_screen(pilot, SessionScreen)
            assert screen.security_code == olga.session.security_code
            assert app._start_password is None, "used once, then dropped"

    run(scenario)


def test_a_taken_or_invisible_name_is_said_and_nothing_is_lost(
    relay: RelayThread, tmp_path: Path
) -> None:
    """An invisible character is caught on the form; a name a member holds ("OLGA" for Olga)
    comes back from the organizer as a dialog naming it, and the join screen stays."""

    async def scenario() -> None:
        olga = await Peer.organize(relay)
        assert olga.session is not None
        app = make_app(relay, tmp_path, Start(relay=target(relay)))
        async with app.run_test(size=SIZE) as pilot:
            join = await on_screen(pilot, JoinScreen)
            await type_into(pilot, "session-id", olga.session.session_id)
            join.field("name").value = "Olga\u200b"  # as pasted: no key types U+200B
            await type_into(pilot, "password", SESSION_PASSWORD)
            await pilot.press("enter")
            status = join.query_one("#status", Label)
            await until(pilot, lambda: "U+200B" in str(status.render()), "the form says why")
            assert status.has_class("error")
            join.field("name").value = "OLGA"
            await type_into(pilot, "password", SESSION_PASSWORD)
            await pilot.press("enter")
            error = await on_screen(pilot, ErrorDialog)
            assert "The name 'OLGA' is taken in this session." in error.sentence
            assert "--name" in error.next_step

    run(scenario)


def test_joining_with_an_identity_key_shows_its_fingerprint_beside_the_name(
    relay: RelayThread, tmp_path: Path
) -> None:
    """`porthole join --identity`: the key is proved at admission; the app's roster shows the
    short fingerprint the leader certified, and the organizer sees the same one."""
    key = Ed25519PrivateKey.generate()
    short = short_fingerprint(public_key_bytes(key))

    async def scenario() -> None:
        olga = await Peer.organize(relay)
        assert olga.session is not None
        start = Start(
            relay=target(relay),
            session_id=olga.session.session_id,
            name="Ana",
            password=SESSION_PASSWORD,
            identity=key,
        )
        app = make_app(relay, tmp_path, start)
        async with app.run_test(size=SIZE) as pilot:
            screen = await on_screen(pilot, SessionScreen)
            await until(pilot, lambda: screen.view is not None, "the roster")
            assert screen.view is not None
            (me,) = [row for row in screen.view.members if row.is_me]
            assert me.key == short
            assert [row.key for row in screen.view.members if not row.is_me] == [None]
            table = screen.query_one("#roster", DataTable)
            names = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
            assert f"Ana (you) · key {short}" in names, names
            assert olga.session.identity_fingerprint(me.peer_id) == short

    run(scenario)


# --- consent dialogs ----------------------------------------------------------------------------


def test_a_presenter_proposal_answered_no_then_yes(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    async def scenario() -> None:
        olga = await Peer.organize(relay)
        assert olga.session is not None
        start = Start(relay=target(relay), session_id=olga.session.session_id, name="Ana")
        app = make_app(relay, tmp_path, start)
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, JoinScreen)
            await pilot.press(*SESSION_PASSWORD, "enter")
            screen = await on_screen(pilot, SessionScreen)
            await until(pilot, lambda: screen.view is not None, "the roster")
            ana_id = screen.view.me

            await olga.do(olga.organizer.request, ActionCode.PROPOSE_PRESENTER, ana_id)
            await on_screen(pilot, BecomePresenterDialog)
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, SessionScreen), "dialog gone")
            await olga.do(olga.organizer.request, ActionCode.PROPOSE_PRESENTER, ana_id)
            await on_screen(pilot, BecomePresenterDialog)
            await pilot.press("y")
            await olga.event(RosterChanged, lambda r: r.roster.presenter == ana_id, "Ana presents")
            await until(
                pilot, lambda: screen.view is not None and screen.view.i_present, "Ana presents"
            )
            assert app.driver._presenter is not None, "the app shares after its own yes"

    run(scenario)


def test_control_request_refused_then_granted_shows_the_banner_and_r_revokes(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen, ana = await _present_to_ana(pilot, relay)
            assert ana.session is not None

            await ana.do(ana.session.request, ActionCode.REQUEST_CONTROL)
            await on_screen(pilot, GrantControlDialog)
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, SessionScreen), "dialog gone")
            assert screen.view is not None
            assert screen.view.controller is None

            await ana.do(ana.session.request, ActionCode.REQUEST_CONTROL)
            await on_screen(pilot, GrantControlDialog)
            await pilot.press("y")
            await ana.event(RosterChanged, lambda r: r.roster.controller == ana.peer_id, "control")
            banner = screen.query_one("#control-banner")
            await until(pilot, lambda: banner.display, "the control banner")
            assert "Ctrl+F12" in str(banner.render())
            await pilot.press("r")
            await ana.event(RosterChanged, lambda r: r.roster.controller is None, "revoked")
            await until(pilot, lambda: not banner.display, "the banner goes")

            await pilot.press("space")  # pause
            await ana.event(RosterChanged, lambda r: r.roster.paused, "paused")
            await pilot.press("space")
            await ana.event(RosterChanged, lambda r: not r.roster.paused, "resumed")

    run(scenario)


@pytest.mark.parametrize("path", ["request", "g"])
def test_granting_with_g_or_answering_a_request_injects_and_arms_ctrl_f12_alike(
    relay: RelayThread, tmp_path: Path, display: object, path: str
) -> None:
    """Both ways a presenter gives control go through one grant: Ana's pointer events are
    injected (XTEST, on the presenter's display), and the revoke hotkey is armed."""

    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen, ana = await _present_to_ana(pilot, relay)
            assert ana.session is not None
            if path == "request":
                await ana.do(ana.session.request, ActionCode.REQUEST_CONTROL)
                await on_screen(pilot, GrantControlDialog)
                await pilot.press("y")
            else:
                await pilot.press("g")
                await on_screen(pilot, PickMemberDialog)
                await pilot.press("enter")  # Ana, the only one to pick
            await ana.event(RosterChanged, lambda r: r.roster.controller == ana.peer_id, "control")
            assert app.driver.edge is not None
            control = app.driver.edge.control
            assert control is not None
            injector, hotkey = control.injector, control.hotkey
            assert hotkey.armed, "Ctrl+F12 is armed from the grant on"
            assert screen.view is not None
            presenter = screen.view.me
            before = injector.statistics().injected
            for x in (10, 20, 30):
                move = InputEvent(InputKind.POINTER_MOVE, x, x, 0, 0, 0, 0, key="", text="")
                await ana.do(ana.session.send_content, move, presenter)
            await until(pilot, lambda: injector.statistics().injected >= before + 3, "injected")
            assert injector.statistics().refused == 0
            await pilot.press("r")
            await ana.event(RosterChanged, lambda r: r.roster.controller is None, "revoked")
            await until(pilot, lambda: not hotkey.armed, "the hotkey disarmed")

    run(scenario)


def test_a_consent_dialog_closes_unanswered_when_the_asker_leaves(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen, ana = await _present_to_ana(pilot, relay)
            assert ana.session is not None

            await ana.do(ana.session.request, ActionCode.REQUEST_CONTROL)
            await on_screen(pilot, GrantControlDialog)
            await ana.do(ana.session.leave)
            await until(pilot, lambda: isinstance(app.screen, SessionScreen), "dialog gone")
            log = screen.query_one("#log", RichLog)
            reason = "Ana left, so there is nothing to answer"
            await until(pilot, lambda: any(reason in ln.text for ln in log.lines), "the reason")
            assert screen.view is not None
            assert screen.view.controller is None
            assert len(screen.view.members) == 1
            assert not app.driver._asks
            assert app.driver.edge is not None
            assert app.driver.edge.edge.granted_to is None  # no yes was ever given

    run(scenario)


def test_a_yes_the_relay_never_applies_is_dropped_with_its_hotkey(
    relay: RelayThread, tmp_path: Path, display: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ana and Bob both ask for control; the yes to Bob applies, the later yes to Ana is refused
    by the relay (Bob holds control), which does not tell the presenter: the grant to Ana, and
    the revoke-hotkey listener that sees every key, must not stay."""
    monkeypatch.setattr(edge_module, "GRANT_CONFIRM_SECONDS", 0.5)
    # The grant to Ana lives only 0.5 s; a loaded machine can sleep through it between two
    # polls, so every grant is recorded as it is made instead of being caught in passing.
    grants: list[int] = []
    grant = guard_module.ControlGuard.grant

    def recorded_grant(self: guard_module.ControlGuard, peer_id: int) -> None:
        grants.append(peer_id)
        grant(self, peer_id)

    monkeypatch.setattr(guard_module.ControlGuard, "grant", recorded_grant)

    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen, ana = await _present_to_ana(pilot, relay)
            bob = await _joins(pilot, relay, screen, "Bob", 3)
            assert ana.session is not None
            assert bob.session is not None

            await ana.do(ana.session.request, ActionCode.REQUEST_CONTROL)
            await on_screen(pilot, GrantControlDialog)
            await bob.do(bob.session.request, ActionCode.REQUEST_CONTROL)
            await until(pilot, lambda: len(app.driver._asks) == 2, "both asks")
            await pilot.press("y")  # the dialog on top: Bob's
            await bob.event(RosterChanged, lambda r: r.roster.controller == bob.peer_id, "Bob")
            await on_screen(pilot, GrantControlDialog)
            await pilot.press("y")  # Ana's: the relay refuses it, Bob holds control
            assert app.driver.edge is not None
            guard = app.driver.edge.guard
            assert guard is not None
            await until(pilot, lambda: ana.peer_id in grants, "the yes to Ana")
            await until(pilot, lambda: guard.granted_to is None, "the unconfirmed grant dropped")
            control = app.driver.edge.control
            assert control is not None
            await until(pilot, lambda: not control.hotkey.armed, "the listener stops")
            # The yes to Ana had revoked Bob here; the relay is told, so both agree: nobody.
            await bob.event(RosterChanged, lambda r: r.roster.controller is None, "relay agrees")

    run(scenario)


def test_a_handed_back_presenting_is_asked_and_taking_back_is_confirmed(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await _joins(pilot, relay, screen, "Ana", 2)
            assert ana.session is not None

            # Olga proposes Ana (picked from a list); Ana agrees in her client.
            await pilot.press("o")
            await on_screen(pilot, PickMemberDialog)
            await pilot.press("enter")
            ask = await ana.event(ConsentRequested)
            await ana.do(ana.session.answer_consent, ask.consent_id, True)
            await until(
                pilot,
                lambda: screen.view is not None and screen.view.presenter == ana.peer_id,
                "Ana presents",
            )

            # Ana hands it back: Olga is asked, says no.
            await ana.do(ana.session.request, ActionCode.HAND_TO_ORGANIZER)
            dialog = await on_screen(pilot, BecomePresenterDialog)
            assert "hands presenting back" in dialog.body_text
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, SessionScreen), "dialog gone")
            assert screen.view is not None
            assert screen.view.presenter == ana.peer_id

            # Olga takes it back herself (Ana has presented): confirmed locally only.
            await pilot.press("p")
            take = await on_screen(pilot, TakeBackDialog)
            assert "Ana is presenting" in take.body_text
            await pilot.press("y")
            await ana.event(
                RosterChanged, lambda r: r.roster.presenter != ana.peer_id, "taken back"
            )
            await until(
                pilot, lambda: screen.view is not None and screen.view.i_present, "Olga presents"
            )

    run(scenario)


def test_no_answers_change_nothing_chat_arrives_and_quitting_ends_the_session(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await Peer.knock(relay, screen.session_id, "Ana", password=SESSION_PASSWORD)
            await ana.wait(lambda: ana.session is not None, "Ana joined")

            await pilot.press("p")  # start presenting? no
            await on_screen(pilot, TakeBackDialog)
            await pilot.press("n")
            await on_screen(pilot, SessionScreen)
            await pilot.press("e")  # end the session? no
            await on_screen(pilot, EndSessionDialog)
            await pilot.press("escape")
            await on_screen(pilot, SessionScreen)
            await pilot.pause(0.5)
            assert screen.view is not None
            assert screen.view.presenter is None
            assert not any(isinstance(e, SessionClosed) for e in ana.events)
            assert app.driver._capturer is None, "nothing is captured without a yes"

            await pilot.press("t")
            await pilot.press(*"hello Ana", "enter")
            chat = await ana.event(ContentReceived, lambda c: isinstance(c.message, Chat))
            assert isinstance(chat.message, Chat)
            assert chat.message.text == "hello Ana"
            assert ana.session is not None
            await ana.do(ana.session.send_content, Chat(text="hi Olga"))
            log = screen.query_one("#log", RichLog)
            await until(pilot, lambda: any("Ana: hi Olga" in ln.text for ln in log.lines), "chat")
            mine = [ln.text for ln in log.lines if "hello Ana" in ln.text]
            assert mine == ["Olga (you) [1]: hello Ana"], "the sender sees their own line"
            delivered = "✓ Your chat line 1 reached everyone."
            await until(pilot, lambda: any(delivered in ln.text for ln in log.lines), "the mark")

            # A toggling key says what it does now, and the lock shows beside the session ID.
            await pilot.press("escape", "k")
            await until(pilot, lambda: screen.view is not None and screen.view.locked, "locked")
            keys = {k: b.binding.description for k, b in screen.active_bindings.items()}
            assert keys["k"] == "Unlock"
            assert "locked" in str(screen.query_one("#session-id", Label).render())
            assert any("The session is locked" in ln.text for ln in log.lines)
            await pilot.press("k")
            await until(pilot, lambda: screen.view is not None and not screen.view.locked, "open")
            keys = {k: b.binding.description for k, b in screen.active_bindings.items()}
            assert keys["k"] == "Lock"

            await pilot.press("ctrl+q")
            await on_screen(pilot, LeaveDialog)  # the organizer's quit ends it: asked first
            await pilot.press("y")
        closed = await ana.event(SessionClosed)
        assert "left" in closed.message or "ended" in closed.message

    run(scenario)


def test_the_share_picker_shares_a_typed_region(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await Peer.knock(relay, screen.session_id, "Ana", password=SESSION_PASSWORD)
            await ana.wait(lambda: ana.session is not None, "Ana joined")
            await pilot.press("p")
            await on_screen(pilot, TakeBackDialog)
            await pilot.press("y")
            await until(pilot, lambda: app.driver._presenter is not None, "presenting")
            first = await ana.event(ContentReceived, lambda c: isinstance(c.message, FrameUpdate))
            assert isinstance(first.message, FrameUpdate)
            assert (first.message.width, first.message.height) == (1280, 800)

            await pilot.press("s")
            dialog = await on_screen(pilot, ShareDialog)
            assert any("monitor 1" in str(option.prompt) for option in dialog.options)
            await type_into(pilot, "region", "10,20,320,200")
            await pilot.press("enter")
            await on_screen(pilot, SessionScreen)
            sized = await ana.event(
                ContentReceived,
                lambda c: isinstance(c.message, FrameUpdate) and c.message.width == 320,
                "a 320-wide frame",
            )
            assert isinstance(sized.message, FrameUpdate)
            assert sized.message.height == 200
            assert "region" in str(screen.query_one("#sharing", Label).render())

    run(scenario)


def test_a_window_picked_to_share_is_named_by_its_title(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    """The share picker lists windows by title and the session screen says which window is
    shared by that title too, not by an id like 0x20000c; Ana gets that window's frames."""
    from Xlib import X  # type: ignore[import-untyped]
    from Xlib.display import Display as XDisplay  # type: ignore[import-untyped]

    title = f"porthole picked {os.getpid()}"
    conn: Any = XDisplay()
    window = conn.screen().root.create_window(50, 60, 200, 100, 0, X.CopyFromParent)
    window.set_wm_name(title)
    window.map()
    conn.sync()

    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await Peer.knock(relay, screen.session_id, "Ana", password=SESSION_PASSWORD)
            await ana.wait(lambda: ana.session is not None, "Ana joined")
            await pilot.press("p")
            await on_screen(pilot, TakeBackDialog)
            await pilot.press("y")
            await until(pilot, lambda: app.driver._presenter is not None, "presenting")
            await pilot.press("s")
            dialog = await on_screen(pilot, ShareDialog)
            (index,) = [i for i, o in enumerate(dialog.options) if title in str(o.prompt)]
            dialog.query_one(OptionList).highlighted = index
            await pilot.press("enter")
            await on_screen(pilot, SessionScreen)
            sharing = str(screen.query_one("#sharing", Label).render())
            assert f"window {title!r}" in sharing
            assert "0x" not in sharing
            sized = await ana.event(
                ContentReceived,
                lambda c: isinstance(c.message, FrameUpdate) and c.message.width == 200,
                "a frame of the picked window",
            )
            assert isinstance(sized.message, FrameUpdate)
            assert sized.message.height == 100

    try:
        run(scenario)
    finally:
        window.destroy()
        conn.close()


def test_p_stops_presenting_and_nobody_presents_after_it(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen, ana = await _present_to_ana(pilot, relay)
            await until(pilot, lambda: app.driver._presenter is not None, "capturing")
            await pilot.press("p")  # "Stop" while presenting: no dialog, stopping is always safe
            await ana.event(RosterChanged, lambda r: r.roster.presenter is None, "nobody presents")
            assert app.driver._presenter is None
            assert app.driver._capturer is None
            await until(pilot, lambda: screen.view is not None and not screen.view.i_present, "")
            log = screen.query_one("#log", RichLog)
            assert any("Nobody is presenting now." in line.text for line in log.lines)

    run(scenario)


def test_a_presenter_whose_window_cannot_be_captured_stops_and_tells_everyone_why(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    """Sharing a window that is then closed, and presenting a window that is gone already:
    each time the presenter stops presenting, its person sees why, and Ana reads the reason
    in the chat while the roster says nobody presents (never a grey or frozen picture)."""
    from Xlib import X
    from Xlib.display import Display as XDisplay

    from core.capture.sources import WindowSource

    conn: Any = XDisplay()
    window = conn.screen().root.create_window(40, 50, 160, 90, 0, X.CopyFromParent)
    window.set_wm_name(f"porthole closing {os.getpid()}")
    window.map()
    conn.sync()

    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await _joins(pilot, relay, screen, "Ana", 2)
            app.driver.set_share_source(WindowSource(xid=window.id))
            await pilot.press("p")
            await on_screen(pilot, TakeBackDialog)
            await pilot.press("y")
            await ana.event(
                ContentReceived,
                lambda c: isinstance(c.message, FrameUpdate) and c.message.width == 160,
                "a frame of the window",
            )
            window.destroy()  # mid-share: the window goes away
            conn.sync()
            said = await ana.event(
                ContentReceived,
                lambda c: isinstance(c.message, Chat) and "stopped presenting" in c.message.text,
                "the reason, in the chat",
            )
            assert isinstance(said.message, Chat)
            assert "cannot capture the screen" in said.message.text
            await ana.event(RosterChanged, lambda r: r.roster.presenter is None, "nobody presents")
            error = await on_screen(pilot, ErrorDialog)
            assert "You stopped presenting" in error_text(error)
            await pilot.press("enter")
            await on_screen(pilot, SessionScreen)
            assert app.driver._presenter is None
            assert app.driver._capturer is None

            # Presenting the same (now gone) window again fails at once, and the same way.
            await pilot.press("p")
            await on_screen(pilot, TakeBackDialog)
            await pilot.press("y")
            error = await on_screen(pilot, ErrorDialog)
            assert "You stopped presenting" in error_text(error)
            await ana.event(
                ContentReceived,
                lambda c: isinstance(c.message, Chat) and "stopped presenting" in c.message.text,
                "the reason again",
            )
            await ana.event(RosterChanged, lambda r: r.roster.presenter is None, "nobody again")
            await pilot.pause(0.5)
            assert app.driver._presenter is None, "presenting was started again"

    try:
        run(scenario)
    finally:
        conn.close()


def test_the_command_palette_offers_the_session_actions_the_rules_allow(
    relay: RelayThread, tmp_path: Path
) -> None:
    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            titles = [command.title for command in app.get_system_commands(screen)]
            assert "Lock (k)" in titles
            assert "Ask control (c)" not in titles, "nobody presents: nothing to control"
            ana = await Peer.knock(relay, screen.session_id, "Ana", password=SESSION_PASSWORD)
            await ana.wait(lambda: ana.session is not None, "Ana joined")
            await pilot.press("ctrl+p")
            await pilot.pause(0.3)
            await pilot.press(*"Lock (k)")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await ana.event(RosterChanged, lambda r: r.roster.locked, "the session locks")

    run(scenario)


def test_a_connection_cut_while_presenting_is_told_as_lost_not_as_a_crash(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    async def scenario() -> None:
        assert relay.info is not None
        cutter = Cutter(relay.info.port)
        via = RelayTarget("127.0.0.1", cutter.port, relay.info.fingerprint)
        app = make_app(relay, tmp_path, Start(relay=via, organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await Peer.knock(relay, screen.session_id, "Ana", password=SESSION_PASSWORD)
            await ana.wait(lambda: ana.session is not None, "Ana joined")
            await pilot.press("p")
            await on_screen(pilot, TakeBackDialog)
            await pilot.press("y")
            await ana.event(ContentReceived, lambda c: isinstance(c.message, FrameUpdate))
            cutter.cut()
            error = await on_screen(pilot, ErrorDialog)
            assert error.title_text in ("Session over", "Connection lost"), error_text(error)
            assert "Internal error" not in error_text(error)
            await ana.event(SessionClosed)
            await pilot.pause(0.5)
            assert app.driver._capturer is None, "capture stopped with the session"
            assert not any(
                isinstance(s, ErrorDialog) and s.title_text == "Internal error"
                for s in app.screen_stack
            )

    run(scenario)


def test_a_join_link_pasted_on_the_connect_screen_pins_the_relay_and_fills_the_id(
    relay: RelayThread, tmp_path: Path
) -> None:
    async def scenario() -> None:
        olga = await Peer.organize(relay)
        assert olga.session is not None
        assert relay.info is not None
        link = JoinLink(
            "127.0.0.1", relay.info.port, olga.session.session_id, relay.info.fingerprint
        )
        app = make_app(relay, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, ConnectScreen)
            await type_into(pilot, "relay", str(link))
            await pilot.press("ctrl+s")
            join = await on_screen(pilot, JoinScreen)  # no trust prompt: the link pins it
            assert join.field("session-id").value == olga.session.session_id
            await type_into(pilot, "name", "Ana")
            await type_into(pilot, "password", SESSION_PASSWORD)
            await pilot.press("enter")
            await on_screen(pilot, SessionScreen)
            await olga.event(RosterChanged, lambda r: "Ana" in [e.name for e in r.roster.members])

    run(scenario)


def test_without_a_display_the_viewer_fails_once_with_a_reason_and_is_not_respawned(
    relay: RelayThread, tmp_path: Path
) -> None:
    async def scenario() -> None:
        olga = await Peer.organize(relay)  # the organizer presents from the start
        assert olga.session is not None
        start = Start(relay=target(relay), session_id=olga.session.session_id, name="Ana")
        app = PortholeApp(
            start,
            known_relays=KnownRelays(tmp_path / "known_relays"),
            viewer_env={k: v for k, v in os.environ.items() if k != "DISPLAY"},
        )
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, JoinScreen)
            await pilot.press(*SESSION_PASSWORD, "enter")
            screen = await on_screen(pilot, SessionScreen)
            log = screen.query_one("#log", RichLog)

            def failures() -> int:
                return sum("viewer window stopped" in line.text for line in log.lines)

            await until(pilot, lambda: failures() == 1, "the viewer's failure is told")
            ben = await Peer.knock(relay, olga.session.session_id, "Ben", password=SESSION_PASSWORD)
            await ben.wait(lambda: ben.session is not None, "Ben joined")
            await until(
                pilot, lambda: screen.view is not None and len(screen.view.members) == 3, "Ben"
            )
            await pilot.pause(1.0)
            assert failures() == 1, "the viewer was started again on a roster change"
            assert app.driver.viewer is None

    run(scenario)


# --- a relay that withholds or tampers (docs/design.md §3.3) ------------------------------------


def _logged(screen: SessionScreen, text: str) -> bool:
    return any(text in line.text for line in screen.query_one("#log", RichLog).lines)


def test_the_organizer_is_told_of_a_dropped_rekey_a_withheld_line_and_a_flipped_bit(
    relay: RelayThread, tmp_path: Path
) -> None:
    assert relay.info is not None
    hostile = Hostile(relay.info)

    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await _joins(pilot, relay, screen, "Ana", 2)
            assert ana.session is not None
            from_ana = ana.session.peer_id
            chats: list[Sealed] = []

            def drop_anas_second_line(msg: Sealed) -> list[Sealed] | None:
                if msg.header.sender != from_ana or msg.header.content_type is not ContentType.CHAT:
                    return None
                chats.append(msg)
                if len(chats) == 2:
                    return []
                return [flip_bit(msg)] if len(chats) == 4 else None

            hostile.sealed_rules.append(drop_anas_second_line)
            for number in (1, 2, 3, 4):
                await ana.do(ana.session.send_content, Chat(text=f"line {number}"))
            await until(pilot, lambda: _logged(screen, "Ana: line 3"), "line 3")
            gap = "Chat line 2 from Ana never arrived: the relay withheld them."
            await until(pilot, lambda: _logged(screen, gap), "the gap")
            tampered = "Refused 1 message said to be from Ana: altered on the way."
            await until(pilot, lambda: _logged(screen, tampered), "the flipped bit")
            assert not _logged(screen, "line 4"), "nothing tampered is shown"

            dropped: list[PairSealed] = []

            def drop_anas_rekey(msg: PairSealed) -> list[PairSealed] | None:
                if msg.peer_id != from_ana or dropped:
                    return None
                dropped.append(msg)
                return []

            hostile.pair_rules.append(drop_anas_rekey)
            await _joins(pilot, relay, screen, "Bruno", 3)  # everyone is re-keyed
            missing = "Ana has not confirmed the new session keys"
            await until(pilot, lambda: _logged(screen, missing), "the missing re-key")
            await until(pilot, lambda: _logged(screen, "Ana has the new session keys now."), "ok")
            assert dropped

    run(scenario)


def test_a_viewer_is_told_when_the_relay_withholds_the_presenters_updates(
    relay: RelayThread, tmp_path: Path, display: object
) -> None:
    assert relay.info is not None
    hostile = Hostile(relay.info)

    async def scenario() -> None:
        olga = await Peer.organize(relay)  # she presents, as organizers do by default
        assert olga.session is not None
        session = olga.session
        stop = trio.Event()

        async def stream() -> None:
            assert relay.nursery is not None
            relay.nursery.start_soon(stream_updates, session, stop)

        app = make_app(relay, tmp_path, Start(relay=target(relay)))
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, JoinScreen)
            await type_into(pilot, "session-id", session.session_id)
            await type_into(pilot, "name", "Ana")
            await type_into(pilot, "password", SESSION_PASSWORD)
            await pilot.press("enter")
            screen = await on_screen(pilot, SessionScreen)
            await until(pilot, lambda: screen.view is not None, "the roster")
            await olga.do(stream)
            member = app.driver.session
            assert member is not None
            await until(pilot, lambda: member.integrity.stream_state is StreamState.FLOWING, "on")

            def withhold(msg: Sealed) -> list[Sealed] | None:
                return [] if msg.header.content_type is ContentType.FRAME_UPDATE else None

            hostile.sealed_rules.append(withhold)
            withheld = "The relay is withholding Olga's screen: updates they sent have not arrived."
            await until(pilot, lambda: _logged(screen, withheld), "withheld", timeout=30)
            hostile.sealed_rules.clear()
            again = "Olga's screen updates arrive again."
            await until(pilot, lambda: _logged(screen, again), "restored", timeout=30)
            stop.set()

    run(scenario)


def test_the_demo_goes_from_its_starting_screen_straight_to_its_session() -> None:
    """`porthole demo` (its relay process, login and session creation all real) shows its
    starting status, then the session: not the create form it would replace at once, which
    cost a whole screen's layout and paint on the way (bench/README.md, "bench.startup")."""
    from tui.app.launch import demo_app
    from tui.demo_relay import DemoRelayProcess

    async def scenario() -> None:
        with DemoRelayProcess.start() as relay:
            await on_the_demo_screens(demo_app(relay, name="Olga"))

    async def on_the_demo_screens(app: PortholeApp) -> None:
        shown: list[str] = []
        async with app.run_test(size=SIZE) as pilot:
            # Each screen the app changes to, as it happens (from before the login could be done).
            app.screen_change_signal.subscribe(
                app, lambda screen: shown.append(type(screen).__name__), immediate=True
            )
            screen = await on_screen(pilot, SessionScreen)
            await until(pilot, lambda: screen.view is not None, "the roster")
            assert screen.link.startswith("porthole://127.0.0.1:")
        assert shown[:1] == ["SessionScreen"], f"the demo showed {shown}"

    run(scenario)


# --- files: f sends, an offer is a dialog, the transfers panel ------------------------------------


async def _with_files(peer: Peer, accept_dir: Path | None) -> FileTransfers:
    """Give a scripted member file transfers (accepting into ``accept_dir``, if given)."""

    async def start() -> FileTransfers:
        assert peer.session is not None
        assert peer.relay.nursery is not None
        transfers = FileTransfers(peer.session, accept_dir=accept_dir)

        async def hook(event: SessionEvent) -> None:
            await transfers.handle(event)

        peer.hooks.append(hook)
        peer.relay.nursery.start_soon(transfers.run)
        return transfers

    result: FileTransfers = await peer.do(start)
    return result


def _log_text(screen: SessionScreen) -> str:
    """The session log as one string (lines wrapped at the screen's width joined again)."""
    return "".join(line.text for line in screen.query_one("#log", RichLog).lines)


@pytest.mark.parametrize("save", [True, False])
def test_an_offered_file_is_asked_for_and_saved_only_on_yes(
    relay: RelayThread, tmp_path: Path, save: bool
) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    source = tmp_path / "fix-config.sh"
    data = os.urandom(700_000)
    source.write_bytes(data)

    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        app.driver.download_dir = downloads
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await _joins(pilot, relay, screen, "Ana", 2)
            transfers = await _with_files(ana, None)
            sending = asyncio.ensure_future(ana.do(transfers.send_file, source, 1))
            dialog = await on_screen(pilot, FileOfferDialog)
            assert "Ana wants to send you fix-config.sh (683.6 KiB)" in dialog.body_text
            assert str(downloads) in dialog.body_text
            assert screen.query_one("#transfers", Static).display
            assert "← fix-config.sh from Ana · asking you" in screen.transfers.values()
            assert list(downloads.iterdir()) == [], "nothing is written before the answer"
            await pilot.press("y" if save else "n")
            result = await asyncio.wait_for(sending, 30)
            await until(pilot, lambda: not screen.transfers, "the transfer left the panel")
            assert not screen.query_one("#transfers", Static).display
            if save:
                assert isinstance(result, TransferDone)
                saved = downloads / "fix-config.sh"
                assert saved.read_bytes() == data
                await until(pilot, lambda: "saved as" in _log_text(screen), "the log says so")
                assert f"Received fix-config.sh from Ana (SHA-256 checked): saved as {saved}." in (
                    _log_text(screen)
                )
            else:
                assert isinstance(result, TransferFailed)
                assert result.reason == "The receiver declined the file."
                assert list(downloads.iterdir()) == []
                assert "Declined fix-config.sh from Ana." in _log_text(screen)

    run(scenario)


def test_f_sends_a_file_to_everyone_in_the_session(relay: RelayThread, tmp_path: Path) -> None:
    inbox = tmp_path / "ana-inbox"
    inbox.mkdir()
    source = tmp_path / "my notes.txt"
    data = os.urandom(1_500_000)
    source.write_bytes(data)

    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await _joins(pilot, relay, screen, "Ana", 2)
            await _with_files(ana, inbox)
            lines: list[str] = []
            shown = screen.show_transfer

            def record(key: tuple[str, int, int], line: str | None) -> None:
                if line is not None:
                    lines.append(line)
                shown(key, line)

            screen.show_transfer = record  # type: ignore[method-assign]
            await pilot.press("f")
            dialog = await on_screen(pilot, SendFileDialog)
            await type_into(pilot, "path", "/nonexistent/x")
            await pilot.press("enter")
            assert "not a file" in str(dialog.query_one("#path-status", Label).render())
            # A file dropped onto a terminal arrives as its quoted path.
            await type_into(pilot, "path", f"'{source}'")
            await pilot.press("enter")
            await until(pilot, lambda: "Sent my notes.txt to Ana" in _log_text(screen), "sent")
            assert (inbox / "my notes.txt").read_bytes() == data
            assert "Sent my notes.txt to Ana (SHA-256 checked)." in _log_text(screen)
            assert lines[0] == "→ my notes.txt to Ana · waiting for a yes"
            assert any("% of 1.4 MiB" in line for line in lines[1:]), lines

    run(scenario)


def test_z_cancels_a_file_on_its_way_and_nothing_is_kept(
    relay: RelayThread, tmp_path: Path
) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    source = tmp_path / "disk.img"
    with source.open("wb") as f:
        f.truncate(256 * 1024 * 1024)  # far more than arrives before the cancel

    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        app.driver.download_dir = downloads
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await _joins(pilot, relay, screen, "Ana", 2)
            transfers = await _with_files(ana, None)
            sending = asyncio.ensure_future(ana.do(transfers.send_file, source, 1))
            await on_screen(pilot, FileOfferDialog)
            await pilot.press("y")
            await until(
                pilot,
                lambda: any("% of 256.0 MiB" in line for line in screen.transfers.values()),
                "progress in the panel",
            )
            await pilot.press("z")
            picker = await on_screen(pilot, PickMemberDialog)
            assert picker.title_text == "Cancel which transfer?"
            await pilot.press("enter")
            result = await asyncio.wait_for(sending, 30)
            assert isinstance(result, TransferFailed)
            assert result.reason == "The receiver cancelled the transfer."
            await until(pilot, lambda: "nothing of it was kept" in _log_text(screen), "said")
            assert not screen.transfers
            assert list(downloads.iterdir()) == []

    run(scenario)


def test_f_can_send_to_one_member_only(relay: RelayThread, tmp_path: Path) -> None:
    ana_inbox, ben_inbox = tmp_path / "ana", tmp_path / "ben"
    ana_inbox.mkdir()
    ben_inbox.mkdir()
    source = tmp_path / "for-ben.txt"
    source.write_bytes(b"only for Ben\n")

    async def scenario() -> None:
        app = make_app(relay, tmp_path, Start(relay=target(relay), organize=True))
        async with app.run_test(size=SIZE) as pilot:
            screen = await _organize(pilot)
            ana = await _joins(pilot, relay, screen, "Ana", 2)
            ben = await _joins(pilot, relay, screen, "Ben", 3)
            await _with_files(ana, ana_inbox)
            await _with_files(ben, ben_inbox)
            await pilot.press("f")
            dialog = await on_screen(pilot, SendFileDialog)
            await pilot.press("tab", "down", "down", "enter")  # everyone, Ana, Ben: Ben
            assert dialog.recipient() == ben.peer_id
            await type_into(pilot, "path", str(source))
            await pilot.press("enter")
            await until(pilot, lambda: "Sent for-ben.txt to Ben" in _log_text(screen), "sent")
            assert (ben_inbox / "for-ben.txt").read_bytes() == b"only for Ben\n"
            assert list(ana_inbox.iterdir()) == []
            offers_to_ana = [
                e
                for e in ana.events
                if isinstance(e, ContentReceived) and isinstance(e.message, FileOffer)
            ]
            assert offers_to_ana == [], "Ana was never offered the file"

    run(scenario)
