"""`yquant db backup` / `yquant db restore` on the real MariaDB and on SQLite: a restore into an
empty database holds the same rows, table by table."""

from __future__ import annotations

import asyncio
import gzip
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.support import YquantUp, mariadb_database, wait_until, yquant, yquant_env, yquant_json
from yquant.adapters.db.backup import default_name


async def _mariadb_snapshot(url: str) -> dict[str, Any]:
    """Every table's definition (less its AUTO_INCREMENT counter) and every row, sorted."""
    import asyncmy

    u = make_url(url)
    conn = await asyncmy.connect(
        host=u.host, port=u.port or 3306, user=u.username, password=u.password or "", db=u.database
    )
    snapshot: dict[str, Any] = {}
    try:
        async with conn.cursor() as cur:
            await cur.execute("SHOW TABLES")
            names = sorted(r[0] for r in await cur.fetchall())
            for name in names:
                await cur.execute(f"SHOW CREATE TABLE `{name}`")
                ddl = re.sub(r" AUTO_INCREMENT=\d+", "", (await cur.fetchone())[1])
                await cur.execute(f"SELECT * FROM `{name}`")
                rows = sorted(await cur.fetchall(), key=repr)
                snapshot[name] = (ddl, rows)
    finally:
        conn.close()
    return snapshot


def _sqlite_snapshot(path: Path) -> dict[str, Any]:
    with sqlite3.connect(path) as conn:
        names = sorted(
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        )
        return {
            n: (
                conn.execute("SELECT sql FROM sqlite_master WHERE name=?", (n,)).fetchone()[0],
                sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr),
            )
            for n in names
        }


def _trade(up: YquantUp) -> None:
    """Real rows in every part of the schema: a signal, orders, fills, positions, cash, the
    kill switch and its audit (Korean text), the catalog (Korean names)."""
    up.start()
    try:
        assert up.post(up.alert(id="bk-1", quantity="3", price="71000")).status_code == 200
        assert up.post(up.alert(id="bk-2", ticker="NASDAQ:AAPL", price="189.25")).status_code == 200

        def filled() -> bool:
            return len([o for o in up.orders() if o["status"] == "filled"]) == 2

        wait_until(filled, timeout_s=30)
        halted = yquant("halt", "paper", "--reason", "점검 중 (backup test)", env=up.env)
        assert halted.returncode == 0, halted.stderr
    finally:
        assert up.stop() == 0, up.log()


@pytest.mark.e2e
def test_mariadb_backup_restores_the_same_rows_into_an_empty_database(tmp_path: Path) -> None:
    with mariadb_database() as source_url, mariadb_database() as target_url:
        up = YquantUp(tmp_path / "data", YQUANT__DATABASE__URL=source_url)
        assert yquant("db", "upgrade", env=up.env).returncode == 0
        _trade(up)
        before = asyncio.run(_mariadb_snapshot(source_url))
        for table in ("fills", "orders", "positions", "audit_log", "kill_switch"):
            assert before[table][1], table

        backups = tmp_path / "backups"
        made = yquant("db", "backup", "--dir", str(backups), "--keep", "2", env=up.env)
        assert made.returncode == 0, made.stderr
        [dump] = list(backups.glob("yquant-*.sql.gz"))
        assert dump.stat().st_mode & 0o777 == 0o600
        text = gzip.decompress(dump.read_bytes()).decode()
        assert "-- Dump completed" in text and "CREATE DATABASE" not in text

        target = yquant_env(tmp_path / "other", YQUANT__DATABASE__URL=target_url)
        restored = yquant("db", "restore", str(dump), env=target)
        assert restored.returncode == 0, restored.stderr
        assert "(head)" in restored.stdout
        after = asyncio.run(_mariadb_snapshot(target_url))
        assert sorted(after) == sorted(before)
        for table in before:
            assert after[table] == before[table], table
        assert [Decimal(o["avg_fill_price"]) for o in yquant_json("orders", env=target)] == [
            Decimal(o["avg_fill_price"]) for o in yquant_json("orders", env=up.env)
        ]

        # A database with tables is not overwritten by accident.
        again = yquant("db", "restore", str(dump), env=target)
        assert again.returncode == 2
        assert "--force" in again.stderr and "Traceback" not in again.stderr
        forced = yquant("db", "restore", str(dump), "--force", env=target)
        assert forced.returncode == 0, forced.stderr
        assert asyncio.run(_mariadb_snapshot(target_url)) == before

        # Rotation keeps the newest --keep backups.
        for _ in range(2):
            assert (
                yquant("db", "backup", "--dir", str(backups), "--keep", "2", env=up.env).returncode
                == 0
            )
        kept = sorted(p.name for p in backups.glob("yquant-*.sql.gz"))
        assert len(kept) == 2 and dump.name not in kept


def test_mariadb_backup_of_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = yquant_env(
        tmp_path / "data", YQUANT__DATABASE__URL="mysql+asyncmy://root@127.0.0.1:1/nothing"
    )
    result = yquant("db", "backup", str(tmp_path / "b.sql.gz"), env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "mariadb-dump of nothing on 127.0.0.1 failed" in line
    assert not list(tmp_path.glob("*b.sql.gz*"))  # no partial file left


@pytest.mark.e2e
def test_sqlite_backup_is_online_and_restores_into_an_empty_data_dir(tmp_path: Path) -> None:
    up = YquantUp(tmp_path / "data")
    _trade(up)
    up.start()  # taken while the roles run: SQLite's online backup
    try:
        made = yquant("db", "backup", str(tmp_path / "b" / "yq.sqlite3"), env=up.env)
        assert made.returncode == 0, made.stderr
    finally:
        assert up.stop() == 0, up.log()
    before = _sqlite_snapshot(tmp_path / "data" / "yquant.sqlite3")
    assert before["orders"][1] and before["fills"][1]

    fresh = yquant_env(tmp_path / "fresh")
    restored = yquant("db", "restore", str(tmp_path / "b" / "yq.sqlite3"), env=fresh)
    assert restored.returncode == 0, restored.stderr
    assert _sqlite_snapshot(tmp_path / "fresh" / "yquant.sqlite3") == before

    # Not into the SQLite file of a running instance.
    up.start()
    try:
        refused = yquant("db", "restore", str(tmp_path / "b" / "yq.sqlite3"), "--force", env=up.env)
        assert refused.returncode == 2
        assert "in use by `yquant up`" in refused.stderr
    finally:
        assert up.stop() == 0, up.log()


def test_backups_made_in_the_same_second_keep_a_file_each_and_sort_by_time() -> None:
    """The timer's backup and an operator's can land in one second: neither may replace the
    other, and rotation (newest last by name) must still see them in time order."""
    url = "mysql+asyncmy://u@127.0.0.1/yquant"
    second = datetime(2026, 12, 6, 7, 57, 42, tzinfo=UTC)
    names = [default_name(url, second.replace(microsecond=us)) for us in (900_000, 5, 120)]
    assert len(set(names)) == 3
    assert sorted(names) == [names[1], names[2], names[0]]
    assert names[1] == "yquant-20261206T075742.000005Z.sql.gz"
    # Against the names of the next second, and of backups named to the second before.
    assert sorted([default_name(url, second + timedelta(seconds=1)), names[0]])[0] == names[0]
    assert sorted(["yquant-20261206T075741Z.sql.gz", names[1]])[0].endswith("075741Z.sql.gz")
