"""The liquidations in the system of record (`yquant.ports.LiquidationRecords`): one row per
liquidation, its filter and outcome as JSON; its orders carry ``orders.liquidation_id``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.ports import LiquidationRecord

t = tables.liquidations


class SqlLiquidations:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def add(self, record: LiquidationRecord) -> None:
        async def run(conn: Any) -> None:
            await conn.execute(
                insert(t).values(
                    id=record.id,
                    requested_by=record.requested_by[:100],
                    source=record.source[:120],
                    requested_at=record.requested_at,
                    filters=_json(record.filters),
                    at_open=record.at_open,
                    status=record.status,
                    reason=record.reason,
                    detail=_json(record.detail),
                    updated_at=record.updated_at,
                )
            )

        await self._store.run(run, write=True)

    async def finish(
        self,
        liquidation_id: str,
        *,
        status: str,
        reason: str | None,
        detail: dict[str, Any],
        now: datetime,
    ) -> None:
        async def run(conn: Any) -> None:
            await conn.execute(
                update(t)
                .where(t.c.id == liquidation_id)
                .values(status=status, reason=reason, detail=_json(detail), updated_at=now)
            )

        await self._store.run(run, write=True)

    async def get(self, liquidation_id: str) -> LiquidationRecord | None:
        rows = await self._store.rows(select(t).where(t.c.id == liquidation_id))
        return _record(rows[0]) if rows else None

    async def recent(self, limit: int = 20) -> list[LiquidationRecord]:
        stmt = select(t).order_by(t.c.requested_at.desc(), t.c.id.desc()).limit(limit)
        return [_record(r) for r in await self._store.rows(stmt)]

    async def order_ids(self, liquidation_id: str) -> list[str]:
        o = tables.orders
        stmt = (
            select(o.c.client_order_id).where(o.c.liquidation_id == liquidation_id).order_by(o.c.id)
        )
        return [r["client_order_id"] for r in await self._store.rows(stmt)]


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _record(row: dict[str, Any]) -> LiquidationRecord:
    return LiquidationRecord(
        id=row["id"],
        requested_by=row["requested_by"],
        source=row["source"],
        requested_at=row["requested_at"],
        filters=json.loads(row["filters"] or "{}"),
        at_open=bool(row["at_open"]),
        status=row["status"],
        reason=row["reason"],
        detail=json.loads(row["detail"] or "{}"),
        updated_at=row["updated_at"],
    )
