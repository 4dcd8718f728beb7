"""Every knob of the relay in one frozen dataclass, with defaults that are safe in production.

Tests and ``porthole demo`` shorten timeouts or cheapen password hashing by building a config
with :func:`dataclasses.replace`; nothing reads settings from globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.guessing import GUESSING_THRESHOLD
from core.protocol import DEFAULT_MAX_FRAME
from relay.events import Observer
from relay.limits import BackoffPolicy


@dataclass(frozen=True, slots=True)
class RelayConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 7443
    #: Certificate and key; ``None`` means "self-signed, generated in the data directory".
    cert_path: Path | None = None
    key_path: Path | None = None
    relay_name: str = "porthole relay"
    #: Serve framed porthole/1 (ALPN porthole/1) on the port. Off (``serve --no-raw``), only
    #: HTTPS is answered (WebSocket on /ws): the relay then behaves as if a middlebox in front
    #: of it let nothing but HTTPS through, which is how the fallback paths are tested.
    raw: bool = True
    #: Extra observers of the switchboard's and the recorder's events (``serve``'s log).
    observers: tuple[Observer, ...] = ()

    # Sizes.
    max_frame: int = DEFAULT_MAX_FRAME
    #: Bytes and messages a member may have queued. Droppable updates are dropped for it once
    #: they would fill half of this; anything else beyond all of it disconnects it as a slow
    #: consumer.
    send_queue_bytes: int = 16 * 1024 * 1024
    send_queue_messages: int = 512
    #: Droppable updates are also dropped for a member whose oldest queued message has waited
    #: this long (seconds), and then until its queue has drained: a member behind a slow link
    #: skips to the latest picture instead of watching an ever older one (docs/design.md §7.2).
    droppable_max_age: float = 1.0
    max_members: int = 64
    max_sessions: int = 10_000

    # Time, in seconds.
    #: From TCP accept to a completed Hello/Welcome exchange (covers TLS and slowloris).
    handshake_timeout: float = 10.0
    #: A connection that sends nothing (not even a Ping) for this long is closed.
    idle_timeout: float = 60.0
    #: A frame that is started but not finished within this long is a slowloris: closed.
    frame_timeout: float = 30.0
    #: A single write to a member that does not complete within this long: slow consumer.
    write_timeout: float = 15.0
    #: How long a knock may wait for the organizer (password-less sessions wait for a person).
    join_timeout: float = 300.0

    # Abuse limits.
    max_connections_per_address: int = 32
    #: Control messages per second (and burst) per connection; content is bounded by queues.
    control_rate: float = 50.0
    control_burst: float = 200.0
    #: Failed joins per source: per address (an IPv4 address, an IPv6 /64), the strict default.
    join_failures_per_address: BackoffPolicy = field(default_factory=BackoffPolicy)
    #: ... and per network (IPv4 /24, IPv6 /48), so hopping addresses buys no guesses. Twice
    #: the address's budget; an address that joined recently is exempt (``trust_for``).
    join_failures_per_network: BackoffPolicy = field(
        default_factory=lambda: BackoffPolicy(free_failures=12, lockout_after=48)
    )
    #: Per session ID, a ceiling far above normal use: anyone who knows an ID could otherwise
    #: slow or lock its legitimate joiners out. Guessing from one network is stopped by the
    #: per-source limits long before this; a distributed attack reaches the guessing alarm
    #: (``guessing_alarm_after``, the organizer and operator are told) well before it.
    join_failures_per_session: BackoffPolicy = field(
        default_factory=lambda: BackoffPolicy(
            free_failures=50,
            window=600.0,
            max_delay=60.0,
            lockout_after=1000,
            lockout_duration=900.0,
        )
    )
    #: Organizer logins, per address: the strict default.
    login_failures: BackoffPolicy = field(default_factory=BackoffPolicy)
    #: ... and per network, like joins.
    login_failures_per_network: BackoffPolicy = field(
        default_factory=lambda: BackoffPolicy(free_failures=12, lockout_after=48)
    )
    #: Organizer logins, per user name, from any address: looser with a short lockout, and
    #: only for logins without trust (a device cookie for that account, or an address that
    #: logged in to it recently), so a guesser cannot lock the organizer out.
    login_failures_per_user: BackoffPolicy = field(
        default_factory=lambda: BackoffPolicy(
            free_failures=10, max_delay=60.0, lockout_after=100, lockout_duration=900.0
        )
    )
    #: Seconds an address that got in, or a device cookie, stays exempt from others' failures.
    trust_for: float = 30 * 24 * 3600.0
    #: Failures per session ID or user name at which the guessing alarm first rings (then at
    #: each doubling), as the organizer's client does (core/guessing.py).
    guessing_alarm_after: int = GUESSING_THRESHOLD

    #: argon2id cost for organizer passwords; tests lower it.
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 64 * 1024
