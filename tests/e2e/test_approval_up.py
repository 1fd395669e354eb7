"""Manual approval under `yquant up`: an alert of a manual strategy waits, unsent, until the
active engine times it out (a short timeout: approve on timeout, re-checked, then filled by the
gateway); another is rejected from the command line and never sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import YquantUp, wait_until, yquant

pytestmark = pytest.mark.e2e


def _order(up: YquantUp, signal: str, *statuses: str) -> dict[str, Any] | None:
    for order in up.orders():
        if order["signal_id"] == signal and order["status"] in statuses:
            return order
    return None


def test_a_held_order_waits_then_times_out_into_a_fill_or_is_rejected(tmp_path: Path) -> None:
    up = YquantUp(
        tmp_path / "data",
        YQUANT__STRATEGIES__HELD__APPROVAL="manual",
        YQUANT__STRATEGIES__HELD__APPROVAL_TIMEOUT_S="4",
        YQUANT__STRATEGIES__HELD__ON_TIMEOUT="approve",
        YQUANT__STRATEGIES__SLOW__APPROVAL="manual",
    ).start()
    try:
        timed = up.post(up.alert(id="held-1", strategy="held", quantity="2", price="71000"))
        assert timed.status_code == 200, timed.text
        rejected = up.post(up.alert(id="slow-1", strategy="slow", quantity="1", price="71000"))
        slow = wait_until(lambda: _order(up, rejected.json()["signal"], "awaiting_approval"))
        first = wait_until(
            lambda: _order(up, timed.json()["signal"], "awaiting_approval", "filled")
        )
        assert first is not None
        done = wait_until(lambda: _order(up, timed.json()["signal"], "filled"), timeout_s=60)
        assert done["reason"] == "approved"
        result = yquant("reject", slow["client_order_id"], "--json", env=up.env)
        assert result.returncode == 0, result.stderr
        assert _order(up, rejected.json()["signal"], "rejected") is not None
    finally:
        assert up.stop() == 0, up.log()
