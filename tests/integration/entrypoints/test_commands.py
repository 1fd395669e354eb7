"""`yquant halt|reduce-only|resume|control` and `yquant simulate`, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support import gateway_alive, yquant_env
from yquant.entrypoints import cli

SATURDAY = "2026-11-28T10:00:00+09:00"
MONDAY_OPEN = "2026-11-30T09:30:00+09:00"


class Run:
    """The `yquant` command in this process (the same parser and handlers as the console
    script), with its own environment and captured output."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def env(self, values: dict[str, str]) -> None:
        for key in [k for k in os.environ if k.startswith("YQUANT")]:
            self.monkeypatch.delenv(key)
        for key, value in values.items():
            if key.startswith("YQUANT"):
                self.monkeypatch.setenv(key, value)

    def __call__(self, *args: str, **extra_env: str) -> tuple[int, str]:
        with self.monkeypatch.context() as m:
            for key, value in extra_env.items():
                m.setenv(key, value)
            self.capsys.readouterr()
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse refusing the arguments
                code = int(exc.code or 0)
            return code, self.capsys.readouterr().out

    def json(self, *args: str) -> Any:
        code, out = self(*args, "--json")
        assert code == 0, out
        return json.loads(out)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    r = Run(monkeypatch, capsys)
    r.env(yquant_env(tmp_path / "data"))
    assert r("db", "upgrade")[0] == 0
    return r


def test_the_kill_switch_is_set_from_the_cli_and_audited(run: Run) -> None:
    code, out = run("halt", "--reason", "broker incident", "--json")
    assert code == 0, out
    assert json.loads(out) == {"scope": "global", "state": "halted", "before": "active"}
    assert run("reduce-only", "paper", "--reason", "cut risk")[0] == 0
    switches = {s["scope"]: s for s in run.json("control")["switches"]}
    assert switches["global"]["state"] == "halted"
    assert switches["global"]["reason"] == "broker incident"
    assert switches["global"]["actor"].startswith("cli:")
    assert switches["paper"]["state"] == "reduce_only"
    # Without an account, resume means all of them (as its help says): the global switch
    # and every account's, the global one last.
    code, out = run("resume", "--reason", "incident closed")
    assert code == 0
    assert "global: halted -> active" in out and "paper: reduce only -> active" in out
    audit = run.json("control")["audit"]
    assert [(a["target"], a["detail"]["to"]) for a in audit] == [
        ("global", "active"),
        ("paper", "active"),
        ("paper", "reduce_only"),
        ("global", "halted"),
    ]
    assert audit[0]["detail"]["reason"] == "incident closed"
    assert {s["state"] for s in run.json("control")["switches"]} == {"active"}


def test_control_and_queue_print_tables_in_the_operators_language(run: Run) -> None:
    from yquant.entrypoints import i18n
    from yquant.entrypoints.formatting import cells

    assert run("halt", "paper", "--reason", "브로커 점검")[0] == 0
    code, out = run("control", YQUANT__LANGUAGE="ko")
    assert code == 0, out
    ko = i18n.MESSAGES["ko"]
    head, global_row, paper_row, _, audit_head, entry = out.splitlines()
    assert head.split()[:3] == [ko["scope"], ko["status"], ko["reason"]]
    assert global_row.split() == ["global", ko["state_active"]]
    assert paper_row.split()[:4] == ["paper", ko["state_halted"], "브로커", "점검"]
    assert paper_row.endswith(" UTC") and "." not in paper_row.split()[-2]  # whole seconds
    # The reason column starts in one terminal column on both lines.
    assert cells(head[: head.index(ko["reason"])]) == cells(paper_row[: paper_row.index("브로커")])
    assert audit_head.split()[0] == ko["time"]
    assert f"{ko['state_active']} -> {ko['state_halted']}" in entry
    # Scripts keep the raw codes and ISO times.
    [_, paper] = run.json("control")["switches"]
    assert paper["state"] == "halted" and paper["updated_at"].count(":") == 3

    code, out = run("queue", YQUANT__LANGUAGE="en")
    assert code == 0, out
    head, empty = out.splitlines()
    assert head.split()[:3] == ["Time", "Order", "Account"]
    assert empty == f"({i18n.MESSAGES['en']['none']})"


def test_resume_of_one_account_leaves_the_others(run: Run) -> None:
    assert run("halt", "--reason", "incident")[0] == 0
    assert run("halt", "paper", "--reason", "paper incident")[0] == 0
    assert run.json("resume", "paper", "--reason", "paper fine") == {
        "scope": "paper", "state": "active", "before": "halted",
    }  # fmt: skip
    switches = {s["scope"]: s["state"] for s in run.json("control")["switches"]}
    assert switches == {"global": "halted", "paper": "active"}


def test_a_switch_for_an_unknown_account_or_without_reason_changes_nothing(run: Run) -> None:
    code, out = run("halt", "nosuch", "--reason", "x")
    assert code == 2
    assert "unknown account 'nosuch'" in out
    assert run("halt", "--reason", "   ")[0] == 2
    assert run("halt")[0] == 2  # --reason is required
    status = run.json("control")
    assert {s["state"] for s in status["switches"]} == {"active"}
    assert status["audit"] == []


def test_simulate_shows_market_sizing_and_result_without_trading(run: Run, tmp_path: Path) -> None:
    payload = tmp_path / "alert.json"
    payload.write_text(
        json.dumps(
            {
                "ticker": "KRX:005930",
                "action": "buy",
                "quantity": 3,
                "price": "71050",
                "order_type": "limit",
                "strategy": "night",
            }
        )
    )
    exchange = {
        "YQUANT__ACCOUNTS__PAPER__SESSIONS": "exchange",
        "YQUANT__STRATEGIES__NIGHT__OUT_OF_SESSION": "queue",
    }
    code, out = run("simulate", "--payload", str(payload), "--at", SATURDAY, "--json", **exchange)
    assert code == 0, out
    report = json.loads(out)
    assert report["market"]["phase"] == "closed"
    assert report["market"]["next_open"] == "2026-11-30T09:00+09:00"
    assert report["instrument"]["tick_size"] == "100"
    assert report["verdict"] == "queued"
    [account] = report["accounts"]
    assert account["inputs"]["cash"] == "100000000"
    assert report["traded"] is False

    code, out = run("simulate", "--payload", str(payload), "--at", MONDAY_OPEN, **exchange)
    assert code == 0, out
    assert "buy 3 limit @ ₩71,000" in out  # rounded down to the 100-won tick
    assert "2026-11-30 09:30:00 KST" in out  # the market's time, its zone named
    assert "policy alert_quantity" in out
    assert "nothing was recorded or sent" in out

    # Nothing was recorded or sent.
    assert run.json("signals") == []
    assert run.json("orders") == []
    assert run.json("queue") == []


def test_simulate_takes_the_alert_as_json_text_or_as_a_file(run: Run, tmp_path: Path) -> None:
    alert = {"ticker": "KRX:005930", "action": "buy", "quantity": 1, "price": "71000"}
    payload = tmp_path / "alert.json"
    payload.write_text(json.dumps(alert))
    reports = [
        run.json("simulate", "--payload", given, "--at", MONDAY_OPEN)
        for given in (json.dumps(alert), str(payload), f"@{payload}")
    ]
    assert reports[0] == reports[1] == reports[2]
    assert reports[0]["verdict"] not in ("invalid", None)
    code, out = run("simulate", "--payload", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in out


def test_simulate_explains_an_invalid_alert(run: Run, tmp_path: Path) -> None:
    payload = tmp_path / "bad.json"
    payload.write_text('{"ticker": "LSE:VOD", "action": "buy"}')
    code, out = run("simulate", "--payload", str(payload))
    assert code == 1
    assert "unknown_exchange" in out


def test_an_order_sent_but_not_final_when_the_wait_ends_is_not_reported_as_failed(
    run: Run, valkey_url: str
) -> None:
    # The gateway is alive but slow: the order is published, nothing has come back when --wait
    # ends. A wrapper that retries on 1 ("nothing was sent") would place a second real order.
    asyncio.run(gateway_alive(valkey_url))
    valkey = {"YQUANT__VALKEY__URL": valkey_url}
    code, out = run(
        "buy", "paper", "KRX:005930", "1", "--price", "71000", "--wait", "0.5", "--json", **valkey
    )
    assert code == 3, out
    result = json.loads(out)
    assert result["status"] in ("new", "submitted")
    [order] = run.json("orders")
    assert order["client_order_id"] == result["client_order_id"]

    # Refused before anything was sent: 1.
    code, out = run("sell", "paper", "KRX:005930", "5", "--wait", "0.5", "--json", **valkey)
    assert code == 1, out
    assert json.loads(out)["status"] == "rejected"


def test_an_operator_order_is_refused_rather_than_resized_unless_allowed(
    run: Run, tmp_path: Path, valkey_url: str
) -> None:
    asyncio.run(_seed_paper(tmp_path / "data", "9"))
    asyncio.run(gateway_alive(valkey_url))
    valkey = {"YQUANT__VALKEY__URL": valkey_url}
    # 9 held, 1000 asked: nothing is sent, and the reason says why.
    code, out = run("sell", "paper", "KRX:005930", "1000", "--wait", "0.5", "--json", **valkey)
    assert code == 1, out
    result = json.loads(out)
    assert (result["status"], result["reason"]) == ("rejected", "capped_by_holdings")
    assert run.json("orders") == []
    # Allowed: the smaller order goes, and the resize is printed.
    code, out = run(
        "sell", "paper", "KRX:005930", "1000", "--allow-resize", "--wait", "0.5", **valkey
    )
    assert code == 3, out  # published; nobody runs the gateway's part here
    assert "sent 9, not the 1,000 asked" in out
    assert "capped_by_holdings" in out
    [order] = run.json("orders")
    assert (order["side"], order["quantity"]) == ("sell", "9")


async def _seed_paper(data_dir: Path, quantity: str) -> None:
    """Shares on the paper ledger the CLI's paper broker opens (bought outside yQuant)."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from tests.support import krx_order
    from yquant.adapters.brokers.paper import PaperBroker
    from yquant.domain.model import Side

    broker = PaperBroker(
        data_dir / "paper-broker.sqlite3",
        commission_rate=Decimal("0.00015"),
        initial_cash={"KRW": Decimal(100_000_000), "USD": Decimal(100_000)},
    )
    await broker.connect()
    try:
        now = datetime.now(UTC)
        seed = krx_order("seed", now, side=Side.BUY, quantity=Decimal(quantity))
        await broker.submit(seed.evolve(reference_price=Decimal(71000)))
    finally:
        await broker.close()
