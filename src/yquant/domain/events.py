"""Events: what happened, in the past tense.

`OrderFilled` goes on the executions stream; the others are live-view announcements for
dashboards, fire-and-forget (losing one is harmless).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from yquant.domain.model import Fill, OrderStatus, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState


@dataclass(frozen=True, slots=True)
class OrderFilled:
    """A new execution of an order, as recorded (``yq:executions``)."""

    fill: Fill


@dataclass(frozen=True, slots=True)
class CancelAnswered:
    """The gateway's answer to a `CancelOrder`, left for the asker under its request id.

    ``done``: the cancel took effect (the order ended cancelled or expired, possibly after a
    partial fill). Otherwise ``reason`` says why not: ``not_found``, ``already_final`` (it had
    ended, or the fill won the race: ``status`` says which), ``not_acknowledged``, or the
    broker's refusal (the order works on)."""

    client_order_id: str
    request_id: str
    status: OrderStatus | None  # None: no such order
    filled_quantity: Decimal
    done: bool
    reason: ReasonCode | None = None


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
