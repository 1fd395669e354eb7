"""Scheduled orders and their runs in the system of record (implements `ScheduleRecords`).

A change of a schedule and its `audit_log` row are written in one transaction, as the users and
the kill switch are. A run is claimed by inserting its (schedule, session date) row: the unique
key refuses a second claim on either database (MariaDB makes the second insert wait for the
first to commit, then refuses it). The claim's transaction also reads the deployment row, so
that a worker that has just lost the active role claims nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market, OrderType, Side
from yquant.domain.reasons import ReasonCode
from yquant.domain.schedules import RunStatus, ScheduleAction, ScheduledOrder, TimeKind
from yquant.ports import ScheduleRun

s = tables.schedules
r = tables.schedule_runs
d = tables.deployment


class SqlSchedules:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def all(self) -> list[ScheduledOrder]:
        return [_spec(row) for row in await self._store.rows(select(s).order_by(s.c.name))]

    async def get(self, name: str) -> ScheduledOrder | None:
        rows = await self._store.rows(select(s).where(s.c.name == name))
        return _spec(rows[0]) if rows else None

    async def save(
        self, specs: Sequence[ScheduledOrder], *, actor: str, now: datetime, action: str
    ) -> list[ScheduledOrder]:
        async def run(conn: Any) -> list[ScheduledOrder]:
            saved = []
            for spec in specs:
                values = _values(spec)
                found = (
                    await conn.execute(
                        select(s.c.id, s.c.created_at)
                        .where(s.c.name == spec.name)
                        .with_for_update()
                    )
                ).first()
                if found is None:
                    result = await conn.execute(
                        insert(s).values(**values, created_at=now, updated_at=now)
                    )
                    schedule_id, created = int(result.inserted_primary_key[0]), now
                else:
                    schedule_id, created = int(found[0]), found[1]
                    await conn.execute(
                        update(s).where(s.c.id == schedule_id).values(**values, updated_at=now)
                    )
                await _audit(conn, now, actor, action, spec.name, spec.fields())
                saved.append(_with_id(spec, schedule_id, created, now))
            return saved

        result: list[ScheduledOrder] = await self._store.run(run, write=True)
        return result

    async def set_paused(
        self, name: str, paused: bool, *, actor: str, now: datetime
    ) -> ScheduledOrder | None:
        async def run(conn: Any) -> ScheduledOrder | None:
            changed = (
                await conn.execute(
                    update(s).where(s.c.name == name).values(paused=paused, updated_at=now)
                )
            ).rowcount
            if not changed:
                return None
            action = "schedule.pause" if paused else "schedule.resume"
            await _audit(conn, now, actor, action, name, {})
            row = (await conn.execute(select(s).where(s.c.name == name))).mappings().first()
            return _spec(row)

        result: ScheduledOrder | None = await self._store.run(run, write=True)
        return result

    async def remove(self, name: str, *, actor: str, now: datetime) -> bool:
        async def run(conn: Any) -> bool:
            gone = (await conn.execute(delete(s).where(s.c.name == name))).rowcount
            if gone:
                await _audit(conn, now, actor, "schedule.remove", name, {})
            return bool(gone)

        return bool(await self._store.run(run, write=True))

    async def claim(
        self,
        spec: ScheduledOrder,
        day: date,
        due_at: datetime,
        *,
        status: RunStatus,
        worker: str,
        role: tuple[str, int] | None,
        now: datetime,
        reason: ReasonCode | None = None,
        detail: str = "",
        signal_key: str | None = None,
    ) -> bool:
        assert spec.id is not None

        async def run(conn: Any) -> bool:
            row = (
                await conn.execute(select(d.c.worker, d.c.epoch).where(d.c.role == "active"))
            ).first()
            recorded = None if row is None else (str(row[0]), int(row[1]))
            if recorded != role:
                return False
            await conn.execute(
                insert(r).values(
                    schedule_id=spec.id,
                    schedule_name=spec.name,
                    session_date=day,
                    due_at=due_at,
                    status=status.value,
                    reason=reason.value if reason else None,
                    detail=detail[:300] or None,
                    signal_key=signal_key,
                    worker=worker,
                    epoch=role[1] if role else None,
                    claimed_at=now,
                    updated_at=now,
                )
            )
            return True

        try:
            return bool(await self._store.run(run, write=True))
        except IntegrityError:
            return False  # another claim of the same schedule and session date came first

    async def finish(
        self,
        schedule_id: int,
        day: date,
        *,
        status: RunStatus,
        now: datetime,
        reason: ReasonCode | None = None,
        detail: str = "",
        orders: Sequence[str] = (),
    ) -> None:
        async def run(conn: Any) -> None:
            await conn.execute(
                update(r)
                .where(r.c.schedule_id == schedule_id, r.c.session_date == day)
                .values(
                    status=status.value,
                    reason=reason.value if reason else None,
                    detail=detail[:300] or None,
                    orders=",".join(orders)[:300] or None,
                    updated_at=now,
                )
            )

        await self._store.run(run, write=True)

    async def runs(
        self, name: str | None = None, *, since: date | None = None, limit: int = 100
    ) -> list[ScheduleRun]:
        stmt = select(r).order_by(r.c.session_date.desc(), r.c.id.desc()).limit(limit)
        if name is not None:
            stmt = stmt.where(r.c.schedule_name == name)
        if since is not None:
            stmt = stmt.where(r.c.session_date >= since)
        return [_run(row) for row in await self._store.rows(stmt)]

    async def claimed_on(self, days: Sequence[date]) -> set[tuple[int, date]]:
        if not days:
            return set()
        rows = await self._store.rows(
            select(r.c.schedule_id, r.c.session_date).where(r.c.session_date.in_(list(days)))
        )
        return {(int(row["schedule_id"]), row["session_date"]) for row in rows}


def _values(spec: ScheduledOrder) -> dict[str, Any]:
    return {
        "name": spec.name,
        "action": spec.action.value,
        "market": spec.market.value,
        "exchange": spec.exchange,
        "ticker": spec.ticker,
        "account": spec.account,
        "strategy": spec.strategy,
        "side": spec.side.value if spec.side else None,
        "quantity": spec.quantity,
        "amount": spec.amount,
        "order_type": spec.order_type.value,
        "limit_offset_pct": spec.limit_offset_pct,
        "days_of_week": ",".join(spec.days),
        "time_kind": spec.time_kind.value,
        "local_time": spec.local_time.strftime("%H:%M") if spec.local_time else None,
        "offset_min": spec.offset_min,
        "paused": spec.paused,
    }


def _with_id(
    spec: ScheduledOrder, schedule_id: int, created: datetime, now: datetime
) -> ScheduledOrder:
    return replace(spec, id=schedule_id, created_at=created, updated_at=now)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).normalize()


def _spec(row: Any) -> ScheduledOrder:
    return ScheduledOrder(
        id=int(row["id"]),
        name=row["name"],
        action=ScheduleAction(row["action"]),
        market=Market(row["market"]),
        exchange=row["exchange"],
        ticker=row["ticker"],
        account=row["account"],
        strategy=row["strategy"],
        side=Side(row["side"]) if row["side"] else None,
        quantity=_decimal(row["quantity"]),
        amount=_decimal(row["amount"]),
        order_type=OrderType(row["order_type"]),
        limit_offset_pct=_decimal(row["limit_offset_pct"]),
        days=tuple(x for x in str(row["days_of_week"]).split(",") if x),
        time_kind=TimeKind(row["time_kind"]),
        local_time=time.fromisoformat(row["local_time"]) if row["local_time"] else None,
        offset_min=row["offset_min"],
        paused=bool(row["paused"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _run(row: Any) -> ScheduleRun:
    return ScheduleRun(
        schedule_id=int(row["schedule_id"]),
        schedule_name=row["schedule_name"],
        session_date=row["session_date"],
        due_at=row["due_at"],
        status=RunStatus(row["status"]),
        worker=row["worker"],
        claimed_at=row["claimed_at"],
        updated_at=row["updated_at"],
        reason=row["reason"],
        detail=row["detail"],
        signal_key=row["signal_key"],
        orders=tuple(x for x in (row["orders"] or "").split(",") if x),
        epoch=row["epoch"],
    )


async def _audit(
    conn: Any, now: datetime, actor: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    await conn.execute(
        tables.audit_log.insert().values(
            at=now,
            actor=actor[:100],
            action=action[:64],
            target=target[:200],
            detail=json.dumps(detail, ensure_ascii=False, default=str),
        )
    )
