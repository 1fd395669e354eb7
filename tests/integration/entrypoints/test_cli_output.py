"""What the broker and health commands print for people: amounts with their currency, tables
with headers, names beside tickers; and --json exactly as scripts read it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support import krx_order, yquant, yquant_env
from yquant.adapters.brokers.paper import PaperBroker
from yquant.domain.model import Market
from yquant.entrypoints import i18n
from yquant.entrypoints.formatting import cells

T0 = datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC)


def _paper(data: Path) -> PaperBroker:
    return PaperBroker(
        data / "paper-broker.sqlite3",
        commission_rate=Decimal("0.00015"),
        initial_cash={"KRW": Decimal(100_000_000), "USD": Decimal(100_000)},
    )


@pytest.fixture
def traded(tmp_path: Path) -> Path:
    """The paper account holding 6 Samsung (3 at 71,000, 3 at 71,500) and 6 Apple at 190.10."""
    data = tmp_path / "data"
    assert yquant("db", "upgrade", env=yquant_env(data)).returncode == 0

    async def trade() -> None:
        paper = _paper(data)
        await paper.connect()
        try:
            for n, price in enumerate(("71000", "71500")):
                order = krx_order(
                    f"kr-{n}", T0, quantity=Decimal(3), reference_price=Decimal(price)
                )
                await paper.submit(order)
            us = krx_order(
                "us-1",
                T0,
                ticker="AAPL",
                exchange="NASDAQ",
                market=Market.US,
                quantity=Decimal("6.0000"),
                reference_price=Decimal("190.10"),
            )
            await paper.submit(us)
        finally:
            await paper.close()

    asyncio.run(trade())
    return data


async def _paper_state(data: Path) -> tuple[dict[str, Decimal], list[object]]:
    paper = _paper(data)
    await paper.connect()
    try:
        return await paper.cash("paper"), list(await paper.holdings("paper"))
    finally:
        await paper.close()


def test_deposit_shows_amounts_with_their_currency_and_json_keeps_the_exact_values(
    traded: Path, valkey_url: str
) -> None:
    env = yquant_env(traded, valkey_url, YQUANT__LANGUAGE="en")
    result = yquant("deposit", "paper", env=env)
    assert result.returncode == 0, result.stderr
    title, head, krw, usd = result.stdout.splitlines()
    assert title == "Deposit  paper"
    assert head.split() == ["Currency", "Amount"]
    cash, _ = asyncio.run(_paper_state(traded))
    # 6 x 190.10 = 1,140.60 plus 0.015% commission (0.17): the ledger keeps six decimals.
    assert str(cash["USD"]) == "98859.230000"
    assert usd.split() == ["USD", "$98,859.23"]
    assert krw.split() == ["KRW", f"₩{cash['KRW']:,.0f}"]  # whole won
    assert cells(krw) == cells(usd)  # right-aligned

    as_json = yquant("deposit", "paper", "--json", env=env)
    expected = {"account": "paper", "cash": {c: str(v) for c, v in sorted(cash.items())}}
    assert as_json.stdout == json.dumps(expected) + "\n"
    assert json.loads(as_json.stdout)["cash"]["USD"] == "98859.230000"


def test_positions_show_names_quantities_and_average_prices(traded: Path, valkey_url: str) -> None:
    env = yquant_env(traded, valkey_url, YQUANT__LANGUAGE="ko")
    result = yquant("positions", "paper", env=env)
    assert result.returncode == 0, result.stderr
    ko = i18n.MESSAGES["ko"]
    title, head, kr, us = result.stdout.splitlines()
    assert title == f"{ko['positions']}  paper"
    assert head.split()[:4] == [ko["market"], ko["ticker"], ko["name"], ko["quantity"]]
    assert kr.split() == ["KR", "005930", "삼성전자", "6", "₩71,250"]
    assert us.split() == ["US", "AAPL", "애플", "6", "$190.10"]
    # The quantity column ends in one terminal column on every line, Hangul counted as two.
    ends = {cells(line[: line.index(" 6 ") + 2]) for line in (kr, us)}
    assert ends == {cells(head[: head.index(ko["quantity"]) + len(ko["quantity"])])}

    as_json = yquant("positions", "paper", "--json", env=env)
    _, holdings = asyncio.run(_paper_state(traded))
    rows = [
        {
            "market": h.market.value,  # type: ignore[attr-defined]
            "ticker": h.ticker,  # type: ignore[attr-defined]
            "quantity": str(h.quantity),  # type: ignore[attr-defined]
            "avg_price": str(h.avg_price),  # type: ignore[attr-defined]
            "strategy": None,
        }
        for h in holdings
    ]
    assert as_json.stdout == json.dumps({"account": "paper", "positions": rows}) + "\n"
    assert [r["quantity"] for r in json.loads(as_json.stdout)["positions"]] == ["6", "6.0000"]


def test_accounts_check_has_a_header_and_a_paper_account_needs_no_token(
    traded: Path, valkey_url: str
) -> None:
    env = yquant_env(traded, valkey_url, YQUANT__LANGUAGE="en")
    result = yquant("accounts", "check", env=env)
    assert result.returncode == 0, result.stderr
    head, row = result.stdout.splitlines()
    assert head.split()[:3] == ["Account", "Broker", "Env"]
    assert row.split()[:2] == ["paper", "paper"]
    assert i18n.MESSAGES["en"]["token_not_needed"] in row and "none stored" not in row
    assert json.loads(yquant("accounts", "check", "--json", env=env).stdout) == [
        {
            "account": "paper",
            "broker": "paper",
            "environment": None,
            "key": None,
            "reachable": True,
            "token": "-",
            "error": None,
        }
    ]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_health_and_checkup_print_tables_not_python_dicts(
    tmp_path: Path, valkey_url: str, language: str
) -> None:
    env = yquant_env(tmp_path / "data", valkey_url, YQUANT__LANGUAGE=language)
    assert yquant("db", "upgrade", env=env).returncode == 0
    m, words = i18n.MESSAGES[language], i18n.CODES[language]

    health = yquant("health", env=env)
    assert health.returncode == 1  # no roles are running
    head, *rows, verdict = health.stdout.splitlines()
    assert head.split()[:1] == m["check"].split()[:1]
    assert "{" not in health.stdout and "'status'" not in health.stdout
    database = words.get("database", "database")
    [db] = [r for r in rows if r.startswith(database)]
    assert words.get("up", "up") in db
    assert verdict == m["not_ready_line"]
    as_json = json.loads(yquant("health", "--json", env=env).stdout)
    assert set(as_json) == {"ready", "checks"}
    assert as_json["checks"]["database"] == {"status": "up"}
    assert as_json["checks"]["journal"] == {"depth": 0}

    checkup = yquant("checkup", "--timeout-s", "0.2", env=env)
    assert checkup.returncode == 1
    lines = checkup.stdout.splitlines()
    assert lines[0].startswith(m["worker"])
    assert lines[1].split()[:1] == m["check"].split()[:1]
    assert "{" not in checkup.stdout and "None" not in checkup.stdout
    [token] = [line for line in lines if line.startswith(m["broker_token"])]
    assert m["token_not_needed"] in token and "-: none stored" not in checkup.stdout
    assert lines[-1].startswith(m["checkup_failed"])
    report = json.loads(yquant("checkup", "--timeout-s", "0.2", "--json", env=env).stdout)
    assert set(report) == {
        "worker",
        "ready",
        "checks",
        "role",
        "broker_tokens",
        "http",
        "units",
        "ok",
        "failures",
    }
    assert report["broker_tokens"] == [] and report["http"] == {"webhook": 0, "dashboard": 0}
