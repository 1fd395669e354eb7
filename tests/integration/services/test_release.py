"""Queued orders: released at the (simulated) next open exactly once, by the active worker only,
through the real streams and the real databases."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.fakes import ManualClock
from tests.harness import Rig, build_rig, krx_alert
from tests.support import eventually
from yquant.adapters.bus import SIGNALS
from yquant.adapters.db.deployment import DeploymentRoles
from yquant.adapters.db.order_queue import SqlOrderQueue
from yquant.bootstrap import build_control, build_releaser
from yquant.domain.commands import DecideSignal
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState
from yquant.services.release import QueueReleaser
from yquant.services.worker_state import ActiveRole

KST = ZoneInfo("Asia/Seoul")
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=KST)
MONDAY_OPEN = datetime(2026, 11, 30, 9, 0, 1, tzinfo=KST)

QUEUE_SETTINGS: dict[str, Any] = {
    "strategies": {"night": {"accounts": ["paper"], "out_of_session": "queue"}},
    "accounts": {"paper": {"broker": "paper", "sessions": "exchange"}},
}


class Engines:
    """Two engines of one worker on one Valkey and one database, each consuming the signal
    stream and running the release loop."""

    def __init__(self, rigs: list[Rig], releasers: list[QueueReleaser]) -> None:
        self.rigs = rigs
        self.releasers = releasers
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for i, (rig, releaser) in enumerate(zip(self.rigs, self.releasers, strict=True)):
            self.tasks.append(
                asyncio.create_task(
                    rig.bus.consume(
                        SIGNALS,
                        "engine",
                        f"engine-{i}",
                        rig.engine.signals.handle_signal,
                        self.stop,
                    )
                )
            )
            self.tasks.append(asyncio.create_task(releaser.run(self.stop)))

    async def close(self) -> None:
        self.stop.set()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for rig in self.rigs:
            await rig.close()

    async def scans_after(self, extra: int) -> None:
        """Wait until every release loop has completed ``extra`` more scans."""
        targets = [r.scans + extra for r in self.releasers]
        await eventually(
            lambda: all(r.scans >= t for r, t in zip(self.releasers, targets, strict=True))
        )


async def two_engines(
    tmp_path: Path, db_url: str, valkey_url: str, clock: ManualClock, workers: tuple[str, str]
) -> Engines:
    rigs, releasers = [], []
    for name in ("a", "b"):
        rig = await build_rig(
            tmp_path, db_url, valkey_url, clock.now(), name=name, clock=clock, **QUEUE_SETTINGS
        )
        rigs.append(rig)
    for rig, worker in zip(rigs, workers, strict=True):
        releasers.append(
            build_releaser(
                rig.engine,
                ActiveRole(DeploymentRoles(rig.store), worker),
                poll_s=0.02,
                lease_s=120,
            )
        )
    return Engines(rigs, releasers)


@pytest.fixture
async def engines(tmp_path: Path, db_url: str, valkey_url: str) -> AsyncIterator[Engines]:
    e = await two_engines(tmp_path, db_url, valkey_url, ManualClock(SATURDAY), ("local", "local"))
    e.start()
    yield e
    await e.close()


async def stream_orders(rig: Rig) -> list[dict[str, Any]]:
    return await rig.published()


async def test_a_queued_order_is_released_at_the_next_open_exactly_once_with_two_engines(
    engines: Engines,
) -> None:
    first = engines.rigs[0]
    alert = krx_alert("night-1", SATURDAY, strategy="night", quantity="2")
    await first.receive(alert)
    await first.bus.send(DecideSignal(alert))

    queue = SqlOrderQueue(first.store)
    [row] = await eventually(lambda: queue.for_signal("night-1"))
    assert row["state"] == "queued"
    signal = await eventually(lambda: _signal_if(first, "night-1", "ordered"))
    assert signal["reason"] == "queued"
    await engines.scans_after(3)
    assert await stream_orders(first) == []  # Saturday: nothing goes out

    first.clock.set(MONDAY_OPEN)
    [message] = await eventually(lambda: stream_orders(first))
    assert (message["side"], message["quantity"], message["account"]) == ("buy", "2", "paper")
    await engines.scans_after(3)  # both loops looked again after the release

    assert len(await stream_orders(first)) == 1
    assert sum(r.released for r in engines.releasers) == 1
    [row] = await queue.for_signal("night-1")
    assert row["state"] == "released"
    stored = await first.store.order(message["client_order_id"])
    assert stored is not None and stored["created_at"] == MONDAY_OPEN
    signal = await _signal_if(first, "night-1", "ordered")
    assert signal is not None and signal["reason"] is None


async def test_only_the_worker_holding_the_active_role_releases(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    clock = ManualClock(SATURDAY)
    e = await two_engines(tmp_path, sqlite_url, valkey_url, clock, ("blue", "green"))
    try:
        first = e.rigs[0]
        await DeploymentRoles(first.store).set_active("green", "test", SATURDAY)
        await first.handle(krx_alert("night-2", SATURDAY, strategy="night"))
        clock.set(MONDAY_OPEN)
        blue, green = e.releasers
        assert await blue.release_due() == 0
        [row] = await SqlOrderQueue(first.store).for_signal("night-2")
        assert row["state"] == "queued"
        assert await green.release_due() == 1
        assert await blue.release_due() == 0 and await green.release_due() == 0
        assert len(await first.published()) == 1
    finally:
        await e.close()


async def test_a_queued_order_past_its_window_expires_instead_of_trading_late(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    clock = ManualClock(SATURDAY)
    e = await two_engines(tmp_path, sqlite_url, valkey_url, clock, ("local", "local"))
    try:
        first = e.rigs[0]
        await first.handle(krx_alert("night-3", SATURDAY, strategy="night"))
        clock.set(MONDAY_OPEN + timedelta(hours=2))  # the engines were down all morning
        assert await e.releasers[0].release_due() == 0
        [row] = await SqlOrderQueue(first.store).for_signal("night-3")
        assert (row["state"], row["reason"]) == ("expired", "queue_expired")
        signal = await first.signal("night-3")
        assert (signal["status"], signal["reason"]) == ("rejected", "queue_expired")
        assert await first.published() == []
    finally:
        await e.close()


async def test_an_operator_cancelled_queued_order_keeps_the_stored_reason_and_is_not_released(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    clock = ManualClock(SATURDAY)
    e = await two_engines(tmp_path, sqlite_url, valkey_url, clock, ("local", "local"))
    try:
        first = e.rigs[0]
        await first.handle(krx_alert("night-5", SATURDAY, strategy="night"))
        queue = SqlOrderQueue(first.store)
        [row] = await queue.for_signal("night-5")
        assert await queue.cancel(row["client_order_id"], "changed my mind", SATURDAY)
        [row] = await queue.for_signal("night-5")
        assert (row["state"], row["reason"], row["detail"]) == (
            "cancelled",
            ReasonCode.CANCELLED_BY_OPERATOR,
            "changed my mind",
        )
        assert row["reason"] == "cancelled"  # the value stored rows have always held
        clock.set(MONDAY_OPEN)
        assert await e.releasers[0].release_due() == 0
        assert await first.published() == []
    finally:
        await e.close()


async def test_a_queued_order_is_decided_again_at_release_and_a_halt_refuses_it(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    clock = ManualClock(SATURDAY)
    e = await two_engines(tmp_path, sqlite_url, valkey_url, clock, ("local", "local"))
    try:
        first = e.rigs[0]
        await first.handle(krx_alert("night-4", SATURDAY, strategy="night"))
        await build_control(first.store, ["paper"]).set(
            "global", KillState.HALTED, actor="test", reason="gap risk", now=SATURDAY
        )
        clock.set(MONDAY_OPEN)
        assert await e.releasers[0].release_due() == 0
        [row] = await SqlOrderQueue(first.store).for_signal("night-4")
        assert (row["state"], row["reason"]) == ("rejected", "halted")
        assert (await first.signal("night-4"))["reason"] == "halted"
        assert await first.published() == []
    finally:
        await e.close()


async def test_a_claim_left_by_a_vanished_engine_is_taken_over_once(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    clock = ManualClock(SATURDAY)
    e = await two_engines(tmp_path, sqlite_url, valkey_url, clock, ("local", "local"))
    try:
        first = e.rigs[0]
        await first.handle(krx_alert("night-5", SATURDAY, strategy="night"))
        clock.set(MONDAY_OPEN)
        queue = SqlOrderQueue(first.store)
        [row] = await queue.due(MONDAY_OPEN, lease_s=120)
        # An engine claimed it and died before doing anything else.
        assert await queue.claim(row, "dead:engine", 0, MONDAY_OPEN, 120)
        assert await e.releasers[0].release_due() == 0  # the lease still runs
        clock.advance(seconds=121)
        assert await e.releasers[1].release_due() == 1
        assert await e.releasers[0].release_due() == 0
        assert len(await first.published()) == 1
        [row] = await queue.for_signal("night-5")
        assert row["state"] == "released"
    finally:
        await e.close()


async def test_a_claim_taken_over_after_its_window_expires_instead_of_trading_late(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    clock = ManualClock(SATURDAY)
    e = await two_engines(tmp_path, sqlite_url, valkey_url, clock, ("local", "local"))
    try:
        first = e.rigs[0]
        await first.handle(krx_alert("night-6", SATURDAY, strategy="night"))
        queue = SqlOrderQueue(first.store)
        [row] = await queue.due(MONDAY_OPEN, lease_s=120)
        # Claimed at the open by an engine that died; the engines are back at 14:00.
        assert await queue.claim(row, "dead:engine", 0, MONDAY_OPEN, 120)
        clock.set(MONDAY_OPEN + timedelta(hours=5))
        assert await e.releasers[0].release_due() == 0
        [row] = await queue.for_signal("night-6")
        assert (row["state"], row["reason"]) == ("expired", "queue_expired")
        assert (await first.signal("night-6"))["reason"] == "queue_expired"
        assert await first.published() == []
    finally:
        await e.close()


async def _signal_if(rig: Rig, key: str, status: str) -> dict[str, Any] | None:
    rows = await rig.store.recent("signals", 100)
    found = [r for r in rows if r["signal_key"] == key and r["status"] == status]
    return found[0] if found else None
