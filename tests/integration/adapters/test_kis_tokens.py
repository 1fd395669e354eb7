"""KIS access tokens: one per app key, shared through the database, renewed by one caller, never
issued more often than allowed; an expired token is re-issued once and the call repeated once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import valkey.asyncio as valkey

from tests.fixtures.kis_kit import APP_KEY, APP_SECRET, kis_settings, order, start_sim
from tests.support import MARIADB_HOST, MARIADB_PORT, TcpProxy, ValkeyProcess
from yquant.adapters.brokers.kis.client import KisClient
from yquant.adapters.brokers.kis.errors import KisConfigurationError, KisTokenError
from yquant.adapters.brokers.kis.factory import build_kis_broker
from yquant.adapters.brokers.kis.ratelimit import RateLimiter
from yquant.adapters.brokers.kis.schemas import TokenGrant
from yquant.adapters.brokers.kis.tokens import KisTokens
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.db.broker_tokens import SqlTokenRecords
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market, OrderStatus
from yquant.errors import BrokerUnavailableError


class Clock:
    """A settable clock for the token rules (KIS itself keeps real time)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


TokensFor = Callable[..., KisTokens]


@pytest.fixture
async def tokens_for() -> AsyncIterator[TokensFor]:
    """Tokens with their own KIS client, as a process holds them; the clients are closed after."""
    clients: list[KisClient] = []

    def make(sim: SimServer, sql: SqlStore, clock: Any, **kw: Any) -> KisTokens:
        client = KisClient(
            environment="real",
            app_key=APP_KEY,
            app_secret=kw.pop("secret", APP_SECRET),
            limiter=RateLimiter(None, "test", 50),
            base_url=sim.url,
        )
        clients.append(client)
        tokens = KisTokens(
            environment="real",
            app_key=APP_KEY,
            records=SqlTokenRecords(sql),
            issue=client.issue_token,
            clock=clock,
            **kw,
        )
        client.tokens = tokens
        return tokens

    yield make
    for client in clients:
        await client.close()


async def test_processes_on_one_app_key_share_one_token(sim: SimServer, make_broker) -> None:
    first, second = make_broker(), make_broker()  # like the engine and the gateway, or blue/green
    await first.quote(Market.KR, "KRX", "005930")
    await second.quote(Market.KR, "KRX", "005930")
    await first.submit(order())
    assert sim.sim.stats["tokens_issued"] == 1


async def test_only_one_of_many_callers_issues_the_token(sim: SimServer, make_broker) -> None:
    brokers = [make_broker() for _ in range(6)]
    await asyncio.gather(*(b.quote(Market.KR, "KRX", "005930") for b in brokers))
    assert sim.sim.stats["tokens_issued"] == 1
    assert sim.sim.stats["token_refused"] == 0


async def test_token_is_reused_until_shortly_before_expiry_then_renewed(
    sql: SqlStore, tokens_for: TokensFor
) -> None:
    # The client's clock runs ahead of the simulator's, so KIS's 6-hour same-token window is
    # switched off here: the renewal must reach a token the simulator really issues anew.
    sim = start_sim(token_ttl_s=3600, token_min_interval_s=0, token_reuse_s=0)
    try:
        clock = Clock()
        tokens = tokens_for(sim, sql, clock, min_interval_s=60, refresh_margin_s=600)
        first = await tokens.get()
        clock.now += timedelta(seconds=2999)  # 601 s left: still good
        assert await tokens.get() == first
        clock.now += timedelta(seconds=2)  # 599 s left: renewed
        second = await tokens.get()
        assert second != first
        assert sim.sim.stats["tokens_issued"] == 2
        stored = await tokens.stored()
        assert stored is not None and stored.access_token == second
    finally:
        sim.stop()


async def test_expired_token_is_reissued_once_and_the_call_repeated(sql: SqlStore, vk: Any) -> None:
    sim = start_sim(token_min_interval_s=0)
    try:
        broker = build_kis_broker(
            "main",
            kis_settings(sim.url, token_min_interval_s=1),
            records=SqlTokenRecords(sql),
            valkey=vk,
        )
        await broker.quote(Market.KR, "KRX", "005930")
        await SqlTokenRecords(sql).note_issue_attempt(
            broker.client.tokens.key_id, datetime.now(UTC) - timedelta(seconds=5)
        )
        sim.sim.expire_tokens()
        placed = await broker.submit(order())
        assert placed.status is OrderStatus.ACCEPTED
        assert sim.sim.stats["expired_token"] == 1
        assert sim.sim.stats["tokens_issued"] == 2
        await broker.close()
    finally:
        sim.stop()


async def test_no_second_issuance_within_the_minimum_interval(sim: SimServer, make_broker) -> None:
    broker = make_broker(token_min_interval_s=300)
    await broker.quote(Market.KR, "KRX", "005930")
    sim.sim.expire_tokens()
    with pytest.raises(BrokerUnavailableError):
        await broker.submit(order())  # EGW00123, and a new token is not allowed yet
    assert sim.sim.stats["tokens_issued"] == 1
    assert sim.control("stats")["orders"] == []


async def test_a_token_granted_while_the_database_drops_is_kept_and_not_issued_again(
    sim: SimServer, vk: Any, mariadb_url: str
) -> None:
    proxy = await TcpProxy(MARIADB_HOST, MARIADB_PORT).start()
    url = mariadb_url.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{proxy.port}")
    store = SqlStore(url, timeout_s=1.0)
    client = KisClient(
        environment="real",
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        limiter=RateLimiter(None, "test", 50),
        base_url=sim.url,
    )

    async def issue_then_database_drops() -> TokenGrant:
        grant = await client.issue_token()
        proxy.cut()  # KIS granted it; the row cannot be written any more
        return grant

    def tokens(issue: Any) -> KisTokens:
        return KisTokens(
            environment="real",
            app_key=APP_KEY,
            records=SqlTokenRecords(store),
            issue=issue,
            valkey=vk,
            min_interval_s=60,
        )

    try:
        first = tokens(issue_then_database_drops)
        granted = await first.get()
        assert await first.get() == granted
        # Another process of this worker, while the database is still away: the mirror's copy.
        assert await tokens(client.issue_token).get() == granted
        assert sim.sim.stats["tokens_issued"] == 1
        assert sim.sim.stats["token_refused"] == 0
    finally:
        await client.close()
        await store.close()
        await proxy.stop()


async def test_a_refused_issuance_while_the_database_drops_is_not_tried_again(
    sim: SimServer, sql: SqlStore, vk: Any, mariadb_url: str, tokens_for: TokensFor
) -> None:
    await tokens_for(sim, sql, Clock(), min_interval_s=1).get()  # another installation's token
    proxy = await TcpProxy(MARIADB_HOST, MARIADB_PORT).start()
    url = mariadb_url.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{proxy.port}")
    store = SqlStore(url, timeout_s=1.0)
    client = KisClient(
        environment="real",
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        limiter=RateLimiter(None, "test", 50),
        base_url=sim.url,
    )

    async def issue_then_database_drops() -> TokenGrant:
        try:
            return await client.issue_token()
        finally:
            proxy.cut()

    tokens = KisTokens(
        environment="real",
        app_key=APP_KEY,
        records=SqlTokenRecords(store),
        issue=issue_then_database_drops,
        valkey=vk,
        min_interval_s=60,
    )
    try:
        with pytest.raises(KisTokenError):
            await tokens.get()
        assert sim.sim.stats["token_refused"] == 1
    finally:
        await client.close()
        await store.close()
        await proxy.stop()


async def test_kis_throttle_on_issuance_is_reported_as_retryable(
    sim: SimServer, sql: SqlStore, tmp_path, tokens_for: TokensFor
) -> None:
    # A second database (as if two installations shared one key): KIS itself refuses (EGW00133).
    await tokens_for(sim, sql, Clock(), min_interval_s=1).get()
    other_url = f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite3'}"
    from yquant.adapters.db import migrate

    migrate.upgrade(other_url)
    other = SqlStore(other_url)
    try:
        with pytest.raises(KisTokenError):
            await tokens_for(sim, other, Clock(), min_interval_s=1).get()
    finally:
        await other.close()
    assert sim.sim.stats["token_refused"] == 1


async def test_a_wrong_secret_halts_and_no_secret_appears_in_the_error(
    sim: SimServer, sql: SqlStore, tokens_for: TokensFor
) -> None:
    wrong = "W" + "fedcba9876543210" * 11
    with pytest.raises(KisConfigurationError) as raised:
        await tokens_for(sim, sql, Clock(), secret=wrong).get()
    text = str(raised.value)
    assert "EGW00105" in text
    assert wrong not in text and APP_KEY not in text and APP_SECRET not in text


async def test_a_refused_mirror_write_logs_no_token(
    sim: SimServer,
    sql: SqlStore,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
    tokens_for: TokensFor,
) -> None:
    """A Valkey that refuses the mirror's write (out of memory here; a full disk or a replica
    does the same) answers with an error that quotes the command, token and all: the log
    keeps only the kind of failure."""
    server = ValkeyProcess(tmp_path / "valkey").start()
    client = valkey.from_url(server.url, decode_responses=True)
    try:
        await client.config_set("maxmemory-policy", "noeviction")
        await client.config_set("maxmemory", "1")
        with caplog.at_level(logging.WARNING):
            token = await tokens_for(sim, sql, Clock(), valkey=client).get()
        # The refusal was logged (at warning or above), and the log holds no secret.
        assert any(r.levelno >= logging.WARNING for r in caplog.records)
        assert token and token not in caplog.text
        assert APP_SECRET not in caplog.text
    finally:
        await client.aclose()
        server.stop()
