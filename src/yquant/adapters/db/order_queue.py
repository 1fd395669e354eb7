"""The queue of orders that wait for their market's next session, in the system of record.

Both workers share the database, so the queue lives there (not in a worker's own Valkey). A row
is released by exactly one claimer: `claim` is a compare-and-set on (state, claim token), and
`finish` succeeds only for the claim's holder. A claim left behind by a crashed claimer can be
taken over once its lease has run out.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from yquant.adapters.db import tables
from yquant.adapters.db.queries import QUEUED_BY_IDS
from yquant.adapters.db.store import SqlStore
from yquant.adapters.messages import alert_from_message
from yquant.domain.reasons import ReasonCode
from yquant.ports import (  # noqa: F401  (the states, spelled once in the ports)
    CANCELLED,
    EXPIRED,
    PENDING,
    QUEUED,
    REJECTED,
    RELEASED,
    RELEASING,
)

q = tables.queued_orders


class SqlOrderQueue:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def due(self, now: datetime, lease_s: float, limit: int = 100) -> list[dict[str, Any]]:
        """Rows whose open has come, and claims whose holder vanished (lease run out); each
        row's ``alert`` is the `Alert` to decide again."""
        stale = now - timedelta(seconds=lease_s)
        stmt = (
            select(q)
            .where(
                or_(
                    and_(q.c.state == QUEUED, q.c.release_after <= now),
                    and_(q.c.state == RELEASING, q.c.claimed_at < stale),
                )
            )
            .order_by(q.c.queued_at, q.c.id)
            .limit(limit)
        )
        rows = await self._store.rows(stmt)
        return [{**row, "alert": alert_from_message(json.loads(row["alert"]))} for row in rows]

    async def claim(
        self, row: dict[str, Any], token: str, epoch: int, now: datetime, lease_s: float
    ) -> bool:
        """Take ``row`` for release; exactly one caller wins."""
        if row["state"] == QUEUED:
            cond = q.c.state == QUEUED
        else:
            cond = and_(
                q.c.state == RELEASING,
                q.c.claim_token == row["claim_token"],
                q.c.claimed_at < now - timedelta(seconds=lease_s),
            )
        stmt = (
            update(q)
            .where(q.c.id == row["id"], cond)
            .values(state=RELEASING, claim_token=token, claimed_at=now, epoch=epoch, updated_at=now)
        )
        return await self._changed(stmt)

    async def finish(
        self,
        row_id: int,
        token: str,
        state: str,
        reason: ReasonCode | None,
        detail: str,
        now: datetime,
    ) -> bool:
        stmt = (
            update(q)
            .where(q.c.id == row_id, q.c.state == RELEASING, q.c.claim_token == token)
            .values(state=state, reason=reason, detail=detail[:300] or None, updated_at=now)
        )
        return await self._changed(stmt)

    async def reschedule(
        self, row_id: int, release_after: datetime, expires_at: datetime, now: datetime
    ) -> bool:
        stmt = (
            update(q)
            .where(q.c.id == row_id, q.c.state == QUEUED)
            .values(release_after=release_after, expires_at=expires_at, updated_at=now)
        )
        return await self._changed(stmt)

    async def requeue(
        self, row_id: int, token: str, release_after: datetime, expires_at: datetime, now: datetime
    ) -> bool:
        stmt = (
            update(q)
            .where(q.c.id == row_id, q.c.state == RELEASING, q.c.claim_token == token)
            .values(
                state=QUEUED,
                reason=None,
                claim_token=None,
                claimed_at=None,
                release_after=release_after,
                expires_at=expires_at,
                updated_at=now,
            )
        )
        return await self._changed(stmt)

    async def expire(self, row_id: int, reason: ReasonCode, detail: str, now: datetime) -> bool:
        stmt = (
            update(q)
            .where(q.c.id == row_id, q.c.state == QUEUED)
            .values(state=EXPIRED, reason=reason, detail=detail[:300], updated_at=now)
        )
        return await self._changed(stmt)

    async def cancel(self, client_order_id: str, reason: str, now: datetime) -> bool:
        stmt = (
            update(q)
            .where(q.c.client_order_id == client_order_id, q.c.state == QUEUED)
            .values(
                state=CANCELLED,
                reason=ReasonCode.CANCELLED_BY_OPERATOR,
                detail=reason[:300],
                updated_at=now,
            )
        )
        return await self._changed(stmt)

    async def for_signal(self, signal_key: str) -> list[dict[str, Any]]:
        return await self._store.rows(select(q).where(q.c.signal_key == signal_key))

    async def existing(self, client_order_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not client_order_ids:
            return {}
        rows = await self._store.rows(QUEUED_BY_IDS, {"ids": client_order_ids})
        return {r["client_order_id"]: r for r in rows}

    async def listing(self, limit: int = 50, pending_only: bool = False) -> list[dict[str, Any]]:
        stmt = select(q).order_by(q.c.id.desc()).limit(limit)
        if pending_only:
            stmt = stmt.where(q.c.state.in_(PENDING))
        return await self._store.rows(stmt)

    async def _changed(self, stmt: Any) -> bool:
        async def run(conn: Any) -> bool:
            return bool((await conn.execute(stmt)).rowcount)

        return bool(await self._store.run(run, write=True))
