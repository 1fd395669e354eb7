"""Turning an alert into orders for each routed account: pure, explained, never short.

This is the foundation's sizing: the alert's own ``quantity`` or the strategy's fixed quantity
for buys; sells are capped by the shares held; exit sells the whole position.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from yquant.domain.model import Action, Alert, Order, OrderType, Side, client_order_id

NO_QUANTITY = "no_quantity"
NO_POSITION = "no_position"


@dataclass(frozen=True, slots=True)
class Plan:
    orders: tuple[Order, ...]
    skipped: tuple[tuple[str, str], ...]  # (account, reason code)

    @property
    def reason(self) -> str | None:
        """The rejection reason when no order came out of the alert."""
        if self.orders:
            return None
        return self.skipped[0][1] if self.skipped else NO_QUANTITY


def plan_orders(
    alert: Alert,
    accounts: list[str],
    fixed_quantity: Decimal | None,
    holdings: dict[str, Decimal],
) -> Plan:
    """Orders for ``alert`` on each account; ``holdings`` maps account → shares of this ticker."""
    orders: list[Order] = []
    skipped: list[tuple[str, str]] = []
    wanted = alert.quantity if alert.quantity is not None else fixed_quantity
    for account in accounts:
        held = max(holdings.get(account, Decimal(0)), Decimal(0))
        if alert.action is Action.BUY:
            side, quantity = Side.BUY, wanted
            if quantity is None:
                skipped.append((account, NO_QUANTITY))
                continue
        else:
            side = Side.SELL
            quantity = held if alert.action is Action.EXIT or wanted is None else min(wanted, held)
            if quantity <= 0:
                skipped.append((account, NO_POSITION))
                continue
        orders.append(
            Order(
                client_order_id=client_order_id(alert.key, account),
                signal_key=alert.key,
                account=account,
                strategy=alert.strategy,
                ticker=alert.ticker,
                exchange=alert.exchange,
                market=alert.market,
                side=side,
                order_type=alert.order_type,
                quantity=quantity,
                limit_price=alert.limit_price if alert.order_type is OrderType.LIMIT else None,
                reference_price=alert.price,
                created_at=alert.received_at,
                updated_at=alert.received_at,
            )
        )
    return Plan(tuple(orders), tuple(skipped))
