"""`yquant cancel` on a running `yquant up`: an alert's limit order resting at the paper broker is
cancelled from the command line, over the worker's Valkey, by the gateway of `up`."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support import YquantUp, wait_until, yquant, yquant_json

pytestmark = pytest.mark.e2e


def krw(up: YquantUp) -> Decimal:
    return Decimal(yquant_json("deposit", "paper", env=up.env)["cash"]["KRW"])


def test_an_operator_cancels_a_resting_limit_order_of_a_running_up(tmp_path: Path) -> None:
    up = YquantUp(tmp_path / "data").start()
    try:
        cash = krw(up)
        alert = up.alert(id="limit-1", order_type="limit", limit_price=60000, price=71000)
        reply = up.post(alert)
        assert reply.status_code == 200, reply.text
        [order] = wait_until(lambda: [o for o in up.orders() if o["status"] == "accepted"])
        assert krw(up) == cash - 60_000 - 9  # held by the buy, with its commission

        done = yquant("cancel", order["client_order_id"], "--json", env=up.env)
        assert done.returncode == 0, done.stdout + done.stderr
        [outcome] = json.loads(done.stdout)
        assert (outcome["status"], outcome["done"]) == ("cancelled", True)
        [after] = up.orders()
        assert (after["status"], after["reason"]) == ("cancelled", "cancelled")
        assert krw(up) == cash  # released

        again = yquant("cancel", order["broker_order_id"] or "", env=up.env)
        assert again.returncode == 1
        assert "Order already ended (already_final)" in again.stdout
    finally:
        assert up.stop() == 0, up.log()
