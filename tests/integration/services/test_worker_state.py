"""Worker state: role and accounts from the database, or from the local snapshot in an outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import MARIADB_HOST, MARIADB_PORT, TcpProxy
from yquant.adapters.db.deployment import DeploymentRoles
from yquant.adapters.db.store import SqlStore
from yquant.bootstrap import build_worker_state
from yquant.services.worker_state import WorkerState
from yquant.settings import load_settings


def settings_for(tmp_path: Path, url: str, worker: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("YQUANT__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YQUANT__DATABASE__URL", url)
    monkeypatch.setenv("YQUANT__WORKER__NAME", worker)
    return load_settings()


async def test_accounts_are_registered_and_the_role_is_known(tmp_path, db_url, monkeypatch):
    store = SqlStore(db_url)
    state = build_worker_state(settings_for(tmp_path, db_url, "blue", monkeypatch), store)
    snapshot = await state.load()
    assert snapshot.source == "database"
    assert [a["name"] for a in snapshot.accounts] == ["paper"]
    assert snapshot.role is None
    assert not state.is_active()  # a blue/green worker is active only when the role says so

    await DeploymentRoles(store).set_active("blue", "test", datetime.now(UTC))
    await state.load()
    assert state.is_active()
    await DeploymentRoles(store).set_active("green", "test", datetime.now(UTC))
    await state.load()
    assert not state.is_active()
    assert state.current.role == ("green", 2)
    await store.close()


async def test_the_embedded_worker_is_active_without_a_deployment(
    tmp_path, sqlite_url, monkeypatch
) -> None:
    store = SqlStore(sqlite_url)
    state = build_worker_state(settings_for(tmp_path, sqlite_url, "local", monkeypatch), store)
    await state.load()
    assert state.is_active()
    await store.close()


async def test_a_start_during_an_outage_uses_the_last_snapshot(
    tmp_path, mariadb_url, monkeypatch
) -> None:
    proxy = await TcpProxy(MARIADB_HOST, MARIADB_PORT).start()
    url = mariadb_url.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{proxy.port}")
    settings = settings_for(tmp_path, url, "blue", monkeypatch)
    store = SqlStore(url, timeout_s=1)
    await DeploymentRoles(store).set_active("blue", "test", datetime.now(UTC))
    await build_worker_state(settings, store).load()
    await store.close()

    proxy.cut()
    restarted = build_worker_state(settings, SqlStore(url, timeout_s=1))
    snapshot = await restarted.load()
    assert snapshot.source == "snapshot"
    assert snapshot.role == ("blue", 1)
    assert [a["name"] for a in snapshot.accounts] == ["paper"]
    assert restarted.is_active()
    await proxy.stop()


async def test_accounts_are_registered_at_start_not_on_every_refresh(
    tmp_path, sqlite_url, monkeypatch
) -> None:
    from yquant.adapters.db import tables

    store = SqlStore(sqlite_url)
    state = build_worker_state(settings_for(tmp_path, sqlite_url, "local", monkeypatch), store)
    await state.load()
    await store.run(lambda conn: conn.execute(tables.accounts.delete()), write=True)
    refreshed = await state.load(register=False)
    assert refreshed.accounts == []  # a refresh only reads
    await store.close()


async def test_roles_of_one_worker_write_the_snapshot_at_the_same_time(
    tmp_path, sqlite_url, monkeypatch
) -> None:
    # The engine and the gateway start together and both write the worker's snapshot.
    import asyncio

    settings = settings_for(tmp_path, sqlite_url, "local", monkeypatch)
    stores = [SqlStore(sqlite_url) for _ in range(8)]
    states = [build_worker_state(settings, s) for s in stores]
    for _ in range(5):
        loaded = await asyncio.gather(*(asyncio.to_thread(_load_in_thread, st) for st in states))
        assert all(snapshot.source == "database" for snapshot in loaded)
    assert json.loads((tmp_path / "state" / "worker-state.json").read_text())["accounts"]
    for s in stores:
        await s.close()


def _load_in_thread(state: WorkerState):
    import asyncio

    return asyncio.run(state.load())
