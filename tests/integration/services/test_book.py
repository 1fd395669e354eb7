"""The book service on the recorded orders and fills (SQLite and MariaDB): valued rows, totals
per currency, the broker check (asked now, or the last sync's copy) and the account sync's
report of a difference."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes import (
    SAMSUNG,
    FakeBroker,
    FakeInstruments,
    FakeRoles,
    FixedClock,
    RecordingMetrics,
)
from tests.support import krx_order
from yquant.adapters.db.accounts import AccountBook
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.prices import SqlLastPrices
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.bootstrap import build_book, build_prices
from yquant.domain.model import Fill, Market, OrderStatus, Side
from yquant.domain.writes import InsertFill, InsertOrder
from yquant.ports import Holding, Mark, PriceSource
from yquant.services.account_sync import AccountSync
from yquant.services.book import BookService, HoldingsFrom
from yquant.services.worker_state import ActiveRole
from yquant.settings import Settings

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
D = Decimal


@dataclass
class Parts:
    settings: Settings
    store: SqlStore
    recorder: Recorder
    broker: FakeBroker
    clock: FixedClock

    def book(self, instruments: FakeInstruments | None = None) -> BookService:
        prices = build_prices(self.settings, self.store, clock=self.clock, instruments=instruments)
        return build_book(self.settings, self.store, prices, clock=self.clock, brokers=self.broker)

    async def filled(
        self,
        cid: str,
        strategy: str,
        side: Side,
        quantity: str,
        price: str,
        at: datetime,
        *,
        ticker: str = "005930",
        market: Market = Market.KR,
    ) -> None:
        order = krx_order(
            cid,
            at,
            strategy=strategy,
            side=side,
            quantity=D(quantity),
            ticker=ticker,
            market=market,
            exchange="KOSPI" if market is Market.KR else "NASDAQ",
            status=OrderStatus.FILLED,
            filled_quantity=D(quantity),
        )
        await self.recorder.write(InsertOrder(order))
        currency = "KRW" if market is Market.KR else "USD"
        fill = Fill(
            f"{cid}:1", cid, "paper", ticker, side, D(quantity), D(price), D(0), currency, at
        )
        await self.recorder.write(InsertFill(fill))

    def holds(self, *holdings: tuple[str, str, str]) -> list[Holding]:
        held = [
            Holding("paper", t, Market.KR if t[0].isdigit() else Market.US, D(q), D(p))
            for t, q, p in holdings
        ]
        self.broker.holdings_by_account["paper"] = held
        return held


@pytest.fixture
async def parts(tmp_path: Path, db_url: str) -> AsyncIterator[Parts]:
    settings = Settings(data_dir=tmp_path / "data", database={"url": db_url})
    store = SqlStore(db_url, timeout_s=5)
    recorder = Recorder(store, Journal(tmp_path / "journal.sqlite3"))
    p = Parts(settings, store, recorder, FakeBroker(), FixedClock(T0 + timedelta(hours=1)))
    await p.filled("a1", "alpha", Side.BUY, "10", "70000", T0)
    await p.filled("b1", "beta", Side.BUY, "5", "71000", T0 + timedelta(minutes=1))
    await p.filled("a2", "alpha", Side.SELL, "4", "72000", T0 + timedelta(minutes=2))
    await p.filled("a3", "alpha", Side.BUY, "2", "190", T0, ticker="AAPL", market=Market.US)
    yield p
    await recorder.close()
    recorder.journal.close()
    await store.close()


async def test_rows_are_valued_and_the_totals_add_up_to_the_brokers_holdings(parts: Parts) -> None:
    parts.holds(("005930", "8", "70500"), ("AAPL", "2", "190"))
    await SqlLastPrices(parts.store).record(
        [(Market.KR, "005930", _seen("73000", parts.clock.now()))]
    )
    view = await parts.book().view(account="paper")
    rows = {(r.position.strategy, r.position.ticker): r for r in view.rows}
    assert list(rows) == [
        ("alpha", "005930"),
        ("alpha", "AAPL"),
        ("beta", "005930"),
        ("unattributed", "005930"),
    ]
    alpha = rows[("alpha", "005930")]
    assert (alpha.position.quantity, alpha.unrealised, alpha.stale) == (D(6), D(18000), False)
    # The broker holds 8 where the strategies' fills make 11: a negative row, with no cost of
    # its own and so no unrealised P&L.
    short = rows[("unattributed", "005930")]
    assert (short.position.quantity, short.unrealised, short.pnl_today) == (D(-3), None, None)
    apple = rows[("alpha", "AAPL")]
    assert (apple.mark, apple.market_value, apple.unrealised) == (None, None, None)
    totals = view.totals()
    assert totals["KRW"].value == D(8) * D(73000)  # the broker's shares at the last price
    assert totals["KRW"].priced and not totals["USD"].priced
    # KRW: every row's day P&L known but the negative one's, which has none of its own.
    assert totals["KRW"].today_known and not totals["USD"].today_known
    assert view.checks["paper"].source is HoldingsFrom.BROKER


async def test_a_broker_that_does_not_answer_is_checked_on_the_last_syncs_holdings(
    parts: Parts,
) -> None:
    parts.broker.holdings_unavailable = True
    before = await parts.book().view(account="paper")
    assert before.unattributed == []  # nothing synced yet: nothing to compare with
    check = before.checks["paper"]
    assert (check.source, check.error) == (HoldingsFrom.NONE, "fake broker is away")
    synced_at = parts.clock.now() - timedelta(minutes=5)
    held = parts.holds(("005930", "14", "70500"), ("AAPL", "2", "190"))
    await AccountBook(parts.store).replace_positions("paper", held, synced_at)
    after = await parts.book().view(account="paper")
    [extra] = after.unattributed
    assert extra.position.quantity == D(3)
    assert (after.checks["paper"].source, after.checks["paper"].as_of) == (
        HoldingsFrom.SYNCED,
        synced_at,
    )


async def test_a_price_never_seen_is_the_catalogs_base_price_shown_stale(parts: Parts) -> None:
    parts.holds(("005930", "11", "70500"), ("AAPL", "2", "190"))
    based = FakeInstruments(dataclasses.replace(SAMSUNG, base_price=D(70800)))
    view = await parts.book(based).view(strategy="beta")
    [beta] = view.rows
    assert beta.mark is not None and beta.mark.source is PriceSource.CATALOG
    assert beta.stale and beta.unrealised == D(-1000)
    assert view.checks == {}  # one strategy: not compared with the broker's whole holding


async def test_the_account_sync_reports_a_difference_once_and_its_end(
    parts: Parts, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = RecordingMetrics()
    prices = build_prices(parts.settings, parts.store, clock=parts.clock)
    sync = AccountSync(
        broker=parts.broker,
        book=AccountBook(parts.store),
        role=ActiveRole(FakeRoles(), "local"),
        accounts=["paper"],
        clock=parts.clock,
        ledger=parts.book(),
        prices=prices,
        metrics=metrics,
    )
    parts.holds(("005930", "14", "70500"), ("AAPL", "2", "190"))
    with caplog.at_level(logging.INFO, logger="yquant.services.account_sync"):
        await sync.sync("paper")
        await sync.sync("paper")
        parts.holds(("005930", "11", "70500"), ("AAPL", "2", "190"))
        await sync.sync("paper")
    said = [r.getMessage() for r in caplog.records if "book" in r.getMessage()]
    assert len(said) == 2
    assert said[0].startswith("book differs from the broker account=paper market=KR")
    assert said[1].startswith("book agrees with the broker again account=paper")
    assert metrics.named("book_unattributed") == [("paper", 1), ("paper", 1), ("paper", 0)]
    assert sync.unattributed["paper"] == []
    # Each instrument's latest fill price is now a price seen.
    stored = await SqlLastPrices(parts.store).last([(Market.KR, "005930"), (Market.US, "AAPL")])
    assert stored[(Market.KR, "005930")] == _seen(
        "72000", T0 + timedelta(minutes=2), PriceSource.FILL
    )
    assert stored[(Market.US, "AAPL")].price == D(190)


def _seen(price: str, at: datetime, source: PriceSource = PriceSource.ALERT) -> Mark:
    return Mark(D(price), at, source)


async def test_the_days_pnl_counts_from_the_price_before_today(parts: Parts) -> None:
    """Shares held since yesterday count from the last price seen before today (the price
    history's), those bought today from their cost; a sale today adds its realised P&L."""
    yesterday = T0 - timedelta(days=1)  # 10:00 KST the day before
    await parts.filled("g1", "gamma", Side.BUY, "10", "100000", yesterday, ticker="000660")
    await parts.filled(
        "g2", "gamma", Side.SELL, "4", "103000", T0 + timedelta(minutes=10), ticker="000660"
    )
    prices = build_prices(parts.settings, parts.store, clock=parts.clock)
    await prices.observe(
        Market.KR, "000660", D(101000), yesterday + timedelta(hours=5), PriceSource.ALERT
    )
    await prices.observe(Market.KR, "000660", D(104000), parts.clock.now(), PriceSource.ALERT)
    await prices.observe(Market.KR, "005930", D(73000), parts.clock.now(), PriceSource.ALERT)
    view = await parts.book().view(account="paper", strategy="gamma")
    [gamma] = view.rows
    assert gamma.start is not None and gamma.start.quantity == D(10)
    assert gamma.reference is not None and gamma.reference.price == D(101000)
    fees = D(4) * (D(103000) - D(100000)) - gamma.realised_today
    assert fees > 0  # the sale's commission and tax
    # 6 held at 104,000 against 101,000, 4 sold at 103,000 against 101,000, less the fees.
    assert gamma.pnl_today == D(6) * D(3000) + D(4) * D(2000) - fees
    # Bought today: counted from the cost, with no price before today needed.
    alpha = (await parts.book().view(account="paper", strategy="alpha")).rows
    kr = next(r for r in alpha if r.position.ticker == "005930")
    assert kr.start is not None and kr.start.quantity == 0
    assert kr.pnl_today == kr.realised_today + D(6) * (D(73000) - D(70000))
    totals = view.totals()["KRW"]
    assert (totals.pnl_today, totals.today_known) == (gamma.pnl_today, True)


async def test_without_a_price_before_today_the_days_pnl_is_unknown(parts: Parts) -> None:
    yesterday = T0 - timedelta(days=1)
    await parts.filled("g1", "gamma", Side.BUY, "10", "100000", yesterday, ticker="000660")
    prices = build_prices(parts.settings, parts.store, clock=parts.clock)
    await prices.observe(Market.KR, "000660", D(104000), parts.clock.now(), PriceSource.ALERT)
    view = await parts.book().view(account="paper", strategy="gamma")
    [gamma] = view.rows
    assert (gamma.reference, gamma.pnl_today) == (None, None)
    assert not view.totals()["KRW"].today_known
