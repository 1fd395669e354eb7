"""The ``broker_tokens`` table: one access token per app key, shared by both workers.

Renewal is guarded by a lease on the row: ``try_lease`` is a single conditional UPDATE (the
lease is free, expired, or already ours), so exactly one caller across every process and both
workers wins it. The key itself is never stored: rows are keyed by a digest of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from yquant.adapters.brokers.kis.tokens import StoredToken
from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.errors import DatabaseUnavailableError

t = tables.broker_tokens


class SqlTokenRecords:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def read(self, key_id: str) -> StoredToken | None:
        rows = await self._store.rows(select(t).where(t.c.key_id == key_id))
        if not rows:
            return None
        r = rows[0]
        return StoredToken(
            r["access_token"], r["expires_at"], r["issued_at"], r["lease_owner"], r["lease_until"]
        )

    async def try_lease(
        self, key_id: str, environment: str, owner: str, until: datetime, now: datetime
    ) -> bool:
        row = {"key_id": key_id, "environment": environment, "updated_at": now}
        if self._store.dialect == "sqlite":
            create: Any = sqlite.insert(t).values(**row).on_conflict_do_nothing()
        else:
            ins = mysql.insert(t).values(**row)
            create = ins.on_duplicate_key_update(key_id=ins.inserted.key_id)
        take = (
            t.update()
            .where(
                t.c.key_id == key_id,
                or_(t.c.lease_until.is_(None), t.c.lease_until < now, t.c.lease_owner == owner),
            )
            .values(lease_owner=owner, lease_until=until, updated_at=now)
        )

        async def run(conn: Any) -> bool:
            await conn.execute(create)
            result = await conn.execute(take)
            return bool(result.rowcount)

        return bool(await self._store.run(run, write=True))

    async def save(
        self, key_id: str, owner: str, token: str, expires_at: datetime, now: datetime
    ) -> None:
        stmt = (
            t.update()
            .where(t.c.key_id == key_id)
            .values(access_token=token, expires_at=expires_at, issued_at=now, updated_at=now)
        )
        await self._execute(stmt)

    async def note_issue_attempt(self, key_id: str, at: datetime) -> None:
        await self._execute(
            t.update().where(t.c.key_id == key_id).values(issued_at=at, updated_at=at)
        )

    async def release(self, key_id: str, owner: str) -> None:
        stmt = (
            t.update()
            .where(t.c.key_id == key_id, t.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        await self._execute(stmt)

    async def invalidate(self, key_id: str, token: str, now: datetime) -> None:
        # Compare-and-clear: a token someone already replaced is left alone.
        stmt = (
            t.update()
            .where(and_(t.c.key_id == key_id, t.c.access_token == token))
            .values(access_token=None, expires_at=None, updated_at=now)
        )
        await self._execute(stmt)

    async def expiries(self) -> list[tuple[str, datetime | None]]:
        """(environment, expires_at) of every stored token, for `yquant checkup`; any failure
        to read them is DatabaseUnavailableError."""
        t = tables.broker_tokens
        try:
            rows = await self._store.rows(select(t.c.environment, t.c.expires_at))
        except SQLAlchemyError as exc:
            raise DatabaseUnavailableError(f"{type(exc).__name__}: broker tokens") from exc
        return [(r["environment"], r["expires_at"]) for r in rows]

    async def expiry_by_key(self) -> dict[str, tuple[str, datetime | None]]:
        """(environment, expires_at) of every stored token by its key id (the digest of its
        app key), for the dashboard; DatabaseUnavailableError as `expiries`."""
        t = tables.broker_tokens
        try:
            rows = await self._store.rows(select(t.c.key_id, t.c.environment, t.c.expires_at))
        except SQLAlchemyError as exc:
            raise DatabaseUnavailableError(f"{type(exc).__name__}: broker tokens") from exc
        return {r["key_id"]: (r["environment"], r["expires_at"]) for r in rows}

    async def _execute(self, stmt: Any) -> None:
        async def run(conn: Any) -> None:
            await conn.execute(stmt)

        await self._store.run(run, write=True)
