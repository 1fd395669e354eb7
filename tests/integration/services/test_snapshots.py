"""Daily snapshots on the real database (SQLite and MariaDB): taken from the broker after the
close, the same row when taken twice, days missed back-filled from the fills and the prices
recorded, a deposit seen as a flow (not as performance), and the FX rate with its source."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Table, func, select

from tests.fakes import FakeBroker, FakeRoles, FixedClock
from yquant.adapters.db import migrate, tables
from yquant.adapters.db.fx import SqlFxRates
from yquant.adapters.db.snapshots import SqlSnapshots
from yquant.adapters.db.store import SqlStore
from yquant.bootstrap import market_sessions
from yquant.domain.book import BookFill, FeeSchedule, Holding
from yquant.domain.model import Market, Side
from yquant.domain.performance import DayValue, account_returns
from yquant.domain.snapshots import FxSource, SnapshotSource
from yquant.errors import ConfigurationError
from yquant.ports import FxRate, Mark, PriceSource
from yquant.services.fx import FxService
from yquant.services.snapshots import Outcome, Result, SnapshotService
from yquant.services.worker_state import ActiveRole
from yquant.settings import Settings

D = Decimal
# KRX sessions of the week of 2026-12-07 (Mon..Fri), 09:00-15:30 KST = 00:00-06:30 UTC.
MON, TUE, WED, THU, FRI = (date(2026, 12, d) for d in range(7, 12))


def kst(day: date, hour: int, minute: int = 0) -> datetime:
    """``hour``:``minute`` in Seoul on ``day``, as UTC."""
    return datetime(day.year, day.month, day.day, hour - 9, minute, tzinfo=UTC)


@dataclass
class Fills:
    """The `FillHistory` port over a list the test appends to."""

    fills: list[BookFill] = field(default_factory=list)

    async def book_fills(self, **_: object) -> list[BookFill]:
        return sorted(self.fills, key=lambda f: (f.filled_at, f.fill_id))

    def add(self, side: Side, qty: str, price: str, at: datetime, ticker: str = "005930") -> None:
        n = len(self.fills) + 1
        market = Market.KR if ticker.isdigit() else Market.US
        self.fills.append(
            BookFill(
                f"f{n}",
                f"o{n}",
                "main",
                "trend",
                market,
                ticker,
                side,
                D(qty),
                D(price),
                D(0),
                at,
                "KRX" if market is Market.KR else "NASDAQ",
            )
        )


def holding(qty: str) -> Holding:
    return Holding("main", "005930", Market.KR, D(qty), D(70000))


@dataclass
class Quotes:
    """The `Prices` port: the closing quotes the test sets."""

    quotes: dict[tuple[Market, str], Mark] = field(default_factory=dict)

    async def mark(self, market: Market, exchange: str, ticker: str) -> Mark | None:
        return self.quotes.get((market, ticker))

    async def marks(
        self, instruments: Sequence[tuple[Market, str, str]]
    ) -> dict[tuple[Market, str], Mark]:
        return {(m, t): self.quotes[(m, t)] for m, _, t in instruments if (m, t) in self.quotes}

    async def observe(self, *args: object) -> None:
        raise AssertionError("a snapshot records no price")


@dataclass
class Recorded:
    """The `LastPrices` port: the latest price seen per instrument."""

    prices: dict[tuple[Market, str], Mark] = field(default_factory=dict)

    async def last(self, keys: Sequence[tuple[Market, str]]) -> dict[tuple[Market, str], Mark]:
        return {k: self.prices[k] for k in keys if k in self.prices}

    async def record(self, marks: object) -> None:
        raise AssertionError("a snapshot records no price")


@dataclass
class Rig:
    service: SnapshotService
    records: SqlSnapshots
    clock: FixedClock
    broker: FakeBroker
    fills: Fills
    quotes: Quotes
    recorded: Recorded


@pytest.fixture
def rig(store: SqlStore) -> Rig:
    clock = FixedClock(kst(MON, 16, 30))
    broker = FakeBroker(cash={"KRW": D(10_000_000)})
    fills, quotes, recorded = Fills(), Quotes(), Recorded()
    records = SqlSnapshots(store)
    service = SnapshotService(
        records=records,
        fills=fills,
        fees=FeeSchedule(),
        prices=quotes,
        last=recorded,
        clock=clock,
        sessions=market_sessions(Settings()),
        accounts=["main"],
        fx=FxService(clock=clock, stored=SqlFxRates(store)),
        broker=broker,
        flow_min={"KRW": D(1000)},
        markets=[Market.KR],
    )
    return Rig(service, records, clock, broker, fills, quotes, recorded)


async def count(store: SqlStore, table: Table) -> int:
    [row] = await store.rows(select(func.count()).select_from(table))
    return int(next(iter(row.values())))


async def test_a_snapshot_taken_twice_is_the_same_row(rig: Rig, store: SqlStore) -> None:
    rig.fills.add(Side.BUY, "10", "70000", kst(MON, 10))
    rig.broker.cash_by_currency = {"KRW": D(9_300_000)}
    rig.broker.holdings_by_account["main"] = [holding("10")]
    rig.quotes.quotes[(Market.KR, "005930")] = Mark(D(71000), kst(MON, 15, 30), PriceSource.QUOTE)

    [first] = await rig.service.run_due()
    again = await rig.service.snapshot("main", Market.KR, MON)  # by hand, the same evening
    [kept] = await rig.service.run_due()

    assert first.outcome is Outcome.TAKEN and again.outcome is Outcome.TAKEN
    assert kept.outcome is Outcome.KEPT
    assert again.snapshot == first.snapshot
    stored = await rig.records.get("main", "KRW", MON)
    assert stored is not None
    assert stored.cash == D(9_300_000) and stored.positions_value == D(710_000)
    assert stored.equity == D(10_010_000) and stored.unrealised == D(10_000)
    assert stored.source is SnapshotSource.BROKER and stored.fx.source is FxSource.BASE
    assert [(s.strategy, s.position_value, s.cost_value) for s in stored.strategies] == [
        ("trend", D(710_000), D(700_000))
    ]
    assert await count(store, tables.account_snapshots) == 1
    assert await count(store, tables.strategy_snapshots) == 1


async def test_a_past_day_stored_is_kept_not_retaken_from_todays_cash(rig: Rig) -> None:
    await rig.service.run_due()
    rig.clock.set(kst(TUE, 10))  # the next session has opened: the broker's cash moved on
    rig.broker.cash_by_currency = {"KRW": D(1)}

    result = await rig.service.snapshot("main", Market.KR, MON)

    assert result.outcome is Outcome.KEPT
    assert result.snapshot is not None and result.snapshot.cash == D(10_000_000)


async def test_days_missed_are_back_filled_from_the_fills_and_recorded_prices(rig: Rig) -> None:
    await rig.service.run_due()  # Monday, from the broker: 10,000,000 in cash
    # Down from Monday evening to Thursday evening; meanwhile a buy on Tuesday, a sell on
    # Wednesday, and a price seen on Thursday (after Tuesday's and Wednesday's close).
    rig.fills.add(Side.BUY, "10", "70000", kst(TUE, 10))
    rig.fills.add(Side.SELL, "4", "72000", kst(WED, 11))
    rig.recorded.prices[(Market.KR, "005930")] = Mark(D(75000), kst(THU, 10), PriceSource.ALERT)
    rig.clock.set(kst(THU, 16, 30))
    rig.broker.cash_by_currency = {"KRW": D(10_000_000 - 700_000 + 288_000)}
    rig.broker.holdings_by_account["main"] = [holding("6")]
    rig.quotes.quotes[(Market.KR, "005930")] = Mark(D(76000), kst(THU, 15, 30), PriceSource.QUOTE)

    results = await rig.service.run_due()

    assert [(r.day, r.outcome) for r in results] == [
        (TUE, Outcome.BACKFILLED),
        (WED, Outcome.BACKFILLED),
        (THU, Outcome.TAKEN),
    ]
    tue, wed, thu = [await rig.records.get("main", "KRW", d) for d in (TUE, WED, THU)]
    assert tue is not None and wed is not None and thu is not None
    # Tuesday: cash less the buy; 10 shares at the last price known by its close (the fill's).
    assert (tue.cash, tue.positions_value, tue.source) == (
        D(9_300_000),
        D(700_000),
        SnapshotSource.BACKFILL,
    )
    # Wednesday: the sell's proceeds in; 6 shares at Wednesday's fill price.
    assert (wed.cash, wed.positions_value, wed.realised) == (D(9_588_000), D(432_000), D(8000))
    # Thursday from the broker, which agrees with the fills: no flow.
    assert (thu.cash, thu.positions_value, thu.flow) == (D(9_588_000), D(456_000), D(0))
    # Back-filling again gives the same rows.
    assert await rig.service.snapshot("main", Market.KR, TUE) == Result(
        "main", Market.KR, TUE, Outcome.KEPT, tue
    )


async def test_a_deposit_is_a_flow_and_not_a_return(rig: Rig) -> None:
    await rig.service.run_due()  # Monday: 10,000,000
    rig.clock.set(kst(TUE, 16, 30))
    rig.broker.cash_by_currency = {"KRW": D(15_000_000)}  # 5,000,000 deposited

    [tue] = await rig.service.run_due()

    assert tue.snapshot is not None and tue.snapshot.flow == D(5_000_000)
    days = await rig.records.days(account="main")
    series = [DayValue(d.day, d.equity_krw, d.flow_krw, d.positions_value) for d in days]
    [r] = account_returns(series)
    assert r.value == 0.0


async def test_a_cash_difference_below_flow_min_is_performance(rig: Rig) -> None:
    await rig.service.run_due()
    rig.clock.set(kst(TUE, 16, 30))
    rig.broker.cash_by_currency = {"KRW": D(9_999_500)}  # a charge the book did not expect

    [tue] = await rig.service.run_due()

    assert tue.snapshot is not None and tue.snapshot.flow == 0


async def test_no_row_for_a_currency_the_account_does_not_use(rig: Rig) -> None:
    rig.broker.cash_by_currency = {"USD": D(100)}
    [result] = await rig.service.run_due()
    assert result.outcome is Outcome.EMPTY
    assert await rig.records.days() == []


def us_service(
    store: SqlStore,
    clock: FixedClock,
    broker: FakeBroker,
    configured: dict[str, Decimal] | None = None,
    configured_at: datetime | None = None,
) -> SnapshotService:
    quotes = Quotes({(Market.US, "AAPL"): Mark(D(150), clock.current, PriceSource.QUOTE)})
    return SnapshotService(
        records=SqlSnapshots(store),
        fills=Fills(),
        fees=FeeSchedule(),
        prices=quotes,
        last=Recorded(),
        clock=clock,
        sessions=market_sessions(Settings()),
        accounts=["main"],
        fx=FxService(
            clock=clock,
            stored=SqlFxRates(store),
            configured=configured,
            configured_at=configured_at,
        ),
        broker=broker,
        markets=[Market.US],
    )


def usd(rate: str, at: datetime) -> FxRate:
    return FxRate("USD", "KRW", D(rate), at, "kis")


async def test_fx_rate_from_the_fx_service_the_brokers_else_the_configured(
    store: SqlStore,
) -> None:
    # New York: Friday 2026-12-11 closes 16:00 EST = 21:00 UTC.
    clock = FixedClock(datetime(2026, 12, 11, 21, 45, tzinfo=UTC))
    broker = FakeBroker(cash={"USD": D(1000)})
    broker.holdings_by_account["main"] = [Holding("main", "AAPL", Market.US, D(2), D(100))]
    configured_at = datetime(2026, 12, 1, tzinfo=UTC)
    usdkrw = {"USD": D(1400)}

    with pytest.raises(ConfigurationError, match=r"fx\.usdkrw"):
        await us_service(store, clock, broker).run_due()
    [configured] = await us_service(store, clock, broker, usdkrw, configured_at).run_due()
    broker.rate = usd("1350.5", clock.current)
    [published] = await us_service(
        store, clock, broker, usdkrw, configured_at
    ).run_due()  # same evening

    assert configured.snapshot is not None and published.snapshot is not None
    assert configured.snapshot.fx.source is FxSource.CONFIG
    assert configured.snapshot.fx.at == configured_at
    assert configured.snapshot.equity_krw == D(1300) * D(1400)
    # The shares no strategy bought are valued too (an unattributed row).
    assert [s.strategy for s in configured.snapshot.strategies] == ["unattributed"]
    assert published.outcome is Outcome.KEPT  # the schedule does not take a stored day again
    by_hand = await us_service(store, clock, broker, usdkrw, configured_at).snapshot(
        "main", Market.US, date(2026, 12, 11)
    )
    assert by_hand.snapshot is not None
    assert (by_hand.snapshot.fx.rate, by_hand.snapshot.fx.source) == (D("1350.5"), FxSource.KIS)
    assert by_hand.snapshot.fx.at == clock.current
    stored = await SqlSnapshots(store).get("main", "USD", date(2026, 12, 11))
    assert stored is not None and stored.equity_krw == D(1300) * D("1350.5")
    assert stored.fx.source is FxSource.KIS and stored.fx.at == clock.current
    # The rate the broker gave with the balance is the one the dashboard reads now too.
    assert await SqlFxRates(store).latest("USD", "KRW") == usd("1350.5", clock.current)


async def test_a_day_back_filled_gets_the_rate_recorded_by_its_close(store: SqlStore) -> None:
    """New York closes 21:00 UTC. Monday is taken from the broker; the worker is down Tuesday
    and Wednesday; on Thursday both are back-filled, each with the rate recorded at or before
    its close (a rate first seen after Wednesday's close is Thursday's, not Wednesday's)."""
    mon, tue, wed, thu = (date(2026, 12, d) for d in (7, 8, 9, 10))

    def utc(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)

    clock = FixedClock(utc(mon, 21, 45))
    broker = FakeBroker(cash={"USD": D(1000)})
    broker.rate = usd("1380", utc(mon, 21, 45))
    [monday] = await us_service(store, clock, broker, configured={"USD": D(1)}).run_due()
    assert monday.snapshot is not None and monday.snapshot.fx.rate == D(1380)

    rates = SqlFxRates(store)
    await rates.record(usd("1390", utc(tue, 20)))
    await rates.record(usd("1390", utc(wed, 20, 30)), since=utc(tue, 20))  # seen again
    await rates.record(usd("1410", utc(wed, 22)))  # after Wednesday's close
    clock.current = utc(thu, 21, 45)
    broker.rate = usd("1420", clock.current)
    results = await us_service(store, clock, broker, configured={"USD": D(1)}).run_due()

    got = {r.day: (r.outcome, r.snapshot.fx if r.snapshot else None) for r in results}
    assert got[tue][0] is Outcome.BACKFILLED and got[tue][1] is not None
    assert (got[tue][1].rate, got[tue][1].source, got[tue][1].at) == (
        D(1390),
        FxSource.KIS,
        utc(tue, 21),  # seen unchanged from before Tuesday's close until Wednesday
    )
    assert got[wed][0] is Outcome.BACKFILLED and got[wed][1] is not None
    assert (got[wed][1].rate, got[wed][1].at) == (D(1390), utc(wed, 20, 30))
    assert got[thu][0] is Outcome.TAKEN and got[thu][1] is not None
    assert (got[thu][1].rate, got[thu][1].at) == (D(1420), clock.current)
    stored = await SqlSnapshots(store).get("main", "USD", wed)
    assert stored is not None and stored.equity_krw == D(1000) * D(1390)


def test_the_snapshots_migration_goes_down_and_up_again(db_url: str) -> None:
    migrate.downgrade(db_url, "0005")
    assert migrate.current(db_url).startswith("0005")
    migrate.upgrade(db_url)
    assert "(head)" in migrate.current(db_url)


async def test_the_schedule_runs_only_while_this_worker_is_active(rig: Rig) -> None:
    roles = FakeRoles(("green", 1))
    role = ActiveRole(roles, "blue")
    role.observe(await roles.active())
    stop = asyncio.Event()
    loop = asyncio.create_task(role.while_active(stop, rig.service.run))
    try:
        for _ in range(50):  # the standby's loop gets every chance to run
            await asyncio.sleep(0)
        assert await rig.records.days() == []
        roles.current = ("blue", 2)
        role.observe(roles.current)
        for _ in range(600):  # up to 30 s on a loaded machine; the loop runs at once
            if await rig.records.days():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await loop
    [taken] = await rig.records.days()
    assert (taken.day, taken.source) == (MON, SnapshotSource.BROKER)
