"""The snapshot shipped with the package: real listings, real layouts, rebuilt reproducibly."""

from __future__ import annotations

import io
import zipfile

from tests.fixtures.masterfiles import isin_check_digit, snapshot_members
from yquant.adapters.catalog import CatalogCache
from yquant.adapters.catalog.snapshot import shipped_bytes, shipped_listings
from yquant.domain.model import Market


def test_the_shipped_file_is_exactly_what_the_generator_writes() -> None:
    with zipfile.ZipFile(io.BytesIO(shipped_bytes())) as zf:
        shipped = {name: zf.read(name) for name in zf.namelist()}
    assert shipped == snapshot_members()


def test_every_korean_isin_has_a_valid_check_digit() -> None:
    korean = [x for x in shipped_listings() if x.market == "KR"]
    assert len(korean) > 70
    for x in korean:
        assert x.standard_code is not None and x.standard_code.startswith("KR7"), x
        assert isin_check_digit(x.standard_code[:11]) == x.standard_code[11], x


def test_the_main_names_resolve_from_the_snapshot_alone() -> None:
    cache = CatalogCache(shipped_listings(), {}, source="package snapshot")
    samsung = cache.resolve(Market.KR, "KRX", "005930")
    assert (samsung.standard_code, samsung.name_ko) == ("KR7005930003", "삼성전자")
    assert cache.resolve(Market.KR, "KRX", "005935").security_type == "preferred"
    assert cache.resolve(Market.KR, "KRX", "069500").name_ko == "KODEX 200"
    assert cache.resolve(Market.KR, "KOSDAQ", "247540").name_ko == "에코프로비엠"
    assert cache.resolve(Market.US, "NASDAQ", "AAPL").name_en == "APPLE INC"
    assert cache.resolve(Market.US, "NYSE", "BRK.B").ticker == "BRK/B"
    assert cache.resolve(Market.US, "AMEX", "SPY").security_type == "etf"
    assert all(x.tradable and not x.halted for x in shipped_listings())
    assert len({x.key for x in shipped_listings()}) == len(shipped_listings())
