"""Execution quality: how long each hop of a signal's path took, and what the fill cost against
the alert's price.

The path of one order, each time as recorded where it happened:

- ``timenow``: TradingView's ``{{timenow}}`` in the alert, when sent (TradingView's clock);
- ``received``: the webhook recorded the alert (``signals.received_at``);
- ``decided``: the engine's decision ended and the order was recorded (the order's first step,
  ``new`` in ``order_events``; an order recorded before this was kept: ``orders.created_at``,
  when the decision began);
- ``sent``: the gateway recorded the order as submitted just before asking the broker (the
  ``submitted`` step in ``order_events``);
- ``accepted``: the first step at which the broker had the order (accepted, or straight to a
  partial or whole fill when the fill came with the answer);
- ``first fill`` / ``last fill``: the earliest and latest execution (``fills.filled_at``, the
  broker's time where it reports one, at its resolution: KIS reports whole seconds).

A hop between two clocks (TradingView's and ours, ours and the broker's) can come out negative
by the clocks' difference: it is kept as measured, never clipped, so a skew shows.

Slippage is the average fill price against the alert's price, in basis points, signed so that
positive is worse for the trader: a buy filled above the alert's price, a sell filled below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from yquant.domain.model import Side

BPS = Decimal(10_000)
_BPS_STEP = Decimal("0.01")
PERCENTILES = (50, 95, 99)


class Hop(StrEnum):
    """One stretch of the path, named ``from_to``; the values are stable (JSON keys)."""

    TIMENOW_RECEIVED = "timenow_received"
    RECEIVED_DECIDED = "received_decided"
    DECIDED_SENT = "decided_sent"
    SENT_ACCEPTED = "sent_accepted"
    ACCEPTED_FIRST_FILL = "accepted_first_fill"
    FIRST_LAST_FILL = "first_last_fill"
    RECEIVED_FIRST_FILL = "received_first_fill"  # our part of the path, end to end


# Each hop's two ends, as attribute names of `ExecutionRecord`.
HOP_ENDS: dict[Hop, tuple[str, str]] = {
    Hop.TIMENOW_RECEIVED: ("timenow", "received_at"),
    Hop.RECEIVED_DECIDED: ("received_at", "decided_at"),
    Hop.DECIDED_SENT: ("decided_at", "sent_at"),
    Hop.SENT_ACCEPTED: ("sent_at", "accepted_at"),
    Hop.ACCEPTED_FIRST_FILL: ("accepted_at", "first_fill_at"),
    Hop.FIRST_LAST_FILL: ("first_fill_at", "last_fill_at"),
    Hop.RECEIVED_FIRST_FILL: ("received_at", "first_fill_at"),
}


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One order's recorded path (None: that step was not recorded or did not happen)."""

    client_order_id: str
    account: str
    broker: str
    strategy: str
    market: str
    ticker: str
    side: Side
    decided_at: datetime
    alert_price: Decimal | None = None
    timenow: datetime | None = None
    received_at: datetime | None = None
    sent_at: datetime | None = None
    accepted_at: datetime | None = None
    first_fill_at: datetime | None = None
    last_fill_at: datetime | None = None
    fill_price: Decimal | None = None  # the average over the order's fills
    filled_quantity: Decimal = Decimal(0)

    def hop_seconds(self, hop: Hop) -> float | None:
        start, end = (getattr(self, name) for name in HOP_ENDS[hop])
        if start is None or end is None:
            return None
        return float((end - start).total_seconds())

    @property
    def slippage_bps(self) -> Decimal | None:
        if self.fill_price is None or self.alert_price is None:
            return None
        return slippage_bps(self.side, self.alert_price, self.fill_price)


def slippage_bps(side: Side, alert_price: Decimal, fill_price: Decimal) -> Decimal:
    """The fill against the alert's price in basis points; positive is worse for the trader."""
    if alert_price <= 0:
        raise ValueError("an alert price is positive")
    sign = 1 if side is Side.BUY else -1
    moved = (fill_price - alert_price) / alert_price * BPS * sign
    return moved.quantize(_BPS_STEP, rounding=ROUND_HALF_EVEN)


def average_price(fills: Iterable[tuple[Decimal, Decimal]]) -> Decimal | None:
    """The quantity-weighted average of (quantity, price) pairs; None without any quantity."""
    quantity = Decimal(0)
    amount = Decimal(0)
    for q, p in fills:
        quantity += q
        amount += q * p
    return amount / quantity if quantity else None


def percentile(values: Sequence[float] | Sequence[Decimal], p: float) -> float:
    """The ``p``-th percentile by linear interpolation between the closest ranks (numpy's
    default, "type 7"): rank ``p/100 * (n - 1)`` of the sorted values."""
    if not values:
        raise ValueError("no values")
    if not 0 <= p <= 100:
        raise ValueError("a percentile is between 0 and 100")
    ordered = sorted(float(v) for v in values)
    rank = p / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Spread:
    """The percentiles of one measure over a group: how many values and p50, p95, p99."""

    count: int
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float] | Sequence[Decimal]) -> Spread | None:
        if not values:
            return None
        p50, p95, p99 = (percentile(values, p) for p in PERCENTILES)
        return cls(len(values), p50, p95, p99)


GroupKey = tuple[str, str, str]  # strategy, market, broker ("*" in a total)
ALL = "*"


@dataclass(frozen=True, slots=True)
class GroupQuality:
    """The execution quality of one group of orders."""

    key: GroupKey
    orders: int
    filled: int
    hops: Mapping[Hop, Spread | None]
    slippage_bps: Spread | None


def quality(records: Iterable[ExecutionRecord]) -> list[GroupQuality]:
    """Per strategy, market and broker, then the total over all orders (key ``*, *, *``)."""
    groups: dict[GroupKey, list[ExecutionRecord]] = {}
    every: list[ExecutionRecord] = []
    for r in records:
        groups.setdefault((r.strategy, r.market, r.broker), []).append(r)
        every.append(r)
    out = [_group(key, groups[key]) for key in sorted(groups)]
    if every:
        out.append(_group((ALL, ALL, ALL), every))
    return out


def _group(key: GroupKey, records: list[ExecutionRecord]) -> GroupQuality:
    hops: dict[Hop, Spread | None] = {}
    for hop in Hop:
        values = [s for s in (r.hop_seconds(hop) for r in records) if s is not None]
        hops[hop] = Spread.of(values)
    slips = [s for s in (r.slippage_bps for r in records) if s is not None]
    return GroupQuality(
        key=key,
        orders=len(records),
        filled=sum(1 for r in records if r.filled_quantity > 0),
        hops=hops,
        slippage_bps=Spread.of(slips),
    )


def quantize_bps(value: float) -> Decimal:
    """A percentile of slippage for display: basis points to the hundredth."""
    return Decimal(repr(value)).quantize(_BPS_STEP, rounding=ROUND_HALF_EVEN)
