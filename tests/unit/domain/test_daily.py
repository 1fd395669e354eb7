"""The day's result for the daily loss limit: realised today plus the change of unrealised P&L
since the session start."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from yquant.domain.book import BookFill, FeeSchedule, LocalDay, build
from yquant.domain.daily import DayMarks, day_result
from yquant.domain.model import Market, Side

DAY_START = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
YESTERDAY = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
TODAY = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
_ids = iter(range(10**6))


def fill(
    strategy: str, side: Side, quantity: int, price: int, at: datetime, ticker: str = "A"
) -> BookFill:
    n = next(_ids)
    return BookFill(
        f"f{n}", f"o{n}", "acct", strategy, Market.KR, ticker, side,
        Decimal(quantity), Decimal(price), Decimal(0), at,
    )  # fmt: skip


def result(
    fills: list[BookFill], marks: dict[str, DayMarks], strategy: str | None = None
) -> Decimal:
    now = build(fills, FeeSchedule(), LocalDay({}), since=DAY_START)
    start = build([f for f in fills if f.filled_at < DAY_START], FeeSchedule(), LocalDay({}))
    by_key = {(Market.KR, t): m for t, m in marks.items()}
    return day_result(now, start, by_key, account="acct", currency="KRW", strategy=strategy)


def test_a_holding_carried_into_the_day_counts_its_move_from_the_start_mark() -> None:
    fills = [fill("s", Side.BUY, 10, 1000, YESTERDAY)]
    assert result(fills, {"A": DayMarks(start=Decimal(1100), now=Decimal(1050))}) == -500
    # Yesterday's gain is not today's.
    assert result(fills, {"A": DayMarks(start=Decimal(1100), now=Decimal(1100))}) == 0


def test_a_holding_bought_today_counts_its_move_from_its_cost() -> None:
    fills = [fill("s", Side.BUY, 10, 1000, TODAY)]
    assert result(fills, {"A": DayMarks(start=Decimal(1200), now=Decimal(990))}) == -100


def test_a_sale_today_counts_what_it_realised() -> None:
    fills = [fill("s", Side.BUY, 10, 1000, YESTERDAY), fill("s", Side.SELL, 10, 900, TODAY)]
    # Carried at the start mark 950: realised -1000, and the start's -500 undone: -500 today.
    assert result(fills, {"A": DayMarks(start=Decimal(950), now=Decimal(900))}) == -500


def test_without_prices_only_the_realised_part_counts() -> None:
    fills = [fill("s", Side.BUY, 10, 1000, TODAY), fill("s", Side.SELL, 4, 950, TODAY)]
    assert result(fills, {}) == -200
    # One price known stands for both ends: no move of price is counted.
    assert result(fills, {"A": DayMarks(now=Decimal(1100))}) == -200 + 600


def test_the_strategys_result_is_its_own_positions_only() -> None:
    fills = [fill("s", Side.BUY, 10, 1000, TODAY), fill("t", Side.BUY, 10, 1000, TODAY, "B")]
    marks = {"A": DayMarks(start=Decimal(1000), now=Decimal(900)), "B": DayMarks(now=Decimal(2000))}
    assert result(fills, marks) == -1000 + 10_000
    assert result(fills, marks, strategy="s") == -1000
    assert result(fills, marks, strategy="t") == 10_000
