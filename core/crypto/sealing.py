"""The content plane: seal, sign, open and verify what members share (docs/design.md §4.4).

Key schedule, per epoch ``e`` (secret ``S_e``, 32 bytes) and sender ``s``::

    key (32) ‖ nonce salt (12) = HKDF-SHA256(S_e, salt = none,
                                             info = "porthole/1 content" ‖ sid ‖ u32 e ‖ u32 s)
    nonce     = salt XOR (u64 counter, big-endian, in the low 8 bytes)
    aad       = ContentHeader.pack()      (version, type, sid, e, s, recipient, counter)
    signature = Ed25519_member("porthole/1 content" ‖ aad ‖ ciphertext)

Why a key per sender: every member of an epoch holds S_e, so with one shared key two senders
would reuse nonces. Deriving per sender makes each (key, nonce) pair unique as long as each sender
never repeats a counter, which :class:`ContentSealer` guarantees by never resetting it. The AEAD
keeps the relay and removed members out; the signature stops a *member* (who holds S_e and could
seal anything) from speaking as another member: it is checked against the sender's certificate key.

Receivers (:class:`ContentOpener`) check cheapest-first and count every drop by reason.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.crypto.errors import (
    CONTENT_DROP_REASONS,
    BadSignature,
    CryptoError,
    Malformed,
    Misrouted,
    OpenFailed,
    Replayed,
    UnknownEpoch,
    UnknownSender,
    WrongSession,
)
from core.crypto.primitives import hkdf_sha256, session_id_bytes, u32
from core.errors import ErrorCode, LocalProtocolError, ProtocolError
from core.protocol.content import (
    EVERYONE,
    GCM_TAG_SIZE,
    MAX_CIPHERTEXT,
    MAX_CONTENT_PLAINTEXT,
    PROTOCOL_VERSION,
    SIGNATURE_SIZE,
    ContentHeader,
    ContentType,
)
from core.protocol.pair import KEY_SIZE, SECRET_SIZE

_CONTENT_DOMAIN = b"porthole/1 content"
_NONCE_SIZE = 12
_MAX_COUNTER = 2**64 - 1
_MAX_U32 = 2**32 - 1
#: :meth:`ContentHeader.pack`'s layout (version, type, sid, epoch, sender, recipient, counter),
#: packed in one call by the sealer: building and encoding the dataclass cost a keystroke's
#: update more than its encryption (see :meth:`ContentSealer.seal_parts`).
_HEADER = struct.Struct(">BBIIIIQ")
#: How long an older epoch stays openable after a newer one is installed, by default. Long enough
#: for messages sealed just before the sender saw the re-key to arrive through the relay.
DEFAULT_GRACE_PERIOD = 10.0


def next_epoch_secret() -> bytes:
    """A fresh S_e for the leader to hand out on a membership change."""
    return secrets.token_bytes(SECRET_SIZE)


def content_key_and_salt(
    epoch_secret: bytes, session_id: str, epoch: int, sender: int
) -> tuple[bytes, bytes]:
    """The AES-256-GCM key and 12-byte nonce salt of one sender in one epoch."""
    if len(epoch_secret) != SECRET_SIZE:
        raise LocalProtocolError(ErrorCode.BAD_FIELD, f"epoch secret must be {SECRET_SIZE} bytes")
    info = _CONTENT_DOMAIN + session_id_bytes(session_id) + u32(epoch) + u32(sender)
    okm = hkdf_sha256(epoch_secret, salt=None, info=info, length=32 + _NONCE_SIZE)
    return okm[:32], okm[32:]


def content_nonce(salt: bytes, counter: int) -> bytes:
    """``salt XOR counter``, the counter as a big-endian u64 in the low 8 bytes."""
    return (int.from_bytes(salt, "big") ^ counter).to_bytes(_NONCE_SIZE, "big")


def _signed_bytes(aad: bytes, ciphertext: bytes) -> bytes:
    return _CONTENT_DOMAIN + aad + ciphertext


class SealedContent(NamedTuple):
    """One sealed message as the relay sees it: clear header, ciphertext, sender signature."""

    header: ContentHeader
    ciphertext: bytes
    signature: bytes

    def pack(self) -> bytes:
        """``header ‖ ciphertext ‖ signature``, the on-the-wire layout."""
        return self.header.pack() + self.ciphertext + self.signature


MIN_SEALED_SIZE = ContentHeader.SIZE + GCM_TAG_SIZE + SIGNATURE_SIZE
MAX_SEALED_SIZE = ContentHeader.SIZE + MAX_CIPHERTEXT + SIGNATURE_SIZE


def unpack_sealed(data: bytes) -> SealedContent:
    """Split ``header ‖ ciphertext ‖ signature``; :class:`Malformed` if sizes or header are off."""
    if not MIN_SEALED_SIZE <= len(data) <= MAX_SEALED_SIZE:
        raise Malformed(f"a {len(data)}-byte sealed message has an impossible size")
    try:
        header = ContentHeader.unpack(bytes(data[: ContentHeader.SIZE]))
    except ProtocolError as exc:
        raise Malformed(f"clear header does not decode: {exc.message}") from None
    return SealedContent(
        header=header,
        ciphertext=bytes(data[ContentHeader.SIZE : -SIGNATURE_SIZE]),
        signature=bytes(data[-SIGNATURE_SIZE:]),
    )


class ContentSealer:
    """Seals and signs this member's outgoing content under the current epoch.

    The counter starts at 1 and only ever goes up, across epochs too: nonce uniqueness then
    never depends on epochs being set in the right order.
    """

    __slots__ = (
        "_aead",
        "_counter",
        "_epoch",
        "_key",
        "_salt",
        "_sender",
        "_session_id",
        "_session_number",
    )

    def __init__(
        self, session_id: str, sender_peer_id: int, member_private_key: Ed25519PrivateKey
    ) -> None:
        session_id_bytes(session_id)
        # Checked here once, as strictly as ContentHeader checks them: seal_parts packs them
        # as they are (a bool is an int to struct, not to the header's fields).
        if type(sender_peer_id) is not int or not 1 <= sender_peer_id <= _MAX_U32:
            raise LocalProtocolError(ErrorCode.BAD_FIELD, "sender peer id out of range")
        self._session_id = session_id
        self._session_number = int(session_id)
        self._sender = sender_peer_id
        self._key = member_private_key
        self._epoch = 0
        self._aead: AESGCM | None = None
        self._salt = b""
        self._counter = 0

    def __repr__(self) -> str:
        return (
            f"<ContentSealer session={self._session_id} sender={self._sender} "
            f"epoch={self._epoch} counter={self._counter}>"
        )

    @property
    def epoch(self) -> int:
        """The epoch new messages are sealed under (0 before :meth:`set_epoch`)."""
        return self._epoch

    def set_epoch(self, epoch: int, secret: bytes) -> None:
        """Switch to a newer epoch (on receiving its secret); the old key is forgotten."""
        if type(epoch) is not int or not self._epoch < epoch <= _MAX_U32:
            raise LocalProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE, f"epoch {epoch!r} does not follow {self._epoch}"
            )
        key, salt = content_key_and_salt(secret, self._session_id, epoch, self._sender)
        self._aead = AESGCM(key)
        self._salt = salt
        self._epoch = epoch

    def seal(self, content_type: ContentType, recipient: int, plaintext: bytes) -> SealedContent:
        """Encrypt and sign one message for ``recipient`` (:data:`EVERYONE` = 0 for all)."""
        header, ciphertext, signature = self.seal_parts(content_type, recipient, plaintext)
        return SealedContent(ContentHeader.unpack(header), ciphertext, signature)

    def seal_parts(
        self, content_type: ContentType, recipient: int, plaintext: bytes
    ) -> tuple[bytes, bytes, bytes]:
        """:meth:`seal` as bytes: the packed header (the AAD), the ciphertext and the signature,
        what :func:`~core.protocol.framing.encode_sealed_frame` puts on the wire. Every header
        field is checked here (session, epoch and sender were checked when set), so no
        :class:`ContentHeader` is built: the presenter seals once a keystroke, with cold
        caches, where each object built costs microseconds."""
        if self._aead is None:
            raise LocalProtocolError(ErrorCode.UNEXPECTED_MESSAGE, "no epoch set: cannot seal")
        if len(plaintext) > MAX_CONTENT_PLAINTEXT:
            raise LocalProtocolError(
                ErrorCode.OVERSIZED,
                f"{len(plaintext)}-byte content exceeds {MAX_CONTENT_PLAINTEXT} bytes",
            )
        if type(content_type) is not ContentType:
            raise LocalProtocolError(ErrorCode.BAD_FIELD, f"{content_type!r} is not a content type")
        if type(recipient) is not int or not 0 <= recipient <= _MAX_U32:
            raise LocalProtocolError(ErrorCode.BAD_FIELD, f"recipient {recipient!r} out of range")
        if recipient == self._sender:
            raise LocalProtocolError(ErrorCode.BAD_FIELD, "a member does not send to itself")
        if self._counter >= _MAX_COUNTER:
            raise LocalProtocolError(ErrorCode.OVERSIZED, "content counter exhausted")
        counter = self._counter + 1
        header = _HEADER.pack(
            PROTOCOL_VERSION,
            content_type,
            self._session_number,
            self._epoch,
            self._sender,
            recipient,
            counter,
        )
        self._counter = counter  # spent only once the header exists: a refusal spends none
        ciphertext = self._aead.encrypt(content_nonce(self._salt, counter), plaintext, header)
        signature = self._key.sign(_signed_bytes(header, ciphertext))
        return header, ciphertext, signature


@dataclass(frozen=True, slots=True)
class OpenerStatistics:
    """Counters of a :class:`ContentOpener` (trio-style ``statistics()``)."""

    opened: int
    dropped_malformed: int
    dropped_wrong_session: int
    dropped_misrouted: int
    dropped_unknown_epoch: int
    dropped_unknown_sender: int
    dropped_bad_signature: int
    dropped_replayed: int
    dropped_open_failed: int
    epochs_held: int
    newest_epoch: int

    @property
    def dropped(self) -> int:
        """All drops, whatever the reason."""
        return sum(self.dropped_by_reason().values())

    def dropped_by_reason(self) -> dict[str, int]:
        """Reason slug (:attr:`CryptoError.reason`) → count."""
        return {reason: getattr(self, f"dropped_{reason}") for reason in CONTENT_DROP_REASONS}


class _Sender:
    """One sender's keys within one epoch (its replay window spans epochs: the opener's)."""

    __slots__ = ("aead", "salt", "verifier")

    def __init__(self, aead: AESGCM, salt: bytes, verifier: Ed25519PublicKey) -> None:
        self.aead = aead
        self.salt = salt
        self.verifier = verifier


class _Epoch:
    __slots__ = ("expires_at", "senders")

    def __init__(self, senders: dict[int, _Sender]) -> None:
        self.senders = senders
        self.expires_at: float | None = None


class ContentOpener:
    """The keyring of one member: opens and verifies content from every epoch it still holds.

    Checks, in this order (each failure raises and is counted under its reason):
    sizes and header encoding (``malformed``), session ID (``wrong_session``), addressed to us
    and not our own (``misrouted``, only when ``local_peer_id`` is given), epoch held
    (``unknown_epoch``), sender in that epoch's roster (``unknown_sender``), Ed25519 signature
    (``bad_signature``), counter above the last accepted from that sender in any epoch
    (``replayed``), AES-GCM (``open_failed``).
    The replay window advances only after all of them pass, so nothing forged can move it.
    """

    __slots__ = (
        "_counts",
        "_epochs",
        "_grace",
        "_last_counter",
        "_local",
        "_newest",
        "_opened",
        "_session_id",
    )

    def __init__(
        self,
        session_id: str,
        *,
        local_peer_id: int | None = None,
        grace_period: float = DEFAULT_GRACE_PERIOD,
    ) -> None:
        session_id_bytes(session_id)
        if grace_period < 0:
            raise LocalProtocolError(ErrorCode.BAD_FIELD, "grace period cannot be negative")
        self._session_id = session_id
        self._local = local_peer_id
        self._grace = grace_period
        self._epochs: dict[int, _Epoch] = {}
        #: Last accepted counter per sender, across epochs: a sender's counter never resets
        #: (see ContentSealer), so a message held back from an older epoch that is still in
        #: its grace period cannot be delivered late either.
        self._last_counter: dict[int, int] = {}
        self._newest = 0
        self._opened = 0
        self._counts = dict.fromkeys(CONTENT_DROP_REASONS, 0)

    def __repr__(self) -> str:
        return (
            f"<ContentOpener session={self._session_id} epochs={sorted(self._epochs)} "
            f"opened={self._opened}>"
        )

    @property
    def epochs(self) -> tuple[int, ...]:
        """Epochs currently held, oldest first."""
        return tuple(sorted(self._epochs))

    def install(self, epoch: int, secret: bytes, members: Mapping[int, bytes], now: float) -> None:
        """Hold a newer epoch; older ones stay openable for the grace period, then go.

        ``members`` maps each peer id of that epoch's verified roster to its member public key.
        Per-sender keys are derived here, so ``secret`` itself is not kept.
        """
        if not self._newest < epoch <= _MAX_U32:
            raise LocalProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE, f"epoch {epoch} does not follow {self._newest}"
            )
        senders: dict[int, _Sender] = {}
        for peer_id, key in members.items():
            if not 1 <= peer_id <= _MAX_U32 or len(key) != KEY_SIZE:
                raise LocalProtocolError(ErrorCode.BAD_FIELD, f"bad roster entry for {peer_id}")
            aead_key, salt = content_key_and_salt(secret, self._session_id, epoch, peer_id)
            senders[peer_id] = _Sender(
                AESGCM(aead_key), salt, Ed25519PublicKey.from_public_bytes(key)
            )
        for held in self._epochs.values():
            if held.expires_at is None:
                held.expires_at = now + self._grace
        self._epochs[epoch] = _Epoch(senders)
        self._newest = epoch
        self.expire(now)

    def expire(self, now: float) -> None:
        """Erase every older epoch whose grace period has run out."""
        for epoch in [e for e, h in self._epochs.items() if h.expires_at is not None]:
            expires_at = self._epochs[epoch].expires_at
            assert expires_at is not None
            if now >= expires_at:
                del self._epochs[epoch]

    def open(self, header: ContentHeader, ciphertext: bytes, signature: bytes, now: float) -> bytes:
        """Verify and decrypt one message, or raise (and count) a :class:`CryptoError`."""
        try:
            plaintext = self._open(header, ciphertext, signature, now)
        except CryptoError as exc:
            self._counts[exc.reason] += 1
            raise
        self._opened += 1
        return plaintext

    def open_packed(self, data: bytes, now: float) -> tuple[ContentHeader, bytes]:
        """Split ``header ‖ ciphertext ‖ signature`` and :meth:`open` it; returns the verified
        header (whose type says how to decode the plaintext) and the plaintext."""
        try:
            sealed = unpack_sealed(data)
        except CryptoError as exc:
            self._counts[exc.reason] += 1
            raise
        return sealed.header, self.open(*sealed, now)

    def _open(
        self, header: ContentHeader, ciphertext: bytes, signature: bytes, now: float
    ) -> bytes:
        if not GCM_TAG_SIZE <= len(ciphertext) <= MAX_CIPHERTEXT:
            raise Malformed(f"a {len(ciphertext)}-byte ciphertext has an impossible size")
        if len(signature) != SIGNATURE_SIZE:
            raise Malformed(f"a signature is {SIGNATURE_SIZE} bytes, got {len(signature)}")
        try:
            aad = header.pack()
        except ProtocolError as exc:
            raise Malformed(f"clear header is invalid: {exc.message}") from None
        if header.session_id != self._session_id:
            raise WrongSession("message belongs to another session")
        if self._local is not None and (
            header.sender == self._local or header.recipient not in (EVERYONE, self._local)
        ):
            raise Misrouted(f"message from {header.sender} to {header.recipient} is not for us")
        self.expire(now)
        held = self._epochs.get(header.epoch)
        if held is None:
            raise UnknownEpoch(f"epoch {header.epoch} is not held")
        sender = held.senders.get(header.sender)
        if sender is None:
            raise UnknownSender(f"peer {header.sender} is not in epoch {header.epoch}'s roster")
        try:
            sender.verifier.verify(signature, _signed_bytes(aad, ciphertext))
        except InvalidSignature:
            raise BadSignature(f"signature does not match peer {header.sender}'s key") from None
        last = self._last_counter.get(header.sender, 0)
        if header.counter <= last:
            raise Replayed(
                f"counter {header.counter} from peer {header.sender} is not after {last}"
            )
        try:
            plaintext = sender.aead.decrypt(
                content_nonce(sender.salt, header.counter), ciphertext, aad
            )
        except InvalidTag:
            raise OpenFailed("ciphertext failed authentication") from None
        self._last_counter[header.sender] = header.counter
        return plaintext

    def statistics(self) -> OpenerStatistics:
        """A snapshot of the counters."""
        return OpenerStatistics(
            opened=self._opened,
            epochs_held=len(self._epochs),
            newest_epoch=self._newest,
            **{f"dropped_{reason}": count for reason, count in self._counts.items()},
        )
