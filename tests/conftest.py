"""Fixtures for real services: a private Valkey, SQLite files and the real MariaDB server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support import ValkeyProcess, mariadb_available, mariadb_database
from yquant.adapters.db import migrate
from yquant.adapters.db.store import SqlStore

# Fixtures of the KIS simulator and of the catalog's master-file server, for every folder that
# tests against them (adapters, services, entry points, end to end).
pytest_plugins = ["tests.fixtures.kis", "tests.fixtures.catalog", "tests.fixtures.notify"]

# Two shared cores: generation speed varies with load, so no deadlines or speed health checks.
settings.register_profile(
    "yquant", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200
)
settings.load_profile("yquant")


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyProcess]:
    server = ValkeyProcess(tmp_path_factory.mktemp("valkey")).start()
    yield server
    server.stop()


@pytest.fixture
async def valkey_url(valkey: ValkeyProcess) -> str:
    """The shared test Valkey, emptied before each test."""
    import valkey as valkey_client

    client = valkey_client.asyncio.from_url(valkey.url)
    await client.flushall()
    await client.aclose()
    return valkey.url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'yquant.sqlite3'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    if not mariadb_available():
        pytest.fail("MariaDB is not reachable on 127.0.0.1:3306; the suite needs the real server")
    with mariadb_database() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(params=["sqlite", "mariadb"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Every repository test runs on the SQLite file and on the real MariaDB server."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(db_url, timeout_s=5)
    yield s
    await s.close()
