"""Member certificates: the leader key vouches for who each peer id is.

A certificate binds (session ID, relay-assigned peer id, display name, member signing key,
standing) and is signed by the per-session leader key LPK. Content signatures are checked against
the member key of the sender's certificate, so a member cannot speak as another one and the relay
cannot invent a member: only the holder of LPK can add a key to the roster.

The signature covers ``"porthole/1 cert" ‖ to_bytes(certificate)``: the canonical wire encoding
(the codec is injective and refuses trailing bytes) behind a domain string that no other LPK
signature (the admission transcript) starts with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.crypto.errors import BadCertificate
from core.errors import ProtocolError
from core.protocol.pair import (
    KEY_SIZE,
    MAX_MEMBERS,
    MemberCertificate,
    SignedCertificate,
    Standing,
)
from core.protocol.wire import to_bytes

_CERT_DOMAIN = b"porthole/1 cert"


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key (what certificates, transcripts and codes carry)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _signed_bytes(cert: MemberCertificate) -> bytes:
    return _CERT_DOMAIN + to_bytes(cert)


def sign_certificate(
    cert: MemberCertificate, leader_private: Ed25519PrivateKey
) -> SignedCertificate:
    """Sign ``cert`` with the leader key (raises LocalProtocolError if a field is invalid)."""
    return SignedCertificate(certificate=cert, signature=leader_private.sign(_signed_bytes(cert)))


def verify_certificate(
    signed: SignedCertificate, leader_public: bytes, session_id: str
) -> MemberCertificate:
    """Return the certificate if LPK signed it for this session, else raise BadCertificate."""
    cert = signed.certificate
    if cert.session_id != session_id:
        raise BadCertificate(f"certificate for peer {cert.peer_id} names another session")
    try:
        data = _signed_bytes(cert)
    except ProtocolError:
        # A certificate object built with out-of-range fields cannot have been signed as is.
        raise BadCertificate("certificate has invalid fields") from None
    if len(leader_public) != KEY_SIZE or len(signed.signature) != 64:
        raise BadCertificate("leader key or certificate signature has the wrong size")
    try:
        Ed25519PublicKey.from_public_bytes(leader_public).verify(signed.signature, data)
    except (InvalidSignature, ValueError):
        raise BadCertificate(
            f"certificate for peer {cert.peer_id} is not signed by the leader key"
        ) from None
    return cert


def verify_roster(
    roster: Iterable[SignedCertificate], leader_public: bytes, session_id: str
) -> dict[int, MemberCertificate]:
    """Verify a whole roster and return it keyed by peer id.

    Every certificate must verify; peer ids and member keys must be unique (two entries sharing a
    key would let one holder speak as both); exactly one member is the organizer.
    """
    out: dict[int, MemberCertificate] = {}
    keys: set[bytes] = set()
    organizers = 0
    for signed in roster:
        cert = verify_certificate(signed, leader_public, session_id)
        if cert.peer_id in out:
            raise BadCertificate(f"peer id {cert.peer_id} appears twice in the roster")
        if cert.member_key in keys:
            raise BadCertificate("two roster entries share one member key")
        out[cert.peer_id] = cert
        keys.add(cert.member_key)
        organizers += cert.standing is Standing.ORGANIZER
        if len(out) > MAX_MEMBERS:
            raise BadCertificate(f"roster exceeds {MAX_MEMBERS} members")
    if organizers != 1:
        raise BadCertificate(f"roster has {organizers} organizers, expected exactly one")
    return out


def member_keys(roster: Mapping[int, MemberCertificate]) -> dict[int, bytes]:
    """Peer id → member public key, the shape :meth:`ContentOpener.install` takes."""
    return {peer_id: cert.member_key for peer_id, cert in roster.items()}
