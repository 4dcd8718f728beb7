"""What both sides of an admission compute the same way (docs/design.md §4.3 steps 2–4).

The handshake, with the relay-assigned peer id ``p`` and the leader's per-session key LPK::

    P → L  knock      p, name, e_P (X25519), A (SPAKE2 as side A), m_P (member Ed25519 key)
    L → P  challenge  p, e_L, B (SPAKE2 as side B), LPK, Sig_LPK("porthole/1 challenge" ‖ T)
    P → L  confirm    HMAC(k_confirm_joiner, "porthole/1 confirm joiner" ‖ T)
    L → P  grant      pair-sealed AdmissionGrant(
                          HMAC(k_confirm_leader, "porthole/1 confirm leader" ‖ T), e, S_e, roster)

    T = transcript_hash(sid, u32 p, name, e_P, A, m_P, e_L, B, LPK)
    (k_confirm_joiner, k_confirm_leader, k_leader→member, k_member→leader)
      = HKDF-SHA256(ikm = X25519(e_P, e_L) ‖ K_spake2, salt = T, info = "porthole/1 pair", 128)

Why these pieces:

* SPAKE2 makes the password an online-only secret: the relay sees A and B but a guess can only be
  tested by running a handshake with the leader, who rejects the confirmation (and the relay
  counts it). The password is bound to the session ID (``sid ‖ 0 ‖ password``), so a guess made
  against one session says nothing about another.
* X25519 ephemeral keys give the pair keys forward secrecy independent of the password, which may
  be empty: password-less sessions still get confidential pair channels against a passive relay.
* Sig_LPK(T) makes the leader key accountable for the whole transcript: if the relay swaps LPK it
  has to sign with its own key, and then everybody's security code differs.
* Everything in T is public, which is what lets the relay build a decoy answer for an unknown
  session that passes the joiner's signature check (:mod:`core.crypto.decoy`).

The value dataclasses use exactly the field names of the protocol messages, so
``Challenge(**dataclasses.asdict(values))`` and ``Join(session_id=…, name=…, **asdict(join))``
convert without glue (``Knock`` adds a relay-asserted ``origin`` that is not part of T).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.crypto.certs import public_key_bytes
from core.crypto.errors import BadHandshake, BadSignature
from core.crypto.pair_channel import Direction, PairChannel
from core.crypto.primitives import (
    hkdf_sha256,
    hmac_sha256,
    session_id_bytes,
    transcript_hash,
    u32,
)
from core.errors import ErrorCode, LocalProtocolError
from core.protocol.names import display_name_problem
from core.protocol.pair import KEY_SIZE, SIGNATURE_SIZE
from core.protocol.wire import U32

SPAKE2_ID_JOINER = b"porthole/1 joiner"
SPAKE2_ID_LEADER = b"porthole/1 leader"
#: A SPAKE2 message of the ``spake2`` package on Ed25519: one side byte + a 32-byte element.
SPAKE2_MESSAGE_SIZE = 33
X25519_KEY_SIZE = 32

_CHALLENGE_DOMAIN = b"porthole/1 challenge"
_PAIR_INFO = b"porthole/1 pair"
_CONFIRM_JOINER = b"porthole/1 confirm joiner"
_CONFIRM_LEADER = b"porthole/1 confirm leader"

_PEER_ID = U32(1)


@dataclass(frozen=True, slots=True)
class JoinValues:
    """The crypto part of the joiner's JOIN message (the relay adds nothing to these)."""

    ephemeral_key: bytes
    spake_message: bytes
    member_key: bytes


@dataclass(frozen=True, slots=True)
class KnockValues:
    """A JOIN as the leader receives it: the joiner's values plus the relay-assigned peer id."""

    peer_id: int
    name: str
    ephemeral_key: bytes
    spake_message: bytes
    member_key: bytes


@dataclass(frozen=True, slots=True)
class ChallengeValues:
    """The leader's answer to one knock (or the relay's decoy for an unknown session)."""

    peer_id: int
    ephemeral_key: bytes
    spake_message: bytes
    leader_key: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class PairKeys:
    """The four keys one admission derives; never printed."""

    joiner_confirm: bytes = field(repr=False)
    leader_confirm: bytes = field(repr=False)
    leader_to_member: bytes = field(repr=False)
    member_to_leader: bytes = field(repr=False)

    def leader_channel(self, session_id: str, peer_id: int) -> PairChannel:
        """The leader's end: seals leader→member, opens member→leader."""
        return PairChannel(
            session_id=session_id,
            peer_id=peer_id,
            sending=Direction.LEADER_TO_MEMBER,
            send_key=self.leader_to_member,
            receive_key=self.member_to_leader,
        )

    def member_channel(self, session_id: str, peer_id: int) -> PairChannel:
        """The member's end: seals member→leader, opens leader→member."""
        return PairChannel(
            session_id=session_id,
            peer_id=peer_id,
            sending=Direction.MEMBER_TO_LEADER,
            send_key=self.member_to_leader,
            receive_key=self.leader_to_member,
        )


def spake_password(session_id: str, password: str) -> bytes:
    """SPAKE2 input: ``sid ‖ 0x00 ‖ UTF-8(NFC(password))``.

    Binding the session ID means a password guessed (or reused) for one session is a different
    SPAKE2 password for any other. NFC because the same typed password can arrive composed on one
    OS and decomposed on another; without normalisation that is a baffling "wrong password".
    """
    try:
        encoded = unicodedata.normalize("NFC", password).encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError(ErrorCode.BAD_FIELD, "password is not valid text") from None
    return session_id_bytes(session_id) + b"\x00" + encoded


def new_spake(side: Literal["A", "B"], session_id: str, password: str) -> Any:
    """A fresh SPAKE2 side (``"A"`` the joiner, ``"B"`` the leader) with porthole's identities.

    The ``spake2`` package is imported here, when an admission starts, not with this module:
    it computes its group constants when imported (some 40 ms), which a client would otherwise
    pay before its first byte on the wire (bench/README.md, "bench.startup").
    """
    from spake2 import SPAKE2_A, SPAKE2_B

    kind = SPAKE2_A if side == "A" else SPAKE2_B
    return kind(spake_password(session_id, password), idA=SPAKE2_ID_JOINER, idB=SPAKE2_ID_LEADER)


def spake_finish(spake: Any, message: bytes) -> bytes:
    """Finish SPAKE2; any failure in the library (bad point, wrong side, reflection) is the
    peer's malformed message, never a crash."""
    try:
        key = spake.finish(message)
    except Exception:  # the spake2 package raises assorted types for bad input
        raise BadHandshake("invalid SPAKE2 message") from None
    if not isinstance(key, bytes) or len(key) != 32:
        raise BadHandshake("SPAKE2 produced no key")
    return key


def x25519_public(private: X25519PrivateKey) -> bytes:
    """Raw 32-byte X25519 public key."""
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def x25519_shared(private: X25519PrivateKey, peer_public: bytes) -> bytes:
    """X25519; a low-order peer key (all-zero result) is refused, not used as a key."""
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError:
        raise BadHandshake("ephemeral key is invalid or of low order") from None


def admission_transcript(session_id: str, knock: KnockValues, challenge: ChallengeValues) -> bytes:
    """T over everything exchanged up to the challenge (its signature excluded, obviously).

    The peer id is the challenge's, which the leader copies from the knock; a relay that tells
    the two sides different peer ids (or names, keys, messages) makes their T differ.
    """
    return transcript_hash(
        session_id_bytes(session_id),
        u32(challenge.peer_id),
        knock.name.encode("utf-8"),
        knock.ephemeral_key,
        knock.spake_message,
        knock.member_key,
        challenge.ephemeral_key,
        challenge.spake_message,
        challenge.leader_key,
    )


def challenge_signed_bytes(transcript: bytes) -> bytes:
    """What LPK signs: domain-separated from certificates, which LPK also signs."""
    return _CHALLENGE_DOMAIN + transcript


def verify_challenge_signature(challenge: ChallengeValues, transcript: bytes) -> None:
    """Raise :class:`BadSignature` unless ``challenge.leader_key`` signed ``transcript``."""
    try:
        Ed25519PublicKey.from_public_bytes(challenge.leader_key).verify(
            challenge.signature, challenge_signed_bytes(transcript)
        )
    except (InvalidSignature, ValueError):
        raise BadSignature("the leader's signature over the handshake does not verify") from None


def derive_pair_keys(dh_shared: bytes, spake_key: bytes, transcript: bytes) -> PairKeys:
    """HKDF(X25519 ‖ K_spake2, salt = T, info = "porthole/1 pair") split into four keys."""
    okm = hkdf_sha256(dh_shared + spake_key, salt=transcript, info=_PAIR_INFO, length=128)
    return PairKeys(
        joiner_confirm=okm[0:32],
        leader_confirm=okm[32:64],
        leader_to_member=okm[64:96],
        member_to_leader=okm[96:128],
    )


def joiner_confirmation(keys: PairKeys, transcript: bytes) -> bytes:
    """The joiner's key confirmation: proves it derived the same keys (knew the password)."""
    return hmac_sha256(keys.joiner_confirm, _CONFIRM_JOINER + transcript)


def leader_confirmation(keys: PairKeys, transcript: bytes) -> bytes:
    """The leader's key confirmation, carried inside the sealed grant."""
    return hmac_sha256(keys.leader_confirm, _CONFIRM_LEADER + transcript)


def check_knock(session_id: str, knock: KnockValues) -> None:
    """Refuse a knock whose values cannot be a real joiner's (the peer's fault: BadHandshake).

    The protocol decoder already checks sizes; this guards the crypto against values built by
    other means, and is shared by the leader and the decoy so both refuse exactly the same knocks.
    """
    session_id_bytes(session_id)
    problem = _PEER_ID.check(knock.peer_id)
    if problem is None and (name_trouble := display_name_problem(knock.name)) is not None:
        problem = f"name {name_trouble}"
    if problem is None:
        problem = _sizes(
            ephemeral_key=(knock.ephemeral_key, X25519_KEY_SIZE),
            spake_message=(knock.spake_message, SPAKE2_MESSAGE_SIZE),
            member_key=(knock.member_key, KEY_SIZE),
        )
    if problem is not None:
        raise BadHandshake(f"knock: {problem}")


def check_challenge(challenge: ChallengeValues) -> None:
    """Refuse a challenge with impossible values before any crypto touches them."""
    problem = _PEER_ID.check(challenge.peer_id)
    if problem is None:
        problem = _sizes(
            ephemeral_key=(challenge.ephemeral_key, X25519_KEY_SIZE),
            spake_message=(challenge.spake_message, SPAKE2_MESSAGE_SIZE),
            leader_key=(challenge.leader_key, KEY_SIZE),
            signature=(challenge.signature, SIGNATURE_SIZE),
        )
    if problem is not None:
        raise BadHandshake(f"challenge: {problem}")


def _sizes(**values: tuple[bytes, int]) -> str | None:
    for name, (value, size) in values.items():
        if not isinstance(value, bytes) or len(value) != size:
            return f"{name} must be {size} bytes"
    return None


@dataclass(frozen=True, slots=True)
class LeaderResponse:
    """The leader's side of one handshake, computed in one go from the knock."""

    challenge: ChallengeValues
    transcript: bytes
    keys: PairKeys = field(repr=False)


def respond_to_knock(
    session_id: str, password: str, leader_key: Ed25519PrivateKey, knock: KnockValues
) -> LeaderResponse:
    """Everything the leader does on a knock: e_L, SPAKE2 side B, T, Sig_LPK(T), pair keys.

    One function for the real leader and the relay's decoy, so both validate the knock and spend
    the same work in the same order; the ephemeral X25519 and SPAKE2 secrets die with this frame.
    """
    check_knock(session_id, knock)
    ephemeral = X25519PrivateKey.generate()
    spake = new_spake("B", session_id, password)
    spake_message: bytes = spake.start()
    spake_key = spake_finish(spake, knock.spake_message)
    dh_shared = x25519_shared(ephemeral, knock.ephemeral_key)
    unsigned = ChallengeValues(
        peer_id=knock.peer_id,
        ephemeral_key=x25519_public(ephemeral),
        spake_message=spake_message,
        leader_key=public_key_bytes(leader_key),
        signature=bytes(SIGNATURE_SIZE),
    )
    transcript = admission_transcript(session_id, knock, unsigned)
    challenge = ChallengeValues(
        peer_id=unsigned.peer_id,
        ephemeral_key=unsigned.ephemeral_key,
        spake_message=unsigned.spake_message,
        leader_key=unsigned.leader_key,
        signature=leader_key.sign(challenge_signed_bytes(transcript)),
    )
    keys = derive_pair_keys(dh_shared, spake_key, transcript)
    return LeaderResponse(challenge=challenge, transcript=transcript, keys=keys)


__all__ = (
    "SPAKE2_ID_JOINER",
    "SPAKE2_ID_LEADER",
    "SPAKE2_MESSAGE_SIZE",
    "X25519_KEY_SIZE",
    "ChallengeValues",
    "JoinValues",
    "KnockValues",
    "LeaderResponse",
    "PairKeys",
    "admission_transcript",
    "check_challenge",
    "check_knock",
    "derive_pair_keys",
    "joiner_confirmation",
    "leader_confirmation",
    "new_spake",
    "respond_to_knock",
    "spake_finish",
    "spake_password",
    "verify_challenge_signature",
    "x25519_public",
    "x25519_shared",
)
