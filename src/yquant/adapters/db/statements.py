"""The write statements, one per (operation, columns), built once per dialect.

Each operation is a single statement (ON CONFLICT on SQLite, ON DUPLICATE KEY on MariaDB), so
writes from several processes need no read-modify-write and no locks. On SQLite, plain inserts
also go through `PlainInsert` on the driver's own cursor.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, and_, bindparam, case, func, literal_column, or_, select, text
from sqlalchemy.dialects import mysql, sqlite

from yquant.adapters.db import tables
from yquant.domain.model import TRANSITIONS, OrderStatus

OPS: dict[str, tuple[Table, str, bool]] = {
    # op: (table, natural key column, monotonic advance?)
    "signal.insert": (tables.signals, "signal_key", False),
    "signal.advance": (tables.signals, "signal_key", True),
    "order.insert": (tables.orders, "client_order_id", False),
    "order.advance": (tables.orders, "client_order_id", True),
    "fill.insert": (tables.fills, "fill_id", False),
    "account.upsert": (tables.accounts, "name", True),
    "queue.insert": (tables.queued_orders, "client_order_id", False),
    # Keyed by (market, ticker); the ticker alone orders a key's writes in the journal.
    "price.record": (tables.last_prices, "ticker", True),
}

_IMMUTABLE = frozenset({"id", "created_at", "received_at", "worker", "payload", "source_ip"})

# What a signal is, as the webhook recorded it; a decision written first may lack any of them.
_SIGNAL_FACTS = ("strategy", "ticker", "exchange", "action", "source_ip", "payload")


class Statements:
    """The statements of one dialect (``"sqlite"`` or ``"mysql"``), cached by (op, columns).

    Besides the ops of `OPS`: ``<op>.existing`` (which keys of a list exist), ``<op>.plain``
    (a plain INSERT), ``signal.fill`` (the facts a stored signal lacks) and ``order.event``
    (the state change an orders row now shows)."""

    def __init__(self, dialect: str) -> None:
        self._dialect = dialect
        self._cache: dict[tuple[str, tuple[str, ...]], Any] = {}

    def get(self, op: str, columns: tuple[str, ...]) -> Any:
        """The statement for ``op`` over ``columns``, built once and executed with parameters
        (building it per row, values and all, costs more than the database call)."""
        cache_key = (op, columns)
        stmt = self._cache.get(cache_key)
        if stmt is None:
            stmt = self._build(op, columns)
            self._cache[cache_key] = stmt
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
            # quantity); a late replay that did not move the row records nothing. A step
            # already recorded is skipped without a word: on MariaDB by a no-op ON DUPLICATE
            # KEY UPDATE, not INSERT IGNORE, whose duplicate-key warning the driver logs (one
            # per replayed write).
            verb, tail = (
                ("INSERT OR IGNORE", "")
                if self._dialect == "sqlite"
                else ("INSERT", " ON DUPLICATE KEY UPDATE order_events.id = order_events.id")
            )
            return text(
                f"{verb} INTO order_events (client_order_id, status, filled_quantity, detail, at)"
                " SELECT client_order_id, status, filled_quantity, :detail, :at FROM orders"
                " WHERE client_order_id = :client_order_id AND status = :status"
                f" AND filled_quantity = :filled_quantity{tail}"
            ).bindparams(
                bindparam("at", type_=tables.UtcDateTime()),
                bindparam("filled_quantity", type_=tables.Quantity()),
            )
        table, key, monotonic = OPS[op]
        if not monotonic:
            if self._dialect == "sqlite":
                return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
            # Not INSERT IGNORE (it would also turn bad data into warnings) and not a no-op
            # ON DUPLICATE KEY (found rows count as affected): a plain INSERT, duplicate caught.
            return mysql.insert(table)
        return self._advance(table, key, columns)

    def _advance(self, table: Table, key: str, columns: tuple[str, ...]) -> Any:
        """Upsert that applies only if the new row is at least as far along as the stored one."""
        if table is tables.last_prices:
            return self._newer_price(columns)
        if table is tables.orders:

            def newer(new: Any) -> Any:
                # The domain's transition table, spelled out: the stored status may move to the
                # new one (a final state is never left, UNKNOWN is left for the broker's answer
                # whatever it is), or it stays and the filled quantity does not shrink.
                # The statuses are written into the statement (our own status words), not
                # bound: executemany (a replayed batch) refuses an expanding list, and the
                # MariaDB driver's multi-row INSERT takes no parameter after VALUES.
                def word(status: OrderStatus) -> Any:
                    return literal_column(f"'{status.value}'")

                moves = [
                    and_(
                        table.c.status == word(current),
                        new.status.in_(
                            [word(n) for n in sorted(targets - {current}, key=lambda n: n.value)]
                        ),
                    )
                    for current, targets in TRANSITIONS.items()
                    if targets - {current}
                ]
                return or_(
                    *moves,
                    and_(
                        new.status == table.c.status,
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
            if self._dialect == "sqlite":
                lite = sqlite.insert(table)
                return lite.on_conflict_do_update(
                    index_elements=[key], set_={c: lite.excluded[c] for c in moving}
                )
            ins = mysql.insert(table)
            return ins.on_duplicate_key_update([(c, ins.inserted[c]) for c in moving])
        if self._dialect == "sqlite":
            lite = sqlite.insert(table)
            return lite.on_conflict_do_update(
                index_elements=[key],
                set_={c: lite.excluded[c] for c in moving},
                where=newer(lite.excluded),
            )
        ins = mysql.insert(table)
        cond = newer(ins.inserted)
        # MariaDB evaluates assignments left to right against the updated row: the columns the
        # condition reads (signals: the rank; orders: the filled quantity, then the status) are
        # assigned last, so each assignment still sees the condition as it was.
        read = ("status_rank",) if table is not tables.orders else ("filled_quantity", "status")
        ordered = [c for c in moving if c not in read] + [c for c in read if c in moving]
        return ins.on_duplicate_key_update(
            [(c, case((cond, ins.inserted[c]), else_=table.c[c])) for c in ordered]
        )

    def _newer_price(self, columns: tuple[str, ...]) -> Any:
        """The last price of an instrument: a price seen later than the stored one replaces it,
        an older or equally old one changes nothing."""
        table = tables.last_prices
        moving = [c for c in columns if c not in ("market", "ticker")]
        if self._dialect == "sqlite":
            lite = sqlite.insert(table)
            return lite.on_conflict_do_update(
                index_elements=["market", "ticker"],
                set_={c: lite.excluded[c] for c in moving},
                where=lite.excluded.at > table.c.at,
            )
        ins = mysql.insert(table)
        cond = ins.inserted.at > table.c.at
        # Left to right against the updated row: ``at``, which the condition reads, goes last.
        ordered = [c for c in moving if c != "at"] + [c for c in moving if c == "at"]
        return ins.on_duplicate_key_update(
            [(c, case((cond, ins.inserted[c]), else_=table.c[c])) for c in ordered]
        )


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


class PlainInsert:
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
