"""The catalog in the database: `instruments` rows and one `catalog_versions` row per market.

A market is replaced in one transaction (its version row locked first, so two syncs never
interleave): readers see the old rows or the new ones, never a mix, on SQLite and on MariaDB.
The version goes up only when the rows changed; workers poll it to know when to reload.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from yquant.adapters.catalog.listing import Listing
from yquant.adapters.db.store import SqlStore, schema_missing
from yquant.adapters.db.tables import catalog_versions, instruments
from yquant.errors import DatabaseUnavailableError, SchemaMissingError

PACKAGE_SOURCE = "package snapshot"
INSERT_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    market: str
    version: int
    count: int
    checksum: str | None
    source: str | None
    source_bytes: int | None
    synced_at: datetime


@dataclass(frozen=True, slots=True)
class MarketWrite:
    """A market's complete new rows, as one unit."""

    market: str
    listings: list[Listing]
    checksum: str
    source: str
    source_bytes: int | None = None


class CatalogRepository:
    def __init__(self, store: SqlStore, *, timeout_s: float = 30.0, write_timeout_s: float = 600.0):
        self._store = store
        self._timeout_s = timeout_s
        self._write_timeout_s = write_timeout_s

    # ---- reads ----------------------------------------------------------------------------------

    async def versions(self, markets: Iterable[str] | None = None) -> dict[str, CatalogVersion]:
        stmt = select(catalog_versions)
        if markets is not None:
            stmt = stmt.where(catalog_versions.c.market.in_(list(markets)))
        async with self._guard(self._timeout_s), self._store.engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return {r["market"]: _version(r) for r in rows}

    async def load(self, markets: Iterable[str]) -> tuple[list[Listing], dict[str, CatalogVersion]]:
        """Rows and versions of ``markets`` from one consistent read."""
        wanted = list(markets)
        async with (
            self._guard(self._timeout_s),
            self._store.engine.connect() as conn,
            conn.begin(),
        ):
            versions = (
                (
                    await conn.execute(
                        select(catalog_versions).where(catalog_versions.c.market.in_(wanted))
                    )
                )
                .mappings()
                .all()
            )
            rows = (
                (
                    await conn.execute(
                        select(instruments)
                        .where(instruments.c.market.in_(wanted))
                        .order_by(instruments.c.id)
                    )
                )
                .mappings()
                .all()
            )
        return [Listing.from_db(dict(r)) for r in rows], {
            v["market"]: _version(v) for v in versions
        }

    async def with_tickers(self, tickers: Iterable[str]) -> list[Listing]:
        """Stored listings of ``tickers`` in any market, to show their names beside the codes
        (a share class is looked up as BRK.B, BRK/B and BRK-B)."""
        spellings = {
            variant
            for t in tickers
            for variant in (t, t.replace(".", "/"), t.replace(".", "-"), t.replace("/", "."))
        }
        if not spellings:
            return []
        stmt = select(instruments).where(instruments.c.ticker.in_(sorted(spellings)))
        async with self._guard(self._timeout_s), self._store.engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [Listing.from_db(dict(r)) for r in rows]

    async def counts(self, market: str) -> dict[str, int]:
        """Stored rows per exchange of ``market``."""
        i = instruments
        stmt = select(i.c.exchange, func.count()).where(i.c.market == market).group_by(i.c.exchange)
        async with self._guard(self._timeout_s), self._store.engine.connect() as conn:
            return {str(e): int(n) for e, n in (await conn.execute(stmt)).all()}

    # ---- writes ---------------------------------------------------------------------------------

    async def replace(self, writes: list[MarketWrite], now: datetime) -> dict[str, int]:
        """Every market in ``writes`` replaced in ONE transaction; returns the new versions."""
        out: dict[str, int] = {}
        async with self._guard(self._write_timeout_s), self._store.engine.begin() as conn:
            for w in writes:
                current = (
                    (
                        await conn.execute(
                            select(catalog_versions)
                            .where(catalog_versions.c.market == w.market)
                            .with_for_update()
                        )
                    )
                    .mappings()
                    .first()
                )
                changed = current is None or current["checksum"] != w.checksum
                if changed:
                    await self._rewrite(conn, w, now)
                version = 1 if current is None else int(current["version"]) + (1 if changed else 0)
                values = {
                    "version": version,
                    "count": len(w.listings),
                    "checksum": w.checksum,
                    "source": w.source[:200],
                    "source_bytes": w.source_bytes,
                    "synced_at": now,
                }
                if current is None:
                    await conn.execute(catalog_versions.insert().values(market=w.market, **values))
                else:
                    await conn.execute(
                        update(catalog_versions)
                        .where(catalog_versions.c.market == w.market)
                        .values(**values)
                    )
                out[w.market] = version
        return out

    async def seed(self, writes: list[MarketWrite], now: datetime) -> bool:
        """Write markets that have no catalog yet; False when another process got there first."""
        try:
            async with self._guard(self._write_timeout_s), self._store.engine.begin() as conn:
                for w in writes:
                    # The version row first: a concurrent seed or sync meets its primary key.
                    await conn.execute(
                        catalog_versions.insert().values(
                            market=w.market,
                            version=1,
                            count=len(w.listings),
                            checksum=w.checksum,
                            source=w.source[:200],
                            source_bytes=w.source_bytes,
                            synced_at=now,
                        )
                    )
                    await self._rewrite(conn, w, now)
        except IntegrityError:
            return False
        return True

    async def _rewrite(self, conn: Any, w: MarketWrite, now: datetime) -> None:
        await conn.execute(delete(instruments).where(instruments.c.market == w.market))
        rows = [x.db_row(now) for x in w.listings]
        for start in range(0, len(rows), INSERT_CHUNK):
            await conn.execute(instruments.insert(), rows[start : start + INSERT_CHUNK])

    @contextlib.asynccontextmanager
    async def _guard(self, timeout_s: float) -> AsyncIterator[None]:
        """Database trouble becomes DatabaseUnavailableError; a transaction in flight rolls back."""
        try:
            async with asyncio.timeout(timeout_s):
                yield
        except TimeoutError as exc:
            raise DatabaseUnavailableError("catalog query timed out") from exc
        except DBAPIError as exc:
            if schema_missing(exc):
                raise SchemaMissingError(_describe(exc)) from None
            if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
                raise DatabaseUnavailableError(_describe(exc)) from None
            raise
        except (OSError, ConnectionError) as exc:
            raise DatabaseUnavailableError(_describe(exc)) from None


def _version(row: Any) -> CatalogVersion:
    return CatalogVersion(
        market=str(row["market"]),
        version=int(row["version"]),
        count=int(row["count"]),
        checksum=row["checksum"],
        source=row["source"],
        source_bytes=None if row["source_bytes"] is None else int(row["source_bytes"]),
        synced_at=row["synced_at"],
    )


def _describe(exc: BaseException) -> str:
    """Short, without the statement or its parameters."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).splitlines()[0][:160] if str(orig) else ""
    return f"{type(orig).__name__}: {text}"
