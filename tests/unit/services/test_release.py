"""Releasing queued orders on fakes: no database, no Valkey."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from tests.harness import krx_alert
from tests.unit.services.test_signals import EXCHANGE_HOURS, KST, SATURDAY, handle
from tests.unit.services.wiring import FakeEngine, fake_engine
from yquant.domain.risk import KillState
from yquant.ports import ORDERS

MONDAY_OPEN = datetime(2026, 11, 30, 9, 0, tzinfo=KST)
QUEUEING = {"strategies": {"night": {"accounts": ["paper"], "out_of_session": "queue"}}}


async def queued(tmp_path: Path, key: str = "q1") -> FakeEngine:
    e = fake_engine(tmp_path, SATURDAY, **QUEUEING, **EXCHANGE_HOURS)
    await handle(e, krx_alert(key, SATURDAY, strategy="night"))
    return e


async def test_nothing_is_released_before_the_open(tmp_path: Path) -> None:
    e = await queued(tmp_path)
    assert await e.releaser.release_due() == 0
    assert e.bus.messages(ORDERS) == []


async def test_at_the_open_the_order_is_decided_again_and_released_once(tmp_path: Path) -> None:
    e = await queued(tmp_path)
    e.clock.set(MONDAY_OPEN + timedelta(minutes=1))
    assert await e.releaser.release_due() == 1
    assert await e.releaser.release_due() == 0
    [message] = e.bus.messages(ORDERS)
    assert message["signal_key"] == "q1"
    [row] = await e.queue.for_signal("q1")
    assert row["state"] == "released"
    assert (e.recorder.signal("q1")["status"], e.recorder.signal("q1")["reason"]) == (
        "ordered",
        None,
    )


async def test_only_the_active_worker_releases(tmp_path: Path) -> None:
    e = await queued(tmp_path)
    e.roles.current = ("green", 3)
    e.clock.set(MONDAY_OPEN + timedelta(minutes=1))
    assert await e.releaser.release_due() == 0
    assert e.releaser.scans == 1
    e.roles.current = ("local", 4)
    assert await e.releaser.release_due() == 1


async def test_a_halt_at_the_open_rejects_the_queued_order(tmp_path: Path) -> None:
    e = await queued(tmp_path)
    e.kill.states["global"] = KillState.HALTED
    e.clock.set(MONDAY_OPEN + timedelta(minutes=1))
    assert await e.releaser.release_due() == 0
    [row] = await e.queue.for_signal("q1")
    assert (row["state"], row["reason"]) == ("rejected", "halted")
    assert (e.recorder.signal("q1")["status"], e.recorder.signal("q1")["reason"]) == (
        "rejected",
        "halted",
    )


async def test_a_row_past_its_window_expires_and_settles_its_signal(tmp_path: Path) -> None:
    e = await queued(tmp_path)
    e.clock.set(MONDAY_OPEN + timedelta(hours=2))  # the window is an hour after the open
    assert await e.releaser.release_due() == 0
    [row] = await e.queue.for_signal("q1")
    assert (row["state"], row["reason"]) == ("expired", "queue_expired")
    assert e.recorder.signal("q1")["reason"] == "queue_expired"
    assert e.bus.messages(ORDERS) == []
