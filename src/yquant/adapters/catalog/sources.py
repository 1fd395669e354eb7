"""Which KIS master files make up each market's catalog, and how exchanges group for resolution.

File names and the one-file-per-zip rule are KIS's (kis-api.md §6.1): every file lives under
``https://new.real.download.dws.co.kr/common/master/``. The index files (``shimst``, ``szimst``)
are not listed: an index is not something an order can be sent for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MasterFile:
    market: str  # KR, US, JP, HK, CN, VN
    exchange: str  # our exchange name for the rows of this file
    archive: str  # the zip on the server
    member: str  # the file inside it
    layout: str  # kospi | kosdaq | konex | cod
    currency: str  # when the file does not say

    @property
    def label(self) -> str:
        return f"{self.market} {self.exchange} ({self.archive})"


def _cod(market: str, exchange: str, prefix: str, currency: str) -> MasterFile:
    return MasterFile(market, exchange, f"{prefix}mst.cod.zip", f"{prefix}mst.cod", "cod", currency)


MASTER_FILES: dict[str, tuple[MasterFile, ...]] = {
    "KR": (
        MasterFile("KR", "KOSPI", "kospi_code.mst.zip", "kospi_code.mst", "kospi", "KRW"),
        MasterFile("KR", "KOSDAQ", "kosdaq_code.mst.zip", "kosdaq_code.mst", "kosdaq", "KRW"),
        MasterFile("KR", "KONEX", "konex_code.mst.zip", "konex_code.mst", "konex", "KRW"),
    ),
    "US": (
        _cod("US", "NASDAQ", "nas", "USD"),
        _cod("US", "NYSE", "nys", "USD"),
        _cod("US", "AMEX", "ams", "USD"),
    ),
    "JP": (_cod("JP", "TSE", "tse", "JPY"),),
    "HK": (_cod("HK", "HKEX", "hks", "HKD"),),
    "CN": (_cod("CN", "SSE", "shs", "CNY"), _cod("CN", "SZSE", "szs", "CNY")),
    "VN": (_cod("VN", "HNX", "hnx", "VND"), _cod("VN", "HOSE", "hsx", "VND")),
}

MARKETS: tuple[str, ...] = tuple(MASTER_FILES)

# The exchange a webhook names (canonical, see domain/alerts.EXCHANGES) and the listings it
# covers: "KRX" is any Korean listing, the others name exactly one exchange.
EXCHANGE_SCOPES: dict[str, tuple[str, ...]] = {
    "KRX": ("KOSPI", "KOSDAQ", "KONEX"),
    "KOSPI": ("KOSPI",),
    "KOSDAQ": ("KOSDAQ",),
    "KONEX": ("KONEX",),
    "NASDAQ": ("NASDAQ",),
    "NYSE": ("NYSE",),
    "AMEX": ("AMEX",),
}


def exchange_scope(exchange: str) -> tuple[str, ...]:
    name = exchange.strip().upper()
    return EXCHANGE_SCOPES.get(name, (name,))


def files_for(markets: list[str]) -> list[MasterFile]:
    return [f for m in markets for f in MASTER_FILES[m]]
