"""Blue and green with MariaDB away, the same alerts sent to both: every signal trades once.

Two real workers (webhook, engine and gateway each; their own data directory and Valkey) share
one MariaDB through a proxy the test cuts, and one KIS simulator. Every alert goes to two
accounts: ``paper`` (each worker's own paper ledger) and ``main`` (KIS, at the simulator). Blue
holds the active role. While the database is away each alert is posted to both workers, a few
to green alone: both accept and journal them; only blue trades (green hands its signals over
and sends nothing). When the database returns the journals are replayed and blue releases what
green handed over: each signal has one order per account, filled once at its broker.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.fixtures.kis_kit import APP_KEY, APP_SECRET, CANO, start_sim
from tests.support import (
    MARIADB_HOST,
    MARIADB_PORT,
    Roles,
    ThreadedTcpProxy,
    ValkeyProcess,
    mariadb_database,
    wait_until,
)
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore

pytestmark = [pytest.mark.e2e, pytest.mark.mariadb]

BOTH = 20  # alerts posted to blue and to green
GREEN_ONLY = 4  # alerts that reach only the standby
ACCOUNTS = ("paper", "main")
TRADING = ("webhook", "engine", "gateway")
SECRET = "two-workers-secret-0123456789"


@dataclass
class Pair:
    workers: dict[str, Roles]
    valkeys: list[ValkeyProcess]
    proxy: ThreadedTcpProxy
    database_url: str  # direct, not through the proxy
    sim: SimServer

    def post(self, worker: str, alert_id: str) -> dict[str, Any]:
        body = {
            "secret": SECRET,
            "strategy": "both",
            "ticker": "KRX:005930",
            "action": "buy",
            "quantity": 1,
            "price": "71000",
            "id": alert_id,
        }
        r = httpx.post(self.workers[worker].webhook_url, json=body, timeout=10)
        assert r.status_code == 200, (worker, alert_id, r.text)
        answer = dict(r.json())
        assert answer["status"] == "accepted", answer
        return answer

    def kis_orders(self) -> list[str]:
        """The order numbers the KIS simulator took (both workers would reach it)."""
        return [o["odno"] for o in self.sim.control("stats")["orders"] if not o["is_cancel"]]

    def paper_orders(self, worker: str | None = None) -> list[str]:
        """The client order ids the paper ledgers took (each worker has its own)."""
        taken: list[str] = []
        for name, roles in self.workers.items():
            ledger = roles.data_dir / "paper-broker.sqlite3"
            if (worker is None or name == worker) and ledger.exists():
                with sqlite3.connect(ledger) as db:
                    taken += [r[0] for r in db.execute("SELECT client_order_id FROM orders")]
        return taken

    def checks(self, worker: str) -> dict[str, Any] | None:
        """The worker's /healthz checks once its gateway has reported where it stands."""
        url = self.workers[worker].webhook_url.replace("/webhook", "/healthz")
        checks = dict(httpx.get(url, timeout=10).json()["checks"])
        return checks if "standing" in checks else None

    def journals(self) -> int:
        return sum(w.journal_depth() for w in self.workers.values())

    def logs(self) -> str:
        return "\n".join(f"===== {n}\n{w.logs()}" for n, w in self.workers.items())


def rows(url: str) -> dict[str, list[dict[str, Any]]]:
    async def read() -> dict[str, list[dict[str, Any]]]:
        store = SqlStore(url, timeout_s=10)
        try:
            found = {t: await store.recent(t, 10_000) for t in ("signals", "orders", "fills")}
            found["queued_orders"] = await store.rows(select(tables.queued_orders))
            return found
        finally:
            await store.close()

    return asyncio.run(read())


def accounts(sim: SimServer) -> dict[str, str]:
    main = {
        "broker": "kis-sim",
        "sessions": "always",
        "kis": {
            "environment": "real",
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "account_number": f"{CANO}-01",
            "base_url": sim.url,
            "poll_interval_s": 0.2,
        },
    }
    return {
        "YQUANT__ACCOUNTS": json.dumps({"paper": {"broker": "paper"}, "main": main}),
        "YQUANT__DEFAULT_ACCOUNTS": json.dumps(list(ACCOUNTS)),
        "YQUANT__PAPER__INITIAL_CASH_KRW": "100000000000",
    }


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    sim = start_sim()
    with mariadb_database() as direct_url:
        proxy = ThreadedTcpProxy(MARIADB_HOST, MARIADB_PORT).start()
        via_proxy = direct_url.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{proxy.port}")
        valkeys: list[ValkeyProcess] = []
        workers: dict[str, Roles] = {}
        try:
            for name in ("blue", "green"):
                data = tmp_path / name
                data.mkdir()
                valkey = ValkeyProcess(data / "valkey").start()
                valkeys.append(valkey)
                workers[name] = Roles(
                    data,
                    valkey.url,
                    YQUANT__WORKER__NAME=name,
                    YQUANT__DATABASE__URL=via_proxy,
                    YQUANT__DATABASE__TIMEOUT_S="1.0",
                    YQUANT__WEBHOOK__SECRET=SECRET,
                    YQUANT__METRICS__ENGINE_PORT="0",
                    YQUANT__METRICS__GATEWAY_PORT="0",
                    **accounts(sim),
                )
            env = {**workers["blue"].env, "YQUANT__DATABASE__URL": direct_url}
            for command in (["db", "upgrade"], ["role", "set", "blue", "--actor", "pytest"]):
                done = subprocess.run(
                    [sys.executable, "-m", "yquant", *command],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert done.returncode == 0, done.stderr
            yield Pair(workers, valkeys, proxy, direct_url, sim)
        finally:
            for roles in workers.values():
                roles.stop_all()
            for valkey in valkeys:
                valkey.stop()
            proxy.stop()
            sim.stop()


def settled(pair: Pair, keys: set[str]) -> dict[str, list[dict[str, Any]]] | None:
    if pair.journals():
        return None
    found = rows(pair.database_url)
    filled = [o["signal_key"] for o in found["orders"] if o["status"] == "filled"]
    pending = [q for q in found["queued_orders"] if q["state"] in ("queued", "releasing")]
    done = all(filled.count(k) == len(ACCOUNTS) for k in keys)
    return found if done and not pending else None


def test_the_same_alerts_to_both_workers_while_the_database_is_away_trade_once(
    pair: Pair,
) -> None:
    for roles in pair.workers.values():
        for role in TRADING:
            roles.start(role)
    for roles in pair.workers.values():
        wait_until(roles.webhook_ready, timeout_s=90)
    # Blue trades once its handover is over (a first alert proves it); green stands by.
    warm = pair.post("blue", "warm-up")["signal"]
    wait_until(lambda: settled(pair, {warm}), timeout_s=90, every_s=0.5)
    for name, standing in (("blue", "active"), ("green", "standby")):
        checks = wait_until(lambda name=name: pair.checks(name), timeout_s=30, every_s=0.5)
        assert checks["standing"] == {"status": standing}, checks
        assert checks["brokers"] == {"status": "up"}, checks

    pair.proxy.cut()
    keys = {warm}
    for i in range(BOTH):
        key = pair.post("blue", f"both-{i}")["signal"]
        assert pair.post("green", f"both-{i}")["signal"] == key  # the same signal
        keys.add(key)
    keys |= {pair.post("green", f"green-{i}")["signal"] for i in range(GREEN_ONLY)}
    # Blue traded every alert it received while the database was away; green sent nothing.
    wait_until(
        lambda: len(pair.kis_orders()) >= 1 + BOTH and len(pair.paper_orders()) >= 1 + BOTH,
        timeout_s=90,
        every_s=0.5,
    )
    assert pair.journals() > 0  # both recorded what they had to in their journals
    assert (len(pair.kis_orders()), len(pair.paper_orders())) == (1 + BOTH, 1 + BOTH)

    pair.proxy.restore()
    found = wait_until(lambda: settled(pair, keys), timeout_s=90, every_s=0.5)

    kis, paper = pair.kis_orders(), pair.paper_orders()
    assert len(kis) == len(set(kis)) == len(keys), pair.logs()[-6000:]
    assert len(paper) == len(set(paper)) == len(keys), pair.logs()[-6000:]
    assert pair.paper_orders("green") == []  # the standby's ledger took nothing
    assert sorted(s["signal_key"] for s in found["signals"]) == sorted(keys)
    assert {s["status"] for s in found["signals"]} == {"ordered"}
    orders = found["orders"]
    assert sorted((o["signal_key"], o["account"]) for o in orders) == sorted(
        (k, a) for k in keys for a in ACCOUNTS
    )
    assert {(o["status"], o["filled_quantity"]) for o in orders} == {("filled", 1)}
    assert len(found["fills"]) == len(orders)
    # Green handed over every alert it received; blue released each once (the ones it had
    # traded itself as the order it had made).
    queue = [(q["signal_key"], q["account"]) for q in found["queued_orders"]]
    assert sorted(queue) == sorted((k, a) for k in keys - {warm} for a in ACCOUNTS)
    assert {q["state"] for q in found["queued_orders"]} == {"released"}
