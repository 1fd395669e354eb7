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

Every entry point (CLI, import file, dashboard form) hands `parse` the same plain fields, and
gets back a `ScheduledOrder` or every problem, each naming its field.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from yquant.domain import market_rules
from yquant.domain.market_rules import MarketCalendar, Session, Venue
from yquant.domain.model import Market, OrderType, Side
from yquant.domain.reasons import ReasonCode

SOURCE_PREFIX = "schedule:"  # the signal log's source, and the strategy of an account's schedule
NAME_MAX = 48  # "schedule:" + the name fits the signal log's 64-character source
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TRADING_DAYS: tuple[str, ...] = WEEKDAYS[:5]
MAX_OFFSET_MIN = 600
MAX_LIMIT_OFFSET_PCT = Decimal(30)  # KRX's daily band: a limit further away can never fill
LOOKAHEAD_DAYS = 21  # the longest closure (Lunar New Year plus weekends) is well inside this
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_MARKET_EXCHANGES: dict[Market, tuple[str, ...]] = {
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
        return market_rules.venue_for(self.exchange or _MARKET_EXCHANGES[self.market][0])

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


# ---- parsing and validation ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ScheduleInvalidError(ValueError):
    """A schedule's fields with one or more problems, each naming its field."""

    def __init__(self, problems: list[Problem], row: int | None = None) -> None:
        self.problems = problems
        self.row = row
        where = f"row {row}: " if row is not None else ""
        super().__init__(where + "; ".join(str(p) for p in problems))


@dataclass
class _Reader:
    data: Mapping[str, Any]
    problems: list[Problem] = field(default_factory=list)

    def text(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            self.problems.append(Problem(name, "not a text value"))
            return None
        text = str(value).strip()
        return text or None

    def choice(self, name: str, options: Iterable[str], default: str | None = None) -> str | None:
        text = self.text(name)
        if text is None:
            return default
        allowed = tuple(options)
        if text.lower() not in allowed:
            self.problems.append(Problem(name, f"{text!r}: one of {', '.join(allowed)}"))
            return None
        return text.lower()

    def decimal(self, name: str) -> Decimal | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            value = Decimal(text.replace(",", "").replace("_", ""))
        except InvalidOperation:
            self.problems.append(Problem(name, f"{text!r} is not a number"))
            return None
        if not value.is_finite():
            self.problems.append(Problem(name, f"{text!r} is not a number"))
            return None
        return value

    def integer(self, name: str) -> int | None:
        value = self.decimal(name)
        if value is None:
            return None
        if value != value.to_integral_value():
            self.problems.append(Problem(name, "a whole number of minutes"))
            return None
        return int(value)

    def flag(self, name: str) -> bool:
        value = self.data.get(name)
        if value is None or isinstance(value, bool):
            return bool(value)
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off", ""):
            return False
        self.problems.append(Problem(name, f"{value!r}: true or false"))
        return False


KNOWN_FIELDS = frozenset(
    {
        "name",
        "action",
        "market",
        "days",
        "time_kind",
        "local_time",
        "offset_min",
        "account",
        "strategy",
        "exchange",
        "ticker",
        "side",
        "quantity",
        "amount",
        "order_type",
        "limit_offset_pct",
        "paused",
    }
)


def parse(
    data: Mapping[str, Any],
    *,
    accounts: Iterable[str],
    strategies: Iterable[str],
    calendar: MarketCalendar | None = None,
    today: date | None = None,
) -> ScheduledOrder:
    """A schedule from its plain fields, or ScheduleInvalidError with every problem.

    ``calendar`` (the market's, with ``today``): a fixed time is checked against the market's
    regular session; without it only the time's form is checked."""
    r = _Reader(data)
    for unknown in sorted(set(data) - KNOWN_FIELDS):
        r.problems.append(Problem(unknown, "not a schedule field"))
    name = (r.text("name") or "").lower()
    if not name:
        r.problems.append(Problem("name", "required"))
    elif len(name) > NAME_MAX or not set(name) <= _NAME_CHARS:
        r.problems.append(
            Problem("name", f"up to {NAME_MAX} of a-z, 0-9, '-', '_' and '.' (no spaces)")
        )
    action = ScheduleAction(r.choice("action", ScheduleAction, "order") or "order")
    market_text = (r.text("market") or "").upper()
    exchange = (r.text("exchange") or "").upper() or None
    ticker_text = (r.text("ticker") or "").upper() or None
    if ticker_text and ":" in ticker_text:
        prefix, _, ticker_text = ticker_text.rpartition(":")
        exchange = exchange or prefix
    if exchange in ("KOSPI", "KOSDAQ", "KONEX"):
        exchange = "KRX"
    if not market_text and exchange is None and ticker_text and _krx_code(ticker_text):
        market_text = "KR"  # a six-digit code is a KRX listing
    market = _market(r, market_text, exchange)
    days = _days(r)
    kind = TimeKind(r.choice("time_kind", TimeKind, "fixed") or "fixed")
    local_time, offset = _timing(r, kind)
    account = r.text("account")
    strategy = r.text("strategy")
    known_accounts, known_strategies = set(accounts), set(strategies)
    if account is not None and account not in known_accounts:
        r.problems.append(Problem("account", f"{account!r} is not a configured account"))
    if strategy is not None and strategy not in known_strategies:
        r.problems.append(Problem("strategy", f"{strategy!r} is not a configured strategy"))
    spec = ScheduledOrder(
        name=name,
        action=action,
        market=market or Market.KR,
        days=days,
        time_kind=kind,
        local_time=local_time,
        offset_min=offset,
        account=account,
        strategy=strategy,
        exchange=exchange,
        ticker=ticker_text,
        paused=r.flag("paused"),
    )
    if action is ScheduleAction.ORDER:
        spec = _order_fields(r, spec)
    else:
        _liquidation_fields(r, spec)
        spec = replace(spec, exchange=None)
    if calendar is not None and today is not None and market is not None and not r.problems:
        _inside_session(r, spec, calendar, today)
    if r.problems or market is None:
        raise ScheduleInvalidError(r.problems)
    return spec


def _krx_code(ticker: str) -> bool:
    return len(ticker) == 6 and ticker[:5].isdigit() and ticker.isalnum()


def _timing(r: _Reader, kind: TimeKind) -> tuple[time | None, int | None]:
    if kind is TimeKind.FIXED:
        if r.data.get("offset_min") not in (None, ""):
            r.problems.append(Problem("offset_min", "only with after_open or before_close"))
        return _local_time(r), None
    if r.data.get("local_time") not in (None, ""):
        r.problems.append(Problem("local_time", "only with a fixed time"))
    offset = r.integer("offset_min")
    if offset is None:
        if not any(p.field == "offset_min" for p in r.problems):
            r.problems.append(Problem("offset_min", "required (minutes)"))
        return None, None
    low = 0 if kind is TimeKind.AFTER_OPEN else 1
    if not low <= offset <= MAX_OFFSET_MIN:
        r.problems.append(Problem("offset_min", f"from {low} to {MAX_OFFSET_MIN} minutes"))
        return None, None
    return None, offset


def _inside_session(
    r: _Reader, spec: ScheduledOrder, calendar: MarketCalendar, today: date
) -> None:
    """A fixed time must lie inside the market's regular session."""
    hours = regular_hours(calendar, today)
    if spec.local_time is None or hours is None or hours[0] <= spec.local_time < hours[1]:
        return
    opens, closes = (t.strftime("%H:%M") for t in hours)
    r.problems.append(
        Problem(
            "local_time",
            f"{spec.local_time:%H:%M} is outside the session ({opens}-{closes}, "
            f"{spec.venue.timezone})",
        )
    )


def _market(r: _Reader, text: str, exchange: str | None) -> Market | None:
    if text not in ("", "KR", "US"):
        r.problems.append(Problem("market", f"{text!r}: KR or US"))
        return None
    market = Market(text) if text else None
    if exchange is not None:
        owner = next((m for m, xs in _MARKET_EXCHANGES.items() if exchange in xs), None)
        if owner is None:
            r.problems.append(Problem("exchange", f"{exchange!r}: KRX, NASDAQ, NYSE or AMEX"))
            return market
        if market is not None and market is not owner:
            r.problems.append(Problem("exchange", f"{exchange} is not a {market.value} exchange"))
            return None
        return owner
    if market is None:
        r.problems.append(Problem("market", "required (KR or US), or an exchange"))
    return market


def _days(r: _Reader) -> tuple[str, ...]:
    raw = r.data.get("days")
    if raw is None or raw == "":
        return TRADING_DAYS
    items = raw if isinstance(raw, list | tuple) else str(raw).replace(" ", "").split(",")
    wanted = set()
    for item in items:
        text = str(item).strip().lower()[:3]
        if text not in WEEKDAYS:
            r.problems.append(Problem("days", f"{item!r}: give mon,tue,wed,thu,fri,sat,sun"))
            return TRADING_DAYS
        wanted.add(text)
    if not wanted:
        r.problems.append(Problem("days", "at least one weekday"))
    return tuple(d for d in WEEKDAYS if d in wanted)


def _local_time(r: _Reader) -> time | None:
    text = r.text("local_time")
    if text is None:
        r.problems.append(Problem("local_time", "required for a fixed time (HH:MM)"))
        return None
    try:
        parsed = time.fromisoformat(text if len(text) > 4 else f"0{text}")
    except ValueError:
        r.problems.append(Problem("local_time", f"{text!r}: give HH:MM"))
        return None
    if parsed.second or parsed.microsecond:
        r.problems.append(Problem("local_time", "whole minutes (HH:MM)"))
        return None
    return parsed


def _order_fields(r: _Reader, spec: ScheduledOrder) -> ScheduledOrder:
    if (spec.account is None) == (spec.strategy is None):
        r.problems.append(Problem("account", "give an account or a strategy (one of the two)"))
    if spec.ticker is None:
        r.problems.append(Problem("ticker", "required for an order"))
    if spec.exchange is None and spec.market is Market.KR and spec.ticker is not None:
        spec = replace(spec, exchange="KRX")
    if spec.exchange is None and spec.market is Market.US:
        r.problems.append(Problem("exchange", "required for a US ticker (NASDAQ, NYSE or AMEX)"))
    side_text = r.choice("side", Side)
    if side_text is None and not any(p.field == "side" for p in r.problems):
        r.problems.append(Problem("side", "required: buy or sell"))
    quantity, amount = r.decimal("quantity"), r.decimal("amount")
    if (quantity is None) == (amount is None) and not any(
        p.field in ("quantity", "amount") for p in r.problems
    ):
        r.problems.append(Problem("quantity", "give a quantity or an amount (one of the two)"))
    if quantity is not None and (quantity <= 0 or quantity != quantity.to_integral_value()):
        r.problems.append(Problem("quantity", "a whole number of shares above 0"))
    if amount is not None and amount <= 0:
        r.problems.append(Problem("amount", "above 0"))
    order_type = OrderType(r.choice("order_type", ("market", "limit"), "market") or "market")
    offset = r.decimal("limit_offset_pct")
    if order_type is OrderType.LIMIT:
        if offset is None:
            offset = Decimal(0)
        if abs(offset) > MAX_LIMIT_OFFSET_PCT:
            r.problems.append(
                Problem("limit_offset_pct", f"within ±{MAX_LIMIT_OFFSET_PCT}% of the last price")
            )
    elif offset is not None:
        r.problems.append(Problem("limit_offset_pct", "only with order_type limit"))
    return replace(
        spec,
        side=Side(side_text) if side_text else None,
        quantity=quantity,
        amount=amount,
        order_type=order_type,
        limit_offset_pct=offset if order_type is OrderType.LIMIT else None,
    )


def _liquidation_fields(r: _Reader, spec: ScheduledOrder) -> None:
    for name in ("side", "quantity", "amount", "limit_offset_pct"):
        if r.data.get(name) not in (None, ""):
            r.problems.append(Problem(name, "not for a liquidation (it sells what is held)"))
    if r.data.get("order_type") not in (None, "", "market"):
        r.problems.append(Problem("order_type", "not for a liquidation"))


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
