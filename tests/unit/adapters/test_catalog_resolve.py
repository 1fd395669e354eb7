"""Resolution: exactly one tradable listing for (market, exchange, ticker), or a reason code."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.fixtures.catalog import AMEX, KONEX, KOSDAQ, KOSPI, NASDAQ, NYSE
from tests.fixtures.masterfiles import Cod, cod_file, krx_file
from yquant.adapters.catalog import CatalogCache, Listing
from yquant.adapters.catalog.parse import parse_master
from yquant.adapters.catalog.sources import MASTER_FILES
from yquant.domain.alerts import EXCHANGES
from yquant.domain.model import Market
from yquant.errors import SignalRejectedError


def fixture_listings(nyse: list[Cod] = NYSE) -> list[Listing]:
    kospi, kosdaq, konex = MASTER_FILES["KR"]
    nas, nys, ams = MASTER_FILES["US"]
    return [
        *parse_master(kospi, krx_file("kospi", KOSPI)),
        *parse_master(kosdaq, krx_file("kosdaq", KOSDAQ)),
        *parse_master(konex, krx_file("konex", KONEX)),
        *parse_master(nas, cod_file(NASDAQ)),
        *parse_master(nys, cod_file(nyse)),
        *parse_master(ams, cod_file(AMEX)),
    ]


@pytest.fixture
def cache() -> CatalogCache:
    return CatalogCache(fixture_listings(), {"KR": 1, "US": 1}, source="test")


def rejected(cache: CatalogCache, symbol: str) -> SignalRejectedError:
    """Resolve a TradingView symbol the way the webhook hands it over."""
    prefix, ticker = symbol.split(":")
    market, exchange = EXCHANGES[prefix]
    with pytest.raises(SignalRejectedError) as info:
        cache.resolve(market, exchange, ticker)
    return info.value


def test_krx_005930_is_samsung_electronics_on_kospi(cache: CatalogCache) -> None:
    market, exchange = EXCHANGES["KRX"]
    instrument = cache.resolve(market, exchange, "005930")
    assert instrument.market is Market.KR
    assert instrument.exchange == "KOSPI"
    assert instrument.ticker == "005930"
    assert instrument.currency == "KRW"
    assert instrument.standard_code == "KR7005930003"
    assert instrument.name_ko == "삼성전자"
    assert instrument.base_price == 71000  # the day's base price, for KRX's price limits
    assert instrument.lot_size == 1


def test_nasdaq_aapl_is_apple_in_dollars(cache: CatalogCache) -> None:
    instrument = cache.resolve(Market.US, "NASDAQ", "AAPL")
    assert (instrument.exchange, instrument.currency) == ("NASDAQ", "USD")
    assert instrument.name_en == "APPLE INC"


def test_the_exchange_decides_between_listings_of_one_symbol(cache: CatalogCache) -> None:
    assert cache.resolve(Market.US, "NYSE", "AAPL").name_en == "APPLE INC NYSE ROW"
    assert cache.resolve(Market.US, "NASDAQ", "AAPL").name_en == "APPLE INC"


def test_kosdaq_and_konex_prefixes_resolve_only_there(cache: CatalogCache) -> None:
    assert cache.resolve(Market.KR, "KOSDAQ", "247540").exchange == "KOSDAQ"
    assert cache.resolve(Market.KR, "KRX", "247540").exchange == "KOSDAQ"
    assert cache.resolve(Market.KR, "KONEX", "278990").exchange == "KONEX"
    error = rejected(cache, "KOSDAQ:005930")
    assert error.reason == "unknown_ticker"
    assert "KOSPI" in error.detail


def test_an_unknown_ticker_is_rejected_not_guessed(cache: CatalogCache) -> None:
    assert rejected(cache, "KRX:999999").reason == "unknown_ticker"
    assert rejected(cache, "NASDAQ:ZZZZ").reason == "unknown_ticker"
    # A six-digit code is never taken for a Korean listing on a US exchange or vice versa.
    assert rejected(cache, "NASDAQ:005930").reason == "unknown_ticker"
    assert rejected(cache, "KRX:AAPL").reason == "unknown_ticker"


def test_a_ticker_on_two_korean_exchanges_is_ambiguous_for_krx(cache: CatalogCache) -> None:
    error = rejected(cache, "KRX:123450")
    assert error.reason == "ambiguous_ticker"
    assert "KOSPI:123450" in error.detail and "KOSDAQ:123450" in error.detail
    assert cache.resolve(Market.KR, "KOSDAQ", "123450").exchange == "KOSDAQ"


def test_two_spellings_of_one_share_class_are_ambiguous() -> None:
    nyse = [*NYSE, Cod("NYS", "BRK.B", "버크셔 B 중복", "BERKSHIRE DUPLICATE")]
    cache = CatalogCache(fixture_listings(nyse), {}, source="test")
    assert rejected(cache, "NYSE:BRK.B").reason == "ambiguous_ticker"


def test_tradingview_share_class_spelling_finds_the_catalog_symbol(cache: CatalogCache) -> None:
    instrument = cache.resolve(Market.US, "NYSE", "BRK.B")
    assert instrument.ticker == "BRK/B"  # the symbol orders must carry


def test_a_halted_issue_is_rejected_as_halted(cache: CatalogCache) -> None:
    assert rejected(cache, "KRX:000040").reason == "halted"
    assert rejected(cache, "KOSDAQ:900110").reason == "halted"


def test_warrants_and_elws_are_not_tradable(cache: CatalogCache) -> None:
    assert rejected(cache, "KRX:58F001").reason == "not_tradable"
    assert rejected(cache, "NYSE:AAC/WS").reason == "not_tradable"


def test_etfs_etns_and_preferred_shares_resolve(cache: CatalogCache) -> None:
    assert cache.resolve(Market.KR, "KRX", "069500").security_type == "etf"
    assert cache.resolve(Market.KR, "KRX", "530036").security_type == "etn"
    assert cache.resolve(Market.KR, "KRX", "005935").security_type == "preferred"
    assert cache.resolve(Market.US, "AMEX", "SPY").security_type == "etf"


def test_a_market_without_a_catalog_rejects_everything() -> None:
    kr_only = [x for x in fixture_listings() if x.market == "KR"]
    cache = CatalogCache(kr_only, {"KR": 1}, source="test")
    error = rejected(cache, "NASDAQ:AAPL")
    assert error.reason == "unknown_ticker"
    assert "no US catalog" in error.detail


def test_a_resolved_instrument_carries_the_days_base_price(cache: CatalogCache) -> None:
    samsung = cache.resolve(Market.KR, "KRX", "005930")
    assert samsung.base_price == Decimal(71000)  # the anchor of KRX's daily price limits
    found = cache.find("005930")
    assert [(x.market, x.exchange, x.ticker) for x in found] == [("KR", "KOSPI", "005930")]


def test_a_search_finds_tickers_and_korean_or_english_names_best_first(
    cache: CatalogCache,
) -> None:
    def found(text: str) -> list[str]:
        return [f"{x.exchange}:{x.ticker}" for x in cache.search(text)]

    assert found("005930")[0] == "KOSPI:005930"
    assert "KOSPI:005930" in found("삼성전자")
    assert found("aapl")[0] == "NASDAQ:AAPL"
    assert "NASDAQ:AAPL" in found("apple")
    assert found("  ") == [] and found("zzzz-nothing") == []
    halted = [x for x in fixture_listings() if x.halted]
    assert halted and all(f"{x.exchange}:{x.ticker}" not in found(x.ticker) for x in halted)
    assert len(cache.search("a", limit=3)) == 3
