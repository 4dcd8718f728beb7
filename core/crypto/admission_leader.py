"""The leader's side of admitting one joiner: one knock, one small state machine.

    CHALLENGED --check_confirmation(ok)--> CONFIRMED --grant()--> GRANTED (seal_rekey …)
        |
        +--check_confirmation(mismatch)--> FAILED (for good)

The challenge is computed when the knock arrives (constructor), so the object exists only for a
well-formed knock: a malformed one raises :class:`~core.crypto.errors.BadHandshake` right away and
the caller refuses the join exactly as for a wrong password. Between CONFIRMED and ``grant`` the
organizer may be asked to approve the knock (password-less sessions); that decision is not crypto
and lives outside. After GRANTED this object *is* the leader's end of the member's pair channel:
every re-key for that member goes through :meth:`LeaderAdmission.seal_rekey`.
"""

from __future__ import annotations

from enum import Enum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.crypto.admission_common import (
    ChallengeValues,
    KnockValues,
    PairKeys,
    joiner_confirmation,
    leader_confirmation,
    respond_to_knock,
)
from core.crypto.errors import CryptoError, WrongPassword
from core.crypto.identity import verify_identity_proof
from core.crypto.pair_channel import PairChannel
from core.crypto.primitives import macs_equal
from core.errors import ErrorCode, LocalProtocolError
from core.protocol.pair import (
    AdmissionGrant,
    MemberCertificate,
    ReKey,
    Roster,
    Standing,
)
from core.protocol.wire import to_bytes


class LeaderState(Enum):
    CHALLENGED = "challenged"
    CONFIRMED = "confirmed"
    GRANTED = "granted"
    FAILED = "failed"


class LeaderAdmission:
    """Admit (or refuse) one knock. Holds no password after construction."""

    __slots__ = (
        "_challenge",
        "_identity",
        "_keys",
        "_knock",
        "_pair",
        "_session_id",
        "_state",
        "_transcript",
    )

    def __init__(
        self,
        session_id: str,
        password: str,
        leader_key: Ed25519PrivateKey,
        knock: KnockValues,
    ) -> None:
        response = respond_to_knock(session_id, password, leader_key, knock)
        self._session_id = session_id
        self._knock = knock
        self._challenge = response.challenge
        self._transcript = response.transcript
        self._keys: PairKeys | None = response.keys
        self._pair: PairChannel | None = None
        self._identity: bytes | None = None
        self._state = LeaderState.CHALLENGED

    def __repr__(self) -> str:
        return (
            f"<LeaderAdmission session={self._session_id} peer={self._knock.peer_id} "
            f"state={self._state.value}>"
        )

    @property
    def state(self) -> LeaderState:
        return self._state

    @property
    def knock(self) -> KnockValues:
        return self._knock

    @property
    def peer_id(self) -> int:
        return self._knock.peer_id

    @property
    def challenge(self) -> ChallengeValues:
        """The answer to send to the joiner (public values only)."""
        return self._challenge

    def member_certificate(self, standing: Standing = Standing.PARTICIPANT) -> MemberCertificate:
        """The certificate this joiner gets (sign it with the leader key for the roster)."""
        return MemberCertificate(
            session_id=self._session_id,
            peer_id=self._knock.peer_id,
            name=self._knock.name,
            member_key=self._knock.member_key,
            standing=standing,
            identity_key=self._identity,
        )

    @property
    def identity_key(self) -> bytes | None:
        """The identity key the joiner proved it holds (after :meth:`check_confirmation`)."""
        return self._identity

    def _require(self, state: LeaderState, action: str) -> None:
        if self._state is not state:
            raise LocalProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE,
                f"cannot {action} in state {self._state.value} (needs {state.value})",
            )

    def check_confirmation(self, mac: bytes, sealed_identity: bytes | None = None) -> None:
        """Accept the joiner's key confirmation, or fail for good with :class:`WrongPassword`.

        A mismatch means the joiner derived different keys: a wrong password (or a relay
        guessing one). One guess per handshake: the object never leaves FAILED, so a second
        MAC cannot be tried against the same SPAKE2 run.

        ``sealed_identity`` is the joiner's identity proof on the pair channel: it must open and
        sign this admission's transcript, else the admission fails for good with the
        :class:`CryptoError` that says why (a proof from another admission, replayed by the
        relay or a member, is sealed under other keys and signs another T).
        """
        self._require(LeaderState.CHALLENGED, "check a confirmation")
        assert self._keys is not None
        expected = joiner_confirmation(self._keys, self._transcript)
        if not isinstance(mac, bytes) or not macs_equal(mac, expected):
            self._state = LeaderState.FAILED
            self._keys = None
            raise WrongPassword(f"peer {self._knock.peer_id} failed key confirmation")
        pair = self._keys.leader_channel(self._session_id, self._knock.peer_id)
        if sealed_identity is not None:
            try:
                self._identity = verify_identity_proof(pair.open(sealed_identity), self._transcript)
            except CryptoError:
                self._state = LeaderState.FAILED
                self._keys = None
                raise
        self._pair = pair
        self._state = LeaderState.CONFIRMED

    def grant(self, epoch: int, epoch_secret: bytes, roster: Roster) -> bytes:
        """Seal the admission grant: leader confirmation, epoch, S_e, signed roster.

        ``roster`` must already contain this joiner's signed certificate (see
        :meth:`member_certificate`); the joiner refuses a grant without it.
        """
        self._require(LeaderState.CONFIRMED, "grant admission")
        assert self._keys is not None
        self._check_roster(roster)
        grant = AdmissionGrant(
            leader_confirmation=leader_confirmation(self._keys, self._transcript),
            epoch=epoch,
            epoch_secret=epoch_secret,
            roster=roster,
        )
        plaintext = to_bytes(grant)
        assert self._pair is not None
        sealed = self._pair.seal(plaintext)
        # Confirmation keys are done with; only the channel keys live on (inside the channel).
        self._keys = None
        self._state = LeaderState.GRANTED
        return sealed

    @property
    def pair(self) -> PairChannel:
        """The leader's end of this member's pair channel (after :meth:`grant`)."""
        self._require(LeaderState.GRANTED, "use the pair channel")
        assert self._pair is not None
        return self._pair

    def seal_rekey(self, rekey: ReKey) -> bytes:
        """Seal the next epoch secret for this member (it must still be in the roster)."""
        self._check_roster(rekey.roster)
        return self.pair.seal(to_bytes(rekey))

    def _check_roster(self, roster: Roster) -> None:
        expected = self.member_certificate()
        for signed in roster:
            cert = signed.certificate
            if (
                cert.peer_id == expected.peer_id
                and cert.session_id == expected.session_id
                and cert.name == expected.name
                and cert.member_key == expected.member_key
            ):
                return
        raise LocalProtocolError(
            ErrorCode.BAD_FIELD, f"roster lacks the certificate of peer {expected.peer_id}"
        )
