"""Per-app-key pacing shared through Valkey, EGW00201 handling, and continuation paging."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.fixtures.kis_kit import CANO, kis_settings, order, start_sim
from tests.support import eventually
from yquant.adapters.brokers.kis.factory import build_kis_broker
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.db.broker_tokens import SqlTokenRecords
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market, OrderStatus, Side

BALANCE = "/uapi/domestic-stock/v1/trading/inquire-balance"
US_BALANCE = "/uapi/overseas-stock/v1/trading/inquire-balance"
DAILY = "/uapi/domestic-stock/v1/trading/inquire-daily-ccld"


async def test_shared_pacing_keeps_two_processes_under_the_kis_limit(make_broker) -> None:
    sim = start_sim(rate_limit_per_s=10)
    try:
        # Two brokers with their own clients, as two processes of one worker: one budget.
        first, second = (
            make_broker(sim.url, rate_limit_per_s=8),
            make_broker(sim.url, rate_limit_per_s=8),
        )
        await first.quote(Market.KR, "KRX", "005930")  # the token, before the burst
        calls = [b.quote(Market.KR, "KRX", "005930") for b in (first, second) for _ in range(12)]
        quotes = await asyncio.gather(*calls)
        assert all(q is not None for q in quotes)
        assert sim.sim.stats["rate_limited"] == 0
    finally:
        sim.stop()


async def test_unshared_pacing_would_break_the_limit(sql: SqlStore) -> None:
    """The control experiment: the same two clients pacing alone hit EGW00201 (and recover)."""
    sim = start_sim(rate_limit_per_s=10)
    first, second = (
        build_kis_broker(
            "main",
            kis_settings(sim.url, rate_limit_per_s=8),
            records=SqlTokenRecords(sql),
            valkey=None,  # each paces only itself
        )
        for _ in range(2)
    )
    try:
        await first.quote(Market.KR, "KRX", "005930")
        calls = [b.quote(Market.KR, "KRX", "005930") for b in (first, second) for _ in range(12)]
        quotes = await asyncio.gather(*calls)
        assert all(q is not None for q in quotes)  # bounded backoff on EGW00201 recovered
        assert sim.sim.stats["rate_limited"] > 0
    finally:
        await first.close()
        await second.close()
        sim.stop()


async def test_orders_go_ahead_of_background_inquiries(sim: SimServer, make_broker) -> None:
    broker = make_broker(rate_limit_per_s=5)
    await broker.quote(Market.KR, "KRX", "005930")

    async def burst() -> list[OrderStatus]:
        return [(await broker.submit(order(quantity=1))).status for _ in range(5)]

    orders = asyncio.create_task(burst())
    await eventually(lambda: any(p.endswith("order-cash") for p, _ in sim.sim.received))
    inquiries = [asyncio.create_task(broker.quote(Market.KR, "KRX", "000660")) for _ in range(3)]
    assert set(await orders) == {OrderStatus.ACCEPTED}
    await asyncio.gather(*inquiries)
    calls = [path.rsplit("/", 1)[1] for path, _ in sim.sim.received]
    first = calls.index("order-cash")
    # The inquiries asked during the burst waited for it to end.
    assert calls[first : first + 5] == ["order-cash"] * 5
    assert calls[first + 5 :] == ["inquire-price"] * 3


async def test_every_balance_page_is_read(sim: SimServer, make_broker) -> None:
    for n in range(120):
        sim.sim.exchange.set_position(
            (CANO, "01"), "KR", f"{100000 + n}", Decimal(n + 1), Decimal(1000)
        )
    broker = make_broker()
    holdings = await broker.holdings("main")
    assert len(holdings) == 120  # 50 per page on real: three pages
    assert sum(h.quantity for h in holdings) == Decimal(sum(range(1, 121)))
    assert [p for p, _ in sim.sim.received].count(BALANCE) == 3


async def test_sold_out_rows_are_left_out_of_holdings(sim: SimServer, make_broker) -> None:
    broker = make_broker()
    await broker.submit(order(quantity=2, ticker="005930"))
    await broker.submit(order(quantity=2, ticker="000660"))
    await broker.submit(order(Side.SELL, 2, ticker="000660"))
    holdings = await broker.holdings("main")
    rows = [(h.ticker, h.quantity) for h in holdings]
    assert rows == [("005930", Decimal(2))]  # 000660 still listed by KIS with hldg_qty 0


async def test_order_inquiry_pages_are_followed_to_find_an_order(make_broker) -> None:
    paper = start_sim(environment="paper", rate_limit_per_s=100)  # 15 rows per page on paper
    try:
        broker = make_broker(paper.url, environment="paper", rate_limit_per_s=100)
        placed = [order(quantity=1, ticker="005930") for _ in range(40)]
        for o in placed:
            await broker.submit(o)
        last = placed[-1]
        state = await broker.get_order(last)
        assert state is not None and state.status is OrderStatus.FILLED
        assert [p for p, _ in paper.sim.received].count(DAILY) == 3
    finally:
        paper.stop()


async def test_paper_accounts_ask_each_us_exchange_for_positions(make_broker) -> None:
    paper = start_sim(environment="paper", rate_limit_per_s=100)
    try:
        for ticker in ("AAPL", "IBM", "SPY"):
            paper.control(
                "position", cano=CANO, market="US", ticker=ticker, quantity=3, avg_price=50
            )
        broker = make_broker(paper.url, environment="paper")
        holdings = await broker.holdings("main")
        assert sorted(h.ticker for h in holdings) == ["AAPL", "IBM", "SPY"]
        assert [p for p, _ in paper.sim.received].count(US_BALANCE) == 3
    finally:
        paper.stop()
