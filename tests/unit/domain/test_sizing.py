"""Sizing policies and the rules no policy may bend; the policy registry."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yquant.domain import sizing
from yquant.domain.model import Action, Alert, Market, Side
from yquant.domain.positions import WorkingOrder
from yquant.domain.reasons import ReasonCode
from yquant.domain.sizing import Intent, Policy, SizingInput, SizingParams
from yquant.errors import ConfigurationError, SignalRejectedError

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def alert(action: Action = Action.BUY, **kw: object) -> Alert:
    fields: dict[str, object] = {"price": Decimal(70000)} | kw
    return Alert(
        key="k1",
        strategy="s",
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        action=action,
        received_at=NOW,
        **fields,  # type: ignore[arg-type]
    )


def inp(
    a: Alert,
    *,
    cash: str = "10000000",
    equity: str = "20000000",
    held: str = "0",
    price: str | None = "70000",
    currency: str = "KRW",
    **params: object,
) -> SizingInput:
    return SizingInput(
        alert=a,
        account="acct",
        currency=currency,
        price=None if price is None else Decimal(price),
        cash=Decimal(cash),
        equity=Decimal(equity),
        held=Decimal(held),
        params=SizingParams(**params),  # type: ignore[arg-type]
    )


def sized(name: str, i: SizingInput) -> sizing.Sized:
    return sizing.size(sizing.BUILTIN[name], i)


def reason(name: str, i: SizingInput) -> str:
    with pytest.raises(SignalRejectedError) as err:
        sized(name, i)
    return err.value.reason


def test_alert_quantity_uses_the_alert_then_the_configured_quantity() -> None:
    assert sized("alert_quantity", inp(alert(quantity=Decimal(5)))).quantity == 5
    assert sized("alert_quantity", inp(alert(), quantity=Decimal(7))).quantity == 7
    assert reason("alert_quantity", inp(alert())) == ReasonCode.NO_QUANTITY


def test_fixed_quantity_ignores_the_alert_quantity() -> None:
    got = sized("fixed_quantity", inp(alert(quantity=Decimal(50)), quantity=Decimal(3)))
    assert (got.side, got.quantity) == (Side.BUY, Decimal(3))


def test_fixed_amount_is_in_the_market_currency() -> None:
    i = inp(alert(), amount={"KRW": Decimal(1_000_000), "USD": Decimal(1_000)})
    assert sized("fixed_amount", i).quantity == 14  # 1,000,000 / 70,000
    us = inp(alert(price=Decimal("189.25")), price="189.25", currency="USD", amount={"KRW": 1})
    assert reason("fixed_amount", us) == ReasonCode.NO_AMOUNT


def test_percent_of_equity() -> None:
    i = inp(alert(), equity="20000000", percent_of_equity=Decimal(10))
    assert sized("percent_of_equity", i).quantity == 28  # 2,000,000 / 70,000


def test_risk_policy_matches_the_reference_worked_example() -> None:
    # equity 1,000,000 USD, risk 2%, stop 5%, max allocation 20%, price 150 -> 1,333 shares
    us = alert(price=Decimal(150))
    i = inp(
        us,
        cash="1000000",
        equity="1000000",
        price="150",
        currency="USD",
        risk_percent=Decimal(2),
        stop_percent=Decimal(5),
        max_allocation_percent=Decimal(20),
    )
    assert sized("risk", i).quantity == 1333


def test_risk_policy_scales_by_strength_and_is_capped_by_cash() -> None:
    params = {"risk_percent": Decimal(2), "stop_percent": Decimal(5)}
    half = inp(alert(strength=Decimal(50)), cash="1000000000", equity="10000000", **params)
    assert sized("risk", half).quantity == 28  # 10M x 0.4 x 0.5 = 2,000,000 / 70,000
    poor = inp(alert(), cash="700000", equity="10000000", **params)
    assert sized("risk", poor).quantity == 10


def test_the_minimum_order_amount_is_compared_in_the_market_currency() -> None:
    us = alert(price=Decimal(10))
    params = {"quantity": Decimal(5), "min_order_amount": {"USD": Decimal(100), "KRW": 10_000}}
    i = inp(us, price="10", currency="USD", cash="100000", **params)
    assert reason("fixed_quantity", i) == ReasonCode.BELOW_MINIMUM  # $50 < $100
    i = inp(alert(), **params)  # 5 x 70,000 KRW >= 10,000 KRW
    assert sized("fixed_quantity", i).quantity == 5


def test_a_buy_without_a_price_is_refused_never_priced_at_one() -> None:
    assert (
        reason("alert_quantity", inp(alert(quantity=Decimal(5)), price=None)) == ReasonCode.NO_PRICE
    )


def test_a_buy_is_capped_by_cash_and_refused_when_nothing_is_affordable() -> None:
    got = sized("alert_quantity", inp(alert(quantity=Decimal(100)), cash="700000"))
    assert (got.quantity, got.notes) == (Decimal(10), ("capped_by_cash",))
    assert reason("alert_quantity", inp(alert(quantity=Decimal(1)), cash="69999")) == (
        ReasonCode.INSUFFICIENT_CASH
    )


def test_the_cash_cap_covers_the_commission_and_a_banded_market_buy() -> None:
    from dataclasses import replace

    from yquant.domain.model import OrderType

    base = inp(alert(quantity=Decimal(100)), cash="700000")
    # 700,000 buys 10 at 70,000, but not with 0.015 % on top.
    assert sized("alert_quantity", replace(base, commission_rate=Decimal("0.00015"))).quantity == 9
    # A market buy held 3 % above its price: 700,000 / 72,100 is 9 shares.
    banded = replace(base, market_buy_margin=Decimal("0.03"))
    assert sized("alert_quantity", banded).quantity == 9
    # A limit buy is held at its limit: the band does not apply.
    limit = replace(
        banded,
        alert=alert(quantity=Decimal(100), order_type=OrderType.LIMIT, limit_price=Decimal(70000)),
    )
    assert sized("alert_quantity", limit).quantity == 10


def test_kis_us_market_buys_are_capped_at_the_band_paper_ones_are_not() -> None:
    from yquant.services import routing
    from yquant.settings import Settings

    kis = {
        "broker": "kis",
        "kis": {
            "environment": "paper",
            "app_key": "k" * 36,
            "app_secret": "s" * 180,
            "account_number": "12345678-01",
        },
    }
    settings = Settings(accounts={"real": kis, "paper": {"broker": "paper"}})
    policies = routing.validate_sizing(settings)
    us = routing.rules_for(settings, "default", "real", "USD", policies)
    kr = routing.rules_for(settings, "default", "real", "KRW", policies)
    paper = routing.rules_for(settings, "default", "paper", "USD", policies)
    assert (us.market_buy_margin, kr.market_buy_margin, paper.market_buy_margin) == (
        Decimal("0.03"),
        Decimal(0),
        Decimal(0),
    )
    assert (us.commission_rate, paper.commission_rate) == (Decimal(0), Decimal("0.00015"))


def test_sells_come_from_holdings_never_from_cash() -> None:
    got = sized("alert_quantity", inp(alert(Action.SELL, quantity=Decimal(10)), held="4"))
    assert (got.side, got.quantity, got.notes) == (Side.SELL, Decimal(4), ("capped_by_holdings",))
    assert reason("alert_quantity", inp(alert(Action.SELL), held="0", cash="1e9")) == (
        ReasonCode.NO_POSITION
    )
    # money-sized policies close the long on a sell
    assert sized("risk", inp(alert(Action.SELL), held="9")).quantity == 9


def test_exit_sells_the_whole_position_whatever_the_policy() -> None:
    for name in ("fixed_quantity", "fixed_amount", "alert_quantity", "target_position"):
        i = inp(alert(Action.EXIT, quantity=Decimal(1)), held="9", quantity=Decimal(2))
        got = sized(name, i)
        assert (got.side, got.quantity) == (Side.SELL, Decimal(9))


def test_target_position_trades_the_difference_and_repairs_a_missed_alert() -> None:
    up = sized("target_position", inp(alert(position_size=Decimal(10)), held="4"))
    assert (up.side, up.quantity) == (Side.BUY, Decimal(6))
    down = sized("target_position", inp(alert(Action.SELL, position_size=Decimal(0)), held="4"))
    assert (down.side, down.quantity) == (Side.SELL, Decimal(4))
    short = sized("target_position", inp(alert(Action.SELL, position_size=Decimal(-5)), held="4"))
    assert (short.side, short.quantity) == (Side.SELL, Decimal(4))  # never short
    assert reason("target_position", inp(alert(position_size=Decimal(4)), held="4")) == (
        ReasonCode.AT_TARGET
    )
    assert reason("target_position", inp(alert(), held="4")) == ReasonCode.NO_TARGET


# ---- the registry --------------------------------------------------------------------------------


def half_of_cash(i: SizingInput) -> Intent:
    """A plugin policy found by dotted path in these tests."""
    assert i.price is not None
    return Intent(Side.BUY, i.cash / 2 / i.price)


def test_a_plugin_policy_is_loaded_from_a_dotted_path() -> None:
    policy = sizing.load_policy("tests.unit.domain.test_sizing:half_of_cash")
    assert sizing.size(policy, inp(alert(), cash="1400000")).quantity == 10
    assert sizing.load_policy("tests.unit.domain.test_sizing.half_of_cash").name.endswith("cash")


def test_validation_names_every_unknown_or_incomplete_policy() -> None:
    with pytest.raises(ConfigurationError) as err:
        sizing.validate(
            [
                ("strategies.a.sizing", "kelly", SizingParams()),
                ("accounts.b.sizing", "fixed_quantity", SizingParams()),
                ("strategies.c.sizing", "no.such.module:fn", SizingParams()),
                ("strategies.d.sizing", "risk", SizingParams(risk_percent=Decimal(1))),
            ]
        )
    message = str(err.value)
    assert "strategies.a.sizing: sizing policy 'kelly' does not exist" in message
    assert "accounts.b.sizing: policy 'fixed_quantity' needs 'quantity'" in message
    assert "no.such.module:fn" in message
    assert "strategies.d.sizing: policy 'risk' needs 'stop_percent'" in message
    assert "fixed_amount" in message  # lists what exists


def test_validation_returns_the_loaded_policies() -> None:
    loaded = sizing.validate([("x", "risk", SizingParams(risk_percent=1, stop_percent=5))])  # type: ignore[arg-type]
    assert isinstance(loaded["risk"], Policy)


# ---- properties ----------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=10**9, places=2)
shares = st.integers(min_value=-5, max_value=10**6).map(Decimal)


@given(
    name=st.sampled_from(sorted(sizing.BUILTIN)),
    action=st.sampled_from(list(Action)),
    cash=money,
    equity=money,
    held=shares,
    price=st.decimals(min_value=Decimal("0.01"), max_value=10**6, places=2),
    wanted=st.none() | st.integers(1, 10**6).map(Decimal),
    target=st.none() | st.integers(-100, 10**6).map(Decimal),
    strength=st.none() | st.integers(-100, 100).map(Decimal),
)
def test_sizes_are_whole_positive_within_cash_and_holdings(
    name: str,
    action: Action,
    cash: Decimal,
    equity: Decimal,
    held: Decimal,
    price: Decimal,
    wanted: Decimal | None,
    target: Decimal | None,
    strength: Decimal | None,
) -> None:
    a = alert(action, quantity=wanted, position_size=target, strength=strength, price=price)
    i = SizingInput(
        alert=a,
        account="acct",
        currency="KRW",
        price=price,
        cash=cash,
        equity=equity,
        held=held,
        params=SizingParams(
            quantity=Decimal(3),
            amount={"KRW": Decimal(1_000_000)},
            percent_of_equity=Decimal(10),
            risk_percent=Decimal(1),
            stop_percent=Decimal(5),
            max_allocation_percent=Decimal(20),
        ),
    )
    try:
        got = sizing.size(sizing.BUILTIN[name], i)
    except SignalRejectedError as exc:
        assert exc.reason  # every refusal is named
        return
    assert got.quantity > 0
    assert got.quantity == got.quantity.to_integral_value()
    if got.side is Side.SELL:
        assert got.quantity <= held
    else:
        assert action is not Action.EXIT
        assert got.quantity * price <= cash


# ---- the strategy's position, working sells ----------------------------------------------------


def scoped(
    a: Alert, *, held: str, broker: str, working: tuple[WorkingOrder, ...] = ()
) -> SizingInput:
    return dataclasses.replace(inp(a, held=held), broker_held=Decimal(broker), working=working)


def sell_of(cid: str, strategy: str, remaining: int, second: int) -> WorkingOrder:
    return WorkingOrder(cid, strategy, Side.SELL, Decimal(remaining), NOW.replace(second=second))


def test_a_sell_is_capped_by_the_position_or_by_the_broker_whichever_is_less() -> None:
    ten = alert(Action.SELL, quantity=Decimal(10))
    got = sized("alert_quantity", scoped(ten, held="4", broker="100"))
    assert (got.quantity, got.notes) == (4, (ReasonCode.CAPPED_BY_POSITION,))
    got = sized("alert_quantity", scoped(ten, held="40", broker="6"))
    assert (got.quantity, got.notes) == (6, (ReasonCode.CAPPED_BY_HOLDINGS,))
    assert reason("alert_quantity", scoped(ten, held="0", broker="100")) == ReasonCode.NO_POSITION
    assert reason("alert_quantity", scoped(ten, held="5", broker="0")) == ReasonCode.NO_POSITION


def test_working_sells_are_replaced_or_netted() -> None:
    mine_old, mine_new = sell_of("m1", "s", 10, 1), sell_of("m2", "s", 5, 2)
    theirs = sell_of("t1", "t", 50, 3)
    working = (mine_old, mine_new, theirs)
    exit_ = sized(
        "alert_quantity", scoped(alert(Action.EXIT), held="30", broker="80", working=working)
    )
    assert (exit_.quantity, exit_.replaces) == (20, "m2")
    # Sized from the broker too: 80 held, 50 + 10 offered by the others leaves 20.
    tight = sized(
        "alert_quantity", scoped(alert(Action.EXIT), held="30", broker="65", working=working)
    )
    assert (tight.quantity, tight.replaces, tight.notes) == (
        5,
        "m2",
        (ReasonCode.CAPPED_BY_HOLDINGS,),
    )
    # Everything already offered by others: nothing left to sell.
    others = (sell_of("t1", "t", 30, 3),)
    assert reason(
        "alert_quantity", scoped(alert(Action.EXIT), held="30", broker="30", working=others)
    ) == (ReasonCode.ORDER_WORKING)
    # A working buy is no sell to replace.
    buy = WorkingOrder("b1", "s", Side.BUY, Decimal(5), NOW)
    kept = sized(
        "alert_quantity", scoped(alert(Action.EXIT), held="30", broker="30", working=(buy,))
    )
    assert (kept.quantity, kept.replaces) == (30, None)


def test_in_account_scope_every_working_sell_holds_part_of_the_position() -> None:
    working = (sell_of("m1", "s", 10, 1), sell_of("t1", "t", 50, 3))
    i = dataclasses.replace(inp(alert(Action.EXIT), held="80"), working=working)
    got = sized("alert_quantity", i)
    assert (got.quantity, got.replaces) == (30, "m1")  # 80 less the other strategy's 50
    never = dataclasses.replace(i, may_replace=False)
    assert (sized("alert_quantity", never).quantity, sized("alert_quantity", never).replaces) == (
        20,
        None,
    )


def test_a_market_buy_is_held_at_the_higher_of_its_buffer_and_the_brokers_ceiling() -> None:
    base = inp(alert(quantity=Decimal(100)), cash="700000")
    assert sizing.hold_price(base, Decimal(70000)) == 70000
    buffered = dataclasses.replace(base, market_buy_margin=Decimal("0.01"))
    assert sizing.hold_price(buffered, Decimal(70000)) == Decimal("70700.00")
    ceiling = dataclasses.replace(buffered, market_buy_price=Decimal(91000))
    assert sizing.hold_price(ceiling, Decimal(70000)) == 91000
    assert sized("alert_quantity", ceiling).quantity == 7  # 700,000 / 91,000


def test_a_target_that_sells_replaces_the_working_sell_whatever_its_size() -> None:
    working = (sell_of("m1", "s", 2, 1),)
    target = alert(Action.SELL, position_size=Decimal(5))
    got = sized("target_position", scoped(target, held="10", broker="10", working=working))
    # 10 held, target 5: sell 5 from the position, the working 2 replaced (not 5 more beside it).
    assert (got.quantity, got.replaces) == (5, "m1")
