"""The reads of the execution, parity and replay reports. Nothing here writes.

Every hop of an order's path is already recorded where it happens, so the reports need no
column of their own and the order path pays nothing for them: TradingView's ``timenow`` is in
the signal's stored fields, the arrival is ``signals.received_at``, the end of the decision the
order's first step (``new``, recorded as the decision ended; else ``orders.created_at``), the
sending and the broker's answer the later ``order_events`` steps, the executions
``fills.filled_at``. Three queries per report (orders with their signals, their steps, their
fills), whatever the number of orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.domain.alerts import recorded_timenow
from yquant.domain.execution import ExecutionRecord, average_price
from yquant.domain.model import STATUS_RANK, OrderStatus, Side
from yquant.domain.parity import LiveOrder

s, o, e, f = tables.signals, tables.orders, tables.order_events, tables.fills

# The steps that say the broker had the order: its acknowledgement, or a fill that came with it.
_AT_BROKER = frozenset(
    status.value
    for status in OrderStatus
    if STATUS_RANK[status] >= STATUS_RANK[OrderStatus.ACCEPTED]
    and status not in (OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED)
)
_CHUNK = 500  # client order ids per IN list (SQLite's parameter limit)


class SqlReportReads:
    def __init__(self, store: SqlStore, brokers: Mapping[str, str]) -> None:
        """``brokers``: each configured account's broker (paper, kis); other accounts: "?"."""
        self._store = store
        self._brokers = dict(brokers)

    async def execution_records(
        self, since: datetime, until: datetime, strategy: str | None = None
    ) -> list[ExecutionRecord]:
        """The orders decided in [since, until), with their recorded path."""
        stmt = (
            select(
                o.c.client_order_id,
                o.c.account,
                o.c.strategy,
                o.c.market,
                o.c.ticker,
                o.c.side,
                o.c.created_at,
                o.c.reference_price,
                o.c.filled_quantity,
                s.c.received_at,
                s.c.payload,
            )
            .select_from(o.outerjoin(s, s.c.signal_key == o.c.signal_key))
            .where(o.c.created_at >= since, o.c.created_at < until)
            .order_by(o.c.created_at, o.c.client_order_id)
        )
        if strategy is not None:
            stmt = stmt.where(o.c.strategy == strategy)
        rows = await self._store.rows(stmt)
        cids = [r["client_order_id"] for r in rows]
        steps = await self._steps(cids)
        fills = await self._fills(cids)
        out = []
        for r in rows:
            cid = r["client_order_id"]
            mine = steps.get(cid, {})
            executions = fills.get(cid, [])
            out.append(
                ExecutionRecord(
                    client_order_id=cid,
                    account=r["account"],
                    broker=self._brokers.get(r["account"], "?"),
                    strategy=r["strategy"],
                    market=r["market"],
                    ticker=r["ticker"],
                    side=Side(r["side"]),
                    # The end of the decision where the engine recorded it (the order's first
                    # step), else the time the engine took the signal.
                    decided_at=mine.get(OrderStatus.NEW.value, r["created_at"]),
                    alert_price=r["reference_price"],
                    timenow=recorded_timenow(r["payload"]),
                    received_at=r["received_at"],
                    sent_at=mine.get(OrderStatus.SUBMITTED.value),
                    accepted_at=min(
                        (at for status, at in mine.items() if status in _AT_BROKER), default=None
                    ),
                    first_fill_at=min((x[2] for x in executions), default=None),
                    last_fill_at=max((x[2] for x in executions), default=None),
                    fill_price=average_price((q, p) for q, p, _ in executions),
                    filled_quantity=sum((q for q, _, _ in executions), Decimal(0)),
                )
            )
        return out

    async def live_orders(
        self, strategy: str, since: datetime, until: datetime, ticker: str | None = None
    ) -> list[LiveOrder]:
        """The strategy's orders decided in [since, until), with what they filled."""
        stmt = (
            select(
                o.c.client_order_id,
                o.c.account,
                o.c.ticker,
                o.c.side,
                o.c.created_at,
                o.c.quantity,
            )
            .where(o.c.strategy == strategy, o.c.created_at >= since, o.c.created_at < until)
            .order_by(o.c.created_at)
        )
        if ticker is not None:
            stmt = stmt.where(o.c.ticker == ticker)
        rows = await self._store.rows(stmt)
        fills = await self._fills([r["client_order_id"] for r in rows])
        out = []
        for r in rows:
            executions = fills.get(r["client_order_id"], [])
            out.append(
                LiveOrder(
                    client_order_id=r["client_order_id"],
                    account=r["account"],
                    ticker=r["ticker"],
                    side=Side(r["side"]),
                    decided_at=r["created_at"],
                    quantity=r["quantity"],
                    filled_quantity=sum((q for q, _, _ in executions), Decimal(0)),
                    fill_price=average_price((q, p) for q, p, _ in executions),
                )
            )
        return out

    async def strategy_tickers(self, strategy: str) -> list[tuple[str, str]]:
        """The (market, ticker) pairs the strategy has orders in."""
        stmt = select(o.c.market, o.c.ticker).where(o.c.strategy == strategy).distinct()
        return sorted((r["market"], r["ticker"]) for r in await self._store.rows(stmt))

    async def recorded_alerts(
        self, since: datetime, until: datetime, strategy: str | None = None
    ) -> list[dict[str, Any]]:
        """The signals received in [since, until) that got past the webhook (their stored
        fields are the whole alert), oldest first: key, strategy, received_at, payload,
        status and reason."""
        stmt = (
            select(
                s.c.signal_key,
                s.c.strategy,
                s.c.received_at,
                s.c.payload,
                s.c.status,
                s.c.reason,
            )
            .where(s.c.received_at >= since, s.c.received_at < until)
            .order_by(s.c.received_at, s.c.id)
        )
        if strategy is not None:
            stmt = stmt.where(s.c.strategy == strategy)
        return await self._store.rows(stmt)

    async def _steps(self, cids: list[str]) -> dict[str, dict[str, datetime]]:
        """Each order's steps: the first time it reached each status."""
        out: dict[str, dict[str, datetime]] = {}
        for start in range(0, len(cids), _CHUNK):
            chunk = cids[start : start + _CHUNK]
            stmt = select(e.c.client_order_id, e.c.status, e.c.at).where(
                e.c.client_order_id.in_(chunk)
            )
            for r in await self._store.rows(stmt):
                mine = out.setdefault(r["client_order_id"], {})
                known = mine.get(r["status"])
                if known is None or r["at"] < known:
                    mine[r["status"]] = r["at"]
        return out

    async def _fills(self, cids: list[str]) -> dict[str, list[tuple[Decimal, Decimal, datetime]]]:
        """Each order's executions: (quantity, price, filled_at)."""
        out: dict[str, list[tuple[Decimal, Decimal, datetime]]] = {}
        for start in range(0, len(cids), _CHUNK):
            chunk = cids[start : start + _CHUNK]
            stmt = select(f.c.client_order_id, f.c.quantity, f.c.price, f.c.filled_at).where(
                f.c.client_order_id.in_(chunk)
            )
            for r in await self._store.rows(stmt):
                out.setdefault(r["client_order_id"], []).append(
                    (r["quantity"], r["price"], r["filled_at"])
                )
        return out
