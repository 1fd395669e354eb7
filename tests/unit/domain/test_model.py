"""The order state machine (one rule: `can_transition`, applied by `Order.apply` to a broker's
report) and deterministic client order ids."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.support import krx_order
from yquant.domain.model import (
    FINAL_STATUSES,
    STATUS_RANK,
    BrokerOrder,
    Fill,
    Order,
    OrderStatus,
    Side,
    can_transition,
    client_order_id,
)
from yquant.domain.reasons import ReasonCode

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
CID = "yq-model-1"


def order(status: OrderStatus = OrderStatus.NEW, **changes: object) -> Order:
    return krx_order(CID, T0, quantity=Decimal(10), status=status, **changes)


def report(
    status: OrderStatus,
    filled: str = "0",
    avg: str | None = None,
    broker_id: str | None = "B1",
    reason: str | None = None,
    fills: tuple[Fill, ...] = (),
) -> BrokerOrder:
    price = Decimal(avg) if avg is not None else None
    return BrokerOrder(CID, status, Decimal(filled), price, broker_id, reason, fills)


def test_happy_path_is_allowed() -> None:
    path = [
        OrderStatus.NEW,
        OrderStatus.SUBMITTED,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path))


def test_final_states_are_never_left() -> None:
    for final in FINAL_STATUSES:
        for other in OrderStatus:
            assert can_transition(final, other) == (other == final)


def test_a_timeout_leads_to_unknown_which_only_the_broker_resolves() -> None:
    assert can_transition(OrderStatus.SUBMITTED, OrderStatus.UNKNOWN)
    assert can_transition(OrderStatus.UNKNOWN, OrderStatus.FILLED)
    # The broker has no trace of it: it was never placed, and may be sent.
    assert can_transition(OrderStatus.UNKNOWN, OrderStatus.NEW)
    # Once acknowledged, an order whose cancel has an unknown outcome keeps its last state.
    assert not can_transition(OrderStatus.ACCEPTED, OrderStatus.UNKNOWN)
    assert not can_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN)


def test_an_order_never_moves_back() -> None:
    assert not can_transition(OrderStatus.SUBMITTED, OrderStatus.NEW)
    assert not can_transition(OrderStatus.ACCEPTED, OrderStatus.SUBMITTED)
    assert not can_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.ACCEPTED)


def test_a_new_order_found_at_the_broker_moves_straight_on() -> None:
    # Sent by a worker that died before recording it as submitted: the broker's word holds.
    for later in (OrderStatus.ACCEPTED, OrderStatus.FILLED, OrderStatus.CANCELLED):
        assert can_transition(OrderStatus.NEW, later)


def test_the_rule_is_the_stored_rank_outside_unknown_and_final_states() -> None:
    working_again = {OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED}
    held = OrderStatus.AWAITING_APPROVAL
    moving = [s for s in OrderStatus if not s.is_final and s not in (OrderStatus.UNKNOWN, held)]
    for a in moving:
        for b in OrderStatus:
            if b is held:
                assert not can_transition(a, b), (a, b)
                continue
            back = a is OrderStatus.CANCEL_REQUESTED and b in working_again
            assert can_transition(a, b) == (back or STATUS_RANK[b] >= STATUS_RANK[a]), (a, b)
    assert all(order(s).status_rank == STATUS_RANK[s] for s in OrderStatus)


def test_the_stored_ranks_are_never_renumbered() -> None:
    assert {s.value: r for s, r in STATUS_RANK.items()} == {
        "awaiting_approval": -1,
        "new": 0,
        "submitted": 1,
        "unknown": 2,
        "accepted": 3,
        "partially_filled": 4,
        "cancel_requested": 5,
        "filled": 9,
        "rejected": 9,
        "cancelled": 9,
        "expired": 9,
    }


def test_an_awaiting_order_is_left_only_by_a_decision_and_never_entered() -> None:
    held = OrderStatus.AWAITING_APPROVAL
    assert {s for s in OrderStatus if can_transition(held, s)} == {
        held,
        OrderStatus.NEW,
        OrderStatus.REJECTED,
    }
    assert [s for s in OrderStatus if s is not held and can_transition(s, held)] == []
    waiting = order(OrderStatus.NEW).awaiting_approval()
    assert waiting.status is held
    approved = waiting.approval_decided(None, T0)
    assert (approved.status, approved.reason) == (OrderStatus.NEW, "approved")
    refused = waiting.approval_decided(ReasonCode.PRICE_MOVED, T0)
    assert (refused.status, refused.reason) == (OrderStatus.REJECTED, "price_moved")
    # A broker's report never reaches an order nobody sent; were one applied, it changes nothing.
    assert waiting.apply(report(OrderStatus.ACCEPTED)).status is held
    with pytest.raises(ValueError, match="not awaiting approval"):
        approved.approval_decided(None, T0)
    with pytest.raises(ValueError, match="cannot wait for approval"):
        order(OrderStatus.SUBMITTED).awaiting_approval()


# ---- cancels --------------------------------------------------------------------------------


def test_a_cancel_is_requested_after_acceptance_and_ends_cancelled_or_filled() -> None:
    assert can_transition(OrderStatus.ACCEPTED, OrderStatus.CANCEL_REQUESTED)
    assert can_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCEL_REQUESTED)
    for end in (OrderStatus.CANCELLED, OrderStatus.FILLED, OrderStatus.EXPIRED):
        assert can_transition(OrderStatus.CANCEL_REQUESTED, end)
    requested = order(OrderStatus.ACCEPTED).cancel_requested(ReasonCode.TTL_EXPIRED, T0)
    assert (requested.status, requested.reason) == (OrderStatus.CANCEL_REQUESTED, "ttl_expired")
    with pytest.raises(ValueError, match="cannot be cancelled"):
        order(OrderStatus.SUBMITTED).cancel_requested(ReasonCode.TTL_EXPIRED, T0)


def test_fills_arriving_after_the_cancel_request_grow_the_quantity_and_keep_the_status() -> None:
    requested = order(OrderStatus.ACCEPTED).cancel_requested(ReasonCode.CANCELLED_BY_OPERATOR, T0)
    # A lagging inquiry still shows the order working: the cancel stays requested.
    assert requested.apply(report(OrderStatus.ACCEPTED)).status is OrderStatus.CANCEL_REQUESTED
    part = requested.apply(report(OrderStatus.PARTIALLY_FILLED, "4", "70000"))
    assert (part.status, part.filled_quantity) == (OrderStatus.CANCEL_REQUESTED, Decimal(4))
    ended = part.apply(report(OrderStatus.CANCELLED, "4", "70000"))
    assert (ended.status, ended.filled_quantity, ended.reason) == (
        OrderStatus.CANCELLED,
        Decimal(4),
        "cancelled",
    )


def test_a_fill_that_wins_the_race_leaves_no_cancel_reason() -> None:
    requested = order(OrderStatus.ACCEPTED).cancel_requested(ReasonCode.TTL_EXPIRED, T0)
    filled = requested.apply(report(OrderStatus.FILLED, "10", "70000"))
    assert (filled.status, filled.reason) == (OrderStatus.FILLED, None)


def test_a_refused_cancel_takes_the_order_back_to_working() -> None:
    requested = order(OrderStatus.PARTIALLY_FILLED, filled_quantity=Decimal(3)).cancel_requested(
        ReasonCode.CANCELLED_BY_OPERATOR, T0
    )
    back = requested.cancel_refused(ReasonCode.CANCEL_REFUSED, T0)
    assert (back.status, back.reason) == (OrderStatus.PARTIALLY_FILLED, "cancel_refused")
    assert order(OrderStatus.ACCEPTED).cancel_refused(ReasonCode.CANCEL_REFUSED, T0).status is (
        OrderStatus.ACCEPTED
    )
    fresh = order(OrderStatus.ACCEPTED).cancel_requested(ReasonCode.REPLACED, T0)
    assert fresh.cancel_refused(ReasonCode.MARKET_CLOSED, T0).status is OrderStatus.ACCEPTED


# ---- Order.apply ----------------------------------------------------------------------------


def test_apply_moves_an_order_forward_and_takes_what_the_broker_knows() -> None:
    sent = order(OrderStatus.SUBMITTED)
    accepted = sent.apply(report(OrderStatus.ACCEPTED, broker_id="KIS-7"))
    assert (accepted.status, accepted.broker_order_id) == (OrderStatus.ACCEPTED, "KIS-7")
    part = accepted.apply(report(OrderStatus.PARTIALLY_FILLED, "4", "70000", broker_id=None))
    assert (part.status, part.filled_quantity, part.avg_fill_price) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal(4),
        Decimal(70000),
    )
    assert part.broker_order_id == "KIS-7"  # kept where the report has none
    done = part.apply(report(OrderStatus.FILLED, "10", "70100"))
    assert (done.status, done.filled_quantity, done.avg_fill_price) == (
        OrderStatus.FILLED,
        Decimal(10),
        Decimal(70100),
    )
    # Everything but what the broker reports is the order's own; updated_at is the caller's.
    assert done.evolve(
        status=sent.status,
        filled_quantity=sent.filled_quantity,
        avg_fill_price=None,
        broker_order_id=None,
    ) == sent.evolve(broker_order_id=None)
    assert done.updated_at == sent.updated_at
    assert sent.status is OrderStatus.SUBMITTED  # a value: apply returns a new order


def test_apply_refuses_to_move_an_order_back_but_keeps_the_news() -> None:
    accepted = order(OrderStatus.ACCEPTED, broker_order_id=None)
    late = accepted.apply(report(OrderStatus.SUBMITTED, broker_id="KIS-9"))
    assert late.status is OrderStatus.ACCEPTED
    assert late.broker_order_id == "KIS-9"
    assert order(OrderStatus.SUBMITTED).apply(report(OrderStatus.NEW)).status is (
        OrderStatus.SUBMITTED
    )
    unknown_cancel = order(OrderStatus.PARTIALLY_FILLED, filled_quantity=Decimal(3))
    assert unknown_cancel.apply(report(OrderStatus.UNKNOWN, "3")).status is (
        OrderStatus.PARTIALLY_FILLED
    )


def test_apply_lets_the_broker_resolve_an_unknown_order_either_way() -> None:
    unknown = order(OrderStatus.UNKNOWN)
    assert unknown.apply(report(OrderStatus.NEW, broker_id=None)).status is OrderStatus.NEW
    assert unknown.apply(report(OrderStatus.FILLED, "10", "70000")).status is OrderStatus.FILLED


def test_apply_only_accumulates_fills() -> None:
    part = order(OrderStatus.PARTIALLY_FILLED, filled_quantity=Decimal(6))
    lagging = part.apply(report(OrderStatus.PARTIALLY_FILLED, "4", "69900"))
    assert lagging.filled_quantity == Decimal(6)
    more = part.apply(report(OrderStatus.PARTIALLY_FILLED, "8", "70050"))
    assert (more.filled_quantity, more.avg_fill_price) == (Decimal(8), Decimal(70050))
    # A report without a price keeps the known average.
    assert more.apply(report(OrderStatus.PARTIALLY_FILLED, "8")).avg_fill_price == Decimal(70050)


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_apply_leaves_a_final_order_final(final: OrderStatus) -> None:
    done = order(final, filled_quantity=Decimal(10), reason="first")
    for other in OrderStatus:
        after = done.apply(report(other, "0", reason=None))
        assert after.status is final
        assert after.filled_quantity == Decimal(10)
        assert after.reason == "first"


def test_apply_records_the_reason_of_a_refusal() -> None:
    refused = order(OrderStatus.SUBMITTED).apply(
        report(OrderStatus.REJECTED, broker_id=None, reason=ReasonCode.INSUFFICIENT_CASH)
    )
    assert (refused.status, refused.reason) == (OrderStatus.REJECTED, "insufficient_cash")
    assert refused.side is Side.BUY


def test_client_order_id_is_deterministic_and_fits_the_column() -> None:
    a = client_order_id("sig", "acct")
    assert a == client_order_id("sig", "acct")
    assert a != client_order_id("sig", "acct2")
    assert len(a) <= 32
