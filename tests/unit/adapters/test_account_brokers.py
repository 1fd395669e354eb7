"""`AccountBrokers` passes the optional capabilities of the `Broker` port on to its brokers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.fakes import FakeBroker
from yquant.adapters.brokers.routing import AccountBrokers
from yquant.domain.model import Market
from yquant.errors import OrderRejectedError
from yquant.ports import Quote


class QuotingBroker(FakeBroker):
    """A fake broker with a price, a stored token and a change listener of its own."""

    def __init__(self, price: Decimal | None, expires_at: datetime | None) -> None:
        super().__init__()
        self.price, self.expires_at = price, expires_at
        self.listeners: list[Callable[[str], None]] = []

    def on_change(self, listener: Callable[[str], None]) -> None:
        self.listeners.append(listener)

    async def quote(self, market: Market, exchange: str, ticker: str) -> Quote | None:
        return None if self.price is None else Quote(self.price)

    async def token_expires_at(self) -> datetime | None:
        return self.expires_at


SOON, LATER = datetime(2026, 12, 5, 1, tzinfo=UTC), datetime(2026, 12, 5, 9, tzinfo=UTC)


def brokers() -> tuple[AccountBrokers, QuotingBroker, QuotingBroker]:
    paper, kis = QuotingBroker(None, None), QuotingBroker(Decimal(70000), LATER)
    return AccountBrokers({"a": paper, "b": paper, "c": kis}), paper, kis


def test_each_account_is_served_by_its_own_broker_and_an_unknown_one_is_refused() -> None:
    routed, paper, kis = brokers()
    assert routed.for_account("b") is paper and routed.for_account("c") is kis
    with pytest.raises(OrderRejectedError):
        routed.for_account("nobody")


def test_a_change_listener_reaches_every_distinct_broker_once() -> None:
    routed, paper, kis = brokers()
    routed.on_change(print)
    assert (paper.listeners, kis.listeners) == ([print], [print])


async def test_a_quote_comes_from_the_first_broker_that_has_one() -> None:
    routed, _, _ = brokers()
    quote = await routed.quote(Market.KR, "KRX", "005930")
    assert quote is not None and quote.price == Decimal(70000)


async def test_the_token_expiry_is_the_earliest_any_broker_holds() -> None:
    routed, _, kis = brokers()
    assert await routed.token_expires_at() == LATER
    other = QuotingBroker(None, SOON)
    both = AccountBrokers({"c": kis, "d": other})
    assert await both.token_expires_at() == SOON
    assert await AccountBrokers({"a": QuotingBroker(None, None)}).token_expires_at() is None


async def test_run_runs_the_venues_loops_until_stopped() -> None:
    import asyncio

    ran: list[str] = []

    async def loop(stop: asyncio.Event) -> None:
        ran.append("started")
        await stop.wait()
        ran.append("stopped")

    stop = asyncio.Event()
    with_loop = asyncio.create_task(AccountBrokers({}, loops=[loop]).run(stop))
    without = asyncio.create_task(AccountBrokers({}).run(stop))
    await asyncio.sleep(0)
    assert not with_loop.done() and not without.done()
    stop.set()
    await asyncio.gather(with_loop, without)
    assert ran == ["started", "stopped"]
