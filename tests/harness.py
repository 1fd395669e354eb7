"""An engine on real parts (SQLite or MariaDB, Valkey, the paper broker) with a fake catalog and
a clock the test moves, and the gateway that sends its orders (`Rig.execute`), so that a test
goes from an alert to the fills the book is replayed from."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import valkey.asyncio as avalkey

from tests.fakes import APPLE, IBM, KODEX, SAMSUNG, FakeInstruments, ManualClock
from tests.fixtures.kis_kit import kis_settings, start_sim
from tests.support import eventually
from yquant.adapters.brokers.kis.factory import build_kis_broker
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.brokers.paper import PaperBroker
from yquant.adapters.brokers.routing import AccountBrokers
from yquant.adapters.bus import NOTICES, ORDERS, SIGNALS, Bus, Entry
from yquant.adapters.db.book import SqlFillHistory
from yquant.adapters.db.broker_tokens import SqlTokenRecords
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.adapters.messages import alert_to_message, decode
from yquant.bootstrap import EngineParts, Runtime, active_role, build_engine, build_gateway
from yquant.domain import notices
from yquant.domain.book import Book, FeeSchedule, LocalDay, build
from yquant.domain.model import Action, Alert, Market, OrderType, SignalStatus
from yquant.domain.notices import Notice
from yquant.domain.writes import InsertSignal
from yquant.ports import Broker, Instruments
from yquant.services.gateway import Gateway
from yquant.settings import Settings


def make_settings(data_dir: Path, db_url: str, valkey_url: str, **overrides: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        database={"url": db_url},
        valkey={"url": valkey_url},
        **overrides,
    )


@dataclass
class Rig:
    settings: Settings
    store: SqlStore
    recorder: Recorder
    bus: Bus
    broker: Broker
    clock: ManualClock
    engine: EngineParts
    gateway: Gateway
    executed: int = 0  # the published orders `execute` has handed to the gateway

    async def close(self) -> None:
        await self.recorder.close()
        await self.bus.close()
        await self.broker.close()
        await self.store.close()
        self.recorder.journal.close()

    async def receive(self, alert: Alert) -> None:
        """What the webhook does: record the accepted signal."""
        await self.recorder.write(
            InsertSignal(
                key=alert.key,
                worker=self.settings.worker.name,
                status=SignalStatus.ACCEPTED,
                received_at=alert.received_at,
                updated_at=alert.received_at,
                alert=alert,
            ),
        )

    async def handle(self, alert: Alert, *, redelivered: bool = False) -> None:
        await self.receive(alert)
        data = alert_to_message(alert)
        entry = Entry(SIGNALS, "0-1", data, redelivered, decode(SIGNALS, data))
        await self.engine.signals.handle_signal(entry)

    async def published(self) -> list[dict[str, Any]]:
        entries = await self.bus.client.xrange(ORDERS)
        return [json.loads(fields["data"]) for _, fields in entries]

    async def notices(self, prefix: str = "") -> list[Notice]:
        """The notices handed to the notifier (the notices stream) whose kind starts with
        ``prefix``, in order."""
        entries = await self.bus.client.xrange(NOTICES)
        told = [notices.from_dict(json.loads(fields["data"])) for _, fields in entries]
        return [n for n in told if n.kind.value.startswith(prefix)]

    async def execute(self) -> list[dict[str, Any]]:
        """What the gateway does with the orders published since the last call: send each to
        the broker and record what it reports (fills included). Their rows, as recorded."""
        entries = (await self.bus.client.xrange(ORDERS))[self.executed :]
        rows = []
        for entry_id, fields in entries:
            data = json.loads(fields["data"])
            entry = Entry(ORDERS, entry_id, data, False, decode(ORDERS, data))
            await self.gateway.handle_order(entry)
            row = await self.store.order(data["client_order_id"])
            assert row is not None
            rows.append(row)
        self.executed += len(entries)
        return rows

    async def trade(self, alert: Alert) -> list[dict[str, Any]]:
        """An alert from the engine's decision to the broker's report."""
        await self.handle(alert)
        return await self.execute()

    async def book(self) -> Book:
        """Every position the recorded fills make (no fees estimated)."""
        fills = await SqlFillHistory(self.store).book_fills()
        return build(fills, FeeSchedule(), LocalDay({}))

    async def signal(self, key: str) -> dict[str, Any]:
        rows = await self.store.recent("signals", 100)
        [row] = [r for r in rows if r["signal_key"] == key]
        return row


async def build_rig(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    now: datetime,
    *,
    name: str = "rig",
    clock: ManualClock | None = None,
    broker: Broker | None = None,
    instruments: Instruments | None = None,
    **overrides: Any,
) -> Rig:
    """A rig on ``db_url`` and ``valkey_url``; the paper broker in ``tmp_path`` unless another
    ``broker`` is given (the rig then closes it too)."""
    settings = make_settings(tmp_path / "data", db_url, valkey_url, **overrides)
    store = SqlStore(db_url, timeout_s=5)
    recorder = Recorder(store, Journal(tmp_path / f"journal-{name}.sqlite3"))
    bus = Bus(valkey_url)
    if broker is None:
        broker = PaperBroker(
            tmp_path / "paper.sqlite3",
            commission_rate=settings.paper.commission_rate,
            initial_cash={"KRW": Decimal(100_000_000), "USD": Decimal(100_000)},
        )
    await broker.connect()
    clock = clock or ManualClock(now)
    runtime = Runtime(settings, store, recorder, bus, clock)
    catalog = instruments or FakeInstruments(SAMSUNG, KODEX, APPLE, IBM)
    engine = build_engine(runtime, broker, catalog)
    gateway = build_gateway(
        runtime,
        broker,
        active_role(store, settings.worker.name),
        kill_snapshot=tmp_path / f"kill-switch-gateway-{name}.json",
    ).gateway
    return Rig(settings, store, recorder, bus, broker, clock, engine, gateway)


def krx_alert(
    key: str,
    received_at: datetime,
    action: Action = Action.BUY,
    *,
    strategy: str = "default",
    quantity: str | None = "3",
    price: str = "71000",
    **kw: Any,
) -> Alert:
    return Alert(
        key=key,
        strategy=strategy,
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        action=action,
        received_at=received_at,
        price=Decimal(price),
        quantity=None if quantity is None else Decimal(quantity),
        order_type=kw.pop("order_type", OrderType.MARKET),
        **kw,
    )


@contextlib.asynccontextmanager
async def kis_sim_rig(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    *,
    strategies: dict[str, Any],
    prices: dict[tuple[str, str], str],
    **kis: Any,
) -> AsyncIterator[tuple[Rig, SimServer]]:
    """A rig whose one account ``main`` is on a KIS simulator (``prices``: (market, ticker) →
    price set there; ``kis``: the account's KIS settings beyond the simulator's address), its
    gateway following the orders."""
    sim = start_sim(rate_limit_per_s=100)
    for (market, ticker), price in prices.items():
        sim.control("price", market=market, ticker=ticker, price=price)
    tokens = SqlStore(db_url, timeout_s=5)
    client = avalkey.from_url(valkey_url, decode_responses=True)
    settings = kis_settings(sim.url, rate_limit_per_s=50, **kis)
    broker = build_kis_broker("main", settings, records=SqlTokenRecords(tokens), valkey=client)
    rig = await build_rig(
        tmp_path,
        db_url,
        valkey_url,
        datetime.now(ZoneInfo("Asia/Seoul")),
        broker=AccountBrokers({"main": broker}),
        accounts={"main": {"broker": "kis-sim", "kis": settings, "sessions": "always"}},
        default_accounts=["main"],
        strategies=strategies,
    )
    stop = asyncio.Event()
    tracking = asyncio.create_task(rig.gateway.track(stop))
    try:
        yield rig, sim
    finally:
        stop.set()
        await tracking
        await rig.close()
        await client.aclose()
        await tokens.close()
        sim.stop()


async def filled(rig: Rig, a: Alert) -> dict[str, Any]:
    """The alert's one order once its broker has filled it (followed by the gateway)."""
    [sent] = await rig.trade(a)

    async def done() -> dict[str, Any] | None:
        row = await rig.store.order(sent["client_order_id"])
        return row if row is not None and row["status"] == "filled" else None

    row: dict[str, Any] = await eventually(done)
    return row
