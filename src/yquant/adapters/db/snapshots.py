"""The daily snapshots: ``account_snapshots`` (one row per account, day and currency) and
``strategy_snapshots`` (one per strategy of it). A snapshot is stored in place of the one of
its key, with its strategy rows, in one transaction: storing a day twice leaves one row."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, insert, select

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.domain.snapshots import AccountDay, FxRate, FxSource, SnapshotSource, StrategyDay

a = tables.account_snapshots
s = tables.strategy_snapshots


class SqlSnapshots:
    """Implements `yquant.ports.SnapshotRecords`."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def save(self, snapshot: AccountDay) -> None:
        key = (snapshot.account, snapshot.day, snapshot.currency)

        async def run(conn: Any) -> None:
            await conn.execute(delete(a).where(_account_key(*key)))
            await conn.execute(
                delete(s).where(
                    and_(s.c.account == key[0], s.c.day == key[1], s.c.currency == key[2])
                )
            )
            await conn.execute(insert(a).values(**_account_row(snapshot)))
            rows = [_strategy_row(r, snapshot) for r in snapshot.strategies]
            if rows:
                await conn.execute(insert(s), rows)

        await self._store.run(run, write=True)

    async def get(self, account: str, currency: str, day: date) -> AccountDay | None:
        found = await self._read(select(a).where(_account_key(account, day, currency)))
        return found[0] if found else None

    async def latest_before(self, account: str, currency: str, day: date) -> AccountDay | None:
        stmt = (
            select(a)
            .where(and_(a.c.account == account, a.c.currency == currency, a.c.day < day))
            .order_by(a.c.day.desc())
            .limit(1)
        )
        found = await self._read(stmt)
        return found[0] if found else None

    async def days(
        self, *, account: str | None = None, since: date | None = None, until: date | None = None
    ) -> list[AccountDay]:
        stmt = select(a).order_by(a.c.day, a.c.account, a.c.currency)
        if account is not None:
            stmt = stmt.where(a.c.account == account)
        if since is not None:
            stmt = stmt.where(a.c.day >= since)
        if until is not None:
            stmt = stmt.where(a.c.day <= until)
        return await self._read(stmt)

    async def _read(self, stmt: Any) -> list[AccountDay]:
        rows = await self._store.rows(stmt)
        if not rows:
            return []
        days = sorted({r["day"] for r in rows})
        accounts = sorted({r["account"] for r in rows})
        strategies = await self._store.rows(
            select(s)
            .where(and_(s.c.account.in_(accounts), s.c.day >= days[0], s.c.day <= days[-1]))
            .order_by(s.c.strategy)
        )
        per: dict[tuple[str, date, str], list[StrategyDay]] = {}
        for r in strategies:
            per.setdefault((r["account"], r["day"], r["currency"]), []).append(
                StrategyDay(
                    account=r["account"],
                    strategy=r["strategy"],
                    day=r["day"],
                    currency=r["currency"],
                    position_value=r["position_value"],
                    cost_value=r["cost_value"],
                    realised=r["realized_pnl"],
                    unrealised=r["unrealized_pnl"],
                )
            )
        return [
            AccountDay(
                account=r["account"],
                day=r["day"],
                currency=r["currency"],
                cash=r["cash"],
                positions_value=r["positions_value"],
                realised=r["realized_pnl"] if r["realized_pnl"] is not None else Decimal(0),
                unrealised=r["unrealized_pnl"] if r["unrealized_pnl"] is not None else Decimal(0),
                flow=r["flow"],
                fx=FxRate(r["fx_rate"], FxSource(r["fx_source"]), r["fx_at"]),
                source=SnapshotSource(r["source"]),
                taken_at=r["taken_at"],
                strategies=tuple(per.get((r["account"], r["day"], r["currency"]), [])),
            )
            for r in rows
        ]


def _account_key(account: str, day: date, currency: str) -> Any:
    return and_(a.c.account == account, a.c.day == day, a.c.currency == currency)


def _account_row(snapshot: AccountDay) -> dict[str, Any]:
    return {
        "account": snapshot.account,
        "day": snapshot.day,
        "currency": snapshot.currency,
        "cash": snapshot.cash,
        "positions_value": snapshot.positions_value,
        "equity": snapshot.equity,
        "realized_pnl": snapshot.realised,
        "unrealized_pnl": snapshot.unrealised,
        "flow": snapshot.flow,
        "fx_rate": snapshot.fx.rate,
        "fx_source": snapshot.fx.source.value,
        "fx_at": snapshot.fx.at,
        "equity_krw": snapshot.equity_krw,
        "source": snapshot.source.value,
        "taken_at": snapshot.taken_at,
    }


def _strategy_row(row: StrategyDay, snapshot: AccountDay) -> dict[str, Any]:
    return {
        "account": row.account,
        "strategy": row.strategy,
        "day": row.day,
        "currency": row.currency,
        "position_value": row.position_value,
        "cost_value": row.cost_value,
        "realized_pnl": row.realised,
        "unrealized_pnl": row.unrealised,
        "taken_at": snapshot.taken_at,
    }
