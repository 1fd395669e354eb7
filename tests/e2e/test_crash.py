"""A role killed (SIGKILL) between any two steps: after restart the order is placed exactly once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import Roles, wait_until, yquant_json

pytestmark = pytest.mark.e2e


def broker_orders(data_dir: Path) -> list[tuple[str, str]]:
    path = data_dir / "paper-broker.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return db.execute("SELECT client_order_id, status FROM orders").fetchall()


def broker_fills(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "paper-broker.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM fills").fetchone()[0])


@pytest.mark.parametrize(
    "failpoint",
    ["engine.after_consume", "engine.after_orders_recorded", "gateway.after_submit"],
)
def test_killed_role_restarts_and_the_order_is_placed_once(
    tmp_path: Path, valkey_url: str, failpoint: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    roles = Roles(data, valkey_url)
    assert (
        subprocess.run(
            [sys.executable, "-m", "yquant", "db", "upgrade"],
            env=roles.env,
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    victim_role = failpoint.split(".", 1)[0]
    try:
        roles.start("webhook")
        roles.start("engine", failpoint if victim_role == "engine" else None)
        roles.start("gateway", failpoint if victim_role == "gateway" else None)
        wait_until(roles.webhook_ready, timeout_s=30)

        body = {
            "secret": roles.env["YQUANT__WEBHOOK__SECRET"],
            "ticker": "NASDAQ:MSFT",
            "action": "buy",
            "quantity": 2,
            "price": "415.10",
            "id": "crash-1",
        }
        r = httpx.post(f"http://127.0.0.1:{roles.port}/webhook", json=body, timeout=5)
        assert r.status_code == 200, r.text

        victim = roles.procs[victim_role]
        assert wait_until(lambda: victim.poll() is not None, timeout_s=30)
        assert victim.returncode == -9  # killed at the failpoint, like a power cut

        if failpoint == "gateway.after_submit":
            # The broker has the order; our records do not know its outcome yet.
            assert len(broker_orders(data)) == 1

        roles.start(victim_role)  # the same consumer name picks up its pending entry

        def filled() -> list:
            orders = yquant_json("orders", env=roles.env)
            return [o for o in orders if o["status"] == "filled"]

        [order] = wait_until(filled, timeout_s=60)
        assert order["quantity"] == "2" and order["filled_quantity"] == "2"
        assert broker_orders(data) == [(order["client_order_id"], "filled")]
        assert broker_fills(data) == 1
        assert len(yquant_json("fills", env=roles.env)) == 1
        [signal] = yquant_json("signals", env=roles.env)
        assert signal["status"] == "ordered"
    finally:
        roles.stop_all()
