"""Workers' catalog: seeded when fresh, reloaded on a new version, kept when the DB is down."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fixtures.catalog import KONEX, KOSDAQ, KOSPI, MasterServer
from tests.support import MARIADB_HOST, MARIADB_PORT, TcpProxy, eventually
from yquant.adapters.catalog import CatalogRepository, load_instruments, sync_catalog
from yquant.adapters.catalog.snapshot import local_path, shipped_listings
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market
from yquant.errors import DatabaseUnavailableError, SignalRejectedError
from yquant.settings import Settings


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, database={"url": url})


async def sync(url: str, data_dir: Path, masters: MasterServer, *markets: str) -> None:
    store = SqlStore(url, timeout_s=10)
    try:
        await sync_catalog(
            settings_for(url, data_dir), store, list(markets), base_url=masters.base_url
        )
    finally:
        await store.close()


def through(proxy: TcpProxy, mariadb_url: str) -> str:
    return mariadb_url.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{proxy.port}")


async def test_a_fresh_database_is_seeded_from_the_shipped_snapshot(
    db_url: str, data_dir: Path
) -> None:
    store = SqlStore(db_url, timeout_s=10)
    try:
        cache = await load_instruments(settings_for(db_url, data_dir), store)
        versions = await CatalogRepository(store).versions()
    finally:
        await store.close()
    assert cache.source == "database"
    assert cache.version() == {"KR": 1, "US": 1}
    assert {m: v.source for m, v in versions.items()} == {
        "KR": "package snapshot",
        "US": "package snapshot",
    }
    assert len(cache) == len(shipped_listings())
    samsung = cache.resolve(Market.KR, "KRX", "005930")
    assert (samsung.standard_code, samsung.name_ko) == ("KR7005930003", "삼성전자")
    assert cache.resolve(Market.US, "NASDAQ", "AAPL").name_en == "APPLE INC"
    assert local_path(data_dir).exists()


async def test_the_first_sync_replaces_the_seed_however_small_it_is(
    mariadb_url: str, data_dir: Path, masters: MasterServer
) -> None:
    store = SqlStore(mariadb_url, timeout_s=10)
    try:
        await load_instruments(settings_for(mariadb_url, data_dir), store)
    finally:
        await store.close()
    await sync(mariadb_url, data_dir, masters, "KR")  # fewer rows than the seed: not a cut file
    store = SqlStore(mariadb_url, timeout_s=10)
    try:
        versions = await CatalogRepository(store).versions()
        cache = await load_instruments(settings_for(mariadb_url, data_dir), store)
    finally:
        await store.close()
    assert versions["KR"].version == 2
    assert versions["KR"].source == masters.base_url
    assert versions["KR"].count == len(KOSPI) + len(KOSDAQ) + len(KONEX)
    assert cache.resolve(Market.KR, "KONEX", "278990").exchange == "KONEX"
    assert cache.resolve(Market.US, "NYSE", "BRK.B").ticker == "BRK/B"  # US still the seed


async def test_a_new_catalog_version_is_picked_up_without_a_restart(
    mariadb_url: str, data_dir: Path, masters: MasterServer
) -> None:
    await sync(mariadb_url, data_dir, masters, "KR", "US")
    store = SqlStore(mariadb_url, timeout_s=10)
    stop = asyncio.Event()
    try:
        cache = await load_instruments(settings_for(mariadb_url, data_dir), store)
        assert cache.resolve(Market.KR, "KRX", "005930").halted is False
        task = asyncio.create_task(cache.refresh_forever(stop, every_s=0.05))

        masters.publish_kr([replace(KOSPI[0], halted=True), *KOSPI[1:]], KOSDAQ, KONEX)
        await sync(mariadb_url, data_dir, masters, "KR")

        await eventually(lambda: cache.version().get("KR") == 2)
        with pytest.raises(SignalRejectedError) as info:
            cache.resolve(Market.KR, "KRX", "005930")
        assert info.value.reason == "halted"
        assert cache.version()["US"] == 1
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    finally:
        stop.set()
        await store.close()


async def test_a_worker_starts_from_its_local_snapshot_when_the_database_is_down(
    mariadb_url: str, data_dir: Path, masters: MasterServer
) -> None:
    await sync(mariadb_url, data_dir, masters, "KR", "US")
    proxy = await TcpProxy(MARIADB_HOST, MARIADB_PORT).start()
    url = through(proxy, mariadb_url)
    try:
        store = SqlStore(url, timeout_s=5)
        first = await load_instruments(settings_for(url, data_dir), store)
        await store.close()
        assert first.source == "database"

        proxy.cut()
        store = SqlStore(url, timeout_s=5)
        cache = await load_instruments(settings_for(url, data_dir), store)
        assert cache.source == "local snapshot"
        assert cache.version() == first.version() == {"KR": 1, "US": 1}
        assert cache.resolve(Market.KR, "KRX", "005930").name_ko == "삼성전자"
        assert cache.resolve(Market.KR, "KRX", "247540").exchange == "KOSDAQ"
        with pytest.raises(DatabaseUnavailableError):
            await cache.refresh()
        assert cache.resolve(Market.US, "NASDAQ", "AAPL").currency == "USD"

        # The database comes back with a newer catalog: the next poll loads it.
        proxy.restore()
        masters.publish_kr(KOSPI[:-1], KOSDAQ, KONEX)
        await sync(mariadb_url, data_dir, masters, "KR")
        assert await cache.refresh() is True
        assert cache.source == "database"
        assert cache.version()["KR"] == 2
        await store.close()
    finally:
        await proxy.stop()


async def test_with_no_database_and_no_local_snapshot_the_shipped_one_is_used(
    data_dir: Path, closed_port: int
) -> None:
    url = f"mysql+asyncmy://root@127.0.0.1:{closed_port}/nowhere"
    store = SqlStore(url, timeout_s=2)
    try:
        cache = await load_instruments(settings_for(url, data_dir), store)
    finally:
        await store.close()
    assert cache.source == "package snapshot"
    assert cache.version() == {}
    assert cache.resolve(Market.KR, "KRX", "069500").security_type == "etf"
    assert not local_path(data_dir).exists()  # nothing loaded from a database to keep


async def test_a_damaged_local_snapshot_is_not_trusted(data_dir: Path, closed_port: int) -> None:
    local_path(data_dir).write_bytes(b'{"format": 1, "listings": [{"market"')
    url = f"mysql+asyncmy://root@127.0.0.1:{closed_port}/nowhere"
    store = SqlStore(url, timeout_s=2)
    try:
        cache = await load_instruments(settings_for(url, data_dir), store)
    finally:
        await store.close()
    assert cache.source == "package snapshot"
