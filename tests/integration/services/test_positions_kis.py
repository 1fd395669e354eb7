"""Two strategies sharing one KIS account (the KIS simulator over HTTP): each one's exit sells
exactly its own shares, from alert to the simulator's fill and the book."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.harness import Rig, filled, kis_sim_rig
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.domain.model import Action, Alert, Market

KST = ZoneInfo("Asia/Seoul")
_keys = iter(range(10**6))


@pytest.fixture
async def kis_rig(
    tmp_path: Path, db_url: str, valkey_url: str
) -> AsyncIterator[tuple[Rig, SimServer]]:
    async with kis_sim_rig(
        tmp_path,
        db_url,
        valkey_url,
        strategies={"scalper": {"accounts": ["main"]}, "long_term": {"accounts": ["main"]}},
        prices={("KR", "005930"): "70000"},
    ) as parts:
        yield parts


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
