"""The latest price seen per instrument (``last_prices``): read by the book to value positions,
written when an alert or a fill shows a price. And the compact price history (``price_history``)
the dashboard's charts and the day's P&L read.

A write goes through the same statement as the recorder's ``price.record`` (`statements`): one
upsert per row that keeps the stored price unless the new one was seen later, on SQLite and on
MariaDB alike, so writers never read first and a late write never moves a price back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.dialects import mysql, sqlite

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.batching import Batcher, settle
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
    """Implements `yquant.ports.PriceHistory`. The samples of signals handled side by side go
    in one transaction (at a bar close every instrument opens a bucket at once), on SQLite on
    the writer thread."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._samples = _Samples(store)

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
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._samples.put((rows, answer))
        await answer

    async def rehearse(self) -> None:
        await self._store.rehearsal(_insert, self._samples.stmt, [_REHEARSAL])

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


_REHEARSAL = {
    "market": Market.KR.value,
    "ticker": "-",
    "bucket": datetime(2000, 1, 1, tzinfo=UTC),
    "price": Decimal(1),
    "source": PriceSource.ALERT.value,
    "at": datetime(2000, 1, 1, tzinfo=UTC),
}

_Sample = tuple[list[dict[str, Any]], "asyncio.Future[None]"]  # the rows, the caller's answer


class _Samples(Batcher[_Sample]):
    def __init__(self, store: SqlStore) -> None:
        super().__init__(256, "price-history")
        self._store = store
        stmt: Any
        if store.dialect == "sqlite":
            stmt = sqlite.insert(ph).on_conflict_do_nothing()
        else:
            # A no-op update, not INSERT IGNORE (which would also turn bad data into warnings).
            stmt = mysql.insert(ph).on_duplicate_key_update(market=ph.c.market)
        self.stmt = stmt

    async def handle(self, batch: list[_Sample]) -> None:
        rows = [row for rows, _ in batch for row in rows]
        try:
            await self._store.transaction(_insert, self.stmt, rows)
        except Exception as exc:  # noqa: BLE001 - every caller's, raised there
            settle((answer for _, answer in batch), exc)
            return
        for _, answer in batch:
            if not answer.done():
                answer.set_result(None)


def _insert(conn: Any, stmt: Any, rows: list[dict[str, Any]]) -> None:
    conn.execute(stmt, rows)
