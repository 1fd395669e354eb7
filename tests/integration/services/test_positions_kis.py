"""Two strategies sharing one KIS account (the KIS simulator over HTTP): each one's exit sells
exactly its own shares, from alert to the simulator's fill and the book."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import valkey.asyncio as valkey

from tests.fixtures.kis_kit import kis_settings, start_sim
from tests.harness import Rig, build_rig
from tests.support import eventually
from yquant.adapters.brokers.kis.factory import build_kis_broker
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.brokers.routing import AccountBrokers
from yquant.adapters.db.broker_tokens import SqlTokenRecords
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Action, Alert, Market

KST = ZoneInfo("Asia/Seoul")
_keys = iter(range(10**6))


@pytest.fixture
async def kis_rig(
    tmp_path: Path, db_url: str, valkey_url: str
) -> AsyncIterator[tuple[Rig, SimServer]]:
    sim = start_sim(rate_limit_per_s=100)
    sim.control("price", market="KR", ticker="005930", price="70000")
    tokens = SqlStore(db_url, timeout_s=5)
    client = valkey.from_url(valkey_url, decode_responses=True)
    settings = kis_settings(sim.url, rate_limit_per_s=50)
    kis = build_kis_broker("main", settings, records=SqlTokenRecords(tokens), valkey=client)
    rig = await build_rig(
        tmp_path,
        db_url,
        valkey_url,
        datetime.now(KST),
        broker=AccountBrokers({"main": kis}),
        accounts={"main": {"broker": "kis-sim", "kis": settings, "sessions": "always"}},
        default_accounts=["main"],
        strategies={"scalper": {"accounts": ["main"]}, "long_term": {"accounts": ["main"]}},
    )
    stop = asyncio.Event()
    tracking = asyncio.create_task(rig.gateway.track(stop))
    try:
        yield rig, sim
    finally:
        stop.set()
        await tracking
        await rig.close()
        await client.aclose()
        await tokens.close()
        sim.stop()


def alert(rig: Rig, strategy: str, action: Action, quantity: str | None = None) -> Alert:
    return Alert(
        key=f"k{next(_keys)}",
        strategy=strategy,
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        action=action,
        received_at=rig.clock.now(),
        price=Decimal(70000),
        quantity=None if quantity is None else Decimal(quantity),
    )


async def filled(rig: Rig, a: Alert) -> dict[str, Any]:
    """The alert's one order once the simulator has filled it (followed by the gateway)."""
    [sent] = await rig.trade(a)

    async def done() -> dict[str, Any] | None:
        row = await rig.store.order(sent["client_order_id"])
        return row if row is not None and row["status"] == "filled" else None

    row: dict[str, Any] = await eventually(done)
    return row


async def test_each_strategys_exit_sells_its_own_shares_on_kis(
    kis_rig: tuple[Rig, SimServer],
) -> None:
    rig, _sim = kis_rig
    await filled(rig, alert(rig, "long_term", Action.BUY, "70"))
    await filled(rig, alert(rig, "scalper", Action.BUY, "30"))

    scalper_exit = await filled(rig, alert(rig, "scalper", Action.EXIT))
    assert (scalper_exit["side"], scalper_exit["quantity"]) == ("sell", 30)
    [holding] = await rig.broker.holdings("main")
    assert holding.quantity == 70
    book = await rig.book()
    assert book.held("main", "scalper", Market.KR, "005930") == 0
    assert book.held("main", "long_term", Market.KR, "005930") == 70

    long_exit = await filled(rig, alert(rig, "long_term", Action.EXIT))
    assert long_exit["quantity"] == 70
    assert [h for h in await rig.broker.holdings("main") if h.quantity > 0] == []


async def test_a_krx_market_buy_is_sized_for_the_upper_limit_kis_holds_it_at(
    kis_rig: tuple[Rig, SimServer],
) -> None:
    rig, _sim = kis_rig
    # 100,000,000 KRW at 70,000 would be 1,428 shares, but KIS holds a market buy's cash at the
    # day's upper limit (91,000 here): 1,098 fit, and KIS takes them.
    big = alert(rig, "long_term", Action.BUY, "5000")
    row = await filled(rig, big)
    assert row["quantity"] == 1098
    assert "capped_by_cash" in (await rig.signal(big.key))["detail"]
