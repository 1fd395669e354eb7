"""The dashboard's users on SQLite and MariaDB: argon2 hashes, the audit entries of every
change, the lockout after repeated failures (users and names that are none), its end, and the
session epoch that sign-out, a new password and a removal change; the migration both ways."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from yquant.adapters.db import migrate, tables
from yquant.adapters.db.store import SqlStore
from yquant.bootstrap import build_users
from yquant.domain.reasons import ReasonCode
from yquant.services.users import UserError

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


async def _audit(store: SqlStore) -> list[tuple[str, str, str, dict]]:
    a = tables.audit_log
    rows = await store.rows(select(a).order_by(a.c.id))
    return [(r["actor"], r["action"], r["target"], json.loads(r["detail"])) for r in rows]


async def test_users_are_added_listed_and_removed_with_audit_entries(store: SqlStore) -> None:
    users = build_users(store)
    await users.add("alice", PASSWORD, actor="cli:ops@yq-blue", now=T0)
    [alice] = await users.all()
    assert alice.name == "alice" and alice.password_hash.startswith("$argon2id$")
    assert PASSWORD not in alice.password_hash
    with pytest.raises(UserError) as taken:
        await users.add("alice", PASSWORD, actor="cli:ops@yq-blue", now=T0)
    assert taken.value.code is ReasonCode.USER_EXISTS
    with pytest.raises(UserError) as short:
        await users.add("bob", "too short", actor="cli:ops@yq-blue", now=T0)
    assert short.value.code is ReasonCode.WEAK_PASSWORD
    with pytest.raises(UserError) as bad:
        await users.add("bob smith", PASSWORD, actor="cli:ops@yq-blue", now=T0)
    assert bad.value.code is ReasonCode.BAD_USER_NAME

    await users.add("alice", PASSWORD + "!", actor="cli:ops@yq-blue", now=T0, replace=True)
    assert await users.session_epoch("alice") == 1  # a new password ends the old sessions
    await users.remove("alice", actor="cli:ops@yq-blue", now=T0)
    assert await users.all() == []
    assert await users.session_epoch("alice") is None
    with pytest.raises(UserError) as gone:
        await users.remove("alice", actor="cli:ops@yq-blue", now=T0)
    assert gone.value.code is ReasonCode.UNKNOWN_USER
    assert await _audit(store) == [
        ("cli:ops@yq-blue", "user.add", "alice", {}),
        ("cli:ops@yq-blue", "user.password", "alice", {}),
        ("cli:ops@yq-blue", "user.remove", "alice", {}),
    ]


async def test_five_failures_in_a_row_lock_a_user_for_a_while(store: SqlStore) -> None:
    users = build_users(store)
    await users.add("alice", PASSWORD, actor="test", now=T0)
    ok = await users.sign_in("alice", PASSWORD, source="10.0.0.5", now=T0)
    assert ok.user is not None and ok.refused is None
    for i in range(4):
        failed = await users.sign_in("alice", "guess", source="10.0.0.5", now=T0)
        assert (failed.user, failed.refused) == (None, ReasonCode.BAD_CREDENTIALS), i
    locked = await users.sign_in("alice", "guess", source="10.0.0.5", now=T0)
    assert locked.refused is ReasonCode.LOCKED_OUT
    assert locked.locked_until == T0 + timedelta(minutes=15)
    right = await users.sign_in("alice", PASSWORD, source="10.0.0.5", now=T0 + timedelta(minutes=1))
    assert (right.user, right.refused) == (None, ReasonCode.LOCKED_OUT)
    later = T0 + timedelta(minutes=16)
    after = await users.sign_in("alice", PASSWORD, source="10.0.0.5", now=later)
    assert after.user is not None
    [record] = await users.all()
    assert (record.failed_logins, record.locked_until, record.last_login_at) == (0, None, later)
    until = (T0 + timedelta(minutes=15)).isoformat()
    assert (await _audit(store))[-1] == (
        "dashboard:10.0.0.5",
        "dashboard.lockout",
        "alice",
        {"failures": 5, "until": until},
    )


async def test_a_success_forgets_earlier_failures(store: SqlStore) -> None:
    users = build_users(store)
    await users.add("alice", PASSWORD, actor="test", now=T0)
    for _ in range(4):
        await users.sign_in("alice", "guess", source="127.0.0.1", now=T0)
    assert (await users.sign_in("alice", PASSWORD, source="127.0.0.1", now=T0)).user is not None
    for _ in range(4):
        await users.sign_in("alice", "guess", source="127.0.0.1", now=T0)
    assert (await users.sign_in("alice", PASSWORD, source="127.0.0.1", now=T0)).user is not None


async def test_a_name_that_is_no_user_fails_and_locks_the_same_way(store: SqlStore) -> None:
    users = build_users(store)
    for _ in range(4):
        failed = await users.sign_in("mallory", "guess", source="10.0.0.9", now=T0)
        assert failed.refused is ReasonCode.BAD_CREDENTIALS
    locked = await users.sign_in("mallory", "guess", source="10.0.0.9", now=T0)
    assert locked.refused is ReasonCode.LOCKED_OUT
    assert (await _audit(store))[-1][:3] == ("dashboard:10.0.0.9", "dashboard.lockout", "mallory")
    free = await users.sign_in("mallory", "guess", source="10.0.0.9", now=T0 + timedelta(hours=1))
    assert free.refused is ReasonCode.BAD_CREDENTIALS


async def test_signing_out_ends_every_session_of_the_user(store: SqlStore) -> None:
    users = build_users(store)
    await users.add("alice", PASSWORD, actor="test", now=T0)
    assert await users.session_epoch("alice") == 0
    await users.sign_out("alice", now=T0)
    await users.sign_out("alice", now=T0)
    assert await users.session_epoch("alice") == 2


def test_the_users_migration_goes_down_and_up_again(db_url: str) -> None:
    migrate.downgrade(db_url, "0004")
    assert migrate.current(db_url).startswith("0004")
    migrate.upgrade(db_url)
    assert "(head)" in migrate.current(db_url)
