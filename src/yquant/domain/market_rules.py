"""Markets: which exchange an alert names, when it trades, and which prices it accepts.

Pure functions of (venue, time, price). Sessions, holidays, early closes, lunch breaks and daylight
saving come from the ``exchange_calendars`` library (XKRX, XNYS, XNAS, XASE, XTKS, XHKG, XSHG) as
a plain table of sessions per calendar (`Schedule`): a running worker reads it from a compact
session table made from the library beforehand (`yquant.adapters.calendars`), so that no role
loads pandas; without one the library itself is asked. Two kinds of corrections the library
lacks are applied on top (checked against KRX announcements):

- XKRX knows the one-hour-late CSAT (수능) day only up to 2020; from 2021 on the regular session on
  that day runs 10:00-16:30 KST.
- XKRX misses the 2026-06-03 local election day, a statutory holiday on which KRX is closed.

Operators add more (a new CSAT day, an ad-hoc holiday) in settings: ``engine.markets.KR``.

Tick sizes: KRX's unified table since 2023-01-25 (1/5/10/50/100/500/1,000 KRW by price band; ETFs
and ETNs 1 KRW below 2,000 and 5 KRW from 2,000 since 2023-12-18; ELWs 5 KRW) and US Rule 612
($0.01 at or above $1, $0.0001 below). Limit
prices are moved onto the tick grid in the safe direction: a buy never pays more, a sell never
takes less than the alert asked for. KRX's daily band (±30% of the base price) follows the KRX
rule: width = base x 30% cut to the base's tick, each limit cut to its own tick.
"""

from __future__ import annotations

import functools
import logging
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from time import monotonic
from zoneinfo import ZoneInfo

from yquant.domain.model import Side
from yquant.domain.reasons import ReasonCode
from yquant.errors import SignalRejectedError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Venue:
    """A listing venue and the calendar it trades on."""

    exchange: str  # canonical: KRX, NASDAQ, NYSE, AMEX, TSE, HKEX, SSE, SZSE
    market: str  # KR, US, JP, HK, CN
    calendar: str  # exchange_calendars code
    timezone: str
    currency: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_KRX = Venue("KRX", "KR", "XKRX", "Asia/Seoul", "KRW")
_NASDAQ = Venue("NASDAQ", "US", "XNAS", "America/New_York", "USD")
_NYSE = Venue("NYSE", "US", "XNYS", "America/New_York", "USD")
_AMEX = Venue("AMEX", "US", "XASE", "America/New_York", "USD")
_TSE = Venue("TSE", "JP", "XTKS", "Asia/Tokyo", "JPY")
_HKEX = Venue("HKEX", "HK", "XHKG", "Asia/Hong_Kong", "HKD")
_SSE = Venue("SSE", "CN", "XSHG", "Asia/Shanghai", "CNY")
# The library has no Shenzhen calendar; Shenzhen keeps Shanghai's holidays and hours.
_SZSE = Venue("SZSE", "CN", "XSHG", "Asia/Shanghai", "CNY")

# Exchange names as operators, TradingView prefixes and the KIS master files spell them.
EXCHANGE_ALIASES: dict[str, Venue] = {
    **dict.fromkeys(("KRX", "XKRX", "KOSPI", "KOSDAQ", "KONEX", "KSE", "KOE"), _KRX),
    **dict.fromkeys(("NASDAQ", "XNAS", "NAS", "NASD"), _NASDAQ),
    **dict.fromkeys(("NYSE", "XNYS", "NYS"), _NYSE),
    **dict.fromkeys(("AMEX", "XASE", "AMS", "NYSEARCA", "ARCA", "BATS", "CBOE"), _AMEX),
    **dict.fromkeys(("TSE", "XTKS", "TYO", "JPX"), _TSE),
    **dict.fromkeys(("HKEX", "XHKG", "HKG", "SEHK"), _HKEX),
    **dict.fromkeys(("SSE", "XSHG", "SHA", "SHSE"), _SSE),
    **dict.fromkeys(("SZSE", "XSHE", "SHE"), _SZSE),
}


def venue_for(exchange: str) -> Venue:
    """The venue an exchange name stands for; an unknown name is a rejection, never a guess."""
    venue = EXCHANGE_ALIASES.get(exchange.strip().upper())
    if venue is None:
        raise SignalRejectedError(
            ReasonCode.UNKNOWN_EXCHANGE, f"exchange {exchange[:20]!r} is not supported"
        )
    return venue


# ---- sessions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """One trading day's regular session, as aware UTC datetimes."""

    day: date  # the session's date in the venue's time zone
    open_at: datetime
    close_at: datetime
    break_start_at: datetime | None = None
    break_end_at: datetime | None = None

    def contains(self, at: datetime) -> bool:
        if not self.open_at <= at < self.close_at:
            return False
        in_break = (
            self.break_start_at is not None
            and self.break_end_at is not None
            and self.break_start_at <= at < self.break_end_at
        )
        return not in_break


class Phase(StrEnum):
    OPEN = "open"
    BREAK = "break"  # lunch break inside a session
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class MarketState:
    """What a venue is doing at one instant, and when that changes."""

    venue: Venue
    at: datetime
    phase: Phase
    session: Session | None  # the session of the local day, if the venue trades that day
    next_open_at: datetime | None  # None when the calendar does not reach that far
    closes_at: datetime | None  # end of the current session (when open or in its break)

    @property
    def is_open(self) -> bool:
        return self.phase is Phase.OPEN

    def local(self, when: datetime | None) -> str:
        return "" if when is None else when.astimezone(self.venue.tz).isoformat(timespec="minutes")


@dataclass(frozen=True, slots=True)
class CalendarOverrides:
    """Corrections to the library's calendar for one market."""

    extra_holidays: frozenset[date] = frozenset()
    special_sessions: Mapping[date, tuple[time, time]] = field(default_factory=dict)

    def merged(self, other: CalendarOverrides) -> CalendarOverrides:
        return CalendarOverrides(
            self.extra_holidays | other.extra_holidays,
            {**self.special_sessions, **other.special_sessions},
        )


_CSAT_HOURS = (time(10, 0), time(16, 30))
BUILTIN_OVERRIDES: dict[str, CalendarOverrides] = {
    "KR": CalendarOverrides(
        extra_holidays=frozenset({date(2026, 6, 3)}),  # 9th local elections
        special_sessions=dict.fromkeys(
            (
                date(2021, 11, 18),
                date(2022, 11, 17),
                date(2023, 11, 16),
                date(2024, 11, 14),
                date(2025, 11, 13),
                date(2026, 11, 19),
            ),
            _CSAT_HOURS,
        ),
    ),
}

CALENDAR_START = date(2024, 1, 1)  # earlier sessions are never traded; each year costs time
_SEARCH_DAYS = 21  # the longest closure (Lunar New Year plus weekends) is well inside this


@dataclass(frozen=True, slots=True)
class Schedule:
    """The library's sessions of one calendar from ``first`` to ``last`` (local dates, both
    included): a day in that span without a session is a day the venue is closed."""

    sessions: Mapping[date, Session]
    first: date
    last: date

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


class MarketCalendar:
    """Sessions of one venue: the library's schedule with the overrides applied."""

    def __init__(self, venue: Venue, overrides: CalendarOverrides | None = None) -> None:
        self.venue = venue
        builtin = BUILTIN_OVERRIDES.get(venue.market, CalendarOverrides())
        self.overrides = builtin.merged(overrides) if overrides else builtin
        _schedule(venue.calendar)  # read the schedule now, not at the first signal

    def session(self, day: date) -> Session | None:
        """The regular session on local date ``day``, or None when the venue is closed."""
        if day in self.overrides.extra_holidays:
            return None
        special = self.overrides.special_sessions.get(day)
        if special is not None:
            tz = self.venue.tz
            return Session(
                day,
                datetime.combine(day, special[0], tz).astimezone(UTC),
                datetime.combine(day, special[1], tz).astimezone(UTC),
            )
        return _schedule(self.venue.calendar).schedule.sessions.get(day)

    def covers(self, day: date) -> bool:
        return _schedule(self.venue.calendar).schedule.covers(day)

    def state(self, at: datetime) -> MarketState:
        """Open, in its lunch break, or closed at ``at`` (aware), and the next change."""
        if at.tzinfo is None:
            raise ValueError("naive datetime refused")
        at = at.astimezone(UTC)
        today = at.astimezone(self.venue.tz).date()
        session = self.session(today)
        if session is not None and session.contains(at):
            return MarketState(self.venue, at, Phase.OPEN, session, None, session.close_at)
        if (
            session is not None
            and session.break_start_at is not None
            and session.break_end_at is not None
            and session.break_start_at <= at < session.break_end_at
        ):
            return MarketState(
                self.venue, at, Phase.BREAK, session, session.break_end_at, session.close_at
            )
        return MarketState(self.venue, at, Phase.CLOSED, session, self.next_open(at), None)

    def next_open(self, at: datetime) -> datetime | None:
        """The first session open strictly after ``at``; None past the calendar's reach."""
        day = at.astimezone(self.venue.tz).date()
        for offset in range(_SEARCH_DAYS):
            candidate = day + timedelta(days=offset)
            if not self.covers(candidate) and candidate not in self.overrides.special_sessions:
                return None
            session = self.session(candidate)
            if session is None:
                continue
            if session.open_at > at:
                return session.open_at
            if (
                session.break_start_at is not None
                and session.break_end_at is not None
                and session.break_start_at <= at < session.break_end_at
            ):
                return session.break_end_at
        return None

    def sessions(self, start: date, end: date) -> Iterable[Session]:
        day = start
        while day <= end:
            session = self.session(day)
            if session is not None:
                yield session
            day += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Read:
    built_at: float  # monotonic() when read: the age of the copy, not a date
    schedule: Schedule


_SCHEDULES: dict[str, _Read] = {}
_SCHEDULE_LOCK = threading.Lock()
REBUILD_AFTER = timedelta(days=30)


def _schedule(code: str) -> _Read:
    """The schedule for ``code``, read once through the reader and again every month (a
    schedule reaches to the end of the year after the one it was made in)."""
    max_age_s = REBUILD_AFTER.total_seconds()
    read = _SCHEDULES.get(code)
    if read is not None and monotonic() - read.built_at < max_age_s:
        return read
    with _SCHEDULE_LOCK:
        read = _SCHEDULES.get(code)
        if read is None or monotonic() - read.built_at >= max_age_s:
            read = _Read(monotonic(), _reader(code))
            _SCHEDULES[code] = read
        return read


def forget_schedules() -> None:
    """Read every schedule again at its next use (a newer session table was made)."""
    with _SCHEDULE_LOCK:
        _SCHEDULES.clear()


def schedule_until(today: date) -> date:
    """How far a schedule made on ``today`` reaches: the end of the next year."""
    return date(today.year + 1, 12, 31)


def read_library_schedule(code: str, until: date | None = None) -> Schedule:
    """Sessions from ``CALENDAR_START`` to ``until`` (default: the end of next year), or to the
    last day the library knows the calendar's holidays, from the library (slow: it loads
    pandas and computes every holiday rule)."""
    import exchange_calendars  # noqa: PLC0415 - loads pandas: only when a calendar is read

    until = until or schedule_until(datetime.now(UTC).date())
    with warnings.catch_warnings():
        # The library's own use of deprecated pandas API; nothing we can act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        start = CALENDAR_START.isoformat()
        week = (CALENDAR_START + timedelta(days=7)).isoformat()
        probe = exchange_calendars.get_calendar(code, start=start, end=week)
        bound = type(probe).bound_max()  # None, or the last day with recorded holidays
        last = min(until, bound.date()) if bound is not None else until
        calendar = exchange_calendars.get_calendar(code, start=start, end=last.isoformat())
        schedule = calendar.schedule
    sessions: dict[date, Session] = {}
    for label, opens, break_start, break_end, closes in schedule.itertuples():
        day = label.date()
        sessions[day] = Session(
            day,
            opens.to_pydatetime(),
            closes.to_pydatetime(),
            None if _missing(break_start) else break_start.to_pydatetime(),
            None if _missing(break_end) else break_end.to_pydatetime(),
        )
    return Schedule(sessions, CALENDAR_START, last)


ScheduleReader = Callable[[str], Schedule]
_reader: ScheduleReader = read_library_schedule


def use_schedule_reader(reader: ScheduleReader) -> None:
    """Read schedules through ``reader`` (a session table) from now on."""
    global _reader  # noqa: PLW0603 - one reader per process, chosen at start-up
    _reader = reader
    forget_schedules()


def warm_up(exchanges: Iterable[str]) -> None:
    """Read the calendars of ``exchanges`` now (milliseconds from a session table; about a
    second each from the library)."""
    for code in {venue_for(e).calendar for e in exchanges}:
        _schedule(code)


def _missing(value: object) -> bool:
    return value is None or str(value) == "NaT"


@functools.cache
def _calendar(venue: Venue) -> MarketCalendar:
    return MarketCalendar(venue)


def calendar_for(
    venue: Venue, overrides: Mapping[str, CalendarOverrides] | None = None
) -> MarketCalendar:
    """A venue's calendar with the configured overrides for its market (cached when none)."""
    extra = (overrides or {}).get(venue.market)
    return MarketCalendar(venue, extra) if extra else _calendar(venue)


# ---- ticks and price limits ----------------------------------------------------------------------

KRX_TICKS: tuple[tuple[Decimal, Decimal], ...] = (
    # (price below which the tick applies, tick)
    (Decimal(2_000), Decimal(1)),
    (Decimal(5_000), Decimal(5)),
    (Decimal(20_000), Decimal(10)),
    (Decimal(50_000), Decimal(50)),
    (Decimal(200_000), Decimal(100)),
    (Decimal(500_000), Decimal(500)),
)
KRX_TOP_TICK = Decimal(1_000)
KRX_FUND_TICK = Decimal(5)  # ETFs and ETNs from 2,000 KRW; ELWs at every price
KRX_FUND_LOW = Decimal(2_000)  # ETFs and ETNs below this: 1 KRW (since 2023-12-18)
KRX_FUND_TYPES = frozenset({"etf", "etn"})
KRX_DAILY_LIMIT = Decimal("0.30")
US_TICK = Decimal("0.01")
US_SUB_DOLLAR_TICK = Decimal("0.0001")


def tick_size(market: str, price: Decimal, security_type: str | None = None) -> Decimal:
    """The price increment that applies at ``price`` on ``market`` (KR or US)."""
    if price <= 0:
        raise ValueError("price must be positive")
    if market == "KR":
        kind = (security_type or "").lower()
        if kind == "elw":
            return KRX_FUND_TICK
        if kind in KRX_FUND_TYPES:
            return Decimal(1) if price < KRX_FUND_LOW else KRX_FUND_TICK
        for below, tick in KRX_TICKS:
            if price < below:
                return tick
        return KRX_TOP_TICK
    if market == "US":
        return US_TICK if price >= 1 else US_SUB_DOLLAR_TICK
    raise ValueError(f"no tick table for market {market!r}")


def is_on_tick(market: str, price: Decimal, security_type: str | None = None) -> bool:
    return price > 0 and price % tick_size(market, price, security_type) == 0


def round_to_tick(
    market: str, price: Decimal, side: Side, security_type: str | None = None
) -> Decimal:
    """``price`` on the tick grid, moved in the safe direction: down for a buy, up for a sell.

    Band edges are multiples of the coarser tick above them, so rounding inside the band of
    ``price`` always lands on a price valid in whichever band it ends up in.
    """
    tick = tick_size(market, price, security_type)
    mode = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    rounded = (price / tick).to_integral_value(rounding=mode) * tick
    if rounded <= 0:
        raise SignalRejectedError(
            ReasonCode.BAD_PRICE, f"a buy limit of {price} is below the smallest tick"
        )
    return rounded.quantize(tick)


def krx_price_limits(
    base: Decimal, security_type: str | None = None, rate: Decimal = KRX_DAILY_LIMIT
) -> tuple[Decimal, Decimal]:
    """(lower, upper) daily limits around the base price (usually the previous close)."""
    if base <= 0:
        raise ValueError("base price must be positive")
    base_tick = tick_size("KR", base, security_type)
    width = (base * rate / base_tick).to_integral_value(rounding=ROUND_FLOOR) * base_tick
    upper = base + width
    lower = base - width

    def cut(price: Decimal) -> Decimal:
        tick = tick_size("KR", price, security_type)
        return (price / tick).to_integral_value(rounding=ROUND_FLOOR) * tick

    return max(cut(lower), tick_size("KR", Decimal(1), security_type)), cut(upper)


def within_limits(price: Decimal, limits: tuple[Decimal, Decimal]) -> bool:
    return limits[0] <= price <= limits[1]


def clamp_to_limits(price: Decimal, limits: tuple[Decimal, Decimal]) -> Decimal:
    """A limit price pulled inside the daily band (a buy above the upper limit rests at it)."""
    lower, upper = limits
    return min(max(price, lower), upper)
