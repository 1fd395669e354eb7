"""A schedule's fields, checked once for every entry point, and its firing times in the market's
own time from the exchange calendars (holidays, half days, the 수능 late open, daylight saving)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from yquant.domain import market_rules as mr
from yquant.domain.model import Market, OrderType, Side
from yquant.domain.reasons import ReasonCode
from yquant.domain.schedule_fields import ScheduleInvalidError, parse
from yquant.domain.schedules import (
    ScheduleAction,
    ScheduledOrder,
    TimeKind,
    firing,
    limit_price,
    next_firing,
    quantity_for,
    regular_hours,
    signal_key,
)

KST = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
ACCOUNTS = ("paper", "main")
STRATEGIES = ("daytrade",)


def krx() -> mr.MarketCalendar:
    return mr.calendar_for(mr.venue_for("KRX"))


def nyse() -> mr.MarketCalendar:
    return mr.calendar_for(mr.venue_for("NYSE"))


def spec(**fields: Any) -> ScheduledOrder:
    base = {
        "name": "s",
        "ticker": "005930",
        "account": "paper",
        "side": "buy",
        "quantity": "1",
        "local_time": "10:00",
    }
    return parse({**base, **fields}, accounts=ACCOUNTS, strategies=STRATEGIES)


def problems(**fields: Any) -> dict[str, str]:
    with pytest.raises(ScheduleInvalidError) as refused:
        spec(**fields)
    return {p.field: p.message for p in refused.value.problems}


def test_a_plain_six_digit_code_is_a_krx_order_on_the_trading_days() -> None:
    s = spec()
    assert (s.market, s.exchange, s.ticker, s.side) == (Market.KR, "KRX", "005930", Side.BUY)
    assert s.days == ("mon", "tue", "wed", "thu", "fri")
    assert (s.time_kind, s.local_time, s.order_type) == (TimeKind.FIXED, time(10), OrderType.MARKET)
    assert s.venue.timezone == "Asia/Seoul"


def test_every_problem_is_named_by_its_field() -> None:
    found = problems(
        name="Has Space",
        side="hold",
        quantity="1.5",
        days="mon,xyz",
        account="nobody",
        local_time="25:00",
    )
    assert set(found) == {"name", "side", "quantity", "days", "account", "local_time"}
    assert "nobody" in found["account"]


def test_size_and_scope_are_one_or_the_other() -> None:
    assert "quantity" in problems(amount="1000")  # both a quantity and an amount
    assert "account" in problems(strategy="daytrade")  # both an account and a strategy
    s = spec(quantity=None, amount="1,000,000")
    assert (s.quantity, s.amount) == (None, Decimal(1_000_000))


def test_a_us_ticker_needs_its_exchange_and_times_are_new_york_time() -> None:
    assert "exchange" in problems(ticker="AAPL", market="US")
    s = spec(ticker="NASDAQ:AAPL")
    assert (s.market, s.exchange, s.venue.timezone) == (Market.US, "NASDAQ", "America/New_York")
    assert "exchange" in problems(ticker="AAPL", market="KR", exchange="NYSE")


def test_offsets_and_times_belong_to_their_kind() -> None:
    s = spec(local_time=None, time_kind="after_open", offset_min="0")
    assert (s.local_time, s.offset_min) == (None, 0)
    assert "offset_min" in problems(local_time=None, time_kind="before_close", offset_min="0")
    assert "offset_min" in problems(local_time=None, time_kind="after_open")
    assert "local_time" in problems(time_kind="after_open", offset_min="5")


def test_a_limit_is_an_offset_from_the_last_price_within_the_daily_band() -> None:
    s = spec(order_type="limit", limit_offset_pct="-1.5")
    assert limit_price(s, Decimal(71000)) == Decimal(69935)
    assert "limit_offset_pct" in problems(order_type="limit", limit_offset_pct="31")
    assert "limit_offset_pct" in problems(limit_offset_pct="1")  # a market order has none


def test_a_liquidation_takes_the_filters_and_no_order_fields() -> None:
    s = spec(
        action="liquidate",
        ticker=None,
        account=None,
        side=None,
        quantity=None,
        strategy="daytrade",
        market="KR",
    )
    assert (s.action, s.strategy, s.market, s.side) == (
        ScheduleAction.LIQUIDATE,
        "daytrade",
        Market.KR,
        None,
    )
    assert "quantity" in problems(action="liquidate", market="KR")


def test_a_fixed_time_is_checked_against_the_markets_regular_session() -> None:
    today = date(2026, 12, 7)
    assert regular_hours(krx(), today) == (time(9), time(15, 30))
    assert regular_hours(nyse(), today) == (time(9, 30), time(16))
    with pytest.raises(ScheduleInvalidError) as refused:
        parse(
            {"name": "x", "ticker": "005930", "account": "paper", "side": "buy",
             "quantity": "1", "local_time": "15:30"},
            accounts=ACCOUNTS, strategies=STRATEGIES, calendar=krx(), today=today,
        )  # fmt: skip
    [problem] = refused.value.problems
    assert problem.field == "local_time" and "09:00-15:30" in problem.message


def test_an_amount_buys_whole_shares_never_more_than_the_amount() -> None:
    s = spec(quantity=None, amount="1000000")
    assert quantity_for(s, Decimal(71000)) == 14
    assert quantity_for(s, None) is None
    assert quantity_for(spec(), None) == 1


def test_before_the_close_moves_with_a_half_day() -> None:
    """The day after Thanksgiving 2026 closes at 13:00 New York."""
    s = spec(ticker="NYSE:IBM", local_time=None, time_kind="before_close", offset_min="10")
    half = firing(s, nyse(), date(2026, 11, 27))
    assert half is not None
    assert half.at == datetime(2026, 11, 27, 12, 50, tzinfo=NEW_YORK)
    full = firing(s, nyse(), date(2026, 11, 30))
    assert full is not None
    assert full.at == datetime(2026, 11, 30, 15, 50, tzinfo=NEW_YORK)
    # A fixed 14:00 on the half day is after its close: skipped, not sent.
    fixed = firing(spec(ticker="NYSE:IBM", local_time="14:00"), nyse(), date(2026, 11, 27))
    assert fixed is not None and fixed.skip is ReasonCode.OUTSIDE_SESSION


def test_a_weekday_not_chosen_has_no_firing_and_a_holiday_is_skipped() -> None:
    s = spec(days="mon,wed")
    assert firing(s, krx(), date(2026, 9, 22)) is None  # a Tuesday
    holiday = firing(spec(), krx(), date(2026, 9, 24))  # 추석
    assert holiday is not None and holiday.skip is ReasonCode.MARKET_HOLIDAY


def test_the_next_firing_passes_over_holidays_and_weekends() -> None:
    s = spec(local_time="09:30")
    after = datetime(2026, 9, 23, 10, 0, tzinfo=KST)  # Wednesday, after its firing
    assert next_firing(s, krx(), after) == datetime(2026, 9, 28, 9, 30, tzinfo=KST)
    assert next_firing(s, krx(), after).tzinfo is UTC  # type: ignore[union-attr]


def test_a_firing_is_one_signal_whatever_worker_makes_it() -> None:
    assert signal_key(7, date(2026, 1, 2)) == signal_key(7, date(2026, 1, 2))
    assert signal_key(7, date(2026, 1, 2)) != signal_key(7, date(2026, 1, 5))
    assert len(signal_key(7, date(2026, 1, 2))) <= 64
