"""The security code people compare to rule out an impostor leader (docs/design.md §4.3 step 5).

It is derived from the per-session leader public key LPK alone. A joiner verified Sig_LPK(T) over
its own handshake, so if everyone in a call reads the same code, everyone was admitted by the same
LPK, i.e. by the organizer's client and not by a relay playing leader. 40 decimal digits (~133
bits) are far beyond what an attacker could match by grinding keys, and digits read aloud well.
"""

from __future__ import annotations

import hashlib

_CODE_DOMAIN = b"porthole/1 code"
_DIGITS = 40
_GROUP = 5


def security_code(leader_public_key: bytes) -> str:
    """``SHA-256("porthole/1 code" ‖ LPK)`` mod 10**40 as 8 space-separated groups of 5 digits.

    The modulo bias is ~2**-123 (2**256 is not a multiple of 10**40), irrelevant here.
    """
    if len(leader_public_key) != 32:
        raise ValueError("a leader public key is 32 bytes")
    digest = hashlib.sha256(_CODE_DOMAIN + leader_public_key).digest()
    digits = f"{int.from_bytes(digest, 'big') % 10**_DIGITS:0{_DIGITS}d}"
    return " ".join(digits[i : i + _GROUP] for i in range(0, _DIGITS, _GROUP))
