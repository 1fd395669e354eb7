"""One contract, two brokers: every scenario runs against the paper broker and against the KIS
adapter talking to the KIS simulator over HTTP. What the rest of yQuant relies on from the
`Broker` port is exactly what is asserted here."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import valkey.asyncio as valkey

from tests.fakes import FixedClock
from tests.fixtures.kis_kit import kis_settings, order, start_sim
from tests.support import eventually
from yquant.adapters.brokers.kis.factory import build_kis_broker
from yquant.adapters.brokers.paper import PaperBroker
from yquant.adapters.db.broker_tokens import SqlTokenRecords
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market, Order, OrderStatus, OrderType, Side
from yquant.ports import Broker, BrokerOrder

CASH = {"KRW": Decimal(100_000_000), "USD": Decimal(100_000)}


@dataclass
class Venue:
    name: str
    broker: Broker
    set_price: Callable[[Market, str, str], Awaitable[None]]
    # The next slice of every order filling in parts (`partial_venue`): the paper venue's
    # timer pass, the simulator's step.
    step: Callable[[], Awaitable[object]]

    async def settled(self, o: Order) -> BrokerOrder:
        """The broker's view once the order is no longer merely acknowledged."""

        async def look() -> BrokerOrder | None:
            state = await self.broker.get_order(o)
            return state if state and state.status is not OrderStatus.ACCEPTED else None

        return await eventually(look, timeout_s=5)


@contextlib.asynccontextmanager
async def open_venue(
    name: str, tmp_path: Path, sqlite_url: str, valkey_url: str, *, in_parts: bool = False
) -> AsyncIterator[Venue]:
    """The venue ``name``; ``in_parts``: a limit the price reaches fills half at a time."""
    if name == "paper":
        # A clock that stands still: a day order placed just before midnight does not expire
        # while a test looks at it.
        paper = PaperBroker(
            tmp_path / "paper.sqlite3",
            commission_rate=Decimal(0),
            initial_cash=CASH,
            clock=FixedClock(datetime.now(UTC)),
            partial_fill_ratio=Decimal("0.5") if in_parts else Decimal(1),
        )
        await paper.connect()

        async def paper_price(market: Market, ticker: str, price: str) -> None:
            # Seen now on the wall clock, as the orders' reference prices are.
            await paper.observe_price(market, ticker, Decimal(price), at=datetime.now(UTC))

        try:
            yield Venue("paper", paper, paper_price, paper.check)
        finally:
            await paper.close()
        return
    sim = start_sim(rate_limit_per_s=100)
    if in_parts:
        sim.control("fills", steps=2)
    store = SqlStore(sqlite_url)
    client = valkey.from_url(valkey_url, decode_responses=True)
    kis = build_kis_broker(
        "main",
        kis_settings(sim.url, rate_limit_per_s=50),
        records=SqlTokenRecords(store),
        valkey=client,
    )

    async def sim_price(market: Market, ticker: str, price: str) -> None:
        sim.control("price", market=market.value, ticker=ticker, price=price)

    async def sim_step() -> object:
        return sim.control("step")

    try:
        yield Venue("kis", kis, sim_price, sim_step)
    finally:
        await kis.close()
        await client.aclose()
        await store.close()
        sim.stop()


@pytest.fixture(params=["paper", "kis"])
async def venue(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str, valkey_url: str
) -> AsyncIterator[Venue]:
    async with open_venue(request.param, tmp_path, sqlite_url, valkey_url) as v:
        yield v


@pytest.fixture(params=["paper", "kis"])
async def partial_venue(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str, valkey_url: str
) -> AsyncIterator[Venue]:
    """A venue where a limit the price reaches fills half at a time (the paper venue's
    ``partial_fill_ratio``, the simulator's fill steps)."""
    async with open_venue(request.param, tmp_path, sqlite_url, valkey_url, in_parts=True) as v:
        yield v


def priced(o: Order, price: str) -> Order:
    return o.evolve(reference_price=Decimal(price))  # the paper broker fills market orders here


async def held(venue: Venue) -> dict[str, Decimal]:
    return {h.ticker: h.quantity for h in await venue.broker.holdings("main")}


async def test_market_buy_fills_at_the_market_price_and_books_cash_and_shares(venue: Venue) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    buy = priced(order(Side.BUY, 3), "70000")
    assert (await venue.broker.submit(buy)).status in (OrderStatus.ACCEPTED, OrderStatus.FILLED)
    state = await venue.settled(buy)
    assert (state.status, state.filled_quantity) == (OrderStatus.FILLED, Decimal(3))
    assert state.avg_fill_price == Decimal(70000)
    assert sum(f.quantity for f in state.fills) == Decimal(3)
    assert await held(venue) == {"005930": Decimal(3)}
    assert (await venue.broker.cash("main"))["KRW"] == CASH["KRW"] - 210_000


async def test_us_market_buy_fills_at_the_market_price(venue: Venue) -> None:
    await venue.set_price(Market.US, "AAPL", "190.25")
    buy = priced(order(Side.BUY, 2, ticker="AAPL", market=Market.US), "190.25")
    await venue.broker.submit(buy)
    state = await venue.settled(buy)
    assert (state.status, state.avg_fill_price) == (OrderStatus.FILLED, Decimal("190.25"))
    assert (await venue.broker.cash("main"))["USD"] == CASH["USD"] - Decimal("380.50")


async def test_limit_buy_rests_until_the_price_reaches_it(venue: Venue) -> None:
    await venue.set_price(Market.KR, "000660", "150000")
    buy = order(Side.BUY, 2, ticker="000660", order_type=OrderType.LIMIT, limit="149000")
    placed = await venue.broker.submit(buy)
    assert placed.status is OrderStatus.ACCEPTED
    resting = await venue.broker.get_order(buy)
    assert resting is not None and resting.status is OrderStatus.ACCEPTED
    assert resting.filled_quantity == 0
    await venue.set_price(Market.KR, "000660", "148500")
    state = await venue.settled(buy)
    assert (state.status, state.avg_fill_price) == (OrderStatus.FILLED, Decimal(148500))


async def test_a_resting_order_can_be_cancelled_and_frees_nothing_it_did_not_spend(
    venue: Venue,
) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    buy = order(Side.BUY, 2, order_type=OrderType.LIMIT, limit="60000")
    await venue.broker.submit(buy)
    cancelled = await venue.broker.cancel(buy)
    assert (cancelled.status, cancelled.filled_quantity) == (OrderStatus.CANCELLED, Decimal(0))
    assert (await venue.broker.cash("main"))["KRW"] == CASH["KRW"]
    await venue.set_price(Market.KR, "005930", "59000")
    after = await venue.broker.get_order(buy)
    assert after is not None and after.status is OrderStatus.CANCELLED


async def test_a_cancel_of_an_order_that_has_ended_returns_it_as_it_ended(venue: Venue) -> None:
    """The fill won the race: the cancel finds the order filled, says so, changes nothing."""
    await venue.set_price(Market.KR, "005930", "70000")
    buy = order(Side.BUY, 2, order_type=OrderType.LIMIT, limit="69000")
    await venue.broker.submit(buy)
    await venue.set_price(Market.KR, "005930", "68900")
    await venue.settled(buy)
    late = await venue.broker.cancel(buy)
    assert (late.status, late.filled_quantity) == (OrderStatus.FILLED, Decimal(2))
    assert await held(venue) == {"005930": Decimal(2)}


async def test_a_second_cancel_is_harmless(venue: Venue) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    buy = order(Side.BUY, 2, order_type=OrderType.LIMIT, limit="60000")
    await venue.broker.submit(buy)
    await venue.broker.cancel(buy)
    again = await venue.broker.cancel(buy)
    assert (again.status, again.filled_quantity) == (OrderStatus.CANCELLED, Decimal(0))
    assert (await venue.broker.cash("main"))["KRW"] == CASH["KRW"]


async def test_selling_more_than_held_is_refused(venue: Venue) -> None:
    await venue.set_price(Market.KR, "035420", "200000")
    sell = priced(order(Side.SELL, 1, ticker="035420"), "200000")
    refused = await venue.broker.submit(sell)
    assert (refused.status, refused.reason) == (OrderStatus.REJECTED, "insufficient_position")


async def test_buying_beyond_cash_is_refused(venue: Venue) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    buy = priced(order(Side.BUY, 5_000), "70000")  # 350,000,000 KRW
    refused = await venue.broker.submit(buy)
    assert (refused.status, refused.reason) == (OrderStatus.REJECTED, "insufficient_cash")
    assert await held(venue) == {}


async def test_selling_the_whole_position_removes_it_from_holdings(venue: Venue) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    buy = priced(order(Side.BUY, 5), "70000")
    await venue.broker.submit(buy)
    await venue.settled(buy)
    await venue.set_price(Market.KR, "005930", "71000")
    sell = priced(order(Side.SELL, 5), "71000")
    await venue.broker.submit(sell)
    state = await venue.settled(sell)
    assert (state.status, state.avg_fill_price) == (OrderStatus.FILLED, Decimal(71000))
    assert await held(venue) == {}
    assert (await venue.broker.cash("main"))["KRW"] == CASH["KRW"] + 5 * 1000


async def test_fills_keep_their_ids_however_often_asked(venue: Venue) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    buy = priced(order(Side.BUY, 4), "70000")
    await venue.broker.submit(buy)
    first = await venue.settled(buy)
    second = await venue.settled(buy)
    assert [f.fill_id for f in first.fills] == [f.fill_id for f in second.fills]
    assert all(f.client_order_id == buy.client_order_id for f in first.fills)


async def test_an_order_never_sent_is_unknown_to_the_broker(venue: Venue) -> None:
    never = order(Side.BUY, 1, age_s=600)
    assert await venue.broker.get_order(never) is None


async def test_modify_moves_a_resting_limit_to_a_new_price(venue: Venue) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    buy = order(Side.BUY, 2, order_type=OrderType.LIMIT, limit="60000")
    await venue.broker.submit(buy)
    known = await venue.broker.get_order(buy)
    assert known is not None
    moved = await venue.broker.modify(buy.apply(known), price=Decimal(70000))
    state = moved if moved.status is OrderStatus.FILLED else await venue.settled(buy.apply(moved))
    assert (state.status, state.filled_quantity) == (OrderStatus.FILLED, Decimal(2))
    assert state.avg_fill_price == Decimal(70000)
    assert await held(venue) == {"005930": Decimal(2)}
    assert (await venue.broker.cash("main"))["KRW"] == CASH["KRW"] - 140_000


async def test_modify_takes_quantity_off_a_resting_order(venue: Venue) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    buy = order(Side.BUY, 5, order_type=OrderType.LIMIT, limit="60000")
    await venue.broker.submit(buy)
    smaller = await venue.broker.modify(buy, quantity=Decimal(3))
    assert (smaller.status, smaller.filled_quantity) == (OrderStatus.ACCEPTED, Decimal(0))
    assert (await venue.broker.cash("main"))["KRW"] == CASH["KRW"] - 180_000
    await venue.set_price(Market.KR, "005930", "59000")
    state = await venue.settled(buy.apply(smaller))
    assert (state.status, state.filled_quantity) == (OrderStatus.FILLED, Decimal(3))
    assert await held(venue) == {"005930": Decimal(3)}


async def test_modify_of_a_final_order_changes_nothing(venue: Venue) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    buy = priced(order(Side.BUY, 1), "70000")
    await venue.broker.submit(buy)
    done = await venue.settled(buy)
    again = await venue.broker.modify(buy.apply(done), price=Decimal(65000))
    assert (again.status, again.filled_quantity) == (OrderStatus.FILLED, Decimal(1))


async def test_a_broker_serves_its_account_and_quotes_the_price_it_trades_at(venue: Venue) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    routed = venue.broker.for_account("main")
    assert routed is venue.broker
    quote = await routed.quote(Market.KR, "KRX", "005930")
    assert quote is not None and quote.price == Decimal(70000)


async def test_a_token_expiry_is_in_the_future_once_used_or_none_without_tokens(
    venue: Venue,
) -> None:
    await venue.broker.cash("main")  # KIS issues and stores its token on first use
    expires_at = await venue.broker.token_expires_at()
    if venue.name == "paper":
        assert expires_at is None
    else:
        assert expires_at is not None and expires_at > datetime.now(UTC)


async def test_a_change_listener_registers_on_every_broker(venue: Venue) -> None:
    changed: list[str] = []
    venue.broker.on_change(changed.append)
    buy = priced(order(Side.BUY, 1), "70000")
    await venue.set_price(Market.KR, "005930", "70000")
    await venue.broker.submit(buy)
    await venue.settled(buy)
    # KIS may report the fill as it happens (execution notices); paper reports only what moves
    # by its own doing (a later price, its timer, an expiry), never the order a call answered.
    assert set(changed) <= {buy.client_order_id, ""}
    if venue.name == "paper":
        assert changed == []


async def test_a_resting_limit_sell_holds_its_shares_until_the_price_reaches_it(
    venue: Venue,
) -> None:
    await venue.set_price(Market.KR, "005930", "70000")
    buy = priced(order(Side.BUY, 3), "70000")
    await venue.broker.submit(buy)
    await venue.settled(buy)
    sell = order(Side.SELL, 3, order_type=OrderType.LIMIT, limit="72000")
    assert (await venue.broker.submit(sell)).status is OrderStatus.ACCEPTED
    again = await venue.broker.submit(priced(order(Side.SELL, 1), "70000"))
    assert (again.status, again.reason) == (OrderStatus.REJECTED, "insufficient_position")
    await venue.set_price(Market.KR, "005930", "72500")
    state = await venue.settled(sell)
    assert (state.status, state.avg_fill_price) == (OrderStatus.FILLED, Decimal(72500))
    assert await held(venue) == {}
    assert (await venue.broker.cash("main"))["KRW"] == CASH["KRW"] + 3 * 2500


async def test_a_limit_fills_in_parts_and_a_cancel_keeps_the_part_filled(
    partial_venue: Venue,
) -> None:
    venue = partial_venue
    await venue.set_price(Market.KR, "005930", "70000")
    whole = order(Side.BUY, 4, order_type=OrderType.LIMIT, limit="70000")
    await venue.broker.submit(whole)
    part = await venue.settled(whole)
    assert (part.status, part.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, Decimal(2))
    await venue.step()

    async def done() -> BrokerOrder | None:
        state = await venue.broker.get_order(whole)
        return state if state and state.status is OrderStatus.FILLED else None

    state = await eventually(done, timeout_s=5)
    assert state.filled_quantity == Decimal(4)
    assert await held(venue) == {"005930": Decimal(4)}

    halves = order(Side.BUY, 4, order_type=OrderType.LIMIT, limit="70000")
    await venue.broker.submit(halves)
    first = await venue.settled(halves)
    assert first.filled_quantity == Decimal(2)
    cancelled = await venue.broker.cancel(halves.apply(first))
    if cancelled.status is not OrderStatus.CANCELLED:
        cancelled = await venue.settled(halves.apply(cancelled))
    assert (cancelled.status, cancelled.filled_quantity) == (OrderStatus.CANCELLED, Decimal(2))
    # Only the shares bought are paid for: the reservation of the cancelled half is released.
    assert (await venue.broker.cash("main"))["KRW"] == CASH["KRW"] - 6 * 70_000


async def test_the_fx_rate_comes_with_the_balance_where_the_broker_gives_one(venue: Venue) -> None:
    """KIS gives the USD rate it applies with the buying power asked for the balance (the
    simulator: 1,350), no call of its own; the paper venue gives none, and the configured
    fx.usdkrw stands in."""
    await venue.broker.cash("main")
    rate = await venue.broker.fx_rate("main")
    if venue.name == "kis":
        assert rate is not None
        assert (rate.pair, rate.rate, rate.source) == ("USD/KRW", Decimal(1350), "kis")
    else:
        assert rate is None
