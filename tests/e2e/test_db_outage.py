"""MariaDB goes away in the middle of a stream of alerts: trading goes on, nothing is lost.

The roles reach the real MariaDB through a TCP proxy the test controls. Halfway through 500
alerts the proxy refuses and resets every connection (as a crashed server would); every alert is
still acknowledged and turned into a filled order from the local journals; when the database is
back the journals are replayed, and the rows in MariaDB match the accepted alerts exactly.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import (
    MARIADB_HOST,
    MARIADB_PORT,
    Roles,
    ThreadedTcpProxy,
    mariadb_database,
    wait_until,
)
from yquant.adapters.db.store import SqlStore

pytestmark = pytest.mark.e2e

ALERTS = 500
RATE = 100  # alerts per second
CUT_AT, RESTORE_AT = 150, 350


@pytest.fixture
def outage_setup(tmp_path: Path, valkey_url: str) -> Iterator[tuple[Roles, ThreadedTcpProxy, str]]:
    with mariadb_database() as direct_url:
        proxy = ThreadedTcpProxy(MARIADB_HOST, MARIADB_PORT).start()
        via_proxy = direct_url.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{proxy.port}")
        data = tmp_path / "data"
        data.mkdir()
        roles = Roles(
            data, valkey_url, YQUANT__DATABASE__URL=via_proxy, YQUANT__DATABASE__TIMEOUT_S="1.0"
        )
        migrated = subprocess.run(
            [sys.executable, "-m", "yquant", "db", "upgrade"],
            env=roles.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stderr
        try:
            yield roles, proxy, direct_url
        finally:
            roles.stop_all()
            proxy.stop()


def send_alerts(
    roles: Roles,
    proxy: ThreadedTcpProxy,
    on_sent=None,
    cut_at: int = CUT_AT,
    restore_at: int | None = RESTORE_AT,
) -> list[str]:
    """Post ALERTS alerts at RATE per second, cutting the database in the middle."""
    keys: list[str] = []
    start = time.monotonic()
    with httpx.Client(timeout=5) as client:
        for i in range(ALERTS):
            if i == cut_at:
                proxy.cut()
            if i == restore_at:
                proxy.restore()
            body = {
                "secret": roles.env["YQUANT__WEBHOOK__SECRET"],
                "strategy": "outage",
                "ticker": "KRX:005930" if i % 2 else "NASDAQ:AAPL",
                "action": "buy",
                "quantity": 1,
                "price": "71000" if i % 2 else "190.5",
                "id": f"o-{i}",
            }
            r = client.post(roles.webhook_url, json=body)
            assert r.status_code == 200, (i, r.status_code, r.text)
            assert r.json()["status"] == "accepted", r.text
            keys.append(r.json()["signal"])
            if on_sent is not None:
                on_sent(i)
            delay = start + (i + 1) / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return keys


def database_rows(url: str) -> dict[str, list[dict]]:
    async def read() -> dict[str, list[dict]]:
        store = SqlStore(url, timeout_s=10)
        try:
            return {t: await store.recent(t, 10_000) for t in ("signals", "orders", "fills")}
        finally:
            await store.close()

    return asyncio.run(read())


def broker_order_count(data: Path) -> int:
    with sqlite3.connect(data / "paper-broker.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


def settled(roles: Roles, url: str, keys: list[str]) -> dict[str, list[dict]] | None:
    if roles.journal_depth():
        return None
    rows = database_rows(url)
    filled = [o for o in rows["orders"] if o["status"] == "filled"]
    ordered = [s for s in rows["signals"] if s["status"] == "ordered"]
    if len(filled) < len(keys) or len(ordered) < len(keys):
        return None
    return rows


def check_exactly_once(rows: dict[str, list[dict]], keys: list[str], data: Path) -> None:
    assert sorted(s["signal_key"] for s in rows["signals"]) == sorted(keys)
    assert all(s["status"] == "ordered" for s in rows["signals"])
    assert sorted(o["signal_key"] for o in rows["orders"]) == sorted(keys)
    assert all(o["status"] == "filled" and o["filled_quantity"] == 1 for o in rows["orders"])
    order_ids = {o["client_order_id"] for o in rows["orders"]}
    assert sorted(f["client_order_id"] for f in rows["fills"]) == sorted(order_ids)
    assert broker_order_count(data) == len(keys)


def test_alerts_during_a_database_outage_are_all_traded_and_recorded_once(outage_setup) -> None:
    roles, proxy, direct_url = outage_setup
    for role in ("webhook", "engine", "gateway"):
        roles.start(role)
    wait_until(roles.webhook_ready, timeout_s=30)

    outage_journal: list[int] = []

    def watch(i: int) -> None:
        if i == RESTORE_AT - 1:
            outage_journal.append(roles.journal_depth())

    keys = send_alerts(roles, proxy, on_sent=watch)
    assert len(set(keys)) == ALERTS
    # While the database was away the writes went to the local journals.
    assert outage_journal and outage_journal[0] > 0

    rows = wait_until(lambda: settled(roles, direct_url, keys), timeout_s=120, every_s=0.5)
    check_exactly_once(rows, keys, roles.data_dir)


def test_a_worker_killed_during_the_replay_still_loses_and_doubles_nothing(outage_setup) -> None:
    roles, proxy, direct_url = outage_setup
    for role in ("webhook", "engine", "gateway"):
        roles.start(role)
    wait_until(roles.webhook_ready, timeout_s=30)

    # Keep the database away until every alert is in, so the journals are full when it returns.
    keys = send_alerts(roles, proxy, restore_at=None)
    depth = roles.journal_depth()
    assert depth > 0

    proxy.restore()
    # Kill the whole worker (every role, SIGKILL) as soon as the replay is under way.
    wait_until(lambda: roles.journal_depth() < depth, timeout_s=60, every_s=0.01)
    for role in ("webhook", "engine", "gateway"):
        roles.kill(role)
    for role in ("webhook", "engine", "gateway"):
        roles.start(role)

    rows = wait_until(lambda: settled(roles, direct_url, keys), timeout_s=120, every_s=0.5)
    check_exactly_once(rows, keys, roles.data_dir)
