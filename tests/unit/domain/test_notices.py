"""Notices: ids that make a fact one fact, the routing of each channel, masked accounts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from yquant.domain import notices
from yquant.domain.model import Market, Order, OrderStatus, OrderType, Side
from yquant.domain.notices import (
    Level,
    NoticeKind,
    Route,
    mask_account,
    mask_account_numbers,
    notice,
    order_notice,
    routed,
)

AT = datetime(2026, 12, 4, 6, 30, tzinfo=UTC)


def test_every_kind_has_a_level_and_round_trips() -> None:
    for kind in NoticeKind:
        made = notice(kind, "k", AT, account="main", strategy="s1", ticker="005930", n=3, gone=None)
        assert made.id == f"{kind.value}:k"
        assert made.level == notices.DEFAULT_LEVEL[kind]
        assert made.data == {"ticker": "005930", "n": "3"}
        assert notices.from_dict(notices.to_dict(made)) == made
    with pytest.raises(ValueError, match="timezone"):
        notice(NoticeKind.TEST, "k", datetime(2026, 12, 4))  # noqa: DTZ001 - the refusal tested


def test_routing_by_event_account_strategy_and_level() -> None:
    filled = notice(NoticeKind.ORDER_FILLED, "f1", AT, account="main", strategy="trend")
    other = notice(NoticeKind.ORDER_FILLED, "f2", AT, account="isa", strategy="trend")
    rejected = notice(NoticeKind.ALERT_REJECTED, "a1", AT, strategy="scalp")
    away = notice(NoticeKind.DATABASE_AWAY, "d1", AT)
    routes = {
        "all": Route(),
        "fills-main": Route(
            events=frozenset({NoticeKind.ORDER_FILLED}), accounts=frozenset({"main"})
        ),
        "trend": Route(strategies=frozenset({"trend"})),
        "errors": Route(min_level=Level.ERROR),
    }
    assert routed(filled, routes) == ["all", "fills-main", "trend"]
    assert routed(other, routes) == ["all", "trend"]
    assert routed(rejected, routes) == ["all"]
    # a notice about no account or strategy is not filtered by them
    assert routed(away, routes) == ["all", "errors", "trend"]
    # a test reaches every channel whatever it takes
    assert routed(notice(NoticeKind.TEST, "t", AT), routes) == sorted(routes)


def test_shared_notices_are_those_both_workers_see() -> None:
    assert notice(NoticeKind.KILL_SWITCH_CHANGED, "k", AT).shared
    assert notice(NoticeKind.DAILY_SUMMARY, "k", AT).shared
    assert not notice(NoticeKind.ORDER_FILLED, "k", AT).shared
    assert not notice(NoticeKind.DATABASE_AWAY, "k", AT).shared


def test_account_numbers_are_masked_to_the_product_code() -> None:
    assert mask_account("12345678-01") == "****-01"
    assert mask_account("1234567801") == "****-01"
    assert mask_account_numbers("acct 12345678-01 and 8765432122 ok 005930") == (
        "acct ****-01 and ****-22 ok 005930"
    )


def _order(status: OrderStatus, **changes: object) -> Order:
    base = Order(
        client_order_id="c" * 32,
        signal_key="k",
        account="main",
        strategy="trend",
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal(10),
        limit_price=Decimal("70000.00"),
        reference_price=None,
        status=status,
        filled_quantity=Decimal(0),
        avg_fill_price=None,
        broker_order_id=None,
        reason=None,
        created_at=AT,
        updated_at=AT,
    )
    return base.evolve(**changes) if changes else base


def test_an_orders_steps_make_one_notice_each() -> None:
    sent = order_notice(_order(OrderStatus.ACCEPTED), AT)
    assert sent is not None and sent.kind is NoticeKind.ORDER_SENT
    assert sent.id == f"order_sent:{'c' * 32}:sent"
    assert sent.data["price"] == "70000" and sent.data["quantity"] == "10"
    rejected = order_notice(_order(OrderStatus.REJECTED, reason="insufficient_cash"), AT)
    assert rejected is not None and rejected.data["reason"] == "insufficient_cash"
    for status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
        ended = order_notice(_order(status), AT)
        assert ended is not None and ended.kind is NoticeKind.ORDER_CANCELLED
    # fills are told from the executions stream, one per fill
    for status in (OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.FILLED):
        assert order_notice(_order(status), AT) is None
