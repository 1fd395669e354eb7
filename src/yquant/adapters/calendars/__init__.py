"""Exchange sessions from a compact table made from the calendar library beforehand.

Asking ``exchange_calendars`` itself loads pandas (some 50 MB per process) and evaluates every
holiday rule (seconds). A running worker therefore reads the sessions from a session table: one
small JSON file holding every calendar yQuant trades on, from ``market_rules.CALENDAR_START`` to
the end of the year after the one it was made in (or as far as the library records a calendar's
holidays). Two copies can exist:

- the package's own (``sessions.json`` beside this module), made when the release was made and
  checked against the library by the tests;
- the worker's (``<data dir>/calendars/sessions.json``), made by ``yquant calendar build``, which
  the engine runs in a child process of its own when the table it reads was made by another
  version of the library or stops short of the end of next year (once a year, early January),
  so that pandas never lives in the engine.

The reader takes the table made by the installed library version that reaches furthest (else
any that does). When no table reaches at least a month past today, the engine makes one before
it starts (`SessionTables.ready`); failing that, the reader asks the library in the process, as
it always could: slower and larger, never wrong.

Format: per calendar, the distinct session hours (minutes from 00:00 UTC of the session's date:
open, close, break start, break end) and one character per day from ``first`` to ``last``:
``.`` for no session, else the index of that day's hours in ``HOURS_ALPHABET``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from yquant.domain import market_rules
from yquant.domain.market_rules import EXCHANGE_ALIASES, Schedule, Session
from yquant.files import atomic_write
from yquant.processes import die_with_parent

logger = logging.getLogger(__name__)

FORMAT = 2
TABLE_NAME = "sessions.json"
SHIPPED = Path(__file__).with_name(TABLE_NAME)
CODES: tuple[str, ...] = tuple(sorted({v.calendar for v in EXCHANGE_ALIASES.values()}))
HOURS_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
CLOSED = "."
USABLE_AHEAD = timedelta(days=31)  # a table reaching less far than this is not used
BUILD_TIMEOUT_S = 600.0


def utc_today() -> date:
    return datetime.now(UTC).date()


def library_version() -> str:
    """The installed ``exchange_calendars`` version (read without importing it)."""
    try:
        return version("exchange-calendars")
    except PackageNotFoundError:
        return "unknown"


# ---- the table as a file -------------------------------------------------------------------------


def encode(
    schedules: dict[str, Schedule], *, library: str, built_on: date, until: date
) -> dict[str, Any]:
    calendars = {}
    for code, schedule in sorted(schedules.items()):
        hours: list[list[int | None]] = []
        days = []
        day = schedule.first
        while day <= schedule.last:
            session = schedule.sessions.get(day)
            if session is None:
                days.append(CLOSED)
            else:
                row = _minutes(session)
                if row not in hours:
                    hours.append(row)
                index = hours.index(row)
                if index >= len(HOURS_ALPHABET):
                    raise ValueError(f"{code}: more distinct session hours than the format holds")
                days.append(HOURS_ALPHABET[index])
            day += timedelta(days=1)
        calendars[code] = {
            "first": schedule.first.isoformat(),
            "last": schedule.last.isoformat(),
            "hours": hours,
            "days": "".join(days),
        }
    return {
        "format": FORMAT,
        "library": library,
        "built_on": built_on.isoformat(),
        "until": until.isoformat(),
        "calendars": calendars,
    }


def _minutes(session: Session) -> list[int | None]:
    midnight = datetime.combine(session.day, time(0), UTC)

    def minutes(at: datetime | None) -> int | None:
        if at is None:
            return None
        seconds = (at - midnight).total_seconds()
        if seconds % 60:
            raise ValueError(f"{session.day}: a session time off the minute: {at.isoformat()}")
        return int(seconds // 60)

    return [
        minutes(session.open_at),
        minutes(session.close_at),
        minutes(session.break_start_at),
        minutes(session.break_end_at),
    ]


def decode(entry: dict[str, Any]) -> Schedule:
    """One calendar of a table as a `Schedule`; ValueError (or KeyError, TypeError) when it is
    not well formed."""
    first = date.fromisoformat(entry["first"])
    last = date.fromisoformat(entry["last"])
    days: str = entry["days"]
    if len(days) != (last - first).days + 1:
        raise ValueError("the days do not span first to last")
    hours = [_hours_row(row) for row in entry["hours"]]
    sessions: dict[date, Session] = {}
    for offset, mark in enumerate(days):
        if mark == CLOSED:
            continue
        day = first + timedelta(days=offset)
        midnight = datetime.combine(day, time(0), UTC)
        opens, closes, break_start, break_end = hours[HOURS_ALPHABET.index(mark)]
        sessions[day] = Session(
            day,
            midnight + opens,
            midnight + closes,
            None if break_start is None else midnight + break_start,
            None if break_end is None else midnight + break_end,
        )
    return Schedule(sessions, first, last)


def _hours_row(
    row: list[int | None],
) -> tuple[timedelta, timedelta, timedelta | None, timedelta | None]:
    opens, closes, break_start, break_end = row
    if opens is None or closes is None:
        raise ValueError("session hours without an open or a close")

    def span(minutes: int | None) -> timedelta | None:
        return None if minutes is None else timedelta(minutes=int(minutes))

    return (
        timedelta(minutes=int(opens)),
        timedelta(minutes=int(closes)),
        span(break_start),
        span(break_end),
    )


def build(today: date, codes: Iterable[str] = CODES) -> dict[str, Any]:
    """A table of ``codes`` made now from the installed library (slow: loads pandas)."""
    until = market_rules.schedule_until(today)
    schedules = {code: market_rules.read_library_schedule(code, until) for code in codes}
    return encode(schedules, library=library_version(), built_on=today, until=until)


def write(path: Path, table: dict[str, Any]) -> None:
    """``table`` as JSON in ``path`` (replaced atomically), one calendar per line."""
    head = {k: v for k, v in table.items() if k != "calendars"}
    lines = [json.dumps(head, separators=(",", ":"))[:-1] + ',"calendars":{']
    entries = sorted(table["calendars"].items())
    for n, (code, entry) in enumerate(entries):
        comma = "," if n < len(entries) - 1 else ""
        lines.append(f"{json.dumps(code)}:{json.dumps(entry, separators=(',', ':'))}{comma}")
    lines.append("}}")
    atomic_write(path, "\n".join(lines) + "\n")


# ---- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    path: Path
    library: str
    built_on: date
    until: date
    calendars: dict[str, Any]


def read_table(path: Path) -> Table | None:
    """The table in ``path``; None when missing, of another format or not readable."""
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            return None
        return Table(
            path,
            str(data["library"]),
            date.fromisoformat(data["built_on"]),
            date.fromisoformat(data["until"]),
            dict(data["calendars"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("session table unreadable, ignored path=%s error=%s", path, exc)
        return None


class SessionTables:
    """A `market_rules.ScheduleReader` over the worker's session table and the package's."""

    def __init__(
        self, directory: Path, shipped: Path = SHIPPED, today: Callable[[], date] = utc_today
    ) -> None:
        self.path = directory / TABLE_NAME
        self._shipped = shipped
        self._library = library_version()
        self._today = today

    def best(self) -> Table | None:
        """The table to read: made by the installed library if one was, reaching furthest."""
        tables = [t for t in (read_table(self.path), read_table(self._shipped)) if t is not None]
        if not tables:
            return None
        return max(tables, key=lambda t: (t.library == self._library, t.until, t.path == self.path))

    def needs_build(self, today: date) -> bool:
        """Whether a new table should be made: none, one of another library version, or one
        that stops before the end of next year."""
        table = self.best()
        return (
            table is None
            or table.library != self._library
            or table.until < market_rules.schedule_until(today)
        )

    def usable(self, table: Table | None, today: date) -> bool:
        return table is not None and table.until >= today + USABLE_AHEAD

    async def ready(self, stop: asyncio.Event) -> None:
        """Make a table now, in a child process, when none can be read (the engine would
        otherwise read the library in its own process): seconds, once, before the start."""
        if not self.usable(self.best(), self._today()):
            await self.build_in_child(stop)

    def __call__(self, code: str) -> Schedule:
        today = self._today()
        table = self.best()
        if table is not None and self.usable(table, today) and code in table.calendars:
            try:
                return decode(table.calendars[code])
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                logger.warning(
                    "session table entry unreadable code=%s path=%s error=%s",
                    code,
                    table.path,
                    exc,
                )
        logger.warning(
            "no session table reaches far enough; reading the calendar library in this "
            "process code=%s table=%s",
            code,
            None if table is None else f"{table.path} until {table.until}",
        )
        return market_rules.read_library_schedule(code)

    async def keep_current(
        self, stop: asyncio.Event, *, first_after_s: float = 60.0, every_s: float = 21_600.0
    ) -> None:
        """Until ``stop``: now and then, make a new table in a child process when one is due
        (`needs_build`), then have the schedules read again from it."""
        wait_s = first_after_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait_s)
            if stop.is_set():
                return
            wait_s = every_s
            if not self.needs_build(self._today()):
                continue
            if await self.build_in_child(stop):
                market_rules.forget_schedules()

    async def build_in_child(self, stop: asyncio.Event) -> bool:
        """`yquant calendar build` into this worker's table, in a child process that takes
        pandas with it when it ends; True when it made the table."""
        argv = [sys.executable, "-m", "yquant", "calendar", "build", "--out", str(self.path)]
        logger.info("making the session table in a child process path=%s", self.path)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent(),
        )
        waiter = asyncio.ensure_future(proc.communicate())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait(
                (waiter, stopped), timeout=BUILD_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopped.cancel()
        if not waiter.done():
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await waiter
            if not stop.is_set():
                logger.error("session table not made: no result within %.0f s", BUILD_TIMEOUT_S)
            return False
        _, err = waiter.result()
        if proc.returncode != 0:
            logger.error(
                "session table not made code=%s error=%s",
                proc.returncode,
                err.decode(errors="replace").strip()[-500:],
            )
            return False
        logger.info("session table made path=%s", self.path)
        return True
