"""An operator's order (`yquant buy|sell`) through the engine: exactly the quantity asked."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.harness import build_rig
from tests.integration.services.test_engine import _order
from yquant.domain.model import Market, Side
from yquant.domain.reasons import ReasonCode
from yquant.services.manual import ManualOutcome, ManualRequest

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
                ManualRequest(
                    account="paper",
                    side=side,
                    market=Market.KR,
                    exchange="KRX",
                    ticker="005930",
                    quantity=Decimal(1),
                    limit_price=None,
                    price=Decimal(71000),
                ),
                wait_s=0.2,
            )
        published = [(m["side"], m["quantity"]) for m in await rig.published()]
        assert published == [("sell", "1"), ("buy", "1")]
    finally:
        await rig.close()


async def test_an_operator_order_is_never_resized_silently(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    rig = await build_rig(tmp_path, db_url, valkey_url, FRIDAY_OPEN)
    try:
        await rig.broker.submit(_order("seed", Side.BUY, "9", "71000", FRIDAY_OPEN))
        await rig.bus.heartbeat("gateway", {})

        async def sell(quantity: int, **kw: object) -> ManualOutcome:
            return await rig.engine.manual.place(
                ManualRequest(
                    account="paper",
                    side=Side.SELL,
                    market=Market.KR,
                    exchange="KRX",
                    ticker="005930",
                    quantity=Decimal(quantity),
                    limit_price=None,
                    price=Decimal(71000),
                ),
                wait_s=0.2,
                **kw,  # type: ignore[arg-type]
            )

        refused = await sell(1000)
        assert (refused.status, refused.reason) == ("rejected", ReasonCode.CAPPED_BY_HOLDINGS)
        assert "1000 asked, 9 possible" in refused.detail
        assert await rig.published() == []
        signal = await rig.signal(refused.signal_key)
        assert (signal["status"], signal["reason"]) == ("rejected", "capped_by_holdings")

        allowed = await sell(1000, allow_resize=True)
        assert allowed.resized and (allowed.asked, allowed.sent) == (1000, 9)
        assert allowed.resized_by == (ReasonCode.CAPPED_BY_HOLDINGS,)
        [message] = await rig.published()
        assert (message["side"], message["quantity"], message["strategy"]) == (
            "sell",
            "9",
            "manual",
        )
    finally:
        await rig.close()
