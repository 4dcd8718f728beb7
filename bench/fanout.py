"""Relay fan-out throughput: a real relay, real clients, and a byte-copying ceiling, same run.

    python -m bench.fanout            # full matrix, about 3.5 minutes on 2 cores
    python -m bench.fanout --quick    # smoke run, about 20 s
    python -m bench.fanout --help     # options and what every column means

What runs
---------
* The relay is ``porthole-relay serve --listen 127.0.0.1:0 --data-dir TMP`` in a subprocess
  (an organizer account is made first with ``porthole-relay account add --password-stdin``), so
  its CPU time can be read from ``/proc/PID/stat`` (utime + stime, all threads) before and
  after each measured window. ``--in-process`` runs ``serve_relay`` in the benchmark's own trio
  nursery instead (no separate relay CPU figure then).
* Clients are the real client library (``open_relay_client``, ``create_session``, ``join``) in
  this process. Each session's organizer presents: it sends sealed ``FrameUpdate`` messages of
  the given size back to back, as fast as the relay's TLS socket accepts them.
* Variant ``porthole``: viewers are ``MemberSession`` objects whose events are consumed; the
  client library always verifies and decrypts (``ContentOpener.open``) before it emits
  ``ContentReceived``, so this is what a real viewer pays.
* Variant ``noopen``: the client library cannot skip opening, so these viewers do the real
  admission handshake by hand (``open_channel`` + ``JoinerAdmission``) and then only decode
  ``porthole/1`` frames and count the ``Sealed`` ones: TLS + framing, no crypto open.
* Variant ``lean``: the cheapest porthole/1 clients, so that the relay rather than the
  clients is what saturates: the organizer sends prebuilt ``Sealed`` messages (a valid clear
  header for its session; ciphertext and signature are random bytes of the right size, which
  is all the relay ever sees of content) through ``RelayClient.channel.send``, keeping at most
  a quarter of the relay's per-member queue in flight so nothing is dropped; viewers join with
  the real handshake over their own TLS stream, then only walk frame headers.
* Variants ``tcp`` and ``tls``: the ceiling. ``bench/forwarder.py`` (a separate trio process)
  copies bytes from one sender socket to each receiver socket of its group; senders write
  length-prefixed messages of the same size, receivers only count bytes. ``tls`` runs both legs
  over TLS 1.3 with the relay's own TLS settings.

Each cell (sessions × viewers × size) runs ``--repeats`` rounds of every variant,
interleaved (porthole, noopen, lean, tcp, tls, porthole, ...), so each ratio is measured in
the same run under the same load. A round: senders start, ``--warmup`` seconds pass, counters
are read, ``--duration`` seconds pass, counters are read again, senders stop, queues drain.
Figures are medians over the rounds; ratios are medians of the per-round ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import trio
from rich.console import Console
from rich.table import Table

from bench.common import (
    GB,
    KIB,
    MB,
    machine_info,
    median,
    parse_size,
    proc_cpu_seconds,
    self_cpu_seconds,
    size_label,
    write_results,
)
from core.client import (
    ChannelClosed,
    MemberSession,
    OrganizerSession,
    RelayChannel,
    RelayClient,
    open_channel,
    open_relay_client,
)
from core.client.events import ContentReceived, SessionClosed, UpdatesDropped
from core.crypto import ChallengeValues, JoinerAdmission
from core.errors import ProtocolError
from core.protocol import NEED_DATA, ClientConnection
from core.protocol.content import (
    GCM_TAG_SIZE,
    PROTOCOL_VERSION,
    ContentHeader,
    ContentType,
    FrameUpdate,
)
from core.protocol.framing import encode_frame
from core.protocol.messages import (
    PROTOCOL_NAME,
    Admit,
    Challenge,
    Close,
    Confirm,
    Dropped,
    Error,
    Hello,
    Join,
    Message,
    Ping,
    Pong,
    Sealed,
    Welcome,
)
from core.protocol.wire import to_bytes
from core.tlspin import check_pinned, client_ssl_context
from relay.config import RelayConfig
from relay.server import serve_relay
from relay.store import RelayStore

ORGANIZER = "bench-organizer"
ORGANIZER_PASSWORD = "quartz-lantern-harbor-7731"  # noqa: S105 - a throwaway local account
SESSION_PASSWORD = "tangerine-7"  # noqa: S105
RECEIVE_CHUNK = 256 * 1024
KEEPALIVE_S = 15.0
JOIN_TIMEOUT_S = 60.0
#: FrameUpdate fields around ``tiles`` plus the AES-GCM tag: ciphertext = tiles + this.
FRAME_OVERHEAD = (
    len(
        to_bytes(
            FrameUpdate(frame_seq=0, keyframe=False, width=1, height=1, captured_at_us=0, tiles=b"")
        )
    )
    + GCM_TAG_SIZE
)
CEILING_PREFIX = 4  # the ceiling's senders frame each message with a u32 length, like porthole/1

VARIANTS = ("porthole", "noopen", "lean", "tcp", "tls")
SERVER_OF = {
    "porthole": "relay",
    "noopen": "relay",
    "lean": "relay",
    "tcp": "forwarder",
    "tls": "forwarder",
}


@dataclass(frozen=True)
class Settings:
    sessions: tuple[int, ...]
    viewers: tuple[int, ...]
    sizes: tuple[int, ...]
    variants: tuple[str, ...]
    duration: float
    warmup: float
    repeats: int
    in_process: bool
    relay_bin: str | None

    @property
    def rounds(self) -> int:
        cells = len(self.sessions) * len(self.viewers) * len(self.sizes)
        return cells * self.repeats * len(self.variants)


FULL = Settings(
    sessions=(1, 4),
    viewers=(1, 4, 8),
    sizes=(4 * KIB, 64 * KIB, 512 * KIB),
    variants=VARIANTS,
    duration=0.35,
    warmup=0.15,
    repeats=3,
    in_process=False,
    relay_bin=None,
)
QUICK = replace(FULL, sessions=(1,), viewers=(1, 4), sizes=(4 * KIB, 512 * KIB), repeats=2)


@dataclass
class Tally:
    """Monotonic counters one receiver (or sender) keeps; rounds read differences."""

    messages: int = 0
    bytes: int = 0
    dropped: int = 0
    #: Why the relay ended this viewer's connection, if it did before the benchmark ended.
    closed: str | None = None

    @property
    def accounted(self) -> int:
        """Updates this viewer got or was told it lost."""
        return self.messages + self.dropped


class Window:
    """Flow control for ``paced`` rounds: at most ``limit`` updates in flight to the slowest
    viewer (sent minus delivered-or-dropped). The relay itself never pushes back on droppable
    content (it drops instead), so a presenter that wants no drops needs a window of its own."""

    def __init__(self) -> None:
        self._room: trio.Event | None = None

    def poke(self) -> None:
        if self._room is not None:
            self._room.set()

    async def wait(
        self,
        sent: int,
        viewers: Sequence[Tally],
        bases: Sequence[int],
        limit: int,
        stop: trio.Event,
    ) -> None:
        """``sent`` counts this round's updates; ``bases`` are the viewers' counts at its start."""
        while not stop.is_set() and viewers:
            slowest = min(v.accounted - b for v, b in zip(viewers, bases, strict=True))
            if sent - slowest < limit:
                return
            self._room = trio.Event()
            await self._room.wait()
            self._room = None


# -- the servers ------------------------------------------------------------------------------


def _wait_for_line(path: Path, marker: str, proc: subprocess.Popen[bytes], what: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        for line in text.splitlines():
            if marker in line:
                return line
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {text.strip()}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within 30 s")


def _relay_executable(given: str | None) -> str:
    if given:
        return given
    beside = Path(sys.executable).with_name("porthole-relay")
    if beside.exists():
        return str(beside)  # not a pyenv shim: the PID we start is the relay's own
    found = shutil.which("porthole-relay")
    if found is None:
        raise SystemExit("porthole-relay is not installed (pip install -e .)")
    return found


@dataclass
class ServerProcess:
    """A subprocess whose CPU time we read; stdout and stderr go to files in ``workdir``."""

    name: str
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return proc_cpu_seconds(self.pid)

    def peak_rss_mib(self) -> float | None:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.stderr.read_text().splitlines()[-20:])
        return ""


def _spawn(name: str, argv: list[str], workdir: Path, stdin: int | None = None) -> ServerProcess:
    out, err = workdir / f"{name}.out", workdir / f"{name}.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(argv, stdout=o, stderr=e, stdin=stdin)
    return ServerProcess(name, proc, out, err)


@dataclass(frozen=True)
class RelayAddress:
    host: str
    port: int
    fingerprint: str


def start_relay(relay_bin: str, workdir: Path) -> tuple[ServerProcess, RelayAddress]:
    data_dir = workdir / "relay-data"
    subprocess.run(
        [relay_bin, "account", "add", ORGANIZER, "--password-stdin", "--data-dir", str(data_dir)],
        input=(ORGANIZER_PASSWORD + "\n").encode(),
        check=True,
        capture_output=True,
    )
    server = _spawn(
        "relay",
        [relay_bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
        workdir,
    )
    try:
        link = _wait_for_line(server.stdout, "?fp=", server.proc, "porthole-relay serve")
    except BaseException:
        server.stop()
        raise
    # "join links look like: porthole://127.0.0.1:PORT/SESSIONID?fp=HEX"
    address = link.split("porthole://", 1)[1]
    hostport, _, query = address.partition("/")
    host, _, port = hostport.rpartition(":")
    fingerprint = query.split("fp=", 1)[1].strip()
    return server, RelayAddress(host, int(port), fingerprint)


def start_forwarder(workdir: Path) -> tuple[ServerProcess, int, int]:
    server = _spawn(
        "forwarder",
        [sys.executable, "-m", "bench.forwarder", "--cert-dir", str(workdir / "forwarder-tls")],
        workdir,
        stdin=subprocess.PIPE,
    )
    try:
        line = _wait_for_line(server.stdout, "forwarder tcp=", server.proc, "bench.forwarder")
    except BaseException:
        server.stop()
        raise
    ports = dict(part.split("=") for part in line.split()[1:])
    return server, int(ports["tcp"]), int(ports["tls"])


def in_process_config(data_dir: Path) -> RelayConfig:
    """Like tests/relaykit.py make_config: loopback, any port, cheap password hashing."""
    return RelayConfig(
        data_dir=data_dir,
        host="127.0.0.1",
        port=0,
        argon2_time_cost=1,
        argon2_memory_cost=8 * 1024,
    )


def add_account(data_dir: Path, username: str, password: str) -> None:
    """Like tests/relaykit.py add_account."""
    store = RelayStore.open(data_dir, time_cost=1, memory_cost=8 * 1024)
    try:
        store.add_account(username, password, time.time())
    finally:
        store.close()


# -- porthole clients ---------------------------------------------------------------------------


@dataclass
class PortholeSession:
    """One session: an organizer who presents, and viewers that count what they get."""

    index: int
    kind: str  # "library", "decode" or "lean": how its viewers receive
    local_address: str
    client: RelayClient
    org: OrganizerSession
    members: list[MemberSession] = field(default_factory=list)
    viewers: list[Tally] = field(default_factory=list)
    sent: Tally = field(default_factory=Tally)
    window: Window = field(default_factory=Window)


async def _drain_events(session: OrganizerSession) -> None:
    async for _ in session.events:
        pass


async def _count_opened(session: MemberSession, tally: Tally, window: Window) -> None:
    async for event in session.events:
        if isinstance(event, ContentReceived):
            message = event.message
            if isinstance(message, FrameUpdate):
                tally.messages += 1
                tally.bytes += len(message.tiles)
                window.poke()
        elif isinstance(event, UpdatesDropped):
            tally.dropped += event.count
            window.poke()
        elif isinstance(event, SessionClosed):
            tally.closed = f"{event.code.name if event.code else 'closed'}: {event.message}"


class MessageChannel(Protocol):
    async def send(self, msg: Message) -> None: ...
    async def receive(self) -> Message: ...


async def _expect(channel: MessageChannel, kind: type[Message]) -> Message:
    while True:
        msg = await channel.receive()
        if isinstance(msg, kind):
            return msg
        if isinstance(msg, Error):
            raise RuntimeError(f"the relay refused a raw join: {msg.message}")
        if isinstance(msg, Ping):
            await channel.send(Pong(nonce=msg.nonce))


async def raw_join(channel: MessageChannel, session_id: str, name: str, password: str) -> None:
    """The admission a real joiner does (as RelayClient.join), on a bare channel."""
    admission = JoinerAdmission(session_id, name, password)
    values = admission.join_values
    await channel.send(
        Join(
            session_id=session_id,
            name=name,
            ephemeral_key=values.ephemeral_key,
            spake_message=values.spake_message,
            member_key=values.member_key,
        )
    )
    challenge = await _expect(channel, Challenge)
    assert isinstance(challenge, Challenge)
    mac = admission.on_challenge(
        ChallengeValues(
            peer_id=challenge.peer_id,
            ephemeral_key=challenge.ephemeral_key,
            spake_message=challenge.spake_message,
            leader_key=challenge.leader_key,
            signature=challenge.signature,
        )
    )
    await channel.send(Confirm(peer_id=challenge.peer_id, mac=mac))
    admit = await _expect(channel, Admit)
    assert isinstance(admit, Admit)
    admission.on_grant(admit.sealed_grant)


async def _count_raw(channel: RelayChannel, tally: Tally, window: Window) -> None:
    """Decode every frame (the real sans-IO codec) but open nothing."""
    while True:
        try:
            msg = await channel.receive()
        except ChannelClosed as closed:
            tally.closed = f"{closed.code.name if closed.code else 'closed'}: {closed.message}"
            return
        if isinstance(msg, Sealed):
            if msg.header.content_type is ContentType.FRAME_UPDATE:
                tally.messages += 1
                tally.bytes += len(msg.ciphertext) - FRAME_OVERHEAD
                window.poke()
        elif isinstance(msg, Dropped):
            tally.dropped += msg.count
            window.poke()
        elif isinstance(msg, Ping):
            await channel.send(Pong(nonce=msg.nonce))


async def _keepalive(channel: RelayChannel) -> None:
    nonces = itertools.count(1)
    with contextlib.suppress(ChannelClosed, ProtocolError):
        while not channel.closed:
            await trio.sleep(KEEPALIVE_S)
            if not channel.closed:
                await channel.send(Ping(nonce=next(nonces)))


# "lean" viewers: the cheapest client that still speaks porthole/1 to the relay. It connects,
# pins, says Hello and joins with the real admission handshake through the sans-IO
# ClientConnection, then stops decoding: it walks frame headers in the TLS byte stream, counts
# Sealed FrameUpdates and Dropped notices, and skips every body without copying it.

_SEALED_TYPE = Sealed.TYPE
_DROPPED_TYPE = Dropped.TYPE
_CLOSE_TYPE = Close.TYPE
_SAMPLE_HEADER = ContentHeader(
    version=PROTOCOL_VERSION,
    content_type=ContentType.FRAME_UPDATE,
    session_id="123456789",
    epoch=1,
    sender=1,
    recipient=0,
    counter=1,
)
#: Sealed frame length (after the u32 prefix) minus the ciphertext length.
_SEALED_FRAME_EXTRA = (
    len(encode_frame(Sealed(header=_SAMPLE_HEADER, ciphertext=bytes(16), signature=bytes(64))))
    - 4
    - 16
)


class BareConnection:
    """A pinned TLS stream and a ClientConnection, used as a message channel until joined."""

    def __init__(self, stream: trio.SSLStream[trio.SocketStream]) -> None:
        self.stream = stream
        self.conn = ClientConnection()

    @classmethod
    async def open(cls, relay: RelayAddress, local_address: str) -> BareConnection:
        tcp = await trio.open_tcp_stream(relay.host, relay.port, local_address=local_address)
        stream = trio.SSLStream(tcp, client_ssl_context(), server_hostname=relay.host)
        await stream.do_handshake()
        check_pinned(stream.getpeercert(binary_form=True), relay.fingerprint)
        bare = cls(stream)
        await bare.send(Hello(protocol=PROTOCOL_NAME, software="porthole-bench"))
        await _expect(bare, Welcome)
        return bare

    async def send(self, msg: Message) -> None:
        await self.stream.send_all(self.conn.send(msg))

    async def receive(self) -> Message:
        while True:
            event = self.conn.next_event()
            if isinstance(event, Message):
                return event
            if event is not NEED_DATA:
                raise ChannelClosed(None, "the relay closed the connection")
            self.conn.receive_data(await self.stream.receive_some(RECEIVE_CHUNK))

    async def settle(self) -> None:
        """Consume whole frames until nothing is buffered, so raw reading starts on a frame."""
        while True:
            while isinstance(self.conn.next_event(), Message):
                pass
            if self.conn.statistics().bytes_buffered == 0:
                return
            self.conn.receive_data(await self.stream.receive_some(RECEIVE_CHUNK))

    async def aclose(self) -> None:
        with trio.move_on_after(1):
            await self.stream.aclose()
            return
        await trio.aclose_forcefully(self.stream)


async def _walk_frames(
    stream: trio.SSLStream[trio.SocketStream], tally: Tally, window: Window
) -> None:
    """Count Sealed FrameUpdates and Dropped notices by their headers; skip bodies unread."""
    head = bytearray()  # the current frame's first bytes: u32 length, u8 version, u16 type, ...
    skip = 0  # bytes of the current frame still to pass over
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while True:
            data = await stream.receive_some(RECEIVE_CHUNK)
            if not data:
                tally.closed = "the relay closed the connection"
                return
            i, end = 0, len(data)
            while i < end:
                if skip:
                    step = min(skip, end - i)
                    skip -= step
                    i += step
                    continue
                want = 7 if len(head) < 7 else 11
                take = min(want - len(head), end - i)
                head += data[i : i + take]
                i += take
                if len(head) < 7:
                    break
                length = int.from_bytes(head[0:4], "big")
                kind = int.from_bytes(head[5:7], "big")
                if kind in (_SEALED_TYPE, _DROPPED_TYPE) and len(head) < 11:
                    continue  # need 4 more bytes of the body
                if kind == _SEALED_TYPE:
                    if head[8] == ContentType.FRAME_UPDATE:
                        tally.messages += 1
                        tally.bytes += length - _SEALED_FRAME_EXTRA - FRAME_OVERHEAD
                        window.poke()
                elif kind == _DROPPED_TYPE:
                    tally.dropped += int.from_bytes(head[7:11], "big")
                    window.poke()
                elif kind == _CLOSE_TYPE:
                    tally.closed = "the relay sent Close"
                skip = 4 + length - len(head)
                head.clear()


async def _bare_keepalive(bare: BareConnection) -> None:
    nonces = itertools.count(1)
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, ProtocolError):
        while True:
            await trio.sleep(KEEPALIVE_S)
            await bare.stream.send_all(bare.conn.send(Ping(nonce=next(nonces))))


class PortholeFleet:
    """Creates sessions and grows them; every client lives until ``stack`` closes."""

    def __init__(
        self, stack: contextlib.AsyncExitStack, nursery: trio.Nursery, relay: RelayAddress
    ) -> None:
        self.stack = stack
        self.nursery = nursery
        self.relay = relay
        self.sessions: list[PortholeSession] = []

    async def add_session(self, kind: str) -> PortholeSession:
        index = len(self.sessions)
        # The relay caps connections per address (32); each session gets its own loopback IP.
        local = f"127.0.0.{10 + index}"
        client = await self.stack.enter_async_context(
            open_relay_client(
                self.relay.host, self.relay.port, pinned=self.relay.fingerprint, local_address=local
            )
        )
        await client.login(ORGANIZER, ORGANIZER_PASSWORD)
        org = await client.create_session(name=f"Presenter {index}", password=SESSION_PASSWORD)
        self.nursery.start_soon(_drain_events, org)
        session = PortholeSession(
            index=index, kind=kind, local_address=local, client=client, org=org
        )
        self.sessions.append(session)
        return session

    async def grow(self, session: PortholeSession, viewers: int) -> None:
        while len(session.viewers) < viewers:
            name = f"Viewer {session.index}.{len(session.viewers) + 1}"
            tally = Tally()
            # Connect outside the timeout scope: a client's nursery must not nest inside it.
            if session.kind == "lean":
                bare = await BareConnection.open(self.relay, session.local_address)
                self.stack.push_async_callback(bare.aclose)
                with trio.fail_after(JOIN_TIMEOUT_S):
                    await raw_join(bare, session.org.session_id, name, SESSION_PASSWORD)
                    await bare.settle()
                self.nursery.start_soon(_walk_frames, bare.stream, tally, session.window)
                self.nursery.start_soon(_bare_keepalive, bare)
            elif session.kind == "decode":
                channel = await open_channel(
                    self.relay.host,
                    self.relay.port,
                    pinned=self.relay.fingerprint,
                    local_address=session.local_address,
                )
                self.stack.push_async_callback(channel.aclose)
                with trio.fail_after(JOIN_TIMEOUT_S):
                    await raw_join(channel, session.org.session_id, name, SESSION_PASSWORD)
                self.nursery.start_soon(_count_raw, channel, tally, session.window)
                self.nursery.start_soon(_keepalive, channel)
            else:
                client = await self.stack.enter_async_context(
                    open_relay_client(
                        self.relay.host,
                        self.relay.port,
                        pinned=self.relay.fingerprint,
                        local_address=session.local_address,
                    )
                )
                with trio.fail_after(JOIN_TIMEOUT_S):
                    member = await client.join(
                        session.org.session_id, name=name, password=SESSION_PASSWORD
                    )
                session.members.append(member)
                self.nursery.start_soon(_count_opened, member, tally, session.window)
            session.viewers.append(tally)

    async def wait_in_sync(self, session: PortholeSession) -> None:
        """Until every (opening) viewer holds the organizer's current epoch."""
        with trio.fail_after(JOIN_TIMEOUT_S):
            while any(m.epoch != session.org.epoch for m in session.members):
                await trio.sleep(0.02)


def window_for(size: int) -> int:
    """Updates in flight for lean rounds: a quarter of the relay's default per-member queue
    (512 messages, 16 MiB; updates may use half of it), so a lean presenter causes no drops."""
    return max(2, min(128, (4 * 1024 * 1024) // size))


async def present(session: PortholeSession, size: int, stop: trio.Event) -> None:
    """Flood: seal and send FrameUpdates back to back through the real client library."""
    tiles = os.urandom(size)
    seq = 0
    while not stop.is_set():
        seq += 1
        update = FrameUpdate(
            frame_seq=seq & 0xFFFF_FFFF,
            keyframe=False,
            width=1920,
            height=1080,
            captured_at_us=time.time_ns() // 1000,
            tiles=tiles,
        )
        await session.org.send_content(update)
        session.sent.messages += 1
        session.sent.bytes += size


def prebuilt_updates(session: PortholeSession, size: int, count: int = 16) -> list[Sealed]:
    """Sealed messages exactly as the relay sees the organizer's: a valid clear header for
    this session, epoch and sender, and a ciphertext and signature of the right sizes. They
    are not really sealed; the relay never opens content and lean viewers do not either."""
    return [
        Sealed(
            header=ContentHeader(
                version=PROTOCOL_VERSION,
                content_type=ContentType.FRAME_UPDATE,
                session_id=session.org.session_id,
                epoch=session.org.epoch,
                sender=session.org.peer_id,
                recipient=0,
                counter=2**40 + i,
            ),
            ciphertext=os.urandom(size + FRAME_OVERHEAD),
            signature=os.urandom(64),
        )
        for i in range(count)
    ]


async def present_lean(session: PortholeSession, size: int, stop: trio.Event) -> None:
    """Paced: keep at most ``window_for(size)`` prebuilt updates in flight to the slowest
    viewer, so nothing is dropped (the relay pushes back on nothing; it drops instead)."""
    updates = prebuilt_updates(session, size)
    limit = window_for(size)
    bases = [v.accounted for v in session.viewers]  # the previous round has drained
    seq = 0
    while not stop.is_set():
        await session.window.wait(seq, session.viewers, bases, limit, stop)
        if stop.is_set():
            break
        await session.client.channel.send(updates[seq % len(updates)])
        seq += 1
        session.sent.messages += 1
        session.sent.bytes += size


# -- ceiling clients ----------------------------------------------------------------------------

CeilingStream = trio.SocketStream | trio.SSLStream[trio.SocketStream]


@dataclass
class CeilingGroup:
    index: int
    tls: bool
    sender: CeilingStream
    viewers: list[Tally] = field(default_factory=list)
    sent: Tally = field(default_factory=Tally)


async def _ceiling_connect(port: int, tls: bool, role: bytes, group: int) -> CeilingStream:
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream: CeilingStream = tcp
    if tls:
        stream = trio.SSLStream(tcp, client_ssl_context(), server_hostname="127.0.0.1")
    await stream.send_all(role + bytes([group]))
    ack = await stream.receive_some(1)
    if ack != b"+":
        raise RuntimeError(f"the forwarder answered {ack!r}")
    return stream


async def _count_bytes(stream: CeilingStream, tally: Tally) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while True:
            data = await stream.receive_some(RECEIVE_CHUNK)
            if not data:
                return
            tally.bytes += len(data)


class CeilingFleet:
    def __init__(
        self, stack: contextlib.AsyncExitStack, nursery: trio.Nursery, port: int, tls: bool
    ) -> None:
        self.stack = stack
        self.nursery = nursery
        self.port = port
        self.tls = tls
        self.groups: list[CeilingGroup] = []

    async def add_group(self) -> CeilingGroup:
        index = len(self.groups) + (100 if self.tls else 0)
        sender = await _ceiling_connect(self.port, self.tls, b"S", index)
        self.stack.push_async_callback(trio.aclose_forcefully, sender)
        group = CeilingGroup(index=index, tls=self.tls, sender=sender)
        self.groups.append(group)
        return group

    async def grow(self, group: CeilingGroup, viewers: int) -> None:
        while len(group.viewers) < viewers:
            stream = await _ceiling_connect(self.port, self.tls, b"R", group.index)
            self.stack.push_async_callback(trio.aclose_forcefully, stream)
            tally = Tally()
            self.nursery.start_soon(_count_bytes, stream, tally)
            group.viewers.append(tally)


async def ceiling_send(group: CeilingGroup, size: int, stop: trio.Event) -> None:
    frame = size.to_bytes(CEILING_PREFIX, "big") + os.urandom(size)
    while not stop.is_set():
        await group.sender.send_all(frame)
        group.sent.messages += 1
        group.sent.bytes += len(frame)  # receivers count wire bytes too


# -- rounds ---------------------------------------------------------------------------------


@dataclass
class Round:
    variant: str
    sessions: int
    viewers: int
    size: int
    rep: int
    wall_s: float
    delivered_bytes: float
    delivered_messages: float
    sent_messages: int
    dropped: int
    server_cpu_s: float | None
    client_cpu_s: float
    #: Every viewer got (or was told it lost) everything sent this round before the next one.
    drained: bool

    @property
    def mb_per_s(self) -> float:
        return self.delivered_bytes / self.wall_s / MB

    @property
    def messages_per_s(self) -> float:
        return self.delivered_messages / self.wall_s


@dataclass(frozen=True)
class _Snapshot:
    at: float
    messages: int
    bytes: int
    dropped: int
    sent: int
    server_cpu: float | None
    client_cpu: float


def _snapshot(
    tallies: Sequence[Tally], sent: Sequence[Tally], server_cpu: Callable[[], float] | None
) -> _Snapshot:
    return _Snapshot(
        at=time.perf_counter(),
        messages=sum(t.messages for t in tallies),
        bytes=sum(t.bytes for t in tallies),
        dropped=sum(t.dropped for t in tallies),
        sent=sum(t.messages for t in sent),
        server_cpu=server_cpu() if server_cpu is not None else None,
        client_cpu=self_cpu_seconds(),
    )


@dataclass(frozen=True)
class Plan:
    """One round: who sends, and each viewer's tally with its sender's (for the drain)."""

    senders: Sequence[Callable[[trio.Event], Awaitable[None]]]
    pairs: Sequence[tuple[Tally, Tally]]  # (viewer, its sender)
    unit: str  # "updates" (porthole: delivered + dropped) or "bytes" (ceiling: wire bytes)
    windows: Sequence[Window] = ()

    @property
    def tallies(self) -> list[Tally]:
        return [v for v, _ in self.pairs]

    @property
    def sent(self) -> list[Tally]:
        return list({id(s): s for _, s in self.pairs}.values())

    def progress(self) -> list[tuple[int, int]]:
        if self.unit == "bytes":
            return [(v.bytes, s.bytes) for v, s in self.pairs]
        return [(v.accounted, s.messages) for v, s in self.pairs]


async def _drain(plan: Plan, start: list[tuple[int, int]], limit: float = 15.0) -> bool:
    """Wait until every viewer got (or was told it lost) everything its sender sent this
    round; give up after ``limit`` s or after 1 s without progress. True if exact."""
    deadline = trio.current_time() + limit
    last, last_change = None, trio.current_time()
    while trio.current_time() < deadline:
        now = plan.progress()
        if all(v - v0 == s - s0 for (v, s), (v0, s0) in zip(now, start, strict=True)):
            return True
        if now != last:
            last, last_change = now, trio.current_time()
        elif trio.current_time() - last_change > 1.0:
            return False
        await trio.sleep(0.01)
    return False


async def measure(
    plan: Plan, server_cpu: Callable[[], float] | None, settings: Settings
) -> tuple[_Snapshot, _Snapshot, bool]:
    start = plan.progress()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        for sender in plan.senders:
            nursery.start_soon(sender, stop)
        await trio.sleep(settings.warmup)
        before = _snapshot(plan.tallies, plan.sent, server_cpu)
        await trio.sleep(settings.duration)
        after = _snapshot(plan.tallies, plan.sent, server_cpu)
        stop.set()
        for window in plan.windows:
            window.poke()
    exact = await _drain(plan, start)
    return before, after, exact


@dataclass
class Bench:
    settings: Settings
    console: Console
    relay_cpu: Callable[[], float] | None
    forwarder_cpu: Callable[[], float]
    porthole: list[PortholeSession] = field(default_factory=list)
    noopen: list[PortholeSession] = field(default_factory=list)
    lean: list[PortholeSession] = field(default_factory=list)
    tcp: list[CeilingGroup] = field(default_factory=list)
    tls: list[CeilingGroup] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)

    async def round(self, variant: str, sessions: int, viewers: int, size: int, rep: int) -> None:
        server_cpu = self.relay_cpu if SERVER_OF[variant] == "relay" else self.forwarder_cpu
        if variant in ("porthole", "noopen", "lean"):
            active = {"porthole": self.porthole, "noopen": self.noopen, "lean": self.lean}[variant][
                :sessions
            ]
            send = present_lean if variant == "lean" else present
            plan = Plan(
                senders=[functools.partial(send, s, size) for s in active],
                pairs=[(t, s.sent) for s in active for t in s.viewers],
                unit="updates",
                windows=[s.window for s in active],
            )
            wire = 1.0
        else:
            groups = (self.tcp if variant == "tcp" else self.tls)[:sessions]
            plan = Plan(
                senders=[functools.partial(ceiling_send, g, size) for g in groups],
                pairs=[(t, g.sent) for g in groups for t in g.viewers],
                unit="bytes",
            )
            wire = size / (size + CEILING_PREFIX)  # receivers count wire bytes
        before, after, drained = await measure(plan, server_cpu, self.settings)
        delivered = (after.bytes - before.bytes) * wire
        messages = (
            after.messages - before.messages
            if wire == 1.0
            else (after.bytes - before.bytes) / (size + CEILING_PREFIX)
        )
        cpu = (
            after.server_cpu - before.server_cpu
            if after.server_cpu is not None and before.server_cpu is not None
            else None
        )
        self.rounds.append(
            Round(
                variant=variant,
                sessions=sessions,
                viewers=viewers,
                size=size,
                rep=rep,
                wall_s=after.at - before.at,
                delivered_bytes=delivered,
                delivered_messages=messages,
                sent_messages=after.sent - before.sent,
                dropped=after.dropped - before.dropped,
                server_cpu_s=cpu,
                client_cpu_s=after.client_cpu - before.client_cpu,
                drained=drained,
            )
        )


async def run_matrix(
    settings: Settings,
    relay: RelayAddress | None,
    forwarder_ports: tuple[int, int],
    bench: Bench,
    workdir: Path,
) -> None:
    console = bench.console
    max_sessions = max(settings.sessions)
    async with trio.open_nursery() as nursery:
        if relay is None:  # --in-process
            data_dir = workdir / "relay-data"
            add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
            info = await nursery.start(serve_relay, in_process_config(data_dir))
            relay = RelayAddress(info.host, info.port, info.fingerprint)
        async with contextlib.AsyncExitStack() as stack:
            fleet = PortholeFleet(stack, nursery, relay)
            tcp = CeilingFleet(stack, nursery, forwarder_ports[0], tls=False)
            tls = CeilingFleet(stack, nursery, forwarder_ports[1], tls=True)
            started = time.perf_counter()
            for _ in range(max_sessions):
                if "porthole" in settings.variants:
                    bench.porthole.append(await fleet.add_session("library"))
                if "noopen" in settings.variants:
                    bench.noopen.append(await fleet.add_session("decode"))
                if "lean" in settings.variants:
                    bench.lean.append(await fleet.add_session("lean"))
                if "tcp" in settings.variants:
                    bench.tcp.append(await tcp.add_group())
                if "tls" in settings.variants:
                    bench.tls.append(await tls.add_group())
            console.print(
                f"  {len(fleet.sessions)} sessions created in "
                f"{time.perf_counter() - started:.1f} s (organizer logins)"
            )
            for viewers in sorted(settings.viewers):
                started = time.perf_counter()
                for session in fleet.sessions:
                    await fleet.grow(session, viewers)
                for session in fleet.sessions:
                    await fleet.wait_in_sync(session)
                for group in tcp.groups:
                    await tcp.grow(group, viewers)
                for group in tls.groups:
                    await tls.grow(group, viewers)
                console.print(
                    f"  {viewers} viewer(s) per session joined in "
                    f"{time.perf_counter() - started:.1f} s"
                )
                for sessions in sorted(settings.sessions):
                    for size in settings.sizes:
                        for rep in range(settings.repeats):
                            for variant in settings.variants:
                                try:
                                    await bench.round(variant, sessions, viewers, size, rep)
                                except Exception:
                                    # Every client nests a nursery, so the group that reaches
                                    # the top is too deep to print: show the cause here.
                                    console.print(
                                        f"round failed: {variant} s={sessions} v={viewers} "
                                        f"{size_label(size)} rep {rep}"
                                    )
                                    console.print_exception(max_frames=30)
                                    raise
                        cell = summarize_cell(bench.rounds, sessions, viewers, size)
                        console.print("  " + cell_line(cell))
            # Viewers the relay disconnected while we measured (our own closing comes next).
            for kind, sessions_of in (
                ("porthole", bench.porthole),
                ("noopen", bench.noopen),
                ("lean", bench.lean),
            ):
                for session in sessions_of:
                    for i, tally in enumerate(session.viewers):
                        if tally.closed is not None:
                            bench.disconnects.append(
                                f"{kind} session {session.index} viewer {i + 1}: {tally.closed}"
                            )
            # Leaving the stack closes every client while the relay still runs.
        nursery.cancel_scope.cancel()


# -- summaries ----------------------------------------------------------------------------------


def _med(rounds: Sequence[Round], fn: Callable[[Round], float | None]) -> float | None:
    values = [v for v in (fn(r) for r in rounds) if v is not None]
    return median(values) if values else None


def _cpu_per_gb(r: Round) -> float | None:
    if r.server_cpu_s is None or r.delivered_bytes <= 0:
        return None
    return r.server_cpu_s / (r.delivered_bytes / GB)


def _variant_summary(rounds: Sequence[Round]) -> dict[str, Any]:
    return {
        "rounds": len(rounds),
        "mb_per_s": _med(rounds, lambda r: r.mb_per_s),
        "mb_per_s_all": [round(r.mb_per_s, 2) for r in rounds],
        "messages_per_s": _med(rounds, lambda r: r.messages_per_s),
        "sent_messages_per_s": _med(rounds, lambda r: r.sent_messages / r.wall_s),
        "server_cpu_s_per_gb": _med(rounds, _cpu_per_gb),
        "server_cpu_percent": _med(
            rounds, lambda r: None if r.server_cpu_s is None else 100 * r.server_cpu_s / r.wall_s
        ),
        "client_cpu_percent": _med(rounds, lambda r: 100 * r.client_cpu_s / r.wall_s),
        "dropped": sum(r.dropped for r in rounds),
        "dropped_percent": _med(
            rounds,
            lambda r: (
                100 * r.dropped / (r.dropped + r.delivered_messages)
                if r.dropped + r.delivered_messages
                else None
            ),
        ),
    }


def _ratio(rounds: Sequence[Round], top: str, bottom: str) -> float | None:
    by_rep: dict[int, dict[str, Round]] = {}
    for r in rounds:
        by_rep.setdefault(r.rep, {})[r.variant] = r
    ratios = [
        reps[top].mb_per_s / reps[bottom].mb_per_s
        for reps in by_rep.values()
        if top in reps and bottom in reps and reps[bottom].mb_per_s > 0
    ]
    return median(ratios) if ratios else None


def summarize_cell(
    rounds: Sequence[Round], sessions: int, viewers: int, size: int
) -> dict[str, Any]:
    mine = [r for r in rounds if (r.sessions, r.viewers, r.size) == (sessions, viewers, size)]
    variants = {
        v: _variant_summary([r for r in mine if r.variant == v])
        for v in VARIANTS
        if any(r.variant == v for r in mine)
    }
    ratios = {
        f"{top}/{bottom}": _ratio(mine, top, bottom)
        for top, bottom in (
            ("porthole", "tcp"),
            ("porthole", "tls"),
            ("noopen", "tcp"),
            ("noopen", "tls"),
            ("lean", "tcp"),
            ("lean", "tls"),
            ("porthole", "noopen"),
        )
        if top in variants and bottom in variants
    }
    return {
        "sessions": sessions,
        "viewers": viewers,
        "size": size,
        "variants": variants,
        "ratios": ratios,
    }


def _f(value: float | None, spec: str = ".1f") -> str:
    return "–" if value is None else format(value, spec)


def cell_line(cell: dict[str, Any]) -> str:
    parts = [f"s={cell['sessions']} v={cell['viewers']} {size_label(cell['size']):>7}:"]
    for name, summary in cell["variants"].items():
        parts.append(f"{name} {_f(summary['mb_per_s'])} MB/s")
    for name, ratio in cell["ratios"].items():
        if name in ("porthole/tls", "lean/tls"):
            parts.append(f"{name} {_f(ratio, '.2f')}")
    return "  ".join(parts)


def render(console: Console, cells: Sequence[dict[str, Any]], relay_separate: bool) -> None:
    table = Table(
        title="porthole relay fan-out (medians over rounds; MB = 10^6 bytes of update payload)"
    )
    for col in (
        "sess",
        "view",
        "update",
        "MB/s",
        "msg/s",
        "relay\ncpu s/GB",
        "relay\ncpu %",
        "client\ncpu %",
        "dropped\n%",
        "no-open\nMB/s",
        "no-open\ndropped %",
        "lean\nMB/s",
        "lean\nrelay s/GB",
        "lean\nrelay %",
    ):
        table.add_column(col, justify="right")
    for cell in cells:
        p = cell["variants"].get("porthole", {})
        n = cell["variants"].get("noopen", {})
        q = cell["variants"].get("lean", {})
        table.add_row(
            str(cell["sessions"]),
            str(cell["viewers"]),
            size_label(cell["size"]),
            _f(p.get("mb_per_s")),
            _f(p.get("messages_per_s"), ",.0f"),
            _f(p.get("server_cpu_s_per_gb"), ".2f"),
            _f(p.get("server_cpu_percent"), ".0f"),
            _f(p.get("client_cpu_percent"), ".0f"),
            _f(p.get("dropped_percent"), ".1f"),
            _f(n.get("mb_per_s")),
            _f(n.get("dropped_percent"), ".1f"),
            _f(q.get("mb_per_s")),
            _f(q.get("server_cpu_s_per_gb"), ".2f"),
            _f(q.get("server_cpu_percent"), ".0f"),
        )
    console.print(table)
    if not relay_separate:
        console.print("(relay ran in-process: no separate relay CPU figures)")

    table = Table(
        title="Ceiling: byte-copying trio forwarder, same run; ratio = porthole ÷ ceiling"
    )
    for col in (
        "sess",
        "view",
        "update",
        "TCP\nMB/s",
        "TLS\nMB/s",
        "fwd TLS\ncpu s/GB",
        "fwd TLS\ncpu %",
        "porthole\n÷ TCP",
        "porthole\n÷ TLS",
        "no-open\n÷ TLS",
        "lean\n÷ TCP",
        "lean\n÷ TLS",
    ):
        table.add_column(col, justify="right")
    for cell in cells:
        t = cell["variants"].get("tcp", {})
        s = cell["variants"].get("tls", {})
        r = cell["ratios"]
        table.add_row(
            str(cell["sessions"]),
            str(cell["viewers"]),
            size_label(cell["size"]),
            _f(t.get("mb_per_s")),
            _f(s.get("mb_per_s")),
            _f(s.get("server_cpu_s_per_gb"), ".2f"),
            _f(s.get("server_cpu_percent"), ".0f"),
            _f(r.get("porthole/tcp"), ".2f"),
            _f(r.get("porthole/tls"), ".2f"),
            _f(r.get("noopen/tls"), ".2f"),
            _f(r.get("lean/tcp"), ".2f"),
            _f(r.get("lean/tls"), ".2f"),
        )
    console.print(table)


# -- command line -------------------------------------------------------------------------------


def _int_list(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.split(","))
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers, e.g. 1,4: {text!r}")
    return values


def _size_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(parse_size(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _variant_list(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(","))
    unknown = [v for v in values if v not in VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {unknown}; choose from {VARIANTS}")
    return tuple(v for v in VARIANTS if v in values)


COLUMNS_HELP = """\
variants (each cell runs every selected variant --repeats times, interleaved):
  porthole  the real client library end to end: the organizer seals and sends FrameUpdates
            back to back (flood); viewers verify and decrypt (the library always does)
  noopen    flood as above; viewers decode porthole/1 frames but open nothing
  lean      the cheapest porthole/1 clients, to load the relay rather than the clients: the
            organizer sends prebuilt Sealed messages (valid clear header; the relay never
            opens content), paced to stay lossless; viewers join for real, then only walk
            frame headers in the TLS stream
  tcp, tls  the ceiling: bench/forwarder.py copies bytes from each sender to its receivers
            (plain TCP, or TLS 1.3 on both legs); senders write length-prefixed messages of
            the same size, receivers count bytes; lossless (back-pressure)

columns (first table; "porthole" unless marked):
  MB/s            update payload delivered per second, summed over all viewers (10^6 bytes)
  msg/s           FrameUpdate messages delivered per second, summed over all viewers
  relay cpu s/GB  relay process CPU seconds (user+system, /proc/PID/stat, all threads) per
                  10^9 bytes delivered; includes the work on updates it later dropped
  relay cpu %     relay CPU seconds / wall seconds in the window (100 = one core)
  client cpu %    this process (every presenter and viewer) CPU / wall
  dropped %       updates the relay dropped for slow viewers (Dropped notices) as a share of
                  delivered + dropped
  no-open/lean    the same figures for those variants
columns (second table):
  TCP/TLS MB/s    the forwarder with the same senders, receivers and sizes
  fwd TLS cpu     forwarder CPU per delivered GB, and its CPU %, on the TLS ceiling
  X ÷ Y           median over repetitions of (X MB/s ÷ Y MB/s), both from the same repetition
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description=(
            "Relay fan-out throughput: a real porthole relay (subprocess) with real clients, "
            "each session's organizer presenting FrameUpdates as fast as the relay accepts "
            "them, against a byte-copying forwarder ceiling measured in the same run. The full "
            "matrix takes about 3.5 minutes on 2 cores. Prints tables and writes "
            "bench/results/fanout-<UTC>.json. Not a test: nothing is asserted."
        ),
        epilog=COLUMNS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (~20 s): 1 session, 1 and 4 viewers, 4 KiB and 512 KiB, 2 repeats",
    )
    parser.add_argument("--sessions", type=_int_list, help="concurrent sessions (default 1,4)")
    parser.add_argument("--viewers", type=_int_list, help="viewers per session (default 1,4,8)")
    parser.add_argument("--sizes", type=_size_list, help="update sizes (default 4KiB,64KiB,512KiB)")
    parser.add_argument(
        "--variants",
        type=_variant_list,
        help=f"which of {','.join(VARIANTS)} to run (default: all)",
    )
    parser.add_argument("--duration", type=float, help="measured seconds per round (default 0.35)")
    parser.add_argument(
        "--warmup", type=float, help="seconds of sending before measuring (default 0.15)"
    )
    parser.add_argument("--repeats", type=int, help="rounds per cell and variant (default 3)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run serve_relay in this process's trio run instead of a subprocess "
        "(no separate relay CPU)",
    )
    parser.add_argument(
        "--relay-bin", help="porthole-relay executable (default: beside python, else PATH)"
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="sample the relay subprocess with py-spy while the benchmark runs; FILE.svg is a "
        "flame graph, FILE.json speedscope, anything else collapsed stacks (text)",
    )
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    base = QUICK if args.quick else FULL
    changes: dict[str, Any] = {}
    for name in ("sessions", "viewers", "sizes", "variants", "duration", "warmup", "repeats"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    changes["in_process"] = args.in_process
    changes["relay_bin"] = args.relay_bin
    return replace(base, **changes)


@contextlib.contextmanager
def _py_spy(target: str | None, pid: int) -> Iterator[None]:
    if target is None:
        yield
        return
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(target).suffix, "raw")
    argv = ["py-spy", "record", "--pid", str(pid), "--format", fmt, "-o", target]
    spy = subprocess.Popen(
        [*argv, "--rate", "250", "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    console = Console(width=None if sys.stdout.isatty() else 160)
    per_round = settings.warmup + settings.duration + 0.1
    console.print(
        f"fanout: sessions {settings.sessions} × viewers {settings.viewers} × sizes "
        f"{[size_label(s) for s in settings.sizes]}, variants {settings.variants}, "
        f"{settings.repeats} repeats: {settings.rounds} rounds, "
        f"~{settings.rounds * per_round:.0f} s of rounds"
    )
    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="porthole-bench-") as tmp:
        workdir = Path(tmp)
        relay_proc: ServerProcess | None = None
        relay: RelayAddress | None = None
        forwarder, tcp_port, tls_port = start_forwarder(workdir)
        try:
            if not settings.in_process:
                relay_proc, relay = start_relay(_relay_executable(settings.relay_bin), workdir)
                console.print(f"  relay pid {relay_proc.pid} on {relay.host}:{relay.port}")
            bench = Bench(
                settings=settings,
                console=console,
                relay_cpu=relay_proc.cpu if relay_proc is not None else None,
                forwarder_cpu=forwarder.cpu,
            )
            spy_pid = relay_proc.pid if relay_proc is not None else os.getpid()
            with _py_spy(args.py_spy, spy_pid):
                trio.run(run_matrix, settings, relay, (tcp_port, tls_port), bench, workdir)
            relay_rss = relay_proc.peak_rss_mib() if relay_proc is not None else None
        except BaseException:
            for proc in (relay_proc, forwarder):
                if proc is not None and proc.stderr_tail():
                    console.print(f"{proc.name} stderr:\n{proc.stderr_tail()}")
            raise
        finally:
            if relay_proc is not None:
                relay_proc.stop()
            forwarder.stop()
        if relay_proc is not None and relay_proc.stderr_tail():
            console.print(f"relay stderr (tail):\n{relay_proc.stderr_tail()}")
    elapsed = time.perf_counter() - started

    cells = [
        summarize_cell(bench.rounds, s, v, z)
        for s in sorted(settings.sessions)
        for v in sorted(settings.viewers)
        for z in settings.sizes
    ]
    render(console, cells, relay_separate=not settings.in_process)
    console.print(
        f"total {elapsed:.0f} s; load average before {load_before[0]:.2f}, "
        f"after {os.getloadavg()[0]:.2f}; relay peak RSS "
        f"{_f(relay_rss, '.0f')} MiB; rounds not fully drained: "
        f"{sum(not r.drained for r in bench.rounds)}"
    )
    for line in bench.disconnects:
        console.print(f"viewer disconnected by the relay: {line}")
    if not args.no_json:
        payload = {
            "benchmark": "fanout",
            "command": " ".join(["python -m bench.fanout", *(argv or sys.argv[1:])]),
            "machine": machine_info() | {"load_average_before": list(load_before)},
            "settings": dataclasses.asdict(settings),
            "elapsed_s": elapsed,
            "relay_peak_rss_mib": relay_rss,
            "viewers_disconnected": bench.disconnects,
            "cells": cells,
            "rounds": [dataclasses.asdict(r) for r in bench.rounds],
        }
        path = write_results("fanout", payload)
        console.print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
