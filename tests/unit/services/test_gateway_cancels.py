"""Cancels and cancel-replace in the gateway, on fakes: the broker's answers the paper venue
cannot give (a refused cancel, one never sent, one never answered), and partial fills racing
a cancel."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.support import eventually
from tests.unit.services.test_gateway import NOW, Rig, order
from yquant.domain.model import Order, OrderStatus, OrderType, Side
from yquant.domain.reasons import ReasonCode
from yquant.domain.writes import AdvanceOrder, InsertOrder
from yquant.ports import EXECUTIONS
from yquant.services.gateway import Gateway


def resting(
    cid: str = "yq-1", side: Side = Side.BUY, quantity: int = 10, **changes: object
) -> Order:
    return order(cid, order_type=OrderType.LIMIT).evolve(
        side=side, quantity=Decimal(quantity), **changes
    )


async def test_a_refused_cancel_leaves_the_order_working_with_the_reason() -> None:
    rig = Rig()
    buy = resting()
    await rig.post(buy)
    rig.broker.cancel_mode = "refuse"
    answer = await rig.gateway.cancel("yq-1", request_id="r1")
    assert answer is not None
    assert (answer.done, answer.status, answer.reason) == (
        False,
        OrderStatus.ACCEPTED,
        ReasonCode.MARKET_CLOSED,
    )
    row = rig.recorder.tables["orders"]["yq-1"]
    assert (row["status"], row["reason"]) == ("accepted", "market_closed")
    steps = [r["status"] for op, r in rig.recorder.writes if op == "order.advance"]
    assert steps[-2:] == ["cancel_requested", "accepted"]
    assert rig.bus.answers["r1"] == answer
    assert "yq-1" in rig.gateway.open_orders  # still followed


async def test_a_cancel_that_could_not_be_sent_leaves_the_order_working() -> None:
    rig = Rig()
    await rig.post(resting())
    rig.broker.cancel_mode = "unavailable"
    answer = await rig.gateway.cancel("yq-1")
    assert answer is not None and answer.reason == ReasonCode.BROKER_UNAVAILABLE
    assert rig.status(resting()) == "accepted"


async def test_a_cancel_without_an_answer_is_followed_and_answered_when_the_order_ends() -> None:
    rig = Rig()
    buy = resting()
    await rig.post(buy)
    rig.broker.cancel_mode = "silent"
    assert await rig.gateway.cancel("yq-1", request_id="r1") is None
    assert await rig.gateway.cancel("yq-1", request_id="r2") is None  # asked again: harmless
    assert rig.status(buy) == "cancel_requested"
    assert rig.bus.answers == {}
    # The broker acts on the cancel after all; tracking finds the order ended.
    rig.broker.cancel_mode = "cancel"
    await rig.broker.cancel(buy)
    stop = asyncio.Event()
    task = asyncio.create_task(rig.gateway.track(stop))
    await eventually(lambda: len(rig.bus.answers) == 2)
    stop.set()
    await task
    assert {a.request_id: (a.done, a.status) for a in rig.bus.answers.values()} == {
        "r1": (True, OrderStatus.CANCELLED),
        "r2": (True, OrderStatus.CANCELLED),
    }
    assert rig.gateway.open_orders == {}


async def test_a_cancel_awaited_and_then_refused_is_answered_with_the_refusal() -> None:
    rig = Rig()
    await rig.post(resting())
    rig.broker.cancel_mode = "silent"
    assert await rig.gateway.cancel("yq-1", request_id="r1") is None
    rig.broker.cancel_mode = "refuse"
    await rig.gateway.cancel("yq-1", request_id="r2")
    assert {a.request_id: (a.done, a.status, a.reason) for a in rig.bus.answers.values()} == {
        "r1": (False, OrderStatus.ACCEPTED, ReasonCode.MARKET_CLOSED),
        "r2": (False, OrderStatus.ACCEPTED, ReasonCode.MARKET_CLOSED),
    }


async def test_a_cancel_recorded_but_never_sent_is_sent_at_the_next_start() -> None:
    rig = Rig()
    buy = resting()
    await rig.post(buy)
    # The process died between recording the request and asking the broker.
    requested = buy.evolve(status=OrderStatus.ACCEPTED, broker_order_id="b-1").cancel_requested(
        ReasonCode.TTL_EXPIRED, NOW
    )
    await rig.recorder.write(AdvanceOrder(requested))
    restarted = Gateway(
        recorder=rig.recorder,
        bus=rig.bus,
        broker=rig.broker,
        book=rig.book,
        kill_switch=rig.kill,
        clock=rig.clock,
    )
    await restarted.reconcile_open()
    assert rig.broker.cancelled == ["yq-1"]
    row = rig.recorder.tables["orders"]["yq-1"]
    assert (row["status"], row["reason"]) == ("cancelled", "ttl_expired")


async def test_fills_during_the_cancel_are_recorded_and_the_order_ends_partly_filled() -> None:
    rig = Rig()
    buy = resting()
    await rig.post(buy)
    rig.broker.fill("yq-1", Decimal(4), Decimal(69000), NOW)
    answer = await rig.gateway.cancel("yq-1")
    assert answer is not None
    assert (answer.done, answer.status, answer.filled_quantity) == (
        True,
        OrderStatus.CANCELLED,
        Decimal(4),
    )
    row = rig.recorder.tables["orders"]["yq-1"]
    assert (row["status"], row["filled_quantity"], row["reason"]) == ("cancelled", 4, "cancelled")
    assert [m["quantity"] for m in rig.bus.messages(EXECUTIONS)] == ["4"]


async def test_an_order_not_sent_yet_is_withdrawn_and_never_sent() -> None:
    rig = Rig()
    new = order()
    await rig.recorder.write(InsertOrder(new))
    answer = await rig.gateway.cancel("yq-1")
    assert answer is not None and (answer.done, answer.status) == (True, OrderStatus.CANCELLED)
    await rig.post(new)  # the engine's entry arrives afterwards
    assert rig.broker.submitted == []
    assert rig.status(new) == "cancelled"


async def test_an_order_the_broker_has_not_confirmed_is_not_cancelled_nor_sent() -> None:
    rig = Rig()
    sent = order().evolve(status=OrderStatus.SUBMITTED)
    await rig.recorder.write(InsertOrder(sent))
    answer = await rig.gateway.cancel("yq-1")
    assert answer is not None
    assert (answer.done, answer.reason) == (False, ReasonCode.NOT_ACKNOWLEDGED)
    assert rig.broker.submitted == [] and rig.broker.cancelled == []


async def test_a_time_limit_cancel_the_broker_refuses_is_not_asked_again_and_again() -> None:
    rig = Rig(limit_ttl_s={"default": 60})
    await rig.post(resting())
    rig.clock.advance(seconds=61)
    rig.broker.cancel_mode = "unavailable"  # never reached the broker: asked again
    assert await rig.gateway.expire_limits() == 1
    assert await rig.gateway.expire_limits() == 1
    rig.broker.cancel_mode = "refuse"  # refused: not every few seconds
    assert await rig.gateway.expire_limits() == 1
    assert await rig.gateway.expire_limits() == 0
    assert rig.status(resting()) == "accepted"
    assert rig.broker.cancelled == ["yq-1"] * 3


# ---- cancel-replace --------------------------------------------------------------------------


async def test_a_replacement_is_not_sent_while_the_old_order_has_not_ended() -> None:
    rig = Rig(replace_wait_s=0.2)
    old = resting("yq-old", Side.SELL)
    await rig.post(old)
    rig.broker.cancel_mode = "silent"
    new = order("yq-new").evolve(side=Side.SELL, quantity=Decimal(10), replaces="yq-old")
    await rig.post(new)
    row = rig.recorder.tables["orders"]["yq-new"]
    assert (row["status"], row["reason"]) == ("rejected", "replace_timeout")
    assert [o.client_order_id for o in rig.broker.submitted] == ["yq-old"]  # never two working
    assert rig.status(old) == "cancel_requested"


async def test_a_replacement_is_not_sent_when_the_old_orders_cancel_is_refused() -> None:
    rig = Rig()
    old = resting("yq-old", Side.SELL)
    await rig.post(old)
    rig.broker.cancel_mode = "refuse"
    new = order("yq-new").evolve(side=Side.SELL, quantity=Decimal(10), replaces="yq-old")
    await rig.post(new)
    row = rig.recorder.tables["orders"]["yq-new"]
    assert (row["status"], row["reason"]) == ("rejected", "cancel_refused")
    assert rig.status(old) == "accepted"


async def test_a_replacement_is_smaller_by_what_the_old_order_filled_since_the_decision() -> None:
    rig = Rig()
    old = resting("yq-old", Side.SELL)
    await rig.post(old)
    # 3 filled and recorded before the decision: the position the new order was sized from
    # already lacks them.
    rig.broker.fill("yq-old", Decimal(3), Decimal(70000), NOW)
    await rig.post(old)  # followed: the fill recorded
    rig.clock.advance(seconds=1)
    new = order("yq-new", at=rig.clock.now()).evolve(
        side=Side.SELL, quantity=Decimal(7), replaces="yq-old"
    )
    await rig.recorder.write(InsertOrder(new))
    # 2 more fill after the decision, before the gateway takes the new order.
    rig.clock.advance(seconds=1)
    rig.broker.fill("yq-old", Decimal(2), Decimal(70100), rig.clock.now())
    # The process died around the new order's send: its claim is taken, the broker has no
    # trace, so it is sent once more, still made smaller.
    rig.bus.claims["yq:gw:sent:yq-new"] = "local"
    await rig.post(new)
    old_row = rig.recorder.tables["orders"]["yq-old"]
    assert (old_row["status"], old_row["filled_quantity"]) == ("cancelled", 5)
    assert [(o.client_order_id, o.quantity) for o in rig.broker.submitted] == [
        ("yq-old", Decimal(10)),
        ("yq-new", Decimal(5)),
    ]
    row = rig.recorder.tables["orders"]["yq-new"]
    assert (row["status"], row["quantity"], row["reason"]) == (
        "filled",
        5,
        "replaced_order_filled",
    )


async def test_a_fill_recorded_after_the_decision_counts_whatever_time_the_broker_gives_it() -> (
    None
):
    rig = Rig()
    old = resting("yq-old", Side.SELL)
    await rig.post(old)
    rig.broker.fill("yq-old", Decimal(10), Decimal(70000), NOW)  # dated before the decision
    rig.clock.advance(seconds=1)
    new = order("yq-new", at=rig.clock.now()).evolve(
        side=Side.SELL, quantity=Decimal(10), replaces="yq-old"
    )
    await rig.recorder.write(InsertOrder(new))
    rig.clock.advance(seconds=1)
    await rig.post(old)  # tracking records the fill only now, after the decision
    assert rig.status(old) == "filled"
    await rig.post(new)
    row = rig.recorder.tables["orders"]["yq-new"]
    assert (row["status"], row["reason"]) == ("rejected", "replaced_order_filled")
    assert [o.client_order_id for o in rig.broker.submitted] == ["yq-old"]


async def test_a_replacement_for_an_order_already_ended_is_sent_whole() -> None:
    rig = Rig()
    old = resting("yq-old", Side.SELL)
    await rig.post(old)
    await rig.gateway.cancel("yq-old")
    new = order("yq-new").evolve(side=Side.SELL, quantity=Decimal(10), replaces="yq-old")
    await rig.post(new)
    assert [(o.client_order_id, o.quantity) for o in rig.broker.submitted][-1] == (
        "yq-new",
        Decimal(10),
    )
