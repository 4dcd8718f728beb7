"""Admission (docs/design.md §4.3): SPAKE2 + X25519 handshake, grant, roster, re-key, decoy.

Every test drives the real state machines against each other with no relay in between; the
"relay" here is the test code itself, which is exactly what a hostile relay could do: read,
reorder, swap and re-sign anything it forwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.crypto import (
    MAX_PAIR_PLAINTEXT,
    BadCertificate,
    BadHandshake,
    BadSignature,
    ChallengeValues,
    CryptoError,
    EpochUpdate,
    JoinerAdmission,
    JoinerState,
    KnockValues,
    LeaderAdmission,
    LeaderState,
    Malformed,
    Membership,
    OpenFailed,
    Replayed,
    WrongPassword,
    decoy_challenge,
    next_epoch_secret,
    public_key_bytes,
    security_code,
    sign_certificate,
    verify_certificate,
    verify_roster,
)
from core.crypto.admission_common import (
    admission_transcript,
    challenge_signed_bytes,
    derive_pair_keys,
    leader_confirmation,
    respond_to_knock,
    spake_password,
)
from core.crypto.decoy import DECOY_SECRET_SIZE, decoy_leader_key
from core.crypto.primitives import transcript_hash
from core.errors import ErrorCode, LocalProtocolError
from core.protocol.pair import (
    MAX_MEMBERS,
    NAME_MAX_BYTES,
    AdmissionGrant,
    MemberCertificate,
    ReKey,
    Roster,
    SignedCertificate,
    Standing,
)
from core.protocol.wire import to_bytes

SID = "123456789"
DECOY_SECRET = secrets.token_bytes(DECOY_SECRET_SIZE)
OTHER_SID = "987654321"
ORGANIZER_PEER = 1
JOINER_PEER = 7


def expect(exc_type: type[Exception], call: Callable[[], Any]) -> Exception:
    """Run ``call`` and require exactly ``exc_type`` (not a sibling or a parent class)."""
    with pytest.raises(exc_type) as info:
        call()
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    return info.value


def knock_of(joiner: JoinerAdmission, name: str = "Ada", peer_id: int = JOINER_PEER) -> KnockValues:
    """What the relay forwards to the leader for a JOIN (values copied unchanged)."""
    return KnockValues(peer_id=peer_id, name=name, **dataclasses.asdict(joiner.join_values))


@dataclasses.dataclass
class Organizer:
    """The leader's per-session state: LPK, its own member key, its own signed certificate."""

    leader_key: Ed25519PrivateKey = dataclasses.field(default_factory=Ed25519PrivateKey.generate)
    member_key: Ed25519PrivateKey = dataclasses.field(default_factory=Ed25519PrivateKey.generate)
    session_id: str = SID

    @property
    def lpk(self) -> bytes:
        return public_key_bytes(self.leader_key)

    def own_certificate(self) -> SignedCertificate:
        cert = MemberCertificate(
            session_id=self.session_id,
            peer_id=ORGANIZER_PEER,
            name="Organizer",
            member_key=public_key_bytes(self.member_key),
            standing=Standing.ORGANIZER,
        )
        return sign_certificate(cert, self.leader_key)

    def roster_with(self, *admissions: LeaderAdmission) -> Roster:
        joiners = [sign_certificate(a.member_certificate(), self.leader_key) for a in admissions]
        return (self.own_certificate(), *joiners)


@dataclasses.dataclass
class Admitted:
    organizer: Organizer
    leader: LeaderAdmission
    joiner: JoinerAdmission
    membership: Membership
    epoch_secret: bytes


def admit(
    leader_pw: str = "correct horse",
    joiner_pw: str = "correct horse",
    *,
    organizer: Organizer | None = None,
    name: str = "Ada",
    peer_id: int = JOINER_PEER,
) -> Admitted:
    """Run a whole admission between a real leader and a real joiner."""
    organizer = organizer or Organizer()
    joiner = JoinerAdmission(SID, name, joiner_pw)
    leader = LeaderAdmission(SID, leader_pw, organizer.leader_key, knock_of(joiner, name, peer_id))
    mac = joiner.on_challenge(leader.challenge)
    leader.check_confirmation(mac)
    secret = next_epoch_secret()
    sealed = leader.grant(2, secret, organizer.roster_with(leader))
    membership = joiner.on_grant(sealed)
    return Admitted(organizer, leader, joiner, membership, secret)


# ------------------------------------------------------------------------------------------
# The happy paths


def test_right_password_admits_with_shared_keys_secret_roster_and_code() -> None:
    run = admit()
    m = run.membership
    assert run.leader.state is LeaderState.GRANTED
    assert run.joiner.state is JoinerState.ADMITTED
    assert m.epoch == 2
    assert m.epoch_secret == run.epoch_secret
    assert m.peer_id == JOINER_PEER
    assert m.leader_public_key == run.organizer.lpk
    assert m.security_code == security_code(run.organizer.lpk)
    assert set(m.roster) == {ORGANIZER_PEER, JOINER_PEER}
    assert m.roster[JOINER_PEER].member_key == public_key_bytes(m.member_private_key)
    assert m.roster[ORGANIZER_PEER].standing is Standing.ORGANIZER
    assert m.member_keys()[ORGANIZER_PEER] == public_key_bytes(run.organizer.member_key)
    # Both ends hold the same pair keys, each direction working and separate.
    assert run.joiner.pair.open(run.leader.pair.seal(b"to member")) == b"to member"
    assert run.leader.pair.open(run.joiner.pair.seal(b"to leader")) == b"to leader"


def test_passwordless_session_admits() -> None:
    run = admit("", "")
    assert run.membership.epoch_secret == run.epoch_secret
    assert run.membership.security_code == security_code(run.organizer.lpk)


def test_password_is_normalised_so_composed_and_decomposed_forms_match() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert composed != decomposed
    admit(composed, decomposed)


def test_password_is_bound_to_the_session_id() -> None:
    assert spake_password(SID, "pw") != spake_password(OTHER_SID, "pw")
    assert spake_password(SID, "") == SID.encode() + b"\x00"


def test_member_key_is_fresh_per_join() -> None:
    a = JoinerAdmission(SID, "Ada", "pw")
    b = JoinerAdmission(SID, "Ada", "pw")
    assert a.member_public_key != b.member_public_key
    assert a.join_values.ephemeral_key != b.join_values.ephemeral_key


# ------------------------------------------------------------------------------------------
# Wrong passwords: both sides must fail


def rogue_grant(
    password: str, leader_key: Ed25519PrivateKey, joiner: JoinerAdmission
) -> tuple[ChallengeValues, bytes]:
    """A leader that skips the confirmation check and grants anyway (to test the joiner alone).

    Built from the same building blocks LeaderAdmission uses; returns its challenge and a grant
    sealed under the keys *it* derived.
    """
    response = respond_to_knock(SID, password, leader_key, knock_of(joiner))
    cert = MemberCertificate(
        SID, JOINER_PEER, "Ada", joiner.member_public_key, Standing.PARTICIPANT
    )
    organizer = Organizer(leader_key=leader_key)
    grant = AdmissionGrant(
        leader_confirmation=leader_confirmation(response.keys, response.transcript),
        epoch=2,
        epoch_secret=next_epoch_secret(),
        roster=(organizer.own_certificate(), sign_certificate(cert, leader_key)),
    )
    sealed = response.keys.leader_channel(SID, JOINER_PEER).seal(to_bytes(grant))
    return response.challenge, sealed


@pytest.mark.parametrize(
    ("leader_password", "joiner_password"),
    [("correct horse", "correct horsE"), ("", "guess"), ("secret", ""), ("pw", "pw ")],
)
def test_wrong_password_fails_on_the_leader_side(
    leader_password: str, joiner_password: str
) -> None:
    organizer = Organizer()
    joiner = JoinerAdmission(SID, "Ada", joiner_password)
    leader = LeaderAdmission(SID, leader_password, organizer.leader_key, knock_of(joiner))
    mac = joiner.on_challenge(leader.challenge)  # the signature is fine: T is public
    assert joiner.state is JoinerState.CONFIRMING
    expect(WrongPassword, lambda: leader.check_confirmation(mac))
    assert leader.state is LeaderState.FAILED
    # It stays failed: no second guess against the same SPAKE2 run, and no grant.
    expect(LocalProtocolError, lambda: leader.check_confirmation(mac))
    expect(LocalProtocolError, lambda: leader.grant(2, next_epoch_secret(), ()))
    assert leader.state is LeaderState.FAILED


@pytest.mark.parametrize(
    ("leader_password", "joiner_password"),
    [("correct horse", "correct horsE"), ("", "guess"), ("secret", "")],
)
def test_wrong_password_fails_on_the_joiner_side(
    leader_password: str, joiner_password: str
) -> None:
    joiner = JoinerAdmission(SID, "Ada", joiner_password)
    challenge, sealed = rogue_grant(leader_password, Ed25519PrivateKey.generate(), joiner)
    joiner.on_challenge(challenge)
    expect(WrongPassword, lambda: joiner.on_grant(sealed))
    assert joiner.state is JoinerState.FAILED


def test_rogue_grant_helper_is_accepted_with_the_right_password() -> None:
    """Control for the test above: the same rogue leader *with* the password is accepted."""
    joiner = JoinerAdmission(SID, "Ada", "pw")
    challenge, sealed = rogue_grant("pw", Ed25519PrivateKey.generate(), joiner)
    joiner.on_challenge(challenge)
    assert joiner.on_grant(sealed).peer_id == JOINER_PEER


# ------------------------------------------------------------------------------------------
# A man in the middle


def test_mitm_who_resigns_with_his_own_key_shows_a_different_security_code() -> None:
    real = Organizer()
    mitm = Organizer()  # the relay, playing leader with its own LPK, in a password-less session
    joiner = JoinerAdmission(SID, "Ada", "")
    leader = LeaderAdmission(SID, "", mitm.leader_key, knock_of(joiner))
    leader.check_confirmation(joiner.on_challenge(leader.challenge))
    membership = joiner.on_grant(leader.grant(2, next_epoch_secret(), mitm.roster_with(leader)))
    assert membership.security_code == security_code(mitm.lpk)
    assert membership.security_code != security_code(real.lpk)


def test_mitm_without_the_password_cannot_complete_even_by_resigning() -> None:
    mitm = Organizer()
    joiner = JoinerAdmission(SID, "Ada", "the real password")
    leader = LeaderAdmission(SID, "a guess", mitm.leader_key, knock_of(joiner))
    expect(WrongPassword, lambda: leader.check_confirmation(joiner.on_challenge(leader.challenge)))


def _other_join() -> KnockValues:
    return knock_of(JoinerAdmission(SID, "Eve", "x"))


CHALLENGE_TAMPERS: dict[str, Callable[[ChallengeValues], ChallengeValues]] = {
    "leader_key swapped": lambda c: dataclasses.replace(
        c, leader_key=public_key_bytes(Ed25519PrivateKey.generate())
    ),
    "peer_id changed": lambda c: dataclasses.replace(c, peer_id=c.peer_id + 1),
    "ephemeral_key swapped": lambda c: dataclasses.replace(
        c, ephemeral_key=public_key_bytes_x25519()
    ),
    "spake_message swapped": lambda c: dataclasses.replace(
        c,
        spake_message=LeaderAdmission(
            SID, "pw", Ed25519PrivateKey.generate(), _other_join()
        ).challenge.spake_message,
    ),
    "signature flipped": lambda c: dataclasses.replace(
        c, signature=bytes([c.signature[0] ^ 1]) + c.signature[1:]
    ),
}


def public_key_bytes_x25519() -> bytes:
    return X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.mark.parametrize("tamper", sorted(CHALLENGE_TAMPERS))
def test_any_challenge_field_altered_without_resigning_fails_the_signature(tamper: str) -> None:
    joiner = JoinerAdmission(SID, "Ada", "pw")
    leader = LeaderAdmission(SID, "pw", Ed25519PrivateKey.generate(), knock_of(joiner))
    forged = CHALLENGE_TAMPERS[tamper](leader.challenge)
    expect(BadSignature, lambda: joiner.on_challenge(forged))
    assert joiner.state is JoinerState.FAILED
    expect(LocalProtocolError, lambda: joiner.on_challenge(leader.challenge))


KNOCK_TAMPERS: dict[str, Callable[[KnockValues], KnockValues]] = {
    "name changed": lambda k: dataclasses.replace(k, name="Mallory"),
    "member_key swapped": lambda k: dataclasses.replace(k, member_key=_other_join().member_key),
    "ephemeral_key swapped": lambda k: dataclasses.replace(
        k, ephemeral_key=_other_join().ephemeral_key
    ),
    "spake_message swapped": lambda k: dataclasses.replace(
        k, spake_message=_other_join().spake_message
    ),
}


@pytest.mark.parametrize("tamper", sorted(KNOCK_TAMPERS))
def test_any_knock_field_altered_by_the_relay_fails_the_joiners_signature_check(
    tamper: str,
) -> None:
    joiner = JoinerAdmission(SID, "Ada", "pw")
    knock = KNOCK_TAMPERS[tamper](knock_of(joiner))
    leader = LeaderAdmission(SID, "pw", Ed25519PrivateKey.generate(), knock)
    expect(BadSignature, lambda: joiner.on_challenge(leader.challenge))


# ------------------------------------------------------------------------------------------
# Decoy answers for unknown session IDs


def test_decoy_passes_the_signature_check_and_then_fails_like_a_wrong_password() -> None:
    decoy_joiner = JoinerAdmission(SID, "Ada", "pw")
    decoy = decoy_challenge(SID, knock_of(decoy_joiner), DECOY_SECRET)
    wrong_joiner = JoinerAdmission(SID, "Ada", "pw")
    real = LeaderAdmission(SID, "other", Ed25519PrivateKey.generate(), knock_of(wrong_joiner))

    # Same shape as a real challenge, and the joiner accepts its signature.
    for f in dataclasses.fields(ChallengeValues):
        a, b = getattr(decoy, f.name), getattr(real.challenge, f.name)
        assert type(a) is type(b)
        assert not isinstance(a, bytes) or len(a) == len(b)
    mac_decoy = decoy_joiner.on_challenge(decoy)
    mac_wrong = wrong_joiner.on_challenge(real.challenge)
    assert decoy_joiner.state is wrong_joiner.state is JoinerState.CONFIRMING
    assert len(mac_decoy) == len(mac_wrong) == 32

    # The real leader refuses the wrong password's MAC; the relay refuses the decoy's. Whatever
    # grant then reaches either joiner (here: a grant sealed for a different handshake) fails
    # with the same error.
    expect(WrongPassword, lambda: real.check_confirmation(mac_wrong))
    _, stray_grant = rogue_grant(
        "pw", Ed25519PrivateKey.generate(), JoinerAdmission(SID, "A", "pw")
    )
    expect(WrongPassword, lambda: decoy_joiner.on_grant(stray_grant))
    expect(WrongPassword, lambda: wrong_joiner.on_grant(stray_grant))


def test_decoy_leader_key_is_stable_per_session_id_and_unrelated_between_ids() -> None:
    # A live session answers every knock with one leader key; so must the decoy for one ID,
    # or two probes tell them apart. Other IDs, and other relays' secrets, get other keys.
    first = decoy_challenge(SID, knock_of(JoinerAdmission(SID, "Ada", "")), DECOY_SECRET)
    again = decoy_challenge(SID, knock_of(JoinerAdmission(SID, "Eve", "x")), DECOY_SECRET)
    assert first.leader_key == again.leader_key
    assert first.ephemeral_key != again.ephemeral_key
    assert first.spake_message != again.spake_message
    other_id = "918273645"
    other = decoy_challenge(other_id, knock_of(JoinerAdmission(other_id, "Ada", "")), DECOY_SECRET)
    assert other.leader_key != first.leader_key
    other_secret = secrets.token_bytes(DECOY_SECRET_SIZE)
    assert public_key_bytes(decoy_leader_key(other_secret, SID)) != first.leader_key
    assert public_key_bytes(decoy_leader_key(DECOY_SECRET, SID)) == first.leader_key
    with pytest.raises(ValueError, match="32 bytes"):
        decoy_leader_key(DECOY_SECRET[:16], SID)


def test_decoy_refuses_malformed_knocks_exactly_like_a_leader() -> None:
    knock = dataclasses.replace(knock_of(JoinerAdmission(SID, "Ada", "")), ephemeral_key=bytes(32))
    leader_error = expect(
        BadHandshake, lambda: LeaderAdmission(SID, "", Ed25519PrivateKey.generate(), knock)
    )
    decoy_error = expect(BadHandshake, lambda: decoy_challenge(SID, knock, DECOY_SECRET))
    assert str(leader_error) == str(decoy_error)


# ------------------------------------------------------------------------------------------
# Malformed handshake values


@pytest.mark.parametrize(
    "change",
    [
        {"ephemeral_key": bytes(32)},  # all-zero X25519 point: low order
        {"ephemeral_key": b"\x01" + bytes(31)},  # another low-order point
        {"ephemeral_key": b"short"},
        {"spake_message": b"A" + bytes(31)},
        {"spake_message": b"B" + bytes(32)},  # our own side: a reflection attempt
        {"spake_message": b"Z" + bytes(32)},
        {"member_key": bytes(31)},
        {"name": ""},
        {"name": "bell\x07"},
        {"peer_id": 0},
    ],
)
def test_leader_refuses_malformed_knocks(change: dict[str, Any]) -> None:
    knock = dataclasses.replace(knock_of(JoinerAdmission(SID, "Ada", "")), **change)
    expect(BadHandshake, lambda: LeaderAdmission(SID, "", Ed25519PrivateKey.generate(), knock))


def test_joiner_refuses_a_low_order_leader_key_even_when_signed() -> None:
    """A relay playing leader signs a challenge with a low-order e_L: signature fine, DH not."""
    joiner = JoinerAdmission(SID, "Ada", "")
    mitm_key = Ed25519PrivateKey.generate()
    honest = LeaderAdmission(SID, "", mitm_key, knock_of(joiner)).challenge
    unsigned = dataclasses.replace(honest, ephemeral_key=bytes(32))
    transcript = admission_transcript(SID, knock_of(joiner), unsigned)
    forged = dataclasses.replace(
        unsigned, signature=mitm_key.sign(challenge_signed_bytes(transcript))
    )
    expect(BadHandshake, lambda: joiner.on_challenge(forged))


@pytest.mark.parametrize("field", ["ephemeral_key", "spake_message", "leader_key", "signature"])
def test_joiner_refuses_wrongly_sized_challenge_values(field: str) -> None:
    joiner = JoinerAdmission(SID, "Ada", "")
    challenge = LeaderAdmission(SID, "", Ed25519PrivateKey.generate(), knock_of(joiner)).challenge
    forged = dataclasses.replace(challenge, **{field: getattr(challenge, field)[:-1]})
    expect(BadHandshake, lambda: joiner.on_challenge(forged))


@pytest.mark.parametrize(
    ("args", "what"),
    [((SID, "", "pw"), "name"), (("12345678", "Ada", "pw"), "session"), ((SID, "A\n", ""), "name")],
)
def test_joiner_refuses_its_own_bad_inputs_locally(args: tuple[str, str, str], what: str) -> None:
    error = expect(LocalProtocolError, lambda: JoinerAdmission(*args))
    assert what in str(error)


# ------------------------------------------------------------------------------------------
# The grant and the roster as the joiner checks them


def grant_with(
    roster_for: Callable[[Organizer, JoinerAdmission], Roster],
    *,
    confirmation: bytes | None = None,
) -> tuple[JoinerAdmission, bytes]:
    """A grant from a leader that knows the password but sends a roster of the test's choosing."""
    organizer = Organizer()
    joiner = JoinerAdmission(SID, "Ada", "pw")
    response = respond_to_knock(SID, "pw", organizer.leader_key, knock_of(joiner))
    joiner.on_challenge(response.challenge)
    grant = AdmissionGrant(
        leader_confirmation=confirmation or leader_confirmation(response.keys, response.transcript),
        epoch=2,
        epoch_secret=next_epoch_secret(),
        roster=roster_for(organizer, joiner),
    )
    return joiner, response.keys.leader_channel(SID, JOINER_PEER).seal(to_bytes(grant))


def _cert(org: Organizer, joiner: JoinerAdmission, **change: Any) -> SignedCertificate:
    values: dict[str, Any] = {
        "session_id": SID,
        "peer_id": JOINER_PEER,
        "name": "Ada",
        "member_key": joiner.member_public_key,
        "standing": Standing.PARTICIPANT,
    }
    values.update(change)
    return sign_certificate(MemberCertificate(**values), org.leader_key)


ROSTERS: dict[str, Callable[[Organizer, JoinerAdmission], Roster]] = {
    "missing our certificate": lambda o, j: (o.own_certificate(),),
    "our peer id differs": lambda o, j: (o.own_certificate(), _cert(o, j, peer_id=8)),
    "our name differs": lambda o, j: (o.own_certificate(), _cert(o, j, name="Eve")),
    "our member key differs": lambda o, j: (
        o.own_certificate(),
        _cert(o, j, member_key=public_key_bytes(Ed25519PrivateKey.generate())),
    ),
    "signed by another key": lambda o, j: (
        o.own_certificate(),
        sign_certificate(_cert(o, j).certificate, Ed25519PrivateKey.generate()),
    ),
    "no organizer": lambda o, j: (_cert(o, j),),
    "two organizers": lambda o, j: (
        o.own_certificate(),
        _cert(o, j, standing=Standing.ORGANIZER),
    ),
    "certificate for another session": lambda o, j: (
        o.own_certificate(),
        _cert(o, j, session_id=OTHER_SID),
    ),
}


@pytest.mark.parametrize("case", sorted(ROSTERS))
def test_joiner_refuses_a_grant_whose_roster_does_not_check_out(case: str) -> None:
    joiner, sealed = grant_with(ROSTERS[case])
    expect(BadCertificate, lambda: joiner.on_grant(sealed))
    assert joiner.state is JoinerState.FAILED


def test_joiner_refuses_a_grant_with_a_wrong_leader_confirmation() -> None:
    joiner, sealed = grant_with(
        lambda o, j: (o.own_certificate(), _cert(o, j)), confirmation=b"\x00" * 32
    )
    expect(BadHandshake, lambda: joiner.on_grant(sealed))


def test_control_grant_with_a_good_roster_is_accepted() -> None:
    joiner, sealed = grant_with(lambda o, j: (o.own_certificate(), _cert(o, j)))
    assert joiner.on_grant(sealed).roster[JOINER_PEER].name == "Ada"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1] + bytes([s[-1] ^ 1]),  # tag
        lambda s: s[:12] + bytes([s[12] ^ 1]) + s[13:],  # ciphertext
        lambda s: (2).to_bytes(8, "big") + s[8:],  # counter (nonce)
    ],
)
def test_a_grant_altered_in_transit_reads_as_a_wrong_password(
    mangle: Callable[[bytes], bytes],
) -> None:
    organizer = Organizer()
    joiner = JoinerAdmission(SID, "Ada", "pw")
    leader = LeaderAdmission(SID, "pw", organizer.leader_key, knock_of(joiner))
    leader.check_confirmation(joiner.on_challenge(leader.challenge))
    sealed = leader.grant(2, next_epoch_secret(), organizer.roster_with(leader))
    expect(WrongPassword, lambda: joiner.on_grant(mangle(sealed)))


def test_leader_refuses_to_grant_a_roster_without_the_joiner() -> None:
    organizer = Organizer()
    joiner = JoinerAdmission(SID, "Ada", "pw")
    leader = LeaderAdmission(SID, "pw", organizer.leader_key, knock_of(joiner))
    leader.check_confirmation(joiner.on_challenge(leader.challenge))
    error = expect(
        LocalProtocolError,
        lambda: leader.grant(2, next_epoch_secret(), (organizer.own_certificate(),)),
    )
    assert isinstance(error, LocalProtocolError)
    assert error.code is ErrorCode.BAD_FIELD
    assert leader.state is LeaderState.CONFIRMED  # a local bug does not burn the admission


def test_largest_possible_grant_fits_the_pair_channel() -> None:
    organizer = Organizer()
    joiner = JoinerAdmission(SID, "A" * NAME_MAX_BYTES, "pw")
    knock = knock_of(joiner, name="A" * NAME_MAX_BYTES, peer_id=0xFFFF_FFFF)
    leader = LeaderAdmission(SID, "pw", organizer.leader_key, knock)
    leader.check_confirmation(joiner.on_challenge(leader.challenge))
    others = tuple(
        sign_certificate(
            MemberCertificate(
                SID,
                1000 + i,
                "é" * (NAME_MAX_BYTES // 2),
                public_key_bytes(Ed25519PrivateKey.generate()),
                Standing.PARTICIPANT,
            ),
            organizer.leader_key,
        )
        for i in range(MAX_MEMBERS - 2)
    )
    roster = (
        organizer.own_certificate(),
        *others,
        sign_certificate(leader.member_certificate(), organizer.leader_key),
    )
    plaintext_size = len(to_bytes(AdmissionGrant(bytes(32), 2, bytes(32), roster)))
    assert plaintext_size <= MAX_PAIR_PLAINTEXT
    membership = joiner.on_grant(leader.grant(2, next_epoch_secret(), roster))
    assert len(membership.roster) == MAX_MEMBERS


# ------------------------------------------------------------------------------------------
# Re-keys over the pair channel


def test_rekey_reaches_the_member_verified_and_cannot_be_replayed() -> None:
    run = admit()
    secret = next_epoch_secret()
    sealed = run.leader.seal_rekey(ReKey(3, secret, run.organizer.roster_with(run.leader)))
    update = run.joiner.on_rekey(sealed)
    assert isinstance(update, EpochUpdate)
    assert (update.epoch, update.epoch_secret) == (3, secret)
    assert update.member_keys()[JOINER_PEER] == run.joiner.member_public_key
    expect(Replayed, lambda: run.joiner.on_rekey(sealed))
    # A forged re-key (with a counter ahead) is dropped without moving the window; the
    # membership carries on and the leader's next re-key still arrives.
    forged = (1000).to_bytes(8, "big") + sealed[8:]
    expect(OpenFailed, lambda: run.joiner.on_rekey(forged))
    assert run.joiner.state is JoinerState.ADMITTED
    roster = run.organizer.roster_with(run.leader)
    assert run.joiner.on_rekey(run.leader.seal_rekey(ReKey(4, secret, roster))).epoch == 4


def test_rekey_must_advance_the_epoch() -> None:
    run = admit()
    roster = run.organizer.roster_with(run.leader)
    expect(
        BadHandshake,
        lambda: run.joiner.on_rekey(run.leader.seal_rekey(ReKey(2, next_epoch_secret(), roster))),
    )
    assert (
        run.joiner.on_rekey(run.leader.seal_rekey(ReKey(5, next_epoch_secret(), roster))).epoch == 5
    )


def test_rekey_roster_is_verified_again() -> None:
    run = admit()
    impostor = Organizer()
    bad_roster = (
        impostor.own_certificate(),
        sign_certificate(run.leader.member_certificate(), impostor.leader_key),
    )
    sealed = run.leader.seal_rekey(ReKey(3, next_epoch_secret(), bad_roster))
    expect(BadCertificate, lambda: run.joiner.on_rekey(sealed))


def test_pair_channel_refuses_reflection_and_garbage() -> None:
    run = admit()
    own = run.leader.pair.seal(b"hello")
    expect(OpenFailed, lambda: run.leader.pair.open(own))  # our own message bounced back
    expect(Malformed, lambda: run.joiner.pair.open(b"\x00" * 10))
    expect(Malformed, lambda: run.joiner.pair.open(b"\x00" * (MAX_PAIR_PLAINTEXT + 100)))
    expect(LocalProtocolError, lambda: run.leader.pair.seal(b"x" * (MAX_PAIR_PLAINTEXT + 1)))


def test_pair_channel_is_bound_to_the_peer_id() -> None:
    """Two members whose pair keys were (hypothetically) equal still cannot swap messages."""
    run = admit()
    response_keys = respond_to_knock(
        SID, "", Ed25519PrivateKey.generate(), knock_of(JoinerAdmission(SID, "B", ""))
    ).keys
    to_7 = response_keys.leader_channel(SID, 7).seal(b"x")
    expect(OpenFailed, lambda: response_keys.member_channel(SID, 8).open(to_7))
    assert response_keys.member_channel(SID, 7).open(to_7) == b"x"
    assert run.joiner.state is JoinerState.ADMITTED


# ------------------------------------------------------------------------------------------
# Out-of-order calls


def test_leader_out_of_order_calls_raise_local_protocol_error() -> None:
    organizer = Organizer()
    joiner = JoinerAdmission(SID, "Ada", "pw")
    leader = LeaderAdmission(SID, "pw", organizer.leader_key, knock_of(joiner))
    for call in (
        lambda: leader.grant(2, next_epoch_secret(), organizer.roster_with(leader)),
        lambda: leader.pair,
        lambda: leader.seal_rekey(ReKey(3, next_epoch_secret(), organizer.roster_with(leader))),
    ):
        error = expect(LocalProtocolError, call)
        assert isinstance(error, LocalProtocolError)
        assert error.code is ErrorCode.UNEXPECTED_MESSAGE
    mac = joiner.on_challenge(leader.challenge)
    leader.check_confirmation(mac)
    expect(LocalProtocolError, lambda: leader.check_confirmation(mac))
    leader.grant(2, next_epoch_secret(), organizer.roster_with(leader))
    expect(LocalProtocolError, lambda: leader.grant(2, next_epoch_secret(), ()))


def test_joiner_out_of_order_calls_raise_local_protocol_error() -> None:
    joiner = JoinerAdmission(SID, "Ada", "pw")
    expect(LocalProtocolError, lambda: joiner.on_grant(b"\x00" * 64))
    expect(LocalProtocolError, lambda: joiner.on_rekey(b"\x00" * 64))
    expect(LocalProtocolError, lambda: joiner.pair)
    leader = LeaderAdmission(SID, "pw", Ed25519PrivateKey.generate(), knock_of(joiner))
    joiner.on_challenge(leader.challenge)
    expect(LocalProtocolError, lambda: joiner.on_challenge(leader.challenge))
    expect(LocalProtocolError, lambda: joiner.on_rekey(b"\x00" * 64))


def test_a_failed_joiner_stays_failed() -> None:
    joiner = JoinerAdmission(SID, "Ada", "pw")
    challenge, sealed = rogue_grant("other", Ed25519PrivateKey.generate(), joiner)
    joiner.on_challenge(challenge)
    expect(WrongPassword, lambda: joiner.on_grant(sealed))
    expect(LocalProtocolError, lambda: joiner.on_grant(sealed))


# ------------------------------------------------------------------------------------------
# Secrets stay out of repr


def test_no_secret_in_any_repr() -> None:
    run = admit()
    secret = run.epoch_secret
    private_raw = run.membership.member_private_key.private_bytes_raw()
    grant = AdmissionGrant(bytes(32), 2, secret, run.organizer.roster_with(run.leader))
    rekey = ReKey(3, secret, ())
    update = EpochUpdate(3, secret, run.membership.roster)
    keys = respond_to_knock(SID, "pw", Ed25519PrivateKey.generate(), knock_of(run.joiner)).keys
    texts = [
        repr(run.membership),
        str(run.membership),
        repr(grant),
        repr(rekey),
        repr(update),
        repr(keys),
        repr(run.leader),
        repr(run.joiner),
        repr(run.leader.pair),
    ]
    assert "Membership(" in texts[0]
    assert run.membership.security_code in texts[0]
    for text in texts:
        for raw in (secret, private_raw, keys.leader_to_member, keys.joiner_confirm):
            assert raw.hex() not in text
            assert raw.hex().upper() not in text
            assert repr(raw) not in text
            assert str(list(raw)) not in text


# ------------------------------------------------------------------------------------------
# Certificates, codes, and the exact key schedule


def test_certificate_verification() -> None:
    org = Organizer()
    cert = MemberCertificate(SID, 5, "Bo", public_key_bytes(org.member_key), Standing.PARTICIPANT)
    signed = sign_certificate(cert, org.leader_key)
    assert verify_certificate(signed, org.lpk, SID) == cert
    expect(BadCertificate, lambda: verify_certificate(signed, org.lpk, OTHER_SID))
    expect(BadCertificate, lambda: verify_certificate(signed, Organizer().lpk, SID))
    renamed = dataclasses.replace(signed, certificate=dataclasses.replace(cert, name="Bob"))
    expect(BadCertificate, lambda: verify_certificate(renamed, org.lpk, SID))
    promoted = dataclasses.replace(
        signed, certificate=dataclasses.replace(cert, standing=Standing.ORGANIZER)
    )
    expect(BadCertificate, lambda: verify_certificate(promoted, org.lpk, SID))
    invalid = dataclasses.replace(signed, certificate=dataclasses.replace(cert, peer_id=0))
    expect(BadCertificate, lambda: verify_certificate(invalid, org.lpk, SID))


def test_roster_refuses_duplicates() -> None:
    org = Organizer()
    own = org.own_certificate()
    key = public_key_bytes(Ed25519PrivateKey.generate())

    def cert(peer: int, member_key: bytes) -> SignedCertificate:
        return sign_certificate(
            MemberCertificate(SID, peer, "X", member_key, Standing.PARTICIPANT), org.leader_key
        )

    assert set(verify_roster((own, cert(2, key)), org.lpk, SID)) == {1, 2}
    other_key = public_key_bytes(Ed25519PrivateKey.generate())
    expect(
        BadCertificate, lambda: verify_roster((own, cert(2, key), cert(2, other_key)), org.lpk, SID)
    )
    expect(BadCertificate, lambda: verify_roster((own, cert(2, key), cert(3, key)), org.lpk, SID))
    same_as_organizer = own.certificate.member_key
    expect(BadCertificate, lambda: verify_roster((own, cert(2, same_as_organizer)), org.lpk, SID))
    expect(BadCertificate, lambda: verify_roster((), org.lpk, SID))


def test_security_code_format_and_derivation() -> None:
    lpk = bytes(range(32))
    code = security_code(lpk)
    groups = code.split(" ")
    assert len(groups) == 8
    assert all(len(g) == 5 and g.isdigit() for g in groups)
    digest = hashlib.sha256(b"porthole/1 code" + lpk).digest()
    assert code.replace(" ", "") == str(int.from_bytes(digest, "big") % 10**40).zfill(40)
    assert security_code(bytes(32)) != code
    with pytest.raises(ValueError, match="32 bytes"):
        security_code(b"short")


def test_transcript_hash_is_length_prefixed() -> None:
    assert transcript_hash(b"ab", b"c") != transcript_hash(b"a", b"bc")
    assert transcript_hash(b"", b"x") != transcript_hash(b"x", b"")
    assert transcript_hash(b"a") != transcript_hash(b"a", b"")


def test_key_schedule_matches_the_documented_construction() -> None:
    """Recompute T, the signature input and the leader confirmation from the documented recipe,
    independently of the module's helpers, to pin the wire-visible construction."""
    org = Organizer()
    joiner = JoinerAdmission(SID, "Ada", "pw")
    knock = knock_of(joiner)
    leader = LeaderAdmission(SID, "pw", org.leader_key, knock)
    c = leader.challenge

    def lp(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data

    fields = [
        SID.encode(),
        JOINER_PEER.to_bytes(4, "big"),
        b"Ada",
        knock.ephemeral_key,
        knock.spake_message,
        knock.member_key,
        c.ephemeral_key,
        c.spake_message,
        c.leader_key,
    ]
    t = hashlib.sha256(lp(b"porthole/1 transcript") + b"".join(lp(f) for f in fields)).digest()
    Ed25519PublicKey.from_public_bytes(org.lpk).verify(c.signature, b"porthole/1 challenge" + t)
    assert c.leader_key == org.lpk

    mac = joiner.on_challenge(c)
    leader.check_confirmation(mac)
    membership = joiner.on_grant(leader.grant(2, next_epoch_secret(), org.roster_with(leader)))
    assert membership.epoch == 2
    # Pair keys = HKDF(X25519 ‖ K_spake2, salt=T, info="porthole/1 pair", 128) split in four
    # (the ephemeral inputs are gone by now, so pin the split on a known input).
    okm = HKDF(hashes.SHA256(), 128, salt=t, info=b"porthole/1 pair").derive(b"\x01" * 64)
    keys = derive_pair_keys(b"\x01" * 32, b"\x01" * 32, t)
    assert keys.joiner_confirm + keys.leader_confirm == okm[:64]
    assert keys.leader_to_member + keys.member_to_leader == okm[64:]


def test_every_failure_is_a_crypto_error_with_a_stable_reason() -> None:
    for cls, reason in [
        (WrongPassword, "wrong_password"),
        (BadSignature, "bad_signature"),
        (BadCertificate, "bad_certificate"),
        (BadHandshake, "bad_handshake"),
    ]:
        error = cls("boom")
        assert isinstance(error, CryptoError)
        assert error.reason == reason
        assert str(error) == f"boom [{reason}]"
