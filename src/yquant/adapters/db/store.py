"""The system of record: idempotent, order-independent writes and the read queries.

Every write is one of these operations, each safe to repeat and to replay late:

    signal.insert   insert if the signal key is new; tells whether it was new (dedupe); on a
                    repeat, fills in the facts the row lacks (its decision may have come first)
    signal.advance  upsert that only moves a signal forward (accepted → ordered/rejected)
    order.insert    insert if the client order id is new
    order.advance   upsert that only moves an order forward (by status rank, then fills)
    fill.insert     insert if the fill id is new
    account.upsert  the account's newest description wins
    queue.insert    insert a queued order if its client order id is new

Each is a single statement (ON CONFLICT on SQLite, ON DUPLICATE KEY on MariaDB; a repeated
signal insert adds one UPDATE), so writes from several processes need no read-modify-write and no
locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    case,
    create_engine,
    event,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from yquant.adapters.db import tables
from yquant.domain.model import OrderStatus
from yquant.errors import DatabaseUnavailableError

OPS: dict[str, tuple[Table, str, bool]] = {
    # op: (table, natural key column, monotonic advance?)
    "signal.insert": (tables.signals, "signal_key", False),
    "signal.advance": (tables.signals, "signal_key", True),
    "order.insert": (tables.orders, "client_order_id", False),
    "order.advance": (tables.orders, "client_order_id", True),
    "fill.insert": (tables.fills, "fill_id", False),
    "account.upsert": (tables.accounts, "name", True),
    "queue.insert": (tables.queued_orders, "client_order_id", False),
}

# Orders the broker may still act on (not final); "new" ones were never sent.
WORKING_STATUSES = tuple(s.value for s in OrderStatus if not s.is_final)
OPEN_STATUSES = tuple(s for s in WORKING_STATUSES if s != OrderStatus.NEW.value)


def _sqlite_pragmas(engine: Engine) -> Engine:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.close()

    return engine


def make_sync_sqlite_engine(url: str) -> Engine:
    """The blocking engine for the same SQLite file, for the writer thread. Its transactions
    take the write lock when they begin (BEGIN IMMEDIATE), so what they read stays true until
    they commit: another process's commit cannot slip in between."""
    engine = _sqlite_pragmas(
        create_engine(url.replace("+aiosqlite", "", 1), connect_args={"timeout": 15})
    )

    @event.listens_for(engine, "connect")
    def _no_driver_begin(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver's own deferred BEGIN, replaced below

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        sqlite_driver(conn, "BEGIN IMMEDIATE")

    return engine


def sqlite_driver(conn: Connection, sql: str, params: Any = (), *, many: bool = False) -> list[Any]:
    """Run ``sql`` on the SQLite driver's own cursor, inside whatever transaction ``conn``
    holds, and return its rows. For the writer's hot path: SQLAlchemy's handling of a
    statement costs more than SQLite's. Errors arrive as SQLAlchemy's (OperationalError,
    IntegrityError, ...), without the parameters, as from any other statement."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        return cursor.fetchall()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error, hide_parameters=True) from None
    finally:
        cursor.close()


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 15})
        _sqlite_pragmas(engine.sync_engine)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_size=5,
        max_overflow=5,
        pool_timeout=2,
        connect_args={"connect_timeout": 2},
    )


class SqlStore:
    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._engine: AsyncEngine | None = None
        self._statements: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._writer: _Writer | None = None
        self._plain_inserts: dict[tuple[str, tuple[str, ...]], _PlainInsert] = {}

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = make_engine(self._url)
        return self._engine

    @property
    def dialect(self) -> str:
        return "sqlite" if self._url.startswith("sqlite") else "mysql"

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.close()

    async def ping(self) -> None:
        await self.run(lambda conn: conn.execute(text("SELECT 1")))

    # ---- writes -----------------------------------------------------------------------------

    async def apply(self, op: str, row: dict[str, Any]) -> bool:
        """Run one write; True when it inserted a new row or moved one forward."""
        [changed] = await self.apply_many([(op, row)])
        return changed

    async def apply_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        """Run several writes in ONE transaction (one commit, one fsync), in order.

        Each result tells whether that write inserted a new row or moved one forward. A
        duplicate natural key on an insert is that write's False, not a failure of the batch.
        """

        if self.dialect == "sqlite":
            # The whole transaction in one call on the writer thread: with aiosqlite every
            # statement, the commit and the connection's return would each wait for a turn of
            # the busy event loop.
            return await self._in_writer_thread(self._write_all, items)
        return list(await self.run(lambda conn: conn.run_sync(self._write_all, items), write=True))

    def _write_all(self, conn: Connection, items: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        results: list[bool] = []
        start = 0
        while start < len(items):
            end = self._run_end(items, start)
            op = items[start][0]
            # On SQLite even one insert goes the cheaper way of a run.
            if end - start > 1 or (self.dialect == "sqlite" and self._is_plain_insert(op)):
                rows = [row for _, row in items[start:end]]
                results.extend(self._insert_run(conn, op, rows))
            else:
                results.append(self._apply_one(conn, *items[start]))
            start = end
        return results

    @staticmethod
    def _is_plain_insert(op: str) -> bool:
        """Whether ``op`` inserts a row if new and nothing else (orders also record an event)."""
        table, _key, monotonic = OPS[op]
        return not monotonic and table is not tables.orders

    @classmethod
    def _run_end(cls, items: list[tuple[str, dict[str, Any]]], start: int) -> int:
        """End of the run of plain inserts that can go as one statement, beginning at ``start``:
        the same insert op over the same columns."""
        op, row = items[start]
        end = start + 1
        if not cls._is_plain_insert(op):
            return end
        columns = row.keys()
        while end < len(items) and items[end][0] == op and items[end][1].keys() == columns:
            end += 1
        return end

    def _insert_run(self, conn: Connection, op: str, rows: list[dict[str, Any]]) -> list[bool]:
        """Insert-if-new for many rows of one op at once; True for each row that was new."""
        key = OPS[op][1]
        results: list[bool] = []
        fresh: list[dict[str, Any]] = []
        seen: set[Any] = set()
        for row in rows:  # the same key twice in one batch: the first one counts
            new = row[key] not in seen
            seen.add(row[key])
            results.append(new)
            if new:
                fresh.append(row)
        # Which keys exist, then one executemany for the others. On SQLite the transaction
        # holds the write lock from its start; on InnoDB a key that another writer adds in
        # between fails the INSERT (1062) and with it the transaction, and the caller retries
        # row by row.
        driver = (
            self._driver_insert(op, tuple(fresh[0]), conn) if self.dialect == "sqlite" else None
        )
        if driver is not None:
            stored = self._insert_run_sqlite(conn, driver, key, fresh)
        else:
            found = conn.execute(
                self._statement(op + ".existing", ()), {"keys": [r[key] for r in fresh]}
            )
            existing = set(found.scalars())
            insert = [r for r in fresh if r[key] not in existing]
            if insert:
                conn.execute(self._statement(op + ".plain", ()), insert)
            stored = {r[key] for r in insert}
        if op == "signal.insert":
            for row in fresh:
                if row[key] not in stored:
                    self._fill_facts(conn, row)
        return [new and row[key] in stored for new, row in zip(results, rows, strict=True)]

    def _driver_insert(
        self, op: str, columns: tuple[str, ...], conn: Connection
    ) -> _PlainInsert | None:
        """The driver-level insert for ``op`` over ``columns``, or None where only SQLAlchemy
        can fill in a left-out column."""
        plain = self._plain_inserts.get((op, columns))
        if plain is None:
            table, key, _ = OPS[op]
            plain = self._plain_inserts[(op, columns)] = _PlainInsert(
                table, key, columns, conn.dialect
            )
        return plain if plain.usable else None

    @staticmethod
    def _insert_run_sqlite(
        conn: Connection, plain: _PlainInsert, key: str, fresh: list[dict[str, Any]]
    ) -> set[Any]:
        """The same on the driver's own cursor (`sqlite_driver`): SQLAlchemy's handling of each
        statement and each row cost more than the inserts themselves. `_PlainInsert` applies
        SQLAlchemy's own conversions, so what is stored is what SQLAlchemy would store."""
        keys = [r[key] for r in fresh]
        existing: set[Any] = set()
        for start in range(0, len(keys), 500):  # within SQLite's limit on parameters
            chunk = keys[start : start + 500]
            existing.update(
                found for (found,) in sqlite_driver(conn, plain.existing(len(chunk)), chunk)
            )
        insert = [r for r in fresh if r[key] not in existing]
        if insert:
            sqlite_driver(conn, plain.sql, [plain.values(r) for r in insert], many=True)
        return {r[key] for r in insert}

    def _apply_one(self, conn: Connection, op: str, row: dict[str, Any]) -> bool:
        table, _key, monotonic = OPS[op]
        stmt = self._statement(op, tuple(row))
        if monotonic or self.dialect == "sqlite":
            changed = bool(conn.execute(stmt, row).rowcount)
        else:
            # MariaDB: a plain INSERT in a savepoint; the duplicate key (1062) rolls back only
            # that statement.
            savepoint = conn.begin_nested()
            try:
                conn.execute(stmt, row)
            except IntegrityError as exc:
                savepoint.rollback()
                if not _is_duplicate_key(exc):
                    raise
                changed = False
            else:
                savepoint.commit()
                changed = True
        if table is tables.orders and (monotonic or changed):
            conn.execute(self._statement("order.event", ()), _order_event(row))
        if op == "signal.insert" and not changed:
            self._fill_facts(conn, row)
        return changed

    def _fill_facts(self, conn: Connection, row: dict[str, Any]) -> None:
        """For a signal insert that found its key taken: the engine's decision can reach the
        database before the insert (which waited in a journal), so the facts only the insert
        carries are added; the decision is kept."""
        facts = self._statement("signal.fill", tuple(row))
        if facts is not None:
            conn.execute(facts, {f"new_{c}": v for c, v in row.items()})

    def _statement(self, op: str, columns: tuple[str, ...]) -> Any:
        """The statement for ``op`` over ``columns``, built once and executed with parameters
        (building it per row, values and all, costs more than the database call)."""
        cache_key = (op, columns)
        stmt = self._statements.get(cache_key)
        if stmt is None:
            stmt = self._build(op, columns)
            self._statements[cache_key] = stmt
        return stmt

    def _build(self, op: str, columns: tuple[str, ...]) -> Any:
        if op.endswith(".existing"):
            table, key, _ = OPS[op.removesuffix(".existing")]
            return select(table.c[key]).where(table.c[key].in_(bindparam("keys", expanding=True)))
        if op.endswith(".plain"):
            return OPS[op.removesuffix(".plain")][0].insert()
        if op == "signal.fill":
            return _fill_signal(columns)
        if op == "order.event":
            # The state change the orders row now shows, once per (order, status, filled
            # quantity); a late replay that did not move the row records nothing.
            verb = "INSERT OR IGNORE" if self.dialect == "sqlite" else "INSERT IGNORE"
            return text(
                f"{verb} INTO order_events (client_order_id, status, filled_quantity, detail, at)"
                " SELECT client_order_id, status, filled_quantity, :detail, :at FROM orders"
                " WHERE client_order_id = :client_order_id AND status = :status"
                " AND filled_quantity = :filled_quantity"
            ).bindparams(
                bindparam("at", type_=tables.UtcDateTime()),
                bindparam("filled_quantity", type_=tables.Quantity()),
            )
        table, key, monotonic = OPS[op]
        if not monotonic:
            if self.dialect == "sqlite":
                return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
            # Not INSERT IGNORE (it would also turn bad data into warnings) and not a no-op
            # ON DUPLICATE KEY (found rows count as affected): a plain INSERT, duplicate caught.
            return mysql.insert(table)
        return self._advance(table, key, columns)

    def _advance(self, table: Table, key: str, columns: tuple[str, ...]) -> Any:
        """Upsert that applies only if the new row is at least as far along as the stored one."""
        if table is tables.orders:

            def newer(new: Any) -> Any:
                return or_(
                    new.status_rank > table.c.status_rank,
                    and_(
                        new.status_rank == table.c.status_rank,
                        new.filled_quantity >= table.c.filled_quantity,
                    ),
                )
        else:

            def newer(new: Any) -> Any:
                return new.status_rank >= table.c.status_rank

        # Immutable facts of the row are kept; only the moving parts are updated.
        moving = [c for c in columns if c not in _IMMUTABLE and c != key]
        if "status_rank" not in table.c:
            # A plain upsert: the newest description wins (accounts).
            if self.dialect == "sqlite":
                ins = sqlite.insert(table)
                return ins.on_conflict_do_update(
                    index_elements=[key], set_={c: ins.excluded[c] for c in moving}
                )
            ins = mysql.insert(table)
            return ins.on_duplicate_key_update([(c, ins.inserted[c]) for c in moving])
        if self.dialect == "sqlite":
            ins = sqlite.insert(table)
            return ins.on_conflict_do_update(
                index_elements=[key],
                set_={c: ins.excluded[c] for c in moving},
                where=newer(ins.excluded),
            )
        ins = mysql.insert(table)
        cond = newer(ins.inserted)
        # MariaDB evaluates assignments left to right against the updated row: the rank, which
        # the condition reads, must be assigned last.
        ordered = [c for c in moving if c != "status_rank"] + ["status_rank"]
        return ins.on_duplicate_key_update(
            [(c, case((cond, ins.inserted[c]), else_=table.c[c])) for c in ordered]
        )

    # ---- reads ------------------------------------------------------------------------------

    async def recent(self, table_name: str, limit: int = 50) -> list[dict[str, Any]]:
        table = {"signals": tables.signals, "orders": tables.orders, "fills": tables.fills}[
            table_name
        ]
        order_col = {
            "signals": tables.signals.c.id,
            "orders": tables.orders.c.id,
            "fills": tables.fills.c.id,
        }[table_name]
        stmt = select(table).order_by(order_col.desc()).limit(limit)
        return await self.rows(stmt)

    async def order(self, client_order_id: str) -> dict[str, Any] | None:
        rows = await self.rows(
            select(tables.orders).where(tables.orders.c.client_order_id == client_order_id)
        )
        return rows[0] if rows else None

    async def has_signal(self, key: str) -> bool:
        s = tables.signals
        return bool(await self.rows(select(s.c.id).where(s.c.signal_key == key)))

    async def signals_waiting(self, worker: str, before: datetime) -> list[dict[str, Any]]:
        s = tables.signals
        return await self.rows(
            select(s)
            .where(s.c.worker == worker, s.c.status == "accepted", s.c.received_at < before)
            .order_by(s.c.id)
            .limit(500)
        )

    async def rows(self, stmt: Any) -> list[dict[str, Any]]:
        """Run a read statement (under the store's timeout) and return plain dict rows."""

        async def run(conn: Any) -> list[dict[str, Any]]:
            result = await conn.execute(stmt)
            return [dict(r._mapping) for r in result]

        return await self.run(run)

    async def run(self, fn: Any, *, write: bool = False) -> Any:
        """Run ``fn(connection)`` under the store's timeout, in a transaction when ``write``;
        an unreachable, resetting or hung database raises DatabaseUnavailableError."""
        async with self._guarded():
            if write:
                async with self.engine.begin() as conn:
                    return await fn(conn)
            async with self.engine.connect() as conn:
                return await fn(conn)

    async def _in_writer_thread(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(connection, *args)`` in one transaction on the SQLite writer thread."""
        if self._writer is None:
            self._writer = _Writer(self._url)
        writer = self._writer
        async with self._guarded():
            # A call cut off by the timeout may still commit later; every write is idempotent,
            # so the journaled copy then replays as a repeat.
            return await asyncio.get_running_loop().run_in_executor(
                writer.thread, writer.transaction, fn, args
            )

    @contextlib.asynccontextmanager
    async def _guarded(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._timeout_s):
                yield
        except TimeoutError as exc:
            raise DatabaseUnavailableError("database call timed out") from exc
        except (OperationalError, OSError, ConnectionError) as exc:
            raise DatabaseUnavailableError(_describe(exc)) from None
        except RuntimeError as exc:
            # asyncmy reports a connection reset while it connects (seen under uvloop) as
            # "Transport does not expose socket instance": the server is not reachable.
            if "transport" in str(exc).lower() or "socket" in str(exc).lower():
                raise DatabaseUnavailableError(_describe(exc)) from None
            raise
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailableError(_describe(exc)) from None
            raise


class _Writer:
    """The SQLite writer: one thread, its engine, and one connection kept open on that thread
    (taking one from the pool and giving it back, with its reset, for every transaction cost
    more than a small commit). Everything here but ``close`` runs on the thread."""

    def __init__(self, url: str) -> None:
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="yq-sqlite-writer")
        self._engine = make_sync_sqlite_engine(url)
        self._conn: Connection | None = None

    def transaction(self, fn: Any, args: tuple[Any, ...]) -> Any:
        if self._conn is None:
            self._conn = self._engine.connect()
        try:
            with self._conn.begin():
                return fn(self._conn, *args)
        except BaseException:
            self._drop()  # the next transaction starts on a fresh connection
            raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(self.thread, self._drop)
        await loop.run_in_executor(None, self.thread.shutdown)
        self._engine.dispose()


class _PlainInsert:
    """A plain INSERT of ``columns`` into ``table`` for the SQLite driver's own cursor, with the
    conversions SQLAlchemy applies (each column's bind processor for this dialect, and the
    columns' constant defaults for what the row leaves out), and the lookup of existing keys.
    ``usable`` is False when a left-out column has a default only SQLAlchemy can compute."""

    def __init__(self, table: Table, key: str, columns: tuple[str, ...], dialect: Any) -> None:
        left_out = [c for c in table.c if c.name not in columns and c.default is not None]
        self.usable = all(c.default.is_scalar for c in left_out)  # type: ignore[union-attr]
        self._defaults = tuple(c.default.arg for c in left_out if self.usable)  # type: ignore[union-attr]
        names = [*columns, *(c.name for c in left_out)]
        quoted = ", ".join(f'"{c}"' for c in names)
        self.sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(names))})'
        self._columns = columns
        self._processors = tuple(
            table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in names
        )
        self._lookup = f'SELECT "{key}" FROM "{table.name}" WHERE "{key}" IN '
        self._lookups: dict[int, str] = {}

    def values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        raw = (*(row[c] for c in self._columns), *self._defaults)
        return tuple(
            value if value is None or p is None else p(value)
            for value, p in zip(raw, self._processors, strict=True)
        )

    def existing(self, count: int) -> str:
        sql = self._lookups.get(count)
        if sql is None:
            sql = self._lookups[count] = self._lookup + "(" + ", ".join("?" * count) + ")"
        return sql


_IMMUTABLE = frozenset({"id", "created_at", "received_at", "worker", "payload", "source_ip"})

# What a signal is, as the webhook recorded it; a decision written first may lack any of them.
_SIGNAL_FACTS = ("strategy", "ticker", "exchange", "action", "source_ip", "payload")


def _fill_signal(columns: tuple[str, ...]) -> Any:
    """Set the facts the stored signal lacks (NULL) from the given row, and nothing else."""
    s = tables.signals
    facts = [c for c in _SIGNAL_FACTS if c in columns]
    if not facts:
        return None
    return (
        s.update()
        .where(
            s.c.signal_key == bindparam("new_signal_key"),
            or_(*(s.c[c].is_(None) for c in facts)),
        )
        .values({c: func.coalesce(s.c[c], bindparam(f"new_{c}", type_=s.c[c].type)) for c in facts})
    )


def _order_event(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_order_id": row["client_order_id"],
        "status": row["status"],
        "filled_quantity": row["filled_quantity"],
        "detail": row.get("reason"),
        "at": row["updated_at"],
    }


def _is_duplicate_key(exc: IntegrityError) -> bool:
    args = getattr(exc.orig, "args", ())
    return bool(args) and args[0] == 1062


def _describe(exc: BaseException) -> str:
    """A short reason without the statement or its parameters (which may hold account data)."""
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0][:160] if str(orig) else ''}"


class DeploymentRoles:
    """Which worker holds the active role, with an epoch that every switch increments."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def active(self) -> tuple[str, int] | None:
        rows = await self._store.rows(
            select(tables.deployment.c.worker, tables.deployment.c.epoch).where(
                tables.deployment.c.role == "active"
            )
        )
        return (rows[0]["worker"], int(rows[0]["epoch"])) if rows else None

    async def set_active(self, worker: str, actor: str, now: datetime) -> int:
        """Make ``worker`` active; returns the new epoch (previous + 1)."""
        d = tables.deployment

        async def run(conn: Any) -> int:
            current = (
                await conn.execute(select(d.c.epoch).where(d.c.role == "active").with_for_update())
            ).scalar_one_or_none()
            epoch = 1 if current is None else int(current) + 1
            if current is None:
                await conn.execute(
                    d.insert().values(
                        role="active", worker=worker, epoch=epoch, updated_by=actor, updated_at=now
                    )
                )
            else:
                await conn.execute(
                    d.update()
                    .where(d.c.role == "active")
                    .values(worker=worker, epoch=epoch, updated_by=actor, updated_at=now)
                )
            await conn.execute(
                tables.audit_log.insert().values(
                    at=now,
                    actor=actor[:100],
                    action="role.set_active",
                    target=worker,
                    detail=json.dumps({"epoch": epoch}),
                )
            )
            return epoch

        return int(await self._store.run(run, write=True))
