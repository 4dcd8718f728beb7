"""Microbenchmarks of the pure parts: content sealing, the wire codec, admission, decoys.

    python -m bench.crypto_codec            # about 1-2 minutes on 2 cores
    python -m bench.crypto_codec --quick    # a few seconds, fewer repeats

Every figure is the median of ``--repeats`` runs (default 7) of a loop calibrated to about
``--target`` seconds, timed with ``time.perf_counter``. Nothing is asserted: these are numbers
to compare over time, not tests. Results: a table on stdout and
``bench/results/crypto_codec-<UTC>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from rich.console import Console
from rich.table import Table

from bench.common import (
    KIB,
    MB,
    MIB,
    calibrate,
    machine_info,
    median,
    parse_size,
    size_label,
    timed_runs,
    write_results,
)
from core.crypto import (
    ContentOpener,
    ContentSealer,
    JoinerAdmission,
    KnockValues,
    LeaderAdmission,
    SealedContent,
    decoy_challenge,
    next_epoch_secret,
    public_key_bytes,
    sign_certificate,
)
from core.crypto.decoy import DECOY_SECRET_SIZE
from core.protocol import ClientConnection, RelayConnection
from core.protocol.content import (
    MAX_CONTENT_PLAINTEXT,
    ContentType,
    FrameUpdate,
    decode_content,
    encode_content,
)
from core.protocol.framing import decode_payload, encode_frame
from core.protocol.messages import PROTOCOL_NAME, Hello, Sealed, Welcome
from core.protocol.pair import MemberCertificate, SignedCertificate, Standing

SESSION_ID = "123456789"
DEFAULT_SIZES = (1 * KIB, 64 * KIB, 1 * MIB, 4 * MIB)


@dataclasses.dataclass
class Settings:
    repeats: int
    target: float


def _stats(per_call: list[float], nbytes: int | None = None) -> dict[str, Any]:
    """Median seconds per call → ops/s and (for sized work) MB/s, with the spread."""
    med = median(per_call)
    out: dict[str, Any] = {
        "median_s": med,
        "min_s": min(per_call),
        "max_s": max(per_call),
        "runs": len(per_call),
        "ops_per_s": 1 / med,
    }
    if nbytes is not None:
        out["mb_per_s"] = nbytes / med / MB
    return out


def _measure(fn: Callable[[], object], settings: Settings) -> list[float]:
    fn()  # warm caches and lazy imports
    number = calibrate(fn, settings.target)
    return timed_runs(fn, repeats=settings.repeats, number=number)


# -- sealing ----------------------------------------------------------------------------------


def _member(peer_id: int) -> tuple[Ed25519PrivateKey, bytes]:
    key = Ed25519PrivateKey.generate()
    return key, public_key_bytes(key)


def _open_all(opener: ContentOpener, batch: list[SealedContent]) -> None:
    for sealed in batch:
        opener.open(*sealed, now=0.0)


def bench_sealing(sizes: tuple[int, ...], settings: Settings) -> list[dict[str, Any]]:
    """seal, open, and seal+open of one plaintext; plus the two primitives underneath."""
    rows: list[dict[str, Any]] = []
    secret = next_epoch_secret()
    sender_key, sender_pub = _member(1)
    _, viewer_pub = _member(2)
    members = {1: sender_pub, 2: viewer_pub}
    for size in sizes:
        plaintext = os.urandom(size)
        sealer = ContentSealer(SESSION_ID, 1, sender_key)
        sealer.set_epoch(1, secret)

        seal_runs = _measure(partial(sealer.seal, ContentType.FRAME_UPDATE, 0, plaintext), settings)

        # Opening needs ever-increasing counters: seal a batch once, and open it with a fresh
        # opener (fresh replay window) for each pass. The opener set-up is outside the timing.
        batch_size = max(2, min(256, (32 * MIB) // size))
        batch = [sealer.seal(ContentType.FRAME_UPDATE, 0, plaintext) for _ in range(batch_size)]
        open_runs: list[float] = []
        for _ in range(settings.repeats + 1):
            opener = ContentOpener(SESSION_ID, local_peer_id=2)
            opener.install(1, secret, members, now=0.0)
            per_call = timed_runs(partial(_open_all, opener, batch), repeats=1, number=1)[0]
            open_runs.append(per_call / batch_size)
        open_runs = open_runs[1:]  # the first pass warmed up

        aead = AESGCM(os.urandom(32))
        nonce = os.urandom(12)
        aes_runs = _measure(partial(aead.encrypt, nonce, plaintext, b"h" * 26), settings)
        sign_runs = _measure(partial(sender_key.sign, plaintext), settings)
        signature = sender_key.sign(plaintext)
        verify_key = sender_key.public_key()
        verify_runs = _measure(partial(verify_key.verify, signature, plaintext), settings)
        round_trip = [s + o for s, o in zip(seal_runs, open_runs, strict=True)]
        rows.append(
            {
                "size": size,
                "seal": _stats(seal_runs, size),
                "open": _stats(open_runs, size),
                "seal_plus_open": _stats(round_trip, size),
                "aes_gcm_encrypt": _stats(aes_runs, size),
                "ed25519_sign": _stats(sign_runs, size),
                "ed25519_verify": _stats(verify_runs, size),
            }
        )
    return rows


# -- wire codec ----------------------------------------------------------------------------


def _sealed_message(size: int) -> Sealed:
    key, _ = _member(1)
    sealer = ContentSealer(SESSION_ID, 1, key)
    sealer.set_epoch(1, next_epoch_secret())
    tiles = os.urandom(min(size, MAX_CONTENT_PLAINTEXT - 64))
    update = FrameUpdate(
        frame_seq=1, keyframe=True, width=1920, height=1080, captured_at_us=0, tiles=tiles
    )
    kind, plaintext = encode_content(update)
    sealed = sealer.seal(kind, 0, plaintext)
    return Sealed(header=sealed.header, ciphertext=sealed.ciphertext, signature=sealed.signature)


def _open_relay_connection() -> RelayConnection:
    relay = RelayConnection()
    client = ClientConnection()
    relay.receive_data(client.send(Hello(protocol=PROTOCOL_NAME, software="bench")))
    relay.next_event()
    relay.send(Welcome(relay_name="bench", software="bench", max_frame=2**31, idle_timeout_s=60))
    return relay


def _relay_path(conn: RelayConnection, frame: bytes) -> bytes:
    """What the relay does per content message, TLS aside: reassemble, decode and validate,
    then encode once for the fan-out (``Switchboard.route``)."""
    conn.receive_data(frame)
    event = conn.next_event()
    assert isinstance(event, Sealed)
    return encode_frame(event)


def bench_codec(sizes: tuple[int, ...], settings: Settings) -> list[dict[str, Any]]:
    """encode_frame, decode_payload, and the relay's own per-message path without TLS."""
    rows: list[dict[str, Any]] = []
    for size in sizes:
        msg = _sealed_message(size)
        frame = encode_frame(msg)
        payload = frame[4:]
        encode_runs = _measure(partial(encode_frame, msg), settings)
        decode_runs = _measure(partial(decode_payload, payload), settings)
        relay_runs = _measure(partial(_relay_path, _open_relay_connection(), frame), settings)
        update = FrameUpdate(
            frame_seq=1,
            keyframe=True,
            width=1920,
            height=1080,
            captured_at_us=0,
            tiles=os.urandom(min(size, MAX_CONTENT_PLAINTEXT - 64)),
        )
        kind, plaintext = encode_content(update)
        content_enc = _measure(partial(encode_content, update), settings)
        content_dec = _measure(partial(decode_content, kind, plaintext), settings)
        rows.append(
            {
                "size": size,
                "frame_bytes": len(frame),
                "encode_frame": _stats(encode_runs, len(frame)),
                "decode_payload": _stats(decode_runs, len(frame)),
                "relay_path": _stats(relay_runs, len(frame)),
                "encode_content": _stats(content_enc, len(plaintext)),
                "decode_content": _stats(content_dec, len(plaintext)),
            }
        )
    return rows


# -- admission ------------------------------------------------------------------------------


def _own_certificate(leader_key: Ed25519PrivateKey, member_pub: bytes) -> SignedCertificate:
    cert = MemberCertificate(
        session_id=SESSION_ID,
        peer_id=1,
        name="Organizer",
        member_key=member_pub,
        standing=Standing.ORGANIZER,
    )
    return sign_certificate(cert, leader_key)


def bench_admission(settings: Settings) -> dict[str, Any]:
    """One whole admission between real state machines, no relay in between."""
    leader_key = Ed25519PrivateKey.generate()
    _, org_member_pub = _member(1)
    own = _own_certificate(leader_key, org_member_pub)
    password = "tangerine-7"  # noqa: S105 - a benchmark's session password
    leader_time: list[float] = []
    joiner_time: list[float] = []

    def admission() -> object:
        joiner = JoinerAdmission(SESSION_ID, "Ada", password)
        knock = KnockValues(peer_id=2, name="Ada", **dataclasses.asdict(joiner.join_values))
        leader = LeaderAdmission(SESSION_ID, password, leader_key, knock)
        mac = joiner.on_challenge(leader.challenge)
        leader.check_confirmation(mac)
        roster = (own, sign_certificate(leader.member_certificate(), leader_key))
        sealed = leader.grant(2, next_epoch_secret(), roster)
        return joiner.on_grant(sealed)

    runs = _measure(admission, settings)

    # The two sides separately (each step timed on its own), for who pays what.
    for _ in range(max(settings.repeats * 4, 20)):
        t0 = time.perf_counter()
        joiner = JoinerAdmission(SESSION_ID, "Ada", password)
        t1 = time.perf_counter()
        knock = KnockValues(peer_id=2, name="Ada", **dataclasses.asdict(joiner.join_values))
        leader = LeaderAdmission(SESSION_ID, password, leader_key, knock)
        t2 = time.perf_counter()
        mac = joiner.on_challenge(leader.challenge)
        t3 = time.perf_counter()
        leader.check_confirmation(mac)
        roster = (own, sign_certificate(leader.member_certificate(), leader_key))
        sealed = leader.grant(2, next_epoch_secret(), roster)
        t4 = time.perf_counter()
        joiner.on_grant(sealed)
        t5 = time.perf_counter()
        joiner_time.append((t1 - t0) + (t3 - t2) + (t5 - t4))
        leader_time.append((t2 - t1) + (t4 - t3))

    joiner_for_decoy = JoinerAdmission(SESSION_ID, "Eve", "guess")
    knock = KnockValues(peer_id=3, name="Eve", **dataclasses.asdict(joiner_for_decoy.join_values))
    decoy_secret = secrets.token_bytes(DECOY_SECRET_SIZE)
    decoy_runs = _measure(lambda: decoy_challenge(SESSION_ID, knock, decoy_secret), settings)
    return {
        "admission": _stats(runs),
        "admission_joiner_side": _stats(joiner_time),
        "admission_leader_side": _stats(leader_time),
        "decoy_challenge": _stats(decoy_runs),
    }


# -- output ---------------------------------------------------------------------------------


def _ms(stat: dict[str, Any]) -> str:
    return f"{stat['median_s'] * 1000:.3f}"


def _mbs(stat: dict[str, Any]) -> str:
    return f"{stat['mb_per_s']:,.0f}"


def render(console: Console, result: dict[str, Any]) -> None:
    table = Table(title="Content sealing (ContentSealer.seal / ContentOpener.open), MB/s")
    for col in ("plaintext", "seal", "open", "seal+open", "seal+open ms", "AES-GCM enc", "sign"):
        table.add_column(col, justify="right")
    table.add_column("verify", justify="right")
    for row in result["sealing"]:
        table.add_row(
            size_label(row["size"]),
            _mbs(row["seal"]),
            _mbs(row["open"]),
            _mbs(row["seal_plus_open"]),
            _ms(row["seal_plus_open"]),
            _mbs(row["aes_gcm_encrypt"]),
            _mbs(row["ed25519_sign"]),
            _mbs(row["ed25519_verify"]),
        )
    console.print(table)

    table = Table(title="Wire codec of a Sealed FrameUpdate: frames/s (MB/s)")
    for col in ("tiles", "encode_frame", "decode_payload", "relay path", "content enc", "dec"):
        table.add_column(col, justify="right")
    for row in result["codec"]:
        cells = [size_label(row["size"])]
        for key in ("encode_frame", "decode_payload", "relay_path", "encode_content"):
            stat = row[key]
            cells.append(f"{stat['ops_per_s']:,.0f} ({stat['mb_per_s']:,.0f})")
        stat = row["decode_content"]
        cells.append(f"{stat['ops_per_s']:,.0f} ({stat['mb_per_s']:,.0f})")
        table.add_row(*cells)
    console.print(table)

    adm = result["admission"]
    table = Table(title="Admission (in memory, leader + joiner state machines), ms")
    for col in ("whole admission", "joiner side", "leader side", "decoy challenge"):
        table.add_column(col, justify="right")
    table.add_row(
        _ms(adm["admission"]),
        _ms(adm["admission_joiner_side"]),
        _ms(adm["admission_leader_side"]),
        _ms(adm["decoy_challenge"]),
    )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.crypto_codec",
        description=(
            "Microbenchmarks: seal/open throughput, Sealed-message encode/decode, admission "
            "handshake and decoy challenge. Medians of repeated timed loops; no assertions."
        ),
    )
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed runs per figure, median reported (>= 5)"
    )
    parser.add_argument(
        "--target", type=float, default=0.25, help="seconds each timed run aims for (0.25)"
    )
    parser.add_argument(
        "--sizes",
        default=",".join(size_label(s).replace(" ", "") for s in DEFAULT_SIZES),
        help="comma-separated plaintext sizes, e.g. 1KiB,64KiB,1MiB,4MiB (the default)",
    )
    parser.add_argument("--quick", action="store_true", help="5 short runs per figure (smoke)")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    settings = Settings(repeats=max(5, args.repeats), target=args.target)
    if args.quick:
        settings = Settings(repeats=5, target=0.03)
    sizes = tuple(parse_size(s) for s in args.sizes.split(","))
    if any(s > MAX_CONTENT_PLAINTEXT for s in sizes):
        parser.error(f"sizes are limited to {MAX_CONTENT_PLAINTEXT} bytes (one sealed message)")

    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(f"crypto_codec: {settings.repeats} runs of ~{settings.target:g} s per figure")
    result: dict[str, Any] = {
        "benchmark": "crypto_codec",
        "command": " ".join(["python -m bench.crypto_codec", *(argv or sys.argv[1:])]),
        "machine": machine_info(),
        "settings": dataclasses.asdict(settings),
    }
    result["sealing"] = bench_sealing(sizes, settings)
    result["codec"] = bench_codec(sizes, settings)
    result["admission"] = bench_admission(settings)
    render(console, result)
    if not args.no_json:
        path = write_results("crypto_codec", result)
        console.print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
