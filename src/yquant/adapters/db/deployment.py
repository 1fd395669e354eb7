"""The deployment table: which worker holds the active role, and the epoch of each switch."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore


class DeploymentRoles:
    """Which worker holds the active role, with an epoch that every switch increments."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def active(self) -> tuple[str, int] | None:
        rows = await self._store.rows(
            select(tables.deployment.c.worker, tables.deployment.c.epoch).where(
                tables.deployment.c.role == "active"
            )
        )
        return (rows[0]["worker"], int(rows[0]["epoch"])) if rows else None

    async def set_active(self, worker: str, actor: str, now: datetime) -> int:
        """Make ``worker`` active; returns the new epoch (previous + 1)."""
        d = tables.deployment

        async def run(conn: Any) -> int:
            current = (
                await conn.execute(select(d.c.epoch).where(d.c.role == "active").with_for_update())
            ).scalar_one_or_none()
            epoch = 1 if current is None else int(current) + 1
            if current is None:
                await conn.execute(
                    d.insert().values(
                        role="active", worker=worker, epoch=epoch, updated_by=actor, updated_at=now
                    )
                )
            else:
                await conn.execute(
                    d.update()
                    .where(d.c.role == "active")
                    .values(worker=worker, epoch=epoch, updated_by=actor, updated_at=now)
                )
            await conn.execute(
                tables.audit_log.insert().values(
                    at=now,
                    actor=actor[:100],
                    action="role.set_active",
                    target=worker,
                    detail=json.dumps({"epoch": epoch}),
                )
            )
            return epoch

        return int(await self._store.run(run, write=True))
