"""The daily loss limit: measured the same way whatever the alert names, and remembered by the
database across restarts and workers (from memory during an outage)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.harness import Rig, build_rig, krx_alert
from tests.integration.services.test_engine import _order
from tests.support import MARIADB_HOST, MARIADB_PORT, TcpProxy
from yquant.domain.model import Action, Alert, Market, Side
from yquant.domain.reasons import ReasonCode

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
        assert (await rig.signal("d4"))["reason"] == ReasonCode.DAILY_LOSS_LIMIT
    finally:
        await rig.close()


async def test_a_tripped_daily_loss_limit_holds_after_an_engine_restart(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    rig = await build_rig(tmp_path, db_url, valkey_url, FRIDAY_OPEN, name="a", **LIMITED)
    try:
        await rig.broker.submit(_order("seed", Side.BUY, "100", "71000", FRIDAY_OPEN))
        await rig.handle(krx_alert("e1", FRIDAY_OPEN, quantity="1"))  # the day's first decision
        await seed_and_lose(rig, FRIDAY_OPEN)
        await rig.handle(krx_alert("e2", FRIDAY_OPEN, quantity="1"))
        assert (await rig.signal("e2"))["reason"] == ReasonCode.DAILY_LOSS_LIMIT
    finally:
        await rig.close()
    # The engine process restarts (deploy, crash): same database, same broker ledger.
    later = FRIDAY_OPEN + timedelta(hours=1)
    rig = await build_rig(tmp_path, db_url, valkey_url, later, name="b", **LIMITED)
    try:
        await rig.handle(krx_alert("e3", later, quantity="1"))
        assert (await rig.signal("e3"))["reason"] == ReasonCode.DAILY_LOSS_LIMIT
        # The next venue day starts from its own baseline.
        monday = datetime(2026, 11, 30, 9, 30, tzinfo=KST)
        rig.clock.set(monday)
        await rig.handle(krx_alert("e4", monday, quantity="1"))
        assert (await rig.signal("e4"))["status"] == "ordered"
    finally:
        await rig.close()


async def test_two_workers_measure_the_day_from_the_same_baseline(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    blue = await build_rig(tmp_path, db_url, valkey_url, FRIDAY_OPEN, name="blue", **LIMITED)
    green = await build_rig(tmp_path, db_url, valkey_url, FRIDAY_OPEN, name="green", **LIMITED)
    try:
        await blue.broker.submit(_order("seed", Side.BUY, "100", "71000", FRIDAY_OPEN))
        # Both take their first decision of the day at the same moment.
        await asyncio.gather(
            blue.handle(krx_alert("b1", FRIDAY_OPEN, quantity="1")),
            green.handle(kodex_alert("g1", FRIDAY_OPEN)),
        )
        assert (await blue.signal("b1"))["status"] == "ordered"
        assert (await blue.signal("g1"))["status"] == "ordered"
        await seed_and_lose(blue, FRIDAY_OPEN)
    finally:
        await green.close()
    # Blue/green switch: a new green process, which never saw the day begin, refuses too.
    green = await build_rig(tmp_path, db_url, valkey_url, FRIDAY_OPEN, name="green2", **LIMITED)
    try:
        await asyncio.gather(
            green.handle(kodex_alert("g2", FRIDAY_OPEN)),
            blue.handle(krx_alert("b2", FRIDAY_OPEN, quantity="1")),
        )
        assert (await blue.signal("g2"))["reason"] == ReasonCode.DAILY_LOSS_LIMIT
        assert (await blue.signal("b2"))["reason"] == ReasonCode.DAILY_LOSS_LIMIT
    finally:
        await blue.close()
        await green.close()


@pytest.fixture
async def proxy(mariadb_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A MariaDB connection through a proxy the test can cut."""
    p = await TcpProxy(MARIADB_HOST, MARIADB_PORT).start()
    yield p, mariadb_url.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{p.port}")
    await p.stop()


async def test_during_a_database_outage_the_day_is_measured_from_memory(
    tmp_path: Path, proxy: tuple[TcpProxy, str], mariadb_url: str, valkey_url: str
) -> None:
    cut, url = proxy
    rig = await build_rig(tmp_path, url, valkey_url, FRIDAY_OPEN, name="a", **LIMITED)
    try:
        await rig.broker.submit(_order("seed", Side.BUY, "100", "71000", FRIDAY_OPEN))
        cut.cut()
        # The database is away from the day's first decision on: decided all the same.
        first = await rig.engine.decider.decide(
            krx_alert("o1", FRIDAY_OPEN, quantity="1"), FRIDAY_OPEN
        )
        assert [o.reason for o in first.outcomes] == [None]
        await seed_and_lose(rig, FRIDAY_OPEN)
        second = await rig.engine.decider.decide(kodex_alert("o2", FRIDAY_OPEN), FRIDAY_OPEN)
        assert [o.reason for o in second.outcomes] == [ReasonCode.DAILY_LOSS_LIMIT]
        # Back: the baseline this engine knew is the one the database keeps for the day.
        cut.restore()
        third = await rig.engine.decider.decide(kodex_alert("o3", FRIDAY_OPEN), FRIDAY_OPEN)
        assert [o.reason for o in third.outcomes] == [ReasonCode.DAILY_LOSS_LIMIT]
    finally:
        await rig.close()
    other = await build_rig(tmp_path, mariadb_url, valkey_url, FRIDAY_OPEN, name="b", **LIMITED)
    try:
        fourth = await other.engine.decider.decide(kodex_alert("o4", FRIDAY_OPEN), FRIDAY_OPEN)
        assert [o.reason for o in fourth.outcomes] == [ReasonCode.DAILY_LOSS_LIMIT]
    finally:
        await other.close()
