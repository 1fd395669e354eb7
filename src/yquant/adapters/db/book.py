"""The fills with the strategy of their orders: what the book is replayed from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.domain.book import BookFill
from yquant.domain.model import Market, Side

f = tables.fills
o = tables.orders


class SqlFillHistory:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def book_fills(
        self,
        *,
        account: str | None = None,
        strategy: str | None = None,
        market: Market | None = None,
        ticker: str | None = None,
    ) -> list[BookFill]:
        stmt = (
            select(
                f.c.fill_id,
                f.c.client_order_id,
                f.c.account,
                o.c.strategy,
                o.c.market,
                o.c.exchange,
                f.c.ticker,
                f.c.side,
                f.c.quantity,
                f.c.price,
                f.c.commission,
                f.c.filled_at,
            )
            .join(o, o.c.client_order_id == f.c.client_order_id)
            .order_by(f.c.filled_at, f.c.fill_id)
        )
        if account is not None:
            stmt = stmt.where(f.c.account == account)
        if strategy is not None:
            stmt = stmt.where(o.c.strategy == strategy)
        if market is not None:
            stmt = stmt.where(o.c.market == market.value)
        if ticker is not None:
            stmt = stmt.where(f.c.ticker == ticker)

        def run(conn: Any) -> list[BookFill]:
            return [
                BookFill(
                    fill_id=r.fill_id,
                    client_order_id=r.client_order_id,
                    account=r.account,
                    strategy=r.strategy,
                    market=Market(r.market),
                    ticker=r.ticker,
                    side=Side(r.side),
                    quantity=r.quantity,
                    price=r.price,
                    commission=r.commission,
                    filled_at=r.filled_at,
                    exchange=r.exchange,
                )
                for r in conn.execute(stmt)
            ]

        return await self._store.read(run)
