"""Record layouts of KIS's stock master files, as KIS publishes them.

KOSPI, KOSDAQ and KONEX files (``*_code.mst``) are fixed-width cp949 records: a front of
9 bytes short code, 12 bytes standard code (ISIN) and a 40-byte Korean name, then an ASCII tail
whose fields are listed here in order with their widths (open-trading-api ``stocks_info``:
``종목마스터정보(코스피|코스닥|코넥스).h`` and ``kis_*_code_mst.py``). KOSPI's tail is 227 bytes,
KOSDAQ's 221 and KONEX's 184, newline excluded. The tail is ASCII, so it is cut by bytes from the
end of the line; the name in front is cp949, so it is never cut by characters.

Overseas files (``*mst.cod``) are tab-separated with the 24 columns of ``COD_COLUMNS``
(``해외종목코드정보(미국,중국,일본,홍콩,베트남).h``).
"""

from __future__ import annotations

from dataclasses import dataclass

SHORT_CODE = slice(0, 9)
STANDARD_CODE = slice(9, 21)
NAME_START = 21
NAME_BYTES = 40

# Fields shared by the three KRX tails from the base price on; KONEX starts there directly.
_TRADING = (
    ("base_price", 9),
    ("lot_size", 5),
    ("after_hours_lot", 5),
    ("halted", 1),
    ("liquidation", 1),
    ("managed", 1),
    ("market_warning", 2),
    ("warning_notice", 1),
    ("unfaithful_disclosure", 1),
    ("backdoor_listing", 1),
    ("lock_code", 2),
    ("par_change", 2),
    ("capital_increase", 2),
    ("margin_rate", 3),
    ("credit_available", 1),
    ("credit_days", 3),
    ("prev_volume", 12),
    ("par_value", 12),
    ("listing_date", 8),
    ("listed_shares", 15),
    ("capital", 21),
    ("fiscal_month", 2),
    ("ipo_price", 7),
    ("preferred", 1),
    ("short_sale_overheat", 1),
    ("abnormal_surge", 1),
    ("krx300", 1),
)
_FINANCIALS = (
    ("sales", 9),
    ("operating_profit", 9),
    ("ordinary_profit", 9),
    ("net_income", 5),
    ("roe", 9),
    ("base_year_month", 8),
    ("market_cap", 9),
)
_CREDIT = (("credit_limit_exceeded", 1), ("collateral_loan", 1), ("stock_lending", 1))

KOSPI_TAIL: tuple[tuple[str, int], ...] = (
    ("group_code", 2),
    ("market_cap_size", 1),
    ("sector_large", 4),
    ("sector_medium", 4),
    ("sector_small", 4),
    ("manufacturing", 1),
    ("low_liquidity", 1),
    ("governance_index", 1),
    ("kospi200_sector", 1),
    ("kospi100", 1),
    ("kospi50", 1),
    ("krx", 1),
    ("etp", 1),
    ("elw_issued", 1),
    ("krx100", 1),
    ("krx_auto", 1),
    ("krx_semiconductor", 1),
    ("krx_bio", 1),
    ("krx_bank", 1),
    ("spac", 1),
    ("krx_energy", 1),
    ("krx_steel", 1),
    ("short_term_overheat", 1),
    ("krx_media", 1),
    ("krx_construction", 1),
    ("unused", 1),
    ("krx_securities", 1),
    ("krx_ship", 1),
    ("krx_insurance", 1),
    ("krx_transport", 1),
    ("sri", 1),
    *_TRADING,
    ("kospi", 1),
    *_FINANCIALS,
    ("group_company", 3),
    *_CREDIT,
)

KOSDAQ_TAIL: tuple[tuple[str, int], ...] = (
    ("group_code", 2),
    ("market_cap_size", 1),
    ("sector_large", 4),
    ("sector_medium", 4),
    ("sector_small", 4),
    ("venture", 1),
    ("low_liquidity", 1),
    ("krx", 1),
    ("etp", 1),
    ("krx100", 1),
    ("krx_auto", 1),
    ("krx_semiconductor", 1),
    ("krx_bio", 1),
    ("krx_bank", 1),
    ("spac", 1),
    ("krx_energy", 1),
    ("krx_steel", 1),
    ("short_term_overheat", 1),
    ("krx_media", 1),
    ("krx_construction", 1),
    ("investment_caution", 1),
    ("krx_securities", 1),
    ("krx_ship", 1),
    ("krx_insurance", 1),
    ("krx_transport", 1),
    ("kosdaq150", 1),
    *_TRADING,
    *_FINANCIALS,
    ("group_company", 3),
    *_CREDIT,
)

KONEX_TAIL: tuple[tuple[str, int], ...] = (
    ("group_code", 2),
    *_TRADING,
    *_FINANCIALS,
    *_CREDIT,
)


@dataclass(frozen=True)
class TailLayout:
    name: str
    fields: tuple[tuple[str, int], ...]

    @property
    def width(self) -> int:
        return sum(w for _, w in self.fields)

    def split(self, tail: str) -> dict[str, str]:
        out: dict[str, str] = {}
        at = 0
        for name, width in self.fields:
            out[name] = tail[at : at + width].strip()
            at += width
        return out


TAILS: dict[str, TailLayout] = {
    "kospi": TailLayout("kospi", KOSPI_TAIL),
    "kosdaq": TailLayout("kosdaq", KOSDAQ_TAIL),
    "konex": TailLayout("konex", KONEX_TAIL),
}

COD_COLUMNS: tuple[str, ...] = (
    "national_code",
    "exchange_id",
    "exchange_code",
    "exchange_name",
    "symbol",
    "realtime_symbol",
    "name_ko",
    "name_en",
    "security_type",  # 1 index, 2 stock, 3 ETP, 4 warrant
    "currency",
    "float_position",  # decimals of the price
    "data_type",
    "base_price",
    "bid_order_size",
    "ask_order_size",
    "market_start",  # HHMM
    "market_end",  # HHMM
    "dr",  # Y/N
    "dr_country",
    "industry_code",
    "index_constituents",
    "tick_size_type",
    "etp_class",  # 001 ETF, 002 ETN, 003 ETC, 004 others, 005 VIX ETF, 006 VIX ETN
    "tick_size_type_detail",
)
COD_MIN_COLUMNS = 10  # through the currency: what a row must have to be a listing
