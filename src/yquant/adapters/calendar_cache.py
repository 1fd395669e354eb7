"""Exchange calendars kept on local disk, so that a restarted engine is ready in milliseconds.

Building a calendar with the ``exchange_calendars`` library loads pandas and evaluates every
holiday rule: seconds, on the order path of a freshly restarted engine. The computed sessions
are saved per calendar as JSON in the data directory and used while they are younger than a
month and come from the same library version; otherwise the library is asked again.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from yquant.domain import market_rules
from yquant.domain.market_rules import Session
from yquant.files import atomic_write

logger = logging.getLogger(__name__)

FORMAT = 1


def library_version() -> str:
    try:
        return version("exchange-calendars")
    except PackageNotFoundError:
        return "unknown"


class CachedSchedules:
    """A `market_rules.ScheduleReader` with a JSON file per calendar under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._library = library_version()

    def __call__(self, code: str) -> dict[date, Session]:
        path = self._dir / f"{code}.json"
        today = datetime.now(UTC).date()
        cached = self._load(path, code, today)
        if cached is not None:
            return cached
        sessions = market_rules.read_library_schedule(code)
        self._save(path, code, today, sessions)
        return sessions

    def _load(self, path: Path, code: str, today: date) -> dict[date, Session] | None:
        try:
            data = json.loads(path.read_text())
            if (
                data.get("format") != FORMAT
                or data.get("code") != code
                or data.get("library") != self._library
                or today - date.fromisoformat(data["built_on"]) >= market_rules.REBUILD_AFTER
            ):
                return None
            return {s.day: s for s in (_session(row) for row in data["sessions"])}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("calendar cache unreadable, rebuilding code=%s error=%s", code, exc)
            return None

    def _save(self, path: Path, code: str, today: date, sessions: dict[date, Session]) -> None:
        data = {
            "format": FORMAT,
            "code": code,
            "library": self._library,
            "built_on": today.isoformat(),
            "sessions": [_row(s) for s in sessions.values()],
        }
        try:
            atomic_write(path, json.dumps(data, separators=(",", ":")))
        except OSError as exc:
            logger.warning("calendar cache not written code=%s error=%s", code, exc)


def _row(s: Session) -> list[Any]:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return [
        s.day.isoformat(),
        iso(s.open_at),
        iso(s.close_at),
        iso(s.break_start_at),
        iso(s.break_end_at),
    ]


def _session(row: list[Any]) -> Session:
    def when(value: str | None) -> datetime | None:
        if value is None:
            return None
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive time in the calendar cache")
        return parsed

    opens, closes = when(row[1]), when(row[2])
    if opens is None or closes is None:
        raise ValueError("a session without open or close")
    return Session(date.fromisoformat(row[0]), opens, closes, when(row[3]), when(row[4]))
