"""KRW cash from KIS is what new orders can spend: the buying-power inquiry's orderable cash,
so money held by resting buys (at their order price, commission included) is not offered
again."""

from __future__ import annotations

from decimal import Decimal

from tests.fixtures.kis_kit import APP_KEY, APP_SECRET, CANO, order, start_sim
from yquant.adapters.brokers.kis_sim import KisSimulator, SimConfig, SimServer
from yquant.adapters.brokers.kis_sim.exchange import Exchange
from yquant.domain.model import OrderStatus, OrderType, Side

BUYING_POWER = "/uapi/domestic-stock/v1/trading/inquire-psbl-order"


def tr_ids(sim: SimServer, path: str) -> list[str]:
    return [tr for p, tr in sim.sim.received if p == path]


async def test_krw_cash_leaves_out_what_resting_buys_hold(sim: SimServer, make_broker) -> None:
    broker = make_broker()
    sim.control("price", market="KR", ticker="005930", price="70000")
    resting = await broker.submit(order(Side.BUY, 10, order_type=OrderType.LIMIT, limit="65000"))
    assert resting.status is OrderStatus.ACCEPTED
    cash = await broker.cash("main")
    assert cash == {"KRW": Decimal(100_000_000 - 650_000), "USD": Decimal(100_000)}
    # A buy sized from that figure is one KIS takes.
    quantity = cash["KRW"] // Decimal(65_000)
    sized = order(Side.BUY, int(quantity), order_type=OrderType.LIMIT, limit="65000")
    assert (await broker.submit(sized)).status is OrderStatus.ACCEPTED
    assert tr_ids(sim, BUYING_POWER) == ["TTTC8908R"]


async def test_what_a_resting_buy_holds_includes_its_commission(make_broker) -> None:
    simulator = KisSimulator(SimConfig(), Exchange(commission_rate=Decimal("0.00015")))
    simulator.add_app(APP_KEY, APP_SECRET, CANO, "01")
    server = SimServer(simulator).start()
    try:
        broker = make_broker(server.url)
        server.control("price", market="KR", ticker="005930", price="70000")
        await broker.submit(order(Side.BUY, 20, order_type=OrderType.LIMIT, limit="65000"))
        # 20 x 65,000 = 1,300,000 plus 0.015% commission (195).
        assert (await broker.cash("main"))["KRW"] == Decimal(100_000_000 - 1_300_195)
    finally:
        server.stop()


async def test_paper_asks_buying_power_with_the_paper_tr_id(make_broker) -> None:
    paper = start_sim(environment="paper", rate_limit_per_s=50)
    try:
        broker = make_broker(paper.url, environment="paper")
        paper.control("price", market="KR", ticker="005930", price="70000")
        await broker.submit(order(Side.BUY, 3, order_type=OrderType.LIMIT, limit="60000"))
        assert (await broker.cash("main"))["KRW"] == Decimal(100_000_000 - 180_000)
        assert tr_ids(paper, BUYING_POWER) == ["VTTC8908R"]
    finally:
        paper.stop()


async def test_holdings_and_cash_share_one_buying_power_inquiry(
    sim: SimServer, make_broker
) -> None:
    broker = make_broker()
    await broker.holdings("main")
    await broker.cash("main")
    await broker.holdings("main")
    assert tr_ids(sim, BUYING_POWER) == ["TTTC8908R"]
