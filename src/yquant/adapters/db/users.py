"""The dashboard's users in the system of record, each change with its audit entry.

A change of a user and its `audit_log` row are written in one transaction, as the kill switch
does: there is no new user, removal, new password or lockout without a record of who and when.
Counting a failed sign-in reads the row under a lock, so two concurrent failures count twice.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.ports import UserRecord

u = tables.users


class SqlUsers:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def get(self, name: str) -> UserRecord | None:
        rows = await self._store.rows(select(u).where(u.c.name == name))
        return _record(rows[0]) if rows else None

    async def all(self) -> list[UserRecord]:
        return [_record(r) for r in await self._store.rows(select(u).order_by(u.c.name))]

    async def add(
        self, name: str, password_hash: str, *, actor: str, now: datetime, replace: bool
    ) -> bool:
        async def run(conn: Any) -> bool:
            found = (
                await conn.execute(
                    select(u.c.session_epoch).where(u.c.name == name).with_for_update()
                )
            ).scalar_one_or_none()
            if found is None:
                await conn.execute(
                    insert(u).values(
                        name=name,
                        password_hash=password_hash,
                        session_epoch=0,
                        failed_logins=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await _audit(conn, now, actor, "user.add", name, {})
                return True
            if not replace:
                return False
            # A new password ends the sessions signed in with the old one.
            await conn.execute(
                update(u)
                .where(u.c.name == name)
                .values(
                    password_hash=password_hash,
                    session_epoch=int(found) + 1,
                    failed_logins=0,
                    locked_until=None,
                    updated_at=now,
                )
            )
            await _audit(conn, now, actor, "user.password", name, {})
            return True

        return bool(await self._store.run(run, write=True))

    async def remove(self, name: str, *, actor: str, now: datetime) -> bool:
        async def run(conn: Any) -> bool:
            gone = (await conn.execute(delete(u).where(u.c.name == name))).rowcount
            if gone:
                await _audit(conn, now, actor, "user.remove", name, {})
            return bool(gone)

        return bool(await self._store.run(run, write=True))

    async def failed(
        self, name: str, *, source: str, now: datetime, max_failures: int, lock_for: timedelta
    ) -> UserRecord | None:
        async def run(conn: Any) -> UserRecord | None:
            row = (
                (await conn.execute(select(u).where(u.c.name == name).with_for_update()))
                .mappings()
                .first()
            )
            if row is None:
                return None
            lapsed = row["locked_until"] is not None and row["locked_until"] <= now
            failures = (0 if lapsed else int(row["failed_logins"])) + 1
            locked_until = None if lapsed else row["locked_until"]
            if failures >= max_failures:
                locked_until = now + lock_for
                await _audit(
                    conn,
                    now,
                    f"dashboard:{source}",
                    "dashboard.lockout",
                    name,
                    {"failures": failures, "until": locked_until.isoformat()},
                )
                failures = 0
            await conn.execute(
                update(u)
                .where(u.c.name == name)
                .values(failed_logins=failures, locked_until=locked_until, updated_at=now)
            )
            return _record({**row, "failed_logins": failures, "locked_until": locked_until})

        result: UserRecord | None = await self._store.run(run, write=True)
        return result

    async def succeeded(self, name: str, *, now: datetime, password_hash: str | None) -> None:
        values: dict[str, Any] = {
            "failed_logins": 0,
            "locked_until": None,
            "last_login_at": now,
            "updated_at": now,
        }
        if password_hash is not None:
            values["password_hash"] = password_hash

        async def run(conn: Any) -> None:
            await conn.execute(update(u).where(u.c.name == name).values(**values))

        await self._store.run(run, write=True)

    async def end_sessions(self, name: str, *, now: datetime) -> None:
        async def run(conn: Any) -> None:
            await conn.execute(
                update(u)
                .where(u.c.name == name)
                .values(session_epoch=u.c.session_epoch + 1, updated_at=now)
            )

        await self._store.run(run, write=True)

    async def note_lockout(
        self, name: str, *, source: str, until: datetime, failures: int, now: datetime
    ) -> None:
        async def run(conn: Any) -> None:
            await _audit(
                conn,
                now,
                f"dashboard:{source}",
                "dashboard.lockout",
                name,
                {"failures": failures, "until": until.isoformat()},
            )

        await self._store.run(run, write=True)


async def _audit(
    conn: Any, now: datetime, actor: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    await conn.execute(
        tables.audit_log.insert().values(
            at=now,
            actor=actor[:100],
            action=action,
            target=target[:200],
            detail=json.dumps(detail, ensure_ascii=False),
        )
    )


def _record(row: Any) -> UserRecord:
    return UserRecord(
        name=row["name"],
        password_hash=row["password_hash"],
        session_epoch=int(row["session_epoch"]),
        failed_logins=int(row["failed_logins"]),
        locked_until=row["locked_until"],
        last_login_at=row["last_login_at"],
        created_at=row["created_at"],
    )
