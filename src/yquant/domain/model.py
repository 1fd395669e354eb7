"""Values of the trading core: alerts, orders, fills, broker reports and the order state machine."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from yquant.domain.reasons import ReasonCode


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"
    EXIT = "exit"  # close the whole position (also spelled close / flat)


class MarketPosition(StrEnum):
    """A TradingView strategy's position (``{{strategy.market_position}}``)."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class Market(StrEnum):
    KR = "KR"
    US = "US"


CURRENCY = {Market.KR: "KRW", Market.US: "USD"}


class SignalStatus(StrEnum):
    ACCEPTED = "accepted"  # durably recorded, waiting for the engine
    ORDERED = "ordered"  # the engine made its orders
    REJECTED = "rejected"  # refused, with a reason code

    @property
    def rank(self) -> int:
        return SIGNAL_RANK[self]


# How far along a signal is, stored as signals.status_rank: the database keeps the row whose rank
# is at least the stored one, so an engine's decision (ordered or rejected) beats the webhook's
# "accepted" whatever order the writes arrive in. Never renumbered.
SIGNAL_RANK: dict[SignalStatus, int] = {
    SignalStatus.ACCEPTED: 0,
    SignalStatus.ORDERED: 1,
    SignalStatus.REJECTED: 1,
}


class OrderStatus(StrEnum):
    # Decided by the engine for a strategy in manual approval: recorded, never sent until a
    # person (or the timeout) decides (yquant.services.approvals).
    AWAITING_APPROVAL = "awaiting_approval"
    NEW = "new"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    CANCEL_REQUESTED = "cancel_requested"  # a cancel sent; fills may still come until it ends
    FILLED = "filled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
)
# How an order ends when a cancel (or its day's end) takes it off the market.
ENDED_BY_CANCEL = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED})
# Acknowledged by the broker and not final: what a cancel can reach.
LIVE_STATUSES = frozenset(
    {OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCEL_REQUESTED}
)

# How far along an order is: the one rule of the order state machine. A broker's report may
# keep an order where it is or move it further along, never back (a late, older answer never
# wins), and a final state is never left. UNKNOWN is entered when a submit's outcome is not known
# and left only by asking the broker, whose answer is taken whatever it is (NEW included: the
# broker has no trace of the order, it was never placed). An order may skip steps: a NEW order
# found at the broker (sent by a worker that died before recording it) moves straight on.
# CANCEL_REQUESTED comes after the working states: fills may still arrive (the filled quantity
# grows, the status stays) until the broker ends the order (cancelled, or filled when the fill
# won the race). It is the one state that may go back: to working, when the broker refused the
# cancel (`Order.cancel_refused`); a broker's report never takes it back (`Order.apply`).
# AWAITING_APPROVAL comes before everything: it is left only by a decision (approved: NEW;
# refused or timed out: REJECTED), and nothing moves into it.
# The ranks are stored (orders.status_rank, which makes the database's upsert move forward only):
# they are never renumbered.
STATUS_RANK: dict[OrderStatus, int] = {
    OrderStatus.AWAITING_APPROVAL: -1,
    OrderStatus.NEW: 0,
    OrderStatus.SUBMITTED: 1,
    OrderStatus.UNKNOWN: 2,
    OrderStatus.ACCEPTED: 3,
    OrderStatus.PARTIALLY_FILLED: 4,
    OrderStatus.CANCEL_REQUESTED: 5,
    OrderStatus.FILLED: 9,
    OrderStatus.REJECTED: 9,
    OrderStatus.CANCELLED: 9,
    OrderStatus.EXPIRED: 9,
}


_WORKING_AGAIN = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})
# What an approval decision leaves an awaiting order as.
APPROVAL_OUTCOMES = frozenset({OrderStatus.NEW, OrderStatus.REJECTED})


def _moves_on(current: OrderStatus, new: OrderStatus) -> bool:
    if current is new:
        return True
    if current is OrderStatus.AWAITING_APPROVAL:
        return new in APPROVAL_OUTCOMES
    if new is OrderStatus.AWAITING_APPROVAL:
        return False
    if current.is_final:
        return False
    if current is OrderStatus.UNKNOWN:
        return True
    if current is OrderStatus.CANCEL_REQUESTED and new in _WORKING_AGAIN:
        return True  # the broker refused the cancel: the order works on
    return STATUS_RANK[new] >= STATUS_RANK[current]


# The rule above as a table: the statuses each status may move to (itself included). The
# database's upsert is built from this table, so the domain and the stored row cannot disagree.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    current: frozenset(new for new in OrderStatus if _moves_on(current, new))
    for current in OrderStatus
}


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    return new in TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class Alert:
    """A TradingView alert that passed validation."""

    key: str
    strategy: str
    ticker: str
    exchange: str
    market: Market
    action: Action
    received_at: datetime
    price: Decimal | None = None
    quantity: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    strength: Decimal | None = None
    # TradingView's strategy fields: the position after the order and before it (they state
    # the order's intent: see yquant.domain.intent) and the signed size after it.
    position_size: Decimal | None = None
    market_position: MarketPosition | None = None
    prev_market_position: MarketPosition | None = None
    alert_id: str | None = None
    bar_time: datetime | None = None
    sent_at: datetime | None = None
    comment: str | None = None

    @property
    def currency(self) -> str:
        return CURRENCY[self.market]


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str  # unique per order: broker execution id or "<client_order_id>:<seq>"
    client_order_id: str
    account: str
    ticker: str
    side: Side
    quantity: Decimal
    price: Decimal
    commission: Decimal
    currency: str
    filled_at: datetime


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """What the broker says about one of our orders (its report)."""

    client_order_id: str
    status: OrderStatus
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    broker_order_id: str | None = None
    reason: str | None = None
    fills: tuple[Fill, ...] = field(default_factory=tuple)

    @classmethod
    def rejected(cls, client_order_id: str, reason: ReasonCode) -> BrokerOrder:
        """A refusal before anything was filled: by the broker, or by us before sending."""
        return cls(client_order_id, OrderStatus.REJECTED, Decimal(0), None, reason=reason)


@dataclass(frozen=True, slots=True)
class Order:
    client_order_id: str
    signal_key: str | None
    account: str
    strategy: str
    ticker: str
    exchange: str
    market: Market
    side: Side
    order_type: OrderType
    quantity: Decimal
    created_at: datetime
    updated_at: datetime
    limit_price: Decimal | None = None
    reference_price: Decimal | None = None
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    broker_order_id: str | None = None
    reason: str | None = None
    # A cancel-replace: the working order (its client order id) cancelled before this is sent.
    replaces: str | None = None

    @property
    def currency(self) -> str:
        return CURRENCY[self.market]

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def status_rank(self) -> int:
        return STATUS_RANK[self.status]

    def evolve(self, **changes: object) -> Order:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def submitted(self, at: datetime) -> Order:
        """This order about to be sent (or possibly sent): SUBMITTED, as ``can_transition``
        allows (an order already further along keeps its status)."""
        return self.apply(
            BrokerOrder(self.client_order_id, OrderStatus.SUBMITTED, Decimal(0), None)
        ).evolve(updated_at=at)

    def apply(self, report: BrokerOrder) -> Order:
        """This order as the broker's report leaves it.

        The status moves only as ``can_transition`` allows: a report that would move the order
        back (or out of a final state) is refused and the order keeps its status. A requested
        cancel stays requested while the broker reports the order working (its inquiry may
        lag the cancel; only `cancel_refused` takes it back), and a cancel that lost the race
        to the fill leaves no cancel reason on the filled order. The filled quantity only
        grows; the average price, the broker's id and the reason are taken from the report
        where it has them and kept where it does not. ``updated_at`` is the caller's.
        """
        status = report.status if can_transition(self.status, report.status) else self.status
        reason = report.reason or self.reason
        if self.status is OrderStatus.CANCEL_REQUESTED:
            if status in _WORKING_AGAIN:
                status = OrderStatus.CANCEL_REQUESTED
            elif status is OrderStatus.FILLED:
                reason = report.reason
        return dataclasses.replace(
            self,
            status=status,
            filled_quantity=max(report.filled_quantity, self.filled_quantity),
            avg_fill_price=report.avg_fill_price if report.avg_fill_price else self.avg_fill_price,
            broker_order_id=report.broker_order_id or self.broker_order_id,
            reason=reason,
        )

    def awaiting_approval(self) -> Order:
        """This order, just decided, held for a person's approval instead of being sent."""
        if self.status is not OrderStatus.NEW:
            raise ValueError(f"a {self.status} order cannot wait for approval")
        return dataclasses.replace(self, status=OrderStatus.AWAITING_APPROVAL)

    def approval_decided(self, reason: ReasonCode | None, at: datetime) -> Order:
        """This awaiting order as its decision leaves it: NEW (to be sent) without a refusal
        ``reason``, REJECTED with one."""
        if self.status is not OrderStatus.AWAITING_APPROVAL:
            raise ValueError(f"a {self.status} order is not awaiting approval")
        if reason is None:
            return dataclasses.replace(
                self, status=OrderStatus.NEW, reason=ReasonCode.APPROVED, updated_at=at
            )
        return dataclasses.replace(self, status=OrderStatus.REJECTED, reason=reason, updated_at=at)

    @property
    def is_live(self) -> bool:
        """Acknowledged by the broker and not final: a cancel can reach it."""
        return self.status in LIVE_STATUSES

    def cancel_requested(self, reason: ReasonCode, at: datetime) -> Order:
        """This working order with a cancel sent for ``reason`` (the reason it ends with)."""
        if not self.is_live:
            raise ValueError(f"a {self.status} order cannot be cancelled at the broker")
        return dataclasses.replace(
            self, status=OrderStatus.CANCEL_REQUESTED, reason=reason, updated_at=at
        )

    def cancel_refused(self, reason: ReasonCode, at: datetime) -> Order:
        """This order working again: the broker refused its cancel for ``reason``."""
        if self.status is not OrderStatus.CANCEL_REQUESTED:
            return self
        working = OrderStatus.PARTIALLY_FILLED if self.filled_quantity else OrderStatus.ACCEPTED
        return dataclasses.replace(self, status=working, reason=reason, updated_at=at)


def client_order_id(signal_key: str, account: str) -> str:
    """Deterministic: the same signal routed to the same account is always the same order."""
    digest = hashlib.sha256(f"{signal_key}\x1f{account}".encode()).hexdigest()
    return "yq" + digest[:22]


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable listing from the stock catalog."""

    market: Market
    exchange: str  # KOSPI, KOSDAQ, KONEX, NASDAQ, NYSE, AMEX
    ticker: str
    currency: str
    name_ko: str | None = None
    name_en: str | None = None
    standard_code: str | None = None  # ISIN where known
    security_type: str | None = None  # stock, etf, etn, preferred, reit ...
    tradable: bool = True
    halted: bool = False
    base_price: Decimal | None = None  # KRX: the day's base price, the anchor of its limits
