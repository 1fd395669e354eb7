"""Foundation sizing: alert quantity or strategy quantity for buys; sells never exceed holdings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from yquant.domain.model import Action, Alert, Market, OrderType, Side, client_order_id
from yquant.domain.sizing import NO_POSITION, NO_QUANTITY, plan_orders

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def alert(action: Action, quantity: Decimal | None = None, **kw) -> Alert:
    return Alert(
        key="k1",
        strategy="s",
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        action=action,
        received_at=NOW,
        quantity=quantity,
        price=Decimal(70000),
        **kw,
    )


def test_buy_uses_the_alert_quantity_on_every_routed_account() -> None:
    plan = plan_orders(alert(Action.BUY, Decimal(5)), ["a", "b"], Decimal(1), {})
    assert [(o.account, o.side, o.quantity) for o in plan.orders] == [
        ("a", Side.BUY, Decimal(5)),
        ("b", Side.BUY, Decimal(5)),
    ]
    assert plan.reason is None
    assert plan.orders[0].client_order_id == client_order_id("k1", "a")
    assert plan.orders[0].client_order_id != plan.orders[1].client_order_id


def test_buy_falls_back_to_the_strategy_quantity() -> None:
    [order] = plan_orders(alert(Action.BUY), ["a"], Decimal(7), {}).orders
    assert order.quantity == Decimal(7)
    assert order.reference_price == Decimal(70000)


def test_buy_without_any_quantity_is_rejected() -> None:
    plan = plan_orders(alert(Action.BUY), ["a"], None, {})
    assert plan.orders == ()
    assert plan.reason == NO_QUANTITY


def test_sell_is_capped_by_shares_held_and_skips_accounts_without_shares() -> None:
    plan = plan_orders(alert(Action.SELL, Decimal(10)), ["a", "b"], None, {"a": Decimal(4)})
    assert [(o.account, o.quantity) for o in plan.orders] == [("a", Decimal(4))]
    assert plan.skipped == (("b", NO_POSITION),)


def test_exit_sells_the_whole_position() -> None:
    [order] = plan_orders(alert(Action.EXIT, Decimal(1)), ["a"], None, {"a": Decimal(9)}).orders
    assert (order.side, order.quantity) == (Side.SELL, Decimal(9))


def test_sell_with_nothing_held_is_rejected() -> None:
    plan = plan_orders(alert(Action.SELL, Decimal(1)), ["a"], None, {"a": Decimal(0)})
    assert plan.reason == NO_POSITION


def test_limit_price_travels_with_limit_orders_only() -> None:
    limit = alert(Action.BUY, Decimal(1), order_type=OrderType.LIMIT, limit_price=Decimal(69000))
    assert plan_orders(limit, ["a"], None, {}).orders[0].limit_price == Decimal(69000)
    market = alert(Action.BUY, Decimal(1), limit_price=Decimal(69000))
    assert plan_orders(market, ["a"], None, {}).orders[0].limit_price is None


@given(
    action=st.sampled_from(list(Action)),
    wanted=st.none() | st.integers(1, 10**6).map(Decimal),
    held=st.integers(-5, 10**6).map(Decimal),
)
def test_quantities_are_positive_and_sells_never_exceed_holdings(
    action: Action, wanted: Decimal | None, held: Decimal
) -> None:
    plan = plan_orders(alert(action, wanted), ["a"], None, {"a": held})
    for order in plan.orders:
        assert order.quantity > 0
        if order.side is Side.SELL:
            assert order.quantity <= held
    assert bool(plan.orders) != bool(plan.reason)
