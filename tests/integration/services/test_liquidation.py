"""Liquidation on real parts: the engine and the gateway as the composition root wires them,
the paper broker, the database (SQLite and MariaDB) and Valkey. The gateway runs as `yquant up`
runs it (the orders and the cancels taken from their streams, a heartbeat), so the liquidation
waits for real answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.harness import Rig, build_rig
from yquant.adapters.bus import CANCELS, ORDERS
from yquant.adapters.db import migrate, tables
from yquant.adapters.db.order_queue import SqlOrderQueue
from yquant.bootstrap import Runtime, build_liquidator
from yquant.domain.alerts import decode_body, parse_alert
from yquant.domain.liquidation import LiquidationFilter, LiquidationStatus
from yquant.domain.model import Alert, Market
from yquant.domain.notices import Level, NoticeKind
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState
from yquant.services.control import Control
from yquant.services.liquidation import Liquidator

KST = ZoneInfo("Asia/Seoul")
FRIDAY_OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=KST)
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=KST)
STRATEGIES = {
    "strategies": {
        "daytrade": {"accounts": ["paper"]},
        "swing": {"accounts": ["paper"]},
    }
}
EXCHANGE_HOURS = {"accounts": {"paper": {"broker": "paper", "sessions": "exchange"}}}

_ids = iter(range(10**6))


def tv(rig: Rig, **fields: Any) -> Alert:
    """An alert as the webhook makes it (Samsung at 71,000 unless said), a second later."""
    rig.clock.advance(seconds=1)
    body = {"ticker": "KRX:005930", "price": "71000", "id": f"l{next(_ids)}", **fields}
    return parse_alert(decode_body(json.dumps(body).encode()), rig.clock.now())


async def make_rig(tmp_path: Path, db_url: str, valkey_url: str, **more: Any) -> Rig:
    return await build_rig(tmp_path, db_url, valkey_url, FRIDAY_OPEN, **STRATEGIES, **more)


@pytest.fixture
async def rig(tmp_path: Path, db_url: str, valkey_url: str) -> AsyncIterator[Rig]:
    r = await make_rig(tmp_path, db_url, valkey_url)
    yield r
    await r.close()


def liquidator(rig: Rig) -> Liquidator:
    runtime = Runtime(rig.settings, rig.store, rig.recorder, rig.bus, rig.clock)
    return build_liquidator(runtime, rig.engine, rig.engine.decider._instruments)  # noqa: SLF001


@contextlib.asynccontextmanager
async def gateway(rig: Rig) -> AsyncIterator[None]:
    """The gateway as `yquant up` runs it: orders and cancels from their streams."""
    stop = asyncio.Event()
    await rig.bus.heartbeat("gateway", {"pid": 0, "worker": "local"})
    tasks = [
        asyncio.create_task(
            rig.bus.consume(ORDERS, "gateway", "gw", rig.gateway.handle_order, stop)
        ),
        asyncio.create_task(
            rig.bus.consume(CANCELS, "gateway", "gw", rig.gateway.handle_cancel, stop)
        ),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def held(rig: Rig, strategy: str, ticker: str = "005930") -> Decimal:
    return (await rig.book()).held("paper", strategy, Market.KR, ticker)


async def seed(rig: Rig) -> dict[str, Any]:
    """daytrade holds 30 Samsung and 10 KODEX and has a resting buy; swing holds 70 Samsung
    and has a resting sell of 20."""
    await rig.trade(tv(rig, strategy="daytrade", action="buy", quantity=30))
    await rig.trade(
        tv(rig, strategy="daytrade", action="buy", quantity=10, ticker="KRX:069500", price="35000")
    )
    await rig.trade(tv(rig, strategy="swing", action="buy", quantity=70))
    [resting_buy] = await rig.trade(
        tv(
            rig,
            strategy="daytrade",
            action="buy",
            quantity=5,
            order_type="limit",
            limit_price="60000",
        )
    )
    [resting_sell] = await rig.trade(
        tv(
            rig,
            strategy="swing",
            action="sell",
            quantity=20,
            order_type="limit",
            limit_price="90000",
        )
    )
    assert resting_buy["status"] == "accepted" and resting_sell["status"] == "accepted"
    assert await held(rig, "daytrade") == 30
    assert await held(rig, "swing") == 70
    return {"buy": resting_buy, "sell": resting_sell}


async def orders_of(rig: Rig, liquidation_id: str) -> list[dict[str, Any]]:
    o = tables.orders
    return await rig.store.rows(
        select(o).where(o.c.liquidation_id == liquidation_id).order_by(o.c.id)
    )


async def test_by_strategy_sells_only_its_positions_after_cancelling_its_working_orders(
    rig: Rig,
) -> None:
    working = await seed(rig)
    liq = liquidator(rig)
    plan = await liq.plan(LiquidationFilter.of(strategy="daytrade"))
    assert plan.ready, plan.refusal_detail
    assert sorted((i.ticker, i.quantity) for i in plan.items) == [("005930", 30), ("069500", 10)]
    assert [o.client_order_id for o in plan.cancels] == [working["buy"]["client_order_id"]]
    assert plan.proceeds == {"KRW": Decimal(30 * 71000 + 10 * 35000)}

    async with gateway(rig):
        result = await liq.execute(plan, requested_by="tester", source="test", confirm=True)
    assert result.id is not None
    assert result.status is LiquidationStatus.DONE, result.as_dict()
    [cancel] = result.cancels
    assert cancel.done and cancel.client_order_id == working["buy"]["client_order_id"]
    assert sorted((s.item.ticker, s.status, s.filled_quantity) for s in result.sells) == [
        ("005930", "filled", 30),
        ("069500", "filled", 10),
    ]
    # The book: daytrade flat, swing untouched, and swing's resting sell still working.
    assert await held(rig, "daytrade") == 0
    assert await held(rig, "daytrade", "069500") == 0
    assert await held(rig, "swing") == 70
    swing_sell = await rig.store.order(working["sell"]["client_order_id"])
    assert swing_sell is not None and swing_sell["status"] == "accepted"
    cancelled = await rig.store.order(working["buy"]["client_order_id"])
    assert cancelled is not None and cancelled["status"] == "cancelled"

    # The orders carry the liquidation's id, were sells of daytrade, and came after the cancel.
    rows = await orders_of(rig, result.id)
    assert [(r["strategy"], r["side"], r["order_type"]) for r in rows] == [
        ("daytrade", "sell", "market"),
        ("daytrade", "sell", "market"),
    ]
    # The cancel had ended before the first sell was recorded.
    e = tables.order_events
    events = await rig.store.rows(select(e.c.client_order_id, e.c.status).order_by(e.c.id))
    steps = [(r["client_order_id"], r["status"]) for r in events]
    ended = steps.index((working["buy"]["client_order_id"], "cancelled"))
    first_sell = min(steps.index((r["client_order_id"], "new")) for r in rows)
    assert ended < first_sell
    signal = await rig.signal(rows[0]["signal_key"])
    assert json.loads(signal["payload"])["source"] == f"liquidation:{result.id}"
    assert signal["strategy"] == "daytrade"
    record = await liq.show(result.id)
    assert record is not None
    stored, orders = record
    assert (stored.requested_by, stored.source, stored.status) == ("tester", "test", "done")
    assert stored.filters == {
        "account": None,
        "strategy": "daytrade",
        "market": None,
        "ticker": None,
    }
    assert sorted(o.client_order_id for o in orders) == sorted(r["client_order_id"] for r in rows)
    # One notice for the notifier: what was sold and cancelled, routed by account and strategy.
    [told] = await rig.notices("liquidation_")
    assert (told.id, told.kind, told.level) == (
        f"liquidation_done:{result.id}",
        NoticeKind.LIQUIDATION_DONE,
        Level.WARNING,
    )
    assert (told.account, told.strategy) == ("paper", "daytrade")
    assert told.data["liquidation"] == result.id
    assert (told.data["status"], told.data["scope"], told.data["market"]) == (
        "done",
        "strategy=daytrade",
        "KR",
    )
    assert sorted(told.data["sold"].split(", ")) == ["daytrade 005930 ×30", "daytrade 069500 ×10"]
    assert sorted(told.data["orders"].split(", ")) == sorted(r["client_order_id"] for r in rows)
    assert told.data["cancelled"] == working["buy"]["client_order_id"]
    assert (told.data["actor"], told.data["source"]) == ("tester", "test")
    assert "not_sold" not in told.data and "not_cancelled" not in told.data


async def test_a_dry_run_plan_changes_nothing(rig: Rig) -> None:
    await seed(rig)
    liq = liquidator(rig)
    before = await rig.store.rows(select(tables.orders))
    plan = await liq.plan(LiquidationFilter.of(strategy="swing"))
    assert [(i.ticker, i.quantity) for i in plan.items] == [("005930", 70)]
    assert len(plan.cancels) == 1
    assert await rig.store.rows(select(tables.orders)) == before
    assert await rig.store.rows(select(tables.liquidations)) == []
    assert await held(rig, "swing") == 70
    # Without a confirmation nothing is recorded or sent either.
    async with gateway(rig):
        refused = await liq.execute(plan, requested_by="t", source="test", confirm=False)
    assert (refused.id, refused.reason) == (None, ReasonCode.CONFIRMATION_REQUIRED)
    assert await rig.store.rows(select(tables.orders)) == before
    assert await rig.store.rows(select(tables.liquidations)) == []
    assert await rig.notices("liquidation_") == []  # nothing recorded: nothing to tell


async def test_halted_refuses_and_reduce_only_allows(rig: Rig) -> None:
    await seed(rig)
    liq = liquidator(rig)
    control = Control(rig.engine.decider._kill._sql, ["paper"])  # noqa: SLF001
    await control.set("paper", KillState.HALTED, actor="t", reason="test", now=rig.clock.now())
    plan = await liq.plan(LiquidationFilter.of(strategy="swing"))
    assert plan.refusal is ReasonCode.HALTED
    before = await rig.store.rows(select(tables.orders))
    async with gateway(rig):
        refused = await liq.execute(plan, requested_by="t", source="test", confirm=True)
    assert refused.status is LiquidationStatus.REFUSED and refused.reason is ReasonCode.HALTED
    assert await rig.store.rows(select(tables.orders)) == before  # nothing cancelled or sent
    [row] = await rig.store.rows(select(tables.liquidations))
    assert (row["status"], row["reason"]) == ("refused", "halted")
    [told] = await rig.notices("liquidation_")
    assert (told.id, told.level, told.strategy) == (
        f"liquidation_done:{refused.id}",
        Level.ERROR,
        "swing",
    )
    assert (told.data["status"], told.data["reason"]) == ("refused", "halted")
    assert "sold" not in told.data and "cancelled" not in told.data

    await control.set("global", KillState.REDUCE_ONLY, actor="t", reason="t", now=rig.clock.now())
    await control.set("paper", KillState.ACTIVE, actor="t", reason="test", now=rig.clock.now())
    plan = await liq.plan(LiquidationFilter.of(strategy="swing"))
    assert plan.ready
    async with gateway(rig):
        done = await liq.execute(plan, requested_by="t", source="test", confirm=True)
    assert done.status is LiquidationStatus.DONE, done.as_dict()
    assert await held(rig, "swing") == 0
    assert await held(rig, "daytrade") == 30
    told = await rig.notices("liquidation_")
    assert [(n.id, n.data["status"]) for n in told] == [
        (f"liquidation_done:{refused.id}", "refused"),
        (f"liquidation_done:{done.id}", "done"),
    ]
    assert told[1].data["sold"] == "swing 005930 ×70"


async def test_the_book_changed_since_the_plan_refuses(rig: Rig) -> None:
    await seed(rig)
    liq = liquidator(rig)
    plan = await liq.plan(LiquidationFilter.of(strategy="daytrade", ticker="005930"))
    await rig.trade(tv(rig, strategy="daytrade", action="buy", quantity=1))
    async with gateway(rig):
        refused = await liq.execute(plan, requested_by="t", source="test", confirm=True)
    assert refused.reason is ReasonCode.PLAN_CHANGED
    assert await held(rig, "daytrade") == 31


async def test_outside_the_session_refused_or_queued_for_the_open(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    rig = await make_rig(tmp_path, sqlite_url, valkey_url, **EXCHANGE_HOURS)
    try:
        await rig.trade(tv(rig, strategy="daytrade", action="buy", quantity=30))
        rig.clock.set(SATURDAY)
        liq = liquidator(rig)
        plan = await liq.plan(LiquidationFilter.of(strategy="daytrade"))
        assert plan.refusal is ReasonCode.MARKET_CLOSED
        assert "2026-11-30T09:00+09:00" in plan.refusal_detail
        async with gateway(rig):
            refused = await liq.execute(plan, requested_by="t", source="test", confirm=True)
        assert refused.status is LiquidationStatus.REFUSED
        assert refused.reason is ReasonCode.MARKET_CLOSED

        queued_plan = await liq.plan(LiquidationFilter.of(strategy="daytrade"), at_open=True)
        assert queued_plan.ready
        async with gateway(rig):
            queued = await liq.execute(queued_plan, requested_by="t", source="test", confirm=True)
        assert queued.status is LiquidationStatus.DONE
        [sell] = queued.sells
        assert sell.status == "queued"
        [row] = await SqlOrderQueue(rig.store).for_signal(sell.signal_key)
        assert row["state"] == "queued"
        assert row["release_after"] == datetime(2026, 11, 30, 9, 0, tzinfo=KST)
        assert await held(rig, "daytrade") == 30
    finally:
        await rig.close()


def test_the_liquidation_migrations_go_down_and_up_again(db_url: str) -> None:
    migrate.downgrade(db_url, "0005")
    assert migrate.current(db_url).startswith("0005")
    migrate.upgrade(db_url)
    assert "(head)" in migrate.current(db_url)


async def test_the_whole_position_is_sold_whatever_the_strategys_sizing(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    """A strategy that sizes every order at 1 share, and one that trades the account's holdings
    (position scope ``account``) beside another strategy: each liquidation sells exactly its
    own position."""
    rig = await build_rig(
        tmp_path,
        sqlite_url,
        valkey_url,
        FRIDAY_OPEN,
        strategies={
            "onebyone": {
                "accounts": ["paper"],
                "sizing": {"policy": "fixed_quantity", "quantity": "1"},
            },
            "solo": {"accounts": ["paper"], "position_scope": "account"},
        },
    )
    try:
        for _ in range(4):
            await rig.trade(tv(rig, strategy="onebyone", action="buy"))
        await rig.trade(tv(rig, strategy="solo", action="buy", quantity=6))
        assert await held(rig, "onebyone") == 4
        liq = liquidator(rig)
        async with gateway(rig):
            result = await liq.execute(
                LiquidationFilter.of(strategy="onebyone"),
                requested_by="schedule",
                source="schedule:close",
                confirm=True,
            )
            assert result.status is LiquidationStatus.DONE, result.as_dict()
            [sell] = result.sells
            assert (sell.quantity, sell.filled_quantity) == (4, 4)
            solo = await liq.execute(
                LiquidationFilter.of(strategy="solo"),
                requested_by="t",
                source="test",
                confirm=True,
            )
        assert solo.status is LiquidationStatus.DONE, solo.as_dict()
        assert [s.filled_quantity for s in solo.sells] == [6]
        assert await held(rig, "onebyone") == 0
        assert await held(rig, "solo") == 0
    finally:
        await rig.close()


async def test_without_a_running_gateway_nothing_is_cancelled_or_sent(rig: Rig) -> None:
    await seed(rig)
    before = await rig.store.rows(select(tables.orders))
    liq = liquidator(rig)
    plan = await liq.plan(LiquidationFilter.of(strategy="daytrade"))
    assert plan.ready  # the plan does not need the gateway; carrying it out does
    refused = await liq.execute(plan, requested_by="t", source="test", confirm=True)
    assert refused.status is LiquidationStatus.REFUSED
    assert refused.reason is ReasonCode.GATEWAY_NOT_RUNNING
    assert await rig.store.rows(select(tables.orders)) == before
    assert await held(rig, "daytrade") == 30


async def test_a_standby_worker_refuses_to_carry_a_liquidation_out(rig: Rig) -> None:
    await seed(rig)

    async def name_blue_active(conn: Any) -> None:
        await conn.execute(
            tables.deployment.insert().values(
                role="active", worker="blue", epoch=1, updated_by="t", updated_at=rig.clock.now()
            )
        )

    await rig.store.run(name_blue_active, write=True)
    liq = liquidator(rig)  # this worker is "local": standby once the record names another
    async with gateway(rig):
        refused = await liq.execute(
            LiquidationFilter.of(strategy="daytrade"), requested_by="t", source="t", confirm=True
        )
    assert (refused.status, refused.reason) == (LiquidationStatus.REFUSED, ReasonCode.NOT_ACTIVE)
    assert await held(rig, "daytrade") == 30
