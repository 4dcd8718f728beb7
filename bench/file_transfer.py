"""File transfer throughput through a real relay, against a raw TLS copy through the forwarder.

``porthole``: a relay process (``porthole-relay serve``) on loopback; in this process an
organizer sends a file of random bytes to one member with ``FileTransfers`` (docs/design.md
§4.7): the sender hashes it first, every chunk is sealed, signed, relayed, opened, written to
``NAME.part``, acknowledged, and the whole file is fsynced, verified and renamed. The time is
from ``send_file`` to the sender's ``TransferDone`` (hashing included), and is also reported
without the up-front hash.

``tls``: the ceiling, ``bench/forwarder.py`` (the fan-out benchmark's trivial forwarder, the
relay's own TLS settings): the same bytes read from the same file are written into one TLS
connection and counted out of another, nothing else.

``screen``: the issue's question, whether a transfer costs other people their screen. The
organizer presents 15 updates of 32 KiB a second; a watcher counts what arrives; meanwhile
another member sends the file *to the presenter*. The watcher's update rate during the transfer
is compared with its rate over the same length of time without one, in the same session.

Both ends of each run live in this process, as in ``bench.fanout``. Medians of ``--repeats``
runs; results as JSON under bench/results/.

    python -m bench.file_transfer --size 200m --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio

from bench.common import machine_info, median, parse_size, size_label, write_results
from bench.fanout import (
    ORGANIZER,
    ORGANIZER_PASSWORD,
    SESSION_PASSWORD,
    RelayAddress,
    _ceiling_connect,
    _relay_executable,
    start_forwarder,
    start_relay,
)
from core.client import SessionBase, open_relay_client
from core.client.events import ContentReceived
from core.client.files import FileTransfers, TransferDone, sha256_of
from core.protocol.content import FrameUpdate

BLOCK = 256 * 1024


async def _pump(session: SessionBase, transfers: FileTransfers) -> None:
    async for event in session.events:
        await transfers.handle(event)


@contextlib.asynccontextmanager
async def _pair(
    relay: RelayAddress, inbox: Path
) -> AsyncIterator[tuple[FileTransfers, FileTransfers, int]]:
    """An organizer and a member in a fresh session, each with its transfers running."""
    async with (
        open_relay_client(relay.host, relay.port, pinned=relay.fingerprint, proxy="") as oc,
        open_relay_client(relay.host, relay.port, pinned=relay.fingerprint, proxy="") as mc,
        trio.open_nursery() as nursery,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="sender", password=SESSION_PASSWORD)
        member = await mc.join(org.session_id, name="receiver", password=SESSION_PASSWORD)
        sender, receiver = FileTransfers(org), FileTransfers(member, accept_dir=inbox)
        for session, transfers in ((org, sender), (member, receiver)):
            nursery.start_soon(_pump, session, transfers)
            nursery.start_soon(transfers.run)
        yield sender, receiver, member.peer_id
        nursery.cancel_scope.cancel()


async def porthole_run(relay: RelayAddress, source: Path, workdir: Path) -> dict[str, float]:
    inbox = workdir / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir()
    async with _pair(relay, inbox) as (sender, _receiver, peer):
        started = time.perf_counter()
        result = await sender.send_file(source, peer)
        elapsed = time.perf_counter() - started
    if not isinstance(result, TransferDone):
        raise RuntimeError(f"the transfer failed: {result.reason}")
    received = inbox / source.name
    if sha256_of(received)[1].hex() != result.sha256:
        raise RuntimeError("the received file differs")
    return {"seconds": elapsed}


FPS = 15.0
UPDATE_BYTES = 32 * 1024


async def _present(org: SessionBase, stop: trio.Event) -> None:
    """A steady screen: FPS updates a second, each UPDATE_BYTES of tiles."""
    tiles = os.urandom(UPDATE_BYTES)
    seq = 0
    next_at = trio.current_time()
    while not stop.is_set():
        seq += 1
        await org.send_content(
            FrameUpdate(
                frame_seq=seq,
                keyframe=False,
                width=1920,
                height=1080,
                captured_at_us=time.time_ns() // 1000,
                tiles=tiles,
            )
        )
        next_at += 1 / FPS
        await trio.sleep_until(next_at)


async def _watch(watcher: SessionBase, arrivals: list[float]) -> None:
    async for event in watcher.events:
        if isinstance(event, ContentReceived) and isinstance(event.message, FrameUpdate):
            arrivals.append(trio.current_time())


async def screen_run(relay: RelayAddress, source: Path, workdir: Path) -> dict[str, float]:
    """The watcher's update rate without and then with a transfer to the presenter."""
    inbox = workdir / "presenter-inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir()
    pin = relay.fingerprint
    async with (
        open_relay_client(relay.host, relay.port, pinned=pin, proxy="") as oc,
        open_relay_client(relay.host, relay.port, pinned=pin, proxy="") as wc,
        open_relay_client(relay.host, relay.port, pinned=pin, proxy="") as sc,
        trio.open_nursery() as nursery,
    ):
        await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await oc.create_session(name="presenter", password=SESSION_PASSWORD)
        watcher = await wc.join(org.session_id, name="watcher", password=SESSION_PASSWORD)
        member = await sc.join(org.session_id, name="sender", password=SESSION_PASSWORD)
        receiving = FileTransfers(org, accept_dir=inbox)
        sending = FileTransfers(member)
        for session, transfers in ((org, receiving), (member, sending)):
            nursery.start_soon(_pump, session, transfers)
            nursery.start_soon(transfers.run)
        arrivals: list[float] = []
        stop = trio.Event()
        nursery.start_soon(_watch, watcher, arrivals)
        nursery.start_soon(_present, org, stop)
        await trio.sleep(1.0)  # past the first keyframe requests and re-keys
        started = trio.current_time()
        result = await sending.send_file(source, org.peer_id)
        during = trio.current_time() - started
        if not isinstance(result, TransferDone):
            raise RuntimeError(f"the transfer failed: {result.reason}")
        quiet_from = trio.current_time()
        await trio.sleep(during)
        quiet_to = trio.current_time()
        stop.set()
        nursery.cancel_scope.cancel()
    with_transfer = sum(started <= t < started + during for t in arrivals) / during
    without = sum(quiet_from <= t < quiet_to for t in arrivals) / (quiet_to - quiet_from)
    return {"seconds": during, "fps_with": with_transfer, "fps_without": without}


async def tls_run(port: int, source: Path, group: int) -> dict[str, float]:
    size = source.stat().st_size
    sender = await _ceiling_connect(port, True, b"S", group)
    receiver = await _ceiling_connect(port, True, b"R", group)
    got = 0
    done = trio.Event()

    async def count() -> None:
        nonlocal got
        while got < size:
            data = await receiver.receive_some(BLOCK)
            if not data:
                break
            got += len(data)
        done.set()

    async with trio.open_nursery() as nursery:
        started = time.perf_counter()
        nursery.start_soon(count)
        with source.open("rb") as f:
            while block := f.read(BLOCK):
                await sender.send_all(block)
        await done.wait()
        elapsed = time.perf_counter() - started
    await trio.aclose_forcefully(sender)
    await trio.aclose_forcefully(receiver)
    if got != size:
        raise RuntimeError(f"the forwarder delivered {got} of {size} bytes")
    return {"seconds": elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("200m"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--relay-bin", help="porthole-relay to run (default: the installed one)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="porthole-bench-files-"))
    try:
        return _bench(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _bench(args: argparse.Namespace, workdir: Path) -> int:
    source = workdir / "payload.bin"
    with source.open("wb") as f:
        left = args.size
        while left:
            block = os.urandom(min(left, 4 * 1024 * 1024))
            f.write(block)
            left -= len(block)
    hash_started = time.perf_counter()
    hashlib.sha256(source.read_bytes())
    hash_seconds = time.perf_counter() - hash_started
    relay_proc, relay = start_relay(_relay_executable(args.relay_bin), workdir)
    forwarder, _tcp_port, tls_port = start_forwarder(workdir)
    runs: dict[str, list[float]] = {"porthole": [], "tls": []}
    screens: list[dict[str, float]] = []
    try:
        for repeat in range(args.repeats):
            runs["tls"].append(trio.run(tls_run, tls_port, source, repeat)["seconds"])
            runs["porthole"].append(trio.run(porthole_run, relay, source, workdir)["seconds"])
            screens.append(trio.run(screen_run, relay, source, workdir))
    finally:
        relay_proc.stop()
        forwarder.stop()
    mib = args.size / (1024 * 1024)
    porthole_s, tls_s = median(runs["porthole"]), median(runs["tls"])
    summary: dict[str, Any] = {
        "size": args.size,
        "repeats": args.repeats,
        "seconds": runs,
        "median_mib_s": {"porthole": mib / porthole_s, "tls": mib / tls_s},
        "porthole_without_hash_mib_s": mib / max(porthole_s - hash_seconds, 1e-9),
        "sha256_seconds": hash_seconds,
        "ratio": tls_s / porthole_s,
        "screen": screens,
        "screen_fps_ratio_median": median([r["fps_with"] / r["fps_without"] for r in screens]),
        "machine": machine_info(),
    }
    path = write_results("file_transfer", summary)
    print(f"{size_label(args.size)}, median of {args.repeats}:")
    print(f"  raw TLS through the forwarder : {mib / tls_s:8.1f} MiB/s")
    print(f"  porthole file transfer        : {mib / porthole_s:8.1f} MiB/s")
    print(f"    without the sender's hash   : {summary['porthole_without_hash_mib_s']:8.1f} MiB/s")
    print(f"  ratio porthole / TLS          : {summary['ratio']:8.2f}")
    print(f"a watcher's screen ({FPS:.0f} updates/s of {size_label(UPDATE_BYTES)}) while another")
    print("member sends the file to the presenter, updates/s without → with:")
    for r in screens:
        print(f"  {r['fps_without']:5.1f} → {r['fps_with']:5.1f}  (transfer {r['seconds']:.1f} s)")
    print(f"  median ratio with / without   : {summary['screen_fps_ratio_median']:8.2f}")
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
