"""The two ends of one file transfer, as sans-IO state machines (docs/design.md §4.7).

:class:`Outgoing` is the sender's view of one file to one member, :class:`Incoming` the
receiver's. Messages go in, messages and instructions come out; reading and writing the file,
sealing and the clock are the caller's (``core/client/files.py`` drives both with trio). Every
value from the other side is checked here against what was offered, so a member that sends an
offset past the end, a chunk longer than the file or a "last" chunk that is not last gets a
:class:`Broken` and a cancel, never a write.

Flow control is end to end: the sender keeps at most ``window`` bytes unacknowledged, and the
receiver acknowledges every ``ack_every`` bytes written, so a transfer can never fill the relay's
per-member queue (docs/design.md §7.3) however slow the receiver is.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum, auto
from typing import Protocol

from core.protocol.content import (
    MAX_FILE_CHUNK,
    SHA256_SIZE,
    CancelReason,
    FileAck,
    FileAnswer,
    FileCancel,
    FileChunk,
    FileDone,
    FileOffer,
    FileStatus,
    FileVerdict,
)

CHUNK_SIZE = MAX_FILE_CHUNK
#: Bytes a sender may have in flight. The relay's default per-member queue is 16 MiB, of which
#: frame updates may take half: this leaves room for both (bench/file_transfer.py: 4 MiB with
#: an ack per MiB left the link idle half the time).
WINDOW = 6 * 1024 * 1024
ACK_EVERY = 512 * 1024
#: Gaps a receiver asks to resume from within one transfer before it gives up.
MAX_RESUMES = 8
NO_PREFIX = bytes(SHA256_SIZE)


class Hasher(Protocol):
    """What ``hashlib.sha256()`` is (hashlib's own type is private)."""

    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def copy(self) -> Hasher: ...


class Phase(Enum):
    OFFERED = auto()
    SENDING = auto()
    #: Everything sent; waiting for the receiver's ``FileDone``.
    FINISHING = auto()
    DONE = auto()
    FAILED = auto()


VERDICT_SENTENCES = {
    FileVerdict.DECLINE: "declined the file",
    FileVerdict.NO_SPACE: "has not enough free space for the file",
    FileVerdict.BAD_NAME: "refused the file's name",
    FileVerdict.NOT_ALLOWED: "does not take files in this session",
}

CANCEL_SENTENCES = {
    CancelReason.USER: "cancelled the transfer",
    CancelReason.FAILED: "gave up the transfer (data was lost or could not be written)",
    CancelReason.STALLED: "gave up the transfer: it stalled",
}


# -- what the machines tell their caller --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    """Send from ``offset`` (0, or where the receiver's verified copy ends)."""

    offset: int


@dataclass(frozen=True, slots=True)
class Completed:
    """The receiver has the file, with the SHA-256 that was offered."""


@dataclass(frozen=True, slots=True)
class Failed:
    """The transfer is over without the file; ``reason`` is a sentence for a person."""

    reason: str


@dataclass(frozen=True, slots=True)
class Write:
    """Write ``data`` at ``offset`` (after cutting the file to ``offset`` when ``restart``);
    then send ``ack`` if there is one."""

    offset: int
    data: bytes
    restart: bool
    ack: FileAck | None


@dataclass(frozen=True, slots=True)
class Finish:
    """The last chunk: write it, flush it to disk, then keep the file if ``verified`` (the
    SHA-256 of everything received equals the offer's), else remove it. Then send ``done``
    (after :meth:`Incoming.write_failed` if the disk failed)."""

    offset: int
    data: bytes
    restart: bool
    verified: bool
    done: FileDone


@dataclass(frozen=True, slots=True)
class Skip:
    """A chunk for a transfer that is over: nothing to do."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A chunk we already have (the sender probing after a silence): send ``ack`` so it
    knows where we are."""

    ack: FileAck


@dataclass(frozen=True, slots=True)
class Resume:
    """A chunk went missing (a hostile or failing relay), or a chunk from before our last
    request to resume arrived: send ``answer`` (again)."""

    answer: FileAnswer


@dataclass(frozen=True, slots=True)
class Broken:
    """The transfer cannot go on: remove the partial file, send ``cancel``, show ``reason``."""

    reason: str
    cancel: FileCancel


ChunkOutcome = Write | Finish | Skip | Duplicate | Resume | Broken


# -- the sender ---------------------------------------------------------------------------------


class Outgoing:
    """One file offered to one member."""

    def __init__(
        self,
        file_id: int,
        name: str,
        size: int,
        sha256: bytes,
        *,
        chunk_size: int = CHUNK_SIZE,
        window: int = WINDOW,
    ) -> None:
        if not 0 < chunk_size <= MAX_FILE_CHUNK or window < chunk_size:
            raise ValueError("chunk_size must be 1..MAX_FILE_CHUNK and window at least a chunk")
        self.offer = FileOffer(file_id=file_id, name=name, size=size, sha256=sha256)
        self.phase = Phase.OFFERED
        self._chunk_size = chunk_size
        self._window = window
        self._next = 0
        #: Bytes the receiver said it has written in order.
        self.acked = 0
        #: The receiver's answer we follow (one more for each resume it asked for).
        self.attempt = 0

    @property
    def file_id(self) -> int:
        return self.offer.file_id

    @property
    def size(self) -> int:
        return self.offer.size

    def needs_prefix(self, answer: FileAnswer) -> bool:
        """Whether :meth:`on_answer` needs the hash of our first ``answer.offset`` bytes: only
        for a first answer that offers to resume from a partial copy made before."""
        return (
            self.phase is Phase.OFFERED
            and answer.verdict is FileVerdict.ACCEPT
            and 0 < answer.offset <= self.size
        )

    def on_answer(
        self, answer: FileAnswer, own_prefix_sha256: bytes | None
    ) -> Started | Failed | None:
        """The receiver accepted (from an offset), refused, or asks to resume after a gap
        (``None``: an answer we already followed, sent again).

        ``own_prefix_sha256`` is the SHA-256 of the first ``answer.offset`` bytes of *our* file
        when :meth:`needs_prefix` says so. A partial copy that differs from ours is not resumed
        from: we send from 0 and the receiver starts over. Mid-transfer the receiver's prefix
        is what we sent (authenticated), so it is not hashed again.
        """
        if self.phase in (Phase.DONE, Phase.FAILED):
            return None
        if answer.verdict is not FileVerdict.ACCEPT:
            self.phase = Phase.FAILED
            return Failed(f"The receiver {VERDICT_SENTENCES[answer.verdict]}.")
        if answer.offset > self.size:
            return self._fail("The receiver asked to resume past the end of the file.")
        offset = answer.offset
        if self.phase is Phase.OFFERED:
            if offset and not (
                own_prefix_sha256 is not None
                and hmac.compare_digest(own_prefix_sha256, answer.prefix_sha256)
            ):
                offset = 0  # its partial copy is not of this file: it starts over
        elif answer.attempt <= self.attempt:
            return None
        elif answer.attempt > MAX_RESUMES:
            return self._fail("The transfer kept losing data on the way; gave up.")
        self.attempt = answer.attempt
        self._next = self.acked = offset
        self.phase = Phase.SENDING
        return Started(offset)

    def next_range(self) -> tuple[int, int] | None:
        """Where the next chunk starts and how long it is, or ``None`` while the window is full
        or everything is sent."""
        if self.phase is not Phase.SENDING or self._next - self.acked >= self._window:
            return None
        return self._next, min(self._chunk_size, self.size - self._next)

    def chunk(self, offset: int, data: bytes) -> FileChunk:
        """The chunk for the range :meth:`next_range` gave, with the bytes the caller read."""
        if self.phase is not Phase.SENDING or offset != self._next:
            raise ValueError(f"no chunk at offset {offset} is due")
        if len(data) != min(self._chunk_size, self.size - offset):
            raise ValueError("the file changed size while it was being sent")
        self._next += len(data)
        last = self._next == self.size
        if last:
            self.phase = Phase.FINISHING
        return FileChunk(
            file_id=self.file_id, attempt=self.attempt, offset=offset, last=last, data=data
        )

    def probe_range(self) -> tuple[int, int] | None:
        """The first unacknowledged chunk, to send again after a silence: a chunk lost at the
        end of the window (or the file) leaves no later chunk to reveal the gap. The receiver
        answers a probe it already has with an ack, a missing one it takes."""
        if self.phase not in (Phase.SENDING, Phase.FINISHING):
            return None
        return self.acked, min(self._chunk_size, self.size - self.acked)

    def probe(self, offset: int, data: bytes) -> FileChunk:
        """The chunk for :meth:`probe_range`, with the bytes the caller read."""
        if self.probe_range() != (offset, len(data)):
            raise ValueError(f"no probe at offset {offset} is due")
        end = offset + len(data)
        return FileChunk(
            file_id=self.file_id,
            attempt=self.attempt,
            offset=offset,
            last=end == self.size,
            data=data,
        )

    def on_ack(self, ack: FileAck) -> None:
        if self.phase in (Phase.SENDING, Phase.FINISHING) and self.acked < ack.received:
            self.acked = min(ack.received, self._next)

    def on_done(self, done: FileDone) -> Completed | Failed:
        if self.phase is not Phase.FINISHING:
            return self._fail("The receiver reported a result before the file was sent.")
        if done.status is FileStatus.OK and hmac.compare_digest(done.sha256, self.offer.sha256):
            self.phase = Phase.DONE
            self.acked = self.size
            return Completed()
        if done.status is FileStatus.WRITE_FAILED:
            return self._fail("The receiver could not write the file.")
        return self._fail("The receiver's copy did not match the file's SHA-256; it was removed.")

    def on_cancel(self, cancel: FileCancel) -> Failed:
        return self._fail(f"The receiver {CANCEL_SENTENCES[cancel.reason]}.")

    def cancel(self, reason: CancelReason = CancelReason.USER) -> FileCancel:
        self.phase = Phase.FAILED
        return FileCancel(file_id=self.file_id, by_sender=True, reason=reason)

    def _fail(self, reason: str) -> Failed:
        self.phase = Phase.FAILED
        return Failed(reason)


# -- the receiver -------------------------------------------------------------------------------


class Incoming:
    """One file offered to us by one member."""

    def __init__(self, offer: FileOffer, *, ack_every: int = ACK_EVERY) -> None:
        self.offer = offer
        self.phase = Phase.OFFERED
        self._ack_every = ack_every
        self._hash: Hasher = hashlib.sha256()
        #: Bytes written in order: the next chunk must start here.
        self.received = 0
        self._acked = 0
        #: Our latest answer's number: chunks of an earlier one were in flight before it.
        self.attempt = 0
        #: Whether the sender may still start over from 0 (its answer to our resume offer).
        self._may_restart = False

    @property
    def file_id(self) -> int:
        return self.offer.file_id

    def accept(self, held: int = 0, held_hash: Hasher | None = None) -> FileAnswer:
        """Accept, resuming after the ``held`` bytes already on disk whose running SHA-256 is
        ``held_hash`` (the caller hashed its partial file)."""
        if self.phase is not Phase.OFFERED:
            raise ValueError("the offer was already answered")
        if not 0 <= held <= self.offer.size or (held and held_hash is None):
            raise ValueError("a held prefix needs its length within the file and its hash")
        self._hash = held_hash.copy() if held and held_hash is not None else hashlib.sha256()
        self.received = self._acked = held
        self._may_restart = held > 0
        self.phase = Phase.SENDING
        return self._answer()

    def refuse(self, verdict: FileVerdict) -> FileAnswer:
        if verdict is FileVerdict.ACCEPT:
            raise ValueError("refuse with a reason, not ACCEPT")
        self.phase = Phase.FAILED
        return FileAnswer(
            file_id=self.file_id, verdict=verdict, attempt=0, offset=0, prefix_sha256=NO_PREFIX
        )

    def on_chunk(self, chunk: FileChunk) -> ChunkOutcome:
        if self.phase is not Phase.SENDING:
            return Skip()
        size, end = self.offer.size, chunk.offset + len(chunk.data)
        if end > size or chunk.last != (end == size) or (not chunk.data and end != size):
            return self._broken("The sender sent data that does not fit the file it offered.")
        if chunk.attempt < self.attempt:
            # Sent before our latest answer reached the sender: say it again (cheap, and it
            # also covers an answer the relay lost).
            return Resume(self._answer())
        if chunk.attempt > self.attempt:
            return self._broken("The sender answered a request we never made.")
        restart = False
        if chunk.offset != self.received:
            if chunk.offset == 0 and self._may_restart:
                restart = True  # our partial copy was not of this file: the sender starts over
                self._hash, self.received, self._acked = hashlib.sha256(), 0, 0
            elif chunk.offset < self.received:
                return Duplicate(FileAck(file_id=self.file_id, received=self.received))
            else:
                return self._resume()
        self._may_restart = False
        self._hash.update(chunk.data)
        self.received = end
        if chunk.last:
            verified = hmac.compare_digest(self._hash.digest(), self.offer.sha256)
            self.phase = Phase.DONE if verified else Phase.FAILED
            status = FileStatus.OK if verified else FileStatus.MISMATCH
            done = FileDone(file_id=self.file_id, status=status, sha256=self._hash.digest())
            return Finish(chunk.offset, chunk.data, restart, verified, done)
        ack = None
        if self.received - self._acked >= self._ack_every:
            self._acked = self.received
            ack = FileAck(file_id=self.file_id, received=self.received)
        return Write(chunk.offset, chunk.data, restart, ack)

    def write_failed(self) -> FileDone:
        """The disk refused a write: the result to send instead of the one :class:`Finish`
        carried (the caller removes the partial file)."""
        self.phase = Phase.FAILED
        return FileDone(
            file_id=self.file_id, status=FileStatus.WRITE_FAILED, sha256=self._hash.digest()
        )

    def on_cancel(self, cancel: FileCancel) -> Failed:
        self.phase = Phase.FAILED
        return Failed(f"The sender {CANCEL_SENTENCES[cancel.reason]}.")

    def cancel(self, reason: CancelReason = CancelReason.USER) -> FileCancel:
        self.phase = Phase.FAILED
        return FileCancel(file_id=self.file_id, by_sender=False, reason=reason)

    def _answer(self) -> FileAnswer:
        prefix = self._hash.copy().digest() if self.received else NO_PREFIX
        return FileAnswer(
            file_id=self.file_id,
            verdict=FileVerdict.ACCEPT,
            attempt=self.attempt,
            offset=self.received,
            prefix_sha256=prefix,
        )

    def _resume(self) -> Resume | Broken:
        if self.attempt >= MAX_RESUMES:
            return self._broken("The transfer kept losing data on the way; gave up.")
        self.attempt += 1
        return Resume(self._answer())

    def _broken(self, reason: str) -> Broken:
        return Broken(reason, self.cancel(CancelReason.FAILED))
