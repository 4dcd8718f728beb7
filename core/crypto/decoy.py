"""The relay's answer to a JOIN for a session ID that does not exist (docs/design.md §4.3 step 6).

If the relay answered "no such session" an attacker could enumerate live session IDs. Instead it
plays a leader that nobody's password matches: a real ephemeral key, a SPAKE2 message over a
random password, a leader key, and a *valid* signature over the real transcript T (T holds no
secrets, so the relay can compute it). The joiner's signature check passes exactly as for a real
session; its confirmation then cannot match, the relay refuses it with the same
``JOIN_REFUSED`` it uses for a wrong password, and no grant ever opens.

The leader key is what a prober compares across attempts: a live session answers every knock
with its organizer's one key, so a decoy that drew a fresh key per knock gave itself away on the
second probe. The decoy's key is therefore *derived* from a relay secret and the session ID
(:func:`decoy_leader_key`): the same ID always gets the same key, across probes and relay
restarts (the secret lives in the relay's data directory), while different IDs get unrelated keys
and nobody without the secret can tell a derived key from an organizer's random one.

It runs the very same code as the real leader (:func:`respond_to_knock`), so it validates the
knock identically (a knock a leader would refuse is refused here with the same error) and spends
comparable CPU. Matching the *latency* of a real leader round trip is the relay's job.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.crypto.admission_common import ChallengeValues, KnockValues, respond_to_knock
from core.crypto.primitives import hkdf_sha256, session_id_bytes

#: Size of the relay secret the decoy keys derive from.
DECOY_SECRET_SIZE = 32
_DECOY_SALT = b"porthole/1 decoy"
_DECOY_LEADER_INFO = b"porthole/1 decoy leader key"


def decoy_leader_key(relay_secret: bytes, session_id: str) -> Ed25519PrivateKey:
    """The decoy leader key for ``session_id``: HKDF(secret, info = domain ‖ sid) as an Ed25519
    seed. Stable per ID, unrelated between IDs, unlinkable to the secret without it."""
    if len(relay_secret) != DECOY_SECRET_SIZE:
        raise ValueError(f"the decoy secret must be {DECOY_SECRET_SIZE} bytes")
    seed = hkdf_sha256(
        relay_secret,
        salt=_DECOY_SALT,
        info=_DECOY_LEADER_INFO + session_id_bytes(session_id),
        length=32,
    )
    return Ed25519PrivateKey.from_private_bytes(seed)


def decoy_challenge(session_id: str, knock: KnockValues, relay_secret: bytes) -> ChallengeValues:
    """A challenge indistinguishable from a real leader's whose password the joiner lacks.

    Raises :class:`~core.crypto.errors.BadHandshake` for a malformed knock, as a leader would.
    """
    random_password = secrets.token_urlsafe(32)
    leader_key = decoy_leader_key(relay_secret, session_id)
    return respond_to_knock(session_id, random_password, leader_key, knock).challenge
