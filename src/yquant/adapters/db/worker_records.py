"""What a worker loads from the system of record at start: the active role and the accounts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from yquant.adapters.db import tables
from yquant.adapters.db.deployment import DeploymentRoles
from yquant.adapters.db.store import SqlStore
from yquant.ports import Clock


class SqlWorkerRecords:
    """The `WorkerRecords` port over the database both workers share."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._roles = DeploymentRoles(store)

    async def active(self) -> tuple[str, int] | None:
        return await self._roles.active()

    async def accounts(self) -> list[dict[str, Any]]:
        return await self._store.rows(select(tables.accounts).order_by(tables.accounts.c.name))

    async def register_account(self, name: str, broker: str, now: datetime) -> None:
        """The account's name and broker (never credentials); the newest description wins."""
        await self._store.apply(
            "account.upsert", {"name": name, "broker": broker, "enabled": True, "updated_at": now}
        )


class BlockingDeploymentRoles:
    """The `deployment` table for a caller without an event loop (the blue/green switch): one
    short connection per call, from ``open_store``."""

    def __init__(self, open_store: Callable[[], SqlStore], clock: Clock) -> None:
        self._open_store = open_store
        self._clock = clock

    def _run(self, fn: Callable[[DeploymentRoles], Awaitable[Any]]) -> Any:
        async def go() -> Any:
            store = self._open_store()
            try:
                return await fn(DeploymentRoles(store))
            finally:
                await store.close()

        return asyncio.run(go())

    def active(self) -> tuple[str, int] | None:
        return self._run(lambda roles: roles.active())  # type: ignore[no-any-return]

    def set_active(self, worker: str, actor: str) -> int:
        now = self._clock.now()
        return int(self._run(lambda roles: roles.set_active(worker, actor, now)))
