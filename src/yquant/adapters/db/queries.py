"""Read statements shared by the stores: the listings and the order status filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from yquant.adapters.db import tables
from yquant.domain.model import OrderStatus

# Orders not final: the broker may still act on them, or they may still be sent ("new" ones were
# never sent; "awaiting_approval" ones wait for a person). Both count as working for the risk
# checks (a held buy reserves its instrument like a working one).
WORKING_STATUSES = tuple(s.value for s in OrderStatus if not s.is_final)
# Orders a broker may know of: what the gateway follows.
OPEN_STATUSES = tuple(
    s
    for s in WORKING_STATUSES
    if s not in (OrderStatus.NEW.value, OrderStatus.AWAITING_APPROVAL.value)
)

_LISTED = {"signals": tables.signals, "orders": tables.orders, "fills": tables.fills}


def recent(table_name: str, limit: int) -> Any:
    """The newest ``limit`` rows of signals, orders or fills, newest first."""
    table = _LISTED[table_name]
    return select(table).order_by(table.c.id.desc()).limit(limit)


# The hot reads, built once (see `SqlStore.rows`): an order by id; orders, signals and
# queued orders by a list of ids (an expanding parameter).
ORDER_BY_ID = select(tables.orders).where(tables.orders.c.client_order_id == bindparam("cid"))
ORDERS_BY_IDS = select(tables.orders).where(
    tables.orders.c.client_order_id.in_(bindparam("ids", expanding=True))
)
SIGNALS_BY_KEYS = select(tables.signals).where(
    tables.signals.c.signal_key.in_(bindparam("keys", expanding=True))
)
QUEUED_BY_IDS = select(tables.queued_orders).where(
    tables.queued_orders.c.client_order_id.in_(bindparam("ids", expanding=True))
)
KILL_SWITCHES = select(tables.kill_switch)


def order(client_order_id: str) -> Any:
    return select(tables.orders).where(tables.orders.c.client_order_id == client_order_id)


def signal_id(key: str) -> Any:
    s = tables.signals
    return select(s.c.id).where(s.c.signal_key == key)


def signals_waiting(worker: str, before: datetime) -> Any:
    """A worker's signals still accepted (not yet decided) since before ``before``."""
    s = tables.signals
    return (
        select(s)
        .where(s.c.worker == worker, s.c.status == "accepted", s.c.received_at < before)
        .order_by(s.c.id)
        .limit(500)
    )
