"""The paper broker: a real ledger behind the Broker port, on a clock the test moves."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakePrices, FixedClock
from yquant.adapters.brokers.paper import PaperBroker
from yquant.domain.model import Market, Order, OrderStatus, OrderType, Side
from yquant.domain.reasons import ReasonCode
from yquant.ports import PriceSource

NOW = datetime(2026, 11, 27, tzinfo=UTC)
_seq = iter(range(10**6))


def order(
    side: Side,
    qty: int,
    *,
    price: str | None = "100",
    ticker: str = "AAPL",
    market: Market = Market.US,
    order_type: OrderType = OrderType.MARKET,
    limit: str | None = None,
    account: str = "acct",
    cid: str | None = None,
    at: datetime = NOW,
) -> Order:
    return Order(
        client_order_id=cid or f"cid{next(_seq)}",
        signal_key=None,
        account=account,
        strategy="s",
        ticker=ticker,
        exchange="NASDAQ" if market is Market.US else "KRX",
        market=market,
        side=side,
        order_type=order_type,
        quantity=Decimal(qty),
        limit_price=None if limit is None else Decimal(limit),
        reference_price=None if price is None else Decimal(price),
        created_at=at,
        updated_at=at,
    )


CASH = {"USD": Decimal(10000), "KRW": Decimal(10_000_000)}


def venue(path: Path, clock: FixedClock, **options: Any) -> PaperBroker:
    return PaperBroker(
        path,
        commission_rate=options.pop("commission_rate", Decimal("0.001")),
        initial_cash=CASH,
        clock=clock,
        **options,
    )


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[PaperBroker]:
    b = venue(tmp_path / "paper.sqlite3", FixedClock(NOW))
    await b.connect()
    yield b
    await b.close()


async def test_market_buy_fills_at_the_reference_price_and_charges_commission(broker) -> None:
    result = await broker.submit(order(Side.BUY, 10, price="123.45"))
    assert result.status is OrderStatus.FILLED
    assert result.filled_quantity == Decimal(10)
    assert result.avg_fill_price == Decimal("123.45")
    [fill] = result.fills
    assert fill.commission == Decimal("1.23")  # 1234.50 * 0.001, to the cent
    assert (await broker.cash("acct"))["USD"] == Decimal(10000) - Decimal("1234.50") - Decimal(
        "1.23"
    )
    [held] = await broker.holdings("acct")
    assert (held.ticker, held.quantity, held.avg_price) == ("AAPL", Decimal(10), Decimal("123.45"))


async def test_krw_commission_is_cut_to_the_won(broker) -> None:
    result = await broker.submit(
        order(Side.BUY, 3, price="71100", ticker="005930", market=Market.KR)
    )
    assert result.fills[0].commission == Decimal(213)  # 213.3 won cut down
    assert result.fills[0].currency == "KRW"


async def test_submitting_the_same_client_order_id_twice_places_it_once(broker) -> None:
    first = await broker.submit(order(Side.BUY, 1, cid="same"))
    second = await broker.submit(order(Side.BUY, 1, cid="same"))
    assert first == second
    assert (await broker.holdings("acct"))[0].quantity == Decimal(1)


async def test_market_order_without_any_known_price_is_rejected(broker) -> None:
    result = await broker.submit(order(Side.BUY, 1, price=None, ticker="MSFT"))
    assert (result.status, result.reason) == (OrderStatus.REJECTED, ReasonCode.NO_PRICE)


async def test_market_order_uses_the_last_price_seen(broker) -> None:
    await broker.submit(order(Side.BUY, 1, price="50"))
    result = await broker.submit(order(Side.BUY, 1, price=None))
    assert result.avg_fill_price == Decimal(50)


async def test_cash_is_what_new_orders_can_spend(broker) -> None:
    await broker.submit(order(Side.BUY, 1, price="100"))  # the market is at 100
    resting = order(Side.BUY, 50, price="100", order_type=OrderType.LIMIT, limit="90")
    assert (await broker.submit(resting)).status is OrderStatus.ACCEPTED
    held = Decimal(50) * 90 * Decimal("1.001")  # the limit's amount and its commission
    spent = Decimal(100) + Decimal("0.10")
    assert (await broker.cash("acct"))["USD"] == Decimal(10000) - spent - held
    await broker.cancel(resting)
    assert (await broker.cash("acct"))["USD"] == Decimal(10000) - spent


async def test_buy_beyond_cash_is_rejected_and_changes_nothing(broker) -> None:
    result = await broker.submit(order(Side.BUY, 100, price="100"))  # 10,000 + commission
    assert (result.status, result.reason) == (OrderStatus.REJECTED, ReasonCode.INSUFFICIENT_CASH)
    assert (await broker.cash("acct"))["USD"] == Decimal(10000)
    assert await broker.holdings("acct") == []


async def test_selling_more_than_held_is_rejected(broker) -> None:
    await broker.submit(order(Side.BUY, 2))
    result = await broker.submit(order(Side.SELL, 3))
    assert (result.status, result.reason) == (
        OrderStatus.REJECTED,
        ReasonCode.INSUFFICIENT_POSITION,
    )


async def test_sell_returns_cash_and_clears_the_position(broker) -> None:
    await broker.submit(order(Side.BUY, 2, price="100"))
    result = await broker.submit(order(Side.SELL, 2, price="110"))
    assert result.status is OrderStatus.FILLED
    assert await broker.holdings("acct") == []
    # 10000 - 200 - 0.20 + 220 - 0.22
    assert (await broker.cash("acct"))["USD"] == Decimal("10019.58")


async def test_limit_buy_rests_until_a_later_price_crosses(broker) -> None:
    resting = order(Side.BUY, 5, price="100", order_type=OrderType.LIMIT, limit="95")
    placed = await broker.submit(resting)
    assert placed.status is OrderStatus.ACCEPTED
    assert placed.fills == ()
    # A price above the limit does not fill it ...
    await broker.submit(order(Side.BUY, 1, price="97"))
    assert (await broker.get_order(resting)).status is OrderStatus.ACCEPTED
    # ... a later price at or below the limit does, at that price.
    filled = await broker.observe_price(Market.US, "AAPL", Decimal("94.5"))
    assert filled == [resting.client_order_id]
    now = await broker.get_order(resting)
    assert now.status is OrderStatus.FILLED
    assert now.avg_fill_price == Decimal("94.5")


async def test_marketable_limit_sell_fills_at_once(broker) -> None:
    await broker.submit(order(Side.BUY, 1, price="100"))
    result = await broker.submit(
        order(Side.SELL, 1, price="101", order_type=OrderType.LIMIT, limit="100")
    )
    assert (result.status, result.avg_fill_price) == (OrderStatus.FILLED, Decimal(101))


async def test_resting_buy_reserves_cash_and_cancel_releases_it(broker) -> None:
    big = order(Side.BUY, 90, price="120", order_type=OrderType.LIMIT, limit="100")
    assert (await broker.submit(big)).status is OrderStatus.ACCEPTED
    # 9,000 + commission is reserved: another 20 shares at 100 no longer fit.
    refused = await broker.submit(order(Side.BUY, 20, price="100", ticker="MSFT"))
    assert refused.reason == ReasonCode.INSUFFICIENT_CASH
    cancelled = await broker.cancel(big)
    assert cancelled.status is OrderStatus.CANCELLED
    accepted = await broker.submit(order(Side.BUY, 20, price="100", ticker="MSFT"))
    assert accepted.status is OrderStatus.FILLED


async def test_unknown_order_is_none(broker) -> None:
    assert await broker.get_order(order(Side.BUY, 1, cid="never-sent")) is None


async def test_ledger_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    kw: dict[str, Any] = {
        "commission_rate": Decimal(0),
        "initial_cash": {"USD": Decimal(1000)},
        "clock": FixedClock(NOW),
    }
    b = PaperBroker(path, **kw)
    await b.connect()
    placed = order(Side.BUY, 3, price="10", cid="persist")
    await b.submit(placed)
    await b.close()
    again = PaperBroker(path, **kw)
    await again.connect()
    assert (await again.get_order(placed)).status is OrderStatus.FILLED
    assert (await again.cash("acct"))["USD"] == Decimal(970)
    await again.close()


async def test_quote_is_the_last_price_the_venue_saw(broker) -> None:
    assert await broker.quote(Market.US, "NASDAQ", "AAPL") is None
    await broker.submit(order(Side.BUY, 1, price="187.5"))
    quote = await broker.quote(Market.US, "NASDAQ", "AAPL")
    assert quote is not None and quote.price == Decimal("187.5")


async def test_an_order_of_no_quantity_or_a_limit_without_a_price_is_refused(broker) -> None:
    none = await broker.submit(order(Side.BUY, 0))
    assert (none.status, none.reason) == (OrderStatus.REJECTED, ReasonCode.BAD_QUANTITY)
    unpriced = await broker.submit(order(Side.BUY, 1, order_type=OrderType.LIMIT))
    assert (unpriced.status, unpriced.reason) == (OrderStatus.REJECTED, ReasonCode.BAD_PRICE)
    assert (await broker.cash("acct"))["USD"] == CASH["USD"]


# ---- current prices and slippage -------------------------------------------------------------

# Tuesday 2026-12-01, 10:00 in Seoul (KRX open 09:00-15:30) and 01:00 UTC.
SEOUL_10 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def samsung(side: Side, qty: int, **kw: Any) -> Order:
    return order(side, qty, ticker="005930", market=Market.KR, **kw)


async def test_a_market_order_fills_at_the_current_mark_not_at_an_older_alert_price(
    tmp_path: Path,
) -> None:
    clock, prices = FixedClock(SEOUL_10), FakePrices()
    b = venue(tmp_path / "p.sqlite3", clock, prices=prices, commission_rate=Decimal(0))
    await b.connect()
    prices.set(Market.KR, "005930", "71000", SEOUL_10 - timedelta(seconds=1))
    stale = await b.submit(samsung(Side.BUY, 1, price="70000", at=SEOUL_10 - timedelta(minutes=1)))
    assert stale.avg_fill_price == Decimal(71000)
    assert prices.asked[-1] == (Market.KR, "KRX", "005930")
    # A reference price newer than the mark is the current price.
    fresh = await b.submit(samsung(Side.BUY, 1, price="70500", at=SEOUL_10))
    assert fresh.avg_fill_price == Decimal(70500)
    # With no reference price, the newest price the venue knows.
    prices.set(Market.KR, "005930", "70800", SEOUL_10 + timedelta(seconds=1))
    clock.advance(seconds=2)
    marked = await b.submit(samsung(Side.BUY, 1, price=None))
    assert marked.avg_fill_price == Decimal(70800)
    await b.close()


async def test_a_mark_from_a_fill_is_not_taken_as_the_current_price(tmp_path: Path) -> None:
    prices = FakePrices()
    b = venue(tmp_path / "p.sqlite3", FixedClock(SEOUL_10), prices=prices)
    await b.connect()
    prices.set(Market.KR, "005930", "75000", SEOUL_10, PriceSource.FILL)
    first = await b.submit(samsung(Side.BUY, 1, price="70000", at=SEOUL_10 - timedelta(minutes=5)))
    assert first.avg_fill_price == Decimal(70000)
    await b.close()


async def test_slippage_moves_fills_against_the_trader_onto_the_tick_grid(tmp_path: Path) -> None:
    prices = FakePrices()
    b = venue(tmp_path / "p.sqlite3", FixedClock(SEOUL_10), prices=prices, slippage_bps=Decimal(10))
    await b.connect()
    prices.set(Market.KR, "005930", "70000", SEOUL_10)
    # 70,000 + 10 bp = 70,070, up to the 100-won tick: 70,100; commission 210.3 cut to 210.
    buy = await b.submit(samsung(Side.BUY, 3, price=None))
    assert (buy.status, buy.avg_fill_price) == (OrderStatus.FILLED, Decimal(70100))
    assert buy.fills[0].commission == Decimal(210)
    assert (await b.cash("acct"))["KRW"] == CASH["KRW"] - 210_300 - 210
    # 71,000 - 10 bp = 70,929, down to the tick: 70,900.
    prices.set(Market.KR, "005930", "71000", SEOUL_10)
    sell = await b.submit(samsung(Side.SELL, 3, price=None))
    assert sell.avg_fill_price == Decimal(70900)
    # US: $190.00 + 10 bp = $190.19 exactly (on the cent grid).
    prices.set(Market.US, "AAPL", "190.00", SEOUL_10)
    us = await b.submit(order(Side.BUY, 2, price=None))
    assert us.avg_fill_price == Decimal("190.19")
    await b.close()


async def test_a_market_buy_reserves_and_is_checked_at_its_slipped_price(tmp_path: Path) -> None:
    b = venue(
        tmp_path / "p.sqlite3",
        FixedClock(NOW),
        slippage_bps=Decimal(100),
        commission_rate=Decimal(0),
    )
    await b.connect()
    # 100 shares at $100 is all the cash; at the slipped $101 it is more than the cash.
    refused = await b.submit(order(Side.BUY, 100, price="100"))
    assert (refused.status, refused.reason) == (OrderStatus.REJECTED, ReasonCode.INSUFFICIENT_CASH)
    await b.close()


# ---- working orders: the timer, partial fills, the change listener ---------------------------


async def test_a_resting_limit_fills_on_the_timer_when_the_mark_reaches_it(tmp_path: Path) -> None:
    clock, prices = FixedClock(SEOUL_10), FakePrices()
    b = venue(tmp_path / "p.sqlite3", clock, prices=prices, slippage_bps=Decimal(10))
    await b.connect()
    changed: list[str] = []
    b.on_change(changed.append)
    prices.set(Market.KR, "005930", "70000", SEOUL_10)
    limit = samsung(Side.BUY, 5, price=None, order_type=OrderType.LIMIT, limit="69000")
    assert (await b.submit(limit)).status is OrderStatus.ACCEPTED
    assert await b.check() == []  # the mark is above the limit
    # 68,950 + 10 bp rounds up to 69,100: beyond the limit, so the fill is at the limit.
    prices.set(Market.KR, "005930", "68950", SEOUL_10 + timedelta(seconds=1))
    assert await b.check() == [limit.client_order_id]
    filled = await b.get_order(limit)
    assert (filled.status, filled.avg_fill_price) == (OrderStatus.FILLED, Decimal(69000))
    assert changed == [limit.client_order_id]
    held = 5 * 69000 + 345  # commission 345 won
    assert (await b.cash("acct"))["KRW"] == CASH["KRW"] - held
    await b.close()


async def test_a_crossed_limit_fills_in_slices_when_partial_fills_are_on(tmp_path: Path) -> None:
    clock, prices = FixedClock(NOW), FakePrices()
    b = venue(tmp_path / "p.sqlite3", clock, prices=prices, partial_fill_ratio=Decimal("0.4"))
    await b.connect()
    prices.set(Market.US, "AAPL", "101", NOW)
    limit = order(Side.BUY, 5, price=None, order_type=OrderType.LIMIT, limit="100")
    assert (await b.submit(limit)).status is OrderStatus.ACCEPTED
    assert (await b.cash("acct"))["USD"] == CASH["USD"] - Decimal("500.50")  # 500 + commission
    prices.set(Market.US, "AAPL", "99", NOW)
    await b.check()
    first = await b.get_order(limit)
    assert (first.status, first.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, Decimal(2))
    # Spent 198 + 0.20 commission; the 3 still working hold 300 + 0.30.
    assert (await b.cash("acct"))["USD"] == CASH["USD"] - Decimal("198.20") - Decimal("300.30")
    await b.check()
    await b.check()
    done = await b.get_order(limit)
    assert (done.status, done.filled_quantity) == (OrderStatus.FILLED, Decimal(5))
    assert [f.quantity for f in done.fills] == [Decimal(2), Decimal(2), Decimal(1)]
    assert len({f.fill_id for f in done.fills}) == 3
    assert (await b.cash("acct"))["USD"] == CASH["USD"] - Decimal(495) - Decimal("0.50")
    [held] = await b.holdings("acct")
    assert held.quantity == Decimal(5)
    await b.close()


async def test_a_market_order_fills_whole_even_with_partial_fills_on(tmp_path: Path) -> None:
    b = venue(tmp_path / "p.sqlite3", FixedClock(NOW), partial_fill_ratio=Decimal("0.1"))
    await b.connect()
    result = await b.submit(order(Side.BUY, 10, price="100"))
    assert (result.status, result.filled_quantity) == (OrderStatus.FILLED, Decimal(10))
    await b.close()


async def test_the_listener_hears_of_orders_the_venue_moves_not_of_the_one_asked_about(
    broker,
) -> None:
    changed: list[str] = []
    broker.on_change(changed.append)
    await broker.submit(order(Side.BUY, 1, price="100"))  # filled in its own answer
    resting = order(Side.BUY, 2, price="100", order_type=OrderType.LIMIT, limit="95")
    await broker.submit(resting)
    assert changed == []
    # A later order's price fills the resting one: that one is reported, the new one is not.
    trigger = order(Side.BUY, 1, price="94")
    await broker.submit(trigger)
    assert changed == [resting.client_order_id]
    await broker.observe_price(Market.US, "AAPL", Decimal(93))  # nothing left working
    assert changed == [resting.client_order_id]


async def test_run_checks_on_its_own_and_wakes_the_listener(tmp_path: Path) -> None:
    prices = FakePrices()
    b = venue(tmp_path / "p.sqlite3", FixedClock(NOW), prices=prices, check_interval_s=0.01)
    await b.connect()
    woken = asyncio.Event()
    heard: list[str] = []
    b.on_change(lambda cid: (heard.append(cid), woken.set()))
    limit = order(Side.SELL, 1, price=None, order_type=OrderType.LIMIT, limit="120")
    await b.submit(order(Side.BUY, 1, price="100"))
    assert (await b.submit(limit)).status is OrderStatus.ACCEPTED
    stop = asyncio.Event()
    timer = asyncio.create_task(b.run(stop))
    prices.set(Market.US, "AAPL", "121", NOW)
    await asyncio.wait_for(woken.wait(), timeout=10)
    stop.set()
    await timer
    assert heard == [limit.client_order_id]
    assert (await b.get_order(limit)).status is OrderStatus.FILLED
    await b.close()


async def test_resting_orders_survive_a_restart_and_fill_afterwards(tmp_path: Path) -> None:
    path, clock, prices = tmp_path / "p.sqlite3", FixedClock(NOW), FakePrices()
    first = venue(path, clock, prices=prices)
    await first.connect()
    prices.set(Market.US, "AAPL", "100", NOW)
    limit = order(Side.BUY, 3, price=None, order_type=OrderType.LIMIT, limit="90")
    await first.submit(limit)
    await first.close()
    again = venue(path, clock, prices=prices)
    await again.connect()
    assert (await again.get_order(limit)).status is OrderStatus.ACCEPTED
    assert (await again.cash("acct"))["USD"] == CASH["USD"] - Decimal("270.27")
    prices.set(Market.US, "AAPL", "89.50", NOW)
    assert await again.check() == [limit.client_order_id]
    assert (await again.get_order(limit)).avg_fill_price == Decimal("89.50")
    await again.close()


# ---- expiry ------------------------------------------------------------------------------------

SEOUL_CLOSE = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)  # 15:30 KST
SEOUL_MIDNIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 2026-12-02 00:00 KST


async def test_a_day_order_expires_at_the_close_and_releases_its_cash(tmp_path: Path) -> None:
    clock = FixedClock(SEOUL_10)
    b = venue(tmp_path / "p.sqlite3", clock, sessions={"acct": "exchange"})
    await b.connect()
    changed: list[str] = []
    b.on_change(changed.append)
    limit = samsung(Side.BUY, 10, price="70000", order_type=OrderType.LIMIT, limit="69000")
    assert (await b.submit(limit)).status is OrderStatus.ACCEPTED
    assert (await b.cash("acct"))["KRW"] == CASH["KRW"] - 690_000 - 690
    clock.set(SEOUL_CLOSE - timedelta(seconds=1))
    assert (await b.get_order(limit)).status is OrderStatus.ACCEPTED
    clock.set(SEOUL_CLOSE)
    # Any call sees it: cash is whole again, and the order is expired with nothing filled.
    assert (await b.cash("acct"))["KRW"] == CASH["KRW"]
    expired = await b.get_order(limit)
    assert (expired.status, expired.filled_quantity) == (OrderStatus.EXPIRED, Decimal(0))
    assert changed == [limit.client_order_id]
    # A price that reaches the limit afterwards fills nothing.
    assert await b.observe_price(Market.KR, "005930", Decimal(68000)) == []
    await b.close()


async def test_a_partly_filled_sell_expires_and_releases_the_shares_left(tmp_path: Path) -> None:
    clock = FixedClock(SEOUL_10)
    b = venue(
        tmp_path / "p.sqlite3",
        clock,
        sessions={"acct": "exchange"},
        partial_fill_ratio=Decimal("0.5"),
    )
    await b.connect()
    await b.submit(samsung(Side.BUY, 4, price="70000", at=SEOUL_10))
    sell = samsung(Side.SELL, 4, price=None, order_type=OrderType.LIMIT, limit="71000")
    await b.submit(sell)
    await b.observe_price(Market.KR, "005930", Decimal(71000))
    half = await b.get_order(sell)
    assert (half.status, half.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, Decimal(2))
    refused = await b.submit(samsung(Side.SELL, 1, price=None))
    assert refused.reason == ReasonCode.INSUFFICIENT_POSITION  # the other 2 are held for it
    clock.set(SEOUL_CLOSE)
    assert (await b.check()) == [sell.client_order_id]
    ended = await b.get_order(sell)
    assert (ended.status, ended.filled_quantity) == (OrderStatus.EXPIRED, Decimal(2))
    clock.set(SEOUL_CLOSE + timedelta(minutes=1))
    again = await b.submit(samsung(Side.SELL, 2, price=None))
    assert (again.status, again.filled_quantity) == (OrderStatus.FILLED, Decimal(2))
    await b.close()


async def test_an_account_trading_at_any_hour_keeps_day_orders_to_the_local_midnight(
    tmp_path: Path,
) -> None:
    clock = FixedClock(SEOUL_10)
    b = venue(tmp_path / "p.sqlite3", clock)  # "always": the paper default
    await b.connect()
    limit = samsung(Side.BUY, 1, price="70000", order_type=OrderType.LIMIT, limit="60000")
    await b.submit(limit)
    clock.set(SEOUL_CLOSE)
    assert (await b.get_order(limit)).status is OrderStatus.ACCEPTED
    clock.set(SEOUL_MIDNIGHT - timedelta(microseconds=1))
    assert (await b.get_order(limit)).status is OrderStatus.ACCEPTED
    clock.set(SEOUL_MIDNIGHT)
    assert (await b.get_order(limit)).status is OrderStatus.EXPIRED
    assert (await b.cash("acct"))["KRW"] == CASH["KRW"]
    await b.close()


async def test_an_order_placed_after_the_close_works_until_the_next_close(tmp_path: Path) -> None:
    clock = FixedClock(SEOUL_CLOSE + timedelta(minutes=30))  # Tuesday 16:00 KST
    b = venue(tmp_path / "p.sqlite3", clock, sessions={"acct": "exchange"})
    await b.connect()
    limit = samsung(Side.BUY, 1, price="70000", order_type=OrderType.LIMIT, limit="60000")
    await b.submit(limit)
    clock.set(SEOUL_CLOSE + timedelta(days=1) - timedelta(seconds=1))
    assert (await b.get_order(limit)).status is OrderStatus.ACCEPTED
    clock.set(SEOUL_CLOSE + timedelta(days=1))
    assert (await b.get_order(limit)).status is OrderStatus.EXPIRED
    await b.close()


async def test_a_us_day_order_expires_at_the_new_york_close(tmp_path: Path) -> None:
    new_york_10 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # EST: 16:00 is 21:00 UTC
    clock = FixedClock(new_york_10)
    b = venue(tmp_path / "p.sqlite3", clock, sessions={"acct": "exchange"})
    await b.connect()
    limit = order(Side.BUY, 2, price="100", order_type=OrderType.LIMIT, limit="90", at=new_york_10)
    await b.submit(limit)
    clock.set(datetime(2026, 12, 1, 20, 59, tzinfo=UTC))
    assert (await b.get_order(limit)).status is OrderStatus.ACCEPTED
    clock.set(datetime(2026, 12, 1, 21, 0, tzinfo=UTC))
    assert await b.check() == [limit.client_order_id]
    assert (await b.cash("acct"))["USD"] == CASH["USD"]
    await b.close()


_LEDGER_BEFORE_EXPIRY = """
CREATE TABLE cash (account TEXT NOT NULL, currency TEXT NOT NULL, balance TEXT NOT NULL,
    reserved TEXT NOT NULL DEFAULT '0', PRIMARY KEY (account, currency));
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY, broker_order_id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL, ticker TEXT NOT NULL, market TEXT NOT NULL, side TEXT NOT NULL,
    order_type TEXT NOT NULL, quantity TEXT NOT NULL, limit_price TEXT,
    status TEXT NOT NULL, filled_quantity TEXT NOT NULL DEFAULT '0', avg_fill_price TEXT,
    reserved TEXT NOT NULL DEFAULT '0', reason TEXT, created_at TEXT NOT NULL);
INSERT INTO cash VALUES ('acct', 'KRW', '10000000', '600600');
INSERT INTO orders (client_order_id, broker_order_id, account, ticker, market, side, order_type,
    quantity, limit_price, status, reserved, created_at)
    VALUES ('old', 'P0000000001', 'acct', '005930', 'KR', 'buy', 'limit', '10', '60000',
    'accepted', '600600', '2026-12-01T01:00:00+00:00');
"""


async def test_a_ledger_from_before_expiry_gets_its_working_orders_expired(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_LEDGER_BEFORE_EXPIRY)
    b = venue(path, FixedClock(SEOUL_MIDNIGHT + timedelta(hours=1)))
    await b.connect()
    old = order(Side.BUY, 10, cid="old", ticker="005930", market=Market.KR)
    assert (await b.get_order(old)).status is OrderStatus.EXPIRED
    assert (await b.cash("acct"))["KRW"] == CASH["KRW"]
    # The file takes new orders with the columns it lacked.
    new = samsung(Side.BUY, 1, price="70000", order_type=OrderType.LIMIT, limit="60000")
    assert (await b.submit(new)).status is OrderStatus.ACCEPTED
    await b.close()


async def test_a_quote_port_that_fails_or_does_not_answer_leaves_the_orders_own_price(
    tmp_path: Path,
) -> None:
    from yquant.errors import DatabaseUnavailableError

    prices = FakePrices()
    b = venue(tmp_path / "p.sqlite3", FixedClock(NOW), prices=prices)
    await b.connect()
    prices.error = DatabaseUnavailableError("database away")
    failed = await b.submit(order(Side.BUY, 1, price="101"))
    assert (failed.status, failed.avg_fill_price) == (OrderStatus.FILLED, Decimal(101))
    prices.error, prices.hang = None, True
    # The guard only keeps a broken venue from hanging the test; the venue gives up far sooner.
    silent = await asyncio.wait_for(b.submit(order(Side.BUY, 1, price="102")), timeout=30)
    assert (silent.status, silent.avg_fill_price) == (OrderStatus.FILLED, Decimal(102))
    await b.close()


async def test_an_order_sent_once_the_ledger_queued_the_one_before_cannot_overtake_it(
    broker,
) -> None:
    """`queued` is called while the buy's answer is still to come: a sell of the same shares
    submitted from there on runs after the buy (it finds them; before it, it would be
    refused for want of a position)."""
    events: list[str] = []
    sell: asyncio.Task[Any] | None = None

    def queued() -> None:
        nonlocal sell
        events.append("queued")
        sell = asyncio.ensure_future(broker.submit(order(Side.SELL, 5, cid="sell")))

    bought = await broker.submit(order(Side.BUY, 5, cid="buy"), queued=queued)
    events.append("answered")
    assert events == ["queued", "answered"]
    assert sell is not None
    sold = await sell
    assert bought.status is OrderStatus.FILLED
    assert sold.status is OrderStatus.FILLED, sold.reason
    assert await broker.holdings("acct") == []


async def test_a_sell_with_no_position_is_refused(broker) -> None:
    """The other order of the test above: what overtaking would have given."""
    refused = await broker.submit(order(Side.SELL, 5))
    assert refused.status is OrderStatus.REJECTED
