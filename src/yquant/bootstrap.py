"""Composition root: builds adapters from `Settings`. Constructors do no I/O."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yquant.adapters.brokers.paper import PaperBroker
from yquant.adapters.brokers.routing import AccountBrokers
from yquant.adapters.bus import Bus
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.ports import Broker
from yquant.settings import Settings

if TYPE_CHECKING:
    from yquant.adapters.catalog import CatalogCache
    from yquant.services.engine import Engine


@dataclass
class Runtime:
    settings: Settings
    store: SqlStore
    recorder: Recorder
    bus: Bus

    async def close(self) -> None:
        await self.recorder.close()
        await self.bus.close()
        await self.store.close()
        self.recorder.journal.close()


def build(settings: Settings, role: str, db_timeout_s: float | None = None) -> Runtime:
    store = SqlStore(settings.database_url, db_timeout_s or settings.database.timeout_s)
    journal = Journal(settings.data_dir / "journal" / f"{role}.sqlite3")
    return Runtime(
        settings=settings,
        store=store,
        recorder=Recorder(store, journal),
        bus=Bus(settings.valkey_url),
    )


def build_broker(settings: Settings, runtime: Runtime | None = None) -> AccountBrokers:
    """One broker per configured account: paper accounts share the paper ledger, each KIS
    account (``kis``, or ``kis-sim`` for the simulator) gets its own `KisBroker`. The KIS
    brokers share the token table (database) and the rate budget (the worker's Valkey) of
    ``runtime``, or of connections opened here and closed with the brokers."""
    from yquant.adapters.brokers.kis import build_kis_broker
    from yquant.adapters.db.accounts import AccountBook
    from yquant.adapters.db.broker_tokens import SqlTokenRecords

    closers = []
    brokers: dict[str, Broker] = {}
    paper: PaperBroker | None = None
    store: SqlStore | None = runtime.store if runtime else None
    bus: Bus | None = runtime.bus if runtime else None
    for name, account in settings.accounts.items():
        if account.broker == "paper":
            if paper is None:
                paper = PaperBroker(
                    settings.data_dir / "paper-broker.sqlite3",
                    commission_rate=settings.paper.commission_rate,
                    initial_cash={
                        "KRW": settings.paper.initial_cash_krw,
                        "USD": settings.paper.initial_cash_usd,
                    },
                )
            brokers[name] = paper
            continue
        assert account.kis is not None  # settings validation guarantees it
        if store is None:
            store = SqlStore(settings.database_url, settings.database.timeout_s)
            closers.append(store.close)
        if bus is None:
            bus = Bus(settings.valkey_url)
            closers.append(bus.close)
        brokers[name] = build_kis_broker(
            name,
            account.kis,
            records=SqlTokenRecords(store),
            valkey=bus.client,
            known_order_ids=AccountBook(store).known_order_ids,
        )
    return AccountBrokers(brokers, on_close=closers)


def configure_logging(level: str, role: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {role} %(name)s: %(message)s",
        force=True,
    )
    # Library loggers that would print request lines (and with them URLs), or statements with
    # their parameters (tokens, account data), stay quiet even at DEBUG.
    for noisy in ("httpx", "uvicorn.access", "aiosqlite", "sqlalchemy.engine", "asyncmy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def open_engine(
    settings: Settings, runtime: Runtime, broker: Broker, policies: dict[str, Any] | None = None
) -> tuple[Engine, CatalogCache]:
    """The engine over this worker's parts, as the engine role, `simulate` and `buy|sell` use
    it: the catalog (loaded now) and the exchange calendars cached in the data directory."""
    from yquant.adapters.calendar_cache import CachedSchedules
    from yquant.adapters.catalog import load_instruments
    from yquant.domain import market_rules
    from yquant.services.engine import Engine

    market_rules.use_schedule_reader(CachedSchedules(settings.data_dir / "calendars"))
    instruments = await load_instruments(settings, runtime.store)
    engine = Engine(
        settings=settings,
        recorder=runtime.recorder,
        bus=runtime.bus,
        instruments=instruments,
        broker=broker,
        policies=policies,
    )
    return engine, instruments
