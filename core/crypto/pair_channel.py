"""The pair channel: leader ↔ one member, keyed by that member's admission handshake.

It carries the admission grant and every later re-key (docs/design.md §4.3 step 4 and §4.5), which
the relay forwards as opaque bytes. One :class:`PairChannel` object holds both directions of one
side: it seals with its own sending key and opens with the peer's.

Sealed format: ``u64 counter ‖ AES-256-GCM(ciphertext ‖ tag)``, nonce = 4 zero bytes ‖ counter.
Each direction has its own key, so a nonce never repeats under one key as long as the counter only
goes up, which :meth:`PairChannel.seal` guarantees. The AAD binds ``"porthole/1 pair"``, the
session ID, the member's peer id and the direction, so a blob cannot be reflected back to its
sender or replayed into another member's or session's channel even if keys were ever shared.
Receiving requires the counter to be strictly above the last accepted one: the relay can drop
pair messages (and thereby deny service) but cannot replay or reorder them.
"""

from __future__ import annotations

from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.crypto.errors import Malformed, OpenFailed, Replayed
from core.crypto.primitives import session_id_bytes, u32, u64
from core.errors import ErrorCode, LocalProtocolError

_PAIR_DOMAIN = b"porthole/1 pair"
_COUNTER_SIZE = 8
_TAG_SIZE = 16
_MAX_COUNTER = 2**64 - 1

#: Upper bound on one pair-channel plaintext. The largest message is an admission grant with a
#: full roster: 70 bytes + 64 certificates of at most 171 bytes ≈ 11 KiB; 16 KiB leaves room.
MAX_PAIR_PLAINTEXT = 16 * 1024
MAX_PAIR_SEALED = _COUNTER_SIZE + MAX_PAIR_PLAINTEXT + _TAG_SIZE
MIN_PAIR_SEALED = _COUNTER_SIZE + _TAG_SIZE


class Direction(IntEnum):
    """Which way a pair-channel message travels (bound into the AAD)."""

    LEADER_TO_MEMBER = 1
    MEMBER_TO_LEADER = 2


class PairChannel:
    """One side of a leader ↔ member channel: seal outgoing, open incoming, in order."""

    __slots__ = ("_aad_in", "_aad_out", "_last_received", "_open_key", "_seal_key", "_sent")

    def __init__(
        self,
        *,
        session_id: str,
        peer_id: int,
        sending: Direction,
        send_key: bytes,
        receive_key: bytes,
    ) -> None:
        if len(send_key) != 32 or len(receive_key) != 32:
            raise LocalProtocolError(ErrorCode.BAD_FIELD, "pair keys are 32 bytes")
        if send_key == receive_key:
            # Same key both ways would let the relay reflect our own messages back to us.
            raise LocalProtocolError(ErrorCode.BAD_FIELD, "pair keys must differ per direction")
        receiving = (
            Direction.MEMBER_TO_LEADER
            if sending is Direction.LEADER_TO_MEMBER
            else Direction.LEADER_TO_MEMBER
        )
        prefix = _PAIR_DOMAIN + session_id_bytes(session_id) + u32(peer_id)
        self._aad_out = prefix + bytes([sending])
        self._aad_in = prefix + bytes([receiving])
        self._seal_key = AESGCM(send_key)
        self._open_key = AESGCM(receive_key)
        self._sent = 0
        self._last_received = 0

    def __repr__(self) -> str:
        return f"<PairChannel sent={self._sent} last_received={self._last_received}>"

    @staticmethod
    def _nonce(counter: int) -> bytes:
        return bytes(4) + u64(counter)

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt the next outgoing message; counters start at 1 and never repeat."""
        if len(plaintext) > MAX_PAIR_PLAINTEXT:
            raise LocalProtocolError(
                ErrorCode.OVERSIZED,
                f"{len(plaintext)}-byte pair message exceeds {MAX_PAIR_PLAINTEXT} bytes",
            )
        if self._sent >= _MAX_COUNTER:
            raise LocalProtocolError(ErrorCode.OVERSIZED, "pair channel counter exhausted")
        self._sent += 1
        counter = self._sent
        return u64(counter) + self._seal_key.encrypt(self._nonce(counter), plaintext, self._aad_out)

    def open(self, data: bytes) -> bytes:
        """Decrypt the next incoming message.

        Raises :class:`Malformed` for a wrong size (checked before anything else),
        :class:`Replayed` for a counter not above the last accepted one, :class:`OpenFailed` if
        authentication fails. The window only advances after a successful open, so a forgery
        cannot push it.
        """
        if not MIN_PAIR_SEALED <= len(data) <= MAX_PAIR_SEALED:
            raise Malformed(f"a {len(data)}-byte pair message has an impossible size")
        counter = int.from_bytes(data[:_COUNTER_SIZE], "big")
        if counter <= self._last_received:
            raise Replayed(f"pair message {counter} is not after {self._last_received}")
        try:
            plaintext = self._open_key.decrypt(
                self._nonce(counter), bytes(data[_COUNTER_SIZE:]), self._aad_in
            )
        except InvalidTag:
            raise OpenFailed("pair message failed authentication") from None
        self._last_received = counter
        return plaintext
