"""One alert on one account, decided purely: session, sizing, risk, order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.fakes import APPLE, KODEX, SAMSUNG
from yquant.domain import market_rules as mr
from yquant.domain.decision import AccountFacts, AccountRules, OutOfSession, Verdict, decide
from yquant.domain.model import Action, Alert, Instrument, Market, OrderType, Side
from yquant.domain.positions import PositionScope, WorkingOrder
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState, Limits, RiskFacts
from yquant.domain.sizing import BUILTIN, SizingParams

KST = ZoneInfo("Asia/Seoul")
OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=KST)  # a Friday, KRX open
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=KST)


def alert(action: Action = Action.BUY, **kw: object) -> Alert:
    fields: dict[str, object] = {"price": Decimal(71000), "quantity": Decimal(3)} | kw
    return Alert(
        key="sig-1",
        strategy="s",
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        action=action,
        received_at=OPEN,
        **fields,  # type: ignore[arg-type]
    )


def rules(**kw: object) -> AccountRules:
    base: dict[str, object] = {
        "policy": BUILTIN["alert_quantity"],
        "params": SizingParams(),
        "limits": Limits(),
    }
    return AccountRules(**(base | kw))  # type: ignore[arg-type]


def facts(**kw: object) -> AccountFacts:
    # ``position`` is the account facts' (the strategy's shares): the decision passes it on.
    risk_kw = {
        k: kw.pop(k) for k in list(kw) if k in RiskFacts.__dataclass_fields__ and k != "position"
    }
    return AccountFacts(
        account="acct",
        currency=str(kw.pop("currency", "KRW")),
        cash=Decimal(str(kw.pop("cash", 100_000_000))),
        risk=RiskFacts(**({"equity": Decimal(100_000_000)} | risk_kw)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def krx_at(at: datetime) -> mr.MarketState:
    return mr.calendar_for(mr.venue_for("KRX")).state(at)


def test_an_open_market_gives_an_order_with_the_instruments_listing() -> None:
    out = decide(alert(), SAMSUNG, krx_at(OPEN), rules(), facts(), OPEN)
    assert out.verdict is Verdict.ORDER and out.order is not None
    order = out.order
    assert (order.side, order.quantity, order.exchange) == (Side.BUY, Decimal(3), "KOSPI")
    assert order.reference_price == Decimal(71000)
    assert order.created_at == OPEN
    assert out.inputs["policy"] == "alert_quantity"
    assert out.inputs["market"] == "open"


def test_a_closed_market_rejects_with_market_closed_and_says_when_it_opens() -> None:
    out = decide(alert(), SAMSUNG, krx_at(SATURDAY), rules(), facts(), SATURDAY)
    assert (out.verdict, out.reason) == (Verdict.REJECTED, ReasonCode.MARKET_CLOSED)
    assert "2026-11-30T09:00+09:00" in out.detail


def test_a_closed_market_queues_when_the_strategy_says_queue() -> None:
    queue = rules(out_of_session=OutOfSession.QUEUE)
    out = decide(alert(), SAMSUNG, krx_at(SATURDAY), queue, facts(), SATURDAY)
    assert (out.verdict, out.reason) == (Verdict.QUEUED, "queued")
    # At release the market must be open; a queued order is never queued again.
    again = decide(alert(), SAMSUNG, krx_at(SATURDAY), queue, facts(), SATURDAY, releasing=True)
    assert again.reason == ReasonCode.MARKET_CLOSED


def test_an_account_that_ignores_sessions_trades_at_any_hour() -> None:
    out = decide(alert(), SAMSUNG, None, rules(follow_sessions=False), facts(), SATURDAY)
    assert out.verdict is Verdict.ORDER
    assert out.inputs["market"] == "always open"


def test_halted_is_checked_before_anything_else_even_out_of_session() -> None:
    queue = rules(out_of_session=OutOfSession.QUEUE)
    halted = facts(kill_state=KillState.HALTED)
    out = decide(alert(), SAMSUNG, krx_at(SATURDAY), queue, halted, SATURDAY)
    assert out.reason == "halted"


def test_reduce_only_lets_sells_through() -> None:
    ro = facts(kill_state=KillState.REDUCE_ONLY, held=Decimal(5))
    assert decide(alert(), SAMSUNG, krx_at(OPEN), rules(), ro, OPEN).reason == "reduce_only"
    sell = decide(alert(Action.SELL), SAMSUNG, krx_at(OPEN), rules(), ro, OPEN)
    assert sell.order is not None and sell.order.quantity == 3


def test_limit_prices_are_moved_onto_the_tick_in_the_safe_direction() -> None:
    buy = alert(order_type=OrderType.LIMIT, limit_price=Decimal(71050))
    out = decide(buy, SAMSUNG, krx_at(OPEN), rules(), facts(), OPEN)
    assert out.order is not None and out.order.limit_price == Decimal(71000)
    sell = alert(Action.SELL, order_type=OrderType.LIMIT, limit_price=Decimal(71050))
    out = decide(sell, SAMSUNG, krx_at(OPEN), rules(), facts(held=Decimal(9)), OPEN)
    assert out.order is not None and out.order.limit_price == Decimal(71100)
    etf = alert(order_type=OrderType.LIMIT, limit_price=Decimal(35003))
    out = decide(etf, KODEX, krx_at(OPEN), rules(), facts(), OPEN)
    assert out.order is not None and out.order.limit_price == Decimal(35000)


def test_a_buy_limit_above_the_daily_band_rests_at_the_upper_limit() -> None:
    buy = alert(order_type=OrderType.LIMIT, limit_price=Decimal(100000))
    out = decide(buy, SAMSUNG, krx_at(OPEN), rules(), facts(base_price=Decimal(71000)), OPEN)
    assert out.order is not None and out.order.limit_price == Decimal(92300)
    low = alert(order_type=OrderType.LIMIT, limit_price=Decimal(40000))
    out = decide(low, SAMSUNG, krx_at(OPEN), rules(), facts(base_price=Decimal(71000)), OPEN)
    assert out.reason == "price_out_of_band"


def test_sizing_and_risk_rejections_carry_their_reason() -> None:
    out = decide(alert(Action.SELL), SAMSUNG, krx_at(OPEN), rules(), facts(held=Decimal(0)), OPEN)
    assert out.reason == "no_position"
    guard = rules(limits=Limits(same_direction_guard=True))
    out = decide(alert(), SAMSUNG, krx_at(OPEN), guard, facts(held=Decimal(1)), OPEN)
    assert out.reason == "same_direction"
    assert out.inputs["held"] == "1"


def test_risk_trims_are_explained() -> None:
    capped = rules(limits=Limits(max_order_notional=Decimal(150_000)))
    out = decide(alert(), SAMSUNG, krx_at(OPEN), capped, facts(), OPEN)
    assert out.order is not None and out.order.quantity == 2
    assert out.detail == "trimmed_to_max_order_notional"


@given(
    action=st.sampled_from(list(Action)),
    quantity=st.integers(1, 10**5).map(Decimal),
    cash=st.decimals(min_value=0, max_value=10**7, places=2),
    held=st.integers(0, 1000).map(Decimal),
    limit=st.none() | st.decimals(min_value=Decimal("0.5"), max_value=1000, places=3),
    instrument=st.sampled_from([APPLE, SAMSUNG]),
)
def test_every_order_is_positive_affordable_held_and_on_tick(
    action: Action,
    quantity: Decimal,
    cash: Decimal,
    held: Decimal,
    limit: Decimal | None,
    instrument: Instrument,
) -> None:
    at = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # New York is open
    a = Alert(
        key="k",
        strategy="s",
        ticker=instrument.ticker,
        exchange=instrument.exchange,
        market=instrument.market,
        action=action,
        received_at=at,
        price=Decimal(100),
        quantity=quantity,
        order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        limit_price=limit,
    )
    f = facts(cash=cash, held=held, currency=instrument.currency)
    out = decide(a, instrument, None, rules(follow_sessions=False), f, at)
    if out.order is None:
        assert out.reason
        return
    order = out.order
    assert order.quantity > 0
    if order.side is Side.SELL:
        assert order.quantity <= held
    else:
        assert order.quantity * (limit if limit is not None else Decimal(100)) <= cash
    if order.limit_price is not None:
        assert mr.is_on_tick(instrument.market.value, order.limit_price)
        if order.side is Side.BUY:
            assert order.limit_price <= limit  # type: ignore[operator]
        else:
            assert order.limit_price >= limit  # type: ignore[operator]


# ---- whose position, working sells, the market buy's hold --------------------------------------


def working(cid: str, strategy: str, side: Side, remaining: int, minute: int) -> WorkingOrder:
    at = OPEN.replace(minute=minute)
    return WorkingOrder(cid, strategy, side, Decimal(remaining), at)


STRATEGY = PositionScope.STRATEGY


def test_in_strategy_scope_a_sell_acts_on_the_strategys_position_capped_by_the_broker() -> None:
    mine = facts(held=Decimal(100), position=Decimal(30))
    out = decide(
        alert(Action.EXIT), SAMSUNG, krx_at(OPEN), rules(position_scope=STRATEGY), mine, OPEN
    )
    assert out.order is not None and out.order.quantity == 30
    assert (out.inputs["scope"], out.inputs["position"]) == ("strategy", "30")
    # The book counts 30 but the broker holds 12: never more than it holds.
    short_at_broker = facts(held=Decimal(12), position=Decimal(30))
    sell = alert(Action.SELL, quantity=Decimal(20))
    out = decide(sell, SAMSUNG, krx_at(OPEN), rules(position_scope=STRATEGY), short_at_broker, OPEN)
    assert out.order is not None and out.order.quantity == 12
    assert out.notes == (ReasonCode.CAPPED_BY_HOLDINGS,)
    # In account scope the same alert sells what the broker holds.
    out = decide(alert(Action.EXIT), SAMSUNG, krx_at(OPEN), rules(), mine, OPEN)
    assert out.order is not None and out.order.quantity == 100


def test_a_position_not_known_refuses_sells_and_lets_buys_go() -> None:
    unknown = facts(held=Decimal(100), position=None)
    scoped = rules(position_scope=STRATEGY)
    out = decide(alert(Action.EXIT), SAMSUNG, krx_at(OPEN), scoped, unknown, OPEN)
    assert out.reason == ReasonCode.DATABASE_UNAVAILABLE
    out = decide(alert(), SAMSUNG, krx_at(OPEN), scoped, unknown, OPEN)
    assert out.verdict is Verdict.ORDER
    target = rules(position_scope=STRATEGY, policy=BUILTIN["target_position"])
    out = decide(alert(position_size=Decimal(5)), SAMSUNG, krx_at(OPEN), target, unknown, OPEN)
    assert out.reason == ReasonCode.DATABASE_UNAVAILABLE


def test_an_exit_replaces_the_strategys_latest_working_sell_and_nets_the_others() -> None:
    w = (
        working("old", "s", Side.SELL, 10, 1),
        working("new", "s", Side.SELL, 5, 2),
        working("theirs", "t", Side.SELL, 50, 3),  # another strategy's: never replaced
    )
    held = facts(held=Decimal(80), position=Decimal(30), working=w)
    out = decide(
        alert(Action.EXIT), SAMSUNG, krx_at(OPEN), rules(position_scope=STRATEGY), held, OPEN
    )
    assert out.order is not None
    assert (out.order.quantity, out.order.replaces) == (Decimal(20), "new")
    assert out.inputs["replaces"] == "new"


def test_a_sell_that_fits_beside_the_working_one_replaces_nothing() -> None:
    w = (working("tp", "s", Side.SELL, 10, 1),)
    held = facts(held=Decimal(30), position=Decimal(30), working=w)
    scoped = rules(position_scope=STRATEGY)
    fits = decide(
        alert(Action.SELL, quantity=Decimal(20)), SAMSUNG, krx_at(OPEN), scoped, held, OPEN
    )
    assert fits.order is not None and (fits.order.quantity, fits.order.replaces) == (20, None)
    more = decide(
        alert(Action.SELL, quantity=Decimal(25)), SAMSUNG, krx_at(OPEN), scoped, held, OPEN
    )
    assert more.order is not None and (more.order.quantity, more.order.replaces) == (25, "tp")
    # An operator's order never replaces: it is capped to what is free instead.
    manual = rules(position_scope=STRATEGY, replace_working=False)
    out = decide(
        alert(Action.SELL, quantity=Decimal(25)), SAMSUNG, krx_at(OPEN), manual, held, OPEN
    )
    assert out.order is not None and (out.order.quantity, out.order.replaces) == (20, None)


def test_the_replaced_sell_no_longer_counts_as_working_for_the_guards() -> None:
    guard = rules(position_scope=STRATEGY, limits=Limits(same_direction_guard=True))
    one = facts(
        held=Decimal(30), position=Decimal(30), working=(working("w", "s", Side.SELL, 10, 1),)
    )
    out = decide(alert(Action.EXIT), SAMSUNG, krx_at(OPEN), guard, one, OPEN)
    assert out.order is not None and out.order.replaces == "w"
    # Another strategy's working buy is not this strategy's: no same-direction refusal.
    theirs = facts(
        held=Decimal(0), position=Decimal(0), working=(working("b", "t", Side.BUY, 5, 1),)
    )
    assert decide(alert(), SAMSUNG, krx_at(OPEN), guard, theirs, OPEN).verdict is Verdict.ORDER
    # In account scope every working order of the account counts.
    account_guard = rules(limits=Limits(same_direction_guard=True))
    out = decide(alert(), SAMSUNG, krx_at(OPEN), account_guard, theirs, OPEN)
    assert out.reason == ReasonCode.SAME_DIRECTION


def test_a_kis_krx_market_buy_is_capped_at_the_days_upper_limit() -> None:
    based = dataclasses.replace(SAMSUNG, base_price=Decimal(70000))
    kis = rules(market_buy_at_upper_limit=True)
    poor = facts(cash=Decimal(9_100_000), base_price=Decimal(70000))
    # The upper limit is 91,000 (70,000 + 30%): 9,100,000 KRW holds 100 shares, not 128.
    out = decide(alert(quantity=Decimal(128)), based, krx_at(OPEN), kis, poor, OPEN)
    assert out.order is not None and out.order.quantity == 100
    assert out.notes == (ReasonCode.CAPPED_BY_CASH,)
    # A limit buy holds its own price.
    limit = alert(quantity=Decimal(128), order_type=OrderType.LIMIT, limit_price=Decimal(71000))
    out = decide(limit, based, krx_at(OPEN), kis, poor, OPEN)
    assert out.order is not None and out.order.quantity == 128
