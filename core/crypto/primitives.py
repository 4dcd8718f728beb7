"""The few hashing building blocks every other crypto module shares.

Kept in one place so that every input to a hash, MAC or KDF is encoded one way: fixed-width
big-endian integers, length-prefixed variable fields, and a ``porthole/1 …`` domain string in
front. Two different structures can then never hash to the same input (no "ab" ‖ "c" vs.
"a" ‖ "bc" ambiguity), and no key is ever used for two purposes.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import ErrorCode, LocalProtocolError
from core.protocol.wire import Digits

#: Domain string of the admission transcript hash T (docs/design.md §4.3 step 3).
TRANSCRIPT_DOMAIN = b"porthole/1 transcript"

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_SESSION_ID = Digits(9)


def u32(value: int) -> bytes:
    """Big-endian u32, as on the wire."""
    return _U32.pack(value)


def u64(value: int) -> bytes:
    """Big-endian u64, as on the wire."""
    return _U64.pack(value)


def session_id_bytes(session_id: str) -> bytes:
    """The 9 ASCII digits of a session ID, after checking it is one.

    Fixed width, so it can sit unprefixed inside KDF ``info`` and AAD strings. A bad ID here is a
    caller bug (IDs arriving from the network were validated by the codec), hence local.
    """
    problem = _SESSION_ID.check(session_id)
    if problem is not None:
        raise LocalProtocolError(ErrorCode.BAD_FIELD, f"session id {problem}")
    return session_id.encode("ascii")


def hkdf_sha256(ikm: bytes, *, salt: bytes | None, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) extract-and-expand."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256; used for the admission key confirmations."""
    return hmac.new(key, data, hashlib.sha256).digest()


def macs_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison, so a wrong MAC leaks nothing about the right one's bytes."""
    return hmac.compare_digest(a, b)


def transcript_hash(*fields: bytes) -> bytes:
    """SHA-256 over :data:`TRANSCRIPT_DOMAIN` and each field with a u32 length prefix.

    The length prefixes make the encoding injective: no two different field lists hash the same
    input, so the relay cannot shift bytes from one field into its neighbour.
    """
    h = hashlib.sha256()
    h.update(u32(len(TRANSCRIPT_DOMAIN)))
    h.update(TRANSCRIPT_DOMAIN)
    for data in fields:
        h.update(u32(len(data)))
        h.update(data)
    return h.digest()
