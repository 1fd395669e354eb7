"""Composition root: builds adapters from `Settings`. Constructors do no I/O."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from yquant.adapters.brokers.paper import PaperBroker
from yquant.adapters.bus import Bus
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.ports import Broker
from yquant.settings import Settings


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


def build(settings: Settings, role: str) -> Runtime:
    store = SqlStore(settings.database_url, settings.database.timeout_s)
    journal = Journal(settings.data_dir / "journal" / f"{role}.sqlite3")
    return Runtime(
        settings=settings,
        store=store,
        recorder=Recorder(store, journal),
        bus=Bus(settings.valkey_url),
    )


def build_broker(settings: Settings) -> Broker:
    paper = settings.paper
    return PaperBroker(
        settings.data_dir / "paper-broker.sqlite3",
        commission_rate=paper.commission_rate,
        initial_cash={"KRW": paper.initial_cash_krw, "USD": paper.initial_cash_usd},
    )


def configure_logging(level: str, role: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {role} %(name)s: %(message)s",
        force=True,
    )
    # Library loggers that would print request lines (and with them URLs) stay quiet.
    for noisy in ("httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
