"""Performance of an account or a strategy over a period, from its daily snapshots. Pure.

Returns are time-weighted: a day's return is ``(equity - flow) / previous equity - 1``, where
``flow`` is the cash deposited (+) or withdrawn (-) that day, so money moved in or out is never
counted as performance. A strategy has no cash of its own: its day's return is the change of
its P&L (realised plus unrealised, in KRW) over the account's equity of the day before, i.e.
what it contributed to the account's return; the strategies' returns then add up to the
account's (less what the unattributed rows and FX moves on cash contribute).

The statistics follow the usual definitions (the ones QuantStats and empyrical use), with a
risk-free rate of 0 and 252 periods a year:

- cumulative return: the product of (1 + r) less 1; CAGR over the calendar days from the day
  before the first return to the last (365.25 days a year);
- volatility: the sample standard deviation of the daily returns x sqrt(252);
- Sharpe: mean / sample standard deviation x sqrt(252); Sortino: mean / downside deviation x
  sqrt(252), the downside deviation being sqrt(sum of squared negative returns / n);
- maximum drawdown: the deepest fall of the compounded index from its running peak, and the
  longest time (calendar days) from a peak until the index was back at it (or the end);
- exposure: the share of days that ended with positions held;
- trades: the round trips of the book (a position opened from flat and closed back to flat);
  win rate, profit factor (gains / losses, in KRW) and the average win and loss (each trip's
  P&L over what its buys cost) are of those trips.

Computed with the standard library: QuantStats and empyrical-reloaded both bring pandas, numpy
and scipy (QuantStats also matplotlib and seaborn), some 100 MB to import into the dashboard,
a long-running role, for a few sums over at most a few thousand days.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from yquant.domain.book import BookFill, FeeSchedule, LocalDay, Position
from yquant.domain.model import CURRENCY, Side

PERIODS_PER_YEAR = 252
DAYS_PER_YEAR = 365.25
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class DayValue:
    """One day of a series: the equity at its end (KRW), the flow of the day, the value of
    the positions held, and (for a strategy) its P&L so far and the account's equity."""

    day: date
    equity: Decimal
    flow: Decimal = ZERO
    exposure: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class DailyReturn:
    day: date
    value: float  # 0.01 is 1 %
    equity: Decimal  # KRW at the end of the day (the account's, for a strategy)
    exposed: bool  # positions were held at the end of the day


@dataclass(frozen=True, slots=True)
class RoundTrip:
    account: str
    strategy: str
    ticker: str
    currency: str
    opened_at: datetime
    closed_at: datetime
    cost: Decimal  # what the trip's buys cost (price x quantity)
    pnl: Decimal  # realised, net of commissions and taxes


@dataclass(frozen=True, slots=True)
class Metrics:
    start: date | None
    end: date | None
    days: int
    cumulative_return: float
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_days: int
    exposure: float | None
    trades: int
    win_rate: float | None
    profit_factor: float | None
    avg_win: float | None
    avg_loss: float | None


def account_returns(days: Sequence[DayValue]) -> list[DailyReturn]:
    """Time-weighted daily returns of an account's days (in order; the first day is the base).
    A day after one without equity has no return (there was nothing to earn on)."""
    out: list[DailyReturn] = []
    for before, day in itertools.pairwise(days):
        if before.equity <= 0:
            continue
        value = float((day.equity - day.flow) / before.equity) - 1.0
        out.append(DailyReturn(day.day, value, day.equity, day.exposure != 0))
    return out


def strategy_returns(
    pnl: Mapping[date, Decimal], exposure: Mapping[date, Decimal], account: Sequence[DayValue]
) -> list[DailyReturn]:
    """A strategy's daily returns: the change of its P&L (KRW) over the account's equity of
    the day before. ``pnl``: the strategy's P&L so far (KRW) at the end of each day of
    ``account`` it had one, the first day (the base) included; a day without one keeps the
    last known P&L, and before the first it is 0."""
    out: list[DailyReturn] = []
    last = pnl.get(account[0].day, ZERO) if account else ZERO
    for before, day in itertools.pairwise(account):
        now = pnl.get(day.day, last)
        if before.equity > 0:
            held = exposure.get(day.day, ZERO) != 0
            out.append(DailyReturn(day.day, float((now - last) / before.equity), day.equity, held))
        last = now
    return out


def round_trips(
    fills: Iterable[BookFill], fees: FeeSchedule, local_day: LocalDay
) -> list[RoundTrip]:
    """Each position's trips from flat back to flat (a trip still open is not counted)."""
    positions: dict[tuple[str, str, str, str], Position] = {}
    opened: dict[tuple[str, str, str, str], tuple[datetime, Decimal, Decimal]] = {}
    trips: list[RoundTrip] = []
    for fill in sorted(fills, key=lambda f: (f.filled_at, f.fill_id)):
        key = (fill.account, fill.strategy, fill.market.value, fill.ticker)
        position = positions.get(key) or Position(
            fill.account, fill.strategy, fill.market, fill.ticker
        )
        was_flat = position.quantity <= 0
        position, realised = position.apply(fill, fees, local_day(fill.market, fill.filled_at))
        positions[key] = position
        if fill.side is Side.BUY:
            start, cost, pnl = opened.get(key, (fill.filled_at, ZERO, ZERO))
            if was_flat and key not in opened:
                start = fill.filled_at
            opened[key] = (start, cost + fill.quantity * fill.price, pnl)
            continue
        if key not in opened:
            continue  # a sell of shares the book never saw bought: no trip to close
        start, cost, pnl = opened[key]
        pnl += realised
        if position.quantity <= 0:
            trips.append(
                RoundTrip(
                    fill.account,
                    fill.strategy,
                    fill.ticker,
                    CURRENCY[fill.market],
                    start,
                    fill.filled_at,
                    cost,
                    pnl,
                )
            )
            del opened[key]
        else:
            opened[key] = (start, cost, pnl)
    return trips


def metrics(
    returns: Sequence[DailyReturn],
    trips: Sequence[RoundTrip] = (),
    *,
    fx: Mapping[str, Decimal] | None = None,
    base_day: date | None = None,
) -> Metrics:
    """The statistics of ``returns`` (in order) and ``trips``. ``fx``: KRW per unit of each
    currency, to weigh trips of several currencies in the profit factor; ``base_day``: the
    day before the first return (for the CAGR; default: one day before it)."""
    values = [r.value for r in returns]
    n = len(values)
    start = returns[0].day if returns else None
    end = returns[-1].day if returns else None
    base = base_day or (date.fromordinal(start.toordinal() - 1) if start else None)
    growth, peak, peak_day = 1.0, 1.0, base
    deepest, longest, falling = 0.0, 0, False
    for r in returns:
        growth *= 1.0 + r.value
        if growth >= peak:
            if falling and peak_day is not None:  # back at the peak: the drawdown is over
                longest = max(longest, _days(peak_day, r.day))
            peak, peak_day, falling = growth, r.day, False
        else:
            falling = True
            deepest = min(deepest, growth / peak - 1.0)
    if falling and peak_day is not None and end is not None:  # not recovered by the end
        longest = max(longest, _days(peak_day, end))
    cumulative = growth - 1.0
    cagr = None
    if base is not None and end is not None:
        years = (end - base).days / DAYS_PER_YEAR
        if years > 0 and growth > 0:
            try:
                cagr = growth ** (1.0 / years) - 1.0
            except OverflowError:  # a large gain over a few days: no meaningful yearly rate
                cagr = None
    mean = sum(values) / n if n else 0.0
    sd = _sample_sd(values)
    annual = math.sqrt(PERIODS_PER_YEAR)
    volatility = sd * annual if sd is not None else None
    sharpe = mean / sd * annual if sd else None
    downside = math.sqrt(sum(v * v for v in values if v < 0) / n) if n else 0.0
    sortino = mean / downside * annual if downside else None
    exposure = sum(1 for r in returns if r.exposed) / n if n else None
    rates = fx or {}
    wins = [t for t in trips if t.pnl > 0]
    losses = [t for t in trips if t.pnl < 0]

    def krw(t: RoundTrip) -> Decimal:
        return t.pnl * rates.get(t.currency, Decimal(1) if t.currency == "KRW" else ZERO)

    gained = sum((krw(t) for t in wins), ZERO)
    lost = -sum((krw(t) for t in losses), ZERO)
    return Metrics(
        start=start,
        end=end,
        days=n,
        cumulative_return=cumulative,
        cagr=cagr,
        volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=deepest,
        max_drawdown_days=longest,
        exposure=exposure,
        trades=len(trips),
        win_rate=len(wins) / len(trips) if trips else None,
        profit_factor=float(gained / lost) if lost > 0 else None,
        avg_win=_mean_return(wins),
        avg_loss=_mean_return(losses),
    )


def drawdowns(returns: Sequence[DailyReturn]) -> list[tuple[date, float, float]]:
    """(day, compounded index, drawdown from the running peak) of each return: the equity
    curve and the drawdown chart of a report."""
    out = []
    growth, peak = 1.0, 1.0
    for r in returns:
        growth *= 1.0 + r.value
        peak = max(peak, growth)
        out.append((r.day, growth, growth / peak - 1.0))
    return out


def _days(a: date, b: date) -> int:
    return (b - a).days


def _sample_sd(values: Sequence[float]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _mean_return(trips: Sequence[RoundTrip]) -> float | None:
    rated = [float(t.pnl / t.cost) for t in trips if t.cost > 0]
    return sum(rated) / len(rated) if rated else None
