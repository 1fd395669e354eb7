"""Writes survive a database outage: journaled in order, replayed idempotently, nothing lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support import MARIADB_HOST, MARIADB_PORT, TcpProxy, eventually
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder, Written
from yquant.adapters.db.rows import to_row
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import SignalStatus
from yquant.domain.writes import AdvanceSignal, InsertSignal
from yquant.services.rehearsal import engine_writes, gateway_writes

T0 = datetime(2026, 11, 27, tzinfo=UTC)


def sig(key: str, status: SignalStatus = SignalStatus.ACCEPTED) -> InsertSignal:
    return InsertSignal(key=key, worker="blue", status=status, received_at=T0, updated_at=T0)


def decided(key: str, status: SignalStatus) -> AdvanceSignal:
    return AdvanceSignal(key=key, worker="blue", status=status, received_at=T0, updated_at=T0)


def sig_row(key: str, status: SignalStatus = SignalStatus.ACCEPTED) -> dict:
    """The row a signal insert stores (for writes that bypass the recorder)."""
    return to_row(sig(key, status))[1]


@pytest.fixture
async def proxied(mariadb_url: str, tmp_path: Path) -> AsyncIterator[tuple[TcpProxy, Recorder]]:
    """A recorder whose MariaDB connection passes through a proxy the test can cut."""
    proxy = await TcpProxy(MARIADB_HOST, MARIADB_PORT).start()
    url = mariadb_url.replace(f"{MARIADB_HOST}:{MARIADB_PORT}", f"127.0.0.1:{proxy.port}")
    store = SqlStore(url, timeout_s=1.0)
    recorder = Recorder(store, Journal(tmp_path / "journal.sqlite3"))
    yield proxy, recorder
    await store.close()
    await proxy.stop()


async def keys_in(url: str) -> list[str]:
    direct = SqlStore(url)
    try:
        return sorted(r["signal_key"] for r in await direct.recent("signals", 1000))
    finally:
        await direct.close()


async def test_outage_is_journaled_and_replayed_in_order(proxied, mariadb_url) -> None:
    proxy, recorder = proxied
    assert await recorder.write(sig("before")) is Written.STORED

    proxy.cut()
    assert await recorder.write(sig("during")) is Written.JOURNALED
    assert recorder.database_up is False
    assert await recorder.write(decided("during", SignalStatus.ORDERED)) is (Written.JOURNALED)
    # A duplicate is still caught while the database is away.
    assert await recorder.write(sig("during")) is Written.UNCHANGED

    proxy.restore()
    # Older writes wait in the journal, so newer ones queue behind them.
    assert await recorder.write(sig("after")) is Written.JOURNALED
    assert recorder.journal.depth == 3
    assert await recorder.replay_batch() == 3
    assert recorder.journal.depth == 0
    assert await keys_in(mariadb_url) == ["after", "before", "during"]
    rows = {r["signal_key"]: r for r in await recorder.store.recent("signals")}
    assert rows["during"]["status"] == "ordered"


async def test_a_repeat_of_a_signal_the_database_holds_is_caught_while_it_is_away(
    proxied,
) -> None:
    proxy, recorder = proxied
    assert await recorder.write(sig("first")) is Written.STORED
    assert await recorder.write(sig("refused", SignalStatus.REJECTED)) is (Written.STORED)
    proxy.cut()
    # Only the database holds "first"; the journal is empty.
    assert await recorder.write(sig("first")) is Written.UNCHANGED
    assert recorder.journal.depth == 0
    assert recorder.database_up is False
    # Then with older writes waiting in the journal.
    assert await recorder.write(sig("during")) is Written.JOURNALED
    assert await recorder.write(sig("first")) is Written.UNCHANGED
    assert await recorder.write(sig("during")) is Written.UNCHANGED
    # A rejection's log row is no signal: its key was not kept as recorded.
    assert await recorder.write(sig("refused")) is Written.JOURNALED
    assert recorder.journal.depth == 2
    proxy.restore()
    assert await recorder.replay_batch() == 2


async def test_a_write_does_not_wait_out_the_timeout_again_while_the_database_is_away(
    proxied,
) -> None:
    proxy, recorder = proxied
    assert await recorder.write(sig("first")) is Written.STORED
    proxy.hang()
    # The repeat waits out the database's timeout (1 s here) once and is caught in memory.
    assert await recorder.write(sig("first")) is Written.UNCHANGED
    assert recorder.database_up is False and recorder.journal.depth == 0
    # The next write (the repeat's log row) goes to the journal without a second wait.
    refused = sig("rej-repeat", SignalStatus.REJECTED)
    written = await asyncio.wait_for(recorder.write(refused), timeout=0.5)
    assert written is Written.JOURNALED
    proxy.restore()
    assert await recorder.replay_batch() == 1
    assert recorder.journal.depth == 0


async def test_a_signal_the_other_worker_recorded_is_still_a_repeat_during_an_outage(
    proxied, mariadb_url
) -> None:
    proxy, recorder = proxied
    other = SqlStore(mariadb_url)
    try:
        await other.apply("signal.insert", sig_row("theirs"))
    finally:
        await other.close()
    assert await recorder.write(sig("theirs")) is Written.UNCHANGED
    proxy.cut()
    assert await recorder.write(sig("theirs")) is Written.UNCHANGED
    assert recorder.journal.depth == 0


def test_recent_keys_forget_the_oldest_beyond_their_size_and_age(monkeypatch) -> None:
    from yquant.adapters.db import recorder as module

    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    recent = module.RecentKeys(size=3, ttl_s=60)
    for key in ("a", "b", "c", "d"):
        recent.add(key)
    assert [k in recent for k in "abcd"] == [False, True, True, True]
    clock[0] += 59
    recent.add("b")  # recorded again: the newest now
    clock[0] += 2
    assert [k in recent for k in "bcd"] == [True, False, False]
    recent.add("e")  # adding drops what has aged out
    assert len(recent) == 2


async def test_a_hanging_database_is_cut_off_by_the_timeout(proxied) -> None:
    proxy, recorder = proxied
    await recorder.store.ping()  # a pooled connection exists
    proxy.hang()
    import time

    started = time.monotonic()
    assert await recorder.write(sig("hung")) is Written.JOURNALED
    assert time.monotonic() - started < 3.0
    assert recorder.journal.depth == 1


async def test_a_replay_interrupted_after_the_commit_is_repeated_harmlessly(
    proxied, mariadb_url
) -> None:
    proxy, recorder = proxied
    proxy.cut()
    for i in range(5):
        await recorder.write(sig(f"k{i}"))
    proxy.restore()
    # The first two reach the database but the journal is not told (a crash in between).
    from yquant.adapters.db import codec
    from yquant.adapters.db.tables import signals

    for _, op, payload in recorder.journal.peek(2):
        await recorder.store.apply(op, codec.decode(signals, payload))
    assert await recorder.replay_batch() == 5
    assert await keys_in(mariadb_url) == [f"k{i}" for i in range(5)]


async def test_the_journal_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    j.append("signal.insert", "a", {"signal_key": "a"})
    j.close()
    again = Journal(path)
    assert again.depth == 1
    assert again.has_signal("a")
    assert [op for _, op, _ in again.peek()] == ["signal.insert"]


async def test_a_key_another_writer_adds_during_a_batch_is_a_repeat(db_url, tmp_path) -> None:
    """Writes that share a commit: when another writer adds one of their keys while the batch
    is on its way, that write is a repeat, the others are stored, and nothing is journaled."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.util import await_only

    from yquant.adapters.db import tables
    from yquant.adapters.db.engine import make_sync_sqlite_engine
    from yquant.adapters.db.writes import Writes

    other = SqlStore(db_url, timeout_s=5)

    class RacedWrites(Writes):
        def _insert_run(self, conn, op, rows):
            if conn.dialect.name == "mysql":
                # Pin this transaction's snapshot first, so the batch cannot see the key.
                conn.execute(text("SELECT COUNT(*) FROM signals"))
                await_only(other.apply("signal.insert", sig_row("raced")))
            return super()._insert_run(conn, op, rows)

    class RacedStore(SqlStore):
        def __init__(self, url, timeout_s):
            super().__init__(url, timeout_s)
            self._writes = RacedWrites(self.dialect)

        async def _in_writer_thread(self, fn, *args):
            # SQLite: the batch's transaction holds the write lock from its start, so the
            # other writer can only come just before it.
            engine = make_sync_sqlite_engine(db_url)
            with engine.begin() as elsewhere:
                elsewhere.execute(tables.signals.insert(), sig_row("raced"))
            engine.dispose()
            return await super()._in_writer_thread(fn, *args)

    store = RacedStore(db_url, timeout_s=5)
    recorder = Recorder(store, Journal(tmp_path / "journal.sqlite3"))
    try:
        written = await asyncio.gather(*(recorder.write(sig(k)) for k in ("r1", "raced", "r2")))
        assert written == [Written.STORED, Written.UNCHANGED, Written.STORED]
        assert recorder.journal.depth == 0
        assert await keys_in(db_url) == ["r1", "r2", "raced"]
    finally:
        await recorder.close()
        await store.close()
        await other.close()


async def test_a_signal_the_database_has_is_a_repeat_while_older_writes_wait_in_the_journal(
    db_url, tmp_path
) -> None:
    """After a restart with writes still in the journal (or while the relay catches up), a
    retry of a signal the database already has is a repeat; a new signal goes straight to the
    database, and a write for a key that waits in the journal queues behind it."""
    from tests.support import free_port

    path = tmp_path / "journal.sqlite3"
    away = SqlStore(f"mysql+asyncmy://root@127.0.0.1:{free_port()}/nope", timeout_s=1.0)
    before = Recorder(away, Journal(path))
    assert await before.write(decided("older", SignalStatus.ORDERED)) is (Written.JOURNALED)
    await before.close()
    await away.close()
    before.journal.close()

    store = SqlStore(db_url, timeout_s=5)
    await store.apply("signal.insert", sig_row("stored"))
    recorder = Recorder(store, Journal(path))
    try:
        assert recorder.journal.depth == 1
        assert await recorder.write(sig("stored")) is Written.UNCHANGED
        assert await recorder.write(sig("new")) is Written.STORED
        later = decided("older", SignalStatus.REJECTED)
        assert await recorder.write(later) is Written.JOURNALED
        assert [p["signal_key"] for _, _, p in recorder.journal.peek()] == ["older", "older"]
    finally:
        await recorder.close()
        await store.close()


async def test_a_journal_left_by_the_previous_version_replays(db_url, tmp_path) -> None:
    """A journal the previous version wrote (its op names, its row encoding) is replayed by
    this one into the database, exactly."""
    import sqlite3

    from tests import wire_samples as w
    from yquant.adapters.db.order_queue import SqlOrderQueue
    from yquant.adapters.db.rows import order_from_row

    path = tmp_path / "journal.sqlite3"
    Journal(path).close()  # the file and its table, as any version creates them
    entries = [
        ("signal.insert", "sig-1", w.JOURNAL_SIGNAL_INSERT),
        ("order.insert", w.ORDER.client_order_id, w.JOURNAL_ORDER_INSERT),
        ("fill.insert", w.FILL.fill_id, w.JOURNAL_FILL_INSERT),
        ("signal.advance", "sig-1", w.JOURNAL_SIGNAL_ADVANCE),
        ("queue.insert", "yq179edb701330f94e1bf748", w.JOURNAL_QUEUE_INSERT),
        ("signal.advance", "sig-2", w.JOURNAL_SIGNAL_GIVEN_UP),
    ]
    raw = sqlite3.connect(path)
    with raw:
        raw.executemany(
            "INSERT INTO journal (op, key, payload, created_at) VALUES (?,?,?,?)",
            [(*e, "2026-11-27T00:01:06+00:00") for e in entries],
        )
    raw.close()

    store = SqlStore(db_url, timeout_s=5)
    recorder = Recorder(store, Journal(path))
    try:
        assert recorder.journal.depth == len(entries)
        assert await recorder.replay_batch() == len(entries)
        assert recorder.journal.depth == 0
        signals = {r["signal_key"]: r for r in await store.recent("signals")}
        assert signals["sig-1"]["status"] == "ordered"
        assert signals["sig-1"]["detail"] == "paper: filled"
        assert signals["sig-1"]["source_ip"] == "52.89.214.238"
        assert signals["sig-1"]["payload"] == json.loads(w.JOURNAL_SIGNAL_INSERT)["payload"]
        assert (signals["sig-2"]["status"], signals["sig-2"]["status_rank"]) == ("rejected", 0)
        stored = await store.order(w.ORDER.client_order_id)
        assert stored is not None and order_from_row(stored) == w.ORDER
        [fill] = await store.recent("fills")
        assert (fill["fill_id"], fill["price"], fill["commission"]) == (
            w.FILL.fill_id,
            w.FILL.price,
            w.FILL.commission,
        )
        [queued] = await SqlOrderQueue(store).for_signal("sig-1")
        assert (queued["account"], queued["state"]) == ("paper", "queued")
        [due] = await SqlOrderQueue(store).due(datetime(2026, 11, 30, 0, 1, tzinfo=UTC), 60)
        assert due["alert"] == w.ALERT
    finally:
        await recorder.close()
        await store.close()
        recorder.journal.close()


def test_the_journal_knows_which_keys_wait_in_it_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    j.append("signal.insert", "a", {"signal_key": "a"})
    j.append("signal.advance", "a", {"signal_key": "a"})
    j.append("order.insert", "a", {"client_order_id": "a"})
    assert j.holds("signal.advance", "a") and j.holds("order.advance", "a")
    assert not j.holds("fill.insert", "a") and not j.holds("signal.insert", "b")
    j.close()
    again = Journal(path)
    assert again.holds("signal.insert", "a")
    [(first, _, _), (second, _, _), _] = again.peek()
    again.remove_through(first)
    assert again.holds("signal.insert", "a") and again.depth == 2  # its advance still waits
    again.remove_through(second)
    assert not again.holds("signal.advance", "a") and again.holds("order.insert", "a")
    again.close()


async def test_a_long_journal_drains_in_order_while_new_writes_go_straight_to_the_database(
    proxied, mariadb_url
) -> None:
    """After an outage the relay replays a journal several batches long; meanwhile new signals
    go straight to the database, and a later decision on a signal whose earlier one still waits
    in the journal queues behind it (the same rank: the last applied wins, so an overtake
    would show). Every signal is stored once, nothing is left in the journal."""
    proxy, recorder = proxied
    from yquant.adapters.db.recorder import REPLAY_BATCH

    proxy.cut()
    count = REPLAY_BATCH * 2 + 37
    waiting = []
    for i in range(count):
        assert await recorder.write(sig(f"old{i}")) is Written.JOURNALED
        if i % 3 == 0:
            row = replace(decided(f"old{i}", SignalStatus.ORDERED), detail="decided")
            assert await recorder.write(row) is Written.JOURNALED
            waiting.append(f"old{i}")
    depth = recorder.journal.depth
    assert depth == count + len(waiting)

    proxy.restore()
    stop = asyncio.Event()
    replayed = []
    original = recorder.replay_batch

    async def counted(limit: int = REPLAY_BATCH) -> int:
        done = await original(limit)
        replayed.append(done)
        return done

    recorder.replay_batch = counted  # type: ignore[method-assign]
    relay = asyncio.create_task(recorder.relay(stop, idle_s=0.05))
    try:
        # The relay's first batch tells the recorder the database answers again.
        await eventually(lambda: replayed, every_s=0.01)
        assert recorder.database_up
        new_results, later_results = [], []
        for n, key in enumerate(reversed(waiting[-40:])):  # the last ones wait the longest
            new_results.append(await recorder.write(sig(f"new{n}")))
            row = replace(decided(key, SignalStatus.ORDERED), detail="later")
            later_results.append(await recorder.write(row))
        await eventually(lambda: recorder.journal.depth == 0, timeout_s=60, every_s=0.02)
    finally:
        stop.set()
        await relay

    assert set(new_results) == {Written.STORED}
    assert Written.JOURNALED in later_results  # behind their earlier decision
    # Batches, not one entry at a time.
    assert max(replayed) == REPLAY_BATCH and sum(replayed) == depth + later_results.count(
        Written.JOURNALED
    )
    rows = await recorder.store.rows(text("SELECT signal_key, detail FROM signals"))
    keys = [r["signal_key"] for r in rows]
    assert len(keys) == len(set(keys)) == count + 40
    assert set(keys) == {f"old{i}" for i in range(count)} | {f"new{n}" for n in range(40)}
    detail = {r["signal_key"]: r["detail"] for r in rows}
    later = set(waiting[-40:])
    assert {k: detail[k] for k in waiting} == {
        k: "later" if k in later else "decided" for k in waiting
    }


async def test_a_replayed_batch_stores_what_the_same_writes_one_by_one_store(
    db_url, tmp_path
) -> None:
    """Orders through every step, their fills, signals and their decisions: replayed from the
    journal in batches (grouped by kind, upserts as one executemany) they leave the same rows
    and the same order events as the same writes applied one at a time."""
    from decimal import Decimal

    from tests.support import krx_order
    from yquant.adapters.db import codec
    from yquant.domain.model import Fill, OrderStatus
    from yquant.domain.writes import AdvanceOrder, InsertFill, InsertOrder, Write

    def typed(prefix: str) -> list[Write]:
        out: list[Write] = []
        orders = [krx_order(f"{prefix}o{i}", T0, signal_key=f"{prefix}s{i}") for i in range(12)]
        for i, order in enumerate(orders):
            out.append(sig(f"{prefix}s{i}"))
            out.append(InsertOrder(order))
        steps = [
            (OrderStatus.SUBMITTED, Decimal(0)),
            (OrderStatus.PARTIALLY_FILLED, Decimal(4)),
            (OrderStatus.FILLED, Decimal(10)),
        ]
        for status, filled in steps:
            for i, order in enumerate(orders):
                moved = order.evolve(status=status, filled_quantity=filled, broker_order_id=f"B{i}")
                out.append(AdvanceOrder(moved))
                if filled:
                    fill = Fill(
                        fill_id=f"{prefix}f{i}-{filled}",
                        client_order_id=order.client_order_id,
                        account=order.account,
                        ticker=order.ticker,
                        side=order.side,
                        quantity=Decimal(4 if status is OrderStatus.PARTIALLY_FILLED else 6),
                        price=Decimal(70000),
                        commission=Decimal(0),
                        currency="KRW",
                        filled_at=T0,
                    )
                    out.append(InsertFill(fill))
            if status is OrderStatus.SUBMITTED:
                out.extend(decided(f"{prefix}s{i}", SignalStatus.ORDERED) for i in range(12))
        return out

    def writes(prefix: str) -> list[tuple[str, dict]]:
        return [to_row(w) for w in typed(prefix)]

    store = SqlStore(db_url, timeout_s=10)
    journal = Journal(tmp_path / "journal.sqlite3")
    recorder = Recorder(store, journal)
    try:
        for op, row in writes("A-"):
            await store.apply(op, row)
        from yquant.adapters.db.statements import OPS

        for op, row in writes("B-"):
            journal.append(op, str(row[OPS[op][1]]), codec.encode(row))
        total = journal.depth
        done = 0
        while journal.depth:
            done += await recorder.replay_batch(limit=50)
        assert done == total

        def pick(rows: list[dict], prefix: str, drop: tuple[str, ...]) -> list[tuple]:
            return sorted(
                tuple(
                    (k, "#" + str(v).removeprefix(prefix) if str(v).startswith(prefix) else v)
                    for k, v in r.items()
                    if k not in drop
                )
                for r in rows
                if any(str(v).startswith(prefix) for v in r.values())
            )

        for table, drop in (
            ("orders", ("id", "created_at", "updated_at")),
            ("order_events", ("id", "at")),
            ("fills", ("id", "created_at")),
            ("signals", ("id",)),
        ):
            rows = await store.rows(text(f"SELECT * FROM {table}"))
            assert pick(rows, "A-", drop) == pick(rows, "B-", drop), table
        events = await store.rows(text("SELECT status FROM order_events"))
        assert len(events) == 2 * 12 * 4  # new, submitted, partially filled, filled: once each
    finally:
        await recorder.close()
        await store.close()
        journal.close()


async def test_replaying_writes_the_database_already_has_logs_no_warning(
    db_url, tmp_path, caplog
) -> None:
    """Both workers' journals hold the same order steps (one signal, one order id): the second
    replay finds every step recorded and skips it without a warning (MariaDB's INSERT IGNORE
    made the driver log one "Duplicate entry ... uq_order_events_step" per write)."""
    import logging
    from decimal import Decimal

    from tests.support import krx_order
    from yquant.adapters.db import codec
    from yquant.adapters.db.statements import OPS
    from yquant.domain.model import OrderStatus
    from yquant.domain.writes import AdvanceOrder, InsertOrder

    orders = [krx_order(f"dup-o{i}", T0, signal_key=f"dup-s{i}") for i in range(5)]
    steps = [InsertOrder(o) for o in orders]
    for status, filled in ((OrderStatus.SUBMITTED, 0), (OrderStatus.FILLED, 10)):
        steps += [
            AdvanceOrder(o.evolve(status=status, filled_quantity=Decimal(filled))) for o in orders
        ]
    store = SqlStore(db_url, timeout_s=10)
    recorder = Recorder(store, Journal(tmp_path / "journal.sqlite3"))
    try:
        for write in steps:  # the first worker's writes, as they reached the database
            op, row = to_row(write)
            await store.apply(op, row)
        caplog.set_level(logging.DEBUG)
        for batch in (len(steps), 1):  # replayed as a batch, then one write at a time
            for write in steps:
                op, row = to_row(write)
                recorder.journal.append(op, str(row[OPS[op][1]]), codec.encode(row))
            while recorder.journal.depth:
                await recorder.replay_batch(limit=batch)
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
        events = await store.rows(text("SELECT status FROM order_events"))
        assert sorted(e["status"] for e in events) == sorted(["new", "submitted", "filled"] * 5)
    finally:
        await recorder.close()
        await store.close()
        recorder.journal.close()


async def test_workers_rehearsing_at_once_all_go_on_and_leave_nothing(
    db_url: str, tmp_path: Path
) -> None:
    """Blue and green start together: their rehearsals of the same writes (the same keys)
    wait for one another's rollback at most; none raises, and no row is left."""
    stores = [SqlStore(db_url, timeout_s=5) for _ in range(2)]
    recorders = [Recorder(s, Journal(tmp_path / f"j{i}.sqlite3")) for i, s in enumerate(stores)]
    try:
        now = datetime.now(UTC)
        writes = [*engine_writes(now), *gateway_writes(now)]
        await asyncio.gather(*(r.rehearse(writes) for r in recorders for _ in range(3)))
        for table in ("signals", "orders", "fills"):
            assert await stores[0].recent(table) == [], table
        assert await stores[0].rows(text("SELECT * FROM order_events")) == []
        assert await stores[0].rows(text("SELECT * FROM last_prices")) == []
    finally:
        for r in recorders:
            await r.close()
            r.journal.close()
        for s in stores:
            await s.close()


async def test_a_rehearsal_that_fails_is_said_and_never_raised(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqlStore(db_url, timeout_s=5)
    recorder = Recorder(store, Journal(tmp_path / "j.sqlite3"))

    async def refused(items: object) -> None:
        raise RuntimeError("lock wait timeout")

    monkeypatch.setattr(store, "rehearse", refused)
    try:
        await recorder.rehearse(engine_writes(datetime.now(UTC)))
        assert any("writes not rehearsed" in r.getMessage() for r in caplog.records)
        assert await store.recent("signals") == []
    finally:
        await recorder.close()
        recorder.journal.close()
        await store.close()
