"""The wire format of the messages between roles: typed commands and events to the field dict
of a stream entry (JSON in its ``data`` field) or of a live event, and back.

The format is shared by the two colours of a blue/green switch: a worker of the previous
version and this one read each other's entries, so a field is never renamed or re-encoded
here (Decimals as text, datetimes in ISO 8601, enums by value, the keys in this order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from yquant.domain.commands import CancelOrder, DecideSignal, PlaceOrder
from yquant.domain.events import (
    CancelAnswered,
    LiveEvent,
    OrderChanged,
    OrderFilled,
    SignalDecided,
    SignalRefused,
    SignalsAccepted,
    SwitchChanged,
)
from yquant.domain.model import (
    Action,
    Alert,
    Fill,
    Market,
    MarketPosition,
    Order,
    OrderStatus,
    OrderType,
    Side,
)
from yquant.domain.reasons import ReasonCode
from yquant.ports import CANCELS, EXECUTIONS, ORDERS, SIGNALS, Message


class UndecodableMessageError(ValueError):
    """A stream entry that is not a message of its stream."""


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def stream_of(message: Message) -> str:
    match message:
        case DecideSignal():
            return SIGNALS
        case PlaceOrder():
            return ORDERS
        case CancelOrder():
            return CANCELS
        case OrderFilled():
            return EXECUTIONS


def encode(message: Message) -> dict[str, Any]:
    """The field dict of ``message``'s stream entry."""
    match message:
        case DecideSignal(alert=alert):
            return alert_to_message(alert)
        case PlaceOrder(order=order):
            return order_to_message(order)
        case CancelOrder():
            return cancel_to_message(message)
        case OrderFilled(fill=fill):
            return fill_to_message(fill)


def decode(stream: str, data: dict[str, Any]) -> Message | None:
    """The message an entry of ``stream`` carries; None for a stream without typed messages.
    Raises UndecodableMessageError for an entry that is not one."""
    try:
        if stream == SIGNALS:
            return DecideSignal(alert_from_message(data))
        if stream == ORDERS:
            return PlaceOrder(order_from_message(data))
        if stream == CANCELS:
            return cancel_from_message(data)
        if stream == EXECUTIONS:
            return OrderFilled(fill_from_message(data))
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        raise UndecodableMessageError(f"not a message of {stream}: {exc!r}") from exc
    return None


def encode_event(event: LiveEvent) -> dict[str, Any]:
    """The dict of a live event, as dashboards read it."""
    match event:
        case SignalsAccepted(count=count):
            return {"type": "signal", "status": "accepted", "count": count}
        case SignalRefused(reason=reason):
            return {"type": "signal", "status": "rejected", "reason": reason}
        case SignalDecided(key=key, status=status):
            return {"type": "signal", "key": key, "status": status.value}
        case OrderChanged(client_order_id=cid, status=status):
            return {"type": "order", "cid": cid, "status": status.value}
        case SwitchChanged(scope=scope, state=state):
            return {"type": "control", "scope": scope, "state": state.value}


# ---- alerts --------------------------------------------------------------------------------

_ALERT_FIELDS = tuple(f.name for f in dataclasses.fields(Alert))
# The fields that need writing out as text (Decimal, datetime); the others go as they are.
_ALERT_CONVERTED = tuple(
    f.name
    for f in dataclasses.fields(Alert)
    if any(kind in str(f.type) for kind in ("Decimal", "datetime"))
)


# Fields added since the first version: written only when set, so that an alert without them
# is written byte for byte as before (and a worker of the previous version ignores them).
_ALERT_ADDED = frozenset({"prev_market_position"})


def alert_to_message(alert: Alert) -> dict[str, Any]:
    message = {
        name: getattr(alert, name)
        for name in _ALERT_FIELDS
        if name not in _ALERT_ADDED or getattr(alert, name) is not None
    }
    for name in _ALERT_CONVERTED:
        value = message[name]
        if value is not None:
            message[name] = _plain(value)
    return message


def alert_from_message(data: dict[str, Any]) -> Alert:
    def dec(name: str) -> Decimal | None:
        return None if data.get(name) is None else Decimal(data[name])

    def ts(name: str) -> datetime | None:
        return None if data.get(name) is None else datetime.fromisoformat(data[name])

    received = ts("received_at")
    if received is None:
        raise ValueError("an alert without received_at")
    return Alert(
        key=data["key"],
        strategy=data["strategy"],
        ticker=data["ticker"],
        exchange=data["exchange"],
        market=Market(data["market"]),
        action=Action(data["action"]),
        received_at=received,
        price=dec("price"),
        quantity=dec("quantity"),
        order_type=OrderType(data["order_type"]),
        limit_price=dec("limit_price"),
        strength=dec("strength"),
        position_size=dec("position_size"),
        market_position=_market_position(data.get("market_position")),
        prev_market_position=_market_position(data.get("prev_market_position")),
        alert_id=data.get("alert_id"),
        bar_time=ts("bar_time"),
        sent_at=ts("sent_at"),
        comment=data.get("comment"),
    )


def _market_position(value: Any) -> MarketPosition | None:
    """A stored position word. Entries journaled before these were checked may hold any text
    (or none): what is not long, short or flat reads as absent, so an old entry stays readable."""
    if not isinstance(value, str):
        return None
    try:
        return MarketPosition(value.strip().lower())
    except ValueError:
        return None


# ---- orders --------------------------------------------------------------------------------


def order_fields(order: Order) -> dict[str, Any]:
    """An order's fields by column name, as the orders table and the orders stream both carry
    them (the stream's entry is these, made plain for JSON)."""
    fields: dict[str, Any] = {
        "client_order_id": order.client_order_id,
        "signal_key": order.signal_key,
        "account": order.account,
        "strategy": order.strategy[:200],
        "ticker": order.ticker,
        "exchange": order.exchange,
        "market": order.market.value,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "quantity": order.quantity,
        "limit_price": order.limit_price,
        "reference_price": order.reference_price,
        "status": order.status.value,
        "status_rank": order.status_rank,
        "filled_quantity": order.filled_quantity,
        "avg_fill_price": order.avg_fill_price,
        "broker_order_id": order.broker_order_id,
        "reason": order.reason,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }
    if order.replaces is not None:
        # Only when set: an ordinary order's row is the one earlier versions journaled.
        fields["replaces"] = order.replaces
    return fields


def order_to_message(order: Order) -> dict[str, Any]:
    return {k: _plain(v) for k, v in order_fields(order).items()}


def order_from_message(data: Mapping[str, Any]) -> Order:
    """An order from its fields: a stream entry (times as ISO text) or a database row (times as
    datetimes) alike."""

    def dec(name: str) -> Decimal | None:
        value = data.get(name)
        return None if value is None else Decimal(str(value))

    def ts(name: str) -> datetime:
        value = data[name]
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    return Order(
        client_order_id=data["client_order_id"],
        signal_key=data.get("signal_key"),
        account=data["account"],
        strategy=data["strategy"],
        ticker=data["ticker"],
        exchange=data["exchange"],
        market=Market(data["market"]),
        side=Side(data["side"]),
        order_type=OrderType(data["order_type"]),
        quantity=Decimal(str(data["quantity"])),
        limit_price=dec("limit_price"),
        reference_price=dec("reference_price"),
        status=OrderStatus(data["status"]),
        filled_quantity=Decimal(str(data["filled_quantity"])),
        avg_fill_price=dec("avg_fill_price"),
        broker_order_id=data.get("broker_order_id"),
        reason=data.get("reason"),
        created_at=ts("created_at"),
        updated_at=ts("updated_at"),
        replaces=data.get("replaces"),
    )


# ---- cancels ------------------------------------------------------------------------------


def cancel_to_message(command: CancelOrder) -> dict[str, Any]:
    return {
        "client_order_id": command.client_order_id,
        "request_id": command.request_id,
        "requested_at": command.requested_at.isoformat(),
        "reason": command.reason.value,
    }


def cancel_from_message(data: dict[str, Any]) -> CancelOrder:
    return CancelOrder(
        client_order_id=data["client_order_id"],
        request_id=data["request_id"],
        requested_at=datetime.fromisoformat(data["requested_at"]),
        reason=ReasonCode(data["reason"]),
    )


def answer_to_message(answer: CancelAnswered) -> dict[str, Any]:
    return {
        "client_order_id": answer.client_order_id,
        "request_id": answer.request_id,
        "status": None if answer.status is None else answer.status.value,
        "filled_quantity": str(answer.filled_quantity),
        "done": answer.done,
        "reason": None if answer.reason is None else answer.reason.value,
    }


def answer_from_message(data: dict[str, Any]) -> CancelAnswered:
    return CancelAnswered(
        client_order_id=data["client_order_id"],
        request_id=data["request_id"],
        status=None if data.get("status") is None else OrderStatus(data["status"]),
        filled_quantity=Decimal(data["filled_quantity"]),
        done=bool(data["done"]),
        reason=None if data.get("reason") is None else ReasonCode(data["reason"]),
    )


# ---- fills ---------------------------------------------------------------------------------


def fill_to_message(fill: Fill) -> dict[str, Any]:
    fields: dict[str, Any] = {
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
    return {k: _plain(v) for k, v in fields.items()}


def fill_from_message(data: dict[str, Any]) -> Fill:
    return Fill(
        fill_id=data["fill_id"],
        client_order_id=data["client_order_id"],
        account=data["account"],
        ticker=data["ticker"],
        side=Side(data["side"]),
        quantity=Decimal(data["quantity"]),
        price=Decimal(data["price"]),
        commission=Decimal(data["commission"]),
        currency=data["currency"],
        filled_at=datetime.fromisoformat(data["filled_at"]),
    )
