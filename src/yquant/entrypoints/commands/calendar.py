"""`yquant calendar build|status`: the session table the engine reads its exchange calendars from.

    calendar build [--out PATH]   make the table from the calendar library (loads pandas; a few
                                  seconds) into the data directory, or PATH
    calendar status [--json]      which table the engine reads, how far it reaches, whether a
                                  new one is due

The engine makes a new table itself, in a child process, when the one it reads is due (see
`yquant.adapters.calendars`); `build` is the same step by hand, and with ``--out`` the way the
table shipped in the package is made (`src/yquant/adapters/calendars/sessions.json`).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yquant.settings import Settings

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "written": "session table written",
        "calendars": "calendars",
        "until": "until",
        "library": "library",
        "none": "no session table: the engine reads the calendar library itself (slow)",
        "reads": "the engine reads",
        "built_on": "made on",
        "due": "a new table is due: the engine makes one within minutes of its start",
        "current": "no new table is due",
    },
    "ko": {
        "written": "세션 표 저장 완료",
        "calendars": "캘린더",
        "until": "기한",
        "library": "라이브러리",
        "none": "세션 표가 없습니다: 엔진이 캘린더 라이브러리를 직접 읽습니다 (느림)",
        "reads": "엔진이 읽는 표",
        "built_on": "작성일",
        "due": "새 표가 필요합니다: 엔진이 시작 후 몇 분 안에 만듭니다",
        "current": "새 표가 필요하지 않습니다",
    },
}


def register(sub: Any) -> None:
    calendar = sub.add_parser("calendar", help="exchange calendars: the engine's session table")
    cs = calendar.add_subparsers(metavar="ACTION")
    b = cs.add_parser("build", help="make the session table from the calendar library")
    b.add_argument("--out", type=Path, help="where to write it (default: the data directory)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_build)
    s = cs.add_parser("status", help="the session table the engine reads")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_status)


def _tables(settings: Settings) -> Any:
    from yquant.adapters.calendars import SessionTables

    return SessionTables(settings.data_dir / "calendars")


def _build(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.adapters import calendars

    t = TEXT.get(settings.language, TEXT["en"])
    path = args.out or _tables(settings).path
    table = calendars.build(datetime.now(UTC).date())
    calendars.write(path, table)
    codes = sorted(table["calendars"])
    if args.json:
        print(json.dumps({"path": str(path), "until": table["until"], "calendars": codes}))
    else:
        print(
            f"{t['written']}: {path}  ({t['calendars']} {', '.join(codes)}; "
            f"{t['until']} {table['until']}; {t['library']} {table['library']})"
        )
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    t = TEXT.get(settings.language, TEXT["en"])
    tables = _tables(settings)
    best = tables.best()
    due = tables.needs_build(datetime.now(UTC).date())
    if args.json:
        out = None
        if best is not None:
            out = {
                "path": str(best.path),
                "library": best.library,
                "built_on": best.built_on.isoformat(),
                "until": best.until.isoformat(),
                "calendars": {
                    code: entry["last"] for code, entry in sorted(best.calendars.items())
                },
            }
        print(json.dumps({"table": out, "due": due}))
        return 0
    if best is None:
        print(t["none"])
    else:
        print(f"{t['reads']}: {best.path}")
        print(
            f"  {t['built_on']} {best.built_on}  {t['until']} {best.until}  "
            f"{t['library']} {best.library}"
        )
        for code, entry in sorted(best.calendars.items()):
            print(f"  {code}  {entry['first']} .. {entry['last']}")
    print(t["due"] if due else t["current"])
    return 0
