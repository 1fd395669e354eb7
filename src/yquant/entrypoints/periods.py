"""A report's period from ``--from`` / ``--to`` days: local days of the dashboard's time zone
(``dashboard.time_zone``, Asia/Seoul unless set), ``--to`` included."""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from yquant.errors import ConfigurationError
from yquant.settings import Settings

DEFAULT_DAYS = 30


def add_period(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument(
        "--from",
        dest="since",
        required=required,
        help="first day, YYYY-MM-DD"
        + ("" if required else f" (default: {DEFAULT_DAYS} days before --to)"),
    )
    parser.add_argument(
        "--to", dest="until", required=required, help="last day, YYYY-MM-DD (default: today)"
    )


def period(settings: Settings, args: argparse.Namespace) -> tuple[datetime, datetime, str]:
    """[start of --from, end of --to) as aware times, and the zone's name."""
    zone = settings.dashboard.time_zone
    tz = ZoneInfo(zone)
    last = _day(args.until, "--to") or datetime.now(tz).date()
    first = _day(args.since, "--from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ConfigurationError(f"--from {first} is after --to {last}")
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    return start, end, zone


def _day(text: str | None, option: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"{option} {text!r}: not a day (YYYY-MM-DD)") from None
