"""Why a sealed message, a certificate or a handshake was refused.

Every refusal is a :class:`CryptoError` subclass with a short, stable ``reason`` slug. The slug is
what drop counters are keyed by (``ContentOpener.statistics()``), what logs and metrics show, and
what tests assert on, so it never changes once released; the message is for people.

Misuse of the API by our own code (calling a state machine step out of order, sealing before an
epoch is set) is not a crypto failure: it raises :class:`core.errors.LocalProtocolError`, like
every other "we did something the protocol forbids" in ``core``.

Messages never contain key material, passwords or plaintext: exceptions end up in logs.
"""

from __future__ import annotations

from typing import ClassVar


class CryptoError(Exception):
    """Something received did not pass a cryptographic check; drop it and count ``reason``."""

    reason: ClassVar[str] = "crypto"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.reason}]"


class WrongPassword(CryptoError):
    """The two sides of an admission derived different keys: the password did not match.

    Also what a joiner sees after a decoy challenge for an unknown session ID (docs/design.md §4.3
    step 6), by construction: it cannot tell the two apart.
    """

    reason = "wrong_password"


class BadSignature(CryptoError):
    """An Ed25519 signature did not verify (a leader challenge or a content message)."""

    reason = "bad_signature"


class BadCertificate(CryptoError):
    """A member certificate or roster is not signed by the leader key, or is inconsistent."""

    reason = "bad_certificate"


class BadHandshake(CryptoError):
    """A handshake value is malformed (wrong size, invalid SPAKE2 message, low-order X25519 key)
    or the leader's authenticated grant is inconsistent."""

    reason = "bad_handshake"


class Malformed(CryptoError):
    """Sealed bytes do not even have the right shape (sizes, clear header encoding)."""

    reason = "malformed"


class WrongSession(CryptoError):
    """A sealed message names another session ID in its clear header."""

    reason = "wrong_session"


class Misrouted(CryptoError):
    """A sealed message is addressed to another member, or is our own message reflected back."""

    reason = "misrouted"


class UnknownEpoch(CryptoError):
    """The epoch is not (or no longer) in the keyring: never installed, or erased after grace."""

    reason = "unknown_epoch"


class UnknownSender(CryptoError):
    """The sender is not in the roster of the message's epoch."""

    reason = "unknown_sender"


class Replayed(CryptoError):
    """The counter is not above the last one accepted from that sender in that epoch."""

    reason = "replayed"


class OpenFailed(CryptoError):
    """AES-GCM authentication failed although everything before it checked out."""

    reason = "open_failed"


#: Every concrete reason slug, in the order :class:`~core.crypto.sealing.ContentOpener` checks.
CONTENT_DROP_REASONS: tuple[str, ...] = (
    Malformed.reason,
    WrongSession.reason,
    Misrouted.reason,
    UnknownEpoch.reason,
    UnknownSender.reason,
    BadSignature.reason,
    Replayed.reason,
    OpenFailed.reason,
)
