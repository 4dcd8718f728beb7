"""Can a prober tell a live session ID from an unknown one? Probe both, interleaved, and compare.

    python -m bench.prober                    # 100 probes per kind, relay and organizers as
                                              # child processes on loopback
    python -m bench.prober --probes 30 --json # fewer; print the JSON summary too

Three kinds of target on one relay: a *live* session (password-protected, its organizer in a
child process answering knocks), a *locked* live session (another organizer), and *unknown* IDs
(a handful, each probed repeatedly, so that per-ID stability can be seen). Every probe is what a
prober can do without the password: a fresh TLS connection, Hello, ``Join`` with a wrong
password, check the Challenge's signature as a real joiner does, ``Confirm``, read the answer.
The kinds take turns (live, unknown, locked, live, …) so that load on the shared machine hits
all of them alike.

Reported per kind: the answers' message types and fields (codes, texts, field sizes), the
distinct leader keys per ID, the peer ids' spread (and a two-sample Kolmogorov–Smirnov distance
between kinds), and the medians of three timings: the whole attempt (connect to answer), Join →
Challenge, and Confirm → answer. Nothing here asserts: it measures (``tests/relay/
test_probes.py`` checks the same properties, without timing, on every run).

:func:`probe` is the prober itself; the tests use it too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import trio

from bench.common import machine_info, write_results
from core.client import open_relay_client
from core.client.channel import open_channel
from core.client.relay_channel import RelayChannel
from core.crypto import ChallengeValues, CryptoError, JoinerAdmission
from core.protocol.messages import (
    ActionCode,
    Challenge,
    Confirm,
    Error,
    Join,
    Message,
    Ping,
    Pong,
)
from relay.config import RelayConfig
from relay.limits import BackoffPolicy
from relay.pacing import Phase
from relay.server import serve_relay
from relay.store import RelayStore

ORGANIZER = "olga"
ORGANIZER_PASSWORD = "plum-harbor-lantern-42"  # noqa: S105 - a throwaway bench account
SESSION_PASSWORD = "tangerine-7"  # noqa: S105 - a throwaway bench session
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    """Everything one probe saw: the messages (in order) and when."""

    session_id: str
    #: Type name of each message the relay sent after our Join, in order.
    messages: tuple[str, ...]
    challenge: Challenge | None
    #: The last answer: an Error (refusal), an Admit, …
    answer: Message | None
    #: Seconds: connect → last answer; Join sent → Challenge; Confirm sent → last answer.
    attempt: float
    to_challenge: float | None
    to_answer: float | None
    signature_ok: bool = field(default=False)

    def shape(self) -> tuple[Any, ...]:
        """What a prober can compare without timing: types, codes, texts and field sizes."""
        challenge = self.challenge
        sizes = (
            None
            if challenge is None
            else tuple(
                len(getattr(challenge, name))
                for name in ("ephemeral_key", "spake_message", "leader_key", "signature")
            )
        )
        answer = self.answer
        fields = (
            (answer.code.name, answer.message, answer.in_reply_to)
            if isinstance(answer, Error)
            else (type(answer).__name__,)
        )
        return (self.messages, sizes, self.signature_ok, fields)


async def probe(
    port: int,
    fingerprint: str,
    session_id: str,
    *,
    password: str = "not-the-password",  # noqa: S107 - a prober does not know it
    name: str = "Probe",
    host: str = "127.0.0.1",
) -> ProbeAnswer:
    """One attempt as a prober makes it: new connection, Join, Confirm, the answer."""
    started = trio.current_time()
    channel = await open_channel(host, port, pinned=fingerprint, transport="tls", proxy="")
    seen: list[str] = []
    challenge: Challenge | None = None
    answer: Message | None = None
    to_challenge = to_answer = None
    signature_ok = False
    try:
        admission = JoinerAdmission(session_id, name, password)
        values = admission.join_values
        sent = trio.current_time()
        await channel.send(
            Join(
                session_id=session_id,
                name=name,
                ephemeral_key=values.ephemeral_key,
                spake_message=values.spake_message,
                member_key=values.member_key,
            )
        )
        first = await channel.receive()
        seen.append(type(first).__name__)
        if not isinstance(first, Challenge):
            answer = first
        else:
            challenge = first
            to_challenge = trio.current_time() - sent
            try:
                mac = admission.on_challenge(
                    ChallengeValues(
                        peer_id=first.peer_id,
                        ephemeral_key=first.ephemeral_key,
                        spake_message=first.spake_message,
                        leader_key=first.leader_key,
                        signature=first.signature,
                    )
                )
                signature_ok = True
            except CryptoError:
                mac = bytes(32)
            confirmed = trio.current_time()
            await channel.send(Confirm(peer_id=first.peer_id, mac=mac))
            answer = await channel.receive()
            seen.append(type(answer).__name__)
            to_answer = trio.current_time() - confirmed
        attempt = trio.current_time() - started
    finally:
        with trio.CancelScope(shield=True):
            await channel.aclose()
    return ProbeAnswer(
        session_id=session_id,
        messages=tuple(seen),
        challenge=challenge,
        answer=answer,
        attempt=attempt,
        to_challenge=to_challenge,
        to_answer=to_answer,
        signature_ok=signature_ok,
    )


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov–Smirnov statistic: the largest gap between the two ECDFs (NaN if
    either sample is empty)."""
    xs, ys = sorted(a), sorted(b)
    if not xs or not ys:
        return math.nan
    i = j = 0
    gap = 0.0
    while i < len(xs) and j < len(ys):
        value = min(xs[i], ys[j])
        while i < len(xs) and xs[i] == value:
            i += 1
        while j < len(ys) and ys[j] == value:
            j += 1
        gap = max(gap, abs(i / len(xs) - j / len(ys)))
    return gap


def ks_critical(n: int, m: int, alpha: float) -> float:
    """The KS distance above which two samples of sizes n, m differ at level ``alpha``."""
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


def unknown_ids(count: int, avoid: Sequence[str]) -> list[str]:
    """Random 9-digit IDs no session uses (first digit not 0, as the relay makes them)."""
    ids: list[str] = []
    while len(ids) < count:
        candidate = str(100_000_000 + secrets.randbelow(900_000_000))
        if candidate not in avoid and candidate not in ids:
            ids.append(candidate)
    return ids


def summarize(answers: Sequence[ProbeAnswer]) -> dict[str, Any]:
    """What one kind of target looked like over all its probes."""
    keys_per_id: dict[str, set[bytes]] = {}
    for a in answers:
        if a.challenge is not None:
            keys_per_id.setdefault(a.session_id, set()).add(a.challenge.leader_key)
    peer_ids = [a.challenge.peer_id for a in answers if a.challenge is not None]
    shapes = Counter(repr(a.shape()) for a in answers)

    def med(values: Sequence[float | None]) -> float | None:
        real = [v for v in values if v is not None]
        return statistics.median(real) * 1000 if real else None

    return {
        "probes": len(answers),
        "ids": len(keys_per_id),
        "leader_keys_per_id": sorted({len(keys) for keys in keys_per_id.values()}),
        "shapes": dict(shapes),
        "peer_ids": peer_ids,
        "peer_id_min": min(peer_ids, default=None),
        "peer_id_median": statistics.median(peer_ids) if peer_ids else None,
        "peer_id_max": max(peer_ids, default=None),
        "peer_ids_increasing": peer_ids == sorted(peer_ids),
        "median_attempt_ms": med([a.attempt for a in answers]),
        "median_to_challenge_ms": med([a.to_challenge for a in answers]),
        "median_to_answer_ms": med([a.to_answer for a in answers]),
    }


# -- the child processes -------------------------------------------------------------------


async def _delayed_pipe(
    source: trio.abc.ReceiveStream, sink: trio.abc.SendStream, delay: float
) -> None:
    """Forward bytes in order, each chunk ``delay`` seconds after it was read."""
    send, receive = trio.open_memory_channel[tuple[float, bytes]](math.inf)

    async def deliver() -> None:
        async for due, data in receive:
            await trio.sleep_until(due)
            await sink.send_all(data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(deliver)
        while data := await source.receive_some(65536):
            send.send_nowait((trio.current_time() + delay, bytes(data)))
        send.close()


async def _delay_proxy(
    relay_port: int, rtt: float, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """A loopback TCP forwarder to the relay adding ``rtt / 2`` each way: the organizer as if
    it were across the Internet (TLS passes through untouched, so the pin still holds)."""

    async def handle(client: trio.SocketStream) -> None:
        upstream = await trio.open_tcp_stream("127.0.0.1", relay_port)
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_delayed_pipe, client, upstream, rtt / 2)
                nursery.start_soon(_delayed_pipe, upstream, client, rtt / 2)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


async def run_organizer(port: int, fingerprint: str, locked: bool, rtt: float = 0.0) -> None:
    """``--organizer``: create a password session (locked if asked), print its ID, serve knocks
    until stdin closes. Events are drained so the client never waits on its event buffer.
    With ``rtt`` it talks to the relay through :func:`_delay_proxy`."""
    async with trio.open_nursery() as proxy:
        if rtt > 0:
            port = await proxy.start(_delay_proxy, port, rtt)
        await _organize(port, fingerprint, locked)
        proxy.cancel_scope.cancel()


async def _organize(port: int, fingerprint: str, locked: bool) -> None:
    async with open_relay_client("127.0.0.1", port, pinned=fingerprint, proxy="") as client:
        await client.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await client.create_session(name="Olga", password=SESSION_PASSWORD)
        if locked:
            await org.request(ActionCode.LOCK)
        async with trio.open_nursery() as nursery:

            async def drain() -> None:
                async for _ in org.events:
                    pass

            nursery.start_soon(drain)
            if locked:
                while org.roster is None or not org.roster.locked:
                    await trio.sleep(0.01)
            print(org.session_id, flush=True)
            stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
            while await stdin.receive_some(1024):
                pass
            nursery.cancel_scope.cancel()


class Child:
    """A child process whose stdout we read line by line (the relay, an organizer)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )

    def line(self, prefix: str = "", timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            text = self.proc.stdout.readline()
            if not text:
                break
            if text.startswith(prefix):
                return text.strip()
        raise RuntimeError(f"{self.proc.args!r} did not print {prefix!r}: {self.stop()[1]}")

    def stop(self) -> tuple[str, str]:
        """SIGTERM, then wait: the rest of its stdout and its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out or "", err or ""


def probe_config(data_dir: Path) -> RelayConfig:
    """The relay's defaults, but join failures never slow anyone: the prober is one address
    making hundreds of wrong guesses, and this measures answers, not the limits (which treat
    live and unknown IDs alike: both count per address, network and session ID)."""
    loose = BackoffPolicy(free_failures=100_000, lockout_after=100_000)
    return replace(
        RelayConfig(data_dir=data_dir, host="127.0.0.1", port=0),
        join_failures_per_address=loose,
        join_failures_per_network=loose,
        join_failures_per_session=loose,
        argon2_time_cost=1,
        argon2_memory_cost=8 * 1024,
    )


async def run_relay(data_dir: Path) -> None:
    """``--relay``: :func:`serve_relay` with :func:`probe_config`; prints its port; stops on
    SIGTERM."""
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(partial(serve_relay, probe_config(data_dir), stop=stop))
            print(f"port {info.port} {info.fingerprint}", flush=True)
            async for _ in signals:
                pacer = info.relay.switchboard.pacer
                windows = {phase.value: pacer.sampler(phase).window() for phase in Phase}
                print(f"windows {json.dumps(windows)}", flush=True)
                stop.set()
                break


def _start(data_dir: Path) -> tuple[Child, int, str, dict[str, str]]:
    with RelayStore.open(data_dir, time_cost=1, memory_cost=8 * 1024) as store:
        store.add_account(ORGANIZER, ORGANIZER_PASSWORD, time.time())
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    relay = Child([sys.executable, "-m", "bench.prober", "--relay", str(data_dir)], env)
    _, port, fingerprint = relay.line("port ").split()
    return relay, int(port), fingerprint, env


async def _probe_all(
    port: int, fingerprint: str, targets: dict[str, list[str]], probes: int
) -> tuple[dict[str, list[ProbeAnswer]], dict[str, list[float]]]:
    """Every probe, and beside each the slowest Ping round trip a second connection of the
    prober's saw while it ran (does the relay stall for one kind of ID?)."""
    answers: dict[str, list[ProbeAnswer]] = {kind: [] for kind in targets}
    stalls: dict[str, list[float]] = {kind: [] for kind in targets}
    pinger = await open_channel("127.0.0.1", port, pinned=fingerprint, transport="tls", proxy="")
    try:
        for number in range(probes):
            for kind, ids in targets.items():
                slowest = [0.0]
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_ping, pinger, slowest)
                    answers[kind].append(await probe(port, fingerprint, ids[number % len(ids)]))
                    nursery.cancel_scope.cancel()
                stalls[kind].append(slowest[0])
                await _ping_once(pinger)  # a Pong still in flight is not the next one's
    finally:
        await pinger.aclose()
    return answers, stalls


async def _ping_once(channel: RelayChannel) -> float:
    nonce = secrets.randbits(63)
    sent = trio.current_time()
    await channel.send(Ping(nonce=nonce))
    while not (isinstance(reply := await channel.receive(), Pong) and reply.nonce == nonce):
        pass
    return trio.current_time() - sent


async def _ping(channel: RelayChannel, slowest: list[float]) -> None:
    while True:
        slowest[0] = max(slowest[0], await _ping_once(channel))
        await trio.sleep(0.002)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.prober", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--probes", type=int, default=100, help="probes per kind (default 100)")
    parser.add_argument("--unknown-ids", type=int, default=5, help="distinct unknown IDs")
    parser.add_argument("--warmup", type=int, default=10, help="live probes first, unreported")
    parser.add_argument("--json", action="store_true", help="print the JSON summary too")
    parser.add_argument(
        "--organizer", nargs=4, metavar=("PORT", "FP", "LOCKED", "RTT"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--organizer-rtt-ms",
        type=float,
        default=0.0,
        help="put the organizers this far from the relay (a delaying TCP forwarder; default 0)",
    )
    parser.add_argument("--relay", metavar="DATA_DIR", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.relay:
        trio.run(run_relay, args.relay)
        return 0
    if args.organizer:
        port, fp, locked, rtt = args.organizer
        trio.run(run_organizer, int(port), fp, locked == "1", float(rtt))
        return 0

    with tempfile.TemporaryDirectory(prefix="porthole-prober-") as tmp:
        relay, port, fingerprint, env = _start(Path(tmp) / "relay")
        organizers: list[Child] = []
        try:
            ids = []
            for locked in ("0", "1"):
                org = Child(
                    [
                        sys.executable,
                        "-m",
                        "bench.prober",
                        "--organizer",
                        str(port),
                        fingerprint,
                        locked,
                        str(args.organizer_rtt_ms / 1000),
                    ],
                    env,
                )
                organizers.append(org)
                ids.append(org.line())
            live, locked_id = ids
            targets = {
                "live": [live],
                "unknown": unknown_ids(args.unknown_ids, ids),
                "locked": [locked_id],
            }
            # The relay's pacing starts from seeded round trips; a few real joins first, as on
            # any relay that has been up for a while.
            trio.run(_probe_all, port, fingerprint, {"live": [live]}, args.warmup)
            answers, stalls = trio.run(_probe_all, port, fingerprint, targets, args.probes)
        finally:
            for org in organizers:
                org.stop()
            relay_out, relay_err = relay.stop()
    kinds = {kind: summarize(found) for kind, found in answers.items()}
    for kind, values in stalls.items():
        kinds[kind]["median_slowest_ping_ms"] = statistics.median(values) * 1000
    n = args.probes
    critical = ks_critical(n, n, 0.01)
    comparisons = {}
    for kind in ("live", "locked"):
        comparisons[f"{kind}_vs_unknown"] = {
            "same_shapes": set(kinds[kind]["shapes"]) == set(kinds["unknown"]["shapes"]),
            "peer_id_ks": ks_distance(kinds[kind]["peer_ids"], kinds["unknown"]["peer_ids"]),
            "peer_id_ks_critical_1pct": critical,
            **{
                f"{timing}_diff_pct": _diff_pct(kinds[kind][timing], kinds["unknown"][timing])
                for timing in (
                    "median_attempt_ms",
                    "median_to_challenge_ms",
                    "median_to_answer_ms",
                    "median_slowest_ping_ms",
                )
            },
        }
    payload = {
        "machine": machine_info(),
        "settings": vars(args),
        "kinds": kinds,
        "comparisons": comparisons,
        "relay_stderr": relay_err[-2000:],
        "relay_round_trips": _windows(relay_out),
        "raw": {
            kind: [
                {
                    "session_id": a.session_id,
                    "messages": a.messages,
                    "peer_id": a.challenge.peer_id if a.challenge else None,
                    "leader_key": a.challenge.leader_key.hex() if a.challenge else None,
                    "answer": repr(a.answer),
                    "attempt": a.attempt,
                    "to_challenge": a.to_challenge,
                    "to_answer": a.to_answer,
                }
                for a in found
            ]
            for kind, found in answers.items()
        },
    }
    path = write_results("prober", payload)
    _print_table(kinds, comparisons)
    print(f"results: {path}")
    if args.json:
        print(json.dumps({"kinds": kinds, "comparisons": comparisons}, indent=2, default=str))
    return 0


def _windows(relay_out: str) -> dict[str, list[float]]:
    """The relay's sampler windows at the end (its real leader round trips, seconds)."""
    for line in relay_out.splitlines():
        if line.startswith("windows "):
            found: dict[str, list[float]] = json.loads(line.removeprefix("windows "))
            return found
    return {}


def _diff_pct(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return (a - b) / b * 100


def _ms(value: float | None, unit: str = "ms") -> str:
    return "n/a" if value is None else f"{value:.1f}{unit}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def _print_table(kinds: dict[str, Any], comparisons: dict[str, Any]) -> None:
    print(
        f"{'':10}{'probes':>7}{'keys/ID':>9}{'peer id med':>13}{'attempt':>10}"
        f"{'→chal':>9}{'→answer':>9}{'ping':>9}  answers"
    )
    for kind, s in kinds.items():
        shapes = "; ".join(f"{count}× {shape}" for shape, count in s["shapes"].items())
        median_id = s["peer_id_median"]
        print(
            f"{kind:10}{s['probes']:>7}{s['leader_keys_per_id']!s:>9}"
            f"{'n/a' if median_id is None else f'{median_id:.0f}':>13}"
            f"{_ms(s['median_attempt_ms']):>10}{_ms(s['median_to_challenge_ms']):>9}"
            f"{_ms(s['median_to_answer_ms']):>9}{_ms(s['median_slowest_ping_ms']):>9}  {shapes}"
        )
    for name, c in comparisons.items():
        print(
            f"{name}: same answers {c['same_shapes']}, peer-id KS {c['peer_id_ks']:.2f} "
            f"(1 % critical {c['peer_id_ks_critical_1pct']:.2f}), median differences: attempt "
            f"{_pct(c['median_attempt_ms_diff_pct'])}, →challenge "
            f"{_pct(c['median_to_challenge_ms_diff_pct'])}, →answer "
            f"{_pct(c['median_to_answer_ms_diff_pct'])}, slowest Ping "
            f"{_pct(c['median_slowest_ping_ms_diff_pct'])}"
        )


if __name__ == "__main__":
    sys.exit(main())
