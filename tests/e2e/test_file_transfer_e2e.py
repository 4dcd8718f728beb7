"""File transfer between real clients through a real relay on loopback TLS (docs/design.md §4.7).

The hostile relay is the real relay with a hook on its switchboard's ``route``: it sees exactly
what a relay sees (the clear header, the ciphertext) and tampers with that.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import trio
from netkit import Cutter
from relaykit import ORGANIZER, ORGANIZER_PASSWORD, RunningRelay
from sessionkit import connect, live_session

from core.client import SessionBase
from core.client.events import ContentReceived
from core.client.files import (
    FileTransfers,
    TransferDone,
    TransferEvent,
    TransferFailed,
    TransferOffered,
    TransferProgress,
)
from core.protocol.content import ContentType, FileAnswer, FileOffer, FileVerdict
from core.protocol.messages import Sealed
from relay.peer import Peer

SESSION_PASSWORD = "amber-canal-31"
TIMEOUT = 60.0
E = TypeVar("E", bound=TransferEvent)


async def _pump(session: SessionBase, transfers: FileTransfers) -> None:
    async for event in session.events:
        await transfers.handle(event)


@asynccontextmanager
async def _running(session: SessionBase, **options: object) -> AsyncIterator[FileTransfers]:
    transfers = FileTransfers(session, **options)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_pump, session, transfers)
        nursery.start_soon(transfers.run)
        yield transfers
        nursery.cancel_scope.cancel()


async def _next(
    transfers: FileTransfers, kind: type[E], seen: list[TransferEvent] | None = None
) -> E:
    with trio.fail_after(TIMEOUT):
        async for event in transfers.events:
            if seen is not None:
                seen.append(event)
            if isinstance(event, kind):
                return event
    raise AssertionError(f"no {kind.__name__}")


def _random_file(path: Path, size: int) -> bytes:
    data = secrets.token_bytes(size)
    path.write_bytes(data)
    return hashlib.sha256(data).digest()


def _hook_route(relay: RunningRelay, tamper: Callable[[Sealed], Sealed | None]) -> None:
    """Make the real relay hostile: every sealed message passes through ``tamper`` first
    (``None`` drops it)."""
    switchboard = relay.info.relay.switchboard
    route = switchboard.route

    def hostile(peer: Peer, msg: Sealed) -> None:
        changed = tamper(msg)
        if changed is not None:
            route(peer, changed)

    switchboard.route = hostile  # type: ignore[method-assign]


def _flip(msg: Sealed) -> Sealed:
    body = bytearray(msg.ciphertext)
    body[len(body) // 2] ^= 0x01
    return dataclasses.replace(msg, ciphertext=bytes(body))


async def test_a_file_arrives_whole_with_its_sha256(relay: RunningRelay, tmp_path: Path) -> None:
    source, inbox = tmp_path / "capture.log", tmp_path / "inbox"
    inbox.mkdir()
    digest = _random_file(source, 9 * 1024 * 1024 + 123)
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(org) as sender,
        _running(member, accept_dir=inbox) as receiver,
    ):
        result = await sender.send_file(source, member.peer_id)
        assert isinstance(result, TransferDone), result
        assert result.sha256 == digest.hex()
        seen: list[TransferEvent] = []
        done = await _next(receiver, TransferDone, seen)
        offered = seen[0]
        assert isinstance(offered, TransferOffered)
        assert (offered.name, offered.size) == ("capture.log", source.stat().st_size)
        assert any(isinstance(e, TransferProgress) for e in seen)
    assert done.path == inbox / "capture.log"
    assert hashlib.sha256(done.path.read_bytes()).digest() == digest
    assert os.listdir(inbox) == ["capture.log"], "no .part is left behind"


async def test_a_name_clash_gets_a_new_name_and_overwrites_nothing(
    relay: RunningRelay, tmp_path: Path
) -> None:
    source, inbox = tmp_path / "notes.txt", tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "notes.txt").write_bytes(b"the receiver's own notes")
    _random_file(source, 1000)
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(org) as sender,
        _running(member, accept_dir=inbox) as receiver,
    ):
        assert isinstance(await sender.send_file(source, member.peer_id), TransferDone)
        done = await _next(receiver, TransferDone)
    assert done.path == inbox / "notes (1).txt"
    assert (inbox / "notes.txt").read_bytes() == b"the receiver's own notes"
    assert done.path.read_bytes() == source.read_bytes()


@pytest.mark.parametrize(
    ("options", "sender_says", "receiver_says"),
    [
        ({}, "does not take files", "This program does not take files."),
        ({"ask": True}, "declined the file", "You declined the file."),
    ],
)
async def test_a_declined_file_says_so_on_both_sides(
    relay: RunningRelay,
    tmp_path: Path,
    options: dict[str, object],
    sender_says: str,
    receiver_says: str,
) -> None:
    source = tmp_path / "fix.sh"
    _random_file(source, 500)
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(org) as sender,
        _running(member, **options) as receiver,
        trio.open_nursery() as nursery,
    ):
        if options.get("ask"):

            async def say_no() -> None:
                offered = await _next(receiver, TransferOffered)
                await receiver.answer(offered.peer, offered.file_id, False, None)

            nursery.start_soon(say_no)
        result = await sender.send_file(source, member.peer_id)
        assert isinstance(result, TransferFailed)
        assert sender_says in result.reason
        failed = await _next(receiver, TransferFailed)
        assert failed.reason == receiver_says


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../../etc/passwd", "may not contain a path"),
        ("..", "is not a file name"),
        ("invoice.pdf\u200b", "control characters"),
    ],
)
async def test_a_hostile_name_is_refused_and_nothing_is_written(
    relay: RunningRelay, tmp_path: Path, name: str, words: str
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(member, accept_dir=inbox) as receiver,
    ):
        # A hostile member crafts the offer itself; the sender's own checks would refuse it.
        await org.send_content(
            FileOffer(file_id=9, name=name, size=10, sha256=bytes(32)), recipient=member.peer_id
        )
        failed = await _next(receiver, TransferFailed)
        assert words in failed.reason
        assert failed.reason.endswith("nothing was written.")
        answer = None
        with trio.fail_after(TIMEOUT):
            async for event in org.events:
                if isinstance(event, ContentReceived) and isinstance(event.message, FileAnswer):
                    answer = event.message
                    break
        assert answer is not None
        assert answer.verdict is FileVerdict.BAD_NAME
    assert os.listdir(inbox) == []
    assert not (tmp_path / "etc").exists()


async def test_a_sender_refuses_a_local_name_with_control_characters(
    relay: RunningRelay, tmp_path: Path
) -> None:
    source = tmp_path / "bad\x1b[31mname"
    source.write_bytes(b"x")
    async with live_session(relay, SESSION_PASSWORD) as (org, member), _running(org) as sender:
        result = await sender.send_file(source, member.peer_id)
    assert isinstance(result, TransferFailed)
    assert "control characters" in result.reason
    assert "\x1b" not in result.reason


async def test_a_chunk_corrupted_by_the_relay_is_refused_and_sent_again(
    relay: RunningRelay, tmp_path: Path
) -> None:
    source, inbox = tmp_path / "payload.bin", tmp_path / "inbox"
    inbox.mkdir()
    digest = _random_file(source, 3 * 1024 * 1024)
    chunks = 0
    listing_when_corrupted: list[str] = []

    def corrupt_third_chunk(msg: Sealed) -> Sealed:
        nonlocal chunks
        if msg.header.content_type is not ContentType.FILE_CHUNK:
            return msg
        chunks += 1
        if chunks == 3:
            listing_when_corrupted.extend(os.listdir(inbox))
            return _flip(msg)
        return msg

    _hook_route(relay, corrupt_third_chunk)
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(org) as sender,
        _running(member, accept_dir=inbox) as receiver,
    ):
        result = await sender.send_file(source, member.peer_id)
        assert isinstance(result, TransferDone), result
        done = await _next(receiver, TransferDone)
        dropped = member.opener_statistics()
    assert listing_when_corrupted == ["payload.bin.part"]
    assert sum(v for k, v in dropped.items() if k != "opened") >= 1, "the flipped chunk was refused"
    assert done.path is not None
    assert hashlib.sha256(done.path.read_bytes()).digest() == digest
    assert chunks > 3 * 1024 * 1024 // (256 * 1024), "the lost chunk was sent again"


async def test_a_relay_that_keeps_corrupting_ends_the_transfer_with_nothing_kept(
    relay: RunningRelay, tmp_path: Path
) -> None:
    source, inbox = tmp_path / "payload.bin", tmp_path / "inbox"
    inbox.mkdir()
    _random_file(source, 8 * 1024 * 1024)  # 32 chunks
    chunks = 0

    def corrupt_every_second_chunk(msg: Sealed) -> Sealed:
        # Each resume then gets at most one chunk further: far more resumes than allowed.
        nonlocal chunks
        if msg.header.content_type is ContentType.FILE_CHUNK:
            chunks += 1
            if chunks % 2 == 0:
                return _flip(msg)
        return msg

    _hook_route(relay, corrupt_every_second_chunk)
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(org) as sender,
        _running(member, accept_dir=inbox) as receiver,
    ):
        result = await sender.send_file(source, member.peer_id)
        failed = await _next(receiver, TransferFailed)
    assert isinstance(result, TransferFailed)
    assert failed.reason == "The transfer kept losing data on the way; gave up."
    assert result.reason.startswith("The receiver gave up the transfer")
    assert os.listdir(inbox) == [], "nothing under the final name, and no .part"


async def test_an_interrupted_transfer_resumes_from_the_verified_prefix_in_a_new_session(
    relay: RunningRelay, tmp_path: Path
) -> None:
    source, inbox = tmp_path / "big.iso", tmp_path / "inbox"
    inbox.mkdir()
    digest = _random_file(source, 4 * 1024 * 1024)  # 16 chunks
    chunks = 0
    cut = True

    def cut_after_six_chunks(msg: Sealed) -> Sealed | None:
        nonlocal chunks
        if msg.header.content_type is ContentType.FILE_CHUNK:
            chunks += 1
            if cut and chunks > 6:
                return None  # the connection "breaks": nothing more gets through
        return msg

    _hook_route(relay, cut_after_six_chunks)
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(org, stall_timeout=2.0) as sender,
        _running(member, accept_dir=inbox, stall_timeout=2.0) as receiver,
    ):
        first = await sender.send_file(source, member.peer_id)
        failed = await _next(receiver, TransferFailed)
    assert isinstance(first, TransferFailed)
    assert "kept to resume" in failed.reason
    assert os.listdir(inbox) == ["big.iso.part"], "nothing under the final name"
    held = (inbox / "big.iso.part").stat().st_size
    assert held == 6 * 256 * 1024

    cut, chunks = False, 0
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(org) as sender,
        _running(member, accept_dir=inbox) as receiver,
    ):
        second = await sender.send_file(source, member.peer_id)
        assert isinstance(second, TransferDone), second
        done = await _next(receiver, TransferDone)
    # The ten missing chunks, and maybe a probe sent again after a silence; never all 16.
    assert 10 <= chunks < 16, "only what was missing was sent"
    assert done.path == inbox / "big.iso"
    assert hashlib.sha256(done.path.read_bytes()).digest() == digest
    assert os.listdir(inbox) == ["big.iso"]


async def test_a_partial_copy_of_another_file_is_not_resumed_from(
    relay: RunningRelay, tmp_path: Path
) -> None:
    source, inbox = tmp_path / "big.iso", tmp_path / "inbox"
    inbox.mkdir()
    digest = _random_file(source, 1024 * 1024)
    (inbox / "big.iso.part").write_bytes(secrets.token_bytes(300_000))  # not a prefix of it
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(org) as sender,
        _running(member, accept_dir=inbox) as receiver,
    ):
        assert isinstance(await sender.send_file(source, member.peer_id), TransferDone)
        done = await _next(receiver, TransferDone)
    assert done.path is not None
    assert hashlib.sha256(done.path.read_bytes()).digest() == digest


async def test_a_file_larger_than_the_free_space_is_refused_before_a_byte_is_written(
    relay: RunningRelay, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    huge = 1 << 60  # more than any disk here has free
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(member, accept_dir=inbox) as receiver,
    ):
        await org.send_content(
            FileOffer(file_id=3, name="disk-image.raw", size=huge, sha256=bytes(32)),
            recipient=member.peer_id,
        )
        failed = await _next(receiver, TransferFailed)
        with trio.fail_after(TIMEOUT):
            async for event in org.events:
                if isinstance(event, ContentReceived) and isinstance(event.message, FileAnswer):
                    answer = event.message
                    break
    assert (
        failed.reason
        == f"Not enough free space in {inbox} for disk-image.raw; nothing was written."
    )
    assert answer.verdict is FileVerdict.NO_SPACE
    assert os.listdir(inbox) == []


async def test_a_connection_cut_at_half_resumes_from_the_verified_prefix_after_rejoining(
    relay: RunningRelay, tmp_path: Path
) -> None:
    source, inbox = tmp_path / "trace.bin", tmp_path / "inbox"
    inbox.mkdir()
    digest = _random_file(source, 8 * 1024 * 1024)  # 32 chunks
    cutter = Cutter(relay.port)
    chunks = 0

    def cut_at_half(msg: Sealed) -> Sealed:
        nonlocal chunks
        if msg.header.content_type is ContentType.FILE_CHUNK:
            chunks += 1
            if chunks == 16:
                cutter.cut()  # the member's connection drops, abruptly, mid-file
        return msg

    _hook_route(relay, cut_at_half)
    async with connect(relay.port, relay.fingerprint) as oc:
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
        async with _running(org, stall_timeout=3.0) as sender:
            async with connect(cutter.port, relay.fingerprint) as mc:
                member = await mc.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
                async with _running(member, accept_dir=inbox) as receiver:
                    first = await sender.send_file(source, member.peer_id)
                    await receiver.aclose()
            assert isinstance(first, TransferFailed)
            # The relay's roster says Ana left; on a loaded machine the sender may stall first.
            assert first.reason in (
                "The receiver left the session.",
                "The transfer stalled; cancelled.",
            )
            held = (inbox / "trace.bin.part").stat().st_size
            assert 0 < held < source.stat().st_size
            assert not (inbox / "trace.bin").exists()

            chunks = 0
            async with connect(relay.port, relay.fingerprint) as mc:
                member = await mc.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
                async with _running(member, accept_dir=inbox) as receiver:
                    second = await sender.send_file(source, member.peer_id)
                    assert isinstance(second, TransferDone), second
                    done = await _next(receiver, TransferDone)
    # What was missing, and maybe a probe sent again after a silence; never the whole file.
    assert 32 - held // (256 * 1024) <= chunks < 32, "only what was missing was sent again"
    assert done.path == inbox / "trace.bin"
    assert hashlib.sha256(done.path.read_bytes()).digest() == digest
    assert os.listdir(inbox) == ["trace.bin"]


@pytest.mark.parametrize("who", ["sender", "receiver"])
async def test_a_cancelled_transfer_stops_on_both_sides_and_nothing_is_kept(
    relay: RunningRelay, tmp_path: Path, who: str
) -> None:
    source, inbox = tmp_path / "big.bin", tmp_path / "inbox"
    inbox.mkdir()
    with source.open("wb") as f:
        f.truncate(256 * 1024 * 1024)  # far more than can arrive before the cancel does
    async with (
        live_session(relay, SESSION_PASSWORD) as (org, member),
        _running(org) as sender,
        _running(member, accept_dir=inbox) as receiver,
        trio.open_nursery() as nursery,
    ):
        results: list[TransferDone | TransferFailed] = []

        async def send() -> None:
            results.append(await sender.send_file(source, member.peer_id))

        nursery.start_soon(send)
        progress = await _next(receiver, TransferProgress)
        if who == "sender":
            await sender.cancel("send", member.peer_id, progress.file_id)
        else:
            await receiver.cancel("receive", org.peer_id, progress.file_id)
        failed = await _next(receiver, TransferFailed)
        with trio.fail_after(TIMEOUT):
            while not results:
                await trio.sleep(0.05)
    result = results[0]
    assert isinstance(result, TransferFailed)
    if who == "sender":
        assert result.reason == "You cancelled the transfer."
        assert failed.reason == "The sender cancelled the transfer."
    else:
        assert result.reason == "The receiver cancelled the transfer."
        assert failed.reason == "You cancelled the transfer; nothing of it was kept."
    assert os.listdir(inbox) == []
