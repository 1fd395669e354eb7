"""Risk limits and the kill switch."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yquant.domain import risk
from yquant.domain.model import Side
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState, Limits, LimitSettings, RiskFacts
from yquant.errors import SignalRejectedError

PRICE = Decimal(70000)
FACTS = RiskFacts(equity=Decimal(100_000_000))


def refused(side: Side, limits: Limits, facts: RiskFacts, quantity: int = 10) -> str:
    with pytest.raises(SignalRejectedError) as err:
        risk.check(side, Decimal(quantity), PRICE, limits, facts)
    return err.value.reason


def test_the_strictest_kill_switch_applies() -> None:
    assert risk.strictest(KillState.ACTIVE, None) is KillState.ACTIVE
    assert risk.strictest(KillState.REDUCE_ONLY, KillState.ACTIVE) is KillState.REDUCE_ONLY
    assert risk.strictest(KillState.REDUCE_ONLY, KillState.HALTED) is KillState.HALTED


def test_halted_refuses_everything_and_reduce_only_refuses_buys() -> None:
    halted = RiskFacts(kill_state=KillState.HALTED, equity=Decimal(1))
    assert refused(Side.SELL, Limits(), halted) == ReasonCode.HALTED
    reduce_only = RiskFacts(kill_state=KillState.REDUCE_ONLY, equity=Decimal(1))
    assert refused(Side.BUY, Limits(), reduce_only) == ReasonCode.REDUCE_ONLY
    assert risk.check(Side.SELL, Decimal(3), PRICE, Limits(), reduce_only).quantity == 3


def test_the_same_direction_guard_means_buy_is_be_long() -> None:
    guard = Limits(same_direction_guard=True)
    assert refused(Side.BUY, guard, RiskFacts(equity=Decimal(1), held=Decimal(5))) == (
        ReasonCode.SAME_DIRECTION
    )
    assert refused(Side.BUY, guard, RiskFacts(equity=Decimal(1), open_buy=True)) == (
        ReasonCode.SAME_DIRECTION
    )
    assert refused(Side.SELL, guard, RiskFacts(equity=Decimal(1), open_sell=True)) == (
        ReasonCode.SAME_DIRECTION
    )
    # A target-position policy trades toward a target: adding to a long is expected.
    checked = risk.check(
        Side.BUY, Decimal(2), PRICE, guard, RiskFacts(held=Decimal(5)), follows_target=True
    )
    assert checked.quantity == 2


def test_a_target_is_not_traded_while_an_order_for_it_is_working() -> None:
    for working in (RiskFacts(open_buy=True), RiskFacts(open_sell=True)):
        for side in (Side.BUY, Side.SELL):
            with pytest.raises(SignalRejectedError) as refusal:
                risk.check(side, Decimal(5), PRICE, Limits(), working, follows_target=True)
            assert refusal.value.reason == ReasonCode.ORDER_WORKING


def test_order_rate_limit_applies_to_both_sides() -> None:
    busy = RiskFacts(equity=Decimal(1), orders_last_minute=5)
    assert refused(Side.SELL, Limits(max_orders_per_minute=5), busy) == ReasonCode.ORDER_RATE_LIMIT
    assert risk.check(Side.SELL, Decimal(1), PRICE, Limits(max_orders_per_minute=6), busy)


def test_daily_loss_stops_new_buys_but_not_sells() -> None:
    lost = RiskFacts(equity=Decimal(1), daily_loss=Decimal(500_000))
    limits = Limits(max_daily_loss=Decimal(500_000))
    assert refused(Side.BUY, limits, lost) == ReasonCode.DAILY_LOSS_LIMIT
    assert risk.check(Side.SELL, Decimal(1), PRICE, limits, lost).quantity == 1


def test_max_open_positions_refuses_a_new_position_but_not_adding_to_one() -> None:
    full = RiskFacts(equity=Decimal(10**9), open_positions=3)
    assert refused(Side.BUY, Limits(max_open_positions=3), full) == ReasonCode.MAX_OPEN_POSITIONS
    holding = RiskFacts(equity=Decimal(10**9), open_positions=3, held=Decimal(1))
    assert risk.check(Side.BUY, Decimal(1), PRICE, Limits(max_open_positions=3), holding)


def test_order_notional_and_position_share_trim_the_quantity() -> None:
    cap = Limits(max_order_notional=Decimal(350_000))
    notional = risk.check(Side.BUY, Decimal(10), PRICE, cap, FACTS)
    assert (notional.quantity, notional.notes) == (Decimal(5), ("trimmed_to_max_order_notional",))
    # 10% of 100M = 10M; 100 shares held = 7M; room for 42 more shares
    share = risk.check(
        Side.BUY,
        Decimal(100),
        PRICE,
        Limits(max_position_percent=Decimal(10)),
        RiskFacts(equity=Decimal(100_000_000), held=Decimal(100)),
    )
    assert share.quantity == 42
    full = RiskFacts(equity=Decimal(100_000_000), held=Decimal(143))
    assert refused(Side.BUY, Limits(max_position_percent=Decimal(10)), full) == (
        ReasonCode.MAX_POSITION_SHARE
    )
    assert refused(Side.BUY, Limits(max_order_notional=Decimal(1)), FACTS) == (
        ReasonCode.MAX_ORDER_NOTIONAL
    )


def test_account_and_strategy_limits_combine_to_the_stricter() -> None:
    account = LimitSettings(
        max_order_notional={"KRW": Decimal(1_000_000)}, max_open_positions=10
    ).for_currency("KRW")
    strategy = LimitSettings(
        max_order_notional={"KRW": Decimal(500_000), "USD": Decimal(100)},
        max_orders_per_minute=3,
        same_direction_guard=True,
    ).for_currency("KRW")
    both = account.stricter(strategy)
    assert both == Limits(
        max_order_notional=Decimal(500_000),
        max_open_positions=10,
        max_orders_per_minute=3,
        same_direction_guard=True,
    )
    assert LimitSettings(max_order_notional={"USD": Decimal(1)}).for_currency("KRW") == Limits()


@given(
    quantity=st.integers(1, 10**6).map(Decimal),
    price=st.decimals(min_value=Decimal(1), max_value=10**6, places=2),
    equity=st.decimals(min_value=0, max_value=10**10, places=2),
    held=st.integers(0, 10**5).map(Decimal),
    max_notional=st.none() | st.decimals(min_value=1, max_value=10**9, places=0),
    max_share=st.none() | st.decimals(min_value=1, max_value=100, places=1),
)
def test_a_checked_buy_never_breaks_a_limit(
    quantity: Decimal,
    price: Decimal,
    equity: Decimal,
    held: Decimal,
    max_notional: Decimal | None,
    max_share: Decimal | None,
) -> None:
    limits = Limits(max_order_notional=max_notional, max_position_percent=max_share)
    facts = RiskFacts(equity=equity, held=held)
    try:
        checked = risk.check(Side.BUY, quantity, price, limits, facts)
    except SignalRejectedError as exc:
        assert exc.reason in (ReasonCode.MAX_ORDER_NOTIONAL, ReasonCode.MAX_POSITION_SHARE)
        return
    assert 0 < checked.quantity <= quantity
    if max_notional is not None:
        assert checked.quantity * price <= max_notional
    if max_share is not None:
        assert (held + checked.quantity) * price <= equity * max_share / 100


def test_the_accounts_and_the_strategys_daily_loss_each_meet_their_own_limit() -> None:
    limits = Limits(max_daily_loss=Decimal(500_000), max_strategy_daily_loss=Decimal(100_000))
    account_lost = RiskFacts(equity=Decimal(10**9), daily_loss=Decimal(500_000))
    assert refused(Side.BUY, limits, account_lost) == ReasonCode.DAILY_LOSS_LIMIT
    strategy_lost = RiskFacts(
        equity=Decimal(10**9), daily_loss=Decimal(0), strategy_daily_loss=Decimal(100_000)
    )
    with pytest.raises(SignalRejectedError) as err:
        risk.check(Side.BUY, Decimal(1), PRICE, limits, strategy_lost)
    assert "the strategy's loss today" in err.value.detail
    # A gain is no loss; a sell always goes.
    gained = RiskFacts(equity=Decimal(10**9), daily_loss=Decimal(-900_000))
    assert risk.check(Side.BUY, Decimal(1), PRICE, limits, gained).quantity == 1
    assert risk.check(Side.SELL, Decimal(1), PRICE, limits, account_lost).quantity == 1


def test_the_stricter_of_two_strategy_loss_limits_holds() -> None:
    a, b = Limits(max_strategy_daily_loss=Decimal(5)), Limits(max_strategy_daily_loss=Decimal(3))
    assert a.stricter(b).max_strategy_daily_loss == 3
    assert Limits().stricter(a).max_strategy_daily_loss == 5


def test_the_same_direction_guard_reads_the_strategys_position_when_given() -> None:
    guard = Limits(same_direction_guard=True)
    # The account holds 5 (another strategy's); this strategy holds none: a first buy.
    theirs = RiskFacts(equity=Decimal(1), held=Decimal(5), position=Decimal(0))
    assert risk.check(Side.BUY, Decimal(1), PRICE, guard, theirs).quantity == 1
    mine = RiskFacts(equity=Decimal(1), held=Decimal(5), position=Decimal(5))
    assert refused(Side.BUY, guard, mine) == ReasonCode.SAME_DIRECTION
