"""Risk limits and the kill switch: the last word on a sized order. Pure.

Limits come per account and per strategy; where both set one, the stricter holds, except the
daily loss: the account's limit applies to the account's loss, the strategy's to the strategy's
own loss on the account (`yquant.domain.daily`). Limits that grow exposure (order notional,
position share, open positions, daily loss) apply to buys; a
sell always shrinks a cash account's position and is refused only by a halt, the order rate or
the same-direction guard. A limit that the order would break is met by trimming the quantity to
the largest that fits; when nothing fits the order is refused with the limit's reason code.

Kill switch: ``active`` (trade), ``reduce_only`` (only orders that shrink positions: sells) or
``halted`` (nothing), set globally and per account; the stricter of the two applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import TypeVar

from yquant.domain.model import Side
from yquant.domain.reasons import ReasonCode
from yquant.errors import SignalRejectedError

HUNDRED = Decimal(100)
_N = TypeVar("_N", Decimal, int)


class KillState(StrEnum):
    ACTIVE = "active"
    REDUCE_ONLY = "reduce_only"
    HALTED = "halted"


_SEVERITY = {KillState.ACTIVE: 0, KillState.REDUCE_ONLY: 1, KillState.HALTED: 2}


def strictest(*states: KillState | None) -> KillState:
    known = [s for s in states if s is not None]
    return max(known, key=_SEVERITY.__getitem__) if known else KillState.ACTIVE


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits in one currency (the market's). None means no limit."""

    max_order_notional: Decimal | None = None
    max_position_percent: Decimal | None = None  # position value after the buy, % of equity
    max_open_positions: int | None = None
    max_orders_per_minute: int | None = None
    max_daily_loss: Decimal | None = None  # stop new buys once the day's loss reaches it
    same_direction_guard: bool = False  # "buy" means "be long": no second buy while long
    # The same, for the strategy's own loss on the account (the strategy's setting).
    max_strategy_daily_loss: Decimal | None = None

    def stricter(self, other: Limits) -> Limits:
        return Limits(
            _min(self.max_order_notional, other.max_order_notional),
            _min(self.max_position_percent, other.max_position_percent),
            _min(self.max_open_positions, other.max_open_positions),
            _min(self.max_orders_per_minute, other.max_orders_per_minute),
            _min(self.max_daily_loss, other.max_daily_loss),
            self.same_direction_guard or other.same_direction_guard,
            _min(self.max_strategy_daily_loss, other.max_strategy_daily_loss),
        )


def _min(a: _N | None, b: _N | None) -> _N | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Limits as configured: money per currency, resolved with `for_currency`."""

    max_order_notional: Mapping[str, Decimal] = field(default_factory=dict)
    max_position_percent: Decimal | None = None
    max_open_positions: int | None = None
    max_orders_per_minute: int | None = None
    max_daily_loss: Mapping[str, Decimal] = field(default_factory=dict)
    same_direction_guard: bool = False

    def for_currency(self, currency: str) -> Limits:
        return Limits(
            self.max_order_notional.get(currency),
            self.max_position_percent,
            self.max_open_positions,
            self.max_orders_per_minute,
            self.max_daily_loss.get(currency),
            self.same_direction_guard,
        )


@dataclass(frozen=True, slots=True)
class RiskFacts:
    """The account as risk sees it at decision time, money in the market's currency."""

    kill_state: KillState = KillState.ACTIVE
    equity: Decimal = Decimal(0)
    held: Decimal = Decimal(0)  # shares of this instrument on the account (the broker's)
    open_positions: int = 0  # instruments held on the account (any market)
    orders_last_minute: int = 0  # orders created for the account in the last 60 s
    # An order to buy (sell) this instrument is still working: the strategy's own in strategy
    # scope, the account's in account scope.
    open_buy: bool = False
    open_sell: bool = False
    daily_loss: Decimal | None = None  # the account's loss today (positive = lost); None: unknown
    # The position the decision acts on (the strategy's own in strategy scope); None: ``held``.
    position: Decimal | None = None
    strategy_daily_loss: Decimal | None = None  # the strategy's own loss today on the account


@dataclass(frozen=True, slots=True)
class Checked:
    quantity: Decimal
    notes: tuple[ReasonCode, ...] = ()


def check_kill_switch(state: KillState, side: Side | None) -> None:
    """Refuse what the kill switch forbids; ``side`` None checks before sizing (halt only)."""
    if state is KillState.HALTED:
        raise SignalRejectedError(ReasonCode.HALTED, "trading is halted")
    if state is KillState.REDUCE_ONLY and side is Side.BUY:
        raise SignalRejectedError(
            ReasonCode.REDUCE_ONLY, "only orders that reduce a position are allowed"
        )


def check(
    side: Side,
    quantity: Decimal,
    price: Decimal | None,
    limits: Limits,
    facts: RiskFacts,
    *,
    follows_target: bool = False,
) -> Checked:
    """The quantity that may be sent (possibly trimmed), or SignalRejectedError with the reason."""
    check_kill_switch(facts.kill_state, side)
    if follows_target and (facts.open_buy or facts.open_sell):
        # The target is measured against the shares held; an order still working would be
        # counted twice (a working buy of 10, then a target of 15, would buy 15 more).
        raise SignalRejectedError(
            ReasonCode.ORDER_WORKING,
            "an order for this instrument is still working; it is not traded twice",
        )
    if limits.same_direction_guard and not follows_target:
        position = facts.held if facts.position is None else facts.position
        if side is Side.BUY and (position > 0 or facts.open_buy):
            raise SignalRejectedError(
                ReasonCode.SAME_DIRECTION, "already long (or a buy is working)"
            )
        if side is Side.SELL and facts.open_sell:
            raise SignalRejectedError(
                ReasonCode.SAME_DIRECTION, "a sell of this position is working"
            )
    if (
        limits.max_orders_per_minute is not None
        and facts.orders_last_minute >= limits.max_orders_per_minute
    ):
        raise SignalRejectedError(
            ReasonCode.ORDER_RATE_LIMIT, f"{facts.orders_last_minute} orders in the last minute"
        )
    if side is Side.SELL:
        return Checked(quantity)
    return _check_buy(quantity, price, limits, facts)


def _check_buy(
    quantity: Decimal, price: Decimal | None, limits: Limits, facts: RiskFacts
) -> Checked:
    for limit, loss, whose in (
        (limits.max_daily_loss, facts.daily_loss, "the account's"),
        (limits.max_strategy_daily_loss, facts.strategy_daily_loss, "the strategy's"),
    ):
        if limit is not None and loss is not None and loss >= limit:
            raise SignalRejectedError(
                ReasonCode.DAILY_LOSS_LIMIT, f"{whose} loss today {loss} reached the limit {limit}"
            )
    if (
        limits.max_open_positions is not None
        and facts.held <= 0
        and facts.open_positions >= limits.max_open_positions
    ):
        raise SignalRejectedError(
            ReasonCode.MAX_OPEN_POSITIONS, f"{facts.open_positions} positions already open"
        )
    notes: list[ReasonCode] = []
    needs_price = limits.max_order_notional is not None or limits.max_position_percent is not None
    if needs_price and (price is None or price <= 0):
        raise SignalRejectedError(ReasonCode.MAX_ORDER_NOTIONAL, "limits need a price to check")
    if limits.max_order_notional is not None and price is not None:
        fits = _whole(limits.max_order_notional / price)
        if fits <= 0:
            raise SignalRejectedError(
                ReasonCode.MAX_ORDER_NOTIONAL,
                f"one share costs more than {limits.max_order_notional}",
            )
        if quantity > fits:
            quantity = fits
            notes.append(ReasonCode.TRIMMED_TO_MAX_ORDER_NOTIONAL)
    if limits.max_position_percent is not None and price is not None:
        allowed = max(facts.equity, Decimal(0)) * limits.max_position_percent / HUNDRED
        room = allowed - max(facts.held, Decimal(0)) * price
        fits = _whole(room / price) if room > 0 else Decimal(0)
        if fits <= 0:
            raise SignalRejectedError(
                ReasonCode.MAX_POSITION_SHARE,
                f"position would exceed {limits.max_position_percent}% of equity",
            )
        if quantity > fits:
            quantity = fits
            notes.append(ReasonCode.TRIMMED_TO_MAX_POSITION_SHARE)
    return Checked(quantity, tuple(notes))


def _whole(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_FLOOR)
