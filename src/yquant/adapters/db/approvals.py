"""Orders held for manual approval: the awaiting list and the decision, one compare-and-set.

A decision moves the order row from ``awaiting_approval`` only if it is still there (whichever
of the dashboard, the command line, Telegram or the timeout comes first wins; the others find
it decided), and writes its order event and its audit entry in the same transaction: there is
no decision without a record of who made it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from yquant.adapters.db import tables
from yquant.adapters.db.rows import order_from_row
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Order, OrderStatus
from yquant.domain.reasons import ReasonCode

o = tables.orders
AWAITING = OrderStatus.AWAITING_APPROVAL.value


class SqlApprovals:
    """Implements `yquant.ports.ApprovalRecords`."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def order(self, client_order_id: str) -> Order | None:
        rows = await self._store.rows(select(o).where(o.c.client_order_id == client_order_id))
        return order_from_row(rows[0]) if rows else None

    async def awaiting(self) -> list[Order]:
        stmt = select(o).where(o.c.status == AWAITING).order_by(o.c.id)
        return [order_from_row(r) for r in await self._store.rows(stmt)]

    async def settle(
        self, before: Order, after: Order, *, actor: str, detail: dict[str, Any]
    ) -> bool:
        cid = before.client_order_id
        now = after.updated_at

        async def run(conn: Any) -> bool:
            moved = await conn.execute(
                o.update()
                .where(o.c.client_order_id == cid, o.c.status == AWAITING)
                .values(
                    status=after.status.value,
                    status_rank=after.status_rank,
                    reason=after.reason,
                    updated_at=now,
                )
            )
            if moved.rowcount != 1:
                return False
            await conn.execute(
                tables.order_events.insert().values(
                    client_order_id=cid,
                    status=after.status.value,
                    filled_quantity=after.filled_quantity,
                    detail=(after.reason or "")[:300] or None,
                    at=now,
                )
            )
            await conn.execute(
                tables.audit_log.insert().values(
                    at=now,
                    actor=actor[:100],
                    action="order_approval",
                    target=cid,
                    detail=json.dumps(
                        {"from": before.status.value, "to": after.status.value, **detail},
                        ensure_ascii=False,
                        default=str,
                    ),
                )
            )
            return True

        return bool(await self._store.run(run, write=True))

    async def approved_unsent(self, since: datetime, before: datetime) -> list[Order]:
        stmt = (
            select(o)
            .where(
                o.c.status == OrderStatus.NEW.value,
                o.c.reason == ReasonCode.APPROVED.value,
                o.c.updated_at >= since,
                o.c.updated_at < before,
            )
            .order_by(o.c.id)
        )
        return [order_from_row(r) for r in await self._store.rows(stmt)]
