"""The gateway with the paper venue as the gateway process builds it (`bootstrap.build_broker`,
its prices from the real price store, `last_prices`): a limit the venue fills on its own timer
when a newer price is recorded, and a day order it expires at the close, reach yQuant's records
through the change listener. The gateway's own tracking interval is a minute here, so only the
venue's wake can tell it within the test's wait."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FixedClock
from tests.harness import make_settings
from tests.support import eventually
from yquant.adapters.brokers.paper import PaperBroker
from yquant.adapters.brokers.routing import AccountBrokers
from yquant.adapters.bus import ORDERS, Bus, Entry
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.adapters.messages import order_to_message
from yquant.bootstrap import Runtime, active_role, build_broker, build_gateway, build_prices
from yquant.domain.commands import PlaceOrder
from yquant.domain.model import Market, Order, OrderType, Side
from yquant.domain.writes import InsertOrder
from yquant.ports import Prices, PriceSource
from yquant.services.gateway import Gateway

SEOUL_10 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 10:00 KST, KRX open
SEOUL_CLOSE = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)  # 15:30 KST
CASH_KRW = Decimal(100_000_000)


@dataclass
class Rig:
    store: SqlStore
    recorder: Recorder
    gateway: Gateway
    brokers: AccountBrokers
    paper: PaperBroker
    prices: Prices  # where the engine records the alerts' prices
    clock: FixedClock

    async def post(self, o: Order) -> None:
        await self.recorder.write(InsertOrder(o))
        entry = Entry(ORDERS, "0-1", order_to_message(o), False, PlaceOrder(o))
        await self.gateway.handle_order(entry)

    async def alert_price(self, price: str, at: datetime) -> None:
        """A price recorded as the engine records an alert's (`last_prices`)."""
        await self.prices.observe(Market.KR, "005930", Decimal(price), at, PriceSource.ALERT)

    async def status(self, o: Order) -> dict[str, Any]:
        row = await self.store.order(o.client_order_id)
        assert row is not None
        return row


@pytest.fixture
async def rig(tmp_path: Path, db_url: str, valkey_url: str) -> AsyncIterator[Rig]:
    settings = make_settings(
        tmp_path / "data",
        db_url,
        valkey_url,
        accounts={"paper": {"broker": "paper", "sessions": "exchange"}},
        paper={"slippage_bps": "10", "check_interval_s": 0.05},
        gateway={"track_interval_s": 60, "sync_interval_s": 3600},
    )
    clock = FixedClock(SEOUL_10)
    store = SqlStore(db_url, timeout_s=5)
    recorder = Recorder(store, Journal(tmp_path / "journal.sqlite3"))
    bus = Bus(valkey_url)
    runtime = Runtime(settings, store, recorder, bus, clock)
    brokers = build_broker(settings, runtime)
    await brokers.connect()
    paper = brokers.for_account("paper")
    assert isinstance(paper, PaperBroker)
    prices = build_prices(settings, store, clock=clock)
    parts = build_gateway(runtime, brokers, active_role(store, settings.worker.name))
    yield Rig(store, recorder, parts.gateway, brokers, paper, prices, clock)
    await brokers.close()
    await recorder.close()
    await bus.close()
    await store.close()
    recorder.journal.close()


@contextlib.asynccontextmanager
async def running(r: Rig) -> AsyncIterator[None]:
    """The gateway process's loops that matter here: tracking, and the venues' own."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.gateway.track(stop)), asyncio.create_task(r.brokers.run(stop))]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def limit_buy(cid: str, quantity: int, limit: str, at: datetime) -> Order:
    return Order(
        client_order_id=cid,
        signal_key=None,
        account="paper",
        strategy="alpha",
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=Decimal(limit),
        reference_price=Decimal(70000),
        created_at=at,
        updated_at=at,
    )


async def _status_is(r: Rig, o: Order, status: str) -> bool:
    return (await r.status(o))["status"] == status


async def test_a_resting_limit_filled_by_the_venues_timer_is_recorded(rig: Rig) -> None:
    await rig.alert_price("70000", SEOUL_10)
    buy = limit_buy("yqpaperlimit1", 10, "69000", SEOUL_10)
    async with running(rig):
        await rig.post(buy)
        assert await _status_is(rig, buy, "accepted")
        # 68,950 slipped by 10 bp is 69,100 on the tick grid: the fill is capped at the limit.
        await rig.alert_price("68950", SEOUL_10 + timedelta(seconds=1))
        await eventually(lambda: _status_is(rig, buy, "filled"))
    row = await rig.status(buy)
    assert (row["filled_quantity"], row["avg_fill_price"]) == (Decimal(10), Decimal(69000))
    fills = await rig.store.recent("fills", 10)
    assert [(f["quantity"], f["price"]) for f in fills] == [(Decimal(10), Decimal(69000))]
    commission = Decimal(103)  # 690,000 x 0.00015 = 103.5, cut to the won
    assert (await rig.brokers.cash("paper"))["KRW"] == CASH_KRW - 690_000 - commission


async def test_a_day_order_expired_at_the_close_is_recorded_and_its_cash_released(
    rig: Rig,
) -> None:
    await rig.alert_price("70000", SEOUL_10)
    buy = limit_buy("yqpaperexpiry1", 10, "60000", SEOUL_10)
    async with running(rig):
        await rig.post(buy)
        assert await _status_is(rig, buy, "accepted")
        assert (await rig.brokers.cash("paper"))["KRW"] < CASH_KRW
        rig.clock.set(SEOUL_CLOSE)
        await eventually(lambda: _status_is(rig, buy, "expired"))
    assert (await rig.status(buy))["filled_quantity"] == 0
    assert (await rig.brokers.cash("paper"))["KRW"] == CASH_KRW


async def test_the_orders_steps_are_handed_to_the_notifier(rig: Rig, valkey_url: str) -> None:
    """Sent and expired as notices on the notices stream, the fill on the executions stream
    (the notifier reports fills from there, one per fill)."""
    import json

    from yquant.adapters.bus import EXECUTIONS, NOTICES
    from yquant.domain import notices

    await rig.alert_price("70000", SEOUL_10)
    buy = limit_buy("yqpapernotice1", 10, "60000", SEOUL_10)
    async with running(rig):
        await rig.post(buy)
        assert await _status_is(rig, buy, "accepted")
        rig.clock.set(SEOUL_CLOSE)
        await eventually(lambda: _status_is(rig, buy, "expired"))
    bus = Bus(valkey_url)
    try:
        entries = await bus.client.xrange(NOTICES)
        assert await bus.client.xlen(EXECUTIONS) == 0
    finally:
        await bus.close()
    told = [notices.from_dict(json.loads(fields["data"])) for _, fields in entries]
    assert [(n.id, n.account, n.strategy) for n in told] == [
        ("order_sent:yqpapernotice1:sent", "paper", "alpha"),
        ("order_cancelled:yqpapernotice1:ended", "paper", "alpha"),
    ]
    assert told[1].data["status"] == "expired"
