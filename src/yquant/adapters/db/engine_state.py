"""What the engine reads from the system of record to check risk, in one round trip.

Kept to one connection and one timeout per signal and account, so that a hung database costs a
decision one bounded wait (the engine then decides from what it remembers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from yquant.adapters.db import tables
from yquant.adapters.db.store import WORKING_STATUSES, SqlStore


@dataclass(frozen=True, slots=True)
class Activity:
    orders_last_minute: int
    open_buy: bool
    open_sell: bool
    baseline_equity: Decimal | None  # the last daily snapshot's equity before today


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
        """Orders of ``account`` since ``since``, its working orders in ``ticker``, and the
        equity of its last snapshot before ``today``. ``exclude`` leaves one order out (the
        order being re-decided)."""
        o = tables.orders
        s = tables.account_snapshots
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
        baseline = (
            select(s.c.equity)
            .where(s.c.account == account, s.c.currency == currency, s.c.day < today)
            .order_by(s.c.day.desc())
            .limit(1)
        )

        async def run(conn: Any) -> Activity:
            count = (await conn.execute(recent)).scalar_one()
            sides = {r[0] for r in await conn.execute(working)}
            equity = (await conn.execute(baseline)).scalar_one_or_none()
            return Activity(
                orders_last_minute=int(count),
                open_buy="buy" in sides,
                open_sell="sell" in sides,
                baseline_equity=None if equity is None else Decimal(str(equity)),
            )

        return await self._store.run(run)  # type: ignore[no-any-return]

    async def orders(self, client_order_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not client_order_ids:
            return {}
        o = tables.orders
        rows = await self._store.rows(select(o).where(o.c.client_order_id.in_(client_order_ids)))
        return {r["client_order_id"]: r for r in rows}

    async def signal(self, signal_key: str) -> dict[str, Any] | None:
        s = tables.signals
        rows = await self._store.rows(select(s).where(s.c.signal_key == signal_key))
        return rows[0] if rows else None

    async def orders_for_signal(self, signal_key: str) -> list[dict[str, Any]]:
        o = tables.orders
        return await self._store.rows(select(o).where(o.c.signal_key == signal_key))
