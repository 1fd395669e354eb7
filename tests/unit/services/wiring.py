"""The engine's use cases wired on the in-memory fakes by `yquant.bootstrap.assemble_engine`, the
same assembly `build_engine` runs over the SQL and Valkey adapters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.fakes import (
    APPLE,
    IBM,
    KODEX,
    SAMSUNG,
    FakeBroker,
    FakeBus,
    FakeEngineState,
    FakeFillHistory,
    FakeInstruments,
    FakeKillSwitch,
    FakeOrderQueue,
    FakeRecorder,
    FakeRoles,
    FixedClock,
    RecordingMetrics,
    RecordingNotices,
)
from yquant.bootstrap import assemble_engine, build_releaser
from yquant.services.decisions import Decider, OrderDesk
from yquant.services.manual import ManualOrders
from yquant.services.release import QueueReleaser
from yquant.services.signals import SignalHandler
from yquant.services.worker_state import ActiveRole
from yquant.settings import Settings


@dataclass
class FakeEngine:
    settings: Settings
    clock: FixedClock
    recorder: FakeRecorder
    bus: FakeBus
    broker: FakeBroker
    kill: FakeKillSwitch
    state: FakeEngineState
    queue: FakeOrderQueue
    roles: FakeRoles
    decider: Decider
    desk: OrderDesk
    signals: SignalHandler
    manual: ManualOrders
    releaser: QueueReleaser
    metrics: RecordingMetrics
    role: ActiveRole
    notices: RecordingNotices


def fake_engine(
    tmp_path: Path,
    now: datetime,
    *,
    worker: str = "local",
    roles: FakeRoles | None = None,
    **overrides: Any,
) -> FakeEngine:
    """The engine of worker ``worker`` (blue/green: standing as ``roles`` record it)."""
    settings = Settings(data_dir=tmp_path / "data", worker={"name": worker}, **overrides)
    clock = FixedClock(now)
    recorder, bus, broker, kill = FakeRecorder(), FakeBus(), FakeBroker(), FakeKillSwitch()
    state, queue = FakeEngineState(recorder), FakeOrderQueue(recorder)
    roles = roles or FakeRoles()
    role = ActiveRole(roles, worker)
    metrics = RecordingMetrics()
    notices = RecordingNotices()
    parts = assemble_engine(
        settings,
        recorder=recorder,
        bus=bus,
        broker=broker,
        instruments=FakeInstruments(SAMSUNG, KODEX, APPLE, IBM),
        kill_switch=kill,
        state=state,
        fills=FakeFillHistory(recorder),
        queue=queue,
        clock=clock,
        metrics=metrics,
        role=role,
        notices=notices,
    )
    releaser = build_releaser(parts, role, poll_s=0.01, lease_s=120)
    return FakeEngine(
        settings,
        clock,
        recorder,
        bus,
        broker,
        kill,
        state,
        queue,
        roles,
        parts.decider,
        parts.desk,
        parts.signals,
        parts.manual,
        releaser,
        metrics,
        role,
        notices,
    )
