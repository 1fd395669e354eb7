"""A schedule's plain fields (the CLI's options, an import file's row, the dashboard's form)
checked once for every entry point: `parse` gives a `ScheduledOrder`, or ScheduleInvalidError
with every problem, each naming its field (and the row, for an import). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time
from decimal import Decimal, InvalidOperation
from typing import Any

from yquant.domain.market_rules import MarketCalendar
from yquant.domain.model import Market, OrderType, Side
from yquant.domain.schedules import (
    MARKET_EXCHANGES,
    TRADING_DAYS,
    WEEKDAYS,
    ScheduleAction,
    ScheduledOrder,
    TimeKind,
    regular_hours,
)

NAME_MAX = 48  # "schedule:" + the name fits the signal log's 64-character source
MAX_OFFSET_MIN = 600
MAX_LIMIT_OFFSET_PCT = Decimal(30)  # KRX's daily band: a limit further away can never fill
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


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
        owner = next((m for m, xs in MARKET_EXCHANGES.items() if exchange in xs), None)
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
