"""Position sizing: how many shares an alert buys or sells on one account. Pure; never short.

A policy turns (alert, account figures in the market's currency, parameters) into an intent: a
side and a wanted quantity. `size` then applies the rules no policy may bend:

- what the alert asks of the position comes first (`yquant.domain.intent`: ``exit``, TradingView's
  ``market_position``/``prev_market_position``): a close sells everything the strategy holds,
  whatever the policy; a move that would go short is capped to the position or refused;
- a sell never exceeds the position (``capped_by_position``: the strategy's own in strategy
  scope) nor the broker's holdings (``capped_by_holdings``), less what other working sells
  hold; an exit, a sell-all, or a sell larger than what is free while a sell of the same
  strategy is working replaces the most recent of them (``Sized.replaces``: cancel-replace);
- a buy is whole shares, needs a price (never defaults to 1), never costs more than the cash in
  the market's currency at the price the broker holds for it (a market buy: its price plus
  the slippage buffer, or KRX's upper limit where KIS holds that), and is refused below the
  minimum order amount in that currency.

Built-in policies (by name): ``fixed_quantity``, ``alert_quantity`` (the alert's ``quantity``,
else the configured ``quantity``), ``fixed_amount`` (an amount per currency), ``percent_of_equity``,
``risk`` (equity x risk% / stop%, capped by a maximum allocation and by cash, scaled by the
alert's ``strength``) and ``target_position`` (trade the difference between the strategy's
position and TradingView's ``position_size``). The money-sized policies size buys only: their
sell closes the long. Other policies come from a dotted path (``package.module:name``) or the
``yquant.sizing`` entry-point group; `validate` names any that cannot be found, at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from importlib.metadata import entry_points

from yquant.domain.intent import Move, Row, row_of
from yquant.domain.model import Action, Alert, OrderType, Side
from yquant.domain.positions import WorkingOrder
from yquant.domain.reasons import ReasonCode
from yquant.errors import ConfigurationError, SignalRejectedError

HUNDRED = Decimal(100)
ZERO = Decimal(0)
ENTRY_POINT_GROUP = "yquant.sizing"
DEFAULT_POLICY = "alert_quantity"


@dataclass(frozen=True, slots=True)
class SizingParams:
    """A policy's parameters; money is per currency, percentages are percent (1 = 1%)."""

    quantity: Decimal | None = None
    amount: Mapping[str, Decimal] = field(default_factory=dict)
    percent_of_equity: Decimal | None = None
    risk_percent: Decimal | None = None
    stop_percent: Decimal | None = None
    max_allocation_percent: Decimal | None = None
    min_order_amount: Mapping[str, Decimal] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SizingInput:
    """Everything a policy may look at, with money in the market's currency."""

    alert: Alert
    account: str
    currency: str
    price: Decimal | None  # what one share is expected to cost: the limit, else the alert price
    cash: Decimal
    equity: Decimal
    # The position the alert acts on: the strategy's own shares of the instrument (strategy
    # scope) or the broker's holdings of the account (account scope).
    held: Decimal
    params: SizingParams
    commission_rate: Decimal = Decimal(0)  # the broker's fee on a buy, as a fraction
    # A market buy's slippage buffer: the broker holds (and the cash must cover) the price plus
    # this fraction (KIS sends a US market buy as a limit this far above the price).
    market_buy_margin: Decimal = Decimal(0)
    # The price a broker holds a market buy at when that is more (KIS, KRX: the upper limit).
    market_buy_price: Decimal | None = None
    # Strategy scope: the broker's holdings of the instrument (every strategy's shares and any
    # unattributed ones). None in account scope, where ``held`` is the broker's holdings.
    broker_held: Decimal | None = None
    # The account's working orders in the instrument (every strategy's).
    working: tuple[WorkingOrder, ...] = ()
    may_replace: bool = True  # False: never cancel-replace (an operator's order)

    @property
    def move(self) -> Move:
        """What the alert asks of the position (`yquant.domain.intent`)."""
        return row_of(self.alert).move


@dataclass(frozen=True, slots=True)
class Intent:
    """What a policy wants before the common rules: a side and a quantity (None = all held)."""

    side: Side
    quantity: Decimal | None


@dataclass(frozen=True, slots=True)
class Sized:
    side: Side
    quantity: Decimal
    notes: tuple[ReasonCode, ...] = ()  # rules that reduced the wanted quantity
    replaces: str | None = None  # the working sell (client order id) this one cancel-replaces


PolicyFn = Callable[[SizingInput], Intent]


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    fn: PolicyFn
    requires: tuple[str, ...] = ()  # SizingParams fields that must be set
    follows_target: bool = False  # trades toward a target, so "same direction" is expected

    def __call__(self, inp: SizingInput) -> Intent:
        return self.fn(inp)


# ---- the common rules ----------------------------------------------------------------------------


def size(policy: Policy, inp: SizingInput) -> Sized:
    """The order a policy asks for, within the rules; SignalRejectedError when there is none."""
    row = row_of(inp.alert)
    intent = Intent(Side.SELL, None) if row.move is Move.CLOSE else policy(inp)
    if intent.side is Side.SELL:
        # A target is measured from the position: a working sell toward it is always replaced.
        return _sell(intent, row, inp, to_target=policy.follows_target)
    return _buy(intent, inp)


def _sell(intent: Intent, row: Row, inp: SizingInput, *, to_target: bool = False) -> Sized:
    account_scope = inp.broker_held is None
    position = max(_whole(inp.held), ZERO)
    broker = position if inp.broker_held is None else max(_whole(inp.broker_held), ZERO)
    if position <= 0:
        reason = row.nothing_held or ReasonCode.NO_POSITION
        raise SignalRejectedError(reason, _nothing_held(reason, account_scope))
    if broker <= 0:
        raise SignalRejectedError(
            ReasonCode.NO_POSITION, f"the broker holds none of the strategy's {position} shares"
        )
    wanted = None if intent.quantity is None else _whole(intent.quantity)
    if wanted is not None and wanted <= 0:
        raise SignalRejectedError(ReasonCode.NO_QUANTITY, "sell quantity rounds to zero")
    sells = [w for w in inp.working if w.side is Side.SELL]
    # In account scope every working sell of the account holds part of the position.
    counted = sells if account_scope else [w for w in sells if w.strategy == inp.alert.strategy]

    def rooms(replaced: WorkingOrder | None) -> tuple[Decimal, Decimal]:
        """(the position, the broker's holdings) less what the other working sells hold."""
        mine = sum((w.remaining for w in counted if w is not replaced), ZERO)
        everyone = sum((w.remaining for w in sells if w is not replaced), ZERO)
        return _whole(position - mine), _whole(broker - everyone)

    replaced = None
    replaceable = [w for w in sells if w.strategy == inp.alert.strategy]
    if (
        replaceable
        and inp.may_replace
        and (to_target or wanted is None or wanted > min(rooms(None)))
    ):
        # An exit, a sell-all, a target, or more than is free: the strategy's most recent
        # working sell is cancelled first (by the gateway) and this one sized from the position.
        replaced = max(replaceable, key=lambda w: (w.created_at, w.client_order_id))
    for_position, for_broker = rooms(replaced)
    room = min(for_position, for_broker)
    if room <= 0:
        raise SignalRejectedError(
            ReasonCode.ORDER_WORKING, f"working sells already hold the {position} shares"
        )
    replaces = None if replaced is None else replaced.client_order_id
    if wanted is None:
        asked = inp.alert.quantity
        notes: tuple[ReasonCode, ...] = ()
        if not account_scope and for_broker < for_position:
            # The book counts more for the strategy than the broker holds: all it holds.
            notes = (ReasonCode.CAPPED_BY_HOLDINGS,)
        elif row.move is Move.CLOSE and inp.alert.action is Action.SELL and asked is not None:
            # The alert's sell would have gone below zero: closed at the position instead.
            notes = (ReasonCode.CAPPED_BY_POSITION,) if _whole(asked) > room else ()
        return Sized(Side.SELL, room, notes, replaces)
    if wanted > room:
        by_broker = account_scope or for_broker < for_position
        note = ReasonCode.CAPPED_BY_HOLDINGS if by_broker else ReasonCode.CAPPED_BY_POSITION
        return Sized(Side.SELL, room, (note,), replaces)
    return Sized(Side.SELL, wanted, (), replaces)


def _nothing_held(reason: ReasonCode, account_scope: bool) -> str:
    whose = "the account holds" if account_scope else "the strategy holds"
    if reason is ReasonCode.SHORT_NOT_ALLOWED:
        return f"a cash account cannot be short and {whose} no shares to close"
    return f"{whose} no shares to sell"


def _buy(intent: Intent, inp: SizingInput) -> Sized:
    if intent.quantity is None:
        raise SignalRejectedError(ReasonCode.NO_QUANTITY, "the policy gave no buy quantity")
    price = inp.price
    if price is None or price <= 0:
        raise SignalRejectedError(
            ReasonCode.NO_PRICE, "a buy needs the alert's price or a limit price"
        )
    wanted = _whole(intent.quantity)
    if wanted <= 0:
        raise SignalRejectedError(ReasonCode.NO_QUANTITY, "buy quantity rounds to zero")
    notes: list[ReasonCode] = []
    # What the cash buys with the broker's fee on top (a cap at the price alone is refused),
    # at the price the broker will hold for it.
    held_at = hold_price(inp, price)
    affordable = _whole(max(inp.cash, Decimal(0)) / (held_at * (1 + inp.commission_rate)))
    if wanted > affordable:
        if affordable <= 0:
            raise SignalRejectedError(
                ReasonCode.INSUFFICIENT_CASH,
                f"{_money(inp.cash)} {inp.currency} buys no share at {price}",
            )
        wanted = affordable
        notes.append(ReasonCode.CAPPED_BY_CASH)
    minimum = inp.params.min_order_amount.get(inp.currency)
    if minimum is not None and wanted * price < minimum:
        raise SignalRejectedError(
            ReasonCode.BELOW_MINIMUM,
            f"{_money(wanted * price)} {inp.currency} is below the minimum {minimum}",
        )
    return Sized(Side.BUY, wanted, tuple(notes))


def hold_price(inp: SizingInput, price: Decimal) -> Decimal:
    """The price a broker holds cash at for one share of this buy: a limit's own price; a
    market buy's price plus the slippage buffer, or the broker's own ceiling where higher."""
    if inp.alert.order_type is not OrderType.MARKET:
        return price
    held_at = price * (1 + inp.market_buy_margin)
    if inp.market_buy_price is not None:
        held_at = max(held_at, inp.market_buy_price)
    return held_at


def _whole(quantity: Decimal) -> Decimal:
    return quantity.to_integral_value(rounding=ROUND_FLOOR)


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")).normalize(), "f")


def _side(alert: Alert) -> Side:
    return Side.BUY if alert.action is Action.BUY else Side.SELL


def _amount_to_shares(amount: Decimal, inp: SizingInput) -> Decimal:
    if inp.price is None or inp.price <= 0:
        raise SignalRejectedError(ReasonCode.NO_PRICE, "an amount-sized buy needs a price")
    return _whole(amount / inp.price)


# ---- built-in policies ---------------------------------------------------------------------------


def _fixed_quantity(inp: SizingInput) -> Intent:
    return Intent(_side(inp.alert), inp.params.quantity)


def _alert_quantity(inp: SizingInput) -> Intent:
    if inp.move is Move.REVERSE:
        # TradingView's order covered the short and opened the long: its contracts count both,
        # and a cash account never held the short. What is bought is the new long.
        return _to_target(inp, "a short-to-long reversal needs position_size", buy_only=True)
    wanted = inp.alert.quantity if inp.alert.quantity is not None else inp.params.quantity
    if wanted is None and inp.alert.action is Action.BUY:
        raise SignalRejectedError(
            ReasonCode.NO_QUANTITY, "the alert has no quantity and none is configured"
        )
    return Intent(_side(inp.alert), wanted)  # a sell without a quantity sells all held


def _fixed_amount(inp: SizingInput) -> Intent:
    if inp.alert.action is not Action.BUY:
        return Intent(Side.SELL, None)
    amount = inp.params.amount.get(inp.currency)
    if amount is None:
        raise SignalRejectedError(ReasonCode.NO_AMOUNT, f"no amount configured in {inp.currency}")
    return Intent(Side.BUY, _amount_to_shares(amount, inp))


def _percent_of_equity(inp: SizingInput) -> Intent:
    if inp.alert.action is not Action.BUY:
        return Intent(Side.SELL, None)
    percent = inp.params.percent_of_equity or Decimal(0)
    return Intent(Side.BUY, _amount_to_shares(max(inp.equity, Decimal(0)) * percent / HUNDRED, inp))


def _risk(inp: SizingInput) -> Intent:
    """equity x risk% / stop%, capped by max allocation (of equity) and cash, x strength."""
    if inp.alert.action is not Action.BUY:
        return Intent(Side.SELL, None)
    p = inp.params
    equity = max(inp.equity, Decimal(0))
    risk, stop = p.risk_percent or Decimal(0), p.stop_percent or Decimal(1)
    target = equity * risk / stop
    if p.max_allocation_percent is not None:
        target = min(target, equity * p.max_allocation_percent / HUNDRED)
    strength = inp.alert.strength if inp.alert.strength is not None else HUNDRED
    target = target * min(max(strength, Decimal(0)), HUNDRED) / HUNDRED
    target = min(target, max(inp.cash, Decimal(0)))
    return Intent(Side.BUY, _amount_to_shares(target, inp))


def _target_position(inp: SizingInput) -> Intent:
    """Trade the strategy's position toward TradingView's ``position_size`` (a missed alert is
    repaired this way)."""
    return _to_target(inp, "the alert carries no position_size")


def _to_target(inp: SizingInput, missing: str, *, buy_only: bool = False) -> Intent:
    target = inp.alert.position_size
    if target is None:
        raise SignalRejectedError(ReasonCode.NO_TARGET, missing)
    target = max(_whole(target), ZERO)  # a cash account's target cannot be short
    delta = target - max(_whole(inp.held), ZERO)
    if delta == 0 or (buy_only and delta < 0):
        raise SignalRejectedError(ReasonCode.AT_TARGET, f"already holding {target}")
    return Intent(Side.BUY, delta) if delta > 0 else Intent(Side.SELL, -delta)


BUILTIN: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy("fixed_quantity", _fixed_quantity, ("quantity",)),
        Policy("alert_quantity", _alert_quantity),
        Policy("fixed_amount", _fixed_amount, ("amount",)),
        Policy("percent_of_equity", _percent_of_equity, ("percent_of_equity",)),
        Policy("risk", _risk, ("risk_percent", "stop_percent")),
        Policy("target_position", _target_position, follows_target=True),
    )
}


# ---- the registry --------------------------------------------------------------------------------


def load_policy(name: str) -> Policy:
    """A built-in by name, an entry point of group ``yquant.sizing``, or a dotted path.

    A dotted path (``package.module:attr`` or ``package.module.attr``) may name a `Policy` or a
    plain function ``(SizingInput) -> Intent``. Raises ConfigurationError when nothing matches.
    """
    if name in BUILTIN:
        return BUILTIN[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return _as_policy(name, ep.load())
    module_name, sep, attr = name.partition(":")
    if not sep:
        module_name, _, attr = name.rpartition(".")
    if module_name and attr:
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError):
            pass
        else:
            return _as_policy(name, target)
    raise ConfigurationError(
        f"sizing policy {name!r} does not exist; built-in: {', '.join(sorted(BUILTIN))}"
        " (or give package.module:function)"
    )


def _as_policy(name: str, target: object) -> Policy:
    if isinstance(target, Policy):
        return target
    if callable(target):
        return Policy(name, target)
    raise ConfigurationError(f"sizing policy {name!r} is neither a Policy nor a function")


def validate(configured: Iterable[tuple[str, str, SizingParams]]) -> dict[str, Policy]:
    """Load every configured policy; one error naming all that are missing or incomplete.

    ``configured`` holds (settings key, policy name, parameters).
    """
    loaded: dict[str, Policy] = {}
    problems: list[str] = []
    for key, name, params in configured:
        try:
            policy = loaded.get(name) or load_policy(name)
        except ConfigurationError as exc:
            problems.append(f"{key}: {exc}")
            continue
        loaded[name] = policy
        for required in policy.requires:
            value = getattr(params, required)
            if value is None or (isinstance(value, Mapping) and not value):
                problems.append(f"{key}: policy {name!r} needs {required!r}")
    if problems:
        raise ConfigurationError("invalid sizing: " + "; ".join(problems))
    return loaded
