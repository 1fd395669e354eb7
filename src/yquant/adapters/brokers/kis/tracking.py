"""From KIS's order inquiry rows to our order state and fills.

KIS reports per order the cumulative filled quantity and amount, not individual executions. A
fill is therefore the step between what we had recorded and what KIS reports now: its quantity
is the difference, its price the difference in filled amount divided by it, and its id names the
cumulative quantity it brought the order to (``<client order id>:<cumulative qty>``), so the
same state seen twice yields the same fill. KIS reports no commission per order: fills carry 0
and the account sync brings in the cash KIS actually booked.

KIS has no client order id. An order whose number we never received (the request timed out) is
found by its content: same ticker, side, quantity and limit, placed after we sent ours, and not
already known to belong to another of our orders. One match is adopted; several are ambiguous
and stay unknown until a person looks.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import Decimal

from yquant.adapters.brokers.kis.errors import reject_reason
from yquant.adapters.brokers.kis.schemas import KST, NEW_YORK, VenueOrder
from yquant.domain.model import CURRENCY, BrokerOrder, Fill, Market, Order, OrderStatus, OrderType
from yquant.domain.reasons import ReasonCode

_PRICE_PLACES = {"KRW": Decimal("0.01"), "USD": Decimal("0.0001")}
CLOCK_SKEW = timedelta(seconds=90)


def same_id(a: str, b: str) -> bool:
    """ODNOs compare without their zero padding (older paper responses were unpadded)."""
    return bool(a) and bool(b) and a.lstrip("0") == b.lstrip("0")


def find(rows: list[VenueOrder], broker_order_id: str) -> VenueOrder | None:
    for row in rows:
        if not row.is_cancel and same_id(row.broker_order_id, broker_order_id):
            return row
    return None


def chain(rows: list[VenueOrder], broker_order_id: str) -> VenueOrder | None:
    """The order ``broker_order_id`` belongs to, across its modifies (정정), as one row.

    A modify moves what is left of an order to a new order number whose ``original_order_id``
    names the old one; the old row then shows that part as cancelled. Walking the links both
    ways from any number of the chain gives the same answer: the quantities filled under every
    number, and the state (what is left, cancelled, rejected, limit) of the latest one."""
    row = find(rows, broker_order_id)
    if row is None:
        return None
    links = [row]
    while links[0].original_order_id:  # back to the order first placed
        earlier = find(rows, links[0].original_order_id)
        if earlier is None or earlier in links:
            break
        links.insert(0, earlier)
    while True:  # forward to the latest modify
        later = next(
            (
                r
                for r in rows
                if not r.is_cancel
                and same_id(r.original_order_id, links[-1].broker_order_id)
                and r not in links
            ),
            None,
        )
        if later is None:
            break
        links.append(later)
    if len(links) == 1:
        return row
    latest, root = links[-1], links[0]
    earlier_filled = sum((r.filled_quantity for r in links[:-1]), Decimal(0))
    filled = earlier_filled + latest.filled_quantity
    amount = sum((r.filled_amount for r in links), Decimal(0))
    return dataclasses.replace(
        latest,
        original_order_id=root.original_order_id,
        quantity=earlier_filled + latest.quantity,
        filled_quantity=filled,
        filled_amount=amount,
        avg_price=(amount / filled) if filled and amount else latest.avg_price,
        ordered_at=root.ordered_at,
    )


def candidates(
    order: Order, rows: list[VenueOrder], taken: set[str], not_before: datetime
) -> list[VenueOrder]:
    """Rows that could be ``order`` placed without us learning its number."""
    taken_norm = {t.lstrip("0") for t in taken}
    found = []
    for row in rows:
        if row.is_cancel or row.original_order_id or row.broker_order_id.lstrip("0") in taken_norm:
            continue  # cancels and modifies are never an order placed of its own
        if row.ticker != order.ticker or row.side is not order.side:
            continue
        if row.quantity != order.quantity or row.ordered_at < not_before - CLOCK_SKEW:
            continue
        limited = order.order_type is OrderType.LIMIT and order.market is Market.KR
        if limited and row.limit_price != order.limit_price:
            continue
        found.append(row)
    return found


def status_of(row: VenueOrder, rows: list[VenueOrder], venue_today: date) -> OrderStatus:
    cancel_requested = any(
        r.is_cancel and same_id(r.original_order_id, row.broker_order_id) for r in rows
    )
    if row.quantity > 0 and row.filled_quantity >= row.quantity:
        return OrderStatus.FILLED
    if row.rejected and row.filled_quantity == 0:
        return OrderStatus.REJECTED
    if (row.cancelled_quantity > 0 or cancel_requested) and row.remaining == 0:
        return OrderStatus.CANCELLED
    if row.remaining == 0 and row.filled_quantity < row.quantity:
        return OrderStatus.CANCELLED
    if row.ordered_at.astimezone(KST if row.market is Market.KR else NEW_YORK).date() < venue_today:
        return OrderStatus.EXPIRED  # day orders end with their session
    return OrderStatus.PARTIALLY_FILLED if row.filled_quantity > 0 else OrderStatus.ACCEPTED


def to_broker_order(
    order: Order, row: VenueOrder, rows: list[VenueOrder], venue_today: date, now: datetime
) -> BrokerOrder:
    status = status_of(row, rows, venue_today)
    fills = new_fills(order, row, now)
    avg = (row.filled_amount / row.filled_quantity) if row.filled_quantity else None
    reason = None
    if status is OrderStatus.REJECTED:
        reason = (
            reject_reason("", row.reject_text) if row.reject_text else ReasonCode.BROKER_REJECTED
        )
    return BrokerOrder(
        client_order_id=order.client_order_id,
        status=status,
        filled_quantity=max(row.filled_quantity, order.filled_quantity),
        avg_fill_price=avg if avg is not None else order.avg_fill_price,
        broker_order_id=row.broker_order_id,
        reason=reason,
        fills=fills,
    )


def new_fills(order: Order, row: VenueOrder, now: datetime) -> tuple[Fill, ...]:
    before = order.filled_quantity
    if row.filled_quantity <= before:
        return ()
    quantity = row.filled_quantity - before
    amount_before = before * (order.avg_fill_price or Decimal(0))
    amount = row.filled_amount - amount_before if row.filled_amount else None
    currency = CURRENCY[order.market]
    price = (row.avg_price or Decimal(0)) if amount is None or amount <= 0 else amount / quantity
    price = price.quantize(_PRICE_PLACES.get(currency, Decimal("0.0001")))
    return (
        Fill(
            fill_id=f"{order.client_order_id}:{row.filled_quantity.normalize():f}",
            client_order_id=order.client_order_id,
            account=order.account,
            ticker=order.ticker,
            side=order.side,
            quantity=quantity,
            price=price,
            commission=Decimal(0),
            currency=currency,
            filled_at=now,
        ),
    )
