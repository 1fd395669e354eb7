"""The gateway on fakes: no database, no Valkey, no broker process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.fakes import (
    FakeAccountBook,
    FakeBroker,
    FakeBus,
    FakeKillSwitch,
    FakeRecorder,
    FakeRoles,
    FixedClock,
    RecordingMetrics,
)
from yquant.adapters.messages import order_to_message
from yquant.domain.commands import PlaceOrder
from yquant.domain.model import BrokerOrder, Market, Order, OrderStatus, OrderType, Side
from yquant.domain.risk import KillState
from yquant.domain.roles import Standing
from yquant.domain.writes import InsertOrder
from yquant.errors import BusUnavailableError, NotActiveError
from yquant.ports import EXECUTIONS, ORDERS, Entry, Holding
from yquant.services.account_sync import AccountSync
from yquant.services.gateway import Gateway
from yquant.services.worker_state import ActiveRole

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


class Rig:
    def __init__(
        self,
        *,
        submit_retry_s: float = 0.0,
        replace_wait_s: float = 10.0,
        limit_ttl_s: dict[str, float] | None = None,
        broker: FakeBroker | None = None,
    ) -> None:
        self.clock = FixedClock(NOW)
        self.recorder, self.bus = FakeRecorder(), FakeBus()
        self.broker = broker or FakeBroker()
        self.kill = FakeKillSwitch()
        self.metrics = RecordingMetrics()
        self.book = FakeAccountBook(self.recorder)
        self.sync = AccountSync(
            broker=self.broker,
            book=self.book,
            role=ActiveRole(FakeRoles(), "local"),
            accounts=["paper"],
            clock=self.clock,
        )
        self.gateway = Gateway(
            recorder=self.recorder,
            bus=self.bus,
            broker=self.broker,
            book=self.book,
            kill_switch=self.kill,
            clock=self.clock,
            sync=self.sync,
            submit_retry_s=submit_retry_s,
            replace_wait_s=replace_wait_s,
            limit_ttl_s=limit_ttl_s,
            metrics=self.metrics,
        )

    async def post(self, order: Order, *, redelivered: bool = False) -> None:
        """What the engine does (record, publish); the gateway takes it from the stream."""
        await self.recorder.write(InsertOrder(order))
        entry = Entry(ORDERS, "0-1", order_to_message(order), redelivered, PlaceOrder(order))
        await self.gateway.handle_order(entry)

    def status(self, order: Order) -> str:
        return str(self.recorder.tables["orders"][order.client_order_id]["status"])


def order(
    cid: str = "yq-1", *, order_type: OrderType = OrderType.MARKET, at: datetime = NOW
) -> Order:
    return Order(
        client_order_id=cid,
        signal_key="s1",
        account="paper",
        strategy="default",
        ticker="005930",
        exchange="KOSPI",
        market=Market.KR,
        side=Side.BUY,
        order_type=order_type,
        quantity=Decimal(2),
        created_at=at,
        updated_at=at,
        limit_price=Decimal(70000) if order_type is OrderType.LIMIT else None,
        reference_price=Decimal(71000),
    )


async def test_an_order_is_sent_once_and_its_fill_recorded_and_published() -> None:
    rig = Rig()
    buy = order()
    await rig.post(buy)
    await rig.post(buy, redelivered=True)
    assert [o.client_order_id for o in rig.broker.submitted] == ["yq-1"]
    assert rig.status(buy) == "filled"
    [fill] = rig.bus.messages(EXECUTIONS)
    assert (fill["client_order_id"], fill["quantity"]) == ("yq-1", "2")
    assert list(rig.recorder.tables["fills"]) == ["f-yq-1"]
    assert rig.gateway.open_orders == {}
    assert {"type": "order", "cid": "yq-1", "status": "filled"} in rig.bus.events


async def test_the_intent_is_recorded_before_the_broker_is_asked() -> None:
    rig = Rig()
    await rig.post(order())
    statuses = [row["status"] for op, row in rig.recorder.writes if op == "order.advance"]
    assert statuses == ["submitted", "filled"]


async def test_an_order_decided_too_long_ago_is_not_sent() -> None:
    rig = Rig()
    old = order(at=NOW - timedelta(minutes=10))
    await rig.post(old)
    assert rig.broker.submitted == []
    row = rig.recorder.tables["orders"]["yq-1"]
    assert (row["status"], row["reason"]) == ("rejected", "stale_order")


async def test_an_order_awaiting_approval_is_never_sent() -> None:
    rig = Rig()
    held = order().awaiting_approval()
    await rig.post(held)
    # A copy reaching the stream without its row (a database away): not sent either.
    stray = order("yq-2").awaiting_approval()
    entry = Entry(ORDERS, "0-2", order_to_message(stray), False, PlaceOrder(stray))
    await rig.gateway.handle_order(entry)
    assert rig.broker.submitted == []
    assert rig.status(held) == "awaiting_approval"
    assert "yq-2" not in rig.recorder.tables["orders"]


async def test_a_halt_after_the_decision_stops_the_order_at_the_gateway() -> None:
    rig = Rig()
    rig.kill.states["paper"] = KillState.HALTED
    await rig.post(order())
    assert rig.broker.submitted == []
    assert rig.recorder.tables["orders"]["yq-1"]["reason"] == "halted"


async def test_an_order_claimed_before_is_asked_about_and_sent_only_under_the_resend_claim() -> (
    None
):
    rig = Rig()
    rig.bus.claims["yq:gw:sent:yq-1"] = "local"  # a crash around the broker call
    rig.bus.claims["yq:gw:resent:yq-1"] = "local"  # and around its one resend
    buy = order()
    await rig.post(buy)
    assert rig.broker.submitted == []  # asked about: no trace, and its resend is taken
    assert rig.status(buy) == "submitted"
    del rig.bus.claims["yq:gw:resent:yq-1"]
    await rig.gateway.handle_order(
        Entry(ORDERS, "0-2", order_to_message(buy), True, PlaceOrder(buy))
    )
    await rig.gateway.handle_order(
        Entry(ORDERS, "0-3", order_to_message(buy), True, PlaceOrder(buy))
    )
    assert [o.client_order_id for o in rig.broker.submitted] == ["yq-1"]
    assert rig.status(buy) == "filled"


async def test_without_the_bus_the_send_claim_cannot_be_taken_and_the_order_waits() -> None:
    rig = Rig()
    rig.bus.up = False
    with pytest.raises(BusUnavailableError):
        await rig.post(order())
    assert rig.broker.submitted == []


async def test_a_broker_away_past_the_retry_window_rejects_without_sending() -> None:
    rig = Rig(submit_retry_s=0.0)
    rig.broker.unavailable = 5
    await rig.post(order())
    assert rig.broker.submitted == []
    assert rig.recorder.tables["orders"]["yq-1"]["reason"] == "broker_unavailable"


async def test_a_resting_limit_order_is_followed_and_an_account_sync_is_asked_after_a_fill() -> (
    None
):
    rig = Rig()
    limit = order(order_type=OrderType.LIMIT)
    await rig.post(limit)
    assert rig.status(limit) == "accepted"
    assert list(rig.gateway.open_orders) == ["yq-1"]
    rig.broker.holdings_by_account["paper"] = [
        Holding("paper", "005930", Market.KR, Decimal(2), Decimal(70000))
    ]
    await rig.sync.sync("paper")
    assert rig.book.positions["paper"][0].quantity == 2
    assert rig.book.cash["paper"]["KRW"] == Decimal(100_000_000)


async def test_in_flight_orders_are_reconciled_at_start() -> None:
    rig = Rig()
    buy = order()
    # A previous life took the send (its claim), recorded the intent, placed the order and died
    # before recording the answer.
    assert await rig.bus.claim_send("yq:gw:sent:yq-1", "local", 60)
    await rig.broker.submit(buy)
    submitted = buy.evolve(status=OrderStatus.SUBMITTED)
    await rig.recorder.write(InsertOrder(submitted))
    await rig.gateway.reconcile_open()
    assert rig.status(buy) == "filled"
    assert len(rig.broker.submitted) == 1


async def test_an_intent_this_worker_never_recorded_is_never_sent_from_here() -> None:
    # Another worker took the order (its send claim is in its own Valkey) and recorded the
    # intent; its broker is its own paper ledger: nothing here asks this ledger about it, and
    # nothing sends it, at start or when the order comes by again.
    rig = Rig()
    other = order().evolve(status=OrderStatus.SUBMITTED)
    await rig.recorder.write(InsertOrder(other))
    await rig.gateway.reconcile_open()
    entry = Entry(ORDERS, "0-1", order_to_message(order()), True, PlaceOrder(order()))
    await rig.gateway.handle_order(entry)
    assert rig.broker.submitted == []
    assert rig.gateway.open_orders == {}
    assert rig.status(other) == "submitted"


async def test_another_workers_order_on_a_shared_broker_is_followed_never_sent() -> None:
    rig = Rig()
    rig.gateway = Gateway(
        recorder=rig.recorder,
        bus=rig.bus,
        broker=rig.broker,
        book=rig.book,
        kill_switch=rig.kill,
        clock=rig.clock,
        shared_accounts=["paper"],  # as a KIS account is: every worker asks the same broker
    )
    placed = order()
    await rig.broker.submit(placed)  # by the other worker
    await rig.recorder.write(InsertOrder(placed.evolve(status=OrderStatus.SUBMITTED)))
    lost = order("yq-2").evolve(status=OrderStatus.SUBMITTED)  # its intent, never placed
    await rig.recorder.write(InsertOrder(lost))
    await rig.gateway.reconcile_open()
    assert rig.status(placed) == "filled"
    assert rig.status(lost) == "submitted"
    assert [o.client_order_id for o in rig.broker.submitted] == ["yq-1"]


async def test_a_worker_that_is_not_active_leaves_orders_in_the_stream() -> None:
    rig = Rig()
    clock = [0.0]
    role = ActiveRole(FakeRoles(), "green", handover_s=5, monotonic=lambda: clock[0])
    role.observe(("blue", 1))
    rig.gateway = Gateway(
        recorder=rig.recorder,
        bus=rig.bus,
        broker=rig.broker,
        book=rig.book,
        kill_switch=rig.kill,
        clock=rig.clock,
        worker="green",
        role=role,
    )
    buy = order()
    for epoch in (("blue", 1), ("green", 2)):  # standby, then taking over
        role.observe(epoch)
        with pytest.raises(NotActiveError):
            await rig.post(buy)
    assert role.standing() is Standing.TAKING_OVER
    assert rig.broker.submitted == []
    assert rig.status(buy) == "new"
    clock[0] += 5  # the handover is over
    await rig.post(buy)
    assert rig.status(buy) == "filled"


async def test_each_answered_send_is_timed_and_a_send_that_never_went_is_not() -> None:
    rig = Rig(submit_retry_s=0.0)
    await rig.post(order("yq-1"))
    [(seconds,)] = rig.metrics.named("send_seconds")
    assert seconds >= 0
    rig.broker.unavailable = 1  # nothing sent, retry time over: rejected without an answer
    await rig.post(order("yq-2"))
    assert rig.status(order("yq-2")) == "rejected"
    assert len(rig.metrics.named("send_seconds")) == 1


class HeldBroker(FakeBroker):
    """Holds the answer to ``held`` until ``release`` is set; calls ``queued`` at once when
    ``keeps_order`` (a broker whose queue keeps the order of its calls)."""

    def __init__(self, held: str, *, keeps_order: bool) -> None:
        super().__init__()
        self.held, self.keeps_order = held, keeps_order
        self.release = asyncio.Event()
        self.reached: list[str] = []

    async def submit(
        self, order: Order, *, queued: Callable[[], None] | None = None
    ) -> BrokerOrder:
        self.reached.append(order.client_order_id)
        if self.keeps_order and queued is not None:
            queued()
        if order.client_order_id == self.held:
            await self.release.wait()
        return await super().submit(order)


@pytest.mark.parametrize("keeps_order", [True, False])
async def test_the_next_order_in_an_instrument_goes_once_the_broker_queued_the_one_before(
    keeps_order: bool,
) -> None:
    """One account's orders in one instrument reach the broker in order: the next waits for
    the one before to be answered, or only to be queued where the broker keeps the order of
    its calls (the paper ledger)."""
    broker = HeldBroker("yq-1", keeps_order=keeps_order)
    rig = Rig(broker=broker)
    first, second = order("yq-1"), order("yq-2")
    for o in (first, second):
        await rig.recorder.write(InsertOrder(o))
    handled = [
        asyncio.ensure_future(
            rig.gateway.handle_order(
                Entry(ORDERS, f"0-{n}", order_to_message(o), False, PlaceOrder(o))
            )
        )
        for n, o in enumerate((first, second), 1)
    ]
    for _ in range(50):
        await asyncio.sleep(0)
    assert broker.reached == (["yq-1", "yq-2"] if keeps_order else ["yq-1"])
    assert not handled[0].done()
    broker.release.set()
    await asyncio.gather(*handled)
    assert broker.reached == ["yq-1", "yq-2"]
    assert rig.status(first) == rig.status(second) == "filled"
