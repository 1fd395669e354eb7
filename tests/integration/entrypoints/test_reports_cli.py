"""`yquant report execution`, `yquant report parity` and `yquant replay` over a real database
(SQLite and MariaDB): the path of orders recorded as the webhook, the engine and the gateway
record it, read back into percentiles; a TradingView export matched to the live orders; the
recorded alerts replayed with other settings, leaving the real database as it was."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support import yquant_env
from tests.unit.domain.test_parity import ENGLISH, KOREAN
from yquant.adapters.db import tables
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.domain import alerts
from yquant.domain.model import (
    BrokerOrder,
    Fill,
    Market,
    Order,
    OrderStatus,
    OrderType,
    Side,
    SignalStatus,
    client_order_id,
)
from yquant.domain.writes import AdvanceOrder, AdvanceSignal, InsertFill, InsertOrder, InsertSignal
from yquant.entrypoints import cli

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 10:00 in Seoul


class Run:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli.main(list(args))
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def run(
    data_dir: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    for key in [k for k in os.environ if k.startswith("YQUANT")]:
        monkeypatch.delenv(key)
    env = yquant_env(data_dir, None, YQUANT__DATABASE__URL=db_url)
    for key, value in env.items():
        if key.startswith("YQUANT"):
            monkeypatch.setenv(key, value)
    # Fees of nothing, so that the P&L below is the hand-computed price difference.
    monkeypatch.setenv(
        "YQUANT__FEES",
        json.dumps({"KR": [{"since": "2000-01-01"}], "US": [{"since": "2000-01-01"}]}),
    )
    return Run(monkeypatch, capsys)


class Desk:
    """Writes as the webhook, the engine and the gateway make them, through the recorder."""

    def __init__(self, url: str, journal: Path) -> None:
        self.store = SqlStore(url, timeout_s=5)
        self.journal = Journal(journal)
        self.recorder = Recorder(self.store, self.journal)

    async def close(self) -> None:
        await self.recorder.close()
        self.journal.close()
        await self.store.close()

    async def alert(
        self,
        received: datetime,
        action: str,
        *,
        strategy: str = "alpha",
        quantity: str = "3",
        price: str = "71000",
        timenow: datetime | None = None,
        **extra: str,
    ) -> alerts.Alert:
        body: dict[str, Any] = {
            "strategy": strategy,
            "ticker": "KRX:005930",
            "action": action,
            "quantity": quantity,
            "price": price,
            "time": received.replace(second=0, microsecond=0).isoformat(),
        }
        if timenow is not None:
            body["timenow"] = timenow.isoformat()
        body.update(extra)
        fields = alerts.decode_body(json.dumps(body).encode())
        alert = alerts.parse_alert(fields, received)
        await self.recorder.write(
            InsertSignal(
                key=alert.key,
                worker="local",
                status=SignalStatus.ACCEPTED,
                received_at=received,
                updated_at=received,
                alert=alert,
                fields=fields,
            )
        )
        return alert

    async def order(
        self,
        alert: alerts.Alert,
        side: Side,
        *,
        decided: datetime,
        sent: datetime | None = None,
        accepted: datetime | None = None,
        fills: tuple[tuple[datetime, str, str], ...] = (),
        account: str = "paper",
    ) -> Order:
        order = Order(
            client_order_id=client_order_id(alert.key, account),
            signal_key=alert.key,
            account=account,
            strategy=alert.strategy,
            ticker="005930",
            exchange="KOSPI",
            market=Market.KR,
            side=side,
            order_type=OrderType.MARKET,
            quantity=sum((Decimal(q) for _, q, _ in fills), Decimal(0)) or Decimal(3),
            # taken by the engine a millisecond after arrival, recorded when decided (as
            # `SignalHandler` records it)
            created_at=alert.received_at + ms(1),
            updated_at=decided,
            reference_price=alert.price,
        )
        await self.recorder.write(InsertOrder(order))
        await self.recorder.write(
            AdvanceSignal(
                key=alert.key,
                worker="local",
                status=SignalStatus.ORDERED,
                received_at=alert.received_at,
                updated_at=decided,
            )
        )
        if sent is not None:
            order = order.submitted(sent)
            await self.recorder.write(AdvanceOrder(order))
        if accepted is not None:
            report = BrokerOrder(order.client_order_id, OrderStatus.ACCEPTED, Decimal(0), None)
            order = order.apply(report).evolve(updated_at=accepted)
            await self.recorder.write(AdvanceOrder(order))
        filled = Decimal(0)
        for n, (at, quantity, price) in enumerate(fills, 1):
            fill = Fill(
                fill_id=f"{order.client_order_id}:{n}",
                client_order_id=order.client_order_id,
                account=account,
                ticker="005930",
                side=side,
                quantity=Decimal(quantity),
                price=Decimal(price),
                commission=Decimal(0),
                currency="KRW",
                filled_at=at,
            )
            await self.recorder.write(InsertFill(fill))
            filled += fill.quantity
            status = (
                OrderStatus.FILLED if filled == order.quantity else OrderStatus.PARTIALLY_FILLED
            )
            order = order.apply(
                BrokerOrder(order.client_order_id, status, filled, Decimal(price))
            ).evolve(updated_at=at)
            await self.recorder.write(AdvanceOrder(order))
        return order


def ms(n: float) -> timedelta:
    return timedelta(milliseconds=n)


async def record_path(url: str, journal: Path) -> None:
    """Five buys of ``alpha`` a minute apart whose hops have hand-picked lengths, and one
    sell of ``beta`` with two fills."""
    desk = Desk(url, journal)
    try:
        decide_ms = [10, 20, 30, 40, 1000]
        for n, d in enumerate(decide_ms):
            received = T0 + timedelta(minutes=n)
            alert = await desk.alert(
                received, "buy", timenow=received - timedelta(seconds=n + 1), price="71000"
            )
            decided = received + ms(d)
            await desk.order(
                alert,
                Side.BUY,
                decided=decided,
                sent=decided + ms(5),
                accepted=decided + ms(105),
                fills=((decided + timedelta(seconds=1), "3", str(71000 + 100 * n)),),
            )
        received = T0 + timedelta(minutes=10)
        alert = await desk.alert(received, "sell", strategy="beta", quantity="4", price="100000")
        await desk.order(
            alert,
            Side.SELL,
            decided=received + ms(50),
            sent=received + ms(60),
            # no acknowledgement step: the broker's answer came with the first fill
            fills=(
                (received + timedelta(seconds=2), "1", "99900"),
                (received + timedelta(seconds=5), "3", "99800"),
            ),
        )
    finally:
        await desk.close()


def test_execution_report_gives_the_percentiles_of_each_hop_and_of_slippage(
    run: Run, db_url: str, tmp_path: Path
) -> None:
    asyncio.run(record_path(db_url, tmp_path / "journal.sqlite3"))

    code, out, err = run(
        "report", "execution", "--from", "2026-12-01", "--to", "2026-12-01", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    groups = {(g["strategy"], g["market"], g["broker"]): g for g in report["groups"]}
    assert list(groups) == [("alpha", "KR", "paper"), ("beta", "KR", "paper"), ("*", "*", "*")]

    alpha = groups[("alpha", "KR", "paper")]
    assert (alpha["orders"], alpha["filled"]) == (5, 5)
    hops = alpha["hops_s"]
    # timenow 1..5 s before arrival: p50 rank 2 -> 3; p95 rank 3.8 -> 4.8; p99 rank 3.96 -> 4.96
    assert hops["timenow_received"] == {"count": 5, "p50": 3.0, "p95": 4.8, "p99": 4.96}
    # 10, 20, 30, 40, 1000 ms: p95 = 0.040 + 0.8 x 0.960 = 0.808; p99 = 0.040 + 0.96 x 0.960
    assert hops["received_decided"] == {"count": 5, "p50": 0.03, "p95": 0.808, "p99": 0.962}
    assert hops["decided_sent"] == {"count": 5, "p50": 0.005, "p95": 0.005, "p99": 0.005}
    assert hops["sent_accepted"] == {"count": 5, "p50": 0.1, "p95": 0.1, "p99": 0.1}
    assert hops["accepted_first_fill"] == {"count": 5, "p50": 0.895, "p95": 0.895, "p99": 0.895}
    assert hops["first_last_fill"] == {"count": 5, "p50": 0.0, "p95": 0.0, "p99": 0.0}
    # bought at 71,000 + 0/100/200/300/400 against 71,000: 0, 14.08, 28.17, 42.25, 56.34 bps
    # p50 = 28.17; p95 rank 3.8 -> 42.25 + 0.8 x 14.09 = 53.522; p99 -> 42.25 + 0.96 x 14.09
    assert alpha["slippage_bps"] == {"count": 5, "p50": "28.17", "p95": "53.52", "p99": "55.78"}

    beta = groups[("beta", "KR", "paper")]
    assert beta["hops_s"]["timenow_received"] is None  # the alert sent no timenow
    assert beta["hops_s"]["sent_accepted"] == {"count": 1, "p50": 1.94, "p95": 1.94, "p99": 1.94}
    assert beta["hops_s"]["first_last_fill"] == {"count": 1, "p50": 3.0, "p95": 3.0, "p99": 3.0}
    # sold 1 at 99,900 and 3 at 99,800 (average 99,825) against 100,000: 17.5 bps worse
    assert beta["slippage_bps"]["p50"] == "17.50"
    assert groups[("*", "*", "*")]["orders"] == 6

    code, out, _ = run(
        "report", "execution", "--strategy", "beta", "--from", "2026-12-01", "--to", "2026-12-01"
    )
    assert code == 0
    assert "Strategy beta | market KR | broker paper" in out
    assert "first fill → last fill" in out
    assert "alpha" not in out

    code, out, _ = run("report", "execution", "--from", "2026-12-02", "--to", "2026-12-03")
    assert code == 0
    assert "no orders decided in this period" in out


LIVE_TRADES: list[tuple[str, datetime, Side, str, str]] = [
    # action, decided (UTC; Seoul is UTC+9), side, quantity filled, price
    ("buy", datetime(2026, 12, 1, 0, 30, 2, tzinfo=UTC), Side.BUY, "10", "71100"),
    ("sell", datetime(2026, 12, 1, 5, 0, 1, tzinfo=UTC), Side.SELL, "10", "71900"),
    ("buy", datetime(2026, 12, 2, 3, 0, tzinfo=UTC), Side.BUY, "5", "70200"),
    ("sell", datetime(2026, 12, 2, 6, 0, 3, tzinfo=UTC), Side.SELL, "10", "69900"),
    ("buy", datetime(2026, 12, 3, 0, 30, 1, tzinfo=UTC), Side.BUY, "8", "71500"),
]


async def record_live(url: str, journal: Path) -> None:
    desk = Desk(url, journal)
    try:
        for action, decided, side, quantity, price in LIVE_TRADES:
            alert = await desk.alert(decided, action, quantity=quantity, price=price)
            await desk.order(
                alert,
                side,
                decided=decided,
                sent=decided + ms(5),
                fills=((decided + timedelta(seconds=1), quantity, price),),
            )
    finally:
        await desk.close()


@pytest.mark.parametrize("export", [ENGLISH, KOREAN], ids=["en", "ko"])
def test_parity_report_on_an_export_in_tradingviews_layout(
    run: Run, db_url: str, tmp_path: Path, export: str
) -> None:
    asyncio.run(record_live(db_url, tmp_path / "journal.sqlite3"))
    path = tmp_path / "List_of_trades.csv"
    path.write_text(export, encoding="utf-8")

    code, out, err = run(
        "report", "parity", "--strategy", "alpha", "--tv-trades", str(path), "--json"
    )
    assert code == 0, err
    r = json.loads(out)
    assert (r["ticker"], r["currency"], r["rows"]) == ("005930", "KRW", 5)
    assert [(m["trade"], m["entry"]) for m in r["matched"]] == [
        (1, True),
        (1, False),
        (2, False),
        (3, True),
    ]
    assert [(m["trade"], m["entry"]) for m in r["missed"]] == [(2, True)]
    assert [(x["side"], x["quantity"], x["price"]) for x in r["extra"]] == [("buy", "5", "70200")]
    assert r["matched"][0]["price_diff_bps"] == "14.08"
    assert r["matched"][3]["quantity_diff"] == "-2"
    assert r["pnl"] == {
        "compared_trades": 1,
        "tv": "10000",
        "live": "8000",
        "gap": "-2000",
    }
    assert r["open_trades"] == [3]

    code, out, _ = run("report", "parity", "--strategy", "alpha", "--tv-trades", str(path))
    assert code == 0
    assert "Missed signals" in out
    assert "gap -₩2,000" in out


def test_parity_refuses_a_bad_file_naming_line_and_column(
    run: Run, db_url: str, tmp_path: Path
) -> None:
    asyncio.run(record_live(db_url, tmp_path / "journal.sqlite3"))
    path = tmp_path / "trades.csv"
    path.write_text(
        "Trade #,Type,Signal,Date/Time,Price KRW,Contracts\n"
        "1,Exit long,Close,2026-12-01 14:00,72000,10\n"
        "1,Entry long,Long,2026-12-01 09:30,71,000,10\n".replace("71,000", "seventy"),
        encoding="utf-8",
    )
    code, out, err = run("report", "parity", "--strategy", "alpha", "--tv-trades", str(path))
    assert code == 2
    assert out == ""
    assert "line 3, column 5 (Price KRW): not a positive number" in err

    path.write_bytes(b"Trade #,Type\n1,\xff\xfe\n")
    code, _, err = run("report", "parity", "--strategy", "alpha", "--tv-trades", str(path))
    assert code == 2
    assert "line 2: not UTF-8 text" in err


async def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the real database."""
    store = SqlStore(url, timeout_s=5)
    try:
        out = {}
        for table in tables.metadata.sorted_tables:
            rows = await store.rows(select(table))
            out[table.name] = sorted((tuple(sorted(r.items())) for r in rows), key=repr)
        return out
    finally:
        await store.close()


def files(path: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in path.rglob("*")
        if p.is_file()
    }


async def record_replayable(url: str, journal: Path) -> None:
    """``alpha`` bought 3 at 71,000 and sold them at 72,000 an hour later (live P&L 3,000)."""
    desk = Desk(url, journal)
    try:
        buy = await desk.alert(T0, "buy", quantity="3", price="71000")
        await desk.order(
            buy, Side.BUY, decided=T0 + ms(20), fills=((T0 + timedelta(seconds=1), "3", "71000"),)
        )
        later = T0 + timedelta(hours=1)
        sell = await desk.alert(later, "exit", quantity="3", price="72000")
        await desk.order(
            sell,
            Side.SELL,
            decided=later + ms(20),
            fills=((later + timedelta(seconds=1), "3", "72000"),),
        )
    finally:
        await desk.close()


def test_replay_trades_other_settings_on_paper_and_never_touches_the_real_book(
    run: Run, db_url: str, tmp_path: Path, data_dir: Path
) -> None:
    asyncio.run(record_replayable(db_url, tmp_path / "journal.sqlite3"))
    other = tmp_path / "other.toml"
    other.write_text(
        '[paper]\ncommission_rate = "0"\n\n'
        '[strategies.alpha]\naccounts = ["paper"]\n\n'
        '[strategies.alpha.sizing]\npolicy = "fixed_quantity"\nquantity = 5\n',
        encoding="utf-8",
    )
    before = asyncio.run(dump(db_url))
    files_before = files(data_dir)

    code, out, err = run(
        "replay", "--from", "2026-12-01", "--to", "2026-12-01", "--config", str(other), "--json"
    )
    assert code == 0, err
    r = json.loads(out)
    orders = [
        (a["action"], [(o["side"], o["quantity"], o["status"]) for o in a["orders"]])
        for a in r["alerts"]
    ]
    assert orders == [("buy", [("buy", "5", "filled")]), ("exit", [("sell", "5", "filled")])]
    assert [a["recorded_status"] for a in r["alerts"]] == ["ordered", "ordered"]
    # replay: 5 x (72,000 - 71,000) = 5,000; live: 3 x 1,000 = 3,000
    assert r["pnl"] == [
        {
            "strategy": "alpha",
            "currency": "KRW",
            "replay": "5000",
            "live": "3000",
            "difference": "2000",
        }
    ]

    assert asyncio.run(dump(db_url)) == before
    assert files(data_dir) == files_before

    # With the current settings the replay trades what the alerts asked, as live did.
    code, out, err = run("replay", "--from", "2026-12-01", "--to", "2026-12-01")
    assert code == 0, err
    assert "2 recorded alerts: 2 would trade, 0 queued, 0 refused" in out
    assert "₩3,000" in out
    assert asyncio.run(dump(db_url)) == before


async def record_limit_alerts(url: str, journal: Path) -> None:
    """Alerts only (no live orders): ``alpha`` a limit buy of 3 at 70,500 while the price is
    71,000, ``beta`` a buy of 1 at 70,400 ten minutes later, ``alpha`` an exit at 72,000."""
    desk = Desk(url, journal)
    try:
        await desk.alert(T0, "buy", price="71000", order_type="limit", limit_price="70500")
        await desk.alert(
            T0 + timedelta(minutes=10), "buy", strategy="beta", quantity="1", price="70400"
        )
        await desk.alert(T0 + timedelta(hours=1), "exit", price="72000")
    finally:
        await desk.close()


def test_replay_fills_a_resting_limit_when_a_later_alerts_price_reaches_it(
    run: Run, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YQUANT__PAPER__COMMISSION_RATE", "0")
    asyncio.run(record_limit_alerts(db_url, tmp_path / "journal.sqlite3"))
    before = asyncio.run(dump(db_url))
    code, out, err = run("replay", "--from", "2026-12-01", "--to", "2026-12-01", "--json")
    assert code == 0, err
    r = json.loads(out)
    placed = [[(o["side"], o["quantity"], o["status"]) for o in a["orders"]] for a in r["alerts"]]
    # the limit rests when placed; beta's price (70,400) fills it; the exit sells the 3 shares
    assert placed == [
        [("buy", "3", "accepted")],
        [("buy", "1", "filled")],
        [("sell", "3", "filled")],
    ]
    # alpha: 3 x (72,000 - 70,400); beta: 1 x (72,000 - 70,400) open at the last price
    pnl = {p["strategy"]: (p["replay"], p["live"]) for p in r["pnl"]}
    assert pnl == {"alpha": ("4800", "0"), "beta": ("1600", "0")}
    assert asyncio.run(dump(db_url)) == before


def test_parity_of_a_strategy_with_no_live_orders(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "List_of_trades.csv"
    path.write_text(ENGLISH, encoding="utf-8")
    code, _, err = run("report", "parity", "--strategy", "nobody", "--tv-trades", str(path))
    assert code == 2
    assert "has no live orders: give --ticker and --tz" in err

    code, out, err = run(
        "report", "parity", "--strategy", "nobody", "--tv-trades", str(path),
        "--ticker", "005930", "--tz", "Asia/Seoul", "--json",
    )  # fmt: skip
    assert code == 0, err
    r = json.loads(out)
    assert (len(r["matched"]), len(r["missed"]), r["extra"]) == (0, 5, [])
    assert r["pnl"] == {"compared_trades": 0, "tv": "0", "live": "0", "gap": "0"}
