"""One alert on one account, decided purely: session, sizing, risk, order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.fakes import APPLE, KODEX, SAMSUNG
from yquant.domain import market_rules as mr
from yquant.domain.decision import AccountFacts, AccountRules, OutOfSession, Verdict, decide
from yquant.domain.model import Action, Alert, Instrument, Market, OrderType, Side
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
    risk_kw = {k: kw.pop(k) for k in list(kw) if k in RiskFacts.__dataclass_fields__}
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
