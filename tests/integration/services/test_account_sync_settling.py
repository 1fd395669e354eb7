"""The account sync's book check while orders are under way, on the paper venue and the gateway
as the gateway process builds them (`bootstrap.build_gateway`): a real difference is reported,
a fill at the broker not recorded yet is not taken for one, and a burst of fills is checked
once it is over instead of once per sync."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FixedClock, RecordingMetrics
from tests.harness import make_settings
from tests.support import eventually, krx_order, statements
from yquant.adapters.brokers.paper import PaperBroker
from yquant.adapters.bus import ORDERS, Bus, Entry
from yquant.adapters.db.accounts import AccountBook
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.adapters.messages import order_to_message
from yquant.bootstrap import Runtime, active_role, build_broker, build_gateway
from yquant.domain.commands import PlaceOrder
from yquant.domain.model import Order, OrderStatus
from yquant.domain.writes import InsertFill, InsertOrder
from yquant.services.account_sync import AccountSync
from yquant.services.gateway import Gateway

SEOUL_10 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 10:00 KST, KRX open
SYNC_LOG = "yquant.services.account_sync"


def fill_reads(seen: list[str]) -> int:
    """The book's reads of an account's fills (`SqlFillHistory.book_fills`) among the
    statements ``seen``: one per replay of the book."""
    return sum(1 for statement in seen if re.search(r"FROM fills (INNER )?JOIN orders", statement))


@dataclass
class Rig:
    store: SqlStore
    recorder: Recorder
    gateway: Gateway
    sync: AccountSync
    paper: PaperBroker
    metrics: RecordingMetrics
    clock: FixedClock

    async def post(self, o: Order) -> None:
        """What the engine does (record, publish); the gateway takes it from the stream."""
        await self.recorder.write(InsertOrder(o))
        entry = Entry(ORDERS, "0-1", order_to_message(o), False, PlaceOrder(o))
        await self.gateway.handle_order(entry)

    async def held(self) -> Decimal:
        """The shares of 005930 the last sync found at the broker."""
        rows = await AccountBook(self.store).positions("paper")
        return sum((Decimal(r["quantity"]) for r in rows if r["ticker"] == "005930"), Decimal(0))

    def gauge(self) -> list[tuple[Any, ...]]:
        return self.metrics.named("book_unattributed")


@pytest.fixture
async def rig(tmp_path: Path, db_url: str, valkey_url: str) -> AsyncIterator[Rig]:
    settings = make_settings(
        tmp_path / "data",
        db_url,
        valkey_url,
        accounts={"paper": {"broker": "paper"}},
        gateway={"track_interval_s": 60, "sync_interval_s": 3600, "sync_settle_max_s": 2},
    )
    clock = FixedClock(SEOUL_10)
    store = SqlStore(db_url, timeout_s=5)
    recorder = Recorder(store, Journal(tmp_path / "journal.sqlite3"))
    bus = Bus(valkey_url)
    metrics = RecordingMetrics()
    runtime = Runtime(settings, store, recorder, bus, clock, metrics)
    brokers = build_broker(settings, runtime)
    await brokers.connect()
    paper = brokers.for_account("paper")
    assert isinstance(paper, PaperBroker)
    parts = build_gateway(runtime, brokers, active_role(store, settings.worker.name))
    yield Rig(store, recorder, parts.gateway, parts.sync, paper, metrics, clock)
    await brokers.close()
    await recorder.close()
    await bus.close()
    await store.close()
    recorder.journal.close()


@contextlib.asynccontextmanager
async def syncing(r: Rig) -> AsyncIterator[None]:
    """The account sync's loop, as the gateway process runs it; its first (periodic) sync is
    done when this is entered."""
    stop = asyncio.Event()
    task = asyncio.create_task(r.sync.run(stop))
    try:
        await eventually(lambda: r.sync.synced >= 1)
        yield
    finally:
        stop.set()
        await task


def buy(cid: str, quantity: int = 1) -> Order:
    return krx_order(
        cid,
        SEOUL_10,
        strategy="alpha",
        quantity=Decimal(quantity),
        reference_price=Decimal(70000),
    )


def said(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == SYNC_LOG and r.getMessage().startswith(start)
    ]


async def test_shares_no_strategy_bought_are_reported_once_the_account_is_quiet(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=SYNC_LOG):
        async with syncing(rig):
            assert rig.sync.unattributed["paper"] == []
            # Three shares bought at the broker outside yQuant (no order, no fill recorded).
            outside = await rig.paper.submit(buy("outside1", 3).submitted(SEOUL_10))
            assert outside.status is OrderStatus.FILLED
            await rig.post(buy("yqquiet1", 2))
            # The sync the fill asked for runs once the account is quiet, and checks the book.
            await eventually(lambda: rig.sync.unattributed.get("paper"), timeout_s=10)
    [row] = rig.sync.unattributed["paper"]
    assert (row.ticker, row.quantity) == ("005930", Decimal(3))
    [warned] = said(caplog, "book differs")
    assert warned == (
        "book differs from the broker account=paper market=KR ticker=005930 broker=5 "
        "strategies=2 unattributed=3"
    )
    assert rig.gauge()[-1] == ("paper", 1)
    assert await rig.held() == 5


async def test_a_fill_not_recorded_yet_is_no_difference_and_is_checked_once_quiet(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.post(buy("yqsettle1", 2))
    await rig.sync.sync("paper")
    assert (rig.sync.unattributed["paper"], rig.gauge()) == ([], [("paper", 0)])
    late = buy("yqsettle2", 4)
    with caplog.at_level(logging.INFO, logger=SYNC_LOG):
        # What the gateway's send does: the broker fills the order, and the answer is
        # recorded after the sync has fetched the holdings and read the book.
        with rig.sync.in_flight("paper"):
            intent = late.submitted(SEOUL_10)
            known = await rig.paper.submit(intent)
            await rig.sync.sync("paper")
            assert await rig.held() == 6  # positions and cash are the broker's all the same
            await rig.recorder.write(InsertOrder(intent.apply(known)))
            for fill in known.fills:
                await rig.recorder.write(InsertFill(fill))
            rig.sync.request("paper")
        # The broker's 6 against the book's 2 was set aside: no warning, no row, no gauge.
        assert said(caplog, "book") == []
        assert (rig.sync.unattributed["paper"], rig.gauge()) == ([], [("paper", 0)])
        synced = rig.sync.synced
        async with syncing(rig):
            # Checked again once quiet (the loop's first sync, or the one the fill asked for).
            await eventually(lambda: len(rig.gauge()) == 2, timeout_s=10)
            assert rig.sync.synced > synced
    assert rig.gauge() == [("paper", 0), ("paper", 0)]
    assert rig.sync.unattributed["paper"] == []
    assert said(caplog, "book") == []


async def test_a_burst_of_fills_replays_the_book_once_it_is_over(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Orders sent side by side for 3 s without a pause of a second (``after_fill_delay_s``),
    longer than ``sync_settle_max_s``: positions and cash are synced meanwhile, the book is
    replayed once the burst is over, not once per sync."""
    sent = 0
    with caplog.at_level(logging.INFO, logger=SYNC_LOG), statements() as seen:
        async with syncing(rig):
            before, synced = fill_reads(seen), rig.sync.synced
            clock = asyncio.get_running_loop().time
            until = clock() + 3.0

            async def send(k: int) -> None:
                nonlocal sent
                while clock() < until:
                    await rig.post(buy(f"yqburst{k}x{sent}"))
                    sent += 1
                    await asyncio.sleep(0.01)

            await asyncio.gather(*(send(k) for k in range(8)))
            during = rig.sync.synced - synced
            await eventually(lambda: fill_reads(seen) > before, timeout_s=10)
            await asyncio.sleep(1.5)  # nothing more to check: no further replay
        replays = fill_reads(seen) - before
    assert sent >= 40, sent
    assert during >= 1  # positions and cash synced while the burst went on
    # Once after the burst (twice if the machine held every sender up for a second in it),
    # where a check per sync made it one per sync (30 for 358 fills here).
    assert replays <= 2, (replays, sent, rig.sync.synced)
    assert await rig.held() == sent
    assert rig.sync.unattributed["paper"] == []
    assert said(caplog, "book differs") == []
    assert rig.gauge()[-1] == ("paper", 0)
