"""Prices: a KIS quote first (the KIS adapter on the simulator), else the latest price seen
(`last_prices`, on SQLite and MariaDB), else the catalog's base price; every accepted alert's
price is recorded by the engine."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes import APPLE, SAMSUNG, FakeInstruments, FixedClock
from tests.fixtures.kis import BrokerFactory
from tests.harness import Rig, build_rig, krx_alert
from tests.support import free_port
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.prices import SqlLastPrices, SqlPriceHistory
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Action, Alert, Market
from yquant.ports import Mark, PriceSource
from yquant.services.prices import PriceService

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
KR = Market.KR
BASED = dataclasses.replace(SAMSUNG, base_price=Decimal(70500))


async def test_a_kis_quote_comes_first_and_is_kept_briefly(
    sim: SimServer, make_broker: BrokerFactory, sql: SqlStore
) -> None:
    broker = make_broker()
    sim.control("price", market="KR", ticker="005930", price="71500")
    last = SqlLastPrices(sql)
    await last.record([(KR, "005930", _mark("70000"))])  # a price seen earlier
    clock = FixedClock(T0)
    prices = PriceService(last=last, clock=clock, quotes=broker, quote_cache_s=600)
    mark = await prices.mark(KR, "KOSPI", "005930")
    assert mark is not None
    assert (mark.price, mark.source, mark.at) == (Decimal(71500), PriceSource.QUOTE, T0)
    # Kept for quote_cache_s: the next read asks KIS nothing.
    sim.control("price", market="KR", ticker="005930", price="72000")
    assert (await prices.mark(KR, "KOSPI", "005930")) == mark
    history = SqlPriceHistory(sql)
    fresh = PriceService(last=last, clock=clock, quotes=broker, quote_cache_s=0, history=history)
    again = await fresh.mark(KR, "KOSPI", "005930")
    assert again is not None and again.price == Decimal(72000)
    # A quote asked for is a price seen: the first of its 15 minutes goes into the history.
    sim.control("price", market="KR", ticker="005930", price="72500")
    await fresh.mark(KR, "KOSPI", "005930")
    assert await history.series(KR, "005930", T0 - timedelta(days=1)) == [again]


async def test_a_broker_that_does_not_answer_leaves_the_price_seen(
    make_broker: BrokerFactory, sql: SqlStore
) -> None:
    away = make_broker(url=f"http://127.0.0.1:{free_port()}")
    last = SqlLastPrices(sql)
    await last.record([(KR, "005930", _mark("70000"))])
    prices = PriceService(last=last, clock=FixedClock(T0), quotes=away)
    found = await prices.marks([(KR, "KOSPI", "005930"), (Market.US, "NASDAQ", "AAPL")])
    assert found == {(KR, "005930"): _mark("70000")}


async def test_without_a_quote_the_latest_price_seen_then_the_catalogs_base_price(
    store: SqlStore,
) -> None:
    clock = FixedClock(T0)
    prices = PriceService(
        last=SqlLastPrices(store), clock=clock, instruments=FakeInstruments(BASED, APPLE)
    )
    base = await prices.mark(KR, "KOSPI", "005930")
    assert base is not None
    assert (base.price, base.source) == (Decimal(70500), PriceSource.CATALOG)
    assert base.at.isoformat() == "2026-11-27T00:00:00+09:00"  # the start of Seoul's day
    assert await prices.mark(Market.US, "NASDAQ", "AAPL") is None  # no base price
    assert await prices.mark(KR, "KOSPI", "999999") is None  # not in the catalog

    await prices.observe(KR, "005930", Decimal(71000), T0, PriceSource.ALERT)
    await prices.observe(KR, "005930", Decimal(69000), T0 - timedelta(minutes=1), PriceSource.FILL)
    seen = await prices.mark(KR, "KOSPI", "005930")
    assert seen == _mark("71000")
    # Another process (a fresh service) reads it from the database.
    other = PriceService(last=SqlLastPrices(store), clock=clock)
    assert await other.mark(KR, "KOSPI", "005930") == _mark("71000")


async def test_a_price_seen_while_the_database_is_away_is_not_an_error(tmp_path: Path) -> None:
    away = SqlStore(f"mysql+asyncmy://root@127.0.0.1:{free_port()}/yquant", timeout_s=1)
    recorder = Recorder(away, Journal(tmp_path / "journal.sqlite3"))
    try:
        direct = PriceService(last=SqlLastPrices(away), clock=FixedClock(T0))
        await direct.observe(KR, "005930", Decimal(71000), T0, PriceSource.ALERT)
        # What this process saw stands in for the stored prices it cannot read.
        assert await direct.mark(KR, "KOSPI", "005930") == _mark("71000")
        journaled = PriceService(last=SqlLastPrices(away), clock=FixedClock(T0), recorder=recorder)
        await journaled.observe(KR, "005930", Decimal(71000), T0, PriceSource.ALERT)
        assert recorder.journal.depth == 1
    finally:
        await recorder.close()
        recorder.journal.close()
        await away.close()


@pytest.fixture
async def rig(tmp_path: Path, db_url: str, valkey_url: str) -> AsyncIterator[Rig]:
    r = await build_rig(tmp_path, db_url, valkey_url, T0)
    yield r
    await r.close()


async def test_the_engine_records_each_accepted_alerts_price(rig: Rig) -> None:
    await rig.handle(krx_alert("p1", T0, price="71000"))
    later = T0 + timedelta(seconds=30)
    rig.clock.set(later)
    # Whatever the decision, the price an accepted alert carried was seen.
    await rig.handle(krx_alert("p2", later, Action.SELL, quantity="5", price="71200"))
    unknown = Alert(
        key="p3",
        strategy="default",
        ticker="999999",
        exchange="KRX",
        market=KR,
        action=Action.BUY,
        received_at=later,
        price=Decimal(5),
        quantity=Decimal(1),
    )
    await rig.handle(unknown)  # not in the catalog: its price is nobody's
    found = await SqlLastPrices(rig.store).last([(KR, "005930"), (KR, "999999")])
    assert found == {(KR, "005930"): _mark("71200", later)}


def _mark(price: str, at: datetime = T0) -> Mark:
    return Mark(Decimal(price), at, PriceSource.ALERT)
