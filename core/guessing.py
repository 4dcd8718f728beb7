"""When failed password attempts stop looking like typos and start looking like guessing.

Both ends of a session see the same failures: the organizer's client rejects every wrong session
password itself (SPAKE2, docs/design.md §4.3), and the relay counts the rejections per session
ID and per account (docs/design.md §7.3). Neither makes the legitimate users wait because of
them; instead both raise an alarm, the client to the organizer and the relay to its operator, at
the same counts, so what the operator sees matches what the organizer was told.

The alarm rings at ``threshold`` failures and again each time the count doubles (10, 20, 40,
80, … by default): often enough to notice a running attack, rarely enough that a long one does
not bury everything else in warnings. Pure: the caller counts.
"""

from __future__ import annotations

__all__ = [
    "GUESSING_THRESHOLD",
    "account_guessing_sentence",
    "guessing_alarm",
    "guessing_sentence",
]

#: Failures at which the first alarm rings. Normal use of a session sees a handful of typos.
GUESSING_THRESHOLD = 10


def guessing_alarm(failures: int, threshold: int = GUESSING_THRESHOLD) -> bool:
    """Should the ``failures``-th failure ring the alarm? At threshold × 1, 2, 4, 8, …"""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    if failures < threshold or failures % threshold:
        return False
    multiple = failures // threshold
    return multiple & (multiple - 1) == 0


def guessing_sentence(failures: int, how_to_move: str) -> str:
    """What to tell the organizer when the alarm rings; ``how_to_move`` names the key or command
    that ends this session so that a new one (new ID, new password) can be started."""
    return (
        f"{failures} wrong session passwords so far: someone may be guessing this session's "
        "password (each guess is refused, and slowed down per network). "
        f"To move away from them, {how_to_move} and start a new session: it gets a new ID."
    )


def account_guessing_sentence(failures: int, threshold: int = GUESSING_THRESHOLD) -> str | None:
    """What to tell an organizer who just logged in, if the relay remembers so many failed logins
    to their account that someone is probably guessing; None below ``threshold`` (typos)."""
    if failures < threshold:
        return None
    return (
        f"The relay saw {failures} failed logins to your account recently: someone may be "
        "guessing your password. Your own logins are not slowed by them; if it goes on, tell "
        "the relay operator, and choose a new password if yours might be weak."
    )
