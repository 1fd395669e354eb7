"""The paper broker: a real ledger behind the Broker port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from yquant.adapters.brokers.paper import PaperBroker
from yquant.domain.model import Market, Order, OrderStatus, OrderType, Side
from yquant.domain.reasons import ReasonCode

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
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[PaperBroker]:
    b = PaperBroker(
        tmp_path / "paper.sqlite3",
        commission_rate=Decimal("0.001"),
        initial_cash={"USD": Decimal(10000), "KRW": Decimal(10_000_000)},
    )
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
    kw = {"commission_rate": Decimal(0), "initial_cash": {"USD": Decimal(1000)}}
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
