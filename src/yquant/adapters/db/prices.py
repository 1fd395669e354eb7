"""The latest price seen per instrument (``last_prices``): read by the book to value positions,
written when an alert or a fill shows a price. And the compact price history (``price_history``)
the dashboard's charts and the day's P&L read.

A write goes through the same statement as the recorder's ``price.record`` (`statements`): one
upsert per row that keeps the stored price unless the new one was seen later, on SQLite and on
MariaDB alike, so writers never read first and a late write never moves a price back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.dialects import mysql, sqlite

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market
from yquant.ports import Mark, PriceSource

lp = tables.last_prices
ph = tables.price_history


_ONE_PRICE = select(lp).where(
    lp.c.market == bindparam("market"), lp.c.ticker == bindparam("ticker")
)


class SqlLastPrices:
    """Implements `yquant.ports.LastPrices`."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def last(self, keys: Sequence[tuple[Market, str]]) -> dict[tuple[Market, str], Mark]:
        wanted = sorted({(m.value, t) for m, t in keys})
        if not wanted:
            return {}
        found: dict[tuple[Market, str], Mark] = {}
        for start in range(0, len(wanted), 200):  # a bounded statement, whatever the book's size
            chunk = wanted[start : start + 200]
            if len(chunk) == 1:  # an order's mark: the statement built once
                [(market, ticker)] = chunk
                rows = await self._store.rows(_ONE_PRICE, {"market": market, "ticker": ticker})
            else:
                rows = await self._store.rows(
                    select(lp).where(
                        or_(*(and_(lp.c.market == m, lp.c.ticker == t) for m, t in chunk))
                    )
                )
            for row in rows:
                found[(Market(row["market"]), row["ticker"])] = Mark(
                    price=row["price"], at=row["at"], source=_source(row["source"])
                )
        return found

    async def record(self, marks: Sequence[tuple[Market, str, Mark]]) -> None:
        items: list[tuple[str, dict[str, Any]]] = [
            (
                "price.record",
                {
                    "market": market.value,
                    "ticker": ticker,
                    "price": mark.price,
                    "source": mark.source.value,
                    "at": mark.at,
                },
            )
            for market, ticker, mark in marks
        ]
        if items:
            await self._store.apply_many(items)


class SqlPriceHistory:
    """Implements `yquant.ports.PriceHistory`."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def sample(self, samples: Sequence[tuple[Market, str, datetime, Mark]]) -> None:
        rows = [
            {
                "market": market.value,
                "ticker": ticker,
                "bucket": bucket,
                "price": mark.price,
                "source": mark.source.value,
                "at": mark.at,
            }
            for market, ticker, bucket, mark in samples
        ]
        if not rows:
            return
        stmt: Any
        if self._store.dialect == "sqlite":
            stmt = sqlite.insert(ph).on_conflict_do_nothing()
        else:
            # A no-op update, not INSERT IGNORE (which would also turn bad data into warnings).
            my = mysql.insert(ph)
            stmt = my.on_duplicate_key_update(market=ph.c.market)

        async def run(conn: Any) -> None:
            await conn.execute(stmt, rows)

        await self._store.run(run, write=True)

    async def series(
        self, market: Market, ticker: str, since: datetime, limit: int = 2000
    ) -> list[Mark]:
        stmt = (
            select(ph)
            .where(ph.c.market == market.value, ph.c.ticker == ticker, ph.c.bucket >= since)
            .order_by(ph.c.bucket.desc())
            .limit(limit)
        )
        rows = await self._store.rows(stmt)
        return [Mark(r["price"], r["at"], _source(r["source"])) for r in reversed(rows)]

    async def before(
        self, keys: Sequence[tuple[Market, str]], starts: Mapping[Market, datetime]
    ) -> dict[tuple[Market, str], Mark]:
        found: dict[tuple[Market, str], Mark] = {}
        for market, ticker in sorted(set(keys), key=lambda k: (k[0].value, k[1])):
            start = starts.get(market)
            if start is None:
                continue
            stmt = (
                select(ph)
                .where(ph.c.market == market.value, ph.c.ticker == ticker, ph.c.bucket < start)
                .order_by(ph.c.bucket.desc())
                .limit(1)
            )
            for row in await self._store.rows(stmt):
                if row["at"] < start:
                    found[(market, ticker)] = Mark(row["price"], row["at"], _source(row["source"]))
        return found


def _source(value: str) -> PriceSource:
    try:
        return PriceSource(value)
    except ValueError:  # a source a newer release wrote: shown as the price seen, not lost
        return PriceSource.ALERT
