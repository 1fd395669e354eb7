"""The gateway with the KIS adapter and the simulator: every order tracked to its fill, exactly
once; unknown outcomes resolved by asking; account sync into positions and cash_balances."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from tests.fixtures.kis_kit import CANO, order
from tests.support import eventually, free_port
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.brokers.routing import AccountBrokers
from yquant.adapters.bus import ORDERS, Bus, Entry
from yquant.adapters.clock import SystemClock
from yquant.adapters.db import tables
from yquant.adapters.db.accounts import AccountBook
from yquant.adapters.db.deployment import DeploymentRoles
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.adapters.messages import order_to_message
from yquant.bootstrap import build_kill_switch
from yquant.domain.commands import PlaceOrder
from yquant.domain.model import Order, OrderStatus, Side
from yquant.domain.writes import InsertOrder
from yquant.services.account_sync import AccountSync
from yquant.services.gateway import Gateway
from yquant.services.worker_state import ActiveRole


@dataclass
class Rig:
    sim: SimServer
    store: SqlStore
    recorder: Recorder
    bus: Bus
    gateway: Gateway
    sync: AccountSync
    book: AccountBook
    brokers: AccountBrokers
    worker: str

    async def post(self, o: Order, *, redelivered: bool = False) -> None:
        await self.recorder.write(InsertOrder(o))
        entry = Entry(ORDERS, "0-1", order_to_message(o), redelivered, PlaceOrder(o))
        await self.gateway.handle_order(entry)

    async def status(self, o: Order) -> dict[str, Any]:
        row = await self.store.order(o.client_order_id)
        assert row is not None
        return row

    def sim_orders(self) -> list[dict[str, Any]]:
        return [x for x in self.sim.control("stats")["orders"] if not x["is_cancel"]]


def make_rig(sim: SimServer, store: SqlStore, bus: Bus, tmp: Path, broker: Any, worker: str) -> Rig:
    recorder = Recorder(store, Journal(tmp / f"journal-{worker}.sqlite3"))
    book = AccountBook(store)
    brokers = AccountBrokers({"main": broker})
    sync = AccountSync(
        clock=SystemClock(),
        broker=brokers,
        book=book,
        role=ActiveRole(DeploymentRoles(store), worker),
        accounts=["main"],
        interval_s=3600,
        after_fill_delay_s=0.05,
    )
    gateway = Gateway(
        recorder=recorder,
        bus=bus,
        broker=brokers,
        worker=worker,
        book=book,
        kill_switch=build_kill_switch(store, None),
        clock=SystemClock(),
        sync=sync,
        submit_retry_s=1,
        track_interval_s=0.05,
        shared_accounts=["main"],  # a KIS account: every worker asks the same KIS
    )
    return Rig(sim, store, recorder, bus, gateway, sync, book, brokers, worker)


async def recorded_intent(r: Rig, o: Order) -> None:
    """What a gateway of this worker left behind: its send claim, then the order's intent."""
    assert await r.bus.claim_send(f"yq:gw:sent:{o.client_order_id}", r.worker, 600)
    await r.recorder.write(InsertOrder(o))


@pytest.fixture
async def bus(valkey_url: str) -> AsyncIterator[Bus]:
    b = Bus(valkey_url)
    yield b
    await b.close()


@pytest.fixture
def rig(sim: SimServer, sql: SqlStore, bus: Bus, tmp_path: Path, make_broker) -> Iterator[Rig]:
    r = make_rig(sim, sql, bus, tmp_path, make_broker(unknown_settle_s=2), "local")
    yield r
    r.recorder.journal.close()


@contextlib.asynccontextmanager
async def running(r: Rig) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.gateway.track(stop)), asyncio.create_task(r.sync.run(stop))]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def positions(r: Rig) -> dict[str, tuple[Decimal, str | None]]:
    return {p["ticker"]: (p["quantity"], p["strategy"]) for p in await r.book.positions("main")}


async def cash(r: Rig) -> dict[str, Decimal]:
    return {c["currency"]: c["cash"] for c in await r.book.cash("main")}


async def test_order_is_followed_to_its_fill_and_the_account_synced(rig: Rig) -> None:
    rig.sim.control("price", market="KR", ticker="005930", price="70000")
    buy = order(Side.BUY, 3)
    async with running(rig):
        await rig.post(buy)
        await eventually(lambda: _status_is(rig, buy, "filled"))
        await eventually(lambda: _has_position(rig, "005930"))
    row = await rig.status(buy)
    assert (row["filled_quantity"], row["avg_fill_price"]) == (Decimal(3), Decimal(70000))
    assert row["broker_order_id"] == rig.sim_orders()[0]["odno"]
    fills = await rig.store.recent("fills")
    assert [(f["quantity"], f["price"]) for f in fills] == [(Decimal(3), Decimal(70000))]
    assert (await positions(rig))["005930"] == (Decimal(3), "alpha")
    assert (await cash(rig))["KRW"] == Decimal(100_000_000 - 210_000)


async def test_nothing_reaches_the_broker_after_a_halt(rig: Rig) -> None:
    """An order decided before the kill switch was thrown (or recorded by a pass that died
    before publishing it) is refused at the gateway, the last gate before the broker."""
    from yquant.bootstrap import build_control
    from yquant.domain.risk import KillState

    rig.sim.control("price", market="KR", ticker="005930", price="70000")
    control = build_control(rig.store, ["main"])
    now = datetime.now(UTC)
    await control.set("main", KillState.REDUCE_ONLY, actor="test", reason="drill", now=now)
    buy = order(Side.BUY, 3)
    await rig.post(buy)
    assert ((await rig.status(buy))["status"], (await rig.status(buy))["reason"]) == (
        "rejected",
        "reduce_only",
    )
    await control.set("global", KillState.HALTED, actor="test", reason="incident", now=now)
    sell = order(Side.SELL, 1)
    await rig.post(sell)
    assert (await rig.status(sell))["reason"] == "halted"
    assert rig.sim_orders() == []
    # A redelivery of the refused order changes nothing and sends nothing.
    await rig.post(buy, redelivered=True)
    assert rig.sim_orders() == []


async def test_partial_fills_update_position_and_cash_as_they_happen(rig: Rig) -> None:
    rig.sim.control("fills", steps=2)
    rig.sim.control("price", market="KR", ticker="000660", price="150000")
    buy = order(Side.BUY, 10, ticker="000660")
    async with running(rig):
        await rig.post(buy)
        await eventually(lambda: _status_is(rig, buy, "partially_filled"))
        await eventually(lambda: _position_is(rig, "000660", Decimal(5)))
        # Cash new orders can spend: the open half of a market buy holds its upper-limit
        # price (150,000 x 1.3 = 195,000 a share).
        assert (await cash(rig))["KRW"] == Decimal(100_000_000 - 750_000 - 5 * 195_000)
        rig.sim.control("step")
        await eventually(lambda: _status_is(rig, buy, "filled"))
        await eventually(lambda: _position_is(rig, "000660", Decimal(10)))
    assert (await cash(rig))["KRW"] == Decimal(100_000_000 - 1_500_000)
    assert len(await rig.store.recent("fills")) == 2


async def test_unanswered_order_is_resolved_by_asking_and_never_resent(
    sim: SimServer, sql: SqlStore, bus: Bus, tmp_path: Path, make_broker
) -> None:
    r = make_rig(sim, sql, bus, tmp_path, make_broker(timeout_s=0.3, unknown_settle_s=2), "local")
    sim.control("faults", order_delay_s=1.0)
    buy = order(Side.BUY, 2, ticker="035720")
    await r.post(buy)
    assert (await r.status(buy))["status"] == "unknown"
    sim.control("faults", order_delay_s=0)
    async with running(r):
        await eventually(lambda: _status_is(r, buy, "filled"))
    assert len(r.sim_orders()) == 1
    r.recorder.journal.close()


async def test_a_gateway_timeout_page_for_an_order_is_resolved_by_asking_never_resent(
    rig: Rig, sim: SimServer
) -> None:
    timeout_page = {"message": "upstream request timeout"}
    sim.control("faults", order_answer={"status": 504, "body": timeout_page})
    buy = order(Side.BUY, 3, ticker="035720")
    await rig.post(buy)
    assert len(rig.sim_orders()) == 1
    assert (await rig.status(buy))["status"] == "unknown"
    async with running(rig):
        await eventually(lambda: _status_is(rig, buy, "filled"))
    assert len(rig.sim_orders()) == 1


async def test_unknown_order_without_trace_is_rejected_and_never_sent(rig: Rig) -> None:
    lost = order(Side.BUY, 1, age_s=300).evolve(status=OrderStatus.UNKNOWN)
    await recorded_intent(rig, lost)
    await rig.gateway.reconcile_open()
    row = await rig.status(lost)
    assert (row["status"], row["reason"]) == ("rejected", "not_placed")
    assert rig.sim_orders() == []


async def test_after_a_restart_an_order_that_never_left_is_sent_once(
    rig: Rig, sim: SimServer, sql: SqlStore, bus: Bus, tmp_path: Path, make_broker
) -> None:
    # The intent was recorded, then the process died before the call.
    crashed = order(Side.BUY, 4, ticker="005380", age_s=120).evolve(status=OrderStatus.SUBMITTED)
    await recorded_intent(rig, crashed)
    await rig.gateway.reconcile_open()
    assert len(rig.sim_orders()) == 1
    later = make_rig(sim, sql, bus, tmp_path / "later", make_broker(), "local")
    await later.gateway.reconcile_open()
    await later.post(crashed, redelivered=True)
    assert len(rig.sim_orders()) == 1
    assert (await rig.status(crashed))["status"] == "filled"


async def test_a_submitted_order_kis_has_not_listed_is_sent_only_after_the_settle_window(
    sim: SimServer, sql: SqlStore, bus: Bus, tmp_path: Path, make_broker
) -> None:
    r = make_rig(sim, sql, bus, tmp_path, make_broker(unknown_settle_s=1), "local")
    crashed = order(Side.BUY, 2, ticker="005380").evolve(status=OrderStatus.SUBMITTED)
    await recorded_intent(r, crashed)
    await r.gateway.reconcile_open()
    assert r.sim_orders() == []  # KIS's daily list may lag: absence is not proof yet
    assert (await r.status(crashed))["status"] == "submitted"
    async with running(r):
        await eventually(lambda: _status_is(r, crashed, "filled"))
    assert len(r.sim_orders()) == 1
    r.recorder.journal.close()


async def test_an_order_decided_too_long_ago_is_never_sent(rig: Rig) -> None:
    # The gateway was down for an hour while the engine decided: its backlog trades no more.
    late = order(Side.BUY, 2, ticker="035720", age_s=3600)
    await rig.post(late)
    row = await rig.status(late)
    assert (row["status"], row["reason"]) == ("rejected", "stale_order")
    # A crash left one at "submitted" long ago and KIS has no trace: not resent either.
    crashed = order(Side.BUY, 3, ticker="005380", age_s=900).evolve(status=OrderStatus.SUBMITTED)
    await recorded_intent(rig, crashed)
    await rig.gateway.reconcile_open()
    row = await rig.status(crashed)
    assert (row["status"], row["reason"]) == ("rejected", "stale_order")
    assert rig.sim_orders() == []
    # Within the limit, it goes.
    fresh = order(Side.BUY, 1, ticker="035720", age_s=60)
    await rig.post(fresh)
    assert len(rig.sim_orders()) == 1


async def test_a_redelivered_order_is_asked_about_not_sent_again(rig: Rig) -> None:
    buy = order(Side.BUY, 1)
    await rig.post(buy)
    await rig.post(buy, redelivered=True)
    fresh = Gateway(
        recorder=rig.recorder,
        bus=rig.bus,
        broker=rig.brokers,
        book=rig.book,
        kill_switch=build_kill_switch(rig.store, None),
        clock=SystemClock(),
    )
    await fresh.handle_order(Entry(ORDERS, "0-2", order_to_message(buy), True, PlaceOrder(buy)))
    assert len(rig.sim_orders()) == 1


async def test_another_workers_order_is_followed_never_sent_here(
    sim: SimServer, sql: SqlStore, bus: Bus, tmp_path: Path, make_broker
) -> None:
    blue = make_rig(sim, sql, bus, tmp_path, make_broker(), "blue")
    theirs = order(Side.BUY, 1, age_s=300).evolve(
        status=OrderStatus.SUBMITTED, signal_key="green-signal"
    )
    await _signal(sql, "green-signal", "green")
    await blue.recorder.write(InsertOrder(theirs))
    await blue.gateway.reconcile_open()
    assert blue.sim_orders() == []
    assert theirs.client_order_id in blue.gateway.open_orders
    blue.recorder.journal.close()


async def test_an_intent_whose_signal_this_worker_recorded_is_still_not_its_own(
    sim: SimServer, sql: SqlStore, bus: Bus, tmp_path: Path, make_broker
) -> None:
    # After an outage both journals reached the database: the signal row names blue (its copy
    # of the alert was replayed first), but green's gateway sent the order. Blue, restarted,
    # follows the order at KIS and never sends it (it holds no send claim for it).
    blue = make_rig(sim, sql, bus, tmp_path, make_broker(unknown_settle_s=0), "blue")
    greens = order(Side.BUY, 1, age_s=30).evolve(
        status=OrderStatus.SUBMITTED, signal_key="both-signal"
    )
    await _signal(sql, "both-signal", "blue")
    await blue.recorder.write(InsertOrder(greens))
    await blue.gateway.reconcile_open()
    await blue.post(greens, redelivered=True)
    assert blue.sim_orders() == []
    assert (await blue.status(greens))["status"] == "submitted"
    blue.recorder.journal.close()


async def test_unreachable_broker_means_not_sent_then_rejected(
    sim: SimServer, sql: SqlStore, bus: Bus, tmp_path: Path, make_broker
) -> None:
    dead = make_broker(f"http://127.0.0.1:{free_port()}")
    r = make_rig(sim, sql, bus, tmp_path, dead, "local")
    buy = order(Side.BUY, 1)
    await r.post(buy)
    row = await r.status(buy)
    assert (row["status"], row["reason"]) == ("rejected", "broker_unavailable")
    r.recorder.journal.close()


async def test_an_order_for_an_account_not_configured_is_rejected(rig: Rig) -> None:
    stray = order(Side.BUY, 1, account="nobody")
    await rig.post(stray)
    row = await rig.status(stray)
    assert (row["status"], row["reason"]) == ("rejected", "unknown_account")
    assert rig.sim_orders() == []


async def test_sync_removes_what_the_broker_no_longer_reports_and_keeps_the_strategy(
    rig: Rig, sql: SqlStore
) -> None:
    now = datetime.now(UTC)
    async with sql.engine.begin() as conn:
        await conn.execute(
            insert(tables.positions),
            [
                {
                    "account": "main",
                    "market": "KR",
                    "ticker": "005930",
                    "quantity": 1,
                    "avg_price": 1,
                    "currency": "KRW",
                    "strategy": "breakout",
                    "updated_at": now,
                },
                {
                    "account": "main",
                    "market": "KR",
                    "ticker": "000660",
                    "quantity": 9,
                    "avg_price": 1,
                    "currency": "KRW",
                    "strategy": "old",
                    "updated_at": now,
                },
            ],
        )
        await conn.execute(
            insert(tables.cash_balances),
            [{"account": "main", "currency": "USD", "cash": 5, "updated_at": now}],
        )
    exchange = rig.sim.sim.exchange
    exchange.set_position((CANO, "01"), "KR", "005930", Decimal(7), Decimal(70000))
    exchange.set_position((CANO, "01"), "US", "AAPL", Decimal(2), Decimal("180.5"))
    exchange.accounts[(CANO, "01")].cash["USD"] = Decimal(0)
    await rig.sync.sync("main")
    assert await positions(rig) == {
        "005930": (Decimal(7), "breakout"),  # the opening strategy survives the sync
        "AAPL": (Decimal(2), None),  # not opened by any of our orders
    }
    assert await cash(rig) == {"KRW": Decimal(100_000_000)}  # USD went to zero: cleared


async def test_periodic_sync_belongs_to_the_active_worker(rig: Rig, sql: SqlStore) -> None:
    local = AccountSync(
        clock=SystemClock(),
        broker=rig.brokers,
        book=rig.book,
        role=ActiveRole(DeploymentRoles(sql), "local"),
        accounts=["main"],
    )
    assert await local.is_active()  # no deployment row: a single local worker is active
    await DeploymentRoles(sql).set_active("green", "test", datetime.now(UTC))
    for worker, active in (("blue", False), ("green", True), ("local", False)):
        s = AccountSync(
            clock=SystemClock(),
            broker=rig.brokers,
            book=rig.book,
            role=ActiveRole(DeploymentRoles(sql), worker),
            accounts=["main"],
        )
        assert await s.is_active() is active
    green = AccountSync(
        clock=SystemClock(),
        broker=rig.brokers,
        book=rig.book,
        role=ActiveRole(DeploymentRoles(sql), "green"),
        accounts=["main"],
        interval_s=3600,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(green.run(stop))
    await eventually(lambda: green.synced == 1)
    stop.set()
    await task
    assert await cash(rig) == {"KRW": Decimal(100_000_000), "USD": Decimal(100_000)}


async def _signal(store: SqlStore, key: str, worker: str) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    async with store.engine.begin() as conn:
        await conn.execute(
            insert(tables.signals).values(
                signal_key=key,
                worker=worker,
                status="ordered",
                status_rank=1,
                received_at=now,
                updated_at=now,
            )
        )


async def _status_is(r: Rig, o: Order, status: str) -> bool:
    return (await r.status(o))["status"] == status


async def _has_position(r: Rig, ticker: str) -> bool:
    return ticker in await positions(r)


async def _position_is(r: Rig, ticker: str, quantity: Decimal) -> bool:
    held = (await positions(r)).get(ticker)
    return held is not None and held[0] == quantity
