"""The daily series of a report: accounts and currencies summed in KRW, a market's holiday, and
an account or a currency that starts later counted as money in, not as a return."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from yquant.domain.performance import account_returns
from yquant.domain.snapshots import AccountDay, FxRate, FxSource, SnapshotSource
from yquant.services.reports import account_series

D = Decimal
D1, D2, D3 = date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)


def row(
    account: str, day: date, currency: str, cash: str, rate: str = "1", flow: str = "0"
) -> AccountDay:
    return AccountDay(
        account=account,
        day=day,
        currency=currency,
        cash=D(cash),
        positions_value=D(0),
        realised=D(0),
        unrealised=D(0),
        flow=D(flow),
        fx=FxRate(D(rate), FxSource.BASE if currency == "KRW" else FxSource.CONFIG),
        source=SnapshotSource.BROKER,
        taken_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


def test_currencies_sum_in_krw_and_a_holiday_keeps_the_last_row() -> None:
    rows = [
        row("a", D1, "KRW", "1000000"),
        row("a", D1, "USD", "100", "1400"),
        row("a", D2, "KRW", "1010000"),  # no USD row: a US holiday
        row("a", D3, "KRW", "1010000"),
        row("a", D3, "USD", "100", "1428"),  # the dollar's move is a return in KRW
    ]
    series = account_series(rows)
    assert [d.equity for d in series] == [D(1_140_000), D(1_150_000), D(1_152_800)]
    assert [r.value for r in account_returns(series)] == pytest.approx(
        [10_000 / 1_140_000, 2_800 / 1_150_000]
    )


def test_an_account_or_currency_that_starts_later_is_money_in() -> None:
    rows = [
        row("a", D1, "KRW", "1000000"),
        row("a", D2, "KRW", "860000", flow="-140000"),  # KRW changed into dollars
        row("a", D2, "USD", "100", "1400"),  # the first USD row: 140,000 in
        row("b", D3, "KRW", "500000"),  # a second account's first day
        row("a", D3, "KRW", "860000"),
    ]
    series = account_series(rows)
    assert [d.flow for d in series] == [D(0), D(0), D(500_000)]
    assert [r.value for r in account_returns(series)] == pytest.approx([0.0, 0.0])
