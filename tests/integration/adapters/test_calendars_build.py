"""A new session table made in a child process, as the engine does when one is due."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tests.support import eventually
from yquant.adapters import calendars
from yquant.adapters.calendars import SHIPPED, SessionTables, read_table
from yquant.domain import market_rules as mr


def other_library_table(path: Path) -> None:
    """A table the installed library did not make (a new one is due), in which KRX closes at
    01:40 UTC."""
    data = json.loads(SHIPPED.read_text())
    data["library"] = "0.0.1"
    data["until"] = mr.schedule_until(datetime.now(UTC).date()).isoformat()  # usable today
    data["calendars"]["XKRX"]["hours"] = [[0, 100, None, None]] * 2
    calendars.write(path, data)


def next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def test_a_due_table_is_made_in_a_child_and_read_from_then_on(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped.json"
    other_library_table(shipped)
    tables = SessionTables(tmp_path / "calendars", shipped=shipped)
    today = datetime.now(UTC).date()
    assert tables.needs_build(today)
    mr.use_schedule_reader(tables)
    krx = mr.calendar_for(mr.venue_for("KRX"))
    try:
        mr.warm_up(["KRX"])
        day = next_weekday(today + timedelta(days=40))
        while krx.session(day) is None:  # a holiday
            day = next_weekday(day)
        session = krx.session(day)
        assert session is not None
        assert session.close_at.time().isoformat() == "01:40:00"
        stop = asyncio.Event()
        keeper = asyncio.create_task(tables.keep_current(stop, first_after_s=0, every_s=3600))

        def close_utc() -> str:
            session = krx.session(day)
            assert session is not None
            return session.close_at.time().isoformat()

        # The schedules read before are read again, from the new table, once it is made.
        await eventually(lambda: close_utc() == "06:30:00", timeout_s=120)
        stop.set()
        await keeper
        made = read_table(tables.path)
        assert made is not None
        assert made.library == calendars.library_version()
        assert made.until == mr.schedule_until(today)
        assert not tables.needs_build(today)
        best = tables.best()
        assert best is not None and best.path == tables.path
    finally:
        mr.use_schedule_reader(mr.read_library_schedule)


async def test_without_a_table_that_reaches_a_month_ahead_one_is_made_before_the_start(
    tmp_path: Path,
) -> None:
    stale = tmp_path / "shipped.json"
    data = json.loads(SHIPPED.read_text())
    data["until"] = "2025-12-31"
    calendars.write(stale, data)
    tables = SessionTables(tmp_path / "calendars", shipped=stale)
    today = datetime.now(UTC).date()
    assert not tables.usable(tables.best(), today)
    await tables.ready(asyncio.Event())
    best = tables.best()
    assert best is not None and best.path == tables.path
    assert tables.usable(best, today)
    # A usable table is not made again.
    tables.path.unlink()
    data["until"] = mr.schedule_until(today).isoformat()
    calendars.write(stale, data)
    await tables.ready(asyncio.Event())
    assert not tables.path.exists()


async def test_a_stop_ends_a_build_under_way(tmp_path: Path) -> None:
    tables = SessionTables(tmp_path / "calendars", shipped=tmp_path / "none.json")
    stop = asyncio.Event()
    build = asyncio.create_task(tables.build_in_child(stop))
    await asyncio.sleep(0.2)
    stop.set()
    async with asyncio.timeout(10):
        made = await build
    assert made is False
    assert not tables.path.exists()


def test_calendar_status_names_the_table_the_engine_reads(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YQUANT")}
    env["YQUANT__DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "yquant", "calendar", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    shipped = read_table(SHIPPED)
    assert shipped is not None
    assert status["table"]["path"] == str(SHIPPED)
    assert status["table"]["until"] == shipped.until.isoformat()
    assert status["table"]["calendars"]["XSHG"] <= status["table"]["until"]
    assert isinstance(status["due"], bool)
    assert date.fromisoformat(status["table"]["built_on"]) == shipped.built_on
