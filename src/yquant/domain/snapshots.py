"""A day's snapshot of an account in one currency, and of each strategy in it. Pure.

After a market's close, each account gets one row per currency of that market (KRX: KRW, the
US exchanges: USD): its cash, its positions at the closing price, its equity in the currency
and in KRW (with the FX rate, where the rate came from and when), the P&L of the book, and the
day's ``flow``: cash deposited (+) or withdrawn (-), i.e. what the broker's cash shows beyond
what the day's fills explain. Each strategy of the book gets its own row: the value of its
positions, their cost, its realised and unrealised P&L.

A day the worker missed is made from what was recorded instead (``source`` ``backfill``): the
cash of the day before, moved by the fills in between (no flow can be seen without the
broker's cash; the next snapshot taken from the broker shows it), and positions valued at the
last price known by the day's close.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from yquant.domain.book import (
    UNATTRIBUTED,
    BookFill,
    FeeSchedule,
    Holding,
    LocalDay,
    Position,
    build,
    reconcile,
)
from yquant.domain.model import CURRENCY, Market, Side

ZERO = Decimal(0)
BASE_CURRENCY = "KRW"


class SnapshotSource(StrEnum):
    BROKER = "broker"  # cash (and holdings) as the broker reported them after the close
    BACKFILL = "backfill"  # made later from the fills and the prices recorded


class FxSource(StrEnum):
    BASE = "base"  # the base currency itself: 1
    KIS = "kis"  # the rate KIS gave with an account's balance (``exrt``), recorded by FxService
    CONFIG = "config"  # the settings' rate (fx.usdkrw)
    PREVIOUS = "previous"  # the rate of the account's previous snapshot in that currency


@dataclass(frozen=True, slots=True)
class FxRate:
    """KRW per unit of a currency."""

    rate: Decimal
    source: FxSource
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StrategyDay:
    account: str
    strategy: str
    day: date
    currency: str
    position_value: Decimal
    cost_value: Decimal
    realised: Decimal
    unrealised: Decimal


@dataclass(frozen=True, slots=True)
class AccountDay:
    account: str
    day: date
    currency: str
    cash: Decimal
    positions_value: Decimal
    realised: Decimal
    unrealised: Decimal
    flow: Decimal
    fx: FxRate
    source: SnapshotSource
    taken_at: datetime
    strategies: tuple[StrategyDay, ...] = field(default=())

    @property
    def equity(self) -> Decimal:
        return self.cash + self.positions_value

    @property
    def equity_krw(self) -> Decimal:
        return self.equity * self.fx.rate

    @property
    def flow_krw(self) -> Decimal:
        return self.flow * self.fx.rate


def fill_cash(fill: BookFill, fees: FeeSchedule, local_day: LocalDay) -> Decimal:
    """What a fill did to the account's cash: a buy's cost and charges out, a sell's proceeds
    less its charges in (the broker's commission, else the schedule's estimate)."""
    day = local_day(fill.market, fill.filled_at)
    estimated, taxes = fees.charges(
        fill.market, fill.side, fill.quantity, fill.price, day, fill.exchange or None
    )
    commission = fill.commission if fill.commission > 0 else estimated
    gross = fill.quantity * fill.price
    if fill.side is Side.BUY:
        return -(gross + commission + taxes)
    return gross - commission - taxes


def take(
    *,
    account: str,
    market: Market,
    day: date,
    close_at: datetime,
    fills: Sequence[BookFill],
    prices: Mapping[tuple[Market, str], Decimal],
    fees: FeeSchedule,
    local_day: LocalDay,
    fx: FxRate,
    taken_at: datetime,
    previous: AccountDay | None,
    previous_close: datetime | None,
    cash: Decimal | None,
    holdings: Sequence[Holding] | None = None,
    flow_min: Decimal = ZERO,
) -> AccountDay:
    """The snapshot of ``account`` in ``market``'s currency for ``day`` (closing at
    ``close_at``), from ``fills`` (the account's, any time: those after the close are left
    out) and the closing ``prices``. ``previous``: the account's snapshot in this currency
    before ``day``, whose day closed at ``previous_close`` (the fills after it are this day's).
    ``cash``: the broker's, for a snapshot taken from the
    broker; None to back-fill from ``previous`` and the fills since. ``holdings``: the broker's,
    to value the shares no strategy's fills explain (an ``unattributed`` row). A flow smaller
    than ``flow_min`` is taken as a difference of charges, not as money moved."""
    currency = CURRENCY[market]
    mine = [f for f in fills if f.account == account and f.filled_at <= close_at]
    book = build(mine, fees, local_day)
    positions: list[Position] = [p for p in book.rows(account=account) if p.market is market]
    if holdings is not None:
        ours = [h for h in holdings if h.account == account and h.market is market]
        positions += [p for p in reconcile(book, ours, [account]) if p.market is market]
    rows = _strategy_rows(account, day, currency, positions, prices)
    value = sum((r.position_value for r in rows), ZERO)
    after = previous_close if previous is not None else None
    moved = sum(
        (
            fill_cash(f, fees, local_day)
            for f in mine
            if f.market is market and (after is None or f.filled_at > after)
        ),
        ZERO,
    )
    expected = (previous.cash if previous is not None else ZERO) + moved
    if cash is None:
        held, flow, source = expected, ZERO, SnapshotSource.BACKFILL
    else:
        held, source = cash, SnapshotSource.BROKER
        flow = cash - expected if previous is not None else ZERO
        if abs(flow) < flow_min:
            flow = ZERO
    return AccountDay(
        account=account,
        day=day,
        currency=currency,
        cash=held,
        positions_value=value,
        realised=sum((r.realised for r in rows), ZERO),
        unrealised=sum((r.unrealised for r in rows), ZERO),
        flow=flow,
        fx=fx,
        source=source,
        taken_at=taken_at,
        strategies=tuple(rows),
    )


def close_price(
    fills: Iterable[BookFill],
    recorded: Mapping[tuple[Market, str], tuple[Decimal, datetime]],
    close_at: datetime,
) -> dict[tuple[Market, str], Decimal]:
    """Each instrument's last price known at ``close_at``: the latest of its last fill by
    then (any account's) and the price recorded (``last_prices``) if it was seen by then."""
    latest: dict[tuple[Market, str], tuple[datetime, Decimal]] = {}
    for f in fills:
        if f.filled_at <= close_at:
            key = (f.market, f.ticker)
            seen = latest.get(key)
            if seen is None or seen[0] <= f.filled_at:
                latest[key] = (f.filled_at, f.price)
    for key, (price, at) in recorded.items():
        if at <= close_at:
            seen = latest.get(key)
            if seen is None or seen[0] <= at:
                latest[key] = (at, price)
    return {key: price for key, (_, price) in latest.items()}


def _strategy_rows(
    account: str,
    day: date,
    currency: str,
    positions: Sequence[Position],
    prices: Mapping[tuple[Market, str], Decimal],
) -> list[StrategyDay]:
    sums: dict[str, list[Decimal]] = {}
    for p in positions:
        price = prices.get((p.market, p.ticker))
        if price is None:  # never priced: at its last fill, else at cost (no unrealised P&L)
            price = p.last_price if p.last_price is not None else p.avg_cost
        value = p.quantity * price
        unrealised = (price - p.avg_cost) * p.quantity if p.quantity > 0 else ZERO
        cost = p.cost_value if p.quantity > 0 else ZERO
        realised = ZERO if p.strategy == UNATTRIBUTED else p.realised
        row = sums.setdefault(p.strategy, [ZERO, ZERO, ZERO, ZERO])
        row[0] += value
        row[1] += cost
        row[2] += realised
        row[3] += unrealised
    return [
        StrategyDay(account, strategy, day, currency, v, c, r, u)
        for strategy, (v, c, r, u) in sorted(sums.items())
    ]
