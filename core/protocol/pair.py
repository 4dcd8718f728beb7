"""Structures the leader sends to one member over its pair channel, and member certificates.

The pair channel is keyed by the admission handshake (docs/design.md §4.3, §4.5): only the leader
and that one member can read it. It carries the admission grant (the leader's key confirmation, the
current epoch secret and the roster) and, on every membership change, the next epoch secret. The
relay forwards these as opaque sealed bytes.

Member certificates bind a relay-assigned peer id to a name and a member signing key, signed by
the per-session leader key, so a member cannot impersonate another and the relay cannot invent
one. The certificate carries the member's *standing* (organizer or participant); who presents or
controls is live session state on the control plane, not baked into signed identities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Annotated

from core.protocol.wire import U32, Digits, Enum, FixedBytes, ListOf, Optional, Struct, Text

#: Most members one session may hold (roster and certificate lists are bounded by it).
MAX_MEMBERS = 64
NAME_MAX_BYTES = 64
KEY_SIZE = 32
SIGNATURE_SIZE = 64
SECRET_SIZE = 32
MAC_SIZE = 32
#: An identity proof (core/crypto/identity.py): the identity public key and its signature.
IDENTITY_PROOF_SIZE = KEY_SIZE + SIGNATURE_SIZE
#: The proof as the pair channel seals it: u64 counter, ciphertext, 16-byte GCM tag.
SEALED_IDENTITY_PROOF_SIZE = 8 + IDENTITY_PROOF_SIZE + 16


class Standing(IntEnum):
    ORGANIZER = 1
    PARTICIPANT = 2


@dataclass(frozen=True, slots=True)
class MemberCertificate:
    session_id: Annotated[str, Digits(9)]
    peer_id: Annotated[int, U32(1)]
    name: Annotated[str, Text(NAME_MAX_BYTES, min_chars=1)]
    member_key: Annotated[bytes, FixedBytes(KEY_SIZE)]
    standing: Annotated[Standing, Enum(Standing)]
    #: The long-term identity key this member proved it holds during admission, if it chose to
    #: (docs/design.md §4.3 step 7); the leader certifies only a verified one.
    identity_key: Annotated[bytes | None, Optional(FixedBytes(KEY_SIZE))] = None


@dataclass(frozen=True, slots=True)
class SignedCertificate:
    certificate: Annotated[MemberCertificate, Struct(MemberCertificate)]
    signature: Annotated[bytes, FixedBytes(SIGNATURE_SIZE)]


Roster = tuple[SignedCertificate, ...]


@dataclass(frozen=True, slots=True)
class AdmissionGrant:
    """The first pair-channel message: proves the leader knew the password, hands over keys."""

    leader_confirmation: Annotated[bytes, FixedBytes(MAC_SIZE)]
    epoch: Annotated[int, U32(1)]
    epoch_secret: Annotated[bytes, FixedBytes(SECRET_SIZE)] = field(repr=False)
    roster: Annotated[Roster, ListOf(Struct(SignedCertificate), MAX_MEMBERS)] = field(repr=False)


@dataclass(frozen=True, slots=True)
class ReKey:
    """A membership change: the next epoch secret and the roster it belongs to."""

    epoch: Annotated[int, U32(1)]
    epoch_secret: Annotated[bytes, FixedBytes(SECRET_SIZE)] = field(repr=False)
    roster: Annotated[Roster, ListOf(Struct(SignedCertificate), MAX_MEMBERS)] = field(repr=False)
