"""Typed writes to table rows, and stored rows back to domain values.

`to_row` turns a write (`yquant.domain.writes`) into its table operation and row; the recorder
sends that to the database or, while the database is away, to the journal. The operation names
and the rows are what a journal on disk holds, so a journal written by an earlier version
replays unchanged: a name or a column is never renamed here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from yquant.adapters.messages import alert_to_message, order_fields, order_from_message
from yquant.domain.liquidation import liquidation_of
from yquant.domain.model import (
    Alert,
    Fill,
    Order,
    SignalStatus,
    client_order_id,
)
from yquant.domain.reasons import ReasonCode
from yquant.domain.writes import (
    AdvanceOrder,
    AdvanceSignal,
    InsertFill,
    InsertOrder,
    InsertSignal,
    QueueOrder,
    RecordPrice,
    Write,
)
from yquant.ports import QUEUED

# The payload column is MEDIUMTEXT on MariaDB: 16 MiB - 1 bytes. An accepted alert is kept whole
# (the sweeper rebuilds it from these fields); its body is at most 1 MiB (max_body_bytes), and
# written out again it grows at most about 3 times (a 0 in a list becomes "0", ).
PAYLOAD_MAX_BYTES = 2**24 - 1
# A refused request is kept for the operator to read, never rebuilt: a shorter limit.
REJECTED_PAYLOAD_MAX_CHARS = 200_000


def to_row(write: Write) -> tuple[str, dict[str, Any]]:
    """The table operation (see `writes`) and the row of ``write``."""
    match write:
        case InsertSignal():
            return "signal.insert", signal_row(
                key=write.key,
                worker=write.worker,
                status=write.status,
                received_at=write.received_at,
                updated_at=write.updated_at,
                alert=write.alert,
                reason=write.reason,
                detail=write.detail,
                source_ip=write.source_ip,
                fields=write.fields,
            )
        case AdvanceSignal():
            return "signal.advance", advance_signal_row(write)
        case InsertOrder(order=order):
            # A liquidation's sell names its liquidation in its signal key; the other orders'
            # rows stay the ones earlier versions journaled.
            liquidation_id = liquidation_of(order.signal_key)
            row = order_row(order)
            return "order.insert", row if liquidation_id is None else {
                **row,
                "liquidation_id": liquidation_id,
            }
        case AdvanceOrder(order=order):
            return "order.advance", order_row(order)
        case InsertFill(fill=fill):
            return "fill.insert", fill_row(fill)
        case QueueOrder():
            return "queue.insert", queued_row(write)
        case RecordPrice():
            return "price.record", price_row(write)


def signal_row(
    *,
    key: str,
    worker: str,
    status: SignalStatus,
    received_at: datetime,
    updated_at: datetime,
    alert: Alert | None = None,
    reason: ReasonCode | None = None,
    detail: str | None = None,
    source_ip: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A signal log row. ``fields`` is the decoded body; its secret is never stored."""
    shown = {k: v for k, v in (fields or {}).items() if k != "secret"}
    return {
        "signal_key": key,
        "worker": worker,
        "status": status.value,
        "status_rank": status.rank,
        "reason": reason,
        "detail": (detail or None) and detail[:300],
        "strategy": (alert.strategy if alert else _str(shown.get("strategy")))[:200] or None,
        "ticker": (f"{alert.exchange}:{alert.ticker}" if alert else _str(shown.get("ticker")))[:40]
        or None,
        "exchange": alert.exchange if alert else (_str(shown.get("exchange"))[:16] or None),
        "action": alert.action.value if alert else (_str(shown.get("action"))[:16] or None),
        "source_ip": source_ip,
        "payload": _payload(shown, whole=alert is not None),
        "received_at": received_at,
        "updated_at": updated_at,
    }


def advance_signal_row(write: AdvanceSignal) -> dict[str, Any]:
    """A decision's row: with the alert, the signal row as a whole; without, only what moves
    (an upsert would otherwise blank the facts the webhook recorded)."""
    if write.alert is not None:
        row = signal_row(
            key=write.key,
            worker=write.worker,
            status=write.status,
            received_at=write.received_at,
            updated_at=write.updated_at,
            alert=write.alert,
            reason=write.reason,
            detail=write.detail,
        )
    else:
        row = {
            "signal_key": write.key,
            "worker": write.worker,
            "status": write.status.value,
            "status_rank": write.status.rank,
            "reason": write.reason,
            "detail": write.detail,
            "received_at": write.received_at,
            "updated_at": write.updated_at,
        }
    if write.provisional:
        row["status_rank"] = SignalStatus.ACCEPTED.rank
    return row


def _payload(shown: dict[str, Any], *, whole: bool) -> str | None:
    """The alert's fields as JSON for the signal log; too large to keep: a marker. With
    ``whole`` (an accepted alert) only what the column cannot hold, which a body within the
    webhook's size limit never reaches.

    A number stays the JSON number it was sent as, digits and all: the sweeper parses the
    stored fields again, and a number and its text mean different things to the parser.
    """
    if not shown:
        return None
    text = "{" + ", ".join(f"{encode_basestring(k)}: {_json(v)}" for k, v in shown.items()) + "}"
    size = len(text.encode("utf-8")) if whole else len(text)
    if size > (PAYLOAD_MAX_BYTES if whole else REJECTED_PAYLOAD_MAX_CHARS):
        return json.dumps({"_truncated": True, "_bytes": size})
    return text


def _json(value: Any) -> str:
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)  # JSON number syntax, as decoded
    return json.dumps(value, ensure_ascii=False, default=_plain_json)


def _plain_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def order_row(order: Order) -> dict[str, Any]:
    return order_fields(order)


def order_from_row(row: Mapping[str, Any]) -> Order:
    return order_from_message(row)


def fill_row(fill: Fill) -> dict[str, Any]:
    return {
        "fill_id": fill.fill_id,
        "client_order_id": fill.client_order_id,
        "account": fill.account,
        "ticker": fill.ticker,
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "commission": fill.commission,
        "currency": fill.currency,
        "filled_at": fill.filled_at,
    }


def price_row(write: RecordPrice) -> dict[str, Any]:
    return {
        "market": write.market.value,
        "ticker": write.ticker,
        "price": write.price,
        "source": write.source,
        "at": write.at,
    }


def queued_row(write: QueueOrder) -> dict[str, Any]:
    """A queued order's row; the alert is kept in its stream encoding, decided again at
    release."""
    alert, instrument = write.alert, write.instrument
    return {
        "client_order_id": client_order_id(alert.key, write.account),
        "signal_key": alert.key,
        "account": write.account,
        "strategy": alert.strategy[:200],
        "market": instrument.market.value,
        "exchange": instrument.exchange,
        "ticker": instrument.ticker,
        "alert": json.dumps(alert_to_message(alert), separators=(",", ":")),
        "state": QUEUED,
        "reason": ReasonCode.HANDED_OVER.value if write.handed_over else None,
        "detail": write.detail[:300] or None,
        "release_after": write.release_after,
        "expires_at": write.expires_at,
        "queued_at": write.queued_at,
        "updated_at": write.queued_at,
    }
