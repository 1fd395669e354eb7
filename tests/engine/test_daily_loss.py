"""The daily loss limit: measured the same way whatever the alert names."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.engine.harness import Rig, build_rig, krx_alert
from tests.engine.test_engine import _order
from yquant.domain.model import Action, Alert, Market, Side
from yquant.domain.risk import DAILY_LOSS

KST = ZoneInfo("Asia/Seoul")
FRIDAY_OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=KST)
LIMITED = {
    "accounts": {"paper": {"broker": "paper", "risk": {"max_daily_loss": {"KRW": "500000"}}}}
}


def kodex_alert(key: str, at: datetime) -> Alert:
    return Alert(
        key=key,
        strategy="default",
        ticker="069500",
        exchange="KRX",
        market=Market.KR,
        action=Action.BUY,
        received_at=at,
        price=Decimal(10000),
        quantity=Decimal(1),
    )


async def seed_and_lose(rig: Rig, at: datetime) -> None:
    """Sell the 100 shares bought at 71,000 for 60,000 each: a realised loss of 1,100,000."""
    await rig.broker.submit(_order(f"loss-{at:%H%M%S}", Side.SELL, "100", "60000", at))


async def test_the_days_loss_does_not_depend_on_which_ticker_the_alert_names(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    rig = await build_rig(tmp_path, sqlite_url, valkey_url, FRIDAY_OPEN, **LIMITED)
    try:
        await rig.broker.submit(_order("seed", Side.BUY, "100", "71000", FRIDAY_OPEN))
        # Samsung quoted 900,000 above its cost, then an alert for KODEX: nothing was lost.
        await rig.handle(krx_alert("d1", FRIDAY_OPEN, quantity="1", price="80000"))
        await rig.handle(kodex_alert("d2", FRIDAY_OPEN))
        # And the other way round: Samsung quoted far below its cost after a KODEX alert.
        await rig.handle(krx_alert("d3", FRIDAY_OPEN, quantity="1", price="60000"))
        for key in ("d1", "d2", "d3"):
            sig = await rig.signal(key)
            assert (sig["status"], sig["reason"]) == ("ordered", None), sig["detail"]
        # A real (realised) loss is still a loss, whatever the next alert names.
        await seed_and_lose(rig, FRIDAY_OPEN)
        await rig.handle(kodex_alert("d4", FRIDAY_OPEN))
        assert (await rig.signal("d4"))["reason"] == DAILY_LOSS
    finally:
        await rig.close()
