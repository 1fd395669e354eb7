"""KIS access tokens: one per app key, shared by both workers through the database.

KIS throttles issuance (about once a minute per key, and its FAQ asks for once per five) and
sends the account holder a notification for every token, so a token is issued only when none
usable is stored, by one caller at a time (a lease on the ``broker_tokens`` row), and never
sooner than ``min_interval_s`` after the previous issuance. Lookup order:

    this process's memory  →  the database row (shared by every process of both workers)
    →  the worker's Valkey (a mirror, used while the database is unreachable)  →  issue

A token is renewed ``refresh_margin_s`` before it expires; if issuance is not allowed yet, the
old token is used for as long as it is still valid. A granted token is kept in memory and in the
mirror even when the database cannot store it, and an issuance that reached KIS is never
followed at once by another one through the mirror path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from valkey.exceptions import ValkeyError

from yquant.adapters.brokers.kis.errors import KisTokenError, KisUnavailableError
from yquant.adapters.brokers.kis.schemas import TokenGrant
from yquant.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)

LEASE_S = 20.0
WAIT_FOR_OTHER_S = 25.0
LAST_RESORT_S = 30.0  # a token is used until this close to its expiry when renewal must wait


def key_id(environment: str, app_key: str) -> str:
    """The row key: a digest, so the app key itself is never stored or shown."""
    return hashlib.sha256(f"{environment}\x1f{app_key}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredToken:
    access_token: str | None
    expires_at: datetime | None
    issued_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None


class TokenRecords(Protocol):
    """The ``broker_tokens`` table (adapters/db/broker_tokens.py)."""

    async def read(self, key_id: str) -> StoredToken | None: ...

    async def try_lease(
        self, key_id: str, environment: str, owner: str, until: datetime, now: datetime
    ) -> bool: ...

    async def save(
        self, key_id: str, owner: str, token: str, expires_at: datetime, now: datetime
    ) -> None: ...

    async def note_issue_attempt(self, key_id: str, at: datetime) -> None: ...

    async def release(self, key_id: str, owner: str) -> None: ...

    async def invalidate(self, key_id: str, token: str, now: datetime) -> None: ...


class KisTokens:
    def __init__(
        self,
        *,
        environment: str,
        app_key: str,
        records: TokenRecords,
        issue: Callable[[], Awaitable[TokenGrant]],
        valkey: Any | None = None,
        min_interval_s: float = 300.0,
        refresh_margin_s: float = 600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.key_id = key_id(environment, app_key)
        self._environment = environment
        self._records = records
        self._issue = issue
        self._mirror = _ValkeyMirror(valkey, self.key_id) if valkey is not None else None
        self._min_interval = timedelta(seconds=min_interval_s)
        self._margin = timedelta(seconds=refresh_margin_s)
        self._clock = clock
        self._owner = f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._cached: tuple[str, datetime] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        """A usable access token, issuing one only when the rules allow."""
        cached = self._cached
        if cached and cached[1] - self._margin > self._clock():
            return cached[0]
        async with self._lock:
            cached = self._cached
            if cached and cached[1] - self._margin > self._clock():
                return cached[0]
            try:
                return await self._from_database()
            except DatabaseUnavailableError:
                return await self._without_database()

    async def invalidate(self, token: str) -> None:
        """KIS refused ``token``: forget it everywhere (only if nobody replaced it yet)."""
        if self._cached and self._cached[0] == token:
            self._cached = None
        with contextlib.suppress(DatabaseUnavailableError):
            await self._records.invalidate(self.key_id, token, self._clock())
        if self._mirror is not None:
            await self._mirror.forget(token)

    def expires_at(self) -> datetime | None:
        """When the token this process holds expires (None before it holds one)."""
        return self._cached[1] if self._cached else None

    async def stored(self) -> StoredToken | None:
        """The shared row as it is (for `yquant accounts check`); never issues."""
        return await self._records.read(self.key_id)

    # ---- internals --------------------------------------------------------------------------

    def _usable(self, token: str | None, expires_at: datetime | None) -> bool:
        return bool(token) and expires_at is not None and expires_at - self._margin > self._clock()

    def _keep(self, token: str, expires_at: datetime) -> str:
        self._cached = (token, expires_at)
        return token

    async def _from_database(self) -> str:
        row = await self._records.read(self.key_id)
        if row and self._usable(row.access_token, row.expires_at):
            assert row.access_token
            assert row.expires_at
            return self._keep(row.access_token, row.expires_at)
        deadline = self._clock() + timedelta(seconds=WAIT_FOR_OTHER_S)
        while True:
            now = self._clock()
            lease_until = now + timedelta(seconds=LEASE_S)
            if await self._records.try_lease(
                self.key_id, self._environment, self._owner, lease_until, now
            ):
                try:
                    return await self._renew_under_lease()
                finally:
                    with contextlib.suppress(DatabaseUnavailableError):  # it expires by itself
                        await self._records.release(self.key_id, self._owner)
            # Another caller is renewing: use its token once it is stored.
            await asyncio.sleep(0.25)
            row = await self._records.read(self.key_id)
            if row and self._usable(row.access_token, row.expires_at):
                assert row.access_token
                assert row.expires_at
                return self._keep(row.access_token, row.expires_at)
            if self._clock() > deadline:
                raise KisTokenError("another process is renewing the KIS token; none arrived")

    async def _renew_under_lease(self) -> str:
        now = self._clock()
        row = await self._records.read(self.key_id)
        if row and self._usable(row.access_token, row.expires_at):
            assert row.access_token
            assert row.expires_at
            return self._keep(row.access_token, row.expires_at)
        if self._mirror is not None:
            mirrored = await self._mirror.read()
            if mirrored and self._usable(*mirrored):
                await self._records.save(self.key_id, self._owner, *mirrored, now)
                return self._keep(*mirrored)
        if row and row.issued_at and now - row.issued_at < self._min_interval:
            if row.access_token and row.expires_at and row.expires_at - now > _last_resort():
                return self._keep(row.access_token, row.expires_at)
            wait = (row.issued_at + self._min_interval - now).total_seconds()
            raise KisTokenError(f"KIS token issuance allowed again in {wait:.0f} s")
        try:
            grant = await self._issue()
        except KisUnavailableError:
            raise  # never reached KIS: it does not count against the issuance limit
        except Exception:
            if self._mirror is not None:
                await self._mirror.note_issue(self._owner, self._min_interval)
            await self._records.note_issue_attempt(self.key_id, now)
            raise
        logger.info("kis token issued key=%s expires_at=%s", self.key_id[:8], grant.expires_at)
        # Kept before the database write: a granted token is never dropped for a failed save.
        token = self._keep(grant.access_token, grant.expires_at)
        if self._mirror is not None:
            await self._mirror.save(grant.access_token, grant.expires_at, self._min_interval)
        try:
            await self._records.save(
                self.key_id, self._owner, grant.access_token, grant.expires_at, now
            )
        except DatabaseUnavailableError as exc:
            logger.warning("kis token not saved to the database key=%s: %s", self.key_id[:8], exc)
        return token

    async def _without_database(self) -> str:
        if self._mirror is None:
            raise KisTokenError("no KIS token: database unavailable and no Valkey mirror")
        mirrored = await self._mirror.read()
        if mirrored and self._usable(*mirrored):
            return self._keep(*mirrored)
        if not await self._mirror.may_issue(self._owner, self._min_interval):
            raise KisTokenError("no KIS token: database unavailable, issuance not allowed yet")
        grant = await self._issue()
        logger.warning("kis token issued without database key=%s", self.key_id[:8])
        await self._mirror.save(grant.access_token, grant.expires_at, self._min_interval)
        return self._keep(grant.access_token, grant.expires_at)


def _last_resort() -> timedelta:
    return timedelta(seconds=LAST_RESORT_S)


class _ValkeyMirror:
    """The worker-local copy of the token, for when the database is away."""

    def __init__(self, valkey: Any, key_id: str) -> None:
        self._valkey = valkey
        self._key = f"yq:kis:token:{key_id}"

    async def read(self) -> tuple[str, datetime] | None:
        try:
            values = await self._valkey.hmget(self._key, ["token", "expires_at"])
        except (ValkeyError, ConnectionError, OSError):
            return None
        if not values or not values[0] or not values[1]:
            return None
        return str(values[0]), datetime.fromisoformat(str(values[1]))

    async def save(self, token: str, expires_at: datetime, min_interval: timedelta) -> None:
        ttl_s = int((expires_at - datetime.now(UTC)).total_seconds())
        try:
            async with self._valkey.pipeline(transaction=True) as pipe:
                pipe.hset(self._key, mapping={"token": token, "expires_at": expires_at.isoformat()})
                if ttl_s > 0:
                    pipe.expire(self._key, ttl_s)
                pipe.set(self._key + ":issued", "1", ex=max(int(min_interval.total_seconds()), 1))
                await pipe.execute()
        except (ValkeyError, ConnectionError, OSError) as exc:
            # Only the kind of failure: a refused command's error text quotes the command, and
            # this one holds the token.
            logger.warning("kis token not mirrored to valkey: %s", type(exc).__name__)

    async def forget(self, token: str) -> None:
        mirrored = await self.read()
        if mirrored and mirrored[0] == token:
            with contextlib.suppress(ValkeyError, ConnectionError, OSError):
                await self._valkey.delete(self._key)

    async def note_issue(self, owner: str, min_interval: timedelta) -> None:
        """An issuance reached KIS: none from this worker without the database for a while."""
        ttl = max(int(min_interval.total_seconds()), 1)
        with contextlib.suppress(ValkeyError, ConnectionError, OSError):
            await self._valkey.set(self._key + ":issued", owner, ex=ttl)

    async def may_issue(self, owner: str, min_interval: timedelta) -> bool:
        """One issuer per worker per interval while the database is away."""
        try:
            if await self._valkey.exists(self._key + ":issued"):
                return False
            ttl = max(int(min_interval.total_seconds()), 1)
            return bool(await self._valkey.set(self._key + ":issued", owner, ex=ttl, nx=True))
        except (ValkeyError, ConnectionError, OSError):
            return False
