"""Modify (정정) on KIS as one order across its order numbers, US orderable cash from the
buying-power inquiry, and US cancels sent with the order's quantity as KIS's samples do."""

from __future__ import annotations

from decimal import Decimal

from tests.fixtures.kis_kit import order
from tests.support import eventually
from yquant.adapters.brokers.kis import schemas
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.domain.model import Market, OrderStatus, OrderType, Side

RVSECNCL = "/uapi/overseas-stock/v1/trading/order-rvsecncl"
PSAMOUNT = "/uapi/overseas-stock/v1/trading/inquire-psamount"


async def test_a_modified_order_keeps_its_fills_from_before_the_modify(
    sim: SimServer, make_broker
) -> None:
    broker = make_broker()
    sim.control("fills", steps=2)
    sim.control("price", market="KR", ticker="005930", price="70000")
    buy = order(Side.BUY, 4, order_type=OrderType.LIMIT, limit="70000")
    placed = await broker.submit(buy)
    first = await broker.get_order(buy.apply(placed))
    assert first is not None and first.filled_quantity == 2  # the first slice filled at once
    mine = buy.apply(first)
    sim.control("price", market="KR", ticker="005930", price="70500")
    moved = await broker.modify(mine, price=Decimal(70500))
    assert moved.broker_order_id != placed.broker_order_id  # a new order number
    assert moved.filled_quantity >= 2

    async def done() -> object:
        state = await broker.get_order(mine.apply(moved))
        return state if state and state.status is OrderStatus.FILLED else None

    sim.control("step")
    state = await eventually(done, timeout_s=5)
    assert state.filled_quantity == 4
    fills = [f.fill_id for f in state.fills]
    assert fills == [f"{buy.client_order_id}:4"]  # the step from 2 to 4, once


async def test_us_cash_is_the_orderable_amount_net_of_open_buys(
    sim: SimServer, make_broker
) -> None:
    broker = make_broker()
    sim.control("price", market="US", ticker="AAPL", price="190")
    resting = order(
        Side.BUY, 10, ticker="AAPL", market=Market.US, order_type=OrderType.LIMIT, limit="150"
    )
    assert (await broker.submit(resting)).status is OrderStatus.ACCEPTED
    cash = await broker.cash("main")
    assert cash["USD"] == Decimal(100_000 - 1_500)
    assert [tr for p, tr in sim.sim.received if p == PSAMOUNT] == ["TTTS3007R"]


async def test_us_cancel_sends_the_order_quantity(sim: SimServer, make_broker) -> None:
    broker = make_broker()
    sim.control("price", market="US", ticker="AAPL", price="190")
    resting = order(
        Side.BUY, 7, ticker="AAPL", market=Market.US, order_type=OrderType.LIMIT, limit="150"
    )
    await broker.submit(resting)
    cancelled = await broker.cancel(resting)
    assert cancelled.status is OrderStatus.CANCELLED
    [row] = [o for o in sim.sim.report()["orders"] if o["is_cancel"]]
    assert row["quantity"] == "7"
    body = schemas.overseas_revise_body("12345678", "01", "NASDAQ", "AAPL", "1", Decimal(7), None)
    assert (body["RVSE_CNCL_DVSN_CD"], body["ORD_QTY"], body["OVRS_ORD_UNPR"]) == ("02", "7", "0")
