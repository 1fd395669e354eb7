"""Read models for the CLI and the dashboard: plain JSON-ready dicts."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from yquant.ports import RecentRows

SIGNAL_FIELDS = (
    "signal_key",
    "status",
    "reason",
    "detail",
    "strategy",
    "ticker",
    "action",
    "worker",
    "source_ip",
    "received_at",
    "updated_at",
)
ORDER_FIELDS = (
    "client_order_id",
    "account",
    "strategy",
    "ticker",
    "exchange",
    "market",
    "side",
    "order_type",
    "quantity",
    "limit_price",
    "filled_quantity",
    "avg_fill_price",
    "status",
    "reason",
    "broker_order_id",
    "signal_id",
    "created_at",
    "updated_at",
)
FILL_FIELDS = (
    "fill_id",
    "client_order_id",
    "account",
    "ticker",
    "side",
    "quantity",
    "price",
    "commission",
    "currency",
    "filled_at",
)


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _pick(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    row = dict(row)
    row.setdefault("signal_id", row.get("signal_key"))
    return {f: plain(row.get(f)) for f in fields}


async def signals(store: RecentRows, limit: int = 50) -> list[dict[str, Any]]:
    out = []
    for row in await store.recent("signals", limit):
        item = _pick(row, SIGNAL_FIELDS)
        item["payload"] = payload_fields(row["payload"]) if row.get("payload") else None
        out.append(item)
    return out


def payload_fields(text: str) -> Any:
    """The stored alert fields, numbers exactly as sent (as text, never through a float)."""
    fields = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    if not isinstance(fields, dict):
        return fields
    return {k: plain(v) for k, v in fields.items()}


async def orders(store: RecentRows, limit: int = 50) -> list[dict[str, Any]]:
    return [_pick(r, ORDER_FIELDS) for r in await store.recent("orders", limit)]


async def fills(store: RecentRows, limit: int = 50) -> list[dict[str, Any]]:
    return [_pick(r, FILL_FIELDS) for r in await store.recent("fills", limit)]
