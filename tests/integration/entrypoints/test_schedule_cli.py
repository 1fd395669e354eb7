"""`yquant schedule`: add, list, edit, pause, remove, export and import from the command line;
refusals name the field (and the row, for an import) with a non-zero exit and change nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import yquant, yquant_env, yquant_json
from yquant.adapters.db import migrate


def test_schedules_are_kept_from_the_command_line(tmp_path: Path) -> None:
    env = yquant_env(tmp_path / "data")
    (tmp_path / "data").mkdir()
    migrate.upgrade(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'yquant.sqlite3'}")

    added = yquant(
        "schedule", "add", "samsung-open", "--ticker", "005930", "--side", "buy",
        "--amount", "1000000", "--account", "paper", "--after-open", "30", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    aapl = yquant_json(
        "schedule", "add", "aapl", "--ticker", "NASDAQ:AAPL", "--side", "buy", "--quantity",
        "1", "--account", "paper", "--at", "10:00", "--days", "mon,wed,fri", env=env,
    )  # fmt: skip
    assert (aapl["timezone"], aapl["local_time"], aapl["days"]) == (
        "America/New_York",
        "10:00",
        "mon,wed,fri",
    )
    # The next firing is 10:00 in New York, shown in KST as well.
    assert aapl["next_local"].endswith(("T10:00:00-05:00", "T10:00:00-04:00"))
    assert aapl["next_kst"].endswith("+09:00")

    early = yquant(
        "schedule", "add", "early", "--ticker", "005930", "--side", "buy", "--quantity", "1",
        "--account", "paper", "--at", "08:00", env=env,
    )  # fmt: skip
    assert early.returncode == 2
    assert "local_time: 08:00 is outside the session (09:00-15:30" in early.stderr

    edited = yquant_json(
        "schedule", "edit", "samsung-open", "--quantity", "3", "--before-close", "10", env=env
    )  # fmt: skip
    assert (edited["quantity"], edited["time_kind"], edited["offset_min"]) == (
        "3",
        "before_close",
        10,
    )
    assert "amount" not in edited

    assert yquant("schedule", "pause", "aapl", env=env).returncode == 0
    listed = {row["name"]: row for row in yquant_json("schedule", "list", env=env)}
    assert listed["aapl"]["paused"] is True and listed["aapl"]["next_at"] is None
    assert listed["samsung-open"]["next_at"] is not None

    exported = tmp_path / "schedules.json"
    assert yquant("schedule", "export", str(exported), env=env).returncode == 0
    rows = json.loads(exported.read_text())
    assert [r["name"] for r in rows] == ["aapl", "samsung-open"]

    rows[0]["quantity"] = "9"
    rows.append({**rows[1], "name": "third", "days": "mon,funday"})
    exported.write_text(json.dumps(rows))
    refused = yquant("schedule", "import", str(exported), env=env)
    assert refused.returncode == 2
    assert "row 3: days: 'funday'" in refused.stderr
    listed = {row["name"]: row for row in yquant_json("schedule", "list", env=env)}
    assert set(listed) == {"aapl", "samsung-open"} and listed["aapl"]["quantity"] == "1"

    rows[2]["days"] = "mon,tue"
    exported.write_text(json.dumps(rows))
    assert yquant_json("schedule", "import", str(exported), env=env) == {
        "imported": 3,
        "names": ["aapl", "samsung-open", "third"],
    }
    listed = {row["name"]: row for row in yquant_json("schedule", "list", env=env)}
    assert listed["aapl"]["quantity"] == "9" and listed["third"]["days"] == "mon,tue"

    assert yquant("schedule", "remove", "third", env=env).returncode == 0
    missing = yquant("schedule", "remove", "third", env=env)
    assert missing.returncode == 1 and "no schedule named 'third'" in missing.stderr
    assert yquant_json("schedule", "runs", env=env) == []
