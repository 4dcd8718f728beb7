"""The joiner's side of admission, and what it ends up holding (:class:`Membership`).

    JOINING --on_challenge()--> CONFIRMING --on_grant()--> ADMITTED (on_rekey …)
       |                           |
       +------- any failure -------+--> FAILED (for good)

The joiner trusts nothing the relay says: it recomputes T from its own values plus the
relay-assigned peer id, requires the leader key's signature over it, and after the grant checks
that the roster it was handed is signed by that same key and contains its own certificate with the
peer id, name and member key it joined with. Which leader key that is, people confirm by comparing
the security code (:func:`~core.crypto.code.security_code`).

A grant that does not open means the leader derived different pair keys, i.e. a wrong password;
a decoy answer for an unknown session ends the same way, so the joiner cannot tell the two apart
(docs/design.md §4.3 step 6).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from core.crypto.admission_common import (
    ChallengeValues,
    JoinValues,
    KnockValues,
    PairKeys,
    admission_transcript,
    check_challenge,
    derive_pair_keys,
    joiner_confirmation,
    leader_confirmation,
    new_spake,
    spake_finish,
    verify_challenge_signature,
    x25519_public,
    x25519_shared,
)
from core.crypto.certs import member_keys, public_key_bytes, verify_roster
from core.crypto.code import security_code
from core.crypto.errors import BadCertificate, BadHandshake, CryptoError, OpenFailed, WrongPassword
from core.crypto.identity import identity_proof
from core.crypto.pair_channel import PairChannel
from core.crypto.primitives import macs_equal, session_id_bytes
from core.errors import ErrorCode, LocalProtocolError, ProtocolError
from core.protocol.names import display_name_problem
from core.protocol.pair import AdmissionGrant, MemberCertificate, ReKey, Roster
from core.protocol.wire import from_bytes


@dataclass(frozen=True, slots=True)
class EpochUpdate:
    """A verified re-key: the next epoch, its secret and the roster it belongs to."""

    epoch: int
    epoch_secret: bytes = field(repr=False)
    roster: Mapping[int, MemberCertificate] = field(repr=False)

    def member_keys(self) -> dict[int, bytes]:
        """Peer id → member key, for :meth:`ContentOpener.install`."""
        return member_keys(self.roster)


@dataclass(frozen=True, slots=True)
class Membership:
    """Everything a member holds after admission. Secrets are left out of ``repr``."""

    session_id: str
    peer_id: int
    name: str
    member_private_key: Ed25519PrivateKey = field(repr=False, compare=False)
    leader_public_key: bytes
    security_code: str
    epoch: int
    epoch_secret: bytes = field(repr=False)
    roster: Mapping[int, MemberCertificate] = field(repr=False)

    def member_keys(self) -> dict[int, bytes]:
        """Peer id → member key, for :meth:`ContentOpener.install`."""
        return member_keys(self.roster)


class JoinerState(Enum):
    JOINING = "joining"
    CONFIRMING = "confirming"
    ADMITTED = "admitted"
    FAILED = "failed"


class JoinerAdmission:
    """Join one session: JOIN values out, challenge in, confirmation out, grant in."""

    __slots__ = (
        "_ephemeral",
        "_epoch",
        "_identity",
        "_identity_proof",
        "_join",
        "_keys",
        "_leader_key",
        "_member_key",
        "_name",
        "_pair",
        "_peer_id",
        "_session_id",
        "_spake",
        "_state",
        "_transcript",
    )

    def __init__(
        self,
        session_id: str,
        name: str,
        password: str,
        identity: Ed25519PrivateKey | None = None,
    ) -> None:
        session_id_bytes(session_id)
        problem = display_name_problem(name)
        if problem is not None:
            raise LocalProtocolError(ErrorCode.BAD_FIELD, f"name: {problem}")
        self._session_id = session_id
        self._name = name
        # The password lives only inside the SPAKE2 object, which is dropped after finish().
        self._spake: Any = new_spake("A", session_id, password)
        spake_message: bytes = self._spake.start()
        self._ephemeral: X25519PrivateKey | None = X25519PrivateKey.generate()
        # A fresh member key per session: a member's identity in one session is unlinkable to
        # its identity in any other, and losing it loses nothing beyond this session.
        self._member_key = Ed25519PrivateKey.generate()
        self._join = JoinValues(
            ephemeral_key=x25519_public(self._ephemeral),
            spake_message=spake_message,
            member_key=public_key_bytes(self._member_key),
        )
        self._state = JoinerState.JOINING
        self._peer_id = 0
        self._leader_key = b""
        self._transcript = b""
        self._keys: PairKeys | None = None
        self._pair: PairChannel | None = None
        self._epoch = 0
        #: Proved during this admission when given (docs/design.md §4.3 step 7).
        self._identity = identity
        self._identity_proof: bytes | None = None

    def __repr__(self) -> str:
        return (
            f"<JoinerAdmission session={self._session_id} peer={self._peer_id or '?'} "
            f"state={self._state.value}>"
        )

    @property
    def state(self) -> JoinerState:
        return self._state

    @property
    def join_values(self) -> JoinValues:
        """The crypto fields of the JOIN message."""
        return self._join

    @property
    def member_public_key(self) -> bytes:
        return self._join.member_key

    def _require(self, state: JoinerState, action: str) -> None:
        if self._state is not state:
            raise LocalProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE,
                f"cannot {action} in state {self._state.value} (needs {state.value})",
            )

    def _fail(self) -> None:
        self._state = JoinerState.FAILED
        self._pair = None
        self._spake = None
        self._ephemeral = None
        self._keys = None

    def on_challenge(self, challenge: ChallengeValues) -> bytes:
        """Check the leader's signature over T, derive the pair keys, return our confirmation.

        Raises :class:`BadSignature` if LPK did not sign the transcript as we see it (the relay
        changed a value, or the peer id it gave us differs from the leader's),
        :class:`BadHandshake` for malformed values. Either fails the join for good.
        """
        self._require(JoinerState.JOINING, "take a challenge")
        assert self._ephemeral is not None
        try:
            check_challenge(challenge)
            knock = KnockValues(
                peer_id=challenge.peer_id, name=self._name, **dataclasses.asdict(self._join)
            )
            transcript = admission_transcript(self._session_id, knock, challenge)
            verify_challenge_signature(challenge, transcript)
            spake_key = spake_finish(self._spake, challenge.spake_message)
            dh_shared = x25519_shared(self._ephemeral, challenge.ephemeral_key)
        except CryptoError:
            self._fail()
            raise
        self._keys = derive_pair_keys(dh_shared, spake_key, transcript)
        # The pair channel exists from here on: its first member→leader message is the
        # identity proof, sent beside the confirmation (the leader opens it once it matches).
        self._pair = self._keys.member_channel(self._session_id, challenge.peer_id)
        if self._identity is not None:
            self._identity_proof = self._pair.seal(identity_proof(self._identity, transcript))
        self._spake = None
        self._ephemeral = None
        self._transcript = transcript
        self._peer_id = challenge.peer_id
        self._leader_key = challenge.leader_key
        self._state = JoinerState.CONFIRMING
        return joiner_confirmation(self._keys, transcript)

    @property
    def sealed_identity_proof(self) -> bytes | None:
        """The identity proof for ``Confirm.identity`` (after :meth:`on_challenge`), if any."""
        return self._identity_proof

    @property
    def identity_public_key(self) -> bytes | None:
        return public_key_bytes(self._identity) if self._identity is not None else None

    def on_grant(self, sealed: bytes) -> Membership:
        """Open the admission grant and verify everything in it.

        :class:`WrongPassword` if it does not open (the leader derived other keys: wrong password,
        or a decoy for an unknown session); :class:`BadHandshake` if it opens but is malformed or
        its leader confirmation does not match; :class:`BadCertificate` if the roster does not
        verify under LPK or lacks our own certificate.
        """
        self._require(JoinerState.CONFIRMING, "take a grant")
        assert self._keys is not None
        assert self._pair is not None
        try:
            pair = self._pair
            try:
                plaintext = pair.open(sealed)
            except OpenFailed:
                raise WrongPassword(
                    "the leader's grant does not open: wrong password or no such session"
                ) from None
            try:
                grant = from_bytes(AdmissionGrant, plaintext)
            except ProtocolError as exc:
                raise BadHandshake(f"admission grant is malformed: {exc.message}") from None
            expected = leader_confirmation(self._keys, self._transcript)
            if not macs_equal(grant.leader_confirmation, expected):
                raise BadHandshake("the leader's key confirmation does not match")
            roster = self._verified_roster(grant.roster)
        except CryptoError:
            self._fail()
            raise
        self._keys = None
        self._epoch = grant.epoch
        self._state = JoinerState.ADMITTED
        return Membership(
            session_id=self._session_id,
            peer_id=self._peer_id,
            name=self._name,
            member_private_key=self._member_key,
            leader_public_key=self._leader_key,
            security_code=security_code(self._leader_key),
            epoch=grant.epoch,
            epoch_secret=grant.epoch_secret,
            roster=roster,
        )

    @property
    def pair(self) -> PairChannel:
        """Our end of the pair channel with the leader (after admission)."""
        self._require(JoinerState.ADMITTED, "use the pair channel")
        assert self._pair is not None
        return self._pair

    def on_rekey(self, sealed: bytes) -> EpochUpdate:
        """Open and verify a re-key from the leader.

        A failure here drops that one message (the relay may have forged or replayed it) and
        leaves the membership as it was; the epoch must move forward.
        """
        plaintext = self.pair.open(sealed)
        try:
            rekey = from_bytes(ReKey, plaintext)
        except ProtocolError as exc:
            raise BadHandshake(f"re-key is malformed: {exc.message}") from None
        if rekey.epoch <= self._epoch:
            raise BadHandshake(f"re-key to epoch {rekey.epoch} does not follow {self._epoch}")
        roster = self._verified_roster(rekey.roster)
        self._epoch = rekey.epoch
        return EpochUpdate(epoch=rekey.epoch, epoch_secret=rekey.epoch_secret, roster=roster)

    def _verified_roster(self, roster: Roster) -> Mapping[int, MemberCertificate]:
        certs = verify_roster(roster, self._leader_key, self._session_id)
        mine = certs.get(self._peer_id)
        if mine is None or mine.name != self._name or mine.member_key != self._join.member_key:
            raise BadCertificate("the roster does not contain our own certificate")
        if mine.identity_key != self.identity_public_key:
            # The leader dropped (or a relay stripped) the identity we proved: it would not show.
            raise BadCertificate("our certificate does not carry the identity key we proved")
        return MappingProxyType(certs)
