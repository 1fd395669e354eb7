"""What the engine reads from the system of record to check risk, in one round trip.

Kept to one connection and one timeout per signal and account, so that a hung database costs a
decision one bounded wait (the engine then decides from what it remembers).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import mysql, sqlite

from yquant.adapters.db import tables
from yquant.adapters.db.queries import WORKING_STATUSES
from yquant.adapters.db.rows import order_from_row
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Order
from yquant.ports import Activity, Baseline


class SqlEngineState:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def activity(
        self,
        *,
        account: str,
        ticker: str,
        since: datetime,
        currency: str,
        today: date,
        exclude: str | None = None,
    ) -> Activity:
        """Orders of ``account`` since ``since``, its working orders in ``ticker``, and its
        baseline for ``today`` in ``currency`` if recorded. ``exclude`` leaves one order out (the
        order being re-decided)."""
        o = tables.orders
        recent = (
            select(func.count())
            .select_from(o)
            .where(o.c.account == account, o.c.created_at >= since)
        )
        working = (
            select(o.c.side)
            .where(o.c.account == account, o.c.ticker == ticker, o.c.status.in_(WORKING_STATUSES))
            .distinct()
        )
        if exclude is not None:
            recent = recent.where(o.c.client_order_id != exclude)
            working = working.where(o.c.client_order_id != exclude)
        baseline = _baseline(account, currency, today)

        async def run(conn: Any) -> Activity:
            count = (await conn.execute(recent)).scalar_one()
            sides = {r[0] for r in await conn.execute(working)}
            return Activity(
                orders_last_minute=int(count),
                open_buy="buy" in sides,
                open_sell="sell" in sides,
                baseline=_read_baseline(await conn.execute(baseline)),
            )

        return await self._store.run(run)

    async def open_day(
        self, *, account: str, currency: str, day: date, baseline: Baseline, now: datetime
    ) -> Baseline:
        """Record ``baseline`` as the day's for ``account`` in ``currency`` unless one is
        recorded already (the first writer wins: both workers measure from the same figures);
        the day's recorded baseline."""
        s = tables.account_snapshots
        row = {
            "account": account,
            "day": day,
            "currency": currency,
            "cash": baseline.cash,
            "positions_value": baseline.positions_value,
            "equity": baseline.equity,
            "realized_pnl": None,
            "taken_at": now,
        }
        if self._store.dialect == "sqlite":
            create: Any = sqlite.insert(s).values(**row).on_conflict_do_nothing()
        else:
            ins = mysql.insert(s).values(**row)
            create = ins.on_duplicate_key_update(id=s.c.id)  # keeps the recorded row
        stored = _baseline(account, currency, day)

        async def run(conn: Any) -> Baseline:
            await conn.execute(create)
            recorded = _read_baseline(await conn.execute(stored))
            assert recorded is not None
            return recorded

        return await self._store.run(run, write=True)

    async def orders(self, client_order_ids: list[str]) -> dict[str, Order]:
        if not client_order_ids:
            return {}
        o = tables.orders
        rows = await self._store.rows(select(o).where(o.c.client_order_id.in_(client_order_ids)))
        return {r["client_order_id"]: order_from_row(r) for r in rows}

    async def signal(self, signal_key: str) -> dict[str, Any] | None:
        s = tables.signals
        rows = await self._store.rows(select(s).where(s.c.signal_key == signal_key))
        return rows[0] if rows else None

    async def orders_for_signal(self, signal_key: str) -> list[dict[str, Any]]:
        o = tables.orders
        return await self._store.rows(select(o).where(o.c.signal_key == signal_key))


def _baseline(account: str, currency: str, day: date) -> Any:
    s = tables.account_snapshots
    return select(s.c.cash, s.c.positions_value).where(
        s.c.account == account, s.c.currency == currency, s.c.day == day
    )


def _read_baseline(result: Any) -> Baseline | None:
    row = result.first()
    if row is None:
        return None
    return Baseline(Decimal(str(row.cash)), Decimal(str(row.positions_value)))
