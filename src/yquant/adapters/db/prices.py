"""The latest price seen per instrument (``last_prices``): read by the book to value positions,
written when an alert or a fill shows a price.

A write goes through the same statement as the recorder's ``price.record`` (`statements`): one
upsert per row that keeps the stored price unless the new one was seen later, on SQLite and on
MariaDB alike, so writers never read first and a late write never moves a price back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market
from yquant.ports import Mark, PriceSource

lp = tables.last_prices


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
            stmt = select(lp).where(
                or_(*(and_(lp.c.market == m, lp.c.ticker == t) for m, t in chunk))
            )
            for row in await self._store.rows(stmt):
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


def _source(value: str) -> PriceSource:
    try:
        return PriceSource(value)
    except ValueError:  # a source a newer release wrote: shown as the price seen, not lost
        return PriceSource.ALERT
