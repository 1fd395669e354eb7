"""Writes that stand for a role's first real ones, rehearsed as it starts (`Recorder.rehearse`:
run, then rolled back) so that the first signal after a start pays none of the one-time costs
of its writes: SQLAlchemy compiles each statement at its first use, and an upsert over a whole
row takes milliseconds to compile (the first decision took 15-22 ms against 3-7 ms for the
next ones, most of it in compiling its writes: docs/performance.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from yquant.domain.model import (
    Action,
    Alert,
    BrokerOrder,
    Fill,
    Market,
    Order,
    OrderStatus,
    Side,
    SignalStatus,
    client_order_id,
)
from yquant.domain.writes import (
    AdvanceOrder,
    AdvanceSignal,
    InsertFill,
    InsertOrder,
    RecordPrice,
    Write,
)
from yquant.ports import PriceSource

WARM_UP_KEY = "warm-up"  # not a signal key (those are 32 hex digits): found nowhere
_ACCOUNT = "-"  # not an account name: configured names are identifiers


def _alert(now: datetime) -> Alert:
    return Alert(
        key=WARM_UP_KEY,
        strategy="warm-up",
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        action=Action.BUY,
        received_at=now,
        price=Decimal(1),
    )


def _order(alert: Alert) -> Order:
    """The order a decision of ``alert`` makes: one share at its price."""
    return Order(
        client_order_id=client_order_id(alert.key, _ACCOUNT),
        signal_key=alert.key,
        account=_ACCOUNT,
        strategy=alert.strategy,
        ticker=alert.ticker,
        exchange=alert.exchange,
        market=alert.market,
        side=Side.BUY,
        order_type=alert.order_type,
        quantity=Decimal(1),
        created_at=alert.received_at,
        updated_at=alert.received_at,
        reference_price=alert.price,
    )


def engine_writes(now: datetime) -> list[Write]:
    """A decision's writes: its order, the signal's decision and the alert's price."""
    alert = _alert(now)
    order = _order(alert)
    return [
        InsertOrder(order),
        AdvanceSignal(
            key=alert.key,
            worker="-",
            status=SignalStatus.ORDERED,
            received_at=now,
            updated_at=now,
            alert=alert,
        ),
        RecordPrice(alert.market, alert.ticker, Decimal(1), now, PriceSource.ALERT.value),
    ]


def gateway_writes(now: datetime) -> list[Write]:
    """A send's writes: the order as submitted, its fill, the order as filled."""
    order = _order(_alert(now))
    fill = Fill(
        fill_id=f"{order.client_order_id}:1",
        client_order_id=order.client_order_id,
        account=order.account,
        ticker=order.ticker,
        side=order.side,
        quantity=order.quantity,
        price=Decimal(1),
        commission=Decimal(0),
        currency=order.currency,
        filled_at=now,
    )
    submitted = order.submitted(now)
    report = BrokerOrder(
        client_order_id=order.client_order_id,
        broker_order_id="-",
        status=OrderStatus.FILLED,
        filled_quantity=order.quantity,
        avg_fill_price=Decimal(1),
        fills=(fill,),
    )
    return [AdvanceOrder(submitted), InsertFill(fill), AdvanceOrder(submitted.apply(report))]
