"""Cancels with the KIS adapter and the simulator: the cancel TR (order-rvsecncl), a fill that
wins the race, cancel-replace with fills during the cancel, a replacement never sent beside a
working order, and day orders that KIS ends at the close."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.kis_kit import CANO, order
from tests.integration.services.test_gateway_kis import Rig, bus, make_rig, running
from tests.support import eventually
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.brokers.kis_sim.exchange import RefusedError
from yquant.adapters.bus import Bus
from yquant.adapters.clock import SystemClock
from yquant.adapters.db.store import SqlStore
from yquant.bootstrap import build_kill_switch
from yquant.domain.model import OrderStatus, OrderType, Side
from yquant.domain.writes import InsertOrder
from yquant.services.gateway import Gateway

__all__ = ["bus"]  # the fixture, shared with the gateway's KIS tests

ACCOUNT = (CANO, "01")


@pytest.fixture
def rig(sim: SimServer, sql: SqlStore, bus: Bus, tmp_path: Path, make_broker: Any) -> Iterator[Rig]:
    r = make_rig(sim, sql, bus, tmp_path, make_broker(unknown_settle_s=2), "local")
    yield r
    r.recorder.journal.close()


def limit(side: Side, quantity: int, price: str, **changes: Any) -> Any:
    return order(side, quantity, order_type=OrderType.LIMIT, limit=price, **changes)


def reserved_krw(sim: SimServer) -> Decimal:
    return Decimal(sim.sim.exchange.accounts[ACCOUNT].reserved["KRW"])


async def test_a_resting_order_is_cancelled_at_kis_and_its_cash_released(rig: Rig) -> None:
    rig.sim.control("price", market="KR", ticker="005930", price="70000")
    buy = limit(Side.BUY, 3, "60000")
    await rig.post(buy)
    assert (await rig.status(buy))["status"] == "accepted"
    assert reserved_krw(rig.sim) == Decimal(180_000)
    answer = await rig.gateway.cancel(buy.client_order_id, request_id="r1")
    assert answer is not None and (answer.done, answer.status) == (True, OrderStatus.CANCELLED)
    row = await rig.status(buy)
    assert (row["status"], row["reason"], row["filled_quantity"]) == ("cancelled", "cancelled", 0)
    assert reserved_krw(rig.sim) == 0
    cancels = [x for x in rig.sim.control("stats")["orders"] if x["is_cancel"]]
    assert len(cancels) == 1


async def test_a_fill_at_kis_before_the_cancel_wins_the_race(rig: Rig) -> None:
    rig.sim.control("price", market="KR", ticker="005930", price="70000")
    buy = limit(Side.BUY, 2, "69000")
    await rig.post(buy)
    rig.sim.control("price", market="KR", ticker="005930", price="68900")  # fills at KIS
    answer = await rig.gateway.cancel(buy.client_order_id)
    assert answer is not None
    assert (answer.done, answer.status, answer.reason) == (
        False,
        OrderStatus.FILLED,
        "already_final",
    )
    row = await rig.status(buy)
    assert (row["status"], row["filled_quantity"]) == ("filled", 2)
    assert [f["quantity"] for f in await rig.store.recent("fills")] == [2]


async def test_a_replacement_is_sized_down_by_what_the_old_sell_filled_during_the_cancel(
    rig: Rig,
) -> None:
    exchange = rig.sim.sim.exchange
    exchange.set_position(ACCOUNT, "KR", "005930", Decimal(10), Decimal(60000))
    rig.sim.control("price", market="KR", ticker="005930", price="70000")
    rig.sim.control("fills", steps=2)
    old = limit(Side.SELL, 10, "70000")
    async with running(rig):
        await rig.post(old)  # half of it fills at once
        await eventually(lambda: _filled_is(rig, old, Decimal(5)))
        new = order(Side.SELL, 5).evolve(replaces=old.client_order_id)  # sized from the 5 left
        await rig.recorder.write(InsertOrder(new))
        rig.sim.control("step")  # the rest of the old sell fills after the decision
        await rig.post(new)
    old_row, new_row = await rig.status(old), await rig.status(new)
    assert (old_row["status"], old_row["filled_quantity"]) == ("filled", 10)
    assert (new_row["status"], new_row["reason"]) == ("rejected", "replaced_order_filled")
    assert len(rig.sim_orders()) == 1  # the replacement never reached KIS


async def test_a_replacement_is_not_sent_while_kis_has_not_shown_the_old_order_ended(
    sim: SimServer, sql: SqlStore, bus: Bus, tmp_path: Path, make_broker: Any
) -> None:
    sim.sim.exchange.set_position(ACCOUNT, "KR", "005930", Decimal(10), Decimal(60000))
    sim.control("price", market="KR", ticker="005930", price="70000")
    r = make_rig(sim, sql, bus, tmp_path, make_broker(unknown_settle_s=2), "local")
    r.gateway = Gateway(  # a wait for the old order shorter than KIS's lag below
        recorder=r.recorder,
        bus=bus,
        broker=r.brokers,
        book=r.book,
        kill_switch=build_kill_switch(sql, None),
        clock=SystemClock(),
        sync=r.sync,
        track_interval_s=0.05,
        replace_wait_s=0.3,
    )
    old = limit(Side.SELL, 10, "80000")
    await r.post(old)
    # KIS's inquiry lags: the cancel is done at the exchange, not yet in what KIS lists.
    sim.control("faults", ccld_lag_s=3)
    new = order(Side.SELL, 10).evolve(replaces=old.client_order_id)
    await r.post(new)
    row = await r.status(new)
    assert (row["status"], row["reason"]) == ("rejected", "replace_timeout")
    assert (await r.status(old))["status"] == "cancel_requested"
    sim.control("faults", ccld_lag_s=0)
    async with running(r):
        await eventually(lambda: _status_is(r, old, "cancelled"))
    assert len(r.sim_orders()) == 1
    r.recorder.journal.close()


async def test_a_day_order_kis_did_not_fill_is_recorded_expired_the_next_day(rig: Rig) -> None:
    rig.sim.control("price", market="KR", ticker="005930", price="70000")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    # Placed yesterday at KIS and left unfilled: KIS ends day orders at the close.
    exchange = rig.sim.sim.exchange
    placed = exchange.place(
        ACCOUNT,
        market="KR",
        exchange="KRX",
        ticker="005930",
        side="buy",
        quantity=Decimal(1),
        limit_price=Decimal(60000),
        branch="06010",
        closed=RefusedError("SIM", "closed"),
    )
    placed.ordered_at = yesterday
    day_old = limit(Side.BUY, 1, "60000", age_s=86_400).evolve(
        status=OrderStatus.ACCEPTED, broker_order_id=placed.odno
    )
    await rig.recorder.write(InsertOrder(day_old))
    await rig.gateway.reconcile_open()
    row = await rig.status(day_old)
    assert (row["status"], row["filled_quantity"]) == ("expired", 0)
    assert rig.gateway.open_orders == {}


async def _status_is(r: Rig, o: Any, status: str) -> bool:
    return (await r.status(o))["status"] == status


async def _filled_is(r: Rig, o: Any, quantity: Decimal) -> bool:
    return (await r.status(o))["filled_quantity"] == quantity
