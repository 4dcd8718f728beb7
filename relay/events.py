"""What the relay tells its observers as it happens (the admin socket's live event stream).

The switchboard and the recorder call their observers synchronously, from whichever trio task
changed something, with a :class:`RelayEvent`. An observer must not block and must not raise: it
copies what it needs into its own bounded queue (see :mod:`relay.admin_server`). Events carry
metadata only — never content, never a password, and never the user name typed into a failed
login (people type passwords into name fields; the store keeps a name only if the account exists).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "MEMBER_JOINED",
    "MEMBER_LEFT",
    "SECURITY_PREFIX",
    "SESSION_CHANGED",
    "SESSION_ENDED",
    "SESSION_STARTED",
    "Observer",
    "RelayEvent",
    "notify",
]

SESSION_STARTED = "session.started"
#: The roster changed without a member arriving or leaving: roles, lock, pause.
SESSION_CHANGED = "session.changed"
SESSION_ENDED = "session.ended"
MEMBER_JOINED = "member.joined"
#: ``reason`` is "left", "disconnected" or "removed".
MEMBER_LEFT = "member.left"
#: Followed by a :class:`~relay.store.SecurityEventKind` value: ``security.login_failed``.
SECURITY_PREFIX = "security."


@dataclass(frozen=True, slots=True)
class RelayEvent:
    """One thing that happened on the relay, at wall-clock time ``at`` (UNIX seconds).

    ``reason`` is a short token for session events ("organizer_left") and the operator-facing
    detail for security events; ``address`` is an address key, for security events only.
    """

    kind: str
    at: float
    session_id: str | None = None
    peer_id: int | None = None
    reason: str = ""
    address: str = ""


Observer = Callable[[RelayEvent], None]


def notify(observers: list[Observer], event: RelayEvent) -> None:
    """Hand ``event`` to every observer (each must be quick and must not raise)."""
    for observer in observers:
        observer(event)
