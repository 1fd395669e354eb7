"""Blue and green on one real MariaDB, a switch at the firing moment: each schedule fires once.

Both workers run the scheduler on the same database (each its own engine, journal and paper
ledger; one Valkey, so every order either publishes is counted). The blue→green switch is the
deployment row's (`DeploymentRoles.set_active`, as `yquant deploy switch` records it), made at
the firing moment in three ways: between blue's check of its role and its claim; just after
blue fired; and concurrently with both workers' ticks for ten schedules at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.harness import Rig, build_rig
from yquant.adapters.db.deployment import DeploymentRoles
from yquant.bootstrap import (
    Runtime,
    active_role,
    build_prices,
    build_schedule_book,
    schedule_records,
)
from yquant.domain.model import Market
from yquant.domain.schedules import RunStatus, ScheduledOrder
from yquant.ports import PriceSource, ScheduleRecords
from yquant.services.scheduler import Scheduler

pytestmark = pytest.mark.mariadb

KST = ZoneInfo("Asia/Seoul")
DUE = datetime(2026, 11, 27, 10, 0, tzinfo=KST)


@dataclass
class Worker:
    rig: Rig
    scheduler: Scheduler


class SwitchBeforeClaim:
    """The schedules' records, with the switch to green made just before blue's claim is
    written (blue has read its role as active a moment before)."""

    def __init__(self, records: ScheduleRecords, switch: Any) -> None:
        self._records = records
        self._switch = switch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)

    async def claim(self, spec: ScheduledOrder, day: date, due_at: datetime, **kw: Any) -> bool:
        await self._switch()
        return await self._records.claim(spec, day, due_at, **kw)


def scheduler(rig: Rig, records: ScheduleRecords | None = None) -> Scheduler:
    runtime = Runtime(rig.settings, rig.store, rig.recorder, rig.bus, rig.clock)
    return Scheduler(
        records=records or schedule_records(rig.store),
        signals=rig.engine.signals,
        recorder=rig.recorder,
        role=active_role(rig.store, rig.settings.worker.name),
        clock=rig.clock,
        settings=runtime.settings,
        prices=build_prices(rig.settings, rig.store, clock=rig.clock),
        notices=rig.bus,
    )


@pytest.fixture
async def pair(tmp_path: Path, mariadb_url: str, valkey_url: str) -> AsyncIterator[list[Rig]]:
    rigs = []
    for name in ("blue", "green"):
        rig = await build_rig(
            tmp_path / name, mariadb_url, valkey_url, DUE, name=name, worker={"name": name}
        )
        rigs.append(rig)
    roles = DeploymentRoles(rigs[0].store)
    await roles.set_active("blue", "test", DUE)
    await build_prices(rigs[0].settings, rigs[0].store, clock=rigs[0].clock).observe(
        Market.KR, "005930", Decimal(71000), DUE, PriceSource.QUOTE
    )
    try:
        yield rigs
    finally:
        for rig in rigs:
            await rig.close()


async def add(rig: Rig, names: Sequence[str]) -> None:
    book = build_schedule_book(rig.settings, rig.store, clock=rig.clock)
    for name in names:
        await book.add(
            {
                "name": name,
                "ticker": "005930",
                "market": "KR",
                "account": "paper",
                "side": "buy",
                "quantity": "1",
                "local_time": "10:00",
            },
            actor="test",
        )


async def runs(rig: Rig) -> list[tuple[str, str, str]]:
    book = build_schedule_book(rig.settings, rig.store, clock=rig.clock)
    return sorted((r.schedule_name, r.status.value, r.worker) for r in await book.runs())


async def test_a_switch_between_blues_role_check_and_its_claim_fires_once_on_green(
    pair: list[Rig],
) -> None:
    blue, green = pair
    await add(blue, ["once"])
    roles = DeploymentRoles(blue.store)

    async def switch() -> None:
        await roles.set_active("green", "test", DUE)

    blue_scheduler = scheduler(blue, SwitchBeforeClaim(schedule_records(blue.store), switch))
    assert await blue_scheduler.tick() == []  # its claim found green named active
    assert await scheduler(green).tick() == [("once", RunStatus.FIRED)]
    assert await blue_scheduler.tick() == []
    assert await runs(blue) == [("once", "fired", "green")]
    assert len(await blue.published()) == 1


async def test_a_switch_just_after_blue_fired_does_not_fire_again_on_green(
    pair: list[Rig],
) -> None:
    blue, green = pair
    await add(blue, ["once"])
    assert await scheduler(blue).tick() == [("once", RunStatus.FIRED)]
    await DeploymentRoles(blue.store).set_active("green", "test", DUE)
    green.clock.advance(seconds=3)  # green's handover, well inside the grace period
    assert await scheduler(green).tick() == []
    assert await runs(green) == [("once", "fired", "blue")]
    assert len(await blue.published()) == 1
    assert len(await blue.notices("schedule_")) == 1  # told by blue only


async def test_both_workers_ticking_while_the_switch_is_made_fire_each_schedule_once(
    pair: list[Rig],
) -> None:
    blue, green = pair
    names = [f"s{i}" for i in range(10)]
    await add(blue, names)
    roles = DeploymentRoles(blue.store)
    blue_scheduler, green_scheduler = scheduler(blue), scheduler(green)
    await asyncio.gather(
        blue_scheduler.tick(),
        roles.set_active("green", "test", DUE),
        green_scheduler.tick(),
    )
    # Whatever blue did not fire before the switch, green fires on its next look.
    await green_scheduler.tick()
    await blue_scheduler.tick()
    recorded = await runs(blue)
    assert [(name, status) for name, status, _ in recorded] == [(n, "fired") for n in names]
    published = await blue.published()
    assert len(published) == len(names)
    assert len({m["client_order_id"] for m in published}) == len(names)
    # One notice per firing (both workers share the notices stream): told once each.
    told = await blue.notices("schedule_")
    assert sorted(n.data["schedule"] for n in told) == names
    assert len({n.id for n in told}) == len(names)
