"""The notifier's durable queue (`notifications` table): a delivery per (notice id, channel).

The unique (event_id, channel) key is the dedupe: a notice handed over again (a stream entry
read again after a restart, the same shared fact seen by both workers) adds nothing. Both
workers' notifiers read this table; a lease (owner, until) keeps them off the same row, and a
lease left by a notifier that died lapses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import mysql, sqlite

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.domain import notices
from yquant.domain.notices import Notice
from yquant.ports import Delivery

n = tables.notifications
PENDING, SENT, DEAD = "pending", "sent", "dead"


class SqlNotifications:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def enqueue(self, notice: Notice, channels: Sequence[str], now: datetime) -> int:
        if not channels:
            return 0
        payload = json.dumps(notices.to_dict(notice), ensure_ascii=False, separators=(",", ":"))
        rows = [
            {
                "event_id": notice.id,
                "channel": channel,
                "kind": notice.kind.value,
                "level": int(notice.level),
                "shared": notice.shared,
                "payload": payload,
                "status": PENDING,
                "attempts": 0,
                "next_at": now,
                "created_at": now,
            }
            for channel in channels
        ]

        async def run(conn: Any) -> int:
            # Those already queued are left out first; a race with the other worker's notifier
            # inserting the same row meanwhile is caught by the unique key (a no-op update on
            # MariaDB, not INSERT IGNORE, which would also turn bad data into warnings).
            held = set(
                (await conn.execute(select(n.c.channel).where(n.c.event_id == notice.id))).scalars()
            )
            added = 0
            for row in rows:
                if row["channel"] in held:
                    continue
                if self._store.dialect == "sqlite":
                    stmt: Any = sqlite.insert(n).values(**row).on_conflict_do_nothing()
                else:
                    ins = mysql.insert(n).values(**row)
                    stmt = ins.on_duplicate_key_update(event_id=ins.inserted.event_id)
                added += max((await conn.execute(stmt)).rowcount, 0)
            return added

        return await self._store.run(run, write=True)

    async def take_due(
        self, owner: str, now: datetime, lease_s: float, limit: int, *, shared: bool
    ) -> list[Delivery]:
        free = or_(n.c.lease_until.is_(None), n.c.lease_until < now)
        query = (
            select(n.c.id, n.c.channel, n.c.payload, n.c.attempts)
            .where(n.c.status == PENDING, n.c.next_at <= now, free)
            .order_by(n.c.next_at, n.c.id)
            .limit(limit)
        )
        if not shared:
            query = query.where(n.c.shared.is_(False))
        until = now + timedelta(seconds=lease_s)

        async def run(conn: Any) -> list[Delivery]:
            taken: list[Delivery] = []
            for row in (await conn.execute(query)).all():
                lease = (
                    update(n)
                    .where(n.c.id == row.id, n.c.status == PENDING, free)
                    .values(lease_owner=owner, lease_until=until)
                )
                if (await conn.execute(lease)).rowcount == 1:
                    notice = notices.from_dict(json.loads(row.payload))
                    taken.append(Delivery(row.id, row.channel, notice, row.attempts))
            return taken

        return await self._store.run(run, write=True)

    async def sent(self, delivery_id: int, receipt: str | None, now: datetime) -> None:
        await self._set(
            delivery_id,
            status=SENT,
            attempts=n.c.attempts + 1,
            sent_at=now,
            receipt=None if receipt is None else receipt[:100],
            lease_owner=None,
            lease_until=None,
        )

    async def retry(self, delivery_id: int, error: str, at: datetime) -> None:
        await self._set(
            delivery_id,
            attempts=n.c.attempts + 1,
            next_at=at,
            last_error=error[:500],
            lease_owner=None,
            lease_until=None,
        )

    async def dead(self, delivery_id: int, error: str, now: datetime) -> None:
        await self._set(
            delivery_id,
            status=DEAD,
            attempts=n.c.attempts + 1,
            last_error=error[:500],
            next_at=now,
            lease_owner=None,
            lease_until=None,
        )

    async def dead_letters(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self._store.rows(
            select(
                n.c.id,
                n.c.event_id,
                n.c.channel,
                n.c.kind,
                n.c.attempts,
                n.c.last_error,
                n.c.created_at,
                n.c.next_at,
            )
            .where(n.c.status == DEAD)
            .order_by(n.c.next_at.desc(), n.c.id.desc())
            .limit(limit)
        )
        return [{**r, "failed_at": r.pop("next_at")} for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self._store.rows(select(n.c.status, func.count()).group_by(n.c.status))
        found = {str(r["status"]): int(r["count"]) for r in _counted(rows)}
        return {status: found.get(status, 0) for status in (PENDING, SENT, DEAD)}

    async def fill_context(self, client_order_id: str) -> tuple[dict[str, Any], Decimal] | None:
        o, f = tables.orders, tables.fills

        def run(conn: Any) -> tuple[dict[str, Any], Decimal] | None:
            order = conn.execute(select(o).where(o.c.client_order_id == client_order_id)).first()
            if order is None:
                return None
            total = conn.execute(
                select(func.coalesce(func.sum(f.c.quantity), 0)).where(
                    f.c.client_order_id == client_order_id
                )
            ).scalar_one()
            return dict(order._mapping), Decimal(str(total))  # noqa: SLF001 - public API

        return await self._store.read(run)

    async def _set(self, delivery_id: int, **values: Any) -> None:
        stmt = update(n).where(n.c.id == delivery_id).values(**values)

        async def run(conn: Any) -> None:
            await conn.execute(stmt)

        await self._store.run(run, write=True)


def _counted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of (status, count(*)) with the count under ``count`` whatever the driver names it."""
    out = []
    for r in rows:
        values = list(r.values())
        out.append({"status": values[0], "count": values[1]})
    return out


async def trades_since(store: SqlStore, currency: str, since: datetime, until: datetime) -> int:
    """Fills in ``currency`` between ``since`` and ``until`` (a market's session)."""
    f = tables.fills
    rows = await store.rows(
        select(func.count().label("n")).where(
            f.c.currency == currency, f.c.filled_at >= since, f.c.filled_at <= until
        )
    )
    return int(rows[0]["n"]) if rows else 0


async def last_alerts(store: SqlStore) -> dict[str, datetime]:
    """Each strategy's latest alert (received, whatever became of it)."""
    s = tables.signals
    rows = await store.rows(
        select(s.c.strategy, func.max(s.c.received_at).label("last"))
        .where(s.c.strategy.is_not(None))
        .group_by(s.c.strategy)
    )
    return {str(r["strategy"]): r["last"] for r in rows if r["last"] is not None}
