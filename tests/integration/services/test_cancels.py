"""Cancels on real parts: the gateway as the composition root wires it, the paper broker, the
database (SQLite and MariaDB) and Valkey; the operator's side (`OrderCancels`) sends its
requests over the bus and waits for the gateway's answers, as `yquant cancel` does."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.harness import make_settings
from tests.support import krx_order
from yquant.adapters.brokers.paper import PaperBroker
from yquant.adapters.bus import CANCELS, ORDERS, Bus, Entry
from yquant.adapters.clock import SystemClock
from yquant.adapters.db import tables
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.adapters.messages import order_to_message
from yquant.bootstrap import Runtime, active_role, build_cancels, build_gateway
from yquant.domain.commands import PlaceOrder
from yquant.domain.model import Market, Order, OrderStatus, OrderType, Side
from yquant.domain.reasons import ReasonCode
from yquant.domain.writes import InsertOrder
from yquant.services.cancels import OrderCancels
from yquant.services.gateway import Gateway
from yquant.settings import Settings

CASH = Decimal(100_000_000)


@dataclass
class Desk:
    settings: Settings
    store: SqlStore
    recorder: Recorder
    bus: Bus
    broker: PaperBroker
    gateway: Gateway
    cancels: OrderCancels

    async def post(self, order: Order) -> None:
        """What the engine does (record, publish); the gateway takes it from the stream."""
        await self.recorder.write(InsertOrder(order))
        entry = Entry(ORDERS, "0-1", order_to_message(order), False, PlaceOrder(order))
        await self.gateway.handle_order(entry)

    async def row(self, order: Order) -> dict[str, Any]:
        row = await self.store.order(order.client_order_id)
        assert row is not None
        return row

    async def events(self, *orders: Order) -> list[tuple[str, str, Decimal]]:
        """(order, status, filled) of every recorded step of ``orders``, in the order made."""
        e = tables.order_events
        cids = [o.client_order_id for o in orders]
        rows = await self.store.rows(
            select(e.c.client_order_id, e.c.status, e.c.filled_quantity)
            .where(e.c.client_order_id.in_(cids))
            .order_by(e.c.id)
        )
        names = {o.client_order_id: str(i) for i, o in enumerate(orders)}
        return [(names[r["client_order_id"]], r["status"], r["filled_quantity"]) for r in rows]

    async def krw(self) -> Decimal:
        return (await self.broker.cash("paper"))["KRW"]

    async def price(self, ticker: str, price: str) -> None:
        await self.broker.observe_price(Market.KR, ticker, Decimal(price))


@pytest.fixture
async def desk(tmp_path: Path, db_url: str, valkey_url: str) -> AsyncIterator[Desk]:
    settings = make_settings(
        tmp_path / "data",
        db_url,
        valkey_url,
        strategies={"scalper": {"limit_ttl_s": 60}},
        gateway={"track_interval_s": 0.05, "replace_wait_s": 5, "ttl_sweep_s": 0.05},
    )
    store = SqlStore(db_url, timeout_s=5)
    recorder = Recorder(store, Journal(tmp_path / "journal.sqlite3"))
    bus = Bus(valkey_url)
    broker = PaperBroker(
        tmp_path / "paper.sqlite3", commission_rate=Decimal(0), initial_cash={"KRW": CASH}
    )
    await broker.connect()
    runtime = Runtime(settings, store, recorder, bus, SystemClock())
    parts = build_gateway(runtime, broker, active_role(store, "local"), accounts=["paper"])
    yield Desk(settings, store, recorder, bus, broker, parts.gateway, build_cancels(runtime))
    await broker.close()
    await recorder.close()
    await bus.close()
    await store.close()
    recorder.journal.close()


@contextlib.asynccontextmanager
async def running(d: Desk) -> AsyncIterator[None]:
    """The gateway as `yquant up` runs it: cancels taken from the stream, open orders followed,
    a heartbeat for the operator's side to see."""
    stop = asyncio.Event()
    await d.bus.heartbeat("gateway", {"pid": 0, "worker": "local"})
    tasks = [
        asyncio.create_task(d.bus.consume(CANCELS, "gateway", "gw", d.gateway.handle_cancel, stop)),
        asyncio.create_task(d.gateway.track(stop)),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def limit(
    cid: str,
    side: Side,
    quantity: int,
    price: str,
    *,
    strategy: str = "trend",
    ticker: str = "005930",
    age_s: float = 0,
    **changes: Any,
) -> Order:
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    return krx_order(
        cid,
        at,
        account="paper",
        strategy=strategy,
        ticker=ticker,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=Decimal(price),
        **changes,
    )


def market(cid: str, side: Side, quantity: int, price: str, **changes: Any) -> Order:
    return krx_order(
        cid,
        datetime.now(UTC),
        account="paper",
        strategy=changes.pop("strategy", "trend"),
        side=side,
        quantity=Decimal(quantity),
        reference_price=Decimal(price),
        **changes,
    )


async def test_a_resting_buy_is_cancelled_and_its_reserved_cash_released(desk: Desk) -> None:
    await desk.price("005930", "70000")
    buy = limit("yq-c1", Side.BUY, 10, "60000")
    await desk.post(buy)
    assert (await desk.row(buy))["status"] == "accepted"
    assert await desk.krw() == CASH - 600_000  # held by the resting buy
    async with running(desk):
        outcome = await desk.cancels.cancel_ref("yq-c1", wait_s=10)
    assert (outcome.done, outcome.status, outcome.reason) == (True, OrderStatus.CANCELLED, None)
    row = await desk.row(buy)
    assert (row["status"], row["reason"], row["filled_quantity"]) == ("cancelled", "cancelled", 0)
    assert await desk.krw() == CASH
    assert await desk.events(buy) == [
        ("0", "new", 0),
        ("0", "submitted", 0),
        ("0", "accepted", 0),
        ("0", "cancel_requested", 0),
        ("0", "cancelled", 0),
    ]
    # A cancel of an order already final changes nothing and says so.
    async with running(desk):
        again = await desk.cancels.cancel_ref("yq-c1", wait_s=10)
    assert (again.done, again.status, again.reason) == (
        False,
        OrderStatus.CANCELLED,
        "already_final",
    )
    assert len(await desk.events(buy)) == 5


async def test_the_broker_order_number_finds_the_order_too(desk: Desk) -> None:
    await desk.price("005930", "70000")
    buy = limit("yq-c2", Side.BUY, 1, "60000")
    await desk.post(buy)
    number = (await desk.row(buy))["broker_order_id"]
    assert number and number != "yq-c2"
    async with running(desk):
        outcome = await desk.cancels.cancel_ref(number, wait_s=10)
    assert (outcome.client_order_id, outcome.done) == ("yq-c2", True)
    missing = await desk.cancels.cancel_ref("yq-nothing", wait_s=1)
    assert (missing.order, missing.done, missing.reason) == (None, False, "not_found")


async def test_a_fill_that_arrives_before_the_cancel_wins_the_race(desk: Desk) -> None:
    await desk.price("005930", "70000")
    buy = limit("yq-race", Side.BUY, 5, "69000")
    await desk.post(buy)
    # The price crosses at the venue before the gateway has heard of it: the fill is there
    # when the cancel arrives.
    assert await desk.broker.observe_price(Market.KR, "005930", Decimal(68500)) == ["yq-race"]
    answer = await desk.gateway.cancel("yq-race", request_id="r-race")
    assert answer is not None
    assert (answer.done, answer.status, answer.reason) == (
        False,
        OrderStatus.FILLED,
        "already_final",
    )
    row = await desk.row(buy)
    assert (row["status"], row["filled_quantity"], row["reason"]) == ("filled", 5, None)
    assert [f["quantity"] for f in await desk.store.recent("fills")] == [5]
    assert await desk.events(buy) == [
        ("0", "new", 0),
        ("0", "submitted", 0),
        ("0", "accepted", 0),
        ("0", "cancel_requested", 0),
        ("0", "filled", 5),
    ]
    # The fill went out on the executions stream like any other.
    executions = await desk.bus.client.xrange("yq:executions")
    assert [json.loads(f["data"])["client_order_id"] for _, f in executions] == ["yq-race"]
    assert await desk.bus.answered("r-race") == answer


async def test_cancel_all_takes_only_the_working_orders_that_match(desk: Desk) -> None:
    await desk.price("005930", "70000")
    await desk.price("000660", "150000")
    a1 = limit("yq-a1", Side.BUY, 1, "60000", strategy="alpha")
    a2 = limit("yq-a2", Side.BUY, 1, "140000", strategy="alpha", ticker="000660")
    b1 = limit("yq-b1", Side.BUY, 1, "61000", strategy="beta")
    for o in (a1, a2, b1):
        await desk.post(o)
    matched = await desk.cancels.working(strategy="alpha")
    assert [o.client_order_id for o in matched] == ["yq-a1", "yq-a2"]
    assert [o.client_order_id for o in await desk.cancels.working(ticker="000660")] == ["yq-a2"]
    assert await desk.cancels.working(account="elsewhere") == []
    async with running(desk):
        outcomes = await desk.cancels.cancel(matched, wait_s=10)
    assert [(o.client_order_id, o.done) for o in outcomes] == [("yq-a1", True), ("yq-a2", True)]
    assert [(await desk.row(o))["status"] for o in (a1, a2, b1)] == [
        "cancelled",
        "cancelled",
        "accepted",
    ]
    assert await desk.krw() == CASH - 61_000


async def test_an_order_awaiting_approval_is_not_cancelled_at_the_broker(desk: Desk) -> None:
    held = limit("yq-held", Side.BUY, 1, "60000").awaiting_approval()
    await desk.recorder.write(InsertOrder(held))
    async with running(desk):
        outcome = await desk.cancels.cancel_ref("yq-held", wait_s=1)
    assert (outcome.done, outcome.pending, outcome.reason) == (False, False, "awaiting_approval")
    assert (await desk.row(held))["status"] == "awaiting_approval"
    assert await desk.bus.client.xlen(CANCELS) == 0


async def test_without_a_running_gateway_nothing_is_cancelled(desk: Desk) -> None:
    await desk.price("005930", "70000")
    buy = limit("yq-nogw", Side.BUY, 1, "60000")
    await desk.post(buy)
    outcome = await desk.cancels.cancel_ref("yq-nogw", wait_s=1)
    assert (outcome.done, outcome.reason) == (False, "gateway_not_running")
    assert (await desk.row(buy))["status"] == "accepted"


async def test_a_limit_past_its_strategys_time_limit_is_cancelled(desk: Desk) -> None:
    await desk.price("005930", "70000")
    old = limit("yq-ttl", Side.BUY, 2, "60000", strategy="scalper", age_s=90)
    young = limit("yq-young", Side.BUY, 2, "60000", strategy="scalper", age_s=10)
    other = limit("yq-other", Side.BUY, 2, "60000", strategy="trend", age_s=90)
    for o in (old, young, other):
        await desk.post(o)
    assert await desk.gateway.expire_limits() == 1
    row = await desk.row(old)
    assert (row["status"], row["reason"]) == ("cancelled", "ttl_expired")
    assert [(await desk.row(o))["status"] for o in (young, other)] == ["accepted", "accepted"]
    assert await desk.krw() == CASH - 240_000
    assert await desk.gateway.expire_limits() == 0  # nothing left past its time


async def test_the_sweep_runs_on_the_active_worker(desk: Desk) -> None:
    await desk.price("005930", "70000")
    old = limit("yq-sweep", Side.BUY, 1, "60000", strategy="scalper", age_s=90)
    await desk.post(old)
    stop = asyncio.Event()
    task = asyncio.create_task(desk.gateway.sweep(stop))
    try:
        for _ in range(200):
            if (await desk.row(old))["status"] == "cancelled":
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    assert (await desk.row(old))["reason"] == "ttl_expired"


async def test_a_replacing_sell_is_sent_after_the_working_one_is_cancelled(desk: Desk) -> None:
    await desk.price("005930", "70000")
    await desk.broker.submit(market("seed", Side.BUY, 10, "70000", strategy="seed"))
    working = limit("yq-old", Side.SELL, 10, "80000")
    await desk.post(working)
    assert (await desk.row(working))["status"] == "accepted"
    exit_ = market("yq-new", Side.SELL, 10, "70000", replaces="yq-old")
    await desk.post(exit_)
    old, new = await desk.row(working), await desk.row(exit_)
    assert (old["status"], old["reason"]) == ("cancelled", "replaced")
    assert (new["status"], new["quantity"], new["filled_quantity"]) == ("filled", 10, 10)
    steps = [(who, status) for who, status, _ in await desk.events(working, exit_)]
    assert steps[steps.index(("0", "cancel_requested")) :] == [
        ("0", "cancel_requested"),
        ("0", "cancelled"),
        ("1", "submitted"),
        ("1", "filled"),
    ]
    assert await desk.broker.holdings("paper") == []


async def test_a_replacing_sell_is_not_sent_when_the_working_one_filled_meanwhile(
    desk: Desk,
) -> None:
    await desk.price("005930", "70000")
    await desk.broker.submit(market("seed", Side.BUY, 10, "70000", strategy="seed"))
    working = limit("yq-old2", Side.SELL, 10, "80000")
    await desk.post(working)
    exit_ = market("yq-new2", Side.SELL, 10, "70000", replaces="yq-old2")
    await desk.recorder.write(InsertOrder(exit_))  # decided: sized from the 10 held
    await desk.price("005930", "81000")  # the old sell fills at the venue after the decision
    await desk.post(exit_)
    assert (await desk.row(working))["status"] == "filled"
    new = await desk.row(exit_)
    assert (new["status"], new["reason"]) == ("rejected", "replaced_order_filled")
    [fill] = await desk.store.recent("fills")
    assert fill["client_order_id"] == "yq-old2"
    assert await desk.broker.holdings("paper") == []  # nothing sold twice


async def test_a_crash_between_the_cancel_and_the_send_neither_sends_twice_nor_loses_it(
    desk: Desk,
) -> None:
    await desk.price("005930", "70000")
    await desk.broker.submit(market("seed", Side.BUY, 10, "70000", strategy="seed"))
    working = limit("yq-old3", Side.SELL, 10, "80000")
    await desk.post(working)
    exit_ = market("yq-new3", Side.SELL, 10, "70000", replaces="yq-old3")
    await desk.recorder.write(InsertOrder(exit_))
    # The first life cancelled the old order, then died before sending the new one.
    await desk.gateway.cancel("yq-old3", reason=ReasonCode.REPLACED)
    assert (await desk.row(working))["status"] == "cancelled"
    # A gateway starting afresh takes the entry again (never acknowledged), twice even.
    runtime = Runtime(desk.settings, desk.store, desk.recorder, desk.bus, SystemClock())
    later = build_gateway(
        runtime, desk.broker, active_role(desk.store, "local"), accounts=["paper"]
    ).gateway
    await later.reconcile_open()
    for entry_id in ("0-2", "0-3"):
        entry = Entry(ORDERS, entry_id, order_to_message(exit_), True, PlaceOrder(exit_))
        await later.handle_order(entry)
    new = await desk.row(exit_)
    assert (new["status"], new["filled_quantity"]) == ("filled", 10)
    assert await desk.broker.holdings("paper") == []
    fills = [f for f in await desk.store.recent("fills") if f["client_order_id"] == "yq-new3"]
    assert len(fills) == 1
