"""`yquant report` and `yquant snapshot` through the CLI, over snapshots and fills stored in the
real database (SQLite and MariaDB): the metrics as text, JSON and the CSV QuantStats reads,
a deposit left out of the returns, a strategy's own report, and the words in both languages."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import os
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support import krx_order, yquant_env
from yquant.adapters.db.rows import fill_row, order_row
from yquant.adapters.db.snapshots import SqlSnapshots
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Fill, OrderStatus, Side
from yquant.domain.snapshots import AccountDay, FxRate, FxSource, SnapshotSource, StrategyDay
from yquant.entrypoints import cli
from yquant.entrypoints import performance as perf
from yquant.entrypoints.commands import snapshot

D = Decimal
DAY0 = date(2026, 11, 2)
# The paper account's KRW equity at the end of each day, and its USD row's (at 1,400 KRW).
KRW = [D(1_000_000), D(1_100_000), D(1_540_000), D(1_386_000)]  # +10 %, +0 % (+440k in), -10 %
FLOWS = [D(0), D(0), D(440_000), D(0)]
TREND_PNL = [D(0), D(50_000), D(50_000), D(-4_000)]


def _rows() -> list[AccountDay]:
    out = []
    for i, (equity, flow, pnl) in enumerate(zip(KRW, FLOWS, TREND_PNL, strict=True)):
        day = DAY0 + timedelta(days=i)
        out.append(
            AccountDay(
                account="paper",
                day=day,
                currency="KRW",
                cash=equity,
                positions_value=D(0),
                realised=pnl,
                unrealised=D(0),
                flow=flow,
                fx=FxRate(D(1), FxSource.BASE),
                source=SnapshotSource.BROKER,
                taken_at=datetime(2026, 11, 2, 7, tzinfo=UTC) + timedelta(days=i),
                strategies=(StrategyDay("paper", "trend", day, "KRW", D(0), D(0), pnl, D(0)),),
            )
        )
    return out


async def _seed(url: str) -> None:
    store = SqlStore(url, timeout_s=5)
    try:
        for row in _rows():
            await SqlSnapshots(store).save(row)
        at = datetime(2026, 11, 3, 1, tzinfo=UTC)
        for n, (side, price) in enumerate(((Side.BUY, 1000), (Side.SELL, 1100))):
            cid = f"t{n}"
            order = krx_order(
                cid,
                at,
                strategy="trend",
                side=side,
                quantity=D(10),
                status=OrderStatus.FILLED,
                filled_quantity=D(10),
            )
            fill = Fill(f"{cid}:1", cid, "paper", "005930", side, D(10), D(price), D(0), "KRW", at)
            await store.apply("order.insert", order_row(order))
            await store.apply("fill.insert", fill_row(fill))
    finally:
        await store.close()


@pytest.fixture
def run(
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    for key in [k for k in os.environ if k.startswith("YQUANT")]:
        monkeypatch.delenv(key)
    env = yquant_env(tmp_path / "data", "redis://127.0.0.1:1/0", YQUANT__DATABASE__URL=db_url)
    for key, value in env.items():
        if key.startswith("YQUANT"):
            monkeypatch.setenv(key, value)
    asyncio.run(_seed(db_url))

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def test_the_csv_is_daily_returns_in_the_shape_quantstats_reads(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "returns.csv"
    code, _, err = run("report", "--csv", str(path))
    assert code == 0, err
    rows = list(csv.reader(path.read_text().splitlines()))
    assert rows[0] == ["date", "returns"]
    assert [r[0] for r in rows[1:]] == ["2026-11-03", "2026-11-04", "2026-11-05"]
    # The deposit of Nov 4 is no return: +10 %, 0 %, -10 %.
    assert [float(r[1]) for r in rows[1:]] == pytest.approx([0.10, 0.0, -0.10])
    assert all(math.isfinite(float(r[1])) for r in rows[1:])


def test_the_json_holds_the_metrics_and_each_strategys(run: Any) -> None:
    code, out, err = run("report", "performance", "--json")
    assert code == 0, err
    body = json.loads(out)
    m = body["metrics"]
    assert m["cumulative_return"] == pytest.approx(1.1 * 0.9 - 1)
    assert m["max_drawdown"] == pytest.approx(-0.10)
    assert (m["start"], m["end"], m["days"]) == ("2026-11-03", "2026-11-05", 3)
    assert (m["trades"], m["win_rate"]) == (1, 1.0)
    assert body["flows_krw"] == "440000"
    assert list(body["strategies"]) == ["trend"]
    # trend P&L so far 0, 50,000, 50,000, -4,000: +50,000 on 1,000,000, 0, -54,000 on 1,540,000
    assert [r["returns"] for r in run_json(run, "--strategy", "trend")["returns"]] == (
        pytest.approx([0.05, 0.0, -54000 / 1540000])
    )


def run_json(run: Any, *args: str) -> Any:
    code, out, err = run("report", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_a_period_is_its_days_only(run: Any) -> None:
    body = run_json(run, "--from", "2026-11-03", "--to", "2026-11-04")
    assert [r["date"] for r in body["returns"]] == ["2026-11-04"]
    assert body["metrics"]["cumulative_return"] == pytest.approx(0.0)
    code, _, err = run("report", "--from", "2026-11-05", "--to", "2026-11-01")
    assert code == 2 and "--from 2026-11-05 is after --to 2026-11-01" in err


def test_the_text_report_in_korean(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YQUANT__LANGUAGE", "ko")
    code, out, err = run("report", "--account", "paper")
    assert code == 0, err
    assert "누적 수익률" in out and "-1.00%" in out
    assert "입금 − 출금" in out and "₩440,000" in out
    assert "전략별" in out and "trend" in out
    code, _, err = run("report", "--account", "nobody")
    assert code == 2 and "accounts.nobody" in err


def test_no_snapshot_on_a_day_the_markets_were_closed(run: Any) -> None:
    code, out, err = run("snapshot", "--date", "2026-12-05", "--json")  # a Saturday
    assert code == 0, err
    assert [(r["market"], r["outcome"]) for r in json.loads(out)] == [
        ("KR", "closed"),
        ("US", "closed"),
    ]


HANGUL = re.compile("[\uac00-\ud7a3]")


@pytest.mark.parametrize("table", [perf.WORDS, snapshot.TEXT], ids=["report", "snapshot"])
def test_every_word_is_in_english_and_korean(table: dict[str, dict[str, str]]) -> None:
    assert set(table["en"]) == set(table["ko"])
    assert all(HANGUL.search(text) for text in table["ko"].values())
