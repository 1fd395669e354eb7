"""Fixtures for the KIS adapter: the KIS simulator (a real local HTTP server), the shared
token table (SQLite) and the worker's Valkey, and `KisBroker`s wired like the workers wire them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import valkey.asyncio as valkey

from tests.kis.kit import kis_settings, start_sim
from yquant.adapters.brokers.kis import KisBroker, build_kis_broker
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.db.accounts import AccountBook
from yquant.adapters.db.broker_tokens import SqlTokenRecords
from yquant.adapters.db.store import SqlStore


@pytest.fixture
def sim() -> Iterator[SimServer]:
    server = start_sim()
    yield server
    server.stop()


@pytest.fixture
async def sql(sqlite_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore(sqlite_url, timeout_s=5)
    yield store
    await store.close()


@pytest.fixture
async def vk(valkey_url: str) -> AsyncIterator[Any]:
    client = valkey.from_url(valkey_url, decode_responses=True)
    yield client
    await client.aclose()


BrokerFactory = Callable[..., KisBroker]


@pytest.fixture
async def make_broker(sim: SimServer, sql: SqlStore, vk: Any) -> AsyncIterator[BrokerFactory]:
    made: list[KisBroker] = []

    def make(url: str | None = None, account: str = "main", **overrides: Any) -> KisBroker:
        broker = build_kis_broker(
            account,
            kis_settings(url or sim.url, **overrides),
            records=SqlTokenRecords(sql),
            valkey=vk,
            known_order_ids=AccountBook(sql).known_order_ids,
        )
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.close()
