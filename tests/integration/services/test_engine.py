"""The engine on real parts: SQLite, Valkey, the paper broker (a fake catalog, a moved clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.harness import Rig, build_rig, krx_alert
from tests.support import krx_order
from yquant.adapters.db.order_queue import SqlOrderQueue
from yquant.adapters.messages import order_from_message
from yquant.bootstrap import build_control
from yquant.domain.model import Action, Alert, Market, Order, OrderStatus, OrderType, Side
from yquant.domain.risk import KillState
from yquant.errors import ConfigurationError

KST = ZoneInfo("Asia/Seoul")
FRIDAY_OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=KST)
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=KST)

EXCHANGE_HOURS = {
    "accounts": {"paper": {"broker": "paper", "sessions": "exchange"}},
}


@pytest.fixture
async def rig(tmp_path: Path, sqlite_url: str, valkey_url: str) -> AsyncIterator[Rig]:
    r = await build_rig(tmp_path, sqlite_url, valkey_url, FRIDAY_OPEN)
    yield r
    await r.close()


async def test_a_buy_alert_becomes_a_recorded_and_published_order(rig: Rig) -> None:
    alert = krx_alert("s1", FRIDAY_OPEN)
    await rig.handle(alert)
    [message] = await rig.published()
    assert (message["account"], message["side"], message["quantity"]) == ("paper", "buy", "3")
    assert message["exchange"] == "KOSPI"  # the catalog's listing, not the alert's alias
    stored = await rig.store.order(message["client_order_id"])
    assert stored is not None and stored["status"] == "new"
    signal = await rig.signal("s1")
    assert (signal["status"], signal["reason"]) == ("ordered", None)


async def test_an_unknown_ticker_is_rejected_with_the_catalogs_reason(rig: Rig) -> None:
    unknown = Alert(
        key="s2",
        strategy="default",
        ticker="999999",
        exchange="KRX",
        market=Market.KR,
        action=Action.BUY,
        received_at=FRIDAY_OPEN,
        price=Decimal(1000),
        quantity=Decimal(1),
    )
    await rig.handle(unknown)
    assert await rig.published() == []
    signal = await rig.signal("s2")
    assert (signal["status"], signal["reason"]) == ("rejected", "unknown_ticker")


async def test_a_paper_account_trades_at_any_hour_by_default(rig: Rig) -> None:
    rig.clock.set(SATURDAY)
    await rig.handle(krx_alert("s3", SATURDAY))
    assert len(await rig.published()) == 1


async def test_out_of_session_the_strategy_rejects_with_market_closed(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    r = await build_rig(tmp_path, sqlite_url, valkey_url, SATURDAY, **EXCHANGE_HOURS)
    try:
        await r.handle(krx_alert("s4", SATURDAY))
        assert await r.published() == []
        signal = await r.signal("s4")
        assert (signal["status"], signal["reason"]) == ("rejected", "market_closed")
        assert "2026-11-30T09:00+09:00" in signal["detail"]
    finally:
        await r.close()


async def test_out_of_session_the_strategy_queues_for_the_next_open(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    r = await build_rig(
        tmp_path,
        sqlite_url,
        valkey_url,
        SATURDAY,
        strategies={"night": {"accounts": ["paper"], "out_of_session": "queue"}},
        **EXCHANGE_HOURS,
    )
    try:
        await r.handle(krx_alert("s5", SATURDAY, strategy="night"))
        assert await r.published() == []
        signal = await r.signal("s5")
        assert (signal["status"], signal["reason"]) == ("ordered", "queued")
        [row] = await SqlOrderQueue(r.store).for_signal("s5")
        assert row["state"] == "queued"
        assert row["release_after"] == datetime(2026, 11, 30, 9, 0, tzinfo=KST)
        assert row["expires_at"] == datetime(2026, 11, 30, 10, 0, tzinfo=KST)
        # The same signal again (a redelivery) does not queue twice.
        await r.handle(krx_alert("s5", SATURDAY, strategy="night"), redelivered=True)
        assert len(await SqlOrderQueue(r.store).for_signal("s5")) == 1
    finally:
        await r.close()


async def test_a_redelivered_signal_publishes_the_recorded_order_not_a_new_decision(
    rig: Rig,
) -> None:
    await rig.handle(krx_alert("s6", FRIDAY_OPEN, quantity="3"))
    # The account changed in between (all cash gone): the recorded order still goes out as is.
    await rig.broker.submit(_order("drain", Side.BUY, "1400", "70000", FRIDAY_OPEN))
    await rig.handle(krx_alert("s6", FRIDAY_OPEN, quantity="3"), redelivered=True)
    messages = await rig.published()
    assert [Decimal(m["quantity"]) for m in messages] == [3, 3]
    assert len({m["client_order_id"] for m in messages}) == 1
    assert (await rig.signal("s6"))["status"] == "ordered"


async def test_a_second_copy_of_a_refused_signal_is_not_decided_again(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    """The sweeper (or a retry that reached the stream again) can deliver a signal a second
    time after it was decided; a refusal on record stays a refusal, even when the figures
    would now allow the order."""
    limits = {"accounts": {"paper": {"risk": {"max_orders_per_minute": 1}}}}
    r = await build_rig(tmp_path, sqlite_url, valkey_url, FRIDAY_OPEN, **limits)
    try:
        await r.handle(krx_alert("c1", FRIDAY_OPEN))
        await r.handle(krx_alert("c2", FRIDAY_OPEN))
        assert (await r.signal("c2"))["reason"] == "order_rate_limit"
        r.clock.advance(seconds=61)  # the rate limit would let it through now
        await r.handle(krx_alert("c2", FRIDAY_OPEN))
        signal = await r.signal("c2")
        assert (signal["status"], signal["reason"]) == ("rejected", "order_rate_limit")
        assert len(await r.published()) == 1
    finally:
        await r.close()


async def test_a_target_position_is_not_bought_twice_while_its_buy_is_working(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    strategies = {"t": {"accounts": ["paper"], "sizing": {"policy": "target_position"}}}
    r = await build_rig(tmp_path, sqlite_url, valkey_url, FRIDAY_OPEN, strategies=strategies)
    try:
        limit = {"order_type": OrderType.LIMIT, "limit_price": Decimal(70000)}
        first = krx_alert("t1", FRIDAY_OPEN, strategy="t", position_size=Decimal(10), **limit)
        await r.handle(first)  # a limit buy of 10 below the market: it rests, working
        later = FRIDAY_OPEN + timedelta(seconds=30)
        r.clock.set(later)
        await r.handle(krx_alert("t2", later, strategy="t", position_size=Decimal(15), **limit))
        assert [m["quantity"] for m in await r.published()] == ["10"]
        signal = await r.signal("t2")
        assert (signal["status"], signal["reason"]) == ("rejected", "order_working")
    finally:
        await r.close()


async def test_in_account_scope_sells_are_sized_from_the_brokers_holdings(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    solo = {"solo": {"accounts": ["paper"], "position_scope": "account"}}
    r = await build_rig(tmp_path, sqlite_url, valkey_url, FRIDAY_OPEN, strategies=solo)
    try:
        # Shares bought outside yQuant: no strategy's, but the account's.
        await r.broker.submit(_order("seed", Side.BUY, "4", "71000", FRIDAY_OPEN))
        await r.handle(krx_alert("s7", FRIDAY_OPEN, Action.SELL, strategy="solo", quantity="100"))
        [message] = await r.published()
        assert (message["side"], message["quantity"]) == ("sell", "4")
        assert "capped_by_holdings" in ((await r.signal("s7"))["detail"] or "")
        await r.handle(krx_alert("s8", FRIDAY_OPEN, Action.EXIT, strategy="solo", quantity=None))
        assert (await r.published())[-1]["quantity"] == "4"
    finally:
        await r.close()


async def test_a_buy_beyond_cash_is_capped_and_explained(rig: Rig) -> None:
    await rig.handle(krx_alert("s9", FRIDAY_OPEN, quantity="5000"))  # 355M KRW > 100M cash
    [message] = await rig.published()
    assert message["quantity"] == "1408"
    assert "capped_by_cash" in ((await rig.signal("s9"))["detail"] or "")


async def test_a_buy_capped_by_cash_leaves_room_for_the_commission(rig: Rig) -> None:
    # 100,000,000 KRW at 50,000 a share is 2,000 shares, which the commission (0.015 %) makes
    # 15,000 KRW too dear: the cap is 1,999, and the broker takes it.
    await rig.handle(krx_alert("f1", FRIDAY_OPEN, quantity="3000", price="50000"))
    [message] = await rig.published()
    assert message["quantity"] == "1999"
    placed = await rig.broker.submit(order_from_message(message))
    assert placed.status is OrderStatus.FILLED


async def test_a_buy_is_sized_from_the_cash_not_held_by_resting_buys(rig: Rig) -> None:
    await rig.broker.submit(_order("px", Side.BUY, "1", "70000", FRIDAY_OPEN))
    resting = _order("rest", Side.BUY, "1000", "70000", FRIDAY_OPEN)
    resting = resting.evolve(order_type=OrderType.LIMIT, limit_price=Decimal(60000))
    await rig.broker.submit(resting)  # 60,009,000 KRW held for it
    await rig.handle(krx_alert("f2", FRIDAY_OPEN, quantity="1000", price="70000"))
    [message] = await rig.published()
    assert message["quantity"] == "570"  # what the ~39.9M KRW left can buy, with commission
    assert "capped_by_cash" in ((await rig.signal("f2"))["detail"] or "")


async def test_the_kill_switch_halts_reduces_and_resumes(rig: Rig) -> None:
    control = build_control(rig.store, rig.settings.accounts)
    await control.set("global", KillState.HALTED, actor="test", reason="drill", now=FRIDAY_OPEN)
    await rig.handle(krx_alert("k1", FRIDAY_OPEN))
    assert (await rig.signal("k1"))["reason"] == "halted"
    await control.set("global", KillState.ACTIVE, actor="test", reason="done", now=FRIDAY_OPEN)
    await control.set("paper", KillState.REDUCE_ONLY, actor="test", reason="x", now=FRIDAY_OPEN)
    await rig.handle(krx_alert("k2", FRIDAY_OPEN))
    assert (await rig.signal("k2"))["reason"] == "reduce_only"
    await control.set("paper", KillState.ACTIVE, actor="test", reason="ok", now=FRIDAY_OPEN)
    await rig.handle(krx_alert("k3", FRIDAY_OPEN))
    assert (await rig.signal("k3"))["status"] == "ordered"
    assert len(await rig.published()) == 1


async def test_an_old_undecided_signal_is_stale(rig: Rig) -> None:
    rig.clock.set(FRIDAY_OPEN + timedelta(minutes=10))
    await rig.handle(krx_alert("old", FRIDAY_OPEN))
    assert (await rig.signal("old"))["reason"] == "stale_signal"
    assert await rig.published() == []


async def test_the_order_rate_limit_counts_recorded_orders(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    limits = {"accounts": {"paper": {"risk": {"max_orders_per_minute": 1}}}}
    r = await build_rig(tmp_path, sqlite_url, valkey_url, FRIDAY_OPEN, **limits)
    try:
        await r.handle(krx_alert("r1", FRIDAY_OPEN))
        await r.handle(krx_alert("r2", FRIDAY_OPEN))
        assert (await r.signal("r2"))["reason"] == "order_rate_limit"
        r.clock.advance(seconds=61)
        await r.handle(krx_alert("r3", FRIDAY_OPEN + timedelta(seconds=61)))
        assert (await r.signal("r3"))["status"] == "ordered"
    finally:
        await r.close()


async def test_limit_orders_go_out_on_the_tick(rig: Rig) -> None:
    await rig.handle(
        krx_alert("t1", FRIDAY_OPEN, order_type=OrderType.LIMIT, limit_price=Decimal(71050))
    )
    [message] = await rig.published()
    assert message["limit_price"] == "71000"


async def test_an_unknown_sizing_policy_stops_the_engine_at_start(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    with pytest.raises(ConfigurationError, match="kelly"):
        await build_rig(
            tmp_path,
            sqlite_url,
            valkey_url,
            FRIDAY_OPEN,
            strategies={"k": {"accounts": ["paper"], "sizing": {"policy": "kelly"}}},
        )


def _order(cid: str, side: Side, quantity: str, price: str, at: datetime) -> Order:
    return krx_order(
        cid,
        at,
        strategy="seed",
        exchange="KOSPI",
        side=side,
        quantity=Decimal(quantity),
        reference_price=Decimal(price),
    )
