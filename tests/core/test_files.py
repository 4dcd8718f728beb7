"""File transfer without a network: name safety, both state machines, and the receiver's disk."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import pytest

from core.files.disk import PartFile, hash_prefix
from core.files.names import UnsafeName, check_name, free_name, split_suffix
from core.files.transfer import (
    MAX_RESUMES,
    NO_PREFIX,
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
    Started,
    Write,
)
from core.protocol.content import (
    FileAck,
    FileAnswer,
    FileChunk,
    FileDone,
    FileStatus,
    FileVerdict,
)

# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../etc/passwd", "may not contain a path (/ or \\)"),
        ("/etc/passwd", "may not contain a path"),
        ("..\\..\\boot.ini", "may not contain a path"),
        ("..", "is not a file name"),
        (".", "is not a file name"),
        ("", "is not a file name"),
        ("   ", "is not a file name"),
        ("evil\x1b[2Jname", "control characters"),
        ("bell\x07", "control characters"),
        ("abc\u202etxt.exe", "control characters"),
        ("line\nbreak", "control characters"),
        (" padded.txt", "starts or ends with a space"),
        ("notes.txt.part", "kept for unfinished files"),
        ("x" * 241, "longer than 240 bytes"),
    ],
)
def test_unsafe_names_are_refused_with_a_sentence(name: str, why: str) -> None:
    with pytest.raises(UnsafeName) as caught:
        check_name(name)
    message = str(caught.value)
    assert why in message
    assert message.endswith("nothing was written.")
    assert message.isprintable(), "a refusal never prints raw control characters"


@pytest.mark.parametrize("name", ["report.pdf", ".bashrc", "Résumé 2024.odt", "a", "x" * 240])
def test_plain_names_pass_unchanged(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("report.pdf", ("report", ".pdf")),
        ("logs.tar.gz", ("logs", ".tar.gz")),
        (".bashrc", (".bashrc", "")),
        ("Makefile", ("Makefile", "")),
        (".tar.gz", (".tar", ".gz")),
    ],
)
def test_suffix_split(name: str, parts: tuple[str, str]) -> None:
    assert split_suffix(name) == parts


def test_free_name_never_picks_a_taken_one() -> None:
    taken = {"report.pdf", "report (1).pdf", "logs.tar.gz"}
    assert free_name("new.txt", taken.__contains__) == "new.txt"
    assert free_name("report.pdf", taken.__contains__) == "report (2).pdf"
    assert free_name("logs.tar.gz", taken.__contains__) == "logs (1).tar.gz"


# -- the two machines, wired back to back ---------------------------------------------------------


def _pair(
    data: bytes, *, chunk: int = 1000, window: int = 4000, ack_every: int = 2000
) -> tuple[Outgoing, Incoming]:
    out = Outgoing(
        7, "data.bin", len(data), hashlib.sha256(data).digest(), chunk_size=chunk, window=window
    )
    return out, Incoming(out.offer, ack_every=ack_every)


def _pump(out: Outgoing, inc: Incoming, data: bytes, lose: set[int] | None = None) -> bytearray:
    """Run sender and receiver to the end in memory; chunks at offsets in ``lose`` vanish once
    (a relay dropping them)."""
    lose = set(lose or ())
    disk = bytearray()
    started = out.on_answer(inc.accept(), None)
    assert started == Started(0)
    for _ in range(10_000):
        if out.phase in (Phase.DONE, Phase.FAILED):
            return disk
        span = out.next_range()
        if span is None:
            raise AssertionError("the sender stalled")
        offset, length = span
        chunk = out.chunk(offset, data[offset : offset + length])
        if offset in lose:
            lose.discard(offset)
            continue
        outcome = inc.on_chunk(chunk)
        match outcome:
            case Write(offset=at, data=body, restart=restart, ack=ack):
                if restart:
                    del disk[:]
                disk[at : at + len(body)] = body
                if ack is not None:
                    out.on_ack(ack)
            case Finish(offset=at, data=body, done=done):
                disk[at : at + len(body)] = body
                assert isinstance(out.on_done(done), Completed)
            case Resume(answer=answer):
                assert not out.needs_prefix(answer), "mid-transfer, nothing is hashed again"
                assert out.on_answer(answer, None) in (None, Started(answer.offset))
            case Skip():
                pass
            case Broken(reason=reason):
                raise AssertionError(reason)
    raise AssertionError("never finished")


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 25_000])
def test_a_file_arrives_whole(size: int) -> None:
    data = secrets.token_bytes(size)
    out, inc = _pair(data)
    assert _pump(out, inc, data) == data
    assert out.phase is Phase.DONE
    assert inc.phase is Phase.DONE


def test_window_bounds_what_is_in_flight() -> None:
    data = secrets.token_bytes(20_000)
    out, inc = _pair(data, chunk=1000, window=3000)
    out.on_answer(inc.accept(), None)
    sent = []
    while (span := out.next_range()) is not None:
        sent.append(out.chunk(span[0], data[span[0] : span[0] + span[1]]))
    assert [c.offset for c in sent] == [0, 1000, 2000], "three chunks, then wait for an ack"
    out.on_ack(FileAck(file_id=7, received=2000))
    assert out.next_range() == (3000, 1000)
    out.on_ack(FileAck(file_id=7, received=10**9))  # an ack past what was sent moves to it only
    assert out.acked == 3000


def test_a_lost_chunk_is_asked_for_again_and_the_file_still_matches() -> None:
    data = secrets.token_bytes(30_000)
    out, inc = _pair(data)
    assert _pump(out, inc, data, lose={5000, 17_000}) == data
    assert inc.attempt == 2
    assert out.attempt == 2


def test_too_many_losses_give_up() -> None:
    out, inc = _pair(bytes(5000))
    out.on_answer(inc.accept(), None)
    outcomes = []
    for _ in range(100):
        # The chunk at 0 never arrives, only the one after it.
        chunk = FileChunk(file_id=7, attempt=inc.attempt, offset=1000, last=False, data=bytes(1000))
        outcome = inc.on_chunk(chunk)
        outcomes.append(type(outcome).__name__)
        if isinstance(outcome, Broken):
            break
    assert isinstance(outcome, Broken)
    assert "gave up" in outcome.reason
    assert outcomes == ["Resume"] * MAX_RESUMES + ["Broken"]


def test_chunks_in_flight_before_a_resume_repeat_the_answer_without_counting() -> None:
    data = secrets.token_bytes(5000)
    out, inc = _pair(data)
    out.on_answer(inc.accept(), None)
    out.chunk(0, data[:1000])  # lost
    gap = inc.on_chunk(out.chunk(1000, data[1000:2000]))
    assert isinstance(gap, Resume)
    assert gap.answer.attempt == 1
    stale = inc.on_chunk(out.chunk(2000, data[2000:3000]))
    assert stale == Resume(gap.answer), "the same answer again, in case the first was lost"
    assert inc.attempt == 1
    assert out.on_answer(gap.answer, None) == Started(0)
    assert out.on_answer(gap.answer, None) is None, "a repeated answer changes nothing"
    assert isinstance(inc.on_chunk(out.chunk(0, data[:1000])), Write)


def test_a_probe_for_a_chunk_already_here_gets_an_ack() -> None:
    data = secrets.token_bytes(8000)
    out, inc = _pair(data, window=4000, ack_every=10_000)
    out.on_answer(inc.accept(), None)
    for _ in range(4):
        offset, length = out.next_range() or (0, 0)
        assert isinstance(inc.on_chunk(out.chunk(offset, data[offset : offset + length])), Write)
    assert out.next_range() is None, "the window is full and no ack came"
    assert out.probe_range() == (0, 1000)
    outcome = inc.on_chunk(out.probe(0, data[:1000]))
    assert outcome == Duplicate(FileAck(file_id=7, received=4000))
    out.on_ack(outcome.ack)
    assert out.next_range() == (4000, 1000)


def test_a_probe_for_a_lost_last_chunk_completes_the_file() -> None:
    data = secrets.token_bytes(2500)
    out, inc = _pair(data)
    out.on_answer(inc.accept(), None)
    for offset, length in ((0, 1000), (1000, 1000)):
        inc.on_chunk(out.chunk(offset, data[offset : offset + length]))
    out.chunk(2000, data[2000:])  # lost on the way
    assert out.phase is Phase.FINISHING
    outcome = inc.on_chunk(out.probe(0, data[:1000]))
    assert isinstance(outcome, Duplicate)
    out.on_ack(outcome.ack)
    assert out.probe_range() == (2000, 500)
    finish = inc.on_chunk(out.probe(2000, data[2000:]))
    assert isinstance(finish, Finish)
    assert finish.verified
    assert isinstance(out.on_done(finish.done), Completed)


@pytest.mark.parametrize(
    "chunk",
    [
        FileChunk(file_id=7, attempt=0, offset=4500, last=True, data=bytes(1000)),  # past the end
        FileChunk(
            file_id=7, attempt=0, offset=0, last=True, data=bytes(1000)
        ),  # "last" but not last
        FileChunk(
            file_id=7, attempt=0, offset=4000, last=False, data=bytes(1000)
        ),  # last, not marked
        FileChunk(file_id=7, attempt=0, offset=2**63, last=False, data=bytes(10)),
        FileChunk(file_id=7, attempt=5, offset=0, last=False, data=bytes(1000)),  # never asked
    ],
)
def test_chunks_that_do_not_fit_the_offer_break_the_transfer(chunk: FileChunk) -> None:
    _out, inc = _pair(bytes(5000))
    inc.accept()
    outcome = inc.on_chunk(chunk)
    assert isinstance(outcome, Broken)
    assert outcome.cancel.by_sender is False
    assert inc.phase is Phase.FAILED


def test_a_changed_file_is_a_mismatch_not_a_success() -> None:
    data = secrets.token_bytes(3000)
    out = Outgoing(7, "data.bin", 3000, hashlib.sha256(b"something else").digest())
    inc = Incoming(out.offer)
    out.on_answer(inc.accept(), None)
    outcome = inc.on_chunk(out.chunk(0, data))
    assert isinstance(outcome, Finish)
    assert not outcome.verified
    assert outcome.done.status is FileStatus.MISMATCH
    result = out.on_done(outcome.done)
    assert isinstance(result, Failed)
    assert "did not match" in result.reason


def test_a_lying_done_is_not_a_success() -> None:
    data = b"abc"
    out, inc = _pair(data)
    out.on_answer(inc.accept(), None)
    out.chunk(0, data)
    lie = FileDone(file_id=7, status=FileStatus.OK, sha256=bytes(32))
    assert isinstance(out.on_done(lie), Failed)


@pytest.mark.parametrize(
    ("verdict", "words"),
    [
        (FileVerdict.DECLINE, "declined"),
        (FileVerdict.NO_SPACE, "free space"),
        (FileVerdict.BAD_NAME, "name"),
        (FileVerdict.NOT_ALLOWED, "does not take files"),
    ],
)
def test_refusals_say_why(verdict: FileVerdict, words: str) -> None:
    out, inc = _pair(b"x")
    result = out.on_answer(inc.refuse(verdict), None)
    assert isinstance(result, Failed)
    assert words in result.reason
    assert out.next_range() is None


def test_resume_from_a_verified_prefix() -> None:
    data = secrets.token_bytes(10_000)
    out, inc = _pair(data)
    held = hashlib.sha256(data[:4000])
    answer = inc.accept(4000, held)
    assert answer.offset == 4000
    assert answer.prefix_sha256 == held.digest()
    assert out.on_answer(answer, hashlib.sha256(data[:4000]).digest()) == Started(4000)
    assert out.next_range() == (4000, 1000)


def test_a_prefix_of_another_file_starts_over() -> None:
    data = secrets.token_bytes(10_000)
    out, inc = _pair(data)
    answer = inc.accept(4000, hashlib.sha256(bytes(4000)))
    assert out.on_answer(answer, hashlib.sha256(data[:4000]).digest()) == Started(0)
    outcome = inc.on_chunk(out.chunk(0, data[:1000]))
    assert isinstance(outcome, Write)
    assert outcome.restart
    assert inc.received == 1000


def test_resume_past_the_end_fails() -> None:
    out, _ = _pair(bytes(100))
    bogus = FileAnswer(
        file_id=7, verdict=FileVerdict.ACCEPT, attempt=0, offset=101, prefix_sha256=NO_PREFIX
    )
    assert isinstance(out.on_answer(bogus, None), Failed)


# -- the disk ------------------------------------------------------------------------------------


def test_part_file_is_published_under_a_free_name(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"mine")
    part = PartFile.open(tmp_path, "report.pdf")
    part.write(0, b"hello ")
    part.write(6, b"world")
    part.flush()
    assert not (tmp_path / "report (1).pdf").exists(), "nothing under a final name before"
    final = part.publish()
    assert final == tmp_path / "report (1).pdf"
    assert final.read_bytes() == b"hello world"
    assert (tmp_path / "report.pdf").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report (1).pdf", "report.pdf"]


def test_discard_leaves_nothing(tmp_path: Path) -> None:
    part = PartFile.open(tmp_path, "x.bin")
    part.write(0, b"partial")
    part.discard()
    assert list(tmp_path.iterdir()) == []


def test_held_prefix_is_hashed_and_an_overlong_one_cut(tmp_path: Path) -> None:
    (tmp_path / "x.bin.part").write_bytes(b"0123456789")
    part = PartFile.open(tmp_path, "x.bin")
    held, digest = part.held(100)
    assert held == 10
    assert digest.digest() == hashlib.sha256(b"0123456789").digest()
    part.close()
    part = PartFile.open(tmp_path, "x.bin")
    assert part.held(5)[0] == 0
    assert (tmp_path / "x.bin.part").stat().st_size == 0
    part.discard()


def test_a_symlink_under_the_part_name_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.symlink(outside, inbox / "x.txt.part")
    with pytest.raises(OSError, match="Cannot write"):
        PartFile.open(inbox, "x.txt")
    assert outside.read_bytes() == b"precious"


def test_hash_prefix(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abcdef")
    assert hash_prefix(path, 3) == hashlib.sha256(b"abc").digest()
    with pytest.raises(OSError, match="shorter"):
        hash_prefix(path, 7)
