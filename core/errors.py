"""Stable error codes and the two protocol exception types.

Codes are part of the wire protocol (they travel in ``Error`` and ``JoinRefused`` messages and in
``SessionEnded``), so their numbers never change once released: add new ones, never renumber.
Every refusal a person can meet carries one of these codes *and* a human sentence; the code is for
programs, the sentence for people.

The exception split follows h11: a :class:`LocalProtocolError` means *we* tried to do something
the protocol forbids (a bug on our side, or a caller misusing the API); a
:class:`RemoteProtocolError` means the peer sent something invalid. Both carry an
:class:`ErrorCode` so the side that catches them can tell the peer what went wrong.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Every stable error code of ``porthole/1``, grouped by hundreds."""

    # 1xx: the bytes themselves are wrong.
    MALFORMED = 100
    TRUNCATED = 101
    OVERSIZED = 102
    UNKNOWN_TYPE = 103
    UNSUPPORTED_VERSION = 104
    UNEXPECTED_MESSAGE = 105
    BAD_FIELD = 106

    # 2xx: who you are.
    LOGIN_FAILED = 200
    ACCOUNT_DISABLED = 201
    LOCKED_OUT = 202
    NOT_LOGGED_IN = 203
    WEAK_PASSWORD = 204

    # 3xx: sessions and admission.
    # JOIN_REFUSED deliberately covers both "wrong password" and "no such session": the relay
    # must not tell an attacker which session IDs exist (docs/design.md §4.3 step 6).
    JOIN_REFUSED = 300
    SESSION_LOCKED = 301
    SESSION_ID_TAKEN = 302
    CHOSEN_ID_NEEDS_PASSWORD = 303
    KNOCK_DECLINED = 304
    SESSION_FULL = 305
    SESSION_ENDED = 306
    REMOVED = 307
    BAD_SESSION_ID = 308
    NOT_IN_SESSION = 309
    ORGANIZER_LEFT = 310
    LEFT = 311
    NAME_TAKEN = 312

    # 4xx: the session rules said no.
    NOT_ALLOWED = 400
    CONSENT_REFUSED = 401
    NO_SUCH_MEMBER = 402
    ALREADY_DONE = 403
    CONTROL_HELD = 404

    # 5xx: limits.
    RATE_LIMITED = 500
    TIMEOUT = 501
    TOO_MANY_CONNECTIONS = 502
    SLOW_CONSUMER = 503

    # 9xx: our fault.
    INTERNAL = 900

    @classmethod
    def parse(cls, value: int) -> ErrorCode:
        """Return the code for ``value``, or raise :class:`RemoteProtocolError` if unknown."""
        try:
            return cls(value)
        except ValueError:
            raise RemoteProtocolError(ErrorCode.BAD_FIELD, f"unknown error code {value}") from None


class ProtocolError(Exception):
    """Base of both protocol errors: a stable code plus a sentence a person can read."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.code.name.lower()}]"


class LocalProtocolError(ProtocolError):
    """We tried to send or do something ``porthole/1`` forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something ``porthole/1`` forbids."""
