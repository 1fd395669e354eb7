"""`yquant catalog sync` and `yquant info` as an operator runs them (subprocesses, real MariaDB)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.catalog import KONEX, KOSDAQ, KOSPI, MasterServer
from tests.support import yquant, yquant_env


def env_for(data_dir: Path, mariadb_url: str) -> dict[str, str]:
    return yquant_env(data_dir, YQUANT__DATABASE__URL=mariadb_url)


def test_sync_dry_run_prints_the_summary_and_writes_nothing(
    mariadb_url: str, data_dir: Path, masters: MasterServer
) -> None:
    env = env_for(data_dir, mariadb_url)
    result = yquant(
        "catalog", "sync", "KR", "US", "--dry-run", "--source-url-base", masters.base_url, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "dry run: nothing was written" in result.stdout
    kr_rows = len(KOSPI) + len(KOSDAQ) + len(KONEX)
    assert f"KR      {kr_rows}" in result.stdout  # rows, then "added" of as many
    assert "kospi_code.mst.zip" in result.stderr  # progress, one line per file off a terminal

    status = yquant("catalog", "status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == []


def test_sync_then_info_shows_the_instrument_with_its_tick_rules(
    mariadb_url: str, data_dir: Path, masters: MasterServer
) -> None:
    env = env_for(data_dir, mariadb_url)
    synced = yquant("catalog", "sync", "--json", "--source-url-base", masters.base_url, env=env)
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert [m["market"] for m in report["markets"]] == ["KR", "US"]  # the default markets
    assert report["markets"][0]["version_after"] == 1

    info = yquant("info", "KRX:005930", env=env)
    assert info.returncode == 0, info.stderr
    assert "KOSPI:005930  삼성전자" in info.stdout
    assert "KR7005930003" in info.stdout
    assert "KRW" in info.stdout
    assert "< 2,000: 1; < 5,000: 5; < 20,000: 10" in info.stdout
    assert "KRX:005930 resolves to this listing" in info.stdout

    apple = yquant("info", "NASDAQ:AAPL", "--json", env=env)
    assert apple.returncode == 0, apple.stderr
    [item] = json.loads(apple.stdout)
    assert (item["exchange"], item["currency"], item["name_en"]) == ("NASDAQ", "USD", "APPLE INC")
    assert item["tick_rules"] == "< 1: 0.0001; >= 1: 0.01 USD"
    assert item["routing"]["status"] == "ok"
    assert item["catalog"] == {"version": 1, "source": masters.base_url}

    halted = yquant("info", "000040", "--json", env=env)
    [item] = json.loads(halted.stdout)
    assert item["halted"] is True
    assert item["routing"]["status"] == "halted"

    missing = yquant("info", "NYSE:ZZZZ", env=env)
    assert missing.returncode == 1
    assert "not in the catalog" in missing.stderr


def test_a_failed_sync_exits_non_zero_with_the_reason(
    mariadb_url: str, data_dir: Path, masters: MasterServer
) -> None:
    env = env_for(data_dir, mariadb_url)
    masters.faults["nysmst.cod.zip"] = "cut"
    result = yquant("catalog", "sync", "US", "--source-url-base", masters.base_url, env=env)
    assert result.returncode == 1
    assert "catalog sync failed" in result.stderr
    assert "nysmst.cod.zip" in result.stderr
    assert "nothing was changed" in result.stderr
    assert json.loads(yquant("catalog", "status", "--json", env=env).stdout) == []
