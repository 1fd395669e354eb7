"""Commands between the roles of a worker: what one role asks another to do.

Each travels on its own stream (the bus adapter encodes it); a command is frozen, and a change
to one is a new command.
"""

from __future__ import annotations

from dataclasses import dataclass

from yquant.domain.model import Alert, Order


@dataclass(frozen=True, slots=True)
class DecideSignal:
    """Webhook → engine: decide an accepted, recorded alert (``yq:signals``)."""

    alert: Alert


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Engine → gateway: send a recorded order to its broker (``yq:orders``)."""

    order: Order


Command = DecideSignal | PlaceOrder
