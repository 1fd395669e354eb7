"""The performance report of an account (or all) and of a strategy over a period, from the daily
snapshots and the book's round trips (`yquant report`, the dashboard's /performance).

An account's day is the sum, in KRW, of its rows in each currency (a currency without a row
that day, a US holiday, keeps its last one), and so is the day of every account together; the
returns are time-weighted (`yquant.domain.performance`). A strategy's P&L of a day is the sum
of its rows' realised and unrealised P&L, at the FX rate of its account's row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from yquant.domain.book import UNATTRIBUTED, FeeSchedule, LocalDay
from yquant.domain.model import CURRENCY, Market
from yquant.domain.performance import (
    DailyReturn,
    DayValue,
    Metrics,
    RoundTrip,
    account_returns,
    drawdowns,
    metrics,
    round_trips,
    strategy_returns,
)
from yquant.domain.snapshots import AccountDay
from yquant.ports import FillHistory, SnapshotRecords

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class CurvePoint:
    day: date
    equity: Decimal  # KRW: the account's (or, for a strategy, its account's)
    index: float  # the compounded return index, 1.0 at the base
    drawdown: float  # from the running peak, <= 0


@dataclass(frozen=True, slots=True)
class Report:
    account: str | None
    strategy: str | None
    since: date | None
    until: date | None
    base_day: date | None
    returns: list[DailyReturn]
    curve: list[CurvePoint]
    metrics: Metrics
    flows: Decimal  # KRW deposited (+) and withdrawn (-) in the period
    strategies: dict[str, Metrics]  # each strategy's, for the comparison (account reports)
    latest: list[AccountDay]  # the last snapshot of each account and currency in the period


class PerformanceReports:
    def __init__(
        self,
        *,
        records: SnapshotRecords,
        fills: FillHistory,
        fees: FeeSchedule,
        local_day: LocalDay | None = None,
    ) -> None:
        self._records = records
        self._fills = fills
        self._fees = fees
        self._days = local_day or LocalDay.of_markets()

    async def report(
        self,
        *,
        account: str | None = None,
        strategy: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> Report:
        """DatabaseUnavailableError when the database is away."""
        rows = await self._records.days(account=account, since=since, until=until)
        series = account_series(rows)
        fx = latest_rates(rows)
        fills = await self._fills.book_fills(account=account)
        trips = [
            t
            for t in round_trips(fills, self._fees, self._days)
            if _within(self._closed_on(t), since, until)
        ]
        base = series[0].day if series else None
        names = sorted({s.strategy for r in rows for s in r.strategies} - {UNATTRIBUTED})
        per_strategy: dict[str, Metrics] = {}
        for name in names:
            got = strategy_returns(*strategy_pnl(rows, name), series)
            mine = [t for t in trips if t.strategy == name]
            per_strategy[name] = metrics(got, mine, fx=fx, base_day=base)
        if strategy is not None:
            returns = strategy_returns(*strategy_pnl(rows, strategy), series)
            trips = [t for t in trips if t.strategy == strategy]
        else:
            returns = account_returns(series)
        equity = {d.day: d.equity for d in series}
        curve = [
            CurvePoint(day, equity.get(day, ZERO), index, dd)
            for day, index, dd in drawdowns(returns)
        ]
        if base is not None:
            curve.insert(0, CurvePoint(base, series[0].equity, 1.0, 0.0))
        return Report(
            account=account,
            strategy=strategy,
            since=since,
            until=until,
            base_day=base,
            returns=returns,
            curve=curve,
            metrics=metrics(returns, trips, fx=fx, base_day=base),
            flows=sum((d.flow for d in series[1:]), ZERO),
            strategies=per_strategy,
            latest=latest_rows(rows),
        )

    def _closed_on(self, trip: RoundTrip) -> date:
        """The local date (in its market's zone) a trip closed on."""
        return self._days(_market_of(trip.currency), trip.closed_at)


def _market_of(currency: str) -> Market:
    return next(m for m, c in CURRENCY.items() if c == currency)


def account_series(rows: Sequence[AccountDay]) -> list[DayValue]:
    """One value per day of the rows (every account and currency together, in KRW): a row
    missing on a day (that market was closed) stands at its last value, with no flow. An
    account or currency whose first row comes after the first day brings its equity in as a
    flow (money that came into the sum, not a return)."""
    last: dict[tuple[str, str], AccountDay] = {}
    out: list[DayValue] = []
    for day, today in _by_day(rows):
        flow = sum((r.flow_krw for r in today), ZERO)
        if out:
            flow += sum((r.equity_krw for r in today if (r.account, r.currency) not in last), ZERO)
        for r in today:
            last[(r.account, r.currency)] = r
        equity = sum((r.equity_krw for r in last.values()), ZERO)
        exposure = sum((r.positions_value * r.fx.rate for r in last.values()), ZERO)
        out.append(DayValue(day, equity, flow, exposure))
    return out


def strategy_pnl(
    rows: Sequence[AccountDay], strategy: str
) -> tuple[dict[date, Decimal], dict[date, Decimal]]:
    """``strategy``'s P&L so far and its positions' value, in KRW, at the end of each day."""
    last: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    pnl: dict[date, Decimal] = {}
    exposure: dict[date, Decimal] = {}
    for day, today in _by_day(rows):
        for r in today:
            mine = [s for s in r.strategies if s.strategy == strategy]
            earned = sum((s.realised + s.unrealised for s in mine), ZERO) * r.fx.rate
            held = sum((s.position_value for s in mine), ZERO) * r.fx.rate
            last[(r.account, r.currency)] = (earned, held)
        pnl[day] = sum((v[0] for v in last.values()), ZERO)
        exposure[day] = sum((v[1] for v in last.values()), ZERO)
    return pnl, exposure


def latest_rows(rows: Iterable[AccountDay]) -> list[AccountDay]:
    """The latest snapshot of each account and currency, by account and currency."""
    latest: dict[tuple[str, str], AccountDay] = {}
    for r in sorted(rows, key=lambda r: r.day):
        latest[(r.account, r.currency)] = r
    return [latest[k] for k in sorted(latest)]


def latest_rates(rows: Iterable[AccountDay]) -> dict[str, Decimal]:
    """KRW per unit of each currency, as the latest snapshot in it had it."""
    rates: dict[str, Decimal] = {}
    for r in sorted(rows, key=lambda r: r.day):
        rates[r.currency] = r.fx.rate
    return rates


def _by_day(rows: Sequence[AccountDay]) -> list[tuple[date, list[AccountDay]]]:
    days: dict[date, list[AccountDay]] = {}
    for r in rows:
        days.setdefault(r.day, []).append(r)
    return sorted(days.items())


def _within(closed: date, since: date | None, until: date | None) -> bool:
    return (since is None or closed >= since) and (until is None or closed <= until)
