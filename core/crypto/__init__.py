"""End-to-end crypto of ``porthole/1`` (docs/design.md §4): admission, pair channels, sealing.

Pure functions and small state machines: no I/O, no clocks (callers pass ``now``), randomness
only from the OS via ``secrets``/``cryptography``. Secrets never appear in a ``repr``.

* :class:`JoinerAdmission` / :class:`LeaderAdmission`: the SPAKE2 + X25519 handshake that admits
  one member, ending in a :class:`Membership` and a :class:`PairChannel` for re-keys.
* :func:`decoy_challenge`: the relay's indistinguishable answer for unknown session IDs.
* :func:`sign_certificate`, :func:`verify_roster`: leader-signed member certificates.
* :class:`ContentSealer` / :class:`ContentOpener`: per-epoch, per-sender AES-256-GCM, signed.
* :func:`security_code`: the digits people compare to rule out an impostor leader.
* :mod:`core.crypto.identity`: long-term identity keys, proved once per admission.
"""

from core.crypto.admission_common import (
    ChallengeValues,
    JoinValues,
    KnockValues,
)
from core.crypto.admission_joiner import EpochUpdate, JoinerAdmission, JoinerState, Membership
from core.crypto.admission_leader import LeaderAdmission, LeaderState
from core.crypto.certs import (
    member_keys,
    public_key_bytes,
    sign_certificate,
    verify_certificate,
    verify_roster,
)
from core.crypto.code import security_code
from core.crypto.decoy import decoy_challenge
from core.crypto.errors import (
    BadCertificate,
    BadHandshake,
    BadSignature,
    CryptoError,
    Malformed,
    Misrouted,
    OpenFailed,
    Replayed,
    UnknownEpoch,
    UnknownSender,
    WrongPassword,
    WrongSession,
)
from core.crypto.pair_channel import MAX_PAIR_PLAINTEXT, Direction, PairChannel
from core.crypto.primitives import transcript_hash
from core.crypto.sealing import (
    DEFAULT_GRACE_PERIOD,
    ContentOpener,
    ContentSealer,
    OpenerStatistics,
    SealedContent,
    next_epoch_secret,
    unpack_sealed,
)

__all__ = (
    "DEFAULT_GRACE_PERIOD",
    "MAX_PAIR_PLAINTEXT",
    "BadCertificate",
    "BadHandshake",
    "BadSignature",
    "ChallengeValues",
    "ContentOpener",
    "ContentSealer",
    "CryptoError",
    "Direction",
    "EpochUpdate",
    "JoinValues",
    "JoinerAdmission",
    "JoinerState",
    "KnockValues",
    "LeaderAdmission",
    "LeaderState",
    "Malformed",
    "Membership",
    "Misrouted",
    "OpenFailed",
    "OpenerStatistics",
    "PairChannel",
    "Replayed",
    "SealedContent",
    "UnknownEpoch",
    "UnknownSender",
    "WrongPassword",
    "WrongSession",
    "decoy_challenge",
    "member_keys",
    "next_epoch_secret",
    "public_key_bytes",
    "security_code",
    "sign_certificate",
    "transcript_hash",
    "unpack_sealed",
    "verify_certificate",
    "verify_roster",
)
