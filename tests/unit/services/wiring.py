"""The engine's use cases wired on the in-memory fakes, as `yquant.bootstrap.build_engine`
wires them on the SQL and Valkey adapters."""

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
    FakeInstruments,
    FakeKillSwitch,
    FakeOrderQueue,
    FakeRecorder,
    FakeRoles,
    FixedClock,
)
from yquant.services.decisions import Decider, OrderDesk, RecentOrders
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


def fake_engine(tmp_path: Path, now: datetime, **overrides: Any) -> FakeEngine:
    settings = Settings(data_dir=tmp_path / "data", **overrides)
    clock = FixedClock(now)
    recorder, bus, broker, kill = FakeRecorder(), FakeBus(), FakeBroker(), FakeKillSwitch()
    state, queue, roles = FakeEngineState(recorder), FakeOrderQueue(recorder), FakeRoles()
    recent = RecentOrders()
    decider = Decider(
        settings=settings,
        recorder=recorder,
        instruments=FakeInstruments(SAMSUNG, KODEX, APPLE, IBM),
        broker=broker,
        kill_switch=kill,
        state=state,
        recent=recent,
    )
    desk = OrderDesk(recorder=recorder, bus=bus, state=state, recent=recent, worker="local")
    signals = SignalHandler(
        settings=settings,
        decider=decider,
        desk=desk,
        recorder=recorder,
        state=state,
        queue=queue,
        clock=clock,
    )
    manual = ManualOrders(
        decider=decider, desk=desk, recorder=recorder, bus=bus, clock=clock, worker="local"
    )
    releaser = QueueReleaser(
        decider=decider,
        desk=desk,
        queue=queue,
        state=state,
        role=ActiveRole(roles, "local"),
        clock=clock,
        poll_s=0.01,
        lease_s=120,
    )
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
        decider,
        desk,
        signals,
        manual,
        releaser,
    )
