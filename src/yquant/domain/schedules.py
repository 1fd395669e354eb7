"""Scheduled orders (예약 주문): what a schedule is, whether it is valid, and when it fires. Pure.

A schedule fires at most once per session date of its market, at a time in the market's own
time zone (KST for KRX, New York for the US exchanges; daylight saving comes with the calendar):

- ``fixed``: a local time (HH:MM), which must lie inside the market's regular session;
- ``after_open``: N minutes after that day's open (a late open, such as the 수능 day's 10:00,
  moves it);
- ``before_close``: N minutes before that day's close (a half day moves it with the early close).

A weekday it is set for on which the market has no session is ``skipped`` (``market_holiday``);
a fixed time that falls outside that day's session (the late open, an early close, the lunch
break) is ``skipped`` (``outside_session``). The action is an order (a side, a ticker and a
size: a quantity, or an amount in the market's currency turned into a quantity at the price of
the moment) or a liquidation with the liquidation's filters (account, strategy, market, ticker).

Every entry point (CLI, import file, dashboard form) hands `schedule_fields.parse` the same plain
fields, and gets back a `ScheduledOrder` or every problem, each naming its field.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

from yquant.domain import market_rules
from yquant.domain.market_rules import MarketCalendar, Session, Venue
from yquant.domain.model import Market, OrderType, Side
from yquant.domain.reasons import ReasonCode

SOURCE_PREFIX = "schedule:"  # the signal log's source, and the strategy of an account's schedule
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TRADING_DAYS: tuple[str, ...] = WEEKDAYS[:5]
LOOKAHEAD_DAYS = 21  # the longest closure (Lunar New Year plus weekends) is well inside this
MARKET_EXCHANGES: dict[Market, tuple[str, ...]] = {
    Market.KR: ("KRX",),
    Market.US: ("NASDAQ", "NYSE", "AMEX"),
}


class ScheduleAction(StrEnum):
    ORDER = "order"
    LIQUIDATE = "liquidate"


class TimeKind(StrEnum):
    FIXED = "fixed"
    AFTER_OPEN = "after_open"
    BEFORE_CLOSE = "before_close"


class RunStatus(StrEnum):
    CLAIMED = "claimed"  # taken by a worker, the order being made (a crash leaves it so)
    FIRED = "fired"
    SKIPPED = "skipped"
    MISSED = "missed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ScheduledOrder:
    name: str
    action: ScheduleAction
    market: Market
    days: tuple[str, ...]
    time_kind: TimeKind
    local_time: time | None = None  # fixed
    offset_min: int | None = None  # after_open, before_close
    account: str | None = None  # an order: this account, or ``strategy``'s accounts
    strategy: str | None = None
    exchange: str | None = None
    ticker: str | None = None
    side: Side | None = None
    quantity: Decimal | None = None
    amount: Decimal | None = None  # in the market's currency
    order_type: OrderType = OrderType.MARKET
    limit_offset_pct: Decimal | None = None  # a limit: this far from the last price (signed)
    paused: bool = False
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def source(self) -> str:
        return SOURCE_PREFIX + self.name

    @property
    def venue(self) -> Venue:
        return market_rules.venue_for(self.exchange or MARKET_EXCHANGES[self.market][0])

    def fields(self) -> dict[str, Any]:
        """The plain fields `parse` reads (the export file's row)."""
        out: dict[str, Any] = {
            "name": self.name,
            "action": self.action.value,
            "market": self.market.value,
            "days": ",".join(self.days),
            "time_kind": self.time_kind.value,
            "local_time": self.local_time.strftime("%H:%M") if self.local_time else None,
            "offset_min": self.offset_min,
            "account": self.account,
            "strategy": self.strategy,
            "exchange": self.exchange,
            "ticker": self.ticker,
            "side": self.side.value if self.side else None,
            "quantity": _plain(self.quantity),
            "amount": _plain(self.amount),
            "order_type": self.order_type.value,
            "limit_offset_pct": _plain(self.limit_offset_pct),
            "paused": self.paused,
        }
        return {k: v for k, v in out.items() if v is not None}


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def is_schedule_strategy(strategy: str) -> bool:
    """The strategy of an account's scheduled order (sized and scoped like an operator's)."""
    return strategy.startswith(SOURCE_PREFIX)


def signal_key(schedule_id: int, day: date) -> str:
    """The signal of one firing: the same schedule and session date are always the same
    signal, so its orders' client ids are the same however often it is attempted."""
    digest = hashlib.sha256(f"schedule\x1f{schedule_id}\x1f{day.isoformat()}".encode())
    return "sch-" + digest.hexdigest()[:28]


# ---- when it fires ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Firing:
    """A schedule's firing on one session date: when (aware UTC), or why it is skipped."""

    day: date
    at: datetime  # the firing instant; for a skip, the start of the local day
    skip: ReasonCode | None = None
    detail: str = ""


def firing(spec: ScheduledOrder, calendar: MarketCalendar, day: date) -> Firing | None:
    """The firing on local date ``day``, or None when the schedule is not set for that weekday
    (or the calendar does not reach that day)."""
    if WEEKDAYS[day.weekday()] not in spec.days:
        return None
    if not calendar.covers(day) and day not in calendar.overrides.special_sessions:
        return None  # past the calendar's reach: not known to be closed, so never skipped
    tz = calendar.venue.tz
    start_of_day = datetime.combine(day, time(0), tz).astimezone(UTC)
    session = calendar.session(day)
    if session is None:
        return Firing(day, start_of_day, ReasonCode.MARKET_HOLIDAY, "no session on this day")
    at = _instant(spec, session, tz)
    if not session.contains(at):
        opens = session.open_at.astimezone(tz).strftime("%H:%M")
        closes = session.close_at.astimezone(tz).strftime("%H:%M")
        local = at.astimezone(tz).strftime("%H:%M")
        return Firing(
            day,
            start_of_day,
            ReasonCode.OUTSIDE_SESSION,
            f"{local} is outside this day's session ({opens}-{closes})",
        )
    return Firing(day, at)


def _instant(spec: ScheduledOrder, session: Session, tz: Any) -> datetime:
    if spec.time_kind is TimeKind.FIXED:
        assert spec.local_time is not None
        return datetime.combine(session.day, spec.local_time, tz).astimezone(UTC)
    offset = timedelta(minutes=spec.offset_min or 0)
    if spec.time_kind is TimeKind.AFTER_OPEN:
        return session.open_at + offset
    return session.close_at - offset


def next_firing(spec: ScheduledOrder, calendar: MarketCalendar, after: datetime) -> datetime | None:
    """The first firing strictly after ``after`` (skipped days passed over), None past the
    calendar's reach or the look-ahead."""
    day = after.astimezone(calendar.venue.tz).date()
    for offset in range(LOOKAHEAD_DAYS):
        candidate = day + timedelta(days=offset)
        if not calendar.covers(candidate):
            return None
        found = firing(spec, calendar, candidate)
        if found is not None and found.skip is None and found.at > after:
            return found.at
    return None


def regular_hours(calendar: MarketCalendar, around: date) -> tuple[time, time] | None:
    """The market's usual session hours in its local time: the most common over the weeks
    around ``around`` (so a half day or the 수능 day does not set them)."""
    tz = calendar.venue.tz
    seen: Counter[tuple[time, time]] = Counter()
    start = around - timedelta(days=30)
    for session in calendar.sessions(start, around + timedelta(days=30)):
        seen[(session.open_at.astimezone(tz).time(), session.close_at.astimezone(tz).time())] += 1
    return seen.most_common(1)[0][0] if seen else None


# ---- sizing ----------------------------------------------------------------------------------


def quantity_for(spec: ScheduledOrder, price: Decimal | None) -> Decimal | None:
    """The order's quantity: the schedule's own, or its amount at ``price`` in whole shares
    (rounded down: never more than the amount); None when an amount has no price to use."""
    if spec.quantity is not None:
        return spec.quantity
    if spec.amount is None or price is None or price <= 0:
        return None
    return (spec.amount / price).to_integral_value(rounding=ROUND_FLOOR)


def limit_price(spec: ScheduledOrder, price: Decimal) -> Decimal:
    """The limit at the schedule's offset from ``price`` (the engine moves it onto the tick
    grid in the safe direction)."""
    pct = spec.limit_offset_pct or Decimal(0)
    places = Decimal(1) if spec.market is Market.KR else Decimal("0.0001")
    return (price * (1 + pct / 100)).quantize(places)
