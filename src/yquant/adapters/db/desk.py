"""The dashboard's reads: filtered listings, one signal's whole path, the accounts' figures.

Plain rows (dicts), newest first unless said otherwise; every call goes through the store's
guarded call (DatabaseUnavailableError when the database is away). Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from yquant.adapters.db import tables
from yquant.adapters.db.queries import WORKING_STATUSES
from yquant.adapters.db.store import SqlStore

s, o, f = tables.signals, tables.orders, tables.fills


@dataclass(frozen=True, slots=True)
class RowQuery:
    """A listing's filters: a time range (``since`` included, ``until`` excluded), exact
    account, strategy and ticker (with or without its exchange), statuses; None for any."""

    since: datetime | None = None
    until: datetime | None = None
    account: str | None = None
    strategy: str | None = None
    ticker: str | None = None
    statuses: tuple[str, ...] = ()
    limit: int = 200


def _bare(ticker: str) -> str:
    return ticker.split(":", 1)[1] if ":" in ticker else ticker


class DeskQueries:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    # ---- listings ------------------------------------------------------------------------------

    async def orders(self, q: RowQuery) -> list[dict[str, Any]]:
        stmt = select(o).order_by(o.c.id.desc()).limit(q.limit)
        if q.since is not None:
            stmt = stmt.where(o.c.created_at >= q.since)
        if q.until is not None:
            stmt = stmt.where(o.c.created_at < q.until)
        if q.account:
            stmt = stmt.where(o.c.account == q.account)
        if q.strategy:
            stmt = stmt.where(o.c.strategy == q.strategy)
        if q.ticker:
            stmt = stmt.where(o.c.ticker == _bare(q.ticker))
        if q.statuses:
            stmt = stmt.where(o.c.status.in_(q.statuses))
        return await self._store.rows(stmt)

    async def working_orders(self) -> list[dict[str, Any]]:
        """Orders the broker may still act on (and ``new`` ones not sent yet), oldest first."""
        stmt = select(o).where(o.c.status.in_(WORKING_STATUSES)).order_by(o.c.id)
        return await self._store.rows(stmt)

    async def working_counts(self) -> dict[str, int]:
        """Working orders per account."""
        stmt = (
            select(o.c.account, func.count().label("n"))
            .where(o.c.status.in_(WORKING_STATUSES))
            .group_by(o.c.account)
        )
        return {r["account"]: int(r["n"]) for r in await self._store.rows(stmt)}

    async def signals(self, q: RowQuery) -> list[dict[str, Any]]:
        stmt = select(s).order_by(s.c.id.desc()).limit(q.limit)
        if q.since is not None:
            stmt = stmt.where(s.c.received_at >= q.since)
        if q.until is not None:
            stmt = stmt.where(s.c.received_at < q.until)
        if q.strategy:
            stmt = stmt.where(s.c.strategy == q.strategy)
        if q.ticker:
            bare = _bare(q.ticker)
            stmt = stmt.where(or_(s.c.ticker == bare, s.c.ticker.like(f"%:{bare}")))
        if q.statuses:
            stmt = stmt.where(s.c.status.in_(q.statuses))
        return await self._store.rows(stmt)

    async def queued(self, *, pending_only: bool, limit: int = 100) -> list[dict[str, Any]]:
        q = tables.queued_orders
        stmt = select(q).order_by(q.c.id.desc()).limit(limit)
        if pending_only:
            stmt = stmt.where(q.c.state.in_(("queued", "releasing")))
        return await self._store.rows(stmt)

    # ---- one signal's path ---------------------------------------------------------------------

    async def signal(self, signal_key: str) -> dict[str, Any] | None:
        rows = await self._store.rows(select(s).where(s.c.signal_key == signal_key))
        return rows[0] if rows else None

    async def orders_for_signal(self, signal_key: str) -> list[dict[str, Any]]:
        stmt = select(o).where(o.c.signal_key == signal_key).order_by(o.c.id)
        return await self._store.rows(stmt)

    async def queued_for_signal(self, signal_key: str) -> list[dict[str, Any]]:
        q = tables.queued_orders
        stmt = select(q).where(q.c.signal_key == signal_key).order_by(q.c.id)
        return await self._store.rows(stmt)

    async def order_events(self, client_order_ids: list[str]) -> list[dict[str, Any]]:
        if not client_order_ids:
            return []
        e = tables.order_events
        stmt = select(e).where(e.c.client_order_id.in_(client_order_ids)).order_by(e.c.at, e.c.id)
        return await self._store.rows(stmt)

    async def fills_for(self, client_order_ids: list[str]) -> list[dict[str, Any]]:
        if not client_order_ids:
            return []
        stmt = select(f).where(f.c.client_order_id.in_(client_order_ids)).order_by(f.c.filled_at)
        return await self._store.rows(stmt)

    # ---- accounts ------------------------------------------------------------------------------

    async def holdings(self) -> list[dict[str, Any]]:
        """The broker's holdings as the last account sync stored them."""
        p = tables.positions
        return await self._store.rows(select(p).order_by(p.c.account, p.c.market, p.c.ticker))

    async def cash(self) -> list[dict[str, Any]]:
        c = tables.cash_balances
        return await self._store.rows(select(c).order_by(c.c.account, c.c.currency))

    async def last_prices(self) -> dict[tuple[str, str], dict[str, Any]]:
        lp = tables.last_prices
        return {(r["market"], r["ticker"]): r for r in await self._store.rows(select(lp))}

    async def baselines(self, limit: int = 400) -> list[dict[str, Any]]:
        """The accounts' daily baselines (cash plus holdings at cost at each day's first
        decision), oldest first."""
        a = tables.account_snapshots
        stmt = select(a).order_by(a.c.day.desc(), a.c.account, a.c.currency).limit(limit)
        return list(reversed(await self._store.rows(stmt)))

    # ---- the audit log and change detection ----------------------------------------------------

    async def audit(self, limit: int = 50) -> list[dict[str, Any]]:
        a = tables.audit_log
        return await self._store.rows(select(a).order_by(a.c.id.desc()).limit(limit))

    async def fingerprint(self) -> tuple[Any, ...]:
        """A value that changes whenever something a page shows may have changed: new or
        moved signals, orders, fills, queue rows, switches, audit entries or account syncs."""
        k, q, a = tables.kill_switch, tables.queued_orders, tables.audit_log
        c, p = tables.cash_balances, tables.positions
        stmt = select(
            select(func.max(s.c.updated_at)).scalar_subquery(),
            select(func.max(o.c.updated_at)).scalar_subquery(),
            select(func.max(f.c.id)).scalar_subquery(),
            select(func.max(q.c.updated_at)).scalar_subquery(),
            select(func.max(k.c.updated_at)).scalar_subquery(),
            select(func.max(a.c.id)).scalar_subquery(),
            select(func.max(c.c.updated_at)).scalar_subquery(),
            select(func.max(p.c.updated_at)).scalar_subquery(),
            select(func.count()).select_from(s).scalar_subquery(),
        )
        [row] = await self._store.rows(stmt)
        return tuple(row.values())
