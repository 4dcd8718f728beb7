"""Identity keys in admission (docs/design.md §4.3 step 7, core/crypto/identity.py).

Real leader and joiner state machines against each other, the test code playing the relay (and
a member who saw someone else's proof): it forwards, swaps, strips and re-seals proofs.
"""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.client.allowance import ControlAllowance
from core.crypto import (
    BadCertificate,
    BadSignature,
    CryptoError,
    JoinerAdmission,
    KnockValues,
    LeaderAdmission,
    LeaderState,
    OpenFailed,
    next_epoch_secret,
    public_key_bytes,
    sign_certificate,
)
from core.crypto.admission_common import admission_transcript
from core.crypto.identity import (
    fingerprint,
    identity_proof,
    normalize_fingerprint,
    short_fingerprint,
    verify_identity_proof,
)
from core.protocol.pair import MemberCertificate, Roster, Standing

PASSWORD = "correct horse"
ORGANIZER_PEER = 1


@dataclasses.dataclass
class Side:
    """One session's leader key and own certificate."""

    session_id: str
    leader_key: Ed25519PrivateKey = dataclasses.field(default_factory=Ed25519PrivateKey.generate)

    def roster_with(self, leader: LeaderAdmission) -> Roster:
        own = MemberCertificate(
            session_id=self.session_id,
            peer_id=ORGANIZER_PEER,
            name="Olga",
            member_key=public_key_bytes(Ed25519PrivateKey.generate()),
            standing=Standing.ORGANIZER,
        )
        return (
            sign_certificate(own, self.leader_key),
            sign_certificate(leader.member_certificate(), self.leader_key),
        )


def start(
    side: Side, name: str, identity: Ed25519PrivateKey | None, peer_id: int = 7
) -> tuple[JoinerAdmission, LeaderAdmission, bytes]:
    """Knock, challenge and the joiner's confirmation MAC (not yet checked by the leader)."""
    joiner = JoinerAdmission(side.session_id, name, PASSWORD, identity)
    knock = KnockValues(peer_id=peer_id, name=name, **dataclasses.asdict(joiner.join_values))
    leader = LeaderAdmission(side.session_id, PASSWORD, side.leader_key, knock)
    mac = joiner.on_challenge(leader.challenge)
    return joiner, leader, mac


def test_a_proved_identity_is_certified_and_the_joiner_sees_it_in_its_own_certificate() -> None:
    side, ana = Side("123456789"), Ed25519PrivateKey.generate()
    joiner, leader, mac = start(side, "Ana", ana)
    assert joiner.sealed_identity_proof is not None
    assert public_key_bytes(ana) not in joiner.sealed_identity_proof  # sealed: the relay can't
    leader.check_confirmation(mac, joiner.sealed_identity_proof)
    assert leader.identity_key == public_key_bytes(ana)
    membership = joiner.on_grant(leader.grant(2, next_epoch_secret(), side.roster_with(leader)))
    mine = membership.roster[membership.peer_id]
    assert mine.identity_key == public_key_bytes(ana)


def test_without_an_identity_nothing_is_sent_and_nothing_certified() -> None:
    side = Side("123456789")
    joiner, leader, mac = start(side, "Ana", None)
    assert joiner.sealed_identity_proof is None
    leader.check_confirmation(mac, None)
    membership = joiner.on_grant(leader.grant(2, next_epoch_secret(), side.roster_with(leader)))
    assert membership.roster[membership.peer_id].identity_key is None


def test_a_proof_replayed_from_another_session_does_not_open() -> None:
    """The relay copies Ana's sealed proof from session A into Eve's admission to session B."""
    ana = Ed25519PrivateKey.generate()
    ana_joiner, _, _ = start(Side("123456789"), "Ana", ana)
    side_b = Side("987654321")
    _, leader_b, mac = start(side_b, "Eve", None)
    with pytest.raises(OpenFailed):
        leader_b.check_confirmation(mac, ana_joiner.sealed_identity_proof)
    assert leader_b.state is LeaderState.FAILED


def test_a_proof_replayed_into_a_later_admission_to_the_same_session_does_not_open() -> None:
    side, ana = Side("123456789"), Ed25519PrivateKey.generate()
    first, _, _ = start(side, "Ana", ana, peer_id=7)
    _, leader, mac = start(side, "Ana", None, peer_id=9)
    with pytest.raises(CryptoError):
        leader.check_confirmation(mac, first.sealed_identity_proof)


def test_a_member_who_saw_a_proof_cannot_reuse_it_under_its_own_pair_keys() -> None:
    """Even re-sealed correctly on the replayer's own pair channel, the signature is over
    another admission's transcript, so it does not verify."""
    side, ana = Side("123456789"), Ed25519PrivateKey.generate()
    ana_joiner, ana_leader, _ = start(side, "Ana", ana)
    ana_t = admission_transcript(
        side.session_id,
        KnockValues(peer_id=7, name="Ana", **dataclasses.asdict(ana_joiner.join_values)),
        ana_leader.challenge,
    )
    seen = identity_proof(ana, ana_t)  # what Ana's leader opened
    assert verify_identity_proof(seen, ana_t) == public_key_bytes(ana)
    # Mallory joins the same session and seals Ana's proof under her own channel.
    mallory = JoinerAdmission(side.session_id, "Mallory", PASSWORD)
    knock = KnockValues(peer_id=8, name="Mallory", **dataclasses.asdict(mallory.join_values))
    leader = LeaderAdmission(side.session_id, PASSWORD, side.leader_key, knock)
    mac = mallory.on_challenge(leader.challenge)
    resealed = mallory._pair.seal(seen)  # type: ignore[union-attr]
    with pytest.raises(BadSignature):
        leader.check_confirmation(mac, resealed)


def test_a_joiner_refuses_a_grant_that_dropped_its_identity() -> None:
    """A relay that strips the proof gets the joiner admitted without it: the joiner notices
    its certificate lacks the key it proved and refuses, rather than join unrecognised."""
    side = Side("123456789")
    joiner, leader, mac = start(side, "Ana", Ed25519PrivateKey.generate())
    leader.check_confirmation(mac, None)  # stripped on the way
    with pytest.raises(BadCertificate, match="identity"):
        joiner.on_grant(leader.grant(2, next_epoch_secret(), side.roster_with(leader)))


def test_fingerprints_full_short_and_as_typed() -> None:
    public = public_key_bytes(Ed25519PrivateKey.generate())
    full = fingerprint(public)
    assert len(full) == 64
    assert short_fingerprint(public).replace("-", "") == full[:16]
    assert normalize_fingerprint(full.upper()) == full
    spaced = ":".join(full[i : i + 4] for i in range(0, 64, 4))
    assert normalize_fingerprint(spaced) == full
    assert normalize_fingerprint(full[:16]) is None
    assert normalize_fingerprint(full[:-1] + "g") is None


def test_a_control_allowance_by_key_ignores_the_name_and_by_name_ignores_case() -> None:
    ana_key = Ed25519PrivateKey.generate()

    def cert(name: str, identity: Ed25519PrivateKey | None) -> MemberCertificate:
        return MemberCertificate(
            session_id="123456789",
            peer_id=7,
            name=name,
            member_key=public_key_bytes(Ed25519PrivateKey.generate()),
            standing=Standing.PARTICIPANT,
            identity_key=public_key_bytes(identity) if identity else None,
        )

    by_key = ControlAllowance.parse("key:" + fingerprint(public_key_bytes(ana_key)))
    assert by_key.allows(cert("Whoever", ana_key))
    assert not by_key.allows(cert("Ana", None))
    assert not by_key.allows(cert("Ana", Ed25519PrivateKey.generate()))
    by_name = ControlAllowance.parse("Ana")
    assert by_name.allows(cert("ＡＮＡ", None))
    assert not by_name.allows(cert("Anabel", ana_key))
    assert not by_name.allows(None)
    for bad in ("key:abcd", "key:", "Ana\u200b"):
        with pytest.raises(ValueError, match=r"fingerprint|name"):
            ControlAllowance.parse(bad)
