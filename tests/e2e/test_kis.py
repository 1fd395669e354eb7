"""`yquant up` on the KIS path: an alert and an operator order become KIS orders at the
simulator, followed to their fills, with positions synced."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.kis_kit import APP_KEY, APP_SECRET, CANO, start_sim
from tests.support import YquantUp, wait_until, yquant, yquant_json

pytestmark = pytest.mark.e2e


def filled(up: YquantUp) -> list[dict[str, Any]]:
    return [o for o in up.orders() if o["status"] == "filled"]


def test_up_with_the_kis_simulator_sends_alerts_the_kis_way(tmp_path: Path) -> None:
    up = YquantUp(tmp_path / "data").start("--broker", "kis-sim")
    try:
        reply = up.post(up.alert(id="kis-sim-1", quantity="2", price="71000"))
        assert reply.status_code == 200, reply.text
        [order] = wait_until(lambda: filled(up), timeout_s=30)
        assert order["account"] == "paper"  # the paper account, moved to the simulator
        assert len(order["broker_order_id"]) == 10 and order["broker_order_id"].isdigit()
        assert Decimal(order["filled_quantity"]) == 2
        assert Decimal(order["avg_fill_price"]) == Decimal(71000)  # the simulator's market
        [fill] = yquant_json("fills", env=up.env)
        assert fill["client_order_id"] == order["client_order_id"]
        assert (tmp_path / "data" / "kis-sim.log").exists()
        assert not (tmp_path / "data" / "paper-broker.sqlite3").exists()
    finally:
        assert up.stop() == 0, up.log()


def test_operator_buy_and_sell_take_the_same_path_as_an_alert(tmp_path: Path) -> None:
    sim = start_sim()
    accounts = {
        "main": {
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
    }
    up = YquantUp(
        tmp_path / "data",
        YQUANT__ACCOUNTS=json.dumps(accounts),
        YQUANT__DEFAULT_ACCOUNTS='["main"]',
    ).start()
    try:
        bought = yquant("buy", "main", "KRX:005930", "3", "--json", env=up.env)
        assert bought.returncode == 0, bought.stderr + bought.stdout
        result = json.loads(bought.stdout)
        assert (result["status"], result["filled_quantity"]) == ("filled", "3")

        # More than is held: refused with the reason, nothing sent (never resized silently).
        more = yquant("sell", "main", "KRX:005930", "5", "--json", env=up.env)
        assert more.returncode == 1, more.stderr + more.stdout
        assert json.loads(more.stdout)["reason"] == "capped_by_holdings"
        # Allowed to resize: the 3 held are sold.
        sold = yquant("sell", "main", "KRX:005930", "5", "--allow-resize", "--json", env=up.env)
        assert sold.returncode == 0, sold.stderr + sold.stdout
        result = json.loads(sold.stdout)
        assert (result["status"], result["filled_quantity"], result["resized_by"]) == (
            "filled",
            "3",
            ["capped_by_holdings"],
        )
        nothing_left = yquant("sell", "main", "KRX:005930", "1", "--json", env=up.env)
        assert nothing_left.returncode == 1
        refused = json.loads(nothing_left.stdout)
        assert (refused["status"], refused["reason"]) == ("rejected", "no_position")

        signals = yquant_json("signals", env=up.env)
        assert {s["strategy"] for s in signals} == {"manual"}
        assert [o["side"] for o in sim.control("stats")["orders"]] == ["buy", "sell"]
        assert sim.sim.stats["tokens_issued"] == 1  # CLI, engine and gateway share one token
    finally:
        assert up.stop() == 0, up.log()
        sim.stop()
