"""File transfers over a session, with trio: the driver around ``core/files`` (docs/design.md §4.7).

A program that takes part in transfers makes one :class:`FileTransfers` for its session, runs
:meth:`FileTransfers.run` in its nursery, and hands its session events to
:meth:`FileTransfers.handle` (file content, and rosters: a member who left ends its transfers).
It sends with :meth:`FileTransfers.send_file` and learns what happened from
:attr:`FileTransfers.events`.

Incoming offers are accepted into ``accept_dir`` without asking (``--accept-files DIR``), or
held until :meth:`FileTransfers.answer` is called (a person's yes or no), or refused when the
program takes no files. Names are checked (``core/files/names.py``) before anything touches the
disk, and the disk rules are ``core/files/disk.py``'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import trio

from core.client.channel import ChannelClosed
from core.client.events import ContentReceived, RosterChanged, SessionEvent
from core.client.session import SessionBase
from core.files.disk import DiskError, PartFile, has_room, hash_prefix
from core.files.names import UnsafeName, check_name
from core.files.transfer import (
    Broken,
    Completed,
    Duplicate,
    Failed,
    Finish,
    Incoming,
    Outgoing,
    Phase,
    Resume,
    Skip,
    Write,
)
from core.protocol.content import (
    CancelReason,
    ContentMessage,
    FileAck,
    FileAnswer,
    FileCancel,
    FileChunk,
    FileDone,
    FileOffer,
    FileVerdict,
)

#: A transfer with no progress for this long is given up (a relay that stalls it, a member gone).
STALL_TIMEOUT = 30.0
#: How long an offer may wait for its answer (a person deciding).
OFFER_TIMEOUT = 300.0
#: A sender that heard nothing for this long sends its first unacknowledged chunk again.
PROBE_AFTER = 3.0
_HASH_BLOCK = 1024 * 1024

Direction = Literal["send", "receive"]


# -- what a program is told ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferOffered:
    """A file was offered (by us: ``send``; to us: ``receive``). ``name`` passed the codec's
    control-character check but may still be refused as a file name."""

    direction: Direction
    peer: int
    file_id: int
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class TransferProgress:
    direction: Direction
    peer: int
    file_id: int
    done: int
    size: int


@dataclass(frozen=True, slots=True)
class TransferDone:
    """The file arrived whole, SHA-256 checked; ``path`` is where the receiver put it."""

    direction: Direction
    peer: int
    file_id: int
    size: int
    sha256: str
    path: Path | None


@dataclass(frozen=True, slots=True)
class TransferFailed:
    direction: Direction
    peer: int
    file_id: int
    reason: str


TransferEvent = TransferOffered | TransferProgress | TransferDone | TransferFailed


# -- the two ends -------------------------------------------------------------------------------


class _Sending:
    def __init__(self, machine: Outgoing, path: Path, peer: int) -> None:
        self.machine = machine
        self.path = path
        self.peer = peer
        self.inbox_send, self.inbox = trio.open_memory_channel[ContentMessage](math.inf)
        #: Our own person cancelled: the sending loop stops at its next turn.
        self.cancelled = False
        #: The receiver is no longer in the session (the relay's roster says so).
        self.gone = False


@dataclass(slots=True)
class _Receiving:
    machine: Incoming
    peer: int
    directory: Path | None = None
    part: PartFile | None = None
    last_activity: float = 0.0


def sha256_of(path: Path) -> tuple[int, bytes]:
    """A file's size and SHA-256 (the sender hashes before it offers)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.digest()


class FileTransfers:
    """Every transfer of one session, both directions."""

    def __init__(
        self,
        session: SessionBase,
        *,
        accept_dir: Path | None = None,
        ask: bool = False,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        self._session = session
        self.accept_dir = accept_dir
        #: Hold offers for :meth:`answer` instead of refusing them when there is no accept_dir.
        self.ask = ask
        self.stall_timeout = stall_timeout
        self._ids = itertools.count(1)
        self._sending: dict[tuple[int, int], _Sending] = {}
        self._receiving: dict[tuple[int, int], _Receiving] = {}
        self._events_send, self.events = trio.open_memory_channel[TransferEvent](math.inf)

    # -- sending ---------------------------------------------------------------------------------

    async def send_file(self, path: Path, recipient: int) -> TransferDone | TransferFailed:
        """Offer ``path`` to one member and, if it accepts, send it; returns how it ended."""
        try:
            check_name(path.name)
        except UnsafeName as exc:
            failed = TransferFailed("send", recipient, 0, str(exc))
            await self._emit(failed)
            return failed
        try:
            size, digest = await trio.to_thread.run_sync(sha256_of, path)
        except OSError as exc:
            failed = TransferFailed("send", recipient, 0, f"Cannot read {path}: {exc.strerror}.")
            await self._emit(failed)
            return failed
        machine = Outgoing(next(self._ids), path.name, size, digest)
        sending = _Sending(machine, path, recipient)
        key = (recipient, machine.file_id)
        self._sending[key] = sending
        try:
            with path.open("rb") as f:
                await self._emit(
                    TransferOffered("send", recipient, machine.file_id, path.name, size)
                )
                await self._send(machine.offer, recipient)
                return await self._drive(sending, f)
        except ChannelClosed:
            failed = TransferFailed(
                "send", recipient, machine.file_id, "The connection to the relay was lost."
            )
            await self._emit(failed)
            return failed
        except ValueError:  # a read came back short: the file shrank under us
            return await self._give_up(sending, f"{path.name} changed while it was being sent.")
        except OSError as exc:
            return await self._give_up(sending, f"Reading {path.name} failed: {exc.strerror}.")
        finally:
            del self._sending[key]

    async def _drive(self, sending: _Sending, f: BinaryIO) -> TransferDone | TransferFailed:
        machine = sending.machine
        reported = -1
        heard = trio.current_time()
        while True:
            while True:
                try:
                    message = sending.inbox.receive_nowait()
                except trio.WouldBlock:
                    break
                heard = trio.current_time()
                result = await self._on_reply(sending, message)
                if result is not None:
                    return result
            if sending.gone:
                machine.cancel(CancelReason.FAILED)  # nobody to tell
                failed = TransferFailed(
                    "send", sending.peer, machine.file_id, "The receiver left the session."
                )
                await self._emit(failed)
                return failed
            if sending.cancelled:
                await self._send(machine.cancel(CancelReason.USER), sending.peer)
                return await self._give_up(sending, "You cancelled the transfer.")
            if machine.acked != reported and machine.phase is not Phase.OFFERED:
                reported = machine.acked
                await self._progress("send", sending.peer, machine.file_id, reported, machine.size)
            span = machine.next_range()
            if span is None:
                waiting = machine.phase is Phase.OFFERED
                with trio.move_on_after(OFFER_TIMEOUT if waiting else PROBE_AFTER):
                    message = await sending.inbox.receive()
                    heard = trio.current_time()
                    result = await self._on_reply(sending, message)
                    if result is not None:
                        return result
                    continue
                if waiting or trio.current_time() - heard > self.stall_timeout:
                    await self._send(machine.cancel(CancelReason.STALLED), sending.peer)
                    return await self._give_up(sending, "The transfer stalled; cancelled.")
                probe = machine.probe_range()
                if probe is not None:
                    f.seek(probe[0])
                    await self._send(machine.probe(probe[0], f.read(probe[1])), sending.peer)
                continue
            offset, length = span
            f.seek(offset)
            await self._send(machine.chunk(offset, f.read(length)), sending.peer)

    async def _on_reply(
        self, sending: _Sending, message: ContentMessage
    ) -> TransferDone | TransferFailed | None:
        machine = sending.machine
        match message:
            case FileAnswer() as answer:
                prefix = None
                if machine.needs_prefix(answer):
                    prefix = await trio.to_thread.run_sync(hash_prefix, sending.path, answer.offset)
                outcome = machine.on_answer(answer, prefix)
                if isinstance(outcome, Failed):
                    return await self._give_up(sending, outcome.reason)
            case FileAck() as ack:
                machine.on_ack(ack)
            case FileDone() as done:
                result = machine.on_done(done)
                if isinstance(result, Completed):
                    finished = TransferDone(
                        "send", sending.peer, machine.file_id, machine.size, done.sha256.hex(), None
                    )
                    await self._emit(finished)
                    return finished
                return await self._give_up(sending, result.reason)
            case FileCancel() as cancel:
                return await self._give_up(sending, machine.on_cancel(cancel).reason)
        return None

    async def _give_up(self, sending: _Sending, reason: str) -> TransferFailed:
        if sending.machine.phase is not Phase.FAILED:
            await self._reply(sending.machine.cancel(CancelReason.FAILED), sending.peer)
        failed = TransferFailed("send", sending.peer, sending.machine.file_id, reason)
        await self._emit(failed)
        return failed

    # -- receiving -------------------------------------------------------------------------------

    async def handle(self, event: SessionEvent) -> bool:
        """Take file content from the session's events (``False`` for anything else); a roster
        ends the transfers of members who left, at once rather than after a stall."""
        if isinstance(event, RosterChanged):
            await self._on_roster({entry.peer_id for entry in event.roster.members})
            return False
        if not isinstance(event, ContentReceived):
            return False
        peer, message = event.sender, event.message
        match message:
            case FileAnswer() | FileAck() | FileDone() | FileCancel(by_sender=False):
                sending = self._sending.get((peer, message.file_id))
                if sending is not None:
                    sending.inbox_send.send_nowait(message)
            case FileOffer() as offer:
                await self._on_offer(peer, offer)
            case FileChunk() as chunk:
                receiving = self._receiving.get((peer, chunk.file_id))
                if receiving is not None:
                    await self._on_chunk(receiving, chunk)
            case FileCancel(by_sender=True):
                receiving = self._receiving.get((peer, message.file_id))
                if receiving is not None:
                    reason = receiving.machine.on_cancel(message).reason
                    stalled = message.reason is CancelReason.STALLED
                    if stalled:
                        reason = reason.rstrip(".") + "; the partial file is kept to resume from."
                    await self._end_receiving(receiving, reason, keep_part=stalled)
            case _:
                return False
        return True

    async def _on_roster(self, present: set[int]) -> None:
        for (peer, file_id), sending in self._sending.items():
            if peer not in present and not sending.gone:
                sending.gone = True
                sending.inbox_send.send_nowait(FileAck(file_id=file_id, received=0))  # wake it
        for receiving in list(self._receiving.values()):
            if receiving.peer not in present:
                await self._end_receiving(
                    receiving,
                    "The sender left the session; the partial file is kept to resume from.",
                    keep_part=True,
                )

    async def cancel(self, direction: Direction, peer: int, file_id: int) -> None:
        """Our person stops a transfer: the other side is told, a partial file is removed."""
        if direction == "send":
            sending = self._sending.get((peer, file_id))
            if sending is not None:
                sending.cancelled = True
                # Wake the sending loop if it waits for the receiver (an ack changes nothing).
                sending.inbox_send.send_nowait(FileAck(file_id=file_id, received=0))
            return
        receiving = self._receiving.get((peer, file_id))
        if receiving is None:
            return
        if receiving.machine.phase is Phase.OFFERED:
            await self._refuse(receiving, FileVerdict.DECLINE, "You declined the file.")
            return
        await self._reply(receiving.machine.cancel(CancelReason.USER), peer)
        await self._end_receiving(
            receiving, "You cancelled the transfer; nothing of it was kept.", keep_part=False
        )

    async def answer(self, peer: int, file_id: int, accept: bool, directory: Path | None) -> None:
        """A person's answer to an offer that was held (``ask``): accept into ``directory``."""
        receiving = self._receiving.get((peer, file_id))
        if receiving is None or receiving.machine.phase is not Phase.OFFERED:
            return
        if accept and directory is not None:
            await self._accept(receiving, directory)
        else:
            await self._refuse(receiving, FileVerdict.DECLINE, "You declined the file.")

    async def _on_offer(self, peer: int, offer: FileOffer) -> None:
        key = (peer, offer.file_id)
        if key in self._receiving:
            return  # a repeated offer changes nothing
        receiving = _Receiving(Incoming(offer), peer, last_activity=trio.current_time())
        self._receiving[key] = receiving
        await self._emit(TransferOffered("receive", peer, offer.file_id, offer.name, offer.size))
        try:
            check_name(offer.name)
        except UnsafeName as exc:
            await self._refuse(receiving, FileVerdict.BAD_NAME, str(exc))
            return
        if self.accept_dir is not None:
            await self._accept(receiving, self.accept_dir)
        elif not self.ask:
            await self._refuse(
                receiving, FileVerdict.NOT_ALLOWED, "This program does not take files."
            )

    async def _accept(self, receiving: _Receiving, directory: Path) -> None:
        offer = receiving.machine.offer
        if any(
            r.part is not None and r.directory == directory and r.part.name == offer.name
            for r in self._receiving.values()
        ):
            await self._refuse(
                receiving, FileVerdict.DECLINE, f"A file named {offer.name} is already arriving."
            )
            return
        try:
            part = PartFile.open(directory, offer.name)
            held, held_hash = await trio.to_thread.run_sync(part.held, offer.size)
        except (DiskError, OSError) as exc:
            await self._refuse(receiving, FileVerdict.DECLINE, str(exc))
            return
        if not has_room(directory, offer.size - held):
            if held:
                part.close()
            else:
                part.discard()
            await self._refuse(
                receiving,
                FileVerdict.NO_SPACE,
                f"Not enough free space in {directory} for {offer.name}; nothing was written.",
            )
            return
        receiving.directory, receiving.part = directory, part
        receiving.last_activity = trio.current_time()
        await self._reply(receiving.machine.accept(held, held_hash), receiving.peer)

    async def _refuse(self, receiving: _Receiving, verdict: FileVerdict, reason: str) -> None:
        await self._reply(receiving.machine.refuse(verdict), receiving.peer)
        await self._end_receiving(receiving, reason, keep_part=False)

    async def _on_chunk(self, receiving: _Receiving, chunk: FileChunk) -> None:
        receiving.last_activity = trio.current_time()
        machine, part = receiving.machine, receiving.part
        outcome = machine.on_chunk(chunk)
        if isinstance(outcome, Skip) or part is None:
            return
        if isinstance(outcome, Resume):
            await self._reply(outcome.answer, receiving.peer)
            return
        if isinstance(outcome, Duplicate):
            await self._reply(outcome.ack, receiving.peer)
            return
        if isinstance(outcome, Broken):
            await self._reply(outcome.cancel, receiving.peer)
            await self._end_receiving(receiving, outcome.reason, keep_part=False)
            return
        try:
            await trio.to_thread.run_sync(
                lambda: part.write(outcome.offset, outcome.data, restart=outcome.restart)
            )
            if isinstance(outcome, Finish):
                await trio.to_thread.run_sync(part.flush)
        except DiskError as exc:
            if receiving.part is not part:
                return  # ended meanwhile (cancelled, stalled, the session closed): said already
            await self._reply(machine.write_failed(), receiving.peer)
            await self._end_receiving(receiving, str(exc), keep_part=False)
            return
        if receiving.part is not part:
            return
        if isinstance(outcome, Write):
            if outcome.ack is not None:
                await self._reply(outcome.ack, receiving.peer)
                await self._progress(
                    "receive", receiving.peer, machine.file_id, machine.received, machine.offer.size
                )
            return
        if not outcome.verified:
            await self._reply(outcome.done, receiving.peer)
            await self._end_receiving(
                receiving,
                "The file did not match the SHA-256 it was offered with; nothing was kept.",
                keep_part=False,
            )
            return
        try:
            final = await trio.to_thread.run_sync(part.publish)
        except (DiskError, OSError) as exc:
            if receiving.part is not part:
                return
            await self._reply(machine.write_failed(), receiving.peer)
            await self._end_receiving(receiving, str(exc), keep_part=False)
            return
        receiving.part = None
        await self._reply(outcome.done, receiving.peer)
        del self._receiving[(receiving.peer, machine.file_id)]
        offer = machine.offer
        await self._emit(
            TransferDone(
                "receive", receiving.peer, offer.file_id, offer.size, offer.sha256.hex(), final
            )
        )

    async def _end_receiving(self, receiving: _Receiving, reason: str, *, keep_part: bool) -> None:
        if receiving.part is not None:
            if keep_part:
                receiving.part.close()
            else:
                receiving.part.discard()
            receiving.part = None
        self._receiving.pop((receiving.peer, receiving.machine.file_id), None)
        await self._emit(
            TransferFailed("receive", receiving.peer, receiving.machine.file_id, reason)
        )

    # -- housekeeping ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Give up incoming transfers that stalled (their ``.part`` stays, to resume from)."""
        while True:
            await trio.sleep(min(1.0, self.stall_timeout / 4))
            now = trio.current_time()
            for receiving in list(self._receiving.values()):
                machine = receiving.machine
                if machine.phase is Phase.OFFERED and self.ask:
                    continue  # waiting for a person, not for the network
                if now - receiving.last_activity > self.stall_timeout:
                    await self._reply(machine.cancel(CancelReason.STALLED), receiving.peer)
                    await self._end_receiving(
                        receiving,
                        "The transfer stalled; the partial file is kept to resume from.",
                        keep_part=True,
                    )

    async def aclose(self) -> None:
        """The session ended: incoming transfers stop, their ``.part`` kept to resume from.
        (Sending tasks end on their own: the closed session refuses their next send.)"""
        for receiving in list(self._receiving.values()):
            await self._end_receiving(
                receiving,
                "The session ended mid-transfer; the partial file is kept to resume from.",
                keep_part=True,
            )

    async def _send(self, message: ContentMessage, peer: int) -> None:
        await self._session.send_content(message, recipient=peer)

    async def _reply(self, message: ContentMessage, peer: int) -> None:
        """A receiver's answer, or a sender's last word (its cancel): when the connection is
        gone there is nobody to tell, and the transfer ends with the session (:meth:`aclose`),
        so that is not an error here."""
        with contextlib.suppress(ChannelClosed):
            await self._session.send_content(message, recipient=peer)

    async def _emit(self, event: TransferEvent) -> None:
        self._events_send.send_nowait(event)

    async def _progress(
        self, direction: Direction, peer: int, file_id: int, done: int, size: int
    ) -> None:
        await self._emit(TransferProgress(direction, peer, file_id, done, size))
