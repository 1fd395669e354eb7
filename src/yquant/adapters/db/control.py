"""Kill-switch state and the audit log in the system of record.

A change of state and its audit entry are written in one transaction: there is no state change
without a record of who made it, when and why.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, select
from sqlalchemy.dialects import mysql, sqlite

from yquant.adapters.db import tables
from yquant.adapters.db.queries import KILL_SWITCHES
from yquant.adapters.db.store import SqlStore
from yquant.ports import SwitchRecord


class SqlControl:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def switches(self) -> dict[str, SwitchRecord]:
        rows = await self._store.rows(KILL_SWITCHES)
        return {r["scope"]: _record(r) for r in rows}

    async def set_switch(
        self, scope: str, state: str, *, actor: str, reason: str, now: datetime
    ) -> str:
        """Set ``scope``'s state; returns the state it had (``active`` when never set)."""
        k = tables.kill_switch
        placeholder = {
            "scope": scope,
            "state": "active",
            "reason": None,
            "actor": actor[:100],
            "updated_at": now,
        }
        ensure: Executable
        if self._store.dialect == "sqlite":
            ensure = sqlite.insert(k).values(**placeholder).on_conflict_do_nothing()
        else:
            ensure = mysql.insert(k).values(**placeholder).on_duplicate_key_update(scope=k.c.scope)

        async def run(conn: Any) -> str:
            # The row exists before it is locked: a locking read of a missing row takes a gap
            # lock, and two first writers holding gap locks deadlock on their inserts.
            await conn.execute(ensure)
            before = (
                await conn.execute(select(k.c.state).where(k.c.scope == scope).with_for_update())
            ).scalar_one()
            await conn.execute(
                k.update()
                .where(k.c.scope == scope)
                .values(state=state, reason=reason, actor=actor[:100], updated_at=now)
            )
            await conn.execute(
                tables.audit_log.insert().values(
                    at=now,
                    actor=actor[:100],
                    action="kill_switch",
                    target=scope,
                    detail=json.dumps(
                        {"from": before, "to": state, "reason": reason}, ensure_ascii=False
                    ),
                )
            )
            return str(before)

        return str(await self._store.run(run, write=True))

    async def audit(self, limit: int = 50) -> list[dict[str, Any]]:
        a = tables.audit_log
        rows = await self._store.rows(
            select(a).where(a.c.action == "kill_switch").order_by(a.c.id.desc()).limit(limit)
        )
        for row in rows:
            with contextlib.suppress(ValueError):
                row["detail"] = json.loads(row["detail"]) if row["detail"] else None
        return rows


def _record(row: dict[str, Any]) -> SwitchRecord:
    return SwitchRecord(
        scope=row["scope"],
        state=row["state"],
        reason=row["reason"],
        actor=row["actor"],
        updated_at=row["updated_at"],
    )
