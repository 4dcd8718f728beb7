"""The relay's answer to a JOIN for a session ID that does not exist (docs/design.md §4.3 step 6).

If the relay answered "no such session" an attacker could enumerate live session IDs. Instead it
plays a leader that nobody's password matches: a real ephemeral key, a SPAKE2 message over a
random password, a throwaway Ed25519 key, and a *valid* signature over the real transcript T
(T holds no secrets, so the relay can compute it). The joiner's signature check passes exactly as
for a real session; its confirmation then cannot match, the relay refuses it with the same
``JOIN_REFUSED`` it uses for a wrong password, and no grant ever opens.

It runs the very same code as the real leader (:func:`respond_to_knock`), so it validates the
knock identically (a knock a leader would refuse is refused here with the same error) and spends
comparable CPU. Matching the *latency* of a real leader round trip is the relay's job.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.crypto.admission_common import ChallengeValues, KnockValues, respond_to_knock


def decoy_challenge(session_id: str, knock: KnockValues) -> ChallengeValues:
    """A challenge indistinguishable from a real leader's whose password the joiner lacks.

    Raises :class:`~core.crypto.errors.BadHandshake` for a malformed knock, as a leader would.
    """
    random_password = secrets.token_urlsafe(32)
    throwaway_key = Ed25519PrivateKey.generate()
    return respond_to_knock(session_id, random_password, throwaway_key, knock).challenge
