"""The performance statistics against values worked out by hand on fixed series."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from yquant.domain.book import BookFill, FeeSchedule, LocalDay
from yquant.domain.model import Market, Side
from yquant.domain.performance import (
    DailyReturn,
    DayValue,
    account_returns,
    drawdowns,
    metrics,
    round_trips,
    strategy_returns,
)

D = Decimal
D0, D1, D2, D3 = (date(2026, 12, d) for d in (1, 2, 3, 4))


def returns(*values: float, exposed: bool = True) -> list[DailyReturn]:
    return [DailyReturn(date(2026, 12, 2 + i), v, D(0), exposed) for i, v in enumerate(values)]


def test_time_weighted_returns_leave_deposits_and_withdrawals_out() -> None:
    days = [
        DayValue(D0, D(1000)),
        DayValue(D1, D(1600), flow=D(500)),  # 500 deposited, 100 earned: +10 %
        DayValue(D2, D(1100), flow=D(-500)),  # 500 withdrawn, nothing earned: 0 %
        DayValue(D3, D(990), exposure=D(990)),  # 10 % lost
    ]
    got = account_returns(days)
    assert [r.day for r in got] == [D1, D2, D3]
    assert [r.value for r in got] == pytest.approx([0.10, 0.0, -0.10])
    assert [r.exposed for r in got] == [False, False, True]


def test_a_day_after_one_without_equity_has_no_return() -> None:
    got = account_returns([DayValue(D0, D(0)), DayValue(D1, D(500), flow=D(500))])
    assert got == []


def test_the_statistics_of_a_fixed_series_match_the_hand_computed_values() -> None:
    # +10 %, -10 %, +10 %: index 1.1, 0.99, 1.089.
    m = metrics(returns(0.10, -0.10, 0.10), base_day=D0)
    assert m.cumulative_return == pytest.approx(0.089)
    # mean 1/30; sample sd sqrt((2 x (1/15)^2 + (2/15)^2) / 2) = 0.1154701
    assert m.volatility == pytest.approx(0.1154701 * 252**0.5, rel=1e-6)
    assert m.volatility == pytest.approx(1.8330303, rel=1e-6)
    assert m.sharpe == pytest.approx(4.5825757, rel=1e-6)  # (1/30) / 0.1154701 x sqrt(252)
    # downside deviation sqrt(0.01 / 3) = 0.0577350
    assert m.sortino == pytest.approx(9.1651514, rel=1e-6)
    assert m.max_drawdown == pytest.approx(-0.10)  # 1.1 to 0.99
    assert m.max_drawdown_days == 2  # from the peak on Dec 2, not back by Dec 4
    assert m.days == 3 and (m.start, m.end) == (D1, D3)
    assert m.exposure == 1.0


def test_cagr_over_whole_years() -> None:
    years = [DailyReturn(date(2025 + i, 1, 1), 0.10, D(0), True) for i in range(4)]
    m = metrics(years, base_day=date(2024, 1, 1))  # 1461 days: 4 years of 365.25
    assert m.cumulative_return == pytest.approx(1.1**4 - 1)
    assert m.cagr == pytest.approx(0.10)


def test_a_drawdown_that_recovers_counts_the_days_until_it_is_back() -> None:
    # index 1.0 -> 0.8 -> 0.9 -> 1.0 (back at the peak) -> 1.1
    m = metrics(returns(-0.2, 0.125, 1 / 9, 0.10), base_day=D0)
    assert m.max_drawdown == pytest.approx(-0.2)
    assert m.max_drawdown_days == 3  # Dec 1 (the base) to Dec 4
    curve = drawdowns(returns(-0.2, 0.125))
    assert [round(dd, 6) for _, _, dd in curve] == [-0.2, -0.1]


def test_an_empty_or_flat_series_has_no_ratios() -> None:
    m = metrics([])
    assert (m.cumulative_return, m.cagr, m.sharpe, m.trades, m.exposure) == (
        0.0,
        None,
        None,
        0,
        None,
    )
    flat = metrics(returns(0.0, 0.0, exposed=False))
    assert (flat.sharpe, flat.sortino, flat.max_drawdown, flat.exposure) == (None, None, 0.0, 0.0)


def test_a_strategys_return_is_its_pnl_over_the_accounts_equity() -> None:
    account = [DayValue(D0, D(1000)), DayValue(D1, D(1100)), DayValue(D2, D(1100))]
    got = strategy_returns({D0: D(0), D1: D(50), D2: D(30)}, {D1: D(10)}, account)
    assert [r.value for r in got] == pytest.approx([0.05, -20 / 1100])
    assert [r.exposed for r in got] == [True, False]
    # A strategy that starts later earns nothing before its first day.
    late = strategy_returns({D2: D(11)}, {}, account)
    assert [r.value for r in late] == pytest.approx([0.0, 0.01])


def fill(n: int, side: Side, qty: str, price: str, ticker: str = "005930") -> BookFill:
    market = Market.KR if ticker.isdigit() else Market.US
    at = datetime(2026, 12, 1, 1, n, tzinfo=UTC)
    return BookFill(
        f"f{n}", f"o{n}", "main", "trend", market, ticker, side, D(qty), D(price), D(0), at
    )


def test_round_trips_and_their_statistics() -> None:
    fills = [
        fill(1, Side.BUY, "10", "100"),
        fill(2, Side.BUY, "10", "110"),  # average 105
        fill(3, Side.SELL, "20", "120"),  # +300 on 2,100: +14.29 %
        fill(4, Side.BUY, "5", "200"),
        fill(5, Side.SELL, "5", "180"),  # -100 on 1,000: -10 %
        fill(6, Side.BUY, "1", "10", "AAPL"),
        fill(7, Side.SELL, "1", "12", "AAPL"),  # +2 USD on 10: +20 %
        fill(8, Side.BUY, "1", "300"),  # still open: not a trip
    ]
    trips = round_trips(fills, FeeSchedule(), LocalDay.of_markets())
    assert [(t.ticker, t.pnl, t.cost) for t in trips] == [
        ("005930", D(300), D(2100)),
        ("005930", D(-100), D(1000)),
        ("AAPL", D(2), D(10)),
    ]
    m = metrics(returns(0.01), trips, fx={"USD": D(1000)})
    assert m.trades == 3
    assert m.win_rate == pytest.approx(2 / 3)
    assert m.profit_factor == pytest.approx((300 + 2000) / 100)
    assert m.avg_win == pytest.approx((300 / 2100 + 0.2) / 2)
    assert m.avg_loss == pytest.approx(-0.10)


def test_a_yearly_rate_too_large_to_write_is_left_out() -> None:
    m = metrics(returns(9.0), base_day=D1 - (D2 - D1))  # tenfold in one day
    assert m.cumulative_return == pytest.approx(9.0)
    assert m.cagr is None
