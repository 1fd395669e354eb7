"""A liquidation on a KIS account (the KIS simulator over HTTP): the US sells go out as limits
at the account's band below the last price (KIS takes no US market order), and only the
market and strategy asked for are sold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.harness import Rig, filled, kis_sim_rig
from tests.integration.services.test_liquidation import gateway, liquidator
from tests.support import eventually
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.domain.liquidation import LiquidationFilter, LiquidationStatus
from yquant.domain.model import Action, Alert, Market

KST = ZoneInfo("Asia/Seoul")
_keys = iter(range(10**6))


@pytest.fixture
async def kis_rig(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> AsyncIterator[tuple[Rig, SimServer]]:
    async with kis_sim_rig(
        tmp_path,
        sqlite_url,
        valkey_url,
        strategies={"scalper": {"accounts": ["main"]}},
        prices={("KR", "005930"): "70000", ("US", "AAPL"): "190"},
        us_market_band_pct="3",
    ) as parts:
        yield parts


def buy(rig: Rig, market: Market, exchange: str, ticker: str, price: str, qty: str) -> Alert:
    return Alert(
        key=f"kl{next(_keys)}",
        strategy="scalper",
        ticker=ticker,
        exchange=exchange,
        market=market,
        action=Action.BUY,
        received_at=rig.clock.now(),
        price=Decimal(price),
        quantity=Decimal(qty),
    )


async def test_a_us_liquidation_on_kis_sells_at_a_limit_inside_the_band(
    kis_rig: tuple[Rig, SimServer],
) -> None:
    rig, sim = kis_rig
    await filled(rig, buy(rig, Market.US, "NASDAQ", "AAPL", "190", "3"))
    await filled(rig, buy(rig, Market.KR, "KRX", "005930", "70000", "10"))
    liq = liquidator(rig)
    plan = await liq.plan(LiquidationFilter.of(strategy="scalper", market="US"))
    assert [(i.ticker, i.quantity) for i in plan.items] == [("AAPL", 3)]
    async with gateway(rig):
        result = await liq.execute(plan, requested_by="t", source="test", confirm=True)
        assert result.status is LiquidationStatus.DONE, result.as_dict()

        async def sold() -> dict[str, Any] | None:
            row = await rig.store.order(result.sells[0].client_order_id or "")
            return row if row is not None and row["status"] == "filled" else None

        row = await eventually(sold)
    assert (row["side"], row["order_type"], row["quantity"]) == ("sell", "market", 3)
    sell = sim.control("stats")["orders"][-1]
    # 190 x 0.97 = 184.30: the limit that stands in for the market sell.
    assert (sell["side"], Decimal(sell["limit_price"]), sell["filled"]) == (
        "sell",
        Decimal("184.30"),
        "3",
    )
    book = await rig.book()
    assert book.held("main", "scalper", Market.US, "AAPL") == 0
    assert book.held("main", "scalper", Market.KR, "005930") == 10
