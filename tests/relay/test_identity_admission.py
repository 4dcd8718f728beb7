"""Identity keys over a real relay: proved at admission, certified, seen by every member, and a
proof the relay replays from another admission is refused by the leader.

The hostile relay is the real relay with one hook: its ``Switchboard.confirm`` records the sealed
proofs that pass and can swap one into a later ``Confirm``.
"""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay
from sessionkit import connect, next_event

from core.client import RequestRefused
from core.client.events import (
    JOIN_BAD_IDENTITY_REASON,
    EpochChanged,
    JoinAttemptFailed,
)
from core.crypto import public_key_bytes
from core.crypto.identity import short_fingerprint
from core.errors import ErrorCode
from core.protocol.messages import Confirm
from relay.peer import Peer
from relay.sessions import Switchboard

SESSION_PASSWORD = "fig-lantern-8"


class ConfirmHook:
    """Records every sealed identity proof the relay forwards; may replace the next one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[bytes] = []
        self.replace_with: bytes | None = None
        self.strip = False
        original = Switchboard.confirm

        def confirm(board: Switchboard, peer: Peer, msg: Confirm) -> None:
            if msg.identity is not None:
                self.seen.append(msg.identity)
            if self.replace_with is not None:
                msg = dataclasses.replace(msg, identity=self.replace_with)
                self.replace_with = None
            elif self.strip:
                msg = dataclasses.replace(msg, identity=None)
            original(board, peer, msg)

        monkeypatch.setattr(Switchboard, "confirm", confirm)


async def test_a_proved_identity_shows_for_everyone_and_a_replayed_proof_is_refused(
    relay: RunningRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = ConfirmHook(monkeypatch)
    ana_key, olga_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    port, fp = relay.port, relay.fingerprint
    async with connect(port, fp) as oc, connect(port, fp) as ac, connect(port, fp) as bc:
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD, identity=olga_key)
        ana = await ac.join(org.session_id, name="Ana", password=SESSION_PASSWORD, identity=ana_key)
        ben = await bc.join(org.session_id, name="Ben", password=SESSION_PASSWORD)
        assert len(hook.seen) == 1  # Ben proved nothing, so sent nothing
        assert public_key_bytes(ana_key) not in hook.seen[0]  # the relay cannot read it
        ana_short = short_fingerprint(public_key_bytes(ana_key))
        await next_event(ana, EpochChanged, lambda e: e.epoch == org.epoch)
        for session in (org, ana, ben):
            assert session.identity_fingerprint(ana.peer_id) == ana_short
            assert session.identity_fingerprint(ben.peer_id) is None
            assert session.identity_fingerprint(1) == short_fingerprint(public_key_bytes(olga_key))

        # The relay replays Ana's proof into Eve's admission: the leader refuses it.
        hook.replace_with = hook.seen[0]
        async with connect(port, fp) as ec:
            with pytest.raises(RequestRefused) as refused:
                await ec.join(org.session_id, name="Eve", password=SESSION_PASSWORD)
        assert refused.value.code is ErrorCode.JOIN_REFUSED
        failed = await next_event(org, JoinAttemptFailed, lambda e: e.name == "Eve")
        assert failed.reason == JOIN_BAD_IDENTITY_REASON

        # And into another session of the same relay.
        async with connect(port, fp) as oc2:
            await oc2.login(ORGANIZER, ORGANIZER_PASSWORD)
            other = await oc2.create_session(name="Oscar", password=SESSION_PASSWORD)
            hook.replace_with = hook.seen[0]
            async with connect(port, fp) as ec:
                with pytest.raises(RequestRefused):
                    await ec.join(other.session_id, name="Eve", password=SESSION_PASSWORD)
            failed = await next_event(other, JoinAttemptFailed)
            assert failed.reason == JOIN_BAD_IDENTITY_REASON


async def test_a_relay_that_strips_the_proof_gets_no_member_out_of_it(
    relay: RunningRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = ConfirmHook(monkeypatch)
    hook.strip = True
    async with (
        connect(relay.port, relay.fingerprint) as oc,
        connect(relay.port, relay.fingerprint) as ac,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        with pytest.raises(RequestRefused) as refused:
            await ac.join(
                org.session_id,
                name="Ana",
                password=SESSION_PASSWORD,
                identity=Ed25519PrivateKey.generate(),
            )
        assert "identity" in refused.value.message
        assert len(hook.seen) == 1  # the joiner did send its proof; the relay dropped it
