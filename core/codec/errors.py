"""The one exception a screen-update decoder raises, and why it raised it.

:class:`CodecError` is a :class:`~core.errors.RemoteProtocolError`: a bad update is the peer's
fault (or the relay's, or a bit flip), never ours. It carries a stable
:class:`~core.errors.ErrorCode` for the protocol layer and a :class:`Reason` for statistics and
logs, so a viewer can count *what kind* of garbage it was sent without parsing sentences.
"""

from __future__ import annotations

from enum import StrEnum

from core.errors import ErrorCode, RemoteProtocolError


class Reason(StrEnum):
    """Why an update was refused. Values are stable, short and safe to log."""

    TRUNCATED = "truncated"
    TRAILING_BYTES = "trailing-bytes"
    BAD_HEADER = "bad-header"
    BAD_OP = "bad-op"
    OUT_OF_BOUNDS = "out-of-bounds"
    BAD_SIZE = "bad-size"
    BOMB = "decompression-bomb"
    STREAM = "stream"
    IMAGE = "image"
    PALETTE_INDEX = "palette-index"
    NEEDS_KEYFRAME = "needs-keyframe"


_CODES = {
    Reason.TRUNCATED: ErrorCode.TRUNCATED,
    Reason.TRAILING_BYTES: ErrorCode.MALFORMED,
    Reason.BAD_HEADER: ErrorCode.MALFORMED,
    Reason.BAD_OP: ErrorCode.MALFORMED,
    Reason.OUT_OF_BOUNDS: ErrorCode.BAD_FIELD,
    Reason.BAD_SIZE: ErrorCode.BAD_FIELD,
    Reason.BOMB: ErrorCode.OVERSIZED,
    Reason.STREAM: ErrorCode.MALFORMED,
    Reason.IMAGE: ErrorCode.MALFORMED,
    Reason.PALETTE_INDEX: ErrorCode.BAD_FIELD,
    Reason.NEEDS_KEYFRAME: ErrorCode.UNEXPECTED_MESSAGE,
}


class CodecError(RemoteProtocolError):
    """A screen update was refused; :attr:`reason` says why (for counters), the text says how."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(_CODES[reason], message)
        self.reason = reason


__all__ = ["CodecError", "Reason"]
