"""Fingerprint arithmetic, the client TLS context and the pin check (core/tlspin.py).

The real handshake against a relay certificate lives in tests/relay/test_relay_tls.py.
"""

from __future__ import annotations

import hashlib
import ssl

import pytest
from certkit import der, make_ca, new_key
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from core.tlspin import (
    ALPN_PROTOCOL,
    FingerprintMismatch,
    certificate_fingerprint,
    check_pinned,
    client_ssl_context,
    fingerprint,
    fingerprints_equal,
    format_fingerprint,
    parse_fingerprint,
)

CA = make_ca()
KEY = new_key()
CERT = der(CA.issue(KEY))
#: The same key, certified again: a new serial, new dates, a new signature.
RENEWED = der(CA.issue(KEY))
OTHER_KEY_CERT = der(CA.issue(new_key()))
SPKI = KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)
FP = hashlib.sha256(SPKI).hexdigest()
WHOLE_FP = hashlib.sha256(CERT).hexdigest()
OTHER_FP = "0" * 64


def test_fingerprint_is_lowercase_sha256_of_the_public_key_info() -> None:
    fp = fingerprint(CERT)
    assert fp == FP
    assert len(fp) == 64
    assert fp == fp.lower()
    assert certificate_fingerprint(CERT) == WHOLE_FP != FP


def test_a_renewed_certificate_for_the_same_key_has_the_same_fingerprint() -> None:
    assert RENEWED != CERT
    assert fingerprint(RENEWED) == FP
    assert fingerprint(OTHER_KEY_CERT) != FP


def test_fingerprint_of_something_that_is_not_a_certificate_is_an_error() -> None:
    with pytest.raises(ValueError, match="asn1"):
        fingerprint(b"not DER")


def test_format_groups_of_four() -> None:
    shown = format_fingerprint("0123456789abcdef" * 4)
    assert shown == " ".join(["0123", "4567", "89ab", "cdef"] * 4)
    assert len(shown.split()) == 16


@given(st.binary(min_size=32, max_size=32))
def test_format_parse_round_trip(digest: bytes) -> None:
    fp = digest.hex()
    assert parse_fingerprint(format_fingerprint(fp)) == fp
    assert parse_fingerprint(fp.upper()) == fp
    assert parse_fingerprint(":".join(fp.upper()[i : i + 2] for i in range(0, 64, 2))) == fp
    assert format_fingerprint(format_fingerprint(fp)) == format_fingerprint(fp)


def test_parse_accepts_common_notations() -> None:
    colon_pairs = ":".join(FP.upper()[i : i + 2] for i in range(0, 64, 2))  # openssl's form
    assert parse_fingerprint(colon_pairs) == FP
    assert parse_fingerprint(f"  {format_fingerprint(FP)}\n") == FP
    assert parse_fingerprint(FP[:32] + "\t" + FP[32:]) == FP


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "this one has 0"),
        ("ab" * 31, "this one has 62"),
        ("ab" * 33, "this one has 66"),
        ("g" + "a" * 63, "'g' is not allowed"),
        ("0x" + "a" * 62, "'x' is not allowed"),
        ("a" * 63 + "-", "'-' is not allowed"),
        ("sha256:" + "a" * 64, "'s' is not allowed"),
    ],
)
def test_parse_rejects_with_a_clear_message(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="relay fingerprint is 64 hexadecimal digits") as info:
        parse_fingerprint(text)
    assert complaint in str(info.value)


def test_fingerprints_equal() -> None:
    assert fingerprints_equal(FP, FP.upper())
    assert fingerprints_equal(FP, format_fingerprint(FP))
    assert not fingerprints_equal(FP, OTHER_FP)
    with pytest.raises(ValueError, match="hexadecimal"):
        fingerprints_equal(FP, "nonsense")


def test_check_pinned_accepts_the_right_certificate() -> None:
    check_pinned(CERT, FP)
    check_pinned(CERT, format_fingerprint(FP).upper())


def test_check_pinned_accepts_a_renewal_for_the_pinned_key() -> None:
    check_pinned(RENEWED, FP)
    with pytest.raises(FingerprintMismatch):
        check_pinned(OTHER_KEY_CERT, FP)


def test_an_old_whole_certificate_pin_still_matches_its_certificate_only() -> None:
    check_pinned(CERT, WHOLE_FP)
    with pytest.raises(FingerprintMismatch) as info:
        check_pinned(RENEWED, WHOLE_FP)
    assert info.value.presented == FP  # what to pin now is the key


def test_bytes_that_are_not_a_certificate_match_only_their_whole_hash() -> None:
    junk = b"not DER"
    check_pinned(junk, hashlib.sha256(junk).hexdigest())
    with pytest.raises(FingerprintMismatch) as info:
        check_pinned(junk, FP)
    assert info.value.presented == hashlib.sha256(junk).hexdigest()


def test_check_pinned_refuses_another_certificate_with_a_clear_message() -> None:
    with pytest.raises(FingerprintMismatch) as info:
        check_pinned(CERT, OTHER_FP, relay="relay.example.org:7443")
    error = info.value
    assert error.expected == OTHER_FP
    assert error.presented == FP
    message = str(error)
    assert f"expected {format_fingerprint(OTHER_FP)}" in message
    assert f"the relay at relay.example.org:7443 presented {format_fingerprint(FP)}" in message
    assert "someone may be intercepting the connection" in message.lower()
    assert "the relay's certificate changed" in message
    assert "do not continue unless the relay operator confirms the new fingerprint" in message


def test_check_pinned_refuses_a_missing_certificate() -> None:
    with pytest.raises(FingerprintMismatch, match="presented no certificate") as info:
        check_pinned(None, FP)
    assert info.value.presented is None


def test_check_pinned_reports_a_malformed_pin_as_such() -> None:
    with pytest.raises(ValueError, match="hexadecimal") as info:
        check_pinned(CERT, "abc")
    assert not isinstance(info.value, FingerprintMismatch)


def test_client_context_pins_instead_of_trusting_cas() -> None:
    context = client_ssl_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert ALPN_PROTOCOL == "porthole/1"


def test_client_context_accepts_other_alpn_lists() -> None:
    context = client_ssl_context(alpn=("porthole/1", "http/1.1"))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
