"""The daily loss limit: realised P&L today plus the change of unrealised P&L since the session
start, read from the book (so the same on every worker and after a restart), per account and per
strategy; cash a resting buy reserves is no loss."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes import APPLE, IBM, KODEX, SAMSUNG, FakeInstruments
from tests.harness import Rig, build_rig
from yquant.domain.model import Action, Alert, Market, OrderType
from yquant.domain.reasons import ReasonCode

KST = ZoneInfo("Asia/Seoul")
LIMITED = {
    "accounts": {"paper": {"broker": "paper", "risk": {"max_daily_loss": {"KRW": "500000"}}}}
}
_keys = iter(range(10**6))


def now_in_seoul() -> datetime:
    """The rig's clock stands at the real time: the paper broker stamps its fills with it, so
    the day they fall on is the day the engine measures."""
    return datetime.now(KST)


def alert(
    rig: Rig,
    action: Action = Action.BUY,
    *,
    ticker: str = "005930",
    price: str = "71000",
    quantity: str | None = "1",
    strategy: str = "default",
    **kw: Any,
) -> Alert:
    return Alert(
        key=f"d{next(_keys)}",
        strategy=strategy,
        ticker=ticker,
        exchange="KRX",
        market=Market.KR,
        action=action,
        received_at=rig.clock.now(),
        price=Decimal(price),
        quantity=None if quantity is None else Decimal(quantity),
        **kw,
    )


def kodex(rig: Rig) -> Alert:
    return alert(rig, ticker="069500", price="10000")


async def reason(rig: Rig, a: Alert) -> str | None:
    await rig.handle(a)
    signal = await rig.signal(a.key)
    assert signal["status"] in ("ordered", "rejected"), signal
    return signal["reason"]


async def test_cash_a_resting_buy_reserves_is_no_loss(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    rig = await build_rig(tmp_path, db_url, valkey_url, now_in_seoul(), **LIMITED)
    try:
        # 60,009,000 KRW held by a limit buy far below the price: nothing was lost.
        resting = alert(
            rig, quantity="1000", order_type=OrderType.LIMIT, limit_price=Decimal(60000)
        )
        [row] = await rig.trade(resting)
        assert row["status"] == "accepted"
        assert await reason(rig, kodex(rig)) is None
        assert await reason(rig, alert(rig)) is None
    finally:
        await rig.close()


async def test_a_realised_loss_stops_buys_whatever_the_alert_names(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    rig = await build_rig(tmp_path, db_url, valkey_url, now_in_seoul(), **LIMITED)
    try:
        await rig.trade(alert(rig, quantity="100"))
        assert await reason(rig, kodex(rig)) is None
        # Sold 100 bought at 71,000 for 66,000: 500,000 lost, and the fees on top.
        *_, sold = await rig.trade(alert(rig, Action.EXIT, price="66000", quantity=None))
        assert (sold["side"], sold["status"]) == ("sell", "filled")
        refused = kodex(rig)
        assert await reason(rig, refused) == ReasonCode.DAILY_LOSS_LIMIT
        assert "the account's loss today" in (await rig.signal(refused.key))["detail"]
        assert await reason(rig, alert(rig, price="80000")) == ReasonCode.DAILY_LOSS_LIMIT
        # The next local day starts from nothing lost.
        rig.clock.advance(days=1)
        assert await reason(rig, kodex(rig)) is None
    finally:
        await rig.close()


async def test_a_fall_of_a_holding_since_the_session_start_counts_and_sells_still_go(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    rig = await build_rig(tmp_path, db_url, valkey_url, now_in_seoul(), **LIMITED)
    try:
        await rig.trade(alert(rig, quantity="100"))  # the day's first price of Samsung: 71,000
        assert await reason(rig, alert(rig, price="67000")) is None  # 400,000 down
        # 500,000 down: the limit holds new buys, whichever instrument they name.
        assert await reason(rig, alert(rig, price="66000")) == ReasonCode.DAILY_LOSS_LIMIT
        assert await reason(rig, kodex(rig)) == ReasonCode.DAILY_LOSS_LIMIT
        # A sell always goes; and the price back up is no loss any more.
        assert await reason(rig, alert(rig, Action.SELL, price="66000")) is None
        assert await reason(rig, alert(rig, price="71000")) is None
    finally:
        await rig.close()


async def test_a_holding_carried_into_the_day_is_measured_from_the_base_price(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    based = dataclasses.replace(SAMSUNG, base_price=Decimal(70000))
    catalog = FakeInstruments(based, KODEX, APPLE, IBM)
    rig = await build_rig(
        tmp_path, db_url, valkey_url, now_in_seoul(), instruments=catalog, **LIMITED
    )
    try:
        await rig.trade(alert(rig, quantity="100"))  # bought at 71,000
        rig.clock.advance(days=1)
        # Yesterday's close (the base price) was 70,000: today is measured from there, so
        # 65,100 is 490,000 down today (yesterday's 100,000 is not today's).
        assert await reason(rig, alert(rig, price="65100")) is None
        assert await reason(rig, alert(rig, price="65000")) == ReasonCode.DAILY_LOSS_LIMIT
    finally:
        await rig.close()


async def test_a_strategys_limit_holds_its_own_loss_not_the_accounts(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    strategies = {
        "careful": {"accounts": ["paper"], "risk": {"max_daily_loss": {"KRW": "300000"}}},
        "other": {"accounts": ["paper"]},
    }
    rig = await build_rig(tmp_path, db_url, valkey_url, now_in_seoul(), strategies=strategies)
    try:
        await rig.trade(alert(rig, quantity="100", strategy="careful"))
        await rig.trade(alert(rig, Action.EXIT, quantity=None, strategy="careful", price="67000"))
        refused = alert(rig, strategy="careful")
        assert await reason(rig, refused) == ReasonCode.DAILY_LOSS_LIMIT
        assert "the strategy's loss today" in (await rig.signal(refused.key))["detail"]
        assert await reason(rig, alert(rig, strategy="other")) is None
    finally:
        await rig.close()


async def test_the_days_loss_is_the_same_after_a_restart_and_on_the_other_worker(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    start = now_in_seoul()
    blue = await build_rig(tmp_path, db_url, valkey_url, start, name="blue", **LIMITED)
    try:
        await blue.trade(alert(blue, quantity="100"))
        await blue.trade(alert(blue, Action.EXIT, price="66000", quantity=None))
        assert await reason(blue, kodex(blue)) == ReasonCode.DAILY_LOSS_LIMIT
    finally:
        await blue.close()
    # A new engine process (a restart, or the other worker after a switch) reads the same book.
    later = start + timedelta(minutes=1)
    green = await build_rig(tmp_path, db_url, valkey_url, later, name="green", **LIMITED)
    try:
        assert await reason(green, kodex(green)) == ReasonCode.DAILY_LOSS_LIMIT
    finally:
        await green.close()
