"""Manual approval on real parts (SQLite and MariaDB, Valkey, the paper broker): an alert of a
strategy in manual approval is held, then approved, rejected or timed out, exactly once; an
approved order is re-checked before the gateway gets it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.harness import Rig, build_rig, krx_alert
from tests.integration.services.test_engine import _order
from yquant.adapters.db import tables
from yquant.bootstrap import Runtime, active_role, build_approvals, build_control
from yquant.domain.model import Action, Market, OrderStatus, Side
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState
from yquant.domain.writes import RecordPrice
from yquant.services.approvals import Approvals, ApprovalTimeouts, Via

FRIDAY_OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Seoul"))
HELD = {"approval": "manual", "approval_timeout_s": 120}


async def make_rig(
    tmp_path: Path, db_url: str, valkey_url: str, *, name: str = "rig", **strategy: Any
) -> Rig:
    return await build_rig(
        tmp_path,
        db_url,
        valkey_url,
        FRIDAY_OPEN,
        name=name,
        strategies={"held": {**HELD, **strategy}, "free": {}},
    )


@pytest.fixture
async def rig(tmp_path: Path, db_url: str, valkey_url: str) -> AsyncIterator[Rig]:
    r = await make_rig(tmp_path, db_url, valkey_url)
    yield r
    await r.close()


def approvals_of(rig: Rig) -> Approvals:
    runtime = Runtime(rig.settings, rig.store, rig.recorder, rig.bus, rig.clock)
    return build_approvals(runtime, kill_switch=rig.engine.kill_switch)


async def held_order(rig: Rig, key: str = "a1", **kw: Any) -> str:
    """A manual strategy's buy decided by the engine: its client order id."""
    await rig.handle(krx_alert(key, rig.clock.now(), strategy="held", **kw))
    [row] = await rig.store.rows(select(tables.orders).where(tables.orders.c.signal_key == key))
    return str(row["client_order_id"])


async def status(rig: Rig, cid: str) -> tuple[str, str | None]:
    row = await rig.store.order(cid)
    assert row is not None
    return row["status"], row["reason"]


async def audit(rig: Rig) -> list[dict[str, Any]]:
    a = tables.audit_log
    rows = await rig.store.rows(select(a).where(a.c.action == "order_approval").order_by(a.c.id))
    return [{**r, "detail": json.loads(r["detail"])} for r in rows]


async def test_a_held_order_waits_unpublished_and_is_sent_once_approved(rig: Rig) -> None:
    cid = await held_order(rig)
    assert await status(rig, cid) == ("awaiting_approval", None)
    assert await rig.published() == []
    assert (await rig.signal("a1"))["status"] == "ordered"
    # Another strategy of the same settings is not held.
    await rig.handle(krx_alert("f1", rig.clock.now(), strategy="free"))
    assert [m["strategy"] for m in await rig.published()] == ["free"]
    rig.executed = 1

    approvals = approvals_of(rig)
    assert [o.client_order_id for o in await approvals.awaiting()] == [cid]
    rig.clock.advance(seconds=30)
    outcome = await approvals.approve(cid, actor="alice", via=Via.DASHBOARD)
    assert (outcome.decided, outcome.sent, outcome.reason) == (True, True, None)
    assert await status(rig, cid) == ("new", "approved")
    [row] = await rig.execute()
    assert (row["client_order_id"], row["status"], row["filled_quantity"]) == (cid, "filled", 3)
    [entry] = await audit(rig)
    assert (entry["actor"], entry["target"]) == ("alice", cid)
    assert entry["detail"]["from"] == "awaiting_approval"
    assert entry["detail"]["to"] == "new"
    assert entry["detail"]["via"] == "dashboard"
    # Deciding again changes nothing and says so.
    again = await approvals.reject(cid, actor="bob", via=Via.CLI)
    assert (again.decided, again.reason) == (False, ReasonCode.NOT_AWAITING_APPROVAL)
    assert again.order is not None and again.order.status is OrderStatus.FILLED
    assert len(await audit(rig)) == 1
    unknown = await approvals.approve("yq-nothing", actor="bob", via=Via.CLI)
    assert (unknown.decided, unknown.reason) == (False, ReasonCode.NOT_FOUND)


async def test_a_rejected_order_is_never_sent(rig: Rig) -> None:
    cid = await held_order(rig)
    outcome = await approvals_of(rig).reject(cid, actor="alice", via=Via.DASHBOARD)
    assert (outcome.decided, outcome.sent, outcome.reason) == (
        True,
        False,
        ReasonCode.APPROVAL_REFUSED,
    )
    assert await status(rig, cid) == ("rejected", "approval_refused")
    assert await rig.published() == []
    [entry] = await audit(rig)
    assert (entry["detail"]["to"], entry["detail"]["decision"]) == ("rejected", "reject")


async def test_a_timeout_rejects_by_default(rig: Rig) -> None:
    cid = await held_order(rig)
    timeouts = ApprovalTimeouts(approvals_of(rig), active_role(rig.store, "local"), interval_s=0.1)
    rig.clock.advance(seconds=119)
    assert await timeouts.tick() == 0
    assert await status(rig, cid) == ("awaiting_approval", None)
    rig.clock.advance(seconds=1)
    assert await timeouts.tick() == 1
    assert await status(rig, cid) == ("rejected", "approval_timeout")
    assert await rig.published() == []
    [entry] = await audit(rig)
    assert (entry["actor"], entry["detail"]["via"]) == ("timeout", "timeout")


async def test_a_timeout_approves_when_the_strategy_says_so(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    rig = await make_rig(tmp_path, db_url, valkey_url, on_timeout="approve")
    try:
        cid = await held_order(rig)
        timeouts = ApprovalTimeouts(
            approvals_of(rig), active_role(rig.store, "local"), interval_s=0.1
        )
        rig.clock.advance(seconds=125)
        assert await timeouts.tick() == 1
        [row] = await rig.execute()
        assert (row["client_order_id"], row["status"], row["reason"]) == (cid, "filled", "approved")
    finally:
        await rig.close()


async def test_only_the_active_worker_applies_timeouts(rig: Rig) -> None:
    cid = await held_order(rig)
    rig.clock.advance(seconds=600)
    # A blue worker with no deployment naming it is standby: it decides nothing.
    standby = ApprovalTimeouts(approvals_of(rig), active_role(rig.store, "blue"), interval_s=0.1)
    assert await standby.tick() == 0
    assert await status(rig, cid) == ("awaiting_approval", None)


async def test_two_decisions_at_once_one_wins(rig: Rig) -> None:
    cid = await held_order(rig)
    approvals = approvals_of(rig)
    outcomes = await asyncio.gather(
        approvals.approve(cid, actor="alice", via=Via.DASHBOARD),
        approvals.reject(cid, actor="telegram:42", via=Via.TELEGRAM),
    )
    assert sorted(o.decided for o in outcomes) == [False, True]
    [lost] = [o for o in outcomes if not o.decided]
    assert lost.reason is ReasonCode.NOT_AWAITING_APPROVAL
    [entry] = await audit(rig)
    won = "new" if entry["actor"] == "alice" else "rejected"
    assert (await status(rig, cid))[0] == won
    assert len(await rig.published()) == (1 if won == "new" else 0)


async def test_an_approval_after_the_price_moved_is_refused(rig: Rig) -> None:
    cid = await held_order(rig, price="71000")
    # The market moved 5.6% while the order waited (the deviation allowed is 1%).
    rig.clock.advance(seconds=20)
    now = rig.clock.now()
    await rig.recorder.write(RecordPrice(Market.KR, "005930", Decimal(75000), now, "alert"))
    outcome = await approvals_of(rig).approve(cid, actor="alice", via=Via.CLI)
    assert (outcome.decided, outcome.sent, outcome.reason) == (
        True,
        False,
        ReasonCode.PRICE_MOVED,
    )
    assert "71000 -> 75000" in outcome.detail
    assert await status(rig, cid) == ("rejected", "price_moved")
    assert await rig.published() == []
    [entry] = await audit(rig)
    assert (entry["detail"]["decision"], entry["detail"]["reason"]) == ("approve", "price_moved")


async def test_an_approval_within_the_band_is_sent(rig: Rig) -> None:
    cid = await held_order(rig, price="71000")
    rig.clock.advance(seconds=20)
    now = rig.clock.now()
    await rig.recorder.write(RecordPrice(Market.KR, "005930", Decimal(71500), now, "alert"))
    outcome = await approvals_of(rig).approve(cid, actor="alice", via=Via.CLI)
    assert (outcome.sent, outcome.reason) == (True, None)


async def test_an_approval_under_the_kill_switch_is_refused(rig: Rig) -> None:
    cid = await held_order(rig)
    control = build_control(rig.store, ["paper"])
    await control.set(
        "global", KillState.HALTED, actor="ops", reason="broker trouble", now=rig.clock.now()
    )
    outcome = await approvals_of(rig).approve(cid, actor="alice", via=Via.DASHBOARD)
    assert (outcome.decided, outcome.reason) == (True, ReasonCode.HALTED)
    assert await status(rig, cid) == ("rejected", "halted")


async def test_a_late_approval_is_refused_as_expired(rig: Rig) -> None:
    # No active worker applied the timeout (the engine was down): a person approving long
    # after the decision is refused, not sent on a stale signal.
    cid = await held_order(rig)
    rig.clock.advance(seconds=120 + 31)
    outcome = await approvals_of(rig).approve(cid, actor="alice", via=Via.DASHBOARD)
    assert (outcome.decided, outcome.reason) == (True, ReasonCode.APPROVAL_EXPIRED)
    assert await status(rig, cid) == ("rejected", "approval_expired")


async def test_an_approval_out_of_session_is_refused(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    rig = await build_rig(
        tmp_path,
        db_url,
        valkey_url,
        FRIDAY_OPEN.replace(hour=15, minute=27),
        accounts={"paper": {"broker": "paper", "sessions": "exchange"}},
        strategies={"held": {**HELD, "approval_timeout_s": 240}},
    )
    try:
        cid = await held_order(rig)
        rig.clock.advance(minutes=4)  # 15:31: KRX closed at 15:30
        outcome = await approvals_of(rig).approve(cid, actor="alice", via=Via.DASHBOARD)
        assert (outcome.decided, outcome.reason) == (True, ReasonCode.MARKET_CLOSED)
    finally:
        await rig.close()


async def test_a_held_order_survives_a_restart_and_still_times_out(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    first = await make_rig(tmp_path, db_url, valkey_url, name="first")
    cid = await held_order(first)
    await first.close()
    second = await make_rig(tmp_path, db_url, valkey_url, name="second")
    try:
        approvals = approvals_of(second)
        assert [o.client_order_id for o in await approvals.awaiting()] == [cid]
        # The same signal delivered again after the restart is not decided a second time.
        await second.handle(krx_alert("a1", second.clock.now(), strategy="held"), redelivered=True)
        assert await second.published() == []
        assert await status(second, cid) == ("awaiting_approval", None)
        timeouts = ApprovalTimeouts(approvals, active_role(second.store, "local"), interval_s=0.1)
        second.clock.advance(seconds=121)
        assert await timeouts.tick() == 1
        assert await status(second, cid) == ("rejected", "approval_timeout")
    finally:
        await second.close()


async def test_a_held_buy_counts_as_working_for_the_same_direction_guard(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    rig = await make_rig(tmp_path, db_url, valkey_url, risk={"same_direction_guard": True})
    try:
        await held_order(rig, "g1")
        await rig.handle(krx_alert("g2", rig.clock.now(), strategy="held"))
        signal = await rig.signal("g2")
        assert (signal["status"], signal["reason"]) == ("rejected", "same_direction")
    finally:
        await rig.close()


async def test_an_approved_order_whose_publication_was_lost_is_published_again(
    rig: Rig,
) -> None:
    cid = await held_order(rig)
    approvals = approvals_of(rig)
    await approvals.approve(cid, actor="alice", via=Via.DASHBOARD)
    await rig.bus.client.delete("yq:orders")  # the entry lost with Valkey
    rig.clock.advance(seconds=10)
    timeouts = ApprovalTimeouts(approvals, active_role(rig.store, "local"), interval_s=0.1)
    await timeouts.tick()
    await timeouts.tick()  # once per process
    assert [m["client_order_id"] for m in await rig.published()] == [cid]
    rig.executed = 0
    [row] = await rig.execute()
    assert row["status"] == "filled"


async def test_a_newer_held_sell_replaces_the_held_one_which_is_never_sent(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    rig = await make_rig(tmp_path, db_url, valkey_url, position_scope="account")
    try:
        await rig.broker.submit(_order("seed", Side.BUY, "10", "71000", FRIDAY_OPEN))
        first = await held_order(rig, "x1", action=Action.EXIT, quantity=None)
        second = await held_order(rig, "x2", action=Action.EXIT, quantity=None)
        rows = {r["client_order_id"]: r for r in await rig.store.recent("orders", 10)}
        assert rows[second]["replaces"] == first
        assert (rows[first]["status"], rows[second]["status"]) == ("awaiting_approval",) * 2
        approvals = approvals_of(rig)
        assert (await approvals.approve(second, actor="alice", via=Via.DASHBOARD)).sent
        [row] = await rig.execute()
        assert (row["client_order_id"], row["status"], row["filled_quantity"]) == (
            second,
            "filled",
            10,
        )
        assert await status(rig, first) == ("rejected", "replaced")
        late = await approvals.approve(first, actor="bob", via=Via.CLI)
        assert (late.decided, late.reason) == (False, ReasonCode.NOT_AWAITING_APPROVAL)
    finally:
        await rig.close()
