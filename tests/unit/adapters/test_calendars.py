"""The session table: the same sessions as the calendar library, read without it."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yquant.adapters import calendars
from yquant.adapters.calendars import SHIPPED, SessionTables, decode, encode, read_table
from yquant.domain import market_rules as mr


def library_calendar(code: str, first: date, last: date) -> Any:
    import exchange_calendars

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return exchange_calendars.get_calendar(code, start=first.isoformat(), end=last.isoformat())


def aware(value: Any) -> datetime | None:
    """A library timestamp (pandas, UTC) as an aware datetime; None for NaT."""
    return None if str(value) == "NaT" else value.to_pydatetime()


SHIPPED_TABLE = read_table(SHIPPED)


@pytest.fixture(scope="module")
def table_reader() -> Iterator[None]:
    """Schedules read through the package's session table (for the rest of this module), the
    library's reader after. Read as on the day it was made: years later, too, the table is
    what is tested, not the library the reader would fall back on."""
    assert SHIPPED_TABLE is not None
    made_on = SHIPPED_TABLE.built_on
    mr.use_schedule_reader(SessionTables(Path("/nonexistent"), today=lambda: made_on))
    try:
        yield
    finally:
        mr.use_schedule_reader(mr.read_library_schedule)


def test_the_package_ships_a_table_of_every_calendar_made_by_the_locked_library() -> None:
    assert SHIPPED_TABLE is not None
    assert sorted(SHIPPED_TABLE.calendars) == sorted(calendars.CODES)
    # A new library version may know new holidays: make the table again with it
    # (`yquant calendar build --out src/yquant/adapters/calendars/sessions.json`).
    assert SHIPPED_TABLE.library == calendars.library_version()
    assert SHIPPED_TABLE.until == mr.schedule_until(SHIPPED_TABLE.built_on)


@pytest.mark.parametrize("code", calendars.CODES)
def test_the_shipped_table_has_the_librarys_sessions_day_by_day(code: str) -> None:
    """Asked day by day through the library's own session API (not the schedule the table
    was made from): the same trading days, opens, closes and lunch breaks."""
    assert SHIPPED_TABLE is not None
    schedule = decode(SHIPPED_TABLE.calendars[code])
    cal = library_calendar(code, schedule.first, schedule.last)
    day, days, sessions = schedule.first, 0, 0
    first_session, last_session = cal.first_session.date(), cal.last_session.date()
    while day <= schedule.last:
        session = schedule.sessions.get(day)
        label = day.isoformat()
        if first_session <= day <= last_session and cal.is_session(label):
            assert session is not None, f"{code} {day}: the library trades, the table does not"
            assert session.open_at == aware(cal.session_open(label))
            assert session.close_at == aware(cal.session_close(label))
            assert session.break_start_at == aware(cal.session_break_start(label))
            assert session.break_end_at == aware(cal.session_break_end(label))
            sessions += 1
        else:
            assert session is None, f"{code} {day}: the table trades, the library does not"
        day += timedelta(days=1)
        days += 1
    assert sessions > days * 0.6  # a table of holidays only would pass the loop above


# Instants over the shipped window, away from the days the built-in corrections change.
CORRECTED = {
    d for o in mr.BUILTIN_OVERRIDES.values() for d in (*o.extra_holidays, *o.special_sessions)
}
VENUES = ("KRX", "NASDAQ", "NYSE", "AMEX", "TSE", "HKEX", "SSE")


@given(
    exchange=st.sampled_from(VENUES),
    minute=st.integers(min_value=0, max_value=(365 * 4 - 1) * 24 * 60 - 1),
)
def test_market_states_from_the_table_are_the_librarys(
    table_reader: None, exchange: str, minute: int
) -> None:
    """Open or not at a minute, through the engine's calendar over the table and through the
    library's own minute API."""
    import pandas as pd

    venue = mr.venue_for(exchange)
    assert SHIPPED_TABLE is not None
    entry = SHIPPED_TABLE.calendars[venue.calendar]
    first, last = date.fromisoformat(entry["first"]), date.fromisoformat(entry["last"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library's use of deprecated pandas API
        cal = _cached_library(venue.calendar, first, last)
        at = cal.first_minute.to_pydatetime() + timedelta(minutes=minute)
        if at > cal.last_minute.to_pydatetime() or at.astimezone(venue.tz).date() in CORRECTED:
            return
        library_open = bool(cal.is_open_on_minute(pd.Timestamp(at)))
    state = mr.calendar_for(venue).state(at)
    assert state.is_open == library_open, f"{exchange} at {at.isoformat()}"


_LIBRARY: dict[tuple[str, date, date], Any] = {}


def _cached_library(code: str, first: date, last: date) -> Any:
    key = (code, first, last)
    if key not in _LIBRARY:
        _LIBRARY[key] = library_calendar(code, first, last)
    return _LIBRARY[key]


def test_decoding_gives_back_the_librarys_schedule() -> None:
    made = mr.read_library_schedule("XHKG", date(2026, 12, 31))
    table = encode({"XHKG": made}, library="x", built_on=date(2025, 1, 1), until=date(2026, 12, 31))
    again = decode(json.loads(json.dumps(table))["calendars"]["XHKG"])
    assert (again.first, again.last) == (made.first, made.last)
    assert dict(again.sessions) == dict(made.sessions)
    half_day = again.sessions[date(2026, 12, 24)]  # Christmas Eve: a morning session, no break
    assert half_day.break_start_at is None


# ---- which table is read, and when a new one is due -------------------------------------------


def small_table(until: date, library: str, *, close_minutes: int = 390) -> dict[str, Any]:
    first = date(until.year - 3, 1, 1)
    days = "".join(
        "." if (first + timedelta(days=i)).weekday() >= 5 else "0"
        for i in range((until - first).days + 1)
    )
    return {
        "format": calendars.FORMAT,
        "library": library,
        "built_on": (until - timedelta(days=365)).isoformat(),
        "until": until.isoformat(),
        "calendars": {
            "XKRX": {
                "first": first.isoformat(),
                "last": until.isoformat(),
                "hours": [[0, close_minutes, None, None]],
                "days": days,
            }
        },
    }


def monday_after(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7 or 7)


def test_the_worker_table_is_read_over_the_shipped_one_when_it_reaches_further(
    tmp_path: Path,
) -> None:
    today = datetime.now(UTC).date()
    library = calendars.library_version()
    shipped = tmp_path / "shipped.json"
    calendars.write(shipped, small_table(mr.schedule_until(today), library))
    tables = SessionTables(tmp_path / "worker", shipped=shipped)
    assert tables.best() is not None and tables.best().path == shipped  # type: ignore[union-attr]
    assert not tables.needs_build(today)
    assert tables.needs_build(date(today.year + 1, 1, 2))  # a new year: reach a year further

    calendars.write(
        tables.path,
        small_table(mr.schedule_until(today) + timedelta(days=366), library, close_minutes=330),
    )
    best = tables.best()
    assert best is not None and best.path == tables.path
    monday = monday_after(today)
    session = tables("XKRX").sessions[monday]
    assert session.close_at == datetime.combine(monday, datetime.min.time(), UTC) + timedelta(
        minutes=330
    )


def test_a_table_of_another_library_version_is_read_but_a_new_one_is_due(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    shipped = tmp_path / "shipped.json"
    calendars.write(shipped, small_table(mr.schedule_until(today), "0.0.1"))
    tables = SessionTables(tmp_path / "worker", shipped=shipped)
    assert tables.needs_build(today)
    assert monday_after(today) in tables("XKRX").sessions
    # One made by the installed version is preferred even when it reaches less far.
    calendars.write(tables.path, small_table(mr.schedule_until(today), calendars.library_version()))
    best = tables.best()
    assert best is not None and best.path == tables.path
    assert not tables.needs_build(today)


def test_an_unreadable_or_foreign_table_is_ignored(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped.json"
    today = datetime.now(UTC).date()
    calendars.write(shipped, small_table(mr.schedule_until(today), calendars.library_version()))
    tables = SessionTables(tmp_path / "worker", shipped=shipped)
    tables.path.parent.mkdir(parents=True)
    tables.path.write_text("{not json")
    assert tables.best() is not None and tables.best().path == shipped  # type: ignore[union-attr]
    tables.path.write_text(json.dumps({"format": 1, "code": "XKRX", "sessions": []}))
    assert tables.best() is not None and tables.best().path == shipped  # type: ignore[union-attr]
    assert read_table(tmp_path / "missing.json") is None


def test_without_a_table_that_reaches_a_month_ahead_the_library_is_read(tmp_path: Path) -> None:
    stale = tmp_path / "shipped.json"
    calendars.write(
        stale, small_table(date(2025, 12, 31), calendars.library_version(), close_minutes=100)
    )
    tables = SessionTables(tmp_path / "worker", shipped=stale)
    assert tables.needs_build(datetime.now(UTC).date())
    schedule = tables("XKRX")
    assert schedule.last == mr.schedule_until(datetime.now(UTC).date())
    # The library's sessions, not the stale table's 01:40 UTC closes.
    monday = date(2025, 12, 1)
    assert schedule.sessions[monday].close_at == datetime(2025, 12, 1, 6, 30, tzinfo=UTC)


def test_the_engines_calendars_read_through_the_table_answer_as_before(table_reader: None) -> None:
    krx = mr.calendar_for(mr.venue_for("KRX"))
    assert krx.session(date(2026, 6, 3)) is None  # the correction applies over the table
    state = krx.state(datetime(2026, 9, 24, 1, 0, tzinfo=UTC))  # Chuseok
    assert not state.is_open
    assert state.next_open_at == datetime(2026, 9, 28, 0, 0, tzinfo=UTC)
    sse = mr.calendar_for(mr.venue_for("SSE"))
    assert sse.state(datetime(2026, 12, 31, 8, 0, tzinfo=UTC)).next_open_at is None
