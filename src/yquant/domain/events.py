"""Events: what happened, in the past tense.

`OrderFilled` goes on the executions stream; the others are live-view announcements for
dashboards, fire-and-forget (losing one is harmless).
"""

from __future__ import annotations

from dataclasses import dataclass

from yquant.domain.model import Fill, OrderStatus, SignalStatus
from yquant.domain.risk import KillState


@dataclass(frozen=True, slots=True)
class OrderFilled:
    """A new execution of an order, as recorded (``yq:executions``)."""

    fill: Fill


@dataclass(frozen=True, slots=True)
class SignalsAccepted:
    """A batch of accepted signals was handed to the engine's stream."""

    count: int


@dataclass(frozen=True, slots=True)
class SignalRefused:
    """The webhook refused a request (and logged it)."""

    reason: str


@dataclass(frozen=True, slots=True)
class SignalDecided:
    """The engine recorded a signal's outcome."""

    key: str
    status: SignalStatus


@dataclass(frozen=True, slots=True)
class OrderChanged:
    """An order moved on (status, fills, broker id or reason)."""

    client_order_id: str
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class SwitchChanged:
    """A kill switch was set."""

    scope: str  # "global" or an account name
    state: KillState


LiveEvent = SignalsAccepted | SignalRefused | SignalDecided | OrderChanged | SwitchChanged
