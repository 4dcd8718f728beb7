"""The relay `porthole demo` embeds: a throw-away data directory, account and loopback port.

Both demo front ends (the Textual app and the line console) start it the same way; the relay
code is imported only here, when a demo starts, so no other client command loads the server.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.config import RelayConfig

DEMO_ORGANIZER = "demo-organizer"
#: Argon2 at its cheapest: the demo's account lives for one run, on loopback, and a first-time
#: user should not wait for a password hash.
DEMO_ARGON2_TIME_COST = 1
DEMO_ARGON2_MEMORY_COST = 8 * 1024


def prepare_demo_relay(data_dir: Path, *, port: int) -> tuple[RelayConfig, str]:
    """The demo relay's configuration and the organizer's one-run password (account created)."""
    from relay.config import RelayConfig
    from relay.store import RelayStore

    password = secrets.token_urlsafe(24)
    with RelayStore.open(
        data_dir, time_cost=DEMO_ARGON2_TIME_COST, memory_cost=DEMO_ARGON2_MEMORY_COST
    ) as store:
        store.add_account(DEMO_ORGANIZER, password, time.time())
    config = RelayConfig(
        data_dir=data_dir,
        host="127.0.0.1",
        port=port,
        argon2_time_cost=DEMO_ARGON2_TIME_COST,
        argon2_memory_cost=DEMO_ARGON2_MEMORY_COST,
    )
    return config, password
