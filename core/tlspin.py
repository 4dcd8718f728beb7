"""TLS to the relay, trusted by key pinning (docs/design.md §4.1).

A relay usually runs with a self-signed certificate it generated on first start. No CA vouches
for it, so clients trust exactly one key: the one whose SHA-256 fingerprint they were given (in a
join link, or remembered on first use in the known-relays file). This module holds the
fingerprint arithmetic both sides share, the client's TLS context, and the check that turns "the
handshake finished" into "we are talking to *our* relay".

The pin is SHA-256 of the leaf certificate's DER SubjectPublicKeyInfo (the public key and its
algorithm, as HPKP, RFC 7469, pinned): an operator can renew the certificate (new serial, new
dates, a CA's new signature) with the same key and every link and known relay stays valid.
Pins made before that hashed the whole DER certificate; :func:`check_pinned` still accepts such a
pin for the certificate it names, so old links keep working until the certificate changes.

Fingerprints are carried as 64 lowercase hex digits. People see them as 16 groups of 4 (``ab12
cd34 …``) — short groups are easy to read aloud and compare — and may paste them in any case,
with or without colons or spaces (OpenSSL prints colon pairs).
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import string
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from core.failures import Refused

__all__ = [
    "ALPN_PROTOCOL",
    "FINGERPRINT_HEX_DIGITS",
    "FingerprintMismatch",
    "certificate_fingerprint",
    "check_pinned",
    "client_ssl_context",
    "fingerprint",
    "fingerprints_equal",
    "format_fingerprint",
    "parse_fingerprint",
]

ALPN_PROTOCOL = "porthole/1"
FINGERPRINT_HEX_DIGITS = 64  # SHA-256

_HEX = frozenset(string.hexdigits)
_SEPARATORS = frozenset(": \t\r\n")


def fingerprint(cert_der: bytes) -> str:
    """The pin of a DER-encoded certificate: SHA-256 of its SubjectPublicKeyInfo, 64 hex digits.

    The key, not the certificate, because the key is the relay's identity: a renewed
    certificate for the same key keeps the pin, so renewing does not break every link handed
    out. Operators can compute it with standard tools: ``openssl x509 -in cert.pem -pubkey
    -noout | openssl pkey -pubin -outform der | sha256sum``. Raises :class:`ValueError` if
    ``cert_der`` is not a certificate.
    """
    certificate = x509.load_der_x509_certificate(cert_der)
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def certificate_fingerprint(cert_der: bytes) -> str:
    """SHA-256 of the whole DER certificate: the pin links and known relays held before pins
    named keys (what ``openssl x509 -fingerprint -sha256`` shows). Only checked, never issued.
    """
    return hashlib.sha256(cert_der).hexdigest()


def parse_fingerprint(text: str) -> str:
    """Normalise a fingerprint a person typed or pasted to 64 lowercase hex digits.

    Accepts any case, with or without colons and whitespace (so both our grouped form and
    OpenSSL's colon pairs work). Raises :class:`ValueError` with a sentence a person can act on
    otherwise; a typo must never turn into a silently different pin.
    """
    digits = []
    for char in text:
        if char in _SEPARATORS:
            continue
        if char not in _HEX:
            raise ValueError(
                f"a relay fingerprint is {FINGERPRINT_HEX_DIGITS} hexadecimal digits "
                f"(0-9, a-f), optionally grouped with spaces or colons; "
                f"{char!r} is not allowed"
            )
        digits.append(char)
    if len(digits) != FINGERPRINT_HEX_DIGITS:
        raise ValueError(
            f"a relay fingerprint is {FINGERPRINT_HEX_DIGITS} hexadecimal digits "
            f"(a SHA-256 hash); this one has {len(digits)}"
        )
    return "".join(digits).lower()


def format_fingerprint(fp: str) -> str:
    """The form people see: 16 groups of 4 lowercase hex digits separated by spaces.

    Accepts anything :func:`parse_fingerprint` accepts, so it can re-format pasted input.
    """
    normalized = parse_fingerprint(fp)
    return " ".join(normalized[i : i + 4] for i in range(0, len(normalized), 4))


def fingerprints_equal(a: str, b: str) -> bool:
    """Whether two fingerprints (in any accepted notation) are the same pin.

    Compared with :func:`hmac.compare_digest` so timing reveals nothing about how much of a
    pin matched. Raises :class:`ValueError` if either is not a fingerprint: a malformed pin is a
    configuration error to report, not a mismatch to warn about.
    """
    return hmac.compare_digest(
        parse_fingerprint(a).encode("ascii"), parse_fingerprint(b).encode("ascii")
    )


class FingerprintMismatch(Refused):
    """The relay presented a certificate whose key (or, for an old pin, whole certificate) is
    not the pinned one.

    The message is written for the person at the keyboard: what was expected, what arrived,
    what it may mean and what to do. ``expected`` and ``presented`` hold the normalised hex
    (``presented`` is None if the relay sent no certificate at all).
    """

    def __init__(self, expected: str, presented: str | None, *, relay: str | None = None) -> None:
        self.expected = expected
        self.presented = presented
        self.relay = relay
        where = f"the relay at {relay}" if relay else "the relay"
        shown = format_fingerprint(presented) if presented is not None else "no certificate"
        super().__init__(
            f"relay certificate fingerprint mismatch: expected {format_fingerprint(expected)}, "
            f"{where} presented {shown}. Someone may be intercepting the connection, or the "
            f"relay's certificate changed; do not continue unless the relay operator confirms "
            f"the new fingerprint.",
            next_step="",  # the sentence already says what to do
            kind="fingerprint_mismatch",
        )


def client_ssl_context(alpn: Sequence[str] = (ALPN_PROTOCOL,)) -> ssl.SSLContext:
    """The TLS context a porthole client connects to a relay with.

    TLS 1.3 only: it encrypts the certificate exchange, has no weak cipher suites to
    negotiate down to, and every client we ship has it.

    Certificate verification is *off* here on purpose (``CERT_NONE``, no hostname check): relays
    usually have self-signed certificates that no CA vouches for, and a pin is a stronger check
    than a CA chain anyway: it accepts exactly one certificate, where a chain accepts any
    certificate any trusted CA issued for that name. Trust is established right after the
    handshake by :func:`check_pinned` on ``getpeercert(binary_form=True)``.

    Callers must therefore call :func:`check_pinned` (or show the fingerprint for a
    trust-on-first-use decision) *before sending anything* over the stream; until then the peer
    is unauthenticated. In TLS 1.3 the client has sent no application data when the handshake
    completes, so checking first leaks nothing.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(list(alpn))
    return context


def check_pinned(cert_der: bytes | None, expected: str, *, relay: str | None = None) -> None:
    """Raise :class:`FingerprintMismatch` unless ``cert_der`` matches the pin ``expected``.

    A pin matches when it is the certificate's key pin (:func:`fingerprint`) or, for pins made
    before pins named keys, the whole certificate's hash (:func:`certificate_fingerprint`).
    Accepting both costs nothing: either way the pin is a SHA-256 the relay cannot meet with
    another key or certificate. ``cert_der`` is what ``SSLStream.getpeercert(binary_form=True)``
    returns (None if the peer sent no certificate, which is always a mismatch). ``relay`` (e.g.
    ``"host:port"``) is only used to make the error message specific. A malformed ``expected``
    raises :class:`ValueError`.
    """
    wanted = parse_fingerprint(expected)
    if cert_der is None:
        raise FingerprintMismatch(wanted, None, relay=relay)
    whole = certificate_fingerprint(cert_der)
    try:
        key: str | None = fingerprint(cert_der)
    except ValueError:
        key = None  # not a certificate we can read: only its whole hash can match
    # Both comparisons always run (no short cut), each in constant time.
    by_key = key is not None and fingerprints_equal(key, wanted)
    by_certificate = fingerprints_equal(whole, wanted)
    if not (by_key or by_certificate):
        raise FingerprintMismatch(wanted, key if key is not None else whole, relay=relay)
