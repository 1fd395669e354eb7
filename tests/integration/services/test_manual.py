"""An operator's order (`yquant buy|sell`) through the engine: exactly the quantity asked."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.harness import build_rig
from tests.integration.services.test_engine import _order
from yquant.domain.model import Market, Side

FRIDAY_OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Seoul"))


async def test_an_operator_order_has_the_quantity_asked_whatever_the_sizing_policy(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    sized = {"policy": "percent_of_equity", "percent_of_equity": "5"}
    rig = await build_rig(
        tmp_path,
        sqlite_url,
        valkey_url,
        FRIDAY_OPEN,
        accounts={"paper": {"broker": "paper", "sizing": sized}},
        strategies={"manual": {"sizing": {"policy": "fixed_amount", "amount": {"KRW": "1e7"}}}},
    )
    try:
        await rig.broker.submit(_order("seed", Side.BUY, "100", "71000", FRIDAY_OPEN))
        await rig.bus.heartbeat("gateway", {})
        for side in (Side.SELL, Side.BUY):
            await rig.engine.manual.place(
                account="paper",
                side=side,
                market=Market.KR,
                exchange="KRX",
                ticker="005930",
                quantity=Decimal(1),
                limit_price=None,
                price=Decimal(71000),
                wait_s=0.2,
            )
        published = [(m["side"], m["quantity"]) for m in await rig.published()]
        assert published == [("sell", "1"), ("buy", "1")]
    finally:
        await rig.close()
