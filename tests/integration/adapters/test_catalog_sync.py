"""`sync_catalog` end to end: a local server in KIS's place, into the real MariaDB (and SQLite).

Every failure is checked the same way: a good sync first, then the failing one, then the stored
catalog (rows and versions) must be exactly what the good sync left.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from tests.fixtures.catalog import AMEX, KONEX, KOSDAQ, KOSPI, NASDAQ, NYSE, MasterServer
from tests.fixtures.masterfiles import Cod, Krx, cod_file, krx_file, many_cod, many_krx
from yquant.adapters.catalog import (
    MARKETS,
    CatalogRepository,
    CatalogShrinkError,
    CatalogSyncError,
    MasterFileError,
    load_instruments,
    sync_catalog,
)
from yquant.adapters.catalog.listing import checksum
from yquant.adapters.catalog.repository import MarketWrite
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market
from yquant.errors import SignalRejectedError
from yquant.settings import Settings


def settings_for(url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database={"url": url})


async def stored(url: str) -> tuple[list[Any], dict[str, tuple[int, int, str | None]]]:
    store = SqlStore(url, timeout_s=10)
    try:
        listings, versions = await CatalogRepository(store).load(MARKETS)
    finally:
        await store.close()
    rows = sorted(listings, key=lambda x: x.key)
    return rows, {m: (v.version, v.count, v.checksum) for m, v in versions.items()}


async def run_sync(url: str, tmp_path: Path, masters: MasterServer, *markets: str, **kw: Any):
    store = SqlStore(url, timeout_s=10)
    try:
        return await sync_catalog(
            settings_for(url, tmp_path),
            store,
            list(markets or ("KR", "US")),
            base_url=masters.base_url,
            **kw,
        )
    finally:
        await store.close()


async def test_sync_stores_every_listing_and_a_version_per_market(
    db_url: str, tmp_path: Path, masters: MasterServer
) -> None:
    report = await run_sync(db_url, tmp_path, masters)
    kr, us = report.markets
    assert kr.by_exchange == {"KOSPI": len(KOSPI), "KOSDAQ": len(KOSDAQ), "KONEX": len(KONEX)}
    assert us.by_exchange == {"NASDAQ": len(NASDAQ), "NYSE": len(NYSE), "AMEX": len(AMEX)}
    assert (kr.version_before, kr.version_after) == (None, 1)
    assert len(kr.added) == kr.rows and not kr.removed and not kr.changed

    rows, versions = await stored(db_url)
    assert versions["KR"][:2] == (1, kr.rows)
    assert versions["US"][:2] == (1, us.rows)
    samsung = next(x for x in rows if x.key == ("KR", "KOSPI", "005930"))
    assert samsung.standard_code == "KR7005930003"
    assert samsung.name_ko == "삼성전자"
    assert samsung.base_price == 71000
    brk = next(x for x in rows if x.key == ("US", "NYSE", "BRK/B"))
    assert brk.name_ko == "버크셔 해서웨이 B"
    assert brk.extra["realtime_symbol"] == "NYSBRK/B"

    store = SqlStore(db_url)
    try:
        version = (await CatalogRepository(store).versions())["KR"]
    finally:
        await store.close()
    assert version.source == masters.base_url
    assert version.source_bytes == kr.source_bytes > 0


async def test_a_second_sync_reports_added_removed_and_changed(
    mariadb_url: str, tmp_path: Path, masters: MasterServer
) -> None:
    await run_sync(mariadb_url, tmp_path, masters)
    kospi = [replace(r, halted=True) if r.code == "005930" else r for r in KOSPI]
    kosdaq = [r for r in KOSDAQ if r.code != "028300"]
    kosdaq = [replace(r, base_price=175000) if r.code == "247540" else r for r in kosdaq]
    kosdaq.append(Krx("196170", "KR7196170005", "알테오젠"))
    masters.publish_kr(kospi, kosdaq, KONEX)

    report = await run_sync(mariadb_url, tmp_path, masters)
    kr, us = report.markets
    assert kr.added == ["KOSDAQ:196170"]
    assert kr.removed == ["KOSDAQ:028300"]
    assert kr.changed == ["KOSPI:005930"]  # a new reference price alone is not a change
    assert (kr.version_before, kr.version_after) == (1, 2)
    assert (us.added, us.removed, us.changed) == ([], [], [])
    assert (us.version_before, us.version_after) == (1, 1)

    rows, versions = await stored(mariadb_url)
    assert next(x for x in rows if x.key == ("KR", "KOSPI", "005930")).halted
    assert next(x for x in rows if x.key == ("KR", "KOSDAQ", "247540")).base_price == 175000
    assert ("KR", "KOSDAQ", "028300") not in {x.key for x in rows}
    assert versions["KR"][0] == 2 and versions["US"][0] == 1


async def test_a_new_reference_price_alone_still_bumps_the_version(
    mariadb_url: str, tmp_path: Path, masters: MasterServer
) -> None:
    await run_sync(mariadb_url, tmp_path, masters, "KR")
    again = await run_sync(mariadb_url, tmp_path, masters, "KR")
    assert again.markets[0].version_after == 1  # identical files: same version
    masters.publish_kr([replace(KOSPI[0], base_price=72000), *KOSPI[1:]], KOSDAQ, KONEX)
    moved = await run_sync(mariadb_url, tmp_path, masters, "KR")
    assert moved.markets[0].changed == []
    assert moved.markets[0].version_after == 2  # workers must reload the new base price


def break_kosdaq(masters: MasterServer, fault: str) -> None:
    """The second file of KR fails: KOSPI has already been fetched when it does."""
    name = "kosdaq_code.mst.zip"
    if fault in ("503", "cut", "html"):
        masters.faults[name] = fault
    elif fault == "truncated zip":
        masters.files[name] = masters.files[name][: len(masters.files[name]) // 2]
    elif fault == "wrong encoding":
        utf8 = krx_file("kosdaq", KOSDAQ).decode("cp949").encode("utf-8")
        masters.publish(name, "kosdaq_code.mst", utf8)
    elif fault == "network down":
        masters.stop()
    else:
        raise AssertionError(fault)


@pytest.mark.parametrize(
    "fault", ["network down", "503", "cut", "html", "truncated zip", "wrong encoding"]
)
async def test_a_failed_download_changes_nothing(
    mariadb_url: str, tmp_path: Path, masters: MasterServer, fault: str
) -> None:
    await run_sync(mariadb_url, tmp_path, masters)
    before = await stored(mariadb_url)
    masters.publish_kr([replace(r, halted=True) for r in KOSPI], KOSDAQ, KONEX)
    break_kosdaq(masters, fault)

    with pytest.raises(MasterFileError) as info:
        await run_sync(mariadb_url, tmp_path, masters)
    assert "kosdaq_code.mst.zip" in str(info.value) or fault == "network down"
    assert await stored(mariadb_url) == before


async def test_a_file_far_smaller_than_the_stored_catalog_is_refused(
    mariadb_url: str, tmp_path: Path, masters: MasterServer
) -> None:
    masters.publish_kr(KOSPI, KOSDAQ + many_krx(40, 200000), KONEX)
    await run_sync(mariadb_url, tmp_path, masters, "KR")
    before = await stored(mariadb_url)
    masters.publish_kr(KOSPI, KOSDAQ[:3], KONEX)  # 3 of 44 KOSDAQ rows: a cut file

    with pytest.raises(CatalogShrinkError, match="KOSDAQ"):
        await run_sync(mariadb_url, tmp_path, masters, "KR")
    assert await stored(mariadb_url) == before

    report = await run_sync(mariadb_url, tmp_path, masters, "KR", allow_shrink=True)
    assert report.markets[0].by_exchange["KOSDAQ"] == 3
    assert len(report.markets[0].removed) == 41


async def test_a_failure_in_one_market_leaves_the_others_unchanged_too(
    mariadb_url: str, tmp_path: Path, masters: MasterServer
) -> None:
    await run_sync(mariadb_url, tmp_path, masters)
    before = await stored(mariadb_url)
    masters.publish_kr(KOSPI[:-1], KOSDAQ, KONEX)  # a good, different KR
    masters.faults["amsmst.cod.zip"] = "503"

    with pytest.raises(CatalogSyncError, match="HTTP 503"):
        await run_sync(mariadb_url, tmp_path, masters)
    assert await stored(mariadb_url) == before


async def test_a_database_error_mid_write_rolls_every_market_back(
    mariadb_url: str, tmp_path: Path, masters: MasterServer
) -> None:
    await run_sync(mariadb_url, tmp_path, masters)
    rows, _ = await stored(mariadb_url)
    before = await stored(mariadb_url)
    kr = [x for x in rows if x.market == "KR"][:-1]
    us = [x for x in rows if x.market == "US"]
    bad_us = [*us[:-1], replace(us[-1], currency="DOLLARS")]  # too long for CHAR(3): refused
    store = SqlStore(mariadb_url, timeout_s=10)
    try:
        with pytest.raises(DBAPIError, match=r"(?i)too long|1406"):
            await CatalogRepository(store).replace(
                [
                    MarketWrite("KR", kr, checksum(kr), "test"),
                    MarketWrite("US", bad_us, checksum(bad_us), "test"),
                ],
                datetime.now(UTC),
            )
    finally:
        await store.close()
    assert await stored(mariadb_url) == before


async def test_a_dry_run_reports_and_writes_nothing(
    mariadb_url: str, tmp_path: Path, masters: MasterServer
) -> None:
    report = await run_sync(mariadb_url, tmp_path, masters, dry_run=True)
    assert report.dry_run
    assert [m.version_after for m in report.markets] == [1, 1]
    assert len(report.markets[0].added) == len(KOSPI) + len(KOSDAQ) + len(KONEX)
    assert await stored(mariadb_url) == ([], {})


async def test_thousands_of_rows_are_written_in_one_sync(
    db_url: str, tmp_path: Path, masters: MasterServer
) -> None:
    masters.publish_kr(KOSPI + many_krx(2500, 100000), KOSDAQ + many_krx(1500, 300000), KONEX)
    masters.publish_us(NASDAQ + many_cod("NAS", 3000), NYSE + many_cod("NYS", 2000), AMEX)

    report = await run_sync(db_url, tmp_path, masters)
    total = sum(m.rows for m in report.markets)
    assert total == 9000 + sum(map(len, (KOSPI, KOSDAQ, KONEX, NASDAQ, NYSE, AMEX)))
    rows, versions = await stored(db_url)
    assert len(rows) == total
    assert versions["KR"][1] + versions["US"][1] == total


async def test_the_configured_source_is_used_when_none_is_given(
    sqlite_url: str, tmp_path: Path, masters: MasterServer
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database={"url": sqlite_url},
        catalog={"source_url_base": masters.base_url.rstrip("/")},
    )
    store = SqlStore(sqlite_url, timeout_s=10)
    try:
        report = await sync_catalog(settings, store, ["US"])
    finally:
        await store.close()
    assert report.source == masters.base_url
    assert masters.requests == [
        "/common/master/nasmst.cod.zip",
        "/common/master/nysmst.cod.zip",
        "/common/master/amsmst.cod.zip",
    ]


async def test_all_markets_sync_with_each_files_currency(
    sqlite_url: str, tmp_path: Path, masters: MasterServer
) -> None:
    others = {
        "tsemst.cod.zip": [Cod("TSE", "7203", "도요타자동차", "TOYOTA MOTOR CORP", currency="JPY")],
        "hksmst.cod.zip": [Cod("HKS", "00700", "텐센트", "TENCENT HOLDINGS LTD", currency="HKD")],
        "shsmst.cod.zip": [Cod("SHS", "600519", "귀주모태주", "KWEICHOW MOUTAI", currency="CNY")],
        "szsmst.cod.zip": [Cod("SZS", "000001", "평안은행", "PING AN BANK", currency="CNY")],
        "hnxmst.cod.zip": [Cod("HNX", "SHB", "사이공하노이은행", "SHB BANK", currency="VND")],
        "hsxmst.cod.zip": [Cod("HSX", "VNM", "비나밀크", "VINAMILK", currency="VND")],
    }
    for archive, rows in others.items():
        masters.publish(archive, archive.removesuffix(".zip"), cod_file(rows))

    report = await run_sync(sqlite_url, tmp_path, masters, *MARKETS)
    assert [m.market for m in report.markets] == ["KR", "US", "JP", "HK", "CN", "VN"]
    rows, versions = await stored(sqlite_url)
    assert set(versions) == set(MARKETS)
    by_key = {x.key: x for x in rows}
    assert by_key[("JP", "TSE", "7203")].currency == "JPY"
    assert by_key[("CN", "SZSE", "000001")].currency == "CNY"
    assert by_key[("KR", "KOSPI", "005930")].currency == "KRW"  # the same digits, other market
    assert by_key[("VN", "HOSE", "VNM")].name_en == "VINAMILK"

    # Workers load only the markets they trade; a Chinese six-digit code never reaches them.
    store = SqlStore(sqlite_url)
    try:
        cache = await load_instruments(settings_for(sqlite_url, tmp_path), store)
    finally:
        await store.close()
    assert set(cache.version()) == {"KR", "US"}
    with pytest.raises(SignalRejectedError):
        cache.resolve(Market.KR, "KRX", "600519")
