"""One alert on one account: session, sizing and risk, ending as an order, a place in the queue
of the next session, or a rejection with a reason code. Pure: every input is passed in.

The steps, in order:

1. kill switch: ``halted`` refuses everything, before anything else;
2. session: outside the market's regular session the strategy's policy applies: ``reject``
   (``market_closed``) or ``queue`` (decided again at the next open, with that moment's figures);
3. sizing (`yquant.domain.sizing`): what the alert asks of the position (`yquant.domain.intent`),
   the policy's quantity within the rules no policy may bend, on the position of the strategy's
   scope (`yquant.domain.positions`), and the working sell it replaces, if any;
4. risk (`yquant.domain.risk`): reduce-only, same direction, order rate, daily loss, open
   positions, order notional, position share;
5. the order: limit prices moved onto the tick grid in the safe direction (and inside KRX's daily
   band when the base price is known).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from yquant.domain import market_rules, risk, sizing
from yquant.domain.intent import Move, row_of
from yquant.domain.market_rules import MarketState
from yquant.domain.model import Alert, Instrument, Market, Order, OrderType, Side, client_order_id
from yquant.domain.positions import PositionScope, WorkingOrder, own
from yquant.domain.reasons import ReasonCode
from yquant.errors import SignalRejectedError


class Verdict(StrEnum):
    ORDER = "order"
    QUEUED = "queued"
    REJECTED = "rejected"


class OutOfSession(StrEnum):
    REJECT = "reject"
    QUEUE = "queue"


@dataclass(frozen=True, slots=True)
class AccountRules:
    """How one strategy trades on one account (limits already in the market's currency)."""

    policy: sizing.Policy
    params: sizing.SizingParams
    limits: risk.Limits
    out_of_session: OutOfSession = OutOfSession.REJECT
    follow_sessions: bool = True  # False: the account trades at any hour (the paper default)
    commission_rate: Decimal = Decimal(0)  # room left for fees when a buy is capped by cash
    market_buy_margin: Decimal = Decimal(0)  # a market buy's slippage buffer (a fraction)
    # KIS holds a KRX market buy's cash at the day's upper limit: the cash must cover that.
    market_buy_at_upper_limit: bool = False
    position_scope: PositionScope = PositionScope.ACCOUNT
    replace_working: bool = True  # False: an order never cancel-replaces (the operator's)


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """The account at decision time, money in the market's currency."""

    account: str
    currency: str
    cash: Decimal
    risk: risk.RiskFacts
    base_price: Decimal | None = None  # KRX base price of the day, when the catalog has it
    # The strategy's own shares of the instrument (from the book), for strategy scope; None
    # when not known (the database away before this engine ever read it).
    position: Decimal | None = None
    working: tuple[WorkingOrder, ...] = ()  # the account's working orders in the instrument


@dataclass(frozen=True, slots=True)
class Outcome:
    account: str
    verdict: Verdict
    order: Order | None = None
    reason: ReasonCode | None = None
    detail: str = ""
    inputs: Mapping[str, str] = field(default_factory=dict)  # what the decision looked at
    notes: tuple[ReasonCode, ...] = ()  # what made the order smaller than asked


def decide(
    alert: Alert,
    instrument: Instrument,
    state: MarketState | None,
    rules: AccountRules,
    facts: AccountFacts,
    now: datetime,
    *,
    releasing: bool = False,
) -> Outcome:
    """The outcome for ``facts.account``. ``state`` is the market at ``now`` (None when the
    account ignores sessions); ``releasing`` is True when a queued order is decided again."""
    account = facts.account
    inputs: dict[str, str] = {
        "policy": rules.policy.name,
        "currency": facts.currency,
        "cash": _text(facts.cash),
        "equity": _text(facts.risk.equity),
        "held": _text(facts.risk.held),
        "kill_switch": facts.risk.kill_state.value,
        "market": "always open" if state is None else state.phase.value,
    }

    def rejected(exc: SignalRejectedError) -> Outcome:
        return Outcome(account, Verdict.REJECTED, None, exc.reason, exc.detail, inputs)

    try:
        risk.check_kill_switch(facts.risk.kill_state, None)
    except SignalRejectedError as exc:
        return rejected(exc)

    if rules.follow_sessions and state is not None and not state.is_open:
        opens = state.local(state.next_open_at) or "unknown"
        inputs["next_open"] = opens
        if rules.out_of_session is OutOfSession.QUEUE and not releasing:
            if state.next_open_at is None:
                return rejected(
                    SignalRejectedError(ReasonCode.MARKET_CLOSED, "no known next session")
                )
            return Outcome(
                account, Verdict.QUEUED, None, ReasonCode.QUEUED, f"until {opens}", inputs
            )
        return rejected(
            SignalRejectedError(ReasonCode.MARKET_CLOSED, f"{state.venue.exchange} opens {opens}")
        )

    limit = alert.limit_price if alert.order_type is OrderType.LIMIT else None
    price = limit if limit is not None else alert.price
    inputs["price"] = "" if price is None else _text(price)
    strategy_scope = rules.position_scope is PositionScope.STRATEGY
    position = facts.position if strategy_scope else facts.risk.held
    inputs["scope"] = rules.position_scope.value
    inputs["position"] = "unknown" if position is None else _text(position)
    if position is None:
        if row_of(alert).move in (Move.CLOSE, Move.REDUCE) or rules.policy.follows_target:
            return rejected(
                SignalRejectedError(
                    ReasonCode.DATABASE_UNAVAILABLE,
                    "the strategy's position is not known while the database is away",
                )
            )
        position = Decimal(0)  # a buy: sized without it
    try:
        sized = sizing.size(
            rules.policy,
            sizing.SizingInput(
                alert=alert,
                account=account,
                currency=facts.currency,
                price=price,
                cash=facts.cash,
                equity=facts.risk.equity,
                held=position,
                params=rules.params,
                commission_rate=rules.commission_rate,
                market_buy_margin=rules.market_buy_margin,
                market_buy_price=_upper_limit(rules, instrument, price, facts.base_price),
                broker_held=facts.risk.held if strategy_scope else None,
                working=facts.working,
                may_replace=rules.replace_working,
            ),
        )
        limit = _limit_price(limit, sized.side, instrument, facts.base_price)
        # What still works beside this order, once the one it replaces is cancelled.
        mine = [
            w
            for w in own(facts.working, alert.strategy, rules.position_scope)
            if w.client_order_id != sized.replaces
        ]
        checked = risk.check(
            sized.side,
            sized.quantity,
            limit if limit is not None else price,
            rules.limits,
            replace(
                facts.risk,
                position=position,
                open_buy=any(w.side is Side.BUY for w in mine),
                open_sell=any(w.side is Side.SELL for w in mine),
            ),
            follows_target=rules.policy.follows_target,
        )
    except SignalRejectedError as exc:
        return rejected(exc)
    notes = sized.notes + checked.notes
    if notes:
        inputs["adjusted"] = ", ".join(notes)
    if sized.replaces is not None:
        inputs["replaces"] = sized.replaces
    order = Order(
        client_order_id=client_order_id(alert.key, account),
        signal_key=alert.key,
        account=account,
        strategy=alert.strategy,
        ticker=instrument.ticker,
        exchange=instrument.exchange,
        market=instrument.market,
        side=sized.side,
        order_type=alert.order_type,
        quantity=checked.quantity,
        limit_price=limit,
        reference_price=alert.price,
        created_at=now,
        updated_at=now,
        replaces=sized.replaces,
    )
    return Outcome(account, Verdict.ORDER, order, None, ", ".join(notes), inputs, notes)


def _upper_limit(
    rules: AccountRules, instrument: Instrument, price: Decimal | None, base: Decimal | None
) -> Decimal | None:
    """The price KIS holds a KRX market buy at: the day's upper limit (from the base price,
    else 30% above the price)."""
    if not rules.market_buy_at_upper_limit or instrument.market is not Market.KR:
        return None
    if base is not None and base > 0:
        return market_rules.krx_price_limits(base, instrument.security_type)[1]
    if price is None:
        return None
    return price * (1 + market_rules.KRX_DAILY_LIMIT)


def _limit_price(
    limit: Decimal | None, side: Side, instrument: Instrument, base_price: Decimal | None
) -> Decimal | None:
    if limit is None:
        return None
    market = instrument.market.value
    rounded = market_rules.round_to_tick(market, limit, side, instrument.security_type)
    if market == "KR" and base_price is not None and base_price > 0:
        band = market_rules.krx_price_limits(base_price, instrument.security_type)
        if side is Side.SELL and rounded > band[1]:
            raise SignalRejectedError(
                ReasonCode.PRICE_OUT_OF_BAND,
                f"sell limit {rounded} is above the upper limit {band[1]}",
            )
        if side is Side.BUY and rounded < band[0]:
            raise SignalRejectedError(
                ReasonCode.PRICE_OUT_OF_BAND,
                f"buy limit {rounded} is below the lower limit {band[0]}",
            )
        rounded = market_rules.clamp_to_limits(rounded, band)
    return rounded


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
