"""Running the idempotent, order-independent writes inside one transaction.

Every write is one of these operations, each safe to repeat and to replay late:

    signal.insert   insert if the signal key is new; tells whether it was new (dedupe); on a
                    repeat, fills in the facts the row lacks (its decision may have come first)
    signal.advance  upsert that only moves a signal forward (accepted → ordered/rejected)
    order.insert    insert if the client order id is new
    order.advance   upsert that only moves an order forward (by status rank, then fills)
    fill.insert     insert if the fill id is new
    account.upsert  the account's newest description wins
    queue.insert    insert a queued order if its client order id is new
    price.record    upsert of an instrument's last price that only a later price moves

Each is a single statement (`statements`; a repeated signal insert adds one UPDATE). A run of
plain inserts of the same op over the same columns goes as one lookup and one executemany.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from yquant.adapters.db import tables
from yquant.adapters.db.engine import sqlite_driver
from yquant.adapters.db.statements import OPS, PlainInsert, Statements


class Writes:
    """The write operations of one dialect, run on a connection inside its transaction."""

    def __init__(self, dialect: str) -> None:
        self._dialect = dialect
        self._statements = Statements(dialect)
        self._plain_inserts: dict[tuple[str, tuple[str, ...]], PlainInsert] = {}

    def write_all(self, conn: Connection, items: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        """Run ``items`` in order on ``conn``; for each, whether it inserted a new row or moved
        one forward."""
        results: list[bool] = []
        start = 0
        while start < len(items):
            end = self._run_end(items, start)
            op = items[start][0]
            # On SQLite even one insert goes the cheaper way of a run.
            if end - start > 1 or (self._dialect == "sqlite" and _is_plain_insert(op)):
                rows = [row for _, row in items[start:end]]
                results.extend(self._insert_run(conn, op, rows))
            else:
                results.append(self._apply_one(conn, *items[start]))
            start = end
        return results

    def replay_all(self, conn: Connection, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Run ``items`` in order on ``conn`` where nobody needs each write's result (the
        journal's replay): besides the runs of inserts, a run of one upsert over the same
        columns goes as one executemany too."""
        start = 0
        while start < len(items):
            op, row = items[start]
            monotonic = OPS[op][2]
            end = _same_run_end(items, start) if monotonic else self._run_end(items, start)
            if end - start == 1:
                self._apply_one(conn, op, row)
            elif not monotonic:
                self._insert_run(conn, op, [r for _, r in items[start:end]])
            else:
                rows = [r for _, r in items[start:end]]
                conn.execute(self._statements.get(op, tuple(row)), rows)
                if OPS[op][0] is tables.orders:
                    events = [_order_event(r) for r in rows]
                    conn.execute(self._statements.get("order.event", ()), events)
            start = end

    @staticmethod
    def _run_end(items: list[tuple[str, dict[str, Any]]], start: int) -> int:
        """End of the run of plain inserts that can go as one statement, beginning at ``start``:
        the same insert op over the same columns."""
        op, row = items[start]
        end = start + 1
        if not _is_plain_insert(op):
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
            self._driver_insert(op, tuple(fresh[0]), conn) if self._dialect == "sqlite" else None
        )
        if driver is not None:
            stored = _insert_run_sqlite(conn, driver, key, fresh)
        else:
            found = conn.execute(
                self._statements.get(op + ".existing", ()), {"keys": [r[key] for r in fresh]}
            )
            existing = set(found.scalars())
            insert = [r for r in fresh if r[key] not in existing]
            if insert:
                conn.execute(self._statements.get(op + ".plain", ()), insert)
            stored = {r[key] for r in insert}
        if op == "signal.insert":
            for row in fresh:
                if row[key] not in stored:
                    self._fill_facts(conn, row)
        return [new and row[key] in stored for new, row in zip(results, rows, strict=True)]

    def _driver_insert(
        self, op: str, columns: tuple[str, ...], conn: Connection
    ) -> PlainInsert | None:
        """The driver-level insert for ``op`` over ``columns``, or None where only SQLAlchemy
        can fill in a left-out column."""
        plain = self._plain_inserts.get((op, columns))
        if plain is None:
            table, key, _ = OPS[op]
            plain = self._plain_inserts[(op, columns)] = PlainInsert(
                table, key, columns, conn.dialect
            )
        return plain if plain.usable else None

    def _apply_one(self, conn: Connection, op: str, row: dict[str, Any]) -> bool:
        table, _key, monotonic = OPS[op]
        stmt = self._statements.get(op, tuple(row))
        if monotonic or self._dialect == "sqlite":
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
            conn.execute(self._statements.get("order.event", ()), _order_event(row))
        if op == "signal.insert" and not changed:
            self._fill_facts(conn, row)
        return changed

    def _fill_facts(self, conn: Connection, row: dict[str, Any]) -> None:
        """For a signal insert that found its key taken: the engine's decision can reach the
        database before the insert (which waited in a journal), so the facts only the insert
        carries are added; the decision is kept."""
        facts = self._statements.get("signal.fill", tuple(row))
        if facts is not None:
            conn.execute(facts, {f"new_{c}": v for c, v in row.items()})


def _same_run_end(items: list[tuple[str, dict[str, Any]]], start: int) -> int:
    """End of the run of the same op over the same columns beginning at ``start``, each key
    once (an order's event is read from its row after the run: a second write for the same
    key in the run would hide the first one's step)."""
    op, row = items[start]
    key = OPS[op][1]
    keys = {row[key]}
    end = start + 1
    while end < len(items) and items[end][0] == op and items[end][1].keys() == row.keys():
        if items[end][1][key] in keys:
            break
        keys.add(items[end][1][key])
        end += 1
    return end


def _is_plain_insert(op: str) -> bool:
    """Whether ``op`` inserts a row if new and nothing else (orders also record an event)."""
    table, _key, monotonic = OPS[op]
    return not monotonic and table is not tables.orders


def _insert_run_sqlite(
    conn: Connection, plain: PlainInsert, key: str, fresh: list[dict[str, Any]]
) -> set[Any]:
    """The insert run on the driver's own cursor (`sqlite_driver`): SQLAlchemy's handling of
    each statement and each row cost more than the inserts themselves. `PlainInsert` applies
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


def _order_event(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_order_id": row["client_order_id"],
        "status": row["status"],
        "filled_quantity": row["filled_quantity"],
        "detail": row.get("reason"),
        "at": row["updated_at"],
    }


def _is_duplicate_key(exc: IntegrityError) -> bool:
    args: tuple[object, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] == 1062
