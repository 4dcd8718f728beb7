"""Content plane (docs/design.md §4.4, §4.5): seal, sign, open, drop and count.

The "relay" is the test code: it can rewrite any header field, splice ciphertexts, replay, move
messages between sessions and epochs. Members are real keys with real sealers and openers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from core.crypto import (
    BadSignature,
    ContentOpener,
    ContentSealer,
    CryptoError,
    Malformed,
    Misrouted,
    OpenFailed,
    Replayed,
    SealedContent,
    UnknownEpoch,
    UnknownSender,
    WrongSession,
    next_epoch_secret,
    public_key_bytes,
    unpack_sealed,
)
from core.errors import ErrorCode, LocalProtocolError
from core.protocol.content import (
    EVERYONE,
    MAX_CONTENT_PLAINTEXT,
    Chat,
    ContentHeader,
    ContentType,
    decode_content,
    encode_content,
)
from core.protocol.framing import encode_frame, encode_sealed_frame
from core.protocol.messages import Sealed

SID = "123456789"
OTHER_SID = "555555555"
A, B, C, OUTSIDER = 1, 2, 3, 9
PLAINTEXT = b"the presenter's secret screen contents, tile 42"


def expect(exc_type: type[Exception], call: Callable[[], Any]) -> Exception:
    """Run ``call`` and require exactly ``exc_type`` (not a sibling or a parent class)."""
    with pytest.raises(exc_type) as info:
        call()
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    return info.value


@dataclasses.dataclass
class Session:
    """Three members A (organizer), B and C sharing epoch 1, each with a sealer and opener."""

    keys: dict[int, Ed25519PrivateKey]
    secret: bytes
    sealers: dict[int, ContentSealer]
    openers: dict[int, ContentOpener]

    def members(self, *peers: int) -> dict[int, bytes]:
        return {p: public_key_bytes(self.keys[p]) for p in peers or self.keys}

    def seal(
        self, sender: int = A, plaintext: bytes = PLAINTEXT, recipient: int = EVERYONE
    ) -> SealedContent:
        return self.sealers[sender].seal(ContentType.FRAME_UPDATE, recipient, plaintext)


def make_session(grace: float = 10.0, *, local_filter: bool = False) -> Session:
    keys = {p: Ed25519PrivateKey.generate() for p in (A, B, C)}
    secret = next_epoch_secret()
    sealers = {p: ContentSealer(SID, p, k) for p, k in keys.items()}
    for sealer in sealers.values():
        sealer.set_epoch(1, secret)
    members = {p: public_key_bytes(k) for p, k in keys.items()}
    openers = {
        p: ContentOpener(SID, grace_period=grace, local_peer_id=p if local_filter else None)
        for p in keys
    }
    for opener in openers.values():
        opener.install(1, secret, members, now=0.0)
    return Session(keys, secret, sealers, openers)


@pytest.fixture
def session() -> Session:
    return make_session()


def held(opener: ContentOpener) -> tuple[int, ...]:
    """The epochs an opener holds (a call, so mypy does not narrow it between asserts)."""
    return opener.epochs


def dropped(opener: ContentOpener, reason: str) -> int:
    return opener.statistics().dropped_by_reason()[reason]


# ------------------------------------------------------------------------------------------
# Round trips and the exact construction


def test_seal_and_open_round_trip(session: Session) -> None:
    sealed = session.seal(A)
    assert session.openers[B].open(*sealed, now=1.0) == PLAINTEXT
    assert session.openers[C].open(*sealed, now=1.0) == PLAINTEXT
    stats = session.openers[B].statistics()
    assert stats.opened == 1
    assert stats.dropped == 0
    assert (stats.epochs_held, stats.newest_epoch) == (1, 1)


def test_content_messages_round_trip_through_the_codec(session: Session) -> None:
    kind, data = encode_content(Chat(text="hello"))
    sealed = session.sealers[A].seal(kind, EVERYONE, data)
    header, plaintext = session.openers[B].open_packed(sealed.pack(), now=0.0)
    assert decode_content(header.content_type, plaintext) == Chat(text="hello")


def test_key_schedule_matches_the_documented_construction(session: Session) -> None:
    """Rebuild key, nonce, AAD and signature input from the documented recipe alone."""
    session.seal(B)
    sealed = session.seal(B)  # counter 2: the counter must really enter the nonce
    assert sealed.header.counter == 2
    h = sealed.header
    info = b"porthole/1 content" + SID.encode() + h.epoch.to_bytes(4, "big") + B.to_bytes(4, "big")
    okm = HKDF(hashes.SHA256(), 44, salt=None, info=info).derive(session.secret)
    key, salt = okm[:32], okm[32:]
    nonce = bytes(a ^ b for a, b in zip(salt, h.counter.to_bytes(12, "big"), strict=True))
    aad = h.pack()
    assert len(aad) == ContentHeader.SIZE
    assert AESGCM(key).decrypt(nonce, sealed.ciphertext, aad) == PLAINTEXT
    session.keys[B].public_key().verify(
        sealed.signature, b"porthole/1 content" + aad + sealed.ciphertext
    )


def test_counters_start_at_one_and_never_repeat_even_across_epochs(session: Session) -> None:
    sealer = session.sealers[A]
    first = [sealer.seal(ContentType.CURSOR, EVERYONE, b"x").header.counter for _ in range(3)]
    assert first == [1, 2, 3]
    sealer.set_epoch(2, next_epoch_secret())
    assert sealer.seal(ContentType.CURSOR, EVERYONE, b"x").header.counter == 4


def test_relay_visible_bytes_do_not_contain_the_plaintext(session: Session) -> None:
    plaintext = b"TOP-SECRET " * 20
    sealed = session.seal(A, plaintext)
    wire = sealed.pack()
    assert wire == sealed.header.pack() + sealed.ciphertext + sealed.signature
    assert plaintext not in wire
    assert b"TOP-SECRET" not in wire
    assert session.secret not in wire


# ------------------------------------------------------------------------------------------
# Every way a message is rejected, each counted


HEADER_TAMPERS: dict[str, tuple[dict[str, Any], type[CryptoError], str]] = {
    "content_type": ({"content_type": ContentType.INPUT_EVENT}, BadSignature, "bad_signature"),
    "session_id": ({"session_id": OTHER_SID}, WrongSession, "wrong_session"),
    "epoch (unknown)": ({"epoch": 7}, UnknownEpoch, "unknown_epoch"),
    "sender (outsider)": ({"sender": OUTSIDER}, UnknownSender, "unknown_sender"),
    "sender (another member)": ({"sender": C}, BadSignature, "bad_signature"),
    "recipient": ({"recipient": C}, BadSignature, "bad_signature"),
    "counter": ({"counter": 99}, BadSignature, "bad_signature"),
    "version": ({"version": 2}, Malformed, "malformed"),
}


@pytest.mark.parametrize("case", sorted(HEADER_TAMPERS))
def test_tampered_header_field_is_rejected_and_counted(session: Session, case: str) -> None:
    change, error, reason = HEADER_TAMPERS[case]
    sealed = session.seal(A)
    forged = dataclasses.replace(sealed.header, **change)
    opener = session.openers[B]
    expect(error, lambda: opener.open(forged, sealed.ciphertext, sealed.signature, now=0.0))
    assert dropped(opener, reason) == 1
    assert opener.statistics().dropped == 1
    # The untouched message still opens: the forgery did not consume its counter.
    assert opener.open(*sealed, now=0.0) == PLAINTEXT


def test_header_epoch_moved_to_another_held_epoch_fails_the_signature(session: Session) -> None:
    opener = session.openers[B]
    opener.install(2, next_epoch_secret(), session.members(), now=0.0)
    sealed = session.seal(A)
    forged = dataclasses.replace(sealed.header, epoch=2)
    expect(BadSignature, lambda: opener.open(forged, sealed.ciphertext, sealed.signature, 0.0))


def test_version_byte_flipped_on_the_wire_is_malformed(session: Session) -> None:
    wire = bytearray(session.seal(A).pack())
    wire[0] ^= 0x02
    expect(Malformed, lambda: session.openers[B].open_packed(bytes(wire), now=0.0))
    assert dropped(session.openers[B], "malformed") == 1


def test_tampered_ciphertext_and_signature_are_rejected(session: Session) -> None:
    sealed = session.seal(A)
    opener = session.openers[B]
    ct = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    sig = sealed.signature[:-1] + bytes([sealed.signature[-1] ^ 0x10])
    expect(BadSignature, lambda: opener.open(sealed.header, ct, sealed.signature, 0.0))
    expect(BadSignature, lambda: opener.open(sealed.header, sealed.ciphertext, sig, 0.0))
    expect(Malformed, lambda: opener.open(sealed.header, sealed.ciphertext[:15], b"", 0.0))
    expect(Malformed, lambda: opener.open(sealed.header, sealed.ciphertext, sig[:-1], 0.0))
    stats = opener.statistics()
    assert (stats.dropped_bad_signature, stats.dropped_malformed, stats.opened) == (2, 2, 0)


def test_replayed_and_lower_counters_are_rejected_and_gaps_are_fine(session: Session) -> None:
    m1, m2, m3, m4 = (session.seal(A) for _ in range(4))
    opener = session.openers[B]
    assert opener.open(*m1, now=0.0) == PLAINTEXT
    expect(Replayed, lambda: opener.open(*m1, now=0.0))  # the same message again
    assert opener.open(*m3, now=0.0) == PLAINTEXT  # m2 was lost: a gap is normal
    expect(Replayed, lambda: opener.open(*m2, now=0.0))  # a lower counter, arriving late
    assert opener.open(*m4, now=0.0) == PLAINTEXT
    assert opener.statistics().dropped_replayed == 2
    assert opener.statistics().opened == 3


def test_replay_windows_are_per_sender(session: Session) -> None:
    opener = session.openers[C]
    for _ in range(5):
        opener.open(*session.seal(A), now=0.0)
    assert opener.open(*session.seal(B), now=0.0) == PLAINTEXT  # B's counter 1 is fine


def test_forgeries_cannot_push_the_replay_window(session: Session) -> None:
    """A forged message with a huge counter is dropped before the window moves."""
    m1, m2 = session.seal(A), session.seal(A)
    opener = session.openers[B]
    forged = dataclasses.replace(m1.header, counter=2**63)
    expect(BadSignature, lambda: opener.open(forged, m1.ciphertext, m1.signature, 0.0))
    assert opener.open(*m1, now=0.0) == PLAINTEXT
    assert opener.open(*m2, now=0.0) == PLAINTEXT


def test_a_validly_signed_message_that_does_not_decrypt_fails_to_open(session: Session) -> None:
    """A member that signs correctly but seals under a wrong epoch secret (only AES-GCM can
    catch that) gets ``open_failed``, and its counter is not consumed."""
    confused = ContentSealer(SID, A, session.keys[A])
    confused.set_epoch(1, next_epoch_secret())
    bad = confused.seal(ContentType.CHAT, EVERYONE, b"hi")
    opener = session.openers[B]
    expect(OpenFailed, lambda: opener.open(*bad, now=0.0))
    assert opener.statistics().dropped_open_failed == 1
    assert opener.open(*session.seal(A), now=0.0) == PLAINTEXT


def test_unknown_epoch_is_rejected(session: Session) -> None:
    newer = ContentSealer(SID, A, session.keys[A])
    newer.set_epoch(2, next_epoch_secret())
    expect(UnknownEpoch, lambda: session.openers[B].open(*newer.seal(ContentType.CHAT, 0, b"x"), 0))
    assert dropped(session.openers[B], "unknown_epoch") == 1


def test_old_epoch_opens_during_grace_and_is_erased_after(session: Session) -> None:
    opener = session.openers[B]
    old = [session.seal(A) for _ in range(3)]
    opener.install(2, next_epoch_secret(), session.members(), now=100.0)
    assert held(opener) == (1, 2)
    assert opener.open(*old[0], now=105.0) == PLAINTEXT
    assert opener.open(*old[1], now=109.999) == PLAINTEXT
    expect(UnknownEpoch, lambda: opener.open(*old[2], now=110.0))
    assert held(opener) == (2,)
    assert opener.statistics().dropped_unknown_epoch == 1


def test_expire_erases_without_an_open_and_grace_zero_is_immediate() -> None:
    s = make_session(grace=0.0)
    opener = s.openers[B]
    old = s.seal(A)
    opener.install(2, next_epoch_secret(), s.members(), now=5.0)
    assert held(opener) == (2,)
    expect(UnknownEpoch, lambda: opener.open(*old, now=5.0))
    s2 = make_session(grace=3.0)
    s2.openers[B].install(2, next_epoch_secret(), s2.members(), now=0.0)
    s2.openers[B].expire(2.0)
    assert held(s2.openers[B]) == (1, 2)
    s2.openers[B].expire(3.0)
    assert held(s2.openers[B]) == (2,)


def test_a_further_install_does_not_extend_an_older_epochs_grace(session: Session) -> None:
    opener = session.openers[B]
    opener.install(2, next_epoch_secret(), session.members(), now=0.0)
    opener.install(3, next_epoch_secret(), session.members(), now=8.0)
    assert held(opener) == (1, 2, 3)
    opener.expire(10.0)
    assert held(opener) == (2, 3)  # epoch 1's deadline was set by the first re-key


def test_sender_outside_the_roster_is_rejected(session: Session) -> None:
    outsider = ContentSealer(SID, OUTSIDER, Ed25519PrivateKey.generate())
    outsider.set_epoch(1, session.secret)  # even holding the epoch secret
    sealed = outsider.seal(ContentType.INPUT_EVENT, B, b"click")
    expect(UnknownSender, lambda: session.openers[B].open(*sealed, now=0.0))
    assert dropped(session.openers[B], "unknown_sender") == 1


def test_a_member_cannot_speak_as_another_member(session: Session) -> None:
    """C holds the epoch secret, so its AES-GCM is valid; only the signature gives it away."""
    as_a = ContentSealer(SID, A, session.keys[C])
    as_a.set_epoch(1, session.secret)
    forged = as_a.seal(ContentType.INPUT_EVENT, B, b"rm -rf")
    expect(BadSignature, lambda: session.openers[B].open(*forged, now=0.0))
    assert dropped(session.openers[B], "bad_signature") == 1


def test_a_message_moved_to_another_session_is_rejected(session: Session) -> None:
    sealed = session.seal(A)
    moved = dataclasses.replace(sealed.header, session_id=OTHER_SID)
    # Same secret and members in the other session (worst case): still refused.
    other = ContentOpener(OTHER_SID)
    other.install(1, session.secret, session.members(), now=0.0)
    expect(WrongSession, lambda: other.open(*sealed, now=0.0))
    expect(BadSignature, lambda: other.open(moved, sealed.ciphertext, sealed.signature, 0.0))
    expect(WrongSession, lambda: session.openers[B].open(moved, *sealed[1:], now=0.0))
    assert other.statistics().dropped_wrong_session == 1
    assert other.statistics().dropped_bad_signature == 1


def test_local_filter_refuses_reflections_and_other_recipients() -> None:
    s = make_session(local_filter=True)
    to_b = s.seal(A, recipient=B)
    to_all = s.seal(A)
    expect(Misrouted, lambda: s.openers[C].open(*to_b, now=0.0))
    expect(Misrouted, lambda: s.openers[A].open(*to_all, now=0.0))  # our own, bounced back
    assert s.openers[B].open(*to_b, now=0.0) == PLAINTEXT
    assert s.openers[C].open(*to_all, now=0.0) == PLAINTEXT
    assert s.openers[C].statistics().dropped_misrouted == 1


def test_removed_member_cannot_open_the_new_epoch(session: Session) -> None:
    # C is removed: the leader draws S_2 and sends it to A and B only.
    secret2 = next_epoch_secret()
    remaining = session.members(A, B)
    session.sealers[A].set_epoch(2, secret2)
    session.openers[B].install(2, secret2, remaining, now=50.0)
    sealed = session.seal(A)
    assert sealed.header.epoch == 2
    assert session.openers[B].open(*sealed, now=50.0) == PLAINTEXT
    expect(UnknownEpoch, lambda: session.openers[C].open(*sealed, now=50.0))
    # Even relabelling what it still holds as "epoch 2" does not help.
    session.openers[C].install(2, session.secret, session.members(), now=50.0)
    expect(OpenFailed, lambda: session.openers[C].open(*sealed, now=50.0))
    # And C's own messages in the new epoch are no longer accepted by B.
    c_sealer = ContentSealer(SID, C, session.keys[C])
    c_sealer.set_epoch(2, secret2)  # even had it learnt S_2
    expect(
        UnknownSender,
        lambda: session.openers[B].open(*c_sealer.seal(ContentType.CHAT, 0, b"x"), 50.0),
    )


def test_statistics_count_every_reason_separately() -> None:
    s = make_session(local_filter=True)
    opener = s.openers[B]
    good = s.seal(A)
    attempts: list[tuple[SealedContent, float]] = [
        (good._replace(signature=good.signature[:10]), 0.0),  # malformed
        (good._replace(header=dataclasses.replace(good.header, session_id=OTHER_SID)), 0.0),
        (s.seal(A, recipient=C), 0.0),  # misrouted
        (good._replace(header=dataclasses.replace(good.header, epoch=9)), 0.0),
        (good._replace(header=dataclasses.replace(good.header, sender=OUTSIDER)), 0.0),
        (good._replace(ciphertext=b"\x00" * len(good.ciphertext)), 0.0),  # bad signature
    ]
    for sealed, now in attempts:
        with pytest.raises(CryptoError):
            opener.open(*sealed, now=now)
    confused = ContentSealer(SID, A, s.keys[A])
    confused.set_epoch(1, next_epoch_secret())
    with pytest.raises(OpenFailed):
        opener.open(*confused.seal(ContentType.CHAT, EVERYONE, b"x"), now=0.0)
    opener.open(*good, now=0.0)
    with pytest.raises(Replayed):
        opener.open(*good, now=0.0)
    stats = opener.statistics()
    assert stats.dropped_by_reason() == dict.fromkeys(stats.dropped_by_reason(), 1)
    assert stats.dropped == 8
    assert stats.opened == 1


# ------------------------------------------------------------------------------------------
# Local misuse


def test_sealer_misuse_raises_local_protocol_errors() -> None:
    sealer = ContentSealer(SID, A, Ed25519PrivateKey.generate())
    error = expect(LocalProtocolError, lambda: sealer.seal(ContentType.CHAT, 0, b"x"))
    assert isinstance(error, LocalProtocolError)
    assert error.code is ErrorCode.UNEXPECTED_MESSAGE
    sealer.set_epoch(2, next_epoch_secret())
    expect(LocalProtocolError, lambda: sealer.set_epoch(2, next_epoch_secret()))
    expect(LocalProtocolError, lambda: sealer.set_epoch(1, next_epoch_secret()))
    big = b"\x00" * (MAX_CONTENT_PLAINTEXT + 1)
    error = expect(LocalProtocolError, lambda: sealer.seal(ContentType.FILE_CHUNK, 0, big))
    assert isinstance(error, LocalProtocolError)
    assert error.code is ErrorCode.OVERSIZED
    expect(LocalProtocolError, lambda: sealer.seal(ContentType.CHAT, A, b"to myself"))
    expect(LocalProtocolError, lambda: sealer.seal(ContentType.CHAT, 2**32, b"nobody"))
    expect(LocalProtocolError, lambda: sealer.seal(ContentType.CHAT, -1, b"nobody"))
    expect(LocalProtocolError, lambda: sealer.seal(5, 0, b"a bare int is no content type"))  # type: ignore[arg-type]
    expect(LocalProtocolError, lambda: sealer.set_epoch(3, b"short"))
    # A bool is an int to struct, not to the header's fields: refused where it is set.
    fresh = ContentSealer(SID, A, Ed25519PrivateKey.generate())
    expect(LocalProtocolError, lambda: fresh.set_epoch(True, next_epoch_secret()))
    expect(LocalProtocolError, lambda: ContentSealer(SID, True, Ed25519PrivateKey.generate()))
    expect(LocalProtocolError, lambda: ContentSealer("12345", A, Ed25519PrivateKey.generate()))
    # A refused seal does not spend a counter.
    assert sealer.seal(ContentType.CHAT, 0, b"ok").header.counter == 1


def test_opener_misuse_raises_local_protocol_errors(session: Session) -> None:
    opener = session.openers[B]
    expect(LocalProtocolError, lambda: opener.install(1, next_epoch_secret(), {}, now=0.0))
    expect(LocalProtocolError, lambda: opener.install(2, next_epoch_secret(), {0: b"x"}, 0.0))
    expect(LocalProtocolError, lambda: ContentOpener(SID, grace_period=-1))
    expect(LocalProtocolError, lambda: ContentOpener("not a sid"))


def test_largest_plaintext_seals_and_opens(session: Session) -> None:
    big = bytes(MAX_CONTENT_PLAINTEXT)
    sealed = session.seal(A, big)
    assert session.openers[B].open_packed(sealed.pack(), now=0.0)[1] == big


def test_no_secret_in_repr(session: Session) -> None:
    texts = [
        repr(session.sealers[A]),
        repr(session.openers[A]),
        repr(session.openers[A].statistics()),
    ]
    raw_key = session.keys[A].private_bytes_raw()
    for text in texts:
        for raw in (session.secret, raw_key):
            assert raw.hex() not in text
            assert repr(raw) not in text


# ------------------------------------------------------------------------------------------
# Property tests


_PROPERTY_SESSION = make_session()


@settings(max_examples=100, deadline=None)
@given(
    plaintext=st.binary(max_size=4096),
    content_type=st.sampled_from(ContentType),
    recipient=st.sampled_from([EVERYONE, B]),
)
def test_property_seal_open_round_trip(
    plaintext: bytes, content_type: ContentType, recipient: int
) -> None:
    s = _PROPERTY_SESSION
    sealed = s.sealers[A].seal(content_type, recipient, plaintext)
    header, opened = s.openers[B].open_packed(sealed.pack(), now=0.0)
    assert opened == plaintext
    assert header == sealed.header
    assert unpack_sealed(sealed.pack()) == sealed


_FLIP_SESSION = make_session()
_FLIP_MESSAGE = _FLIP_SESSION.seal(A, b"flip me " * 8).pack()
# A second epoch is held too, so an epoch flip can land on a known epoch.
_FLIP_SESSION.openers[B].install(2, next_epoch_secret(), _FLIP_SESSION.members(), now=0.0)


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(0, len(_FLIP_MESSAGE) - 1),
    mask=st.integers(1, 255),
)
def test_property_any_single_byte_flip_is_rejected_with_a_crypto_error(
    position: int, mask: int
) -> None:
    wire = bytearray(_FLIP_MESSAGE)
    wire[position] ^= mask
    opener = _FLIP_SESSION.openers[B]
    before = opener.statistics()
    with pytest.raises(CryptoError):
        opener.open_packed(bytes(wire), now=0.0)
    after = opener.statistics()
    assert after.dropped == before.dropped + 1
    assert after.opened == before.opened == 0


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_property_garbage_is_always_a_crypto_error(data: bytes) -> None:
    with pytest.raises(CryptoError):
        _FLIP_SESSION.openers[C].open_packed(data, now=0.0)


def test_sealed_parts_are_the_header_and_frame_the_dataclasses_give() -> None:
    """The presenter's path (seal_parts → send_sealed) builds no dataclass: its header bytes
    and its frame must be exactly what ContentHeader.pack and encode_frame(Sealed) give."""
    sealer = ContentSealer(SID, B, Ed25519PrivateKey.generate())
    sealer.set_epoch(7, next_epoch_secret())
    sealer.seal(ContentType.CHAT, 0, b"spends counter 1")
    header, ciphertext, signature = sealer.seal_parts(ContentType.CURSOR, C, b"cursor at 3,4")
    expected = ContentHeader(
        version=1,
        content_type=ContentType.CURSOR,
        session_id=SID,
        epoch=7,
        sender=B,
        recipient=C,
        counter=2,
    )
    assert header == expected.pack()
    sealed = Sealed(header=expected, ciphertext=ciphertext, signature=signature)
    assert encode_sealed_frame(header, ciphertext, signature) == encode_frame(sealed)
    with pytest.raises(LocalProtocolError):
        encode_sealed_frame(header[:-1], ciphertext, signature)
    with pytest.raises(LocalProtocolError):
        encode_sealed_frame(header, ciphertext, signature + b"x")
    with pytest.raises(LocalProtocolError):
        encode_sealed_frame(header, b"short", signature)
