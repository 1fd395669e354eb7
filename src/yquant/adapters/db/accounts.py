"""Account state as the broker reports it: ``positions`` and ``cash_balances``, plus the
order queries the gateway needs (order numbers already bound, open orders with their worker).

A sync replaces an account's rows in one transaction: holdings and balances the broker reports
are upserted, rows it no longer reports (sold out, balance gone to zero) are deleted. The
strategy that opened a position is kept across syncs; a position the sync sees for the first
time is attributed to the strategy of the latest filled buy of that ticker on that account.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update

from yquant.adapters.db import tables
from yquant.adapters.db.queries import OPEN_STATUSES, WORKING_STATUSES
from yquant.adapters.db.rows import order_from_row
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import CURRENCY, Market, Order
from yquant.ports import Holding

p = tables.positions
c = tables.cash_balances
o = tables.orders
s = tables.signals


class AccountBook:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def replace_positions(self, account: str, holdings: list[Holding], now: datetime) -> None:
        held = {(h.market.value, h.ticker): h for h in holdings if h.quantity > 0}

        async def run(conn: Any) -> None:
            existing = {
                (r.market, r.ticker): r
                for r in await conn.execute(select(p).where(p.c.account == account))
            }
            for key in existing.keys() - held.keys():
                await conn.execute(
                    delete(p).where(
                        p.c.account == account, p.c.market == key[0], p.c.ticker == key[1]
                    )
                )
            for (market, ticker), h in held.items():
                row = existing.get((market, ticker))
                values = {
                    "quantity": h.quantity,
                    "avg_price": h.avg_price,
                    "currency": CURRENCY[h.market],
                    "updated_at": now,
                }
                if row is None or row.strategy is None:
                    values["strategy"] = await self._opener(conn, account, market, ticker)
                if row is None:
                    await conn.execute(
                        insert(p).values(account=account, market=market, ticker=ticker, **values)
                    )
                else:
                    await conn.execute(
                        update(p)
                        .where(p.c.account == account, p.c.market == market, p.c.ticker == ticker)
                        .values(**values)
                    )

        await self._store.run(run, write=True)

    async def replace_cash(self, account: str, cash: dict[str, Decimal], now: datetime) -> None:
        kept = {currency: amount for currency, amount in cash.items() if amount != 0}

        async def run(conn: Any) -> None:
            existing = {
                r.currency for r in await conn.execute(select(c).where(c.c.account == account))
            }
            for currency in existing - kept.keys():
                await conn.execute(
                    delete(c).where(c.c.account == account, c.c.currency == currency)
                )
            for currency, amount in kept.items():
                if currency in existing:
                    await conn.execute(
                        update(c)
                        .where(c.c.account == account, c.c.currency == currency)
                        .values(cash=amount, updated_at=now)
                    )
                else:
                    await conn.execute(
                        insert(c).values(
                            account=account, currency=currency, cash=amount, updated_at=now
                        )
                    )

        await self._store.run(run, write=True)

    async def positions(self, account: str | None = None) -> list[dict[str, Any]]:
        stmt = select(p).order_by(p.c.account, p.c.market, p.c.ticker)
        if account is not None:
            stmt = stmt.where(p.c.account == account)
        return await self._store.rows(stmt)

    async def synced_holdings(self, account: str) -> tuple[list[Holding], datetime | None]:
        """The account's holdings as the last sync stored them, and when (the latest row's
        time; None when the account holds nothing on record)."""
        rows = await self.positions(account)
        holdings = [
            Holding(account, r["ticker"], Market(r["market"]), r["quantity"], r["avg_price"])
            for r in rows
        ]
        return holdings, max((r["updated_at"] for r in rows), default=None)

    async def cash(self, account: str | None = None) -> list[dict[str, Any]]:
        stmt = select(c).order_by(c.c.account, c.c.currency)
        if account is not None:
            stmt = stmt.where(c.c.account == account)
        return await self._store.rows(stmt)

    async def known_order_ids(self, account: str, since: datetime) -> set[str]:
        """Broker order numbers already bound to our orders on ``account``."""
        rows = await self._store.rows(
            select(o.c.broker_order_id).where(
                o.c.account == account,
                o.c.created_at >= since,
                o.c.broker_order_id.is_not(None),
            )
        )
        return {r["broker_order_id"] for r in rows}

    async def open_orders(self) -> list[dict[str, Any]]:
        """Orders not yet final, each with the worker that received its signal."""
        stmt = (
            select(o, s.c.worker.label("signal_worker"))
            .select_from(o.outerjoin(s, s.c.signal_key == o.c.signal_key))
            .where(o.c.status.in_(OPEN_STATUSES))
            .order_by(o.c.id)
        )
        return await self._store.rows(stmt)

    async def orders_in_flight(self) -> list[tuple[Order, str | None]]:
        """Orders not yet final, each with the worker that received its signal (None for an
        order without a recorded signal)."""
        return [(order_from_row(r), r.get("signal_worker")) for r in await self.open_orders()]

    async def filled_as_of(self, client_order_id: str, at: datetime) -> Decimal:
        e = tables.order_events
        rows = await self._store.rows(
            select(func.max(e.c.filled_quantity).label("filled")).where(
                e.c.client_order_id == client_order_id, e.c.at <= at
            )
        )
        filled = rows[0]["filled"] if rows else None
        return Decimal(0) if filled is None else Decimal(filled)

    # ---- what an operator can cancel (the WorkingOrders port) -------------------------------

    async def find_order(self, ref: str) -> Order | None:
        """By client order id, else by broker order id (KIS pads its numbers with zeros: an
        unpadded number finds the padded one)."""
        rows = await self._store.rows(select(o).where(o.c.client_order_id == ref))
        if not rows and ref:
            numbers = {ref, ref.lstrip("0") or ref, ref.lstrip("0").zfill(10)}
            rows = await self._store.rows(
                select(o).where(o.c.broker_order_id.in_(sorted(numbers))).order_by(o.c.id.desc())
            )
        return order_from_row(rows[0]) if rows else None

    async def working_orders(
        self,
        *,
        account: str | None = None,
        strategy: str | None = None,
        ticker: str | None = None,
    ) -> list[Order]:
        stmt = select(o).where(o.c.status.in_(WORKING_STATUSES)).order_by(o.c.id)
        if account is not None:
            stmt = stmt.where(o.c.account == account)
        if strategy is not None:
            stmt = stmt.where(o.c.strategy == strategy)
        if ticker is not None:
            stmt = stmt.where(o.c.ticker == ticker)
        return [order_from_row(r) for r in await self._store.rows(stmt)]

    async def _opener(self, conn: Any, account: str, market: str, ticker: str) -> str | None:
        result = await conn.execute(
            select(o.c.strategy)
            .where(
                and_(
                    o.c.account == account,
                    o.c.market == market,
                    o.c.ticker == ticker,
                    o.c.side == "buy",
                    o.c.filled_quantity > 0,
                )
            )
            .order_by(o.c.created_at.desc(), o.c.id.desc())
            .limit(1)
        )
        value = result.scalar_one_or_none()
        return None if value is None else str(value)
