"""Commands between the roles of a worker: what one role asks another to do.

Each travels on its own stream (the bus adapter encodes it); a command is frozen, and a change
to one is a new command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yquant.domain.model import Alert, Order
from yquant.domain.reasons import ReasonCode


@dataclass(frozen=True, slots=True)
class DecideSignal:
    """Webhook → engine: decide an accepted, recorded alert (``yq:signals``)."""

    alert: Alert


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Engine → gateway: send a recorded order to its broker (``yq:orders``)."""

    order: Order


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Operator (CLI, dashboard) → gateway: cancel a recorded order at its broker
    (``yq:cancels``). ``request_id`` names the answer the gateway leaves for the asker;
    ``reason`` is the one the order ends with when the cancel takes effect."""

    client_order_id: str
    request_id: str
    requested_at: datetime
    reason: ReasonCode = ReasonCode.CANCELLED_BY_OPERATOR


Command = DecideSignal | PlaceOrder | CancelOrder
