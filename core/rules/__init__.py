"""The session rules of docs/design.md §5, once, as pure code.

The relay calls :func:`decide` to enforce, clients call it to validate before sending, and UIs
call :func:`possible_actions` to offer only what would be allowed. Everything here is pure: no
I/O, no clocks, no randomness, so every side reaches the same verdict from the same state.
"""

from core.rules.state import (
    MAX_PEER_ID,
    PeerId,
    Role,
    SessionState,
    invariant_violations,
    is_valid_peer_id,
    new_session,
    roles_of,
)
from core.rules.table import (
    RULES,
    Action,
    ActorKind,
    Allowed,
    Check,
    Consent,
    Decision,
    Move,
    NeedsConsent,
    Refused,
    Rule,
    TargetKind,
    actor_kinds,
    decide,
    possible_actions,
    possible_targets,
)

__all__ = [
    "MAX_PEER_ID",
    "RULES",
    "Action",
    "ActorKind",
    "Allowed",
    "Check",
    "Consent",
    "Decision",
    "Move",
    "NeedsConsent",
    "PeerId",
    "Refused",
    "Role",
    "Rule",
    "SessionState",
    "TargetKind",
    "actor_kinds",
    "decide",
    "invariant_violations",
    "is_valid_peer_id",
    "new_session",
    "possible_actions",
    "possible_targets",
    "roles_of",
]
