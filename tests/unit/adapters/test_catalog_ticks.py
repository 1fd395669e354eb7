"""Tick rules as `yquant info` shows them: KRX bands, KRX ETF/ETN ticks, US sub-dollar ticks."""

from __future__ import annotations

from decimal import Decimal

from yquant.adapters.catalog.ticks import TickBand, describe, tick_bands


def test_krx_stocks_show_the_seven_price_bands() -> None:
    assert describe("KR", "stock", "KRW") == (
        "< 2,000: 1; < 5,000: 5; < 20,000: 10; < 50,000: 50; < 200,000: 100; "
        "< 500,000: 500; >= 500,000: 1,000 KRW"
    )
    assert describe("KR", "preferred", "KRW") == describe("KR", "stock", "KRW")


def test_krx_etfs_and_etns_show_1_won_below_2000_then_5() -> None:
    assert tick_bands("KR", "etf") == (
        TickBand(None, Decimal(2000), Decimal(1)),
        TickBand(Decimal(2000), None, Decimal(5)),
    )
    assert describe("KR", "etn", "KRW") == "< 2,000: 1; >= 2,000: 5 KRW"
    assert describe("KR", "elw", "KRW") == "5 KRW"


def test_us_shows_a_hundredth_of_a_cent_below_one_dollar_then_a_cent() -> None:
    assert describe("US", "stock", "USD") == "< 1: 0.0001; >= 1: 0.01 USD"
    assert describe("US", "etf", "USD") == describe("US", "stock", "USD")


def test_markets_without_a_table_say_so() -> None:
    assert tick_bands("JP", "stock") == ()
    assert describe("JP", "stock", "JPY") == "-"
