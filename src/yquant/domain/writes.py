"""What services write to the system of record: typed operations, one per kind of change.

The recorder (adapters/db) turns each into its table operation and row, for the database and
for the local journal alike; every operation is idempotent and safe to replay late.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from yquant.domain.model import Alert, Fill, Instrument, Market, Order, SignalStatus
from yquant.domain.reasons import ReasonCode


@dataclass(frozen=True, slots=True)
class InsertSignal:
    """A signal as received (accepted) or refused; a repeat of its key changes nothing.

    ``fields`` is the decoded body as sent; its secret is never stored."""

    key: str
    worker: str
    status: SignalStatus
    received_at: datetime
    updated_at: datetime
    alert: Alert | None = None
    reason: ReasonCode | None = None
    detail: str | None = None
    source_ip: str | None = None
    fields: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AdvanceSignal:
    """A signal's decision: moves it forward (accepted → ordered/rejected), never back.

    Without ``alert`` only the status, reason and detail change (the facts stay as recorded).
    A ``provisional`` outcome ranks with ``accepted``: a decision an engine records later for
    the same signal still wins."""

    key: str
    worker: str
    status: SignalStatus
    received_at: datetime
    updated_at: datetime
    alert: Alert | None = None
    reason: ReasonCode | None = None
    detail: str | None = None
    provisional: bool = False


@dataclass(frozen=True, slots=True)
class InsertOrder:
    """An order's intent, recorded before any broker sees it; a repeat changes nothing."""

    order: Order


@dataclass(frozen=True, slots=True)
class AdvanceOrder:
    """An order's new state; applied only if it is at least as far along as the stored one."""

    order: Order


@dataclass(frozen=True, slots=True)
class InsertFill:
    """One execution; a repeat of its fill id changes nothing."""

    fill: Fill


@dataclass(frozen=True, slots=True)
class QueueOrder:
    """An order kept for the next session: the alert is decided again at its release."""

    alert: Alert
    account: str
    instrument: Instrument
    detail: str
    release_after: datetime
    expires_at: datetime
    queued_at: datetime
    # A standby worker's order left to the active worker: released at once, decided there as
    # a signal arriving then would be (the market's session, the signal's age and all).
    handed_over: bool = False


@dataclass(frozen=True, slots=True)
class RecordPrice:
    """A price seen for an instrument (an alert's, a fill's): kept only if it is newer than the
    one stored, so a late replay never moves the last price back."""

    market: Market
    ticker: str
    price: Decimal
    at: datetime
    source: str  # alert | fill | quote (yquant.ports.PriceSource)


Write = (
    InsertSignal
    | AdvanceSignal
    | InsertOrder
    | AdvanceOrder
    | InsertFill
    | QueueOrder
    | RecordPrice
)
