"""A real relay on loopback TLS for tests, started in the test's own trio run (fixtures: relay)."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trio

from relay.config import RelayConfig
from relay.server import RelayInfo, serve_relay
from relay.store import RelayStore

ORGANIZER = "olga"
ORGANIZER_PASSWORD = "plum-harbor-lantern-42"


@dataclass
class RunningRelay:
    info: RelayInfo
    config: RelayConfig
    nursery: trio.Nursery
    stop: trio.Event

    @property
    def port(self) -> int:
        return self.info.port

    @property
    def fingerprint(self) -> str:
        return self.info.fingerprint


def make_config(data_dir: Path, **overrides: object) -> RelayConfig:
    config = RelayConfig(
        data_dir=data_dir,
        host="127.0.0.1",
        port=0,
        argon2_time_cost=1,
        argon2_memory_cost=8 * 1024,
    )
    return replace(config, **overrides)  # type: ignore[arg-type]


def add_account(data_dir: Path, username: str, password: str) -> None:
    store = RelayStore.open(data_dir, time_cost=1, memory_cost=8 * 1024)
    try:
        store.add_account(username, password, time.time())
    finally:
        store.close()


@pytest.fixture
def relay_config(tmp_path: Path) -> RelayConfig:
    data_dir = tmp_path / "relay-data"
    add_account(data_dir, ORGANIZER, ORGANIZER_PASSWORD)
    return make_config(data_dir)


@pytest.fixture
async def relay(relay_config: RelayConfig) -> AsyncIterator[RunningRelay]:
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        info = await nursery.start(functools.partial(serve_relay, relay_config, stop=stop))
        yield RunningRelay(info, relay_config, nursery, stop)
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def running_relay(
    tmp_path: Path, *, accounts: tuple[tuple[str, str], ...] = (), **overrides: object
) -> AsyncIterator[RunningRelay]:
    """A real relay on loopback with ``overrides`` applied to the test config."""
    data_dir = tmp_path / "relay-data"
    for username, password in ((ORGANIZER, ORGANIZER_PASSWORD), *accounts):
        add_account(data_dir, username, password)
    config = make_config(data_dir, **overrides)
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        info = await nursery.start(functools.partial(serve_relay, config, stop=stop))
        try:
            yield RunningRelay(info, config, nursery, stop)
        finally:
            nursery.cancel_scope.cancel()
