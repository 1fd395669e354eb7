"""The engine's view of each account: read from the broker when older than its bound, moved by
the orders decided since, and one account's broker failure refused on that account alone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.fakes import SAMSUNG, FakeBroker
from yquant.domain.book import Holding
from yquant.domain.model import Market, Order, OrderType, Side
from yquant.domain.positions import WorkingOrder
from yquant.domain.reasons import ReasonCode
from yquant.errors import BrokerUnavailableError, ConfigurationError, SignalRejectedError
from yquant.services.accounts import AccountViews
from yquant.services.decisions import RecentOrders

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


class CountingBroker(FakeBroker):
    """The fake broker, counting reads and failing them on demand."""

    def __init__(self) -> None:
        super().__init__({"KRW": Decimal(1_000_000)})
        self.reads = 0
        self.failure: Exception | None = None

    async def cash(self, account: str) -> dict[str, Decimal]:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        return await super().cash(account)


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def order(side: Side, quantity: int, price: int, n: int) -> Order:
    return Order(
        client_order_id=f"yqview{n:04d}",
        signal_key=None,
        account="a",
        strategy="s",
        ticker=SAMSUNG.ticker,
        exchange=SAMSUNG.exchange,
        market=Market.KR,
        side=side,
        order_type=OrderType.MARKET,
        quantity=Decimal(quantity),
        created_at=T0,
        updated_at=T0,
        reference_price=Decimal(price),
    )


def views(broker: CountingBroker, recent: RecentOrders, ticks: Ticks) -> AccountViews:
    return AccountViews(broker, recent, view_s=30, timeout_s=5, retry_s=10, monotonic=ticks)


async def test_decisions_within_the_bound_read_the_broker_once_and_see_their_own_orders() -> None:
    broker, recent, ticks = CountingBroker(), RecentOrders(), Ticks()
    broker.holdings_by_account["a"] = [
        Holding("a", SAMSUNG.ticker, Market.KR, Decimal(10), Decimal(60_000))
    ]
    v = views(broker, recent, ticks)
    first = await v.figures("a", SAMSUNG, Decimal(70_000))
    assert (first.cash, first.held, first.equity) == (
        Decimal(1_000_000),
        Decimal(10),
        Decimal(1_700_000),
    )
    recent.add(order(Side.BUY, 5, 70_000, 1))
    recent.add(order(Side.SELL, 3, 70_000, 2))
    ticks.now += 29
    after = await v.figures("a", SAMSUNG, Decimal(70_000))
    assert broker.reads == 1
    assert (after.cash, after.held) == (Decimal(650_000), Decimal(12))
    ticks.now += 1  # the view is now 30 s old: read again, and only the broker's word counts
    again = await v.figures("a", SAMSUNG, Decimal(70_000))
    assert broker.reads == 2
    assert (again.cash, again.held) == (Decimal(1_000_000), Decimal(10))


async def test_a_broker_that_fails_refuses_its_account_for_the_retry_time_without_asking() -> None:
    broker, recent, ticks = CountingBroker(), RecentOrders(), Ticks()
    v = views(broker, recent, ticks)
    broker.failure = BrokerUnavailableError("KIS could not be reached")
    with pytest.raises(SignalRejectedError) as refused:
        await v.figures("a", SAMSUNG, Decimal(70_000))
    assert refused.value.reason is ReasonCode.ACCOUNT_UNAVAILABLE
    assert "KIS could not be reached" in refused.value.detail
    ticks.now += 9
    with pytest.raises(SignalRejectedError):
        await v.figures("a", SAMSUNG, Decimal(70_000))
    assert broker.reads == 1  # refused from memory
    ticks.now += 1
    broker.failure = None
    assert (await v.figures("a", SAMSUNG, Decimal(70_000))).cash == Decimal(1_000_000)
    assert broker.reads == 2


async def test_a_configuration_error_is_refused_with_the_brokers_words() -> None:
    broker, recent, ticks = CountingBroker(), RecentOrders(), Ticks()
    v = views(broker, recent, ticks)
    broker.failure = ConfigurationError(
        "KIS token HTTP 403 EGW00105: 유효하지 않은 AppSecret입니다."
    )
    with pytest.raises(SignalRejectedError) as refused:
        await v.figures("a", SAMSUNG, Decimal(70_000))
    assert refused.value.reason is ReasonCode.BROKER_CONFIG_ERROR
    assert "EGW00105" in refused.value.detail


async def test_orders_forgotten_since_the_read_make_the_view_read_again() -> None:
    broker, recent, ticks = CountingBroker(), RecentOrders(size=2), Ticks()
    v = views(broker, recent, ticks)
    await v.figures("a", SAMSUNG, Decimal(70_000))
    for n in range(3):
        recent.add(order(Side.BUY, 1, 70_000, n))
    figures = await v.figures("a", SAMSUNG, Decimal(70_000))
    assert broker.reads == 2
    assert figures.cash == Decimal(1_000_000)


async def test_a_working_sell_keeps_its_unfilled_shares_for_the_decision_to_set_apart() -> None:
    broker, recent, ticks = CountingBroker(), RecentOrders(), Ticks()
    broker.holdings_by_account["a"] = [
        Holding("a", SAMSUNG.ticker, Market.KR, Decimal(30), Decimal(60_000))
    ]
    v = views(broker, recent, ticks)
    await v.figures("a", SAMSUNG, Decimal(70_000))
    sell = order(Side.SELL, 25, 70_000, 1)
    recent.add(sell)
    # 10 of the 25 filled: the broker holds 20, 15 of them offered by the working sell.
    working = [WorkingOrder(sell.client_order_id, "s", Side.SELL, Decimal(15), T0)]
    assert (await v.figures("a", SAMSUNG, Decimal(70_000), working)).held == Decimal(20)
    # No longer working: all 25 sold.
    assert (await v.figures("a", SAMSUNG, Decimal(70_000), [])).held == Decimal(5)
    assert broker.reads == 1
