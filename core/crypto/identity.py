"""Long-term identity keys: proving, during one admission, "I am the holder of this key".

A display name is whatever a joiner types; a script that grants remote control must not rest on
it alone (docs/design.md §3.4). An identity key is an Ed25519 key the person keeps
(``porthole identity create``) and, when asked to (``--identity``), proves during admission::

    proof = IK ‖ Sig_IK("porthole/1 identity" ‖ T)

T is this admission's transcript hash (:func:`~core.crypto.admission_common.admission_transcript`):
it covers the session ID, the relay-assigned peer id, the joiner's fresh member key and both
sides' fresh ephemeral keys, so a proof is good for this one handshake only. The relay cannot
replay it into another session, and neither can a member who saw it (another member's
transcript has other ephemeral keys). The joiner seals the proof on the pair channel
(member→leader) and sends it with its key confirmation, so the relay does not even learn which
identity joined; the leader opens and verifies it, and certifies the key in the member's
certificate (``identity_key``), where every member can see the fingerprint.

Fingerprints are SHA-256 over a domain string and the raw public key: 64 hex digits in full
(what ``--allow-control-from key:…`` takes), the first 16 grouped by four for people to read
beside a name.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.crypto.certs import public_key_bytes
from core.crypto.errors import BadSignature, Malformed
from core.protocol.pair import IDENTITY_PROOF_SIZE, KEY_SIZE

_PROOF_DOMAIN = b"porthole/1 identity"
_FINGERPRINT_DOMAIN = b"porthole/1 identity key"
FINGERPRINT_HEX_DIGITS = 64
SHORT_FINGERPRINT_HEX_DIGITS = 16


def identity_proof(identity: Ed25519PrivateKey, transcript: bytes) -> bytes:
    """``IK ‖ Sig_IK(domain ‖ T)``: this key's holder takes part in the admission with hash T."""
    return public_key_bytes(identity) + identity.sign(_PROOF_DOMAIN + transcript)


def verify_identity_proof(proof: bytes, transcript: bytes) -> bytes:
    """The identity public key the proof is for, if it signs ``transcript``; else raise.

    :class:`Malformed` for a wrong size, :class:`BadSignature` for a signature over anything
    else (another admission's T: a replay) or by another key.
    """
    if not isinstance(proof, bytes) or len(proof) != IDENTITY_PROOF_SIZE:
        raise Malformed(f"an identity proof is {IDENTITY_PROOF_SIZE} bytes")
    public, signature = proof[:KEY_SIZE], proof[KEY_SIZE:]
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, _PROOF_DOMAIN + transcript)
    except (InvalidSignature, ValueError):
        raise BadSignature("the identity proof does not sign this admission") from None
    return public


def fingerprint(public: bytes) -> str:
    """The full fingerprint of an identity public key: 64 lowercase hex digits."""
    return hashlib.sha256(_FINGERPRINT_DOMAIN + public).hexdigest()


def short_fingerprint(public: bytes) -> str:
    """The first 16 hex digits in groups of four (``3f2a-91bc-07de-55aa``), to show people."""
    head = fingerprint(public)[:SHORT_FINGERPRINT_HEX_DIGITS]
    return "-".join(head[i : i + 4] for i in range(0, len(head), 4))


def normalize_fingerprint(text: str) -> str | None:
    """A full fingerprint as typed (any case, ``:``/``-``/spaces allowed), or None if not one."""
    digits = "".join(ch for ch in text.strip().lower() if ch not in ":- ")
    if len(digits) != FINGERPRINT_HEX_DIGITS or any(ch not in "0123456789abcdef" for ch in digits):
        return None
    return digits


def fingerprint_matches(public: bytes | None, wanted: str) -> bool:
    """Whether ``public`` has the (normalised, full) fingerprint ``wanted``; constant time."""
    if public is None:
        return False
    return hmac.compare_digest(fingerprint(public), wanted)


__all__ = (
    "FINGERPRINT_HEX_DIGITS",
    "fingerprint",
    "fingerprint_matches",
    "identity_proof",
    "normalize_fingerprint",
    "short_fingerprint",
    "verify_identity_proof",
)
