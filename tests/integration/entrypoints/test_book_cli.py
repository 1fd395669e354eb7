"""The book through its public seams: alerts of two strategies on one paper account go through
the engine and the gateway (on SQLite and on MariaDB, with Valkey and the paper broker), shares
are bought on the paper broker outside yQuant, the account sync checks the book, and
`yquant book` shows each strategy's own position and P&L with the difference as unattributed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import APPLE, SAMSUNG, FakeInstruments, ManualClock
from tests.harness import krx_alert
from tests.support import free_port, yquant_env
from yquant.adapters.bus import ORDERS
from yquant.adapters.messages import alert_to_message, decode
from yquant.bootstrap import (
    active_role,
    build,
    build_broker,
    build_engine,
    build_gateway,
)
from yquant.domain.model import (
    Action,
    Market,
    Order,
    OrderStatus,
    OrderType,
    Side,
    SignalStatus,
)
from yquant.domain.writes import InsertSignal
from yquant.entrypoints import cli, i18n
from yquant.ports import SIGNALS, Entry
from yquant.settings import load_settings

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # Friday 10:00 in Seoul


class Run:
    """`yquant` in this process, with the environment of ``env`` and its output captured."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def env(self, values: dict[str, str]) -> None:
        for key in [k for k in os.environ if k.startswith("YQUANT")]:
            self.monkeypatch.delenv(key)
        for key, value in values.items():
            if key.startswith("YQUANT"):
                self.monkeypatch.setenv(key, value)

    def __call__(self, *args: str, **extra: str) -> tuple[int, str, str]:
        with self.monkeypatch.context() as m:
            for key, value in extra.items():
                m.setenv(key, value)
            self.capsys.readouterr()
            code = cli.main(list(args))
            captured = self.capsys.readouterr()
            return code, captured.out, captured.err

    def json(self, *args: str) -> Any:
        code, out, err = self("book", *args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def run(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    r = Run(monkeypatch, capsys)
    r.env(yquant_env(tmp_path / "data", valkey_url, YQUANT__DATABASE__URL=db_url))
    return r


async def trade(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """Alerts of ``alpha`` and ``beta`` through the engine and the gateway, three shares bought
    on the paper broker directly, then an account sync; what the sync found."""
    settings = load_settings()
    clock = ManualClock(T0)
    runtime = build(settings, "test", clock=clock)
    broker = build_broker(settings, runtime)
    await broker.connect()
    try:
        engine = build_engine(runtime, broker, FakeInstruments(SAMSUNG, APPLE))
        parts = build_gateway(runtime, broker, active_role(runtime.store, "local"))
        handled = 0

        async def alert(key: str, strategy: str, action: Action, quantity: str, price: str) -> None:
            nonlocal handled
            clock.advance(minutes=1)
            a = krx_alert(
                key, clock.now(), action, strategy=strategy, quantity=quantity, price=price
            )
            await runtime.recorder.write(
                InsertSignal(
                    key=a.key,
                    worker="local",
                    status=SignalStatus.ACCEPTED,
                    received_at=a.received_at,
                    updated_at=a.received_at,
                    alert=a,
                )
            )
            data = alert_to_message(a)
            await engine.signals.handle_signal(
                Entry(SIGNALS, "0-1", data, False, decode(SIGNALS, data))
            )
            # The gateway sends a second later: the paper venue fills on the runtime's clock,
            # so its fill is a price seen after the alert's.
            clock.advance(seconds=1)
            entries = await runtime.bus.client.xrange(ORDERS)
            for entry_id, fields in entries[handled:]:
                message = json.loads(fields["data"])
                await parts.gateway.handle_order(
                    Entry(ORDERS, entry_id, message, False, decode(ORDERS, message))
                )
            handled = len(entries)

        await alert("a1", "alpha", Action.BUY, "10", "70000")
        await alert("b1", "beta", Action.BUY, "5", "71000")
        await alert("a2", "alpha", Action.SELL, "4", "72000")
        # Bought on the broker, not through yQuant: no order of ours explains these.
        outside = Order(
            client_order_id="outside-1",
            signal_key=None,
            account="paper",
            strategy="none",
            ticker="005930",
            exchange="KOSPI",
            market=Market.KR,
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal(3),
            reference_price=Decimal(69000),
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        assert (await broker.submit(outside)).status is OrderStatus.FILLED
        with caplog.at_level(logging.WARNING, logger="yquant.services.account_sync"):
            await parts.sync.sync("paper")
            await parts.sync.sync("paper")  # the same difference again: reported once
        return {
            "unattributed": parts.sync.unattributed["paper"],
            "metrics": runtime.metrics.render().decode(),  # type: ignore[attr-defined]
        }
    finally:
        await broker.close()
        await runtime.close()


def by_strategy(book: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["strategy"]: r for r in book["rows"]}


def test_each_strategy_sees_its_own_position_and_outside_shares_are_unattributed(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    assert run("db", "upgrade")[0] == 0
    found = asyncio.run(trade(caplog))

    # The account sync: the three shares are reported once, counted and kept.
    [row] = found["unattributed"]
    assert (row.strategy, row.ticker, row.quantity) == ("unattributed", "005930", Decimal(3))
    warnings = [r.getMessage() for r in caplog.records if "differs" in r.getMessage()]
    assert len(warnings) == 1
    assert "account=paper" in warnings[0] and "broker=14 " in warnings[0]
    assert "strategies=11 " in warnings[0] and warnings[0].endswith("unattributed=3")
    assert 'yquant_book_unattributed{account="paper"} 1.0' in found["metrics"]

    book = run.json()
    rows = by_strategy(book)
    assert set(rows) == {"alpha", "beta", "unattributed"}
    alpha, beta, extra = rows["alpha"], rows["beta"], rows["unattributed"]
    assert (alpha["quantity"], alpha["avg_cost"]) == ("6", "70000")
    # (72,000 - 70,000) x 4 - 43 commission - 576 tax (0.20%) - 42 of the buy's 105 commission
    assert alpha["realised"] == "7339"
    assert (beta["quantity"], beta["avg_cost"], beta["realised"]) == ("5", "71000", "0")
    assert (extra["quantity"], extra["unattributed"], extra["realised"]) == ("3", True, "0")
    assert not alpha["unattributed"] and not beta["unattributed"]
    # Valued at the latest price seen: the sell's fill.
    assert (alpha["last_price"], alpha["price_source"]) == ("72000", "fill")
    assert (alpha["unrealised"], beta["unrealised"]) == ("12000", "5000")
    assert alpha["currency"] == "KRW"
    assert book["totals"]["KRW"]["realised"] == "7339"
    # The fills were days ago: today counts from the last price seen before today, unmoved.
    assert (alpha["price_before_today"], alpha["pnl_today"]) == ("72000", "0")
    assert book["totals"]["KRW"]["pnl_today"] == "0"
    assert book["checks"]["paper"]["source"] == "broker"

    # One strategy: its rows only, and no check against the broker (it holds every strategy's).
    only = run.json("--strategy", "beta")
    assert [r["strategy"] for r in only["rows"]] == ["beta"]
    assert only["checks"] == {}
    # Against the holdings the sync stored: the same difference, without asking the broker.
    synced = run.json("--synced", "--account", "paper")
    assert by_strategy(synced)["unattributed"]["quantity"] == "3"
    assert synced["checks"]["paper"]["source"] == "synced"

    code, out, _ = run("book", YQUANT__LANGUAGE="en")
    assert code == 0
    en = i18n.MESSAGES["en"]
    lines = out.splitlines()
    assert lines[1].split()[:3] == ["Account", "Strategy", "Ticker"]
    [alpha_line] = [line for line in lines if " alpha " in line]
    assert "₩70,000" in alpha_line and "₩72,000" in alpha_line and "₩7,339" in alpha_line
    [extra_line] = [line for line in lines if en["unattributed"] in line]
    assert extra_line.split()[1] == "!" and " +3 " in extra_line
    assert en["book_unattributed"] in out

    code, out, _ = run("book", YQUANT__LANGUAGE="ko")
    assert code == 0
    ko = i18n.MESSAGES["ko"]
    assert ko["realised"] in out and ko["unattributed"] in out and ko["book_unattributed"] in out


def test_an_unknown_account_is_refused(run: Run) -> None:
    assert run("db", "upgrade")[0] == 0
    code, _, err = run("book", "--account", "nosuch")
    assert code == 2 and "nosuch" in err


def test_the_book_says_the_database_is_away_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = Run(monkeypatch, capsys)
    away = f"mysql+asyncmy://root@127.0.0.1:{free_port()}/yquant"
    r.env(
        yquant_env(tmp_path / "data", YQUANT__DATABASE__URL=away, YQUANT__DATABASE__TIMEOUT_S="2")
    )
    code, out, err = r("book")
    assert code == 1 and out == ""
    assert "the book is read from the database, which is unavailable (" in err
    code, _, err = r("book", "--json")
    assert code == 1 and "unavailable" in err
