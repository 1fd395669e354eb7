"""Markets: exchange aliases, sessions in each market's own time zone, ticks and price limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yquant.domain import market_rules as mr
from yquant.domain.model import Side
from yquant.domain.reasons import ReasonCode
from yquant.errors import SignalRejectedError

KST = ZoneInfo("Asia/Seoul")
ET = ZoneInfo("America/New_York")
JST = ZoneInfo("Asia/Tokyo")
HKT = ZoneInfo("Asia/Hong_Kong")


def krx() -> mr.MarketCalendar:
    return mr.calendar_for(mr.venue_for("KRX"))


def nyse() -> mr.MarketCalendar:
    return mr.calendar_for(mr.venue_for("NYSE"))


@pytest.mark.parametrize(
    ("alias", "market", "calendar"),
    [
        ("KRX", "KR", "XKRX"),
        ("kospi", "KR", "XKRX"),
        ("KOSDAQ", "KR", "XKRX"),
        ("NASDAQ", "US", "XNAS"),
        ("NYSE", "US", "XNYS"),
        ("AMEX", "US", "XASE"),
        ("NYSEARCA", "US", "XASE"),
        ("TSE", "JP", "XTKS"),
        ("HKEX", "HK", "XHKG"),
        ("SSE", "CN", "XSHG"),
        ("SZSE", "CN", "XSHG"),
    ],
)
def test_exchange_aliases_map_to_a_market_and_its_calendar(
    alias: str, market: str, calendar: str
) -> None:
    venue = mr.venue_for(alias)
    assert (venue.market, venue.calendar) == (market, calendar)


def test_an_unknown_exchange_is_a_rejection_not_a_guess() -> None:
    with pytest.raises(SignalRejectedError) as err:
        mr.venue_for("LSE")
    assert err.value.reason == ReasonCode.UNKNOWN_EXCHANGE


def test_krx_is_closed_on_chuseok_and_opens_the_next_business_day() -> None:
    state = krx().state(datetime(2026, 9, 24, 10, 0, tzinfo=KST))
    assert not state.is_open
    assert state.next_open_at == datetime(2026, 9, 28, 9, 0, tzinfo=KST)


def test_krx_is_closed_on_the_2026_local_election_day_the_library_misses() -> None:
    assert krx().session(date(2026, 6, 3)) is None
    state = krx().state(datetime(2026, 6, 3, 10, 0, tzinfo=KST))
    assert state.next_open_at == datetime(2026, 6, 4, 9, 0, tzinfo=KST)


def test_krx_opens_an_hour_late_and_closes_an_hour_late_on_csat_day() -> None:
    cal = krx()
    early = cal.state(datetime(2026, 11, 19, 9, 30, tzinfo=KST))
    assert not early.is_open
    assert early.next_open_at == datetime(2026, 11, 19, 10, 0, tzinfo=KST)
    assert cal.state(datetime(2026, 11, 19, 16, 29, tzinfo=KST)).is_open
    assert not cal.state(datetime(2026, 11, 19, 16, 30, tzinfo=KST)).is_open


def test_krx_first_trading_day_of_the_year_opens_at_ten() -> None:
    state = krx().state(datetime(2027, 1, 4, 9, 30, tzinfo=KST))
    assert not state.is_open
    assert state.next_open_at == datetime(2027, 1, 4, 10, 0, tzinfo=KST)


def test_krx_is_closed_on_the_last_business_day_of_the_year() -> None:
    state = krx().state(datetime(2026, 12, 31, 10, 0, tzinfo=KST))
    assert not state.is_open
    assert state.next_open_at == datetime(2027, 1, 4, 10, 0, tzinfo=KST)


def test_a_monday_0800_kst_signal_waits_for_monday_opens_in_seoul_and_new_york() -> None:
    monday_8am = datetime(2026, 11, 30, 8, 0, tzinfo=KST)  # still Sunday in UTC
    assert monday_8am.astimezone(UTC).weekday() == 6
    kr = krx().state(monday_8am)
    assert not kr.is_open
    assert kr.next_open_at == datetime(2026, 11, 30, 9, 0, tzinfo=KST)
    us = mr.calendar_for(mr.venue_for("NASDAQ")).state(monday_8am)
    assert not us.is_open
    assert us.next_open_at == datetime(2026, 11, 30, 9, 30, tzinfo=ET)
    assert us.next_open_at.astimezone(KST) == datetime(2026, 11, 30, 23, 30, tzinfo=KST)


def test_us_open_moves_an_hour_in_korean_time_across_the_march_dst_switch() -> None:
    cal = nyse()
    friday = cal.session(date(2026, 3, 6))
    monday = cal.session(date(2026, 3, 9))  # DST began on Sunday 2026-03-08
    assert friday is not None and monday is not None
    assert friday.open_at.astimezone(KST).time() == time(23, 30)
    assert monday.open_at.astimezone(KST).time() == time(22, 30)
    # A fixed UTC-5 offset would call this closed; New York is open.
    assert cal.state(datetime(2026, 3, 9, 22, 45, tzinfo=KST)).is_open


def test_us_open_moves_back_in_korean_time_across_the_november_dst_switch() -> None:
    cal = nyse()
    assert cal.state(datetime(2026, 10, 30, 22, 45, tzinfo=KST)).is_open
    monday = cal.state(datetime(2026, 11, 2, 22, 45, tzinfo=KST))  # DST ended 2026-11-01
    assert not monday.is_open
    assert monday.next_open_at == datetime(2026, 11, 2, 23, 30, tzinfo=KST)


def test_us_closes_early_the_day_after_thanksgiving() -> None:
    cal = nyse()
    assert cal.session(date(2026, 11, 26)) is None  # Thanksgiving
    assert cal.state(datetime(2026, 11, 27, 12, 59, tzinfo=ET)).is_open
    after = cal.state(datetime(2026, 11, 27, 13, 0, tzinfo=ET))
    assert not after.is_open
    assert after.next_open_at == datetime(2026, 11, 30, 9, 30, tzinfo=ET)
    christmas_eve = cal.session(date(2026, 12, 24))
    assert christmas_eve is not None
    assert christmas_eve.close_at == datetime(2026, 12, 24, 13, 0, tzinfo=ET)


def test_lunch_breaks_in_tokyo_and_hong_kong() -> None:
    tokyo = mr.calendar_for(mr.venue_for("TSE")).state(datetime(2026, 11, 27, 11, 45, tzinfo=JST))
    assert tokyo.phase is mr.Phase.BREAK
    assert tokyo.next_open_at == datetime(2026, 11, 27, 12, 30, tzinfo=JST)
    assert tokyo.closes_at == datetime(2026, 11, 27, 15, 30, tzinfo=JST)
    hk = mr.calendar_for(mr.venue_for("HKEX")).state(datetime(2026, 11, 27, 12, 30, tzinfo=HKT))
    assert hk.phase is mr.Phase.BREAK
    assert hk.next_open_at == datetime(2026, 11, 27, 13, 0, tzinfo=HKT)


def test_settings_overrides_add_a_holiday_and_a_special_session() -> None:
    overrides = {
        "KR": mr.CalendarOverrides(
            extra_holidays=frozenset({date(2026, 12, 1)}),
            special_sessions={date(2026, 12, 2): (time(10, 0), time(16, 30))},
        )
    }
    cal = mr.calendar_for(mr.venue_for("KRX"), overrides)
    assert cal.session(date(2026, 12, 1)) is None
    state = cal.state(datetime(2026, 12, 1, 10, 0, tzinfo=KST))
    assert state.next_open_at == datetime(2026, 12, 2, 10, 0, tzinfo=KST)
    # The built-in corrections stay in force next to the configured ones.
    assert cal.session(date(2026, 6, 3)) is None


def test_past_the_calendars_reach_there_is_no_next_open() -> None:
    # The library's Shanghai calendar is precomputed only to the end of 2026.
    state = mr.calendar_for(mr.venue_for("SSE")).state(
        datetime(2026, 12, 31, 16, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    )
    assert not state.is_open
    assert state.next_open_at is None


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime refused"):
        krx().state(datetime(2026, 11, 30, 10, 0))  # noqa: DTZ001


# ---- ticks and price limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        ("1999", "1"),
        ("2000", "5"),
        ("4995", "5"),
        ("5000", "10"),
        ("19990", "10"),
        ("20000", "50"),
        ("49950", "50"),
        ("50000", "100"),
        ("199900", "100"),
        ("200000", "500"),
        ("500000", "1000"),
    ],
)
def test_krx_tick_table(price: str, tick: str) -> None:
    assert mr.tick_size("KR", Decimal(price)) == Decimal(tick)


def test_krx_funds_and_us_ticks() -> None:
    assert mr.tick_size("KR", Decimal(1500), "etf") == 1
    assert mr.tick_size("KR", Decimal(35000), "etf") == 5
    assert mr.tick_size("KR", Decimal(35000), "etn") == 5
    assert mr.tick_size("KR", Decimal(150), "elw") == 5
    assert mr.tick_size("US", Decimal("1.00")) == Decimal("0.01")
    assert mr.tick_size("US", Decimal("0.9999")) == Decimal("0.0001")


def test_limit_prices_round_in_the_safe_direction() -> None:
    assert mr.round_to_tick("KR", Decimal(71050), Side.BUY) == Decimal(71000)
    assert mr.round_to_tick("KR", Decimal(71050), Side.SELL) == Decimal(71100)
    assert mr.round_to_tick("KR", Decimal(4998), Side.SELL) == Decimal(5000)
    assert mr.round_to_tick("US", Decimal("189.257"), Side.BUY) == Decimal("189.25")
    assert mr.round_to_tick("US", Decimal("189.251"), Side.SELL) == Decimal("189.26")
    assert mr.round_to_tick("US", Decimal("0.12345"), Side.BUY) == Decimal("0.1234")


def test_krx_daily_limits_follow_the_exchange_rule() -> None:
    assert mr.krx_price_limits(Decimal(71000)) == (Decimal(49700), Decimal(92300))
    # width 5,997 is cut to the base's 10-won tick (5,990); 25,980 is cut to its 50-won tick
    assert mr.krx_price_limits(Decimal(19990)) == (Decimal(14000), Decimal(25950))
    band = mr.krx_price_limits(Decimal(10000))
    assert mr.clamp_to_limits(Decimal(20000), band) == band[1]
    assert mr.clamp_to_limits(Decimal(100), band) == band[0]


prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(3_000_000), places=4)


@given(
    price=prices,
    side=st.sampled_from([Side.BUY, Side.SELL]),
    market=st.sampled_from(["KR", "US"]),
)
def test_rounded_prices_are_on_the_tick_grid_and_never_worse_than_asked(
    price: Decimal, side: Side, market: str
) -> None:
    if market == "KR":
        price = max(price.to_integral_value(), Decimal(1))
    rounded = mr.round_to_tick(market, price, side)
    assert rounded > 0
    assert mr.is_on_tick(market, rounded)
    if side is Side.BUY:
        assert rounded <= price or rounded == mr.tick_size(market, rounded)
    else:
        assert rounded >= price
    assert abs(rounded - price) < mr.tick_size(market, max(rounded, price))


@given(
    base=st.integers(min_value=100, max_value=2_000_000).map(Decimal),
    kind=st.sampled_from([None, "etf"]),
)
def test_krx_daily_limits_are_on_tick_and_within_thirty_percent(
    base: Decimal, kind: str | None
) -> None:
    base = mr.round_to_tick("KR", base, Side.BUY, kind)  # a base price is a traded price
    lower, upper = mr.krx_price_limits(base, kind)
    assert lower <= base <= upper
    assert upper <= base * Decimal("1.3")
    assert lower >= base * Decimal("0.7")
    assert mr.is_on_tick("KR", upper, kind)
    assert mr.is_on_tick("KR", lower, kind)
