"""What the engine reads from the system of record to check risk, in one round trip.

Kept to one connection and one timeout per signal and account, so that a hung database costs a
decision one bounded wait (the engine then decides from what it remembers).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from yquant.adapters.db import tables
from yquant.adapters.db.queries import ORDERS_BY_IDS, SIGNALS_BY_KEYS, WORKING_STATUSES
from yquant.adapters.db.rows import order_from_row
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Order, Side
from yquant.domain.positions import WorkingOrder
from yquant.ports import Activity


class SqlEngineState:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def activity(
        self,
        *,
        account: str,
        ticker: str,
        since: datetime,
        exclude: str | None = None,
    ) -> Activity:
        """Orders of ``account`` since ``since`` and its working orders in ``ticker``.
        ``exclude`` leaves one order out (the order being re-decided)."""
        o = tables.orders
        recent = (
            select(func.count())
            .select_from(o)
            .where(o.c.account == account, o.c.created_at >= since)
        )
        working = select(
            o.c.client_order_id,
            o.c.strategy,
            o.c.side,
            o.c.quantity,
            o.c.filled_quantity,
            o.c.created_at,
        ).where(o.c.account == account, o.c.ticker == ticker, o.c.status.in_(WORKING_STATUSES))
        if exclude is not None:
            recent = recent.where(o.c.client_order_id != exclude)
            working = working.where(o.c.client_order_id != exclude)

        def run(conn: Any) -> Activity:
            count = conn.execute(recent).scalar_one()
            rows = conn.execute(working)
            return Activity(
                orders_last_minute=int(count),
                working=tuple(
                    WorkingOrder(
                        client_order_id=r.client_order_id,
                        strategy=r.strategy,
                        side=Side(r.side),
                        remaining=Decimal(str(r.quantity)) - Decimal(str(r.filled_quantity)),
                        created_at=r.created_at,
                    )
                    for r in rows
                ),
            )

        return await self._store.read(run)

    async def orders(self, client_order_ids: list[str]) -> dict[str, Order]:
        if not client_order_ids:
            return {}
        rows = await self._store.rows(ORDERS_BY_IDS, {"ids": client_order_ids})
        return {r["client_order_id"]: order_from_row(r) for r in rows}

    async def signal(self, signal_key: str) -> dict[str, Any] | None:
        s = tables.signals
        rows = await self._store.rows(select(s).where(s.c.signal_key == signal_key))
        return rows[0] if rows else None

    async def signals(self, signal_keys: list[str]) -> dict[str, dict[str, Any]]:
        if not signal_keys:
            return {}
        rows = await self._store.rows(SIGNALS_BY_KEYS, {"keys": signal_keys})
        return {r["signal_key"]: r for r in rows}

    async def orders_for_signal(self, signal_key: str) -> list[dict[str, Any]]:
        o = tables.orders
        return await self._store.rows(select(o).where(o.c.signal_key == signal_key))
