"""The repository on the SQLite file and on the real MariaDB server: the same tests for both."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from tests.support import krx_order, mariadb_database
from yquant.adapters.db import tables
from yquant.adapters.db.rows import fill_row, order_from_row, order_row, signal_row
from yquant.adapters.db.store import SqlStore
from yquant.domain import alerts
from yquant.domain.model import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Side,
    SignalStatus,
    can_transition,
)
from yquant.errors import DatabaseUnavailableError, SchemaMissingError
from yquant.processes import free_port

T0 = datetime(2026, 11, 27, 0, 0, 0, 123456, tzinfo=UTC)


def an_order(**kw) -> Order:
    base = dict(
        signal_key="sig1",
        strategy="s",
        order_type=OrderType.LIMIT,
        quantity=Decimal(10),
        limit_price=Decimal("70100.5"),
        reference_price=Decimal("70000"),
    )
    return krx_order(kw.pop("client_order_id", "yqorder1"), T0, **{**base, **kw})


def a_signal(key: str, status: SignalStatus = SignalStatus.ACCEPTED, **kw):
    return signal_row(
        key=key,
        worker="blue",
        status=status,
        received_at=T0,
        updated_at=T0,
        **{"fields": {"ticker": "KRX:005930", "secret": "never-stored"}, **kw},
    )


async def test_signal_key_is_unique(store: SqlStore) -> None:
    assert await store.apply("signal.insert", a_signal("k1")) is True
    assert await store.apply("signal.insert", a_signal("k1")) is False
    [row] = await store.recent("signals")
    assert row["signal_key"] == "k1"
    assert "never-stored" not in (row["payload"] or "")


async def test_a_batch_of_inserts_tells_each_new_row_from_each_repeat(store: SqlStore) -> None:
    await store.apply("signal.insert", a_signal("old"))
    batch = ["b1", "old", "b2", "b1", "b3"]
    results = await store.apply_many([("signal.insert", a_signal(k)) for k in batch])
    assert results == [True, False, True, False, True]
    rows = await store.recent("signals")
    assert sorted(r["signal_key"] for r in rows) == ["b1", "b2", "b3", "old"]
    # The same again changes nothing: every one is a repeat now.
    again = await store.apply_many([("signal.insert", a_signal(k)) for k in batch])
    assert again == [False] * 5
    assert len(await store.recent("signals")) == 4


def _stored(conn, table: str, key: str, columns: list[str]) -> dict[str, tuple]:
    """Each column as the database holds it, its type included (text, not a parsed value)."""
    shown = ", ".join(f"CONCAT(COALESCE({c}, 'NULL'), '')" for c in columns)
    if conn.dialect.name == "sqlite":
        shown = ", ".join(f"typeof({c}) || ':' || COALESCE({c}, 'NULL')" for c in columns)
    rows = conn.exec_driver_sql(f"SELECT {key}, {shown} FROM {table}").all()
    return {row[0]: tuple(row[1:]) for row in rows}


@pytest.mark.parametrize("at", [T0, T0.replace(microsecond=0)], ids=["micro", "whole-second"])
@pytest.mark.parametrize("op", ["signal.insert", "fill.insert"])
async def test_the_writers_inserts_store_what_sqlalchemy_itself_stores(
    store: SqlStore, op: str, at: datetime
) -> None:
    """The writer's inserts take a faster path than SQLAlchemy's own (on SQLite, the driver's
    cursor with the columns' bind processors): alone or in a batch, each column holds exactly
    what a plain SQLAlchemy insert of the same row puts there, whole seconds included."""
    if op == "signal.insert":
        fields = {"ticker": "KRX:005930", "price": Decimal("70100.50"), "comment": "한글 \u2603"}

        def make(k: str) -> dict:
            row = a_signal(k, fields=fields, source_ip="10.0.0.1", detail="d", reason="r")
            return {**row, "received_at": at, "updated_at": at}

        table, key = tables.signals, "signal_key"
    else:

        def make(k: str) -> dict:
            return fill_row(
                Fill(
                    k,
                    "yqorder1",
                    "us",
                    "AAPL",
                    Side.BUY,
                    Decimal("0.5"),
                    Decimal("187.1234"),
                    Decimal("0.0123"),
                    "USD",
                    at,
                )
            )

        table, key = tables.fills, "fill_id"
    reference = make("by-sqlalchemy")
    await store.run(lambda conn: conn.execute(table.insert(), reference), write=True)
    assert await store.apply(op, make("alone")) is True
    assert await store.apply_many([(op, make(k)) for k in ("b1", "b2")]) == [True, True]

    columns = [c for c in reference if c != key]
    by_key = await store.run(lambda conn: conn.run_sync(_stored, table.name, key, columns))
    assert by_key["alone"] == by_key["b1"] == by_key["b2"] == by_key["by-sqlalchemy"]
    [row] = [r for r in await store.recent(table.name) if r[key] == "b1"]
    if op == "signal.insert":
        assert row["received_at"] == at and row["received_at"].tzinfo is not None
        assert json.loads(row["payload"])["comment"] == "한글 \u2603"
    else:
        assert (row["price"], row["commission"]) == (Decimal("187.1234"), Decimal("0.0123"))
        assert row["filled_at"] == at
    # Stored alike, they are found alike by an equality on the time.
    time_column = "received_at" if op == "signal.insert" else "filled_at"
    found = await store.rows(select(table.c[key]).where(table.c[time_column] == at))
    assert sorted(r[key] for r in found) == sorted(["alone", "b1", "b2", "by-sqlalchemy"])


async def test_a_column_the_row_leaves_out_gets_its_default(store: SqlStore) -> None:
    row = a_signal("defaulted")
    del row["status_rank"]  # the table's default (0) applies, as with SQLAlchemy's insert
    assert await store.apply("signal.insert", row) is True
    assert await store.apply_many([("signal.insert", {**row, "signal_key": "d2"})]) == [True]
    ranks = {r["signal_key"]: r["status_rank"] for r in await store.recent("signals")}
    assert ranks == {"defaulted": 0, "d2": 0}


async def test_a_failed_batch_leaves_the_next_one_unharmed(store: SqlStore) -> None:
    bad = a_signal("bad")
    bad["worker"] = None  # NOT NULL: the whole transaction fails
    with pytest.raises(IntegrityError):
        await store.apply_many([("signal.insert", a_signal("g1")), ("signal.insert", bad)])
    assert await store.recent("signals") == []  # nothing of the failed transaction stayed
    assert await store.apply_many([("signal.insert", a_signal(k)) for k in ("g1", "g2")]) == [
        True,
        True,
    ]
    assert sorted(r["signal_key"] for r in await store.recent("signals")) == ["g1", "g2"]


async def test_a_batch_mixing_inserts_and_advances_keeps_its_order(store: SqlStore) -> None:
    items = [
        ("signal.insert", a_signal("m1")),
        ("signal.insert", a_signal("m2")),
        ("signal.advance", a_signal("m1", SignalStatus.REJECTED, reason="no_quantity")),
        ("signal.insert", a_signal("m3")),
        ("signal.insert", a_signal("m1")),
    ]
    assert await store.apply_many(items) == [True, True, True, True, False]
    rows = {r["signal_key"]: r for r in await store.recent("signals")}
    assert (rows["m1"]["status"], rows["m1"]["reason"]) == ("rejected", "no_quantity")
    assert rows["m2"]["status"] == rows["m3"]["status"] == "accepted"


async def test_signal_only_moves_forward(store: SqlStore) -> None:
    await store.apply("signal.insert", a_signal("k2"))
    assert await store.apply(
        "signal.advance", a_signal("k2", SignalStatus.REJECTED, reason="no_quantity")
    )
    # A late replay of the accepted state does not undo the decision.
    await store.apply("signal.advance", a_signal("k2"))
    [row] = await store.recent("signals")
    assert (row["status"], row["reason"]) == ("rejected", "no_quantity")


async def test_advance_creates_the_signal_when_its_insert_is_still_on_its_way(store) -> None:
    await store.apply("signal.advance", a_signal("k3", SignalStatus.ORDERED))
    await store.apply("signal.insert", a_signal("k3"))
    [row] = await store.recent("signals")
    assert row["status"] == "ordered"


@pytest.mark.parametrize("batched", [False, True], ids=["alone", "in-a-batch"])
async def test_a_late_insert_fills_in_the_facts_the_decision_did_not_carry(
    store, batched: bool
) -> None:
    """The engine's decision reached the database before the webhook's journaled insert: the
    insert adds what only it knows (payload, source) and keeps the decision, whether it is
    written alone or among others."""
    fields = {"secret": "never-stored", "ticker": "NASDAQ:AAPL", "action": "buy", "quantity": 2}
    received = signal_row(
        key="k5",
        worker="blue",
        status=SignalStatus.ACCEPTED,
        received_at=T0,
        updated_at=T0,
        alert=alerts.parse_alert(fields, T0),
        source_ip="203.0.113.7",
        fields=fields,
    )
    decided = signal_row(
        key="k5",
        worker="blue",
        status=SignalStatus.REJECTED,
        received_at=T0,
        updated_at=T0 + timedelta(seconds=1),
        reason="no_position",
        detail="paper: nothing to sell",
    )
    assert await store.apply("signal.advance", decided) is True
    later = {**received, "source_ip": "198.51.100.9"}
    if batched:
        items = [("signal.insert", r) for r in (a_signal("other"), received, later)]
        assert await store.apply_many(items) == [True, False, False]
    else:
        assert await store.apply("signal.insert", received) is False  # not new: a repeat
        assert await store.apply("signal.insert", later) is False
    [row] = [r for r in await store.recent("signals") if r["signal_key"] == "k5"]
    assert (row["status"], row["reason"], row["detail"]) == (
        "rejected",
        "no_position",
        "paper: nothing to sell",
    )
    assert row["updated_at"] == T0 + timedelta(seconds=1)
    assert row["source_ip"] == "203.0.113.7"
    assert json.loads(row["payload"]) == {"ticker": "NASDAQ:AAPL", "action": "buy", "quantity": 2}
    facts = (row["strategy"], row["ticker"], row["exchange"], row["action"])
    assert facts == ("default", "NASDAQ:AAPL", "NASDAQ", "buy")


async def test_order_round_trip_keeps_exact_decimals_and_aware_utc(store: SqlStore) -> None:
    order = an_order()
    assert await store.apply("order.insert", order_row(order))
    back = order_from_row(await store.order("yqorder1"))
    assert back == order
    assert back.created_at.tzinfo is not None
    assert back.limit_price == Decimal("70100.5")


async def test_order_insert_is_idempotent(store: SqlStore) -> None:
    assert await store.apply("order.insert", order_row(an_order())) is True
    assert await store.apply("order.insert", order_row(an_order(quantity=Decimal(99)))) is False
    assert (await store.order("yqorder1"))["quantity"] == Decimal(10)


async def test_order_updates_are_monotonic(store: SqlStore) -> None:
    order = an_order()
    later = T0 + timedelta(seconds=1)
    await store.apply("order.insert", order_row(order))
    partial = order.evolve(
        status=OrderStatus.PARTIALLY_FILLED,
        filled_quantity=Decimal(4),
        avg_fill_price=Decimal(70000),
        updated_at=later,
    )
    filled = order.evolve(
        status=OrderStatus.FILLED,
        filled_quantity=Decimal(10),
        avg_fill_price=Decimal("70050.25"),
        broker_order_id="B1",
        updated_at=later,
    )
    await store.apply("order.advance", order_row(filled))
    # Older news replayed late loses: status, fills and price stay as the newest said.
    await store.apply("order.advance", order_row(partial))
    await store.apply("order.advance", order_row(order.evolve(status=OrderStatus.SUBMITTED)))
    row = await store.order("yqorder1")
    assert (row["status"], row["filled_quantity"], row["avg_fill_price"]) == (
        "filled",
        Decimal(10),
        Decimal("70050.25"),
    )
    assert row["broker_order_id"] == "B1"


async def test_more_fills_at_the_same_status_are_taken(store: SqlStore) -> None:
    order = an_order()
    await store.apply("order.insert", order_row(order))
    for n in (2, 5):
        await store.apply(
            "order.advance",
            order_row(
                order.evolve(status=OrderStatus.PARTIALLY_FILLED, filled_quantity=Decimal(n))
            ),
        )
    assert (await store.order("yqorder1"))["filled_quantity"] == Decimal(5)


async def test_open_orders_are_those_not_final(store: SqlStore) -> None:
    from yquant.adapters.db.accounts import AccountBook

    await store.apply("order.insert", order_row(an_order(status=OrderStatus.SUBMITTED)))
    await store.apply(
        "order.insert", order_row(an_order(client_order_id="done", status=OrderStatus.FILLED))
    )
    assert [r["client_order_id"] for r in await AccountBook(store).open_orders()] == ["yqorder1"]


async def test_a_fill_is_recorded_once(store: SqlStore) -> None:

    def fill(fid: str, side: Side, qty: int) -> dict:
        return fill_row(
            Fill(
                fid,
                "yqorder1",
                "paper",
                "005930",
                side,
                Decimal(qty),
                Decimal(70000),
                Decimal(10),
                "KRW",
                T0,
            )
        )

    assert await store.apply("fill.insert", fill("f1", Side.BUY, 10))
    assert await store.apply("fill.insert", fill("f1", Side.BUY, 10)) is False
    await store.apply("fill.insert", fill("f2", Side.SELL, 3))
    fills = await store.recent("fills")
    assert sorted((f["fill_id"], f["side"], f["quantity"]) for f in fills) == [
        ("f1", "buy", Decimal(10)),
        ("f2", "sell", Decimal(3)),
    ]


async def test_waiting_signals_are_those_of_this_worker_still_accepted(store: SqlStore) -> None:
    await store.apply("signal.insert", a_signal("w1"))
    await store.apply("signal.insert", a_signal("w2", SignalStatus.ORDERED))
    other = a_signal("w3")
    other["worker"] = "green"
    await store.apply("signal.insert", other)
    waiting = await store.signals_waiting("blue", T0 + timedelta(seconds=1))
    assert [r["signal_key"] for r in waiting] == ["w1"]
    assert await store.signals_waiting("blue", T0) == []


async def test_active_role_epoch_grows_with_every_switch(store: SqlStore) -> None:
    from yquant.adapters.db.deployment import DeploymentRoles

    roles = DeploymentRoles(store)
    assert await roles.active() is None
    assert await roles.set_active("blue", "test", T0) == 1
    assert await roles.set_active("green", "test", T0) == 2
    assert await roles.active() == ("green", 2)
    from yquant.adapters.db import tables

    audit = await store.rows(tables.audit_log.select().order_by(tables.audit_log.c.id))
    assert [(a["action"], a["target"], a["actor"]) for a in audit] == [
        ("role.set_active", "blue", "test"),
        ("role.set_active", "green", "test"),
    ]


async def test_each_state_change_is_recorded_once(store: SqlStore) -> None:
    from sqlalchemy import select

    from yquant.adapters.db import tables

    order = an_order()
    filled = order.evolve(status=OrderStatus.FILLED, filled_quantity=Decimal(10))
    await store.apply("order.insert", order_row(order))
    for row in (filled, filled, order.evolve(status=OrderStatus.SUBMITTED), filled):
        await store.apply("order.advance", order_row(row))
    async with store.engine.connect() as conn:
        steps = (
            await conn.execute(
                select(
                    tables.order_events.c.status, tables.order_events.c.filled_quantity
                ).order_by(tables.order_events.c.id)
            )
        ).all()
    # The late "submitted" did not move the order, so it is not part of its history.
    assert [(s, q) for s, q in steps] == [("new", Decimal(0)), ("filled", Decimal(10))]


async def test_a_sqlite_failure_on_the_writer_reads_as_the_database_unavailable(
    sqlite_url: str,
) -> None:
    """The writer runs its statements on the driver's own cursor; a failure there must still
    reach the outage handling (journal the write) rather than escape as a driver error."""
    path = sqlite_url.split("///", 1)[1]
    read_only = SqlStore(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true", timeout_s=5)
    try:
        with pytest.raises(DatabaseUnavailableError, match="readonly"):
            await read_only.apply_many([("signal.insert", a_signal(k)) for k in ("r1", "r2")])
        with pytest.raises(DatabaseUnavailableError, match="readonly"):
            await read_only.apply("signal.insert", a_signal("r3"))
    finally:
        await read_only.close()
    writable = SqlStore(sqlite_url, timeout_s=5)
    try:
        assert await writable.recent("signals") == []
    finally:
        await writable.close()


async def test_a_write_racing_close_lands_and_nothing_is_shared(store: SqlStore) -> None:
    """A write that arrives while the store closes (tasks are stopped without waiting for
    them) gets a writer of its own, never the closing one's connection."""
    await store.apply("signal.insert", a_signal("before"))
    results = await asyncio.gather(
        store.close(), store.apply("signal.insert", a_signal("during")), return_exceptions=True
    )
    assert results == [None, True]
    assert await store.apply("signal.insert", a_signal("after")) is True
    keys = sorted(r["signal_key"] for r in await store.recent("signals"))
    assert keys == ["after", "before", "during"]


async def test_warm_up_opens_the_first_write_s_connection_and_writes_nothing(
    store: SqlStore,
) -> None:
    def writers() -> int:
        return sum(t.name.startswith("yq-sqlite-writer") for t in threading.enumerate())

    before = writers()
    await store.warm_up()
    assert writers() == before + (1 if store.dialect == "sqlite" else 0)
    assert await store.recent("signals") == []
    assert await store.apply("signal.insert", a_signal("k1")) is True


async def test_a_read_sees_what_another_connection_committed_just_before(store: SqlStore) -> None:
    """Reads hold no snapshot between calls: each sees the latest commit of any writer."""
    for n in range(3):
        assert await store.apply("signal.insert", a_signal(f"seen{n}")) is True
        assert await store.has_signal(f"seen{n}")


async def test_a_sqlite_read_past_the_timeout_is_cut_off_and_the_next_read_works(
    sqlite_url: str,
) -> None:
    """SQLite reads run in place; one that runs past the store's timeout is interrupted
    and reads as the database unavailable, like any call past the timeout."""
    store = SqlStore(sqlite_url, timeout_s=0.3)
    endless = text(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT count(*) FROM (SELECT x FROM c LIMIT 10000000000)"
    )
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(DatabaseUnavailableError, match="interrupted"):
            await store.rows(endless)
        assert loop.time() - started < 3.0
        assert await store.recent("signals") == []
    finally:
        await store.close()


async def test_warm_up_of_a_database_that_is_away_says_so() -> None:
    away = SqlStore(f"mysql+asyncmy://root@127.0.0.1:{free_port()}/yquant", timeout_s=2)
    try:
        with pytest.raises(DatabaseUnavailableError):
            await away.warm_up()
    finally:
        await away.close()


async def test_the_stored_order_moves_exactly_as_the_domain_allows(store: SqlStore) -> None:
    """For every (from, to) pair of statuses the upsert agrees with ``can_transition``."""
    pairs = [(a, b) for a in OrderStatus for b in OrderStatus]
    for n, (current, new) in enumerate(pairs):
        order = an_order(client_order_id=f"pair{n}", status=current, filled_quantity=Decimal(3))
        await store.apply("order.insert", order_row(order))
        await store.apply("order.advance", order_row(order.evolve(status=new)))
    disagree = []
    for n, (current, new) in enumerate(pairs):
        stored = (await store.order(f"pair{n}"))["status"]
        expected = new if can_transition(current, new) else current
        if stored != expected.value:
            disagree.append((current.value, new.value, stored))
    assert disagree == []


async def test_fewer_fills_at_the_same_status_do_not_overwrite(store: SqlStore) -> None:
    order = an_order(status=OrderStatus.PARTIALLY_FILLED, filled_quantity=Decimal(5))
    await store.apply("order.insert", order_row(order))
    await store.apply("order.advance", order_row(order.evolve(filled_quantity=Decimal(2))))
    assert (await store.order("yqorder1"))["filled_quantity"] == Decimal(5)


@pytest.fixture(params=["sqlite", "mariadb"])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A database nothing was migrated into."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with mariadb_database() as url:
        yield url


async def test_a_database_never_migrated_reads_as_the_schema_missing(empty_url: str) -> None:
    """SQLite's "no such table" and MariaDB's error 1146 are one error, not an outage."""
    empty = SqlStore(empty_url, timeout_s=5)
    try:
        with pytest.raises(SchemaMissingError):
            await empty.order("yqorder1")
        with pytest.raises(SchemaMissingError):
            await empty.apply("signal.insert", a_signal("k1"))
    finally:
        await empty.close()
