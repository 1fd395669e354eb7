"""The CLI's money, quantities, times and tables, as people read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from yquant.entrypoints.formatting import (
    cells,
    clip,
    duration,
    local_time,
    market_of,
    money,
    number,
    pad,
    quantity,
    table,
)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("100006.730000000000"), "USD", "$100,006.73"),
        (Decimal("190.1"), "USD", "$190.10"),
        (Decimal("190"), "USD", "$190.00"),
        (Decimal("0.0001"), "USD", "$0.0001"),  # sub-cent: the digits it has, up to 4
        (Decimal("0.12345"), "USD", "$0.1235"),  # past 4: rounded half up
        (Decimal("1E+3"), "USD", "$1,000.00"),  # an exponent is never shown
        (Decimal("-5"), "USD", "-$5.00"),
        (Decimal("-0.00001"), "USD", "$0.00"),  # rounds to zero: no minus sign
        (Decimal("71000"), "KRW", "₩71,000"),
        (Decimal("71181.81818182"), "KRW", "₩71,182"),  # whole won
        (Decimal("-1234567"), "KRW", "-₩1,234,567"),
        (Decimal("1E+3"), "KRW", "₩1,000"),
        (Decimal("0E-8"), "KRW", "₩0"),
        ("180.2500", "usd", "$180.25"),  # the views' text, any case
        (Decimal("12.5"), "EUR", "12.50 EUR"),  # no symbol: the code
        (Decimal("1500"), "JPY", "¥1,500"),
        (None, "USD", ""),
    ],
)
def test_money_has_separators_its_currency_and_no_trailing_zeros(
    amount: object, currency: str, shown: str
) -> None:
    assert money(amount, currency) == shown


def test_money_without_a_currency_is_a_plain_number() -> None:
    assert money(Decimal("1234.5000"), None) == "1,234.5"
    assert money(Decimal("NaN"), "USD") == "NaN"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("6.0000"), "6"),
        (Decimal("0.0001"), "0.0001"),
        (Decimal("1E+3"), "1,000"),
        (Decimal("-2.50"), "-2.5"),
        ("1234567.125", "1,234,567.125"),
        (Decimal("0E-4"), "0"),
        (3, "3"),
    ],
)
def test_quantities_drop_trailing_zeros_and_exponents(value: object, shown: str) -> None:
    assert quantity(value) == shown
    assert number(value) == shown


def test_a_non_number_is_refused_not_shown_as_zero() -> None:
    with pytest.raises(ValueError, match="not a number"):
        money("abc", "USD")
    with pytest.raises(TypeError):
        quantity(True)


def test_krx_times_are_in_seoul_whole_seconds_with_the_zone() -> None:
    at = datetime(2026, 12, 5, 0, 0, 3, 987654, tzinfo=UTC)
    assert local_time(at, "KR") == "2026-12-05 09:00:03 KST"
    assert local_time(at.isoformat(), "KR") == "2026-12-05 09:00:03 KST"
    assert local_time(at, "KR", utc=True) == "2026-12-05 00:00:03 UTC"


def test_us_times_follow_new_york_daylight_saving() -> None:
    # The open, 09:30 in New York, is 13:30 UTC in summer and 14:30 UTC in winter.
    assert local_time(datetime(2026, 7, 1, 13, 30, tzinfo=UTC), "US") == "2026-07-01 09:30:00 EDT"
    assert local_time(datetime(2026, 12, 1, 14, 30, tzinfo=UTC), "US") == "2026-12-01 09:30:00 EST"
    # 2026-03-08 02:00 EST the clocks go to 03:00 EDT: one UTC hour apart, one hour on the wall
    # would be wrong.
    before = datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC)
    assert local_time(before, "US") == "2026-03-08 01:59:59 EST"
    assert local_time(before + timedelta(seconds=1), "US") == "2026-03-08 03:00:00 EDT"
    # Back on 2026-11-01: 01:30 happens twice, told apart by the zone's name.
    assert local_time(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "US") == "2026-11-01 01:30:00 EDT"
    assert local_time(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "US") == "2026-11-01 01:30:00 EST"


def test_times_of_no_market_are_utc_and_naive_times_are_taken_as_utc() -> None:
    assert local_time("2026-12-05T00:00:03", None) == "2026-12-05 00:00:03 UTC"
    assert local_time("2026-12-05T00:00:03", "KR") == "2026-12-05 09:00:03 KST"
    other = datetime(2026, 12, 5, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    assert local_time(other, "US") == "2026-12-04 19:00:00 EST"
    assert local_time(None, "KR") == ""


def test_markets_of_exchanges_and_prefixed_tickers() -> None:
    assert [market_of(x) for x in ("KRX:005930", "KOSDAQ", "nasdaq", "NYSE:IBM")] == [
        "KR",
        "KR",
        "US",
        "US",
    ]
    assert market_of("MOON:X") is None and market_of(None) is None


def test_korean_text_is_measured_in_terminal_cells() -> None:
    assert cells("삼성전자") == 8
    assert cells("AAPL") == 4
    assert cells("e\u0301") == 1  # a combining accent takes no column


def test_tables_align_korean_wide_characters() -> None:
    text = table(
        [["005930", "삼성전자", "₩71,000"], ["AAPL", "Apple", "$190.10"]],
        ["종목", "이름", "가격"],
        align="llr",
    )
    head, first, second = text.splitlines()
    # Every column starts at the same terminal column on every line, and the right-aligned
    # prices end together.
    starts = [
        cells(line[: line.index(cell)]) for line, cell in ((head, "이름"), (first, "삼성전자"))
    ]
    assert starts[0] == starts[1] == cells(second[: second.index("Apple")])
    assert cells(head) == cells(first) == cells(second)
    assert first.endswith("₩71,000") and second.endswith("$190.10")


def test_table_cells_are_one_line_and_clipped() -> None:
    text = table([["a\nb", "삼성전자우선주식회사"]], max_width=9)
    assert text == "a b  삼성전자…"
    assert cells(clip("삼성전자우선주식회사", 9)) <= 9
    assert table([], ["x"]) == "x"


@pytest.mark.parametrize(
    ("seconds", "en", "ko"),
    [
        (0, "0 s", "0초"),
        (1.46, "1.5 s", "1.5초"),
        (59.96, "1 min", "1분"),
        (303, "5 min 3 s", "5분 3초"),
        (3605, "1 h", "1시간"),
        (86399, "23 h 59 min", "23시간 59분"),
        (90000, "1 d 1 h", "1일 1시간"),
        (-5, "-5 s", "-5초"),
    ],
)
def test_durations_show_their_two_largest_units(seconds: float, en: str, ko: str) -> None:
    assert duration(seconds) == en
    assert duration(seconds, "ko") == ko


def test_padding_counts_terminal_columns() -> None:
    assert pad("웹훅 URL", 12) == "웹훅 URL" + " " * 4
    assert cells(pad("Webhook URL", 16)) == cells(pad("웹훅 시크릿", 16)) == 16
    assert pad("longer than this", 4) == "longer than this"
