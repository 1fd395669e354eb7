"""The audit log: who did what, when, with the state before and after (JSON detail, never a
secret). The kill switch and the users write theirs in the same transaction as the change; an
action carried out elsewhere (a cancel the gateway sends) is recorded here once its outcome is
known."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore


class SqlAudit:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def record(
        self, *, at: datetime, actor: str, action: str, target: str, detail: dict[str, Any]
    ) -> None:
        async def run(conn: Any) -> None:
            await conn.execute(
                tables.audit_log.insert().values(
                    at=at,
                    actor=actor[:100],
                    action=action[:64],
                    target=target[:200],
                    detail=json.dumps(detail, ensure_ascii=False, default=str),
                )
            )

        await self._store.run(run, write=True)
