"""One alert on one account: session, sizing and risk, ending as an order, a place in the queue
of the next session, or a rejection with a reason code. Pure: every input is passed in.

The steps, in order:

1. kill switch: ``halted`` refuses everything, before anything else;
2. session: outside the market's regular session the strategy's policy applies: ``reject``
   (``market_closed``) or ``queue`` (decided again at the next open, with that moment's figures);
3. sizing (`yquant.domain.sizing`): the policy's quantity within the rules no policy may bend;
4. risk (`yquant.domain.risk`): reduce-only, same direction, order rate, daily loss, open
   positions, order notional, position share;
5. the order: limit prices moved onto the tick grid in the safe direction (and inside KRX's daily
   band when the base price is known).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from yquant.domain import market_rules, risk, sizing
from yquant.domain.market_rules import MarketState
from yquant.domain.model import Alert, Instrument, Order, OrderType, Side, client_order_id
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
    market_buy_margin: Decimal = Decimal(0)  # a market buy held above its price (KIS US band)


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """The account at decision time, money in the market's currency."""

    account: str
    currency: str
    cash: Decimal
    risk: risk.RiskFacts
    base_price: Decimal | None = None  # KRX base price of the day, when the catalog has it


@dataclass(frozen=True, slots=True)
class Outcome:
    account: str
    verdict: Verdict
    order: Order | None = None
    reason: ReasonCode | None = None
    detail: str = ""
    inputs: Mapping[str, str] = field(default_factory=dict)  # what the decision looked at


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
                held=facts.risk.held,
                params=rules.params,
                commission_rate=rules.commission_rate,
                market_buy_margin=rules.market_buy_margin,
            ),
        )
        limit = _limit_price(limit, sized.side, instrument, facts.base_price)
        checked = risk.check(
            sized.side,
            sized.quantity,
            limit if limit is not None else price,
            rules.limits,
            facts.risk,
            follows_target=rules.policy.follows_target,
        )
    except SignalRejectedError as exc:
        return rejected(exc)
    notes = sized.notes + checked.notes
    if notes:
        inputs["adjusted"] = ", ".join(notes)
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
    )
    return Outcome(account, Verdict.ORDER, order, None, ", ".join(notes), inputs)


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
