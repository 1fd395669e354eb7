"""Operator commands on a KIS account (the simulator): deposit, positions, price, accounts check.
Secrets never appear in any output."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fixtures.kis_kit import APP_KEY, APP_SECRET, CANO, start_sim
from tests.support import yquant, yquant_env
from yquant.adapters.brokers.kis_sim import SimServer


@pytest.fixture
def live() -> Iterator[SimServer]:
    server = start_sim()
    server.sim.exchange.set_position((CANO, "01"), "KR", "005930", Decimal(12), Decimal(65000))
    server.sim.exchange.set_position((CANO, "01"), "US", "AAPL", Decimal(3), Decimal("180.25"))
    server.control("price", market="KR", ticker="005930", price="71000")
    yield server
    server.stop()


def env_for(sim: SimServer, data: Path, valkey_url: str, sqlite_url: str) -> dict[str, str]:
    accounts = {
        "main": {
            "broker": "kis-sim",
            "kis": {
                "environment": "real",
                "app_key": APP_KEY,
                "app_secret": APP_SECRET,
                "account_number": f"{CANO}-01",
                "base_url": sim.url,
            },
        }
    }
    return yquant_env(
        data,
        valkey_url,
        YQUANT__ACCOUNTS=json.dumps(accounts),
        YQUANT__DEFAULT_ACCOUNTS='["main"]',
        YQUANT__DATABASE__URL=sqlite_url,
    )


def run_json(*args: str, env: dict[str, str]) -> object:
    result = yquant(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert APP_SECRET not in result.stdout + result.stderr
    assert APP_KEY not in result.stdout + result.stderr
    return json.loads(result.stdout)


def test_deposit_positions_price_and_check_ask_kis(
    live: SimServer, tmp_path: Path, valkey_url: str, sqlite_url: str
) -> None:
    env = env_for(live, tmp_path / "data", valkey_url, sqlite_url)
    deposit = run_json("deposit", "main", "KRW", env=env)
    assert deposit == {"account": "main", "cash": {"KRW": "100000000"}}

    positions = run_json("positions", "main", "US", env=env)
    assert positions["positions"] == [
        {
            "market": "US",
            "ticker": "AAPL",
            "quantity": "3",
            "avg_price": "180.2500",
            "strategy": None,
        }
    ]

    price = run_json("price", "KRX:005930", env=env)
    assert (price["price"], price["tick"]) == ("71000", "100")

    [check] = run_json("accounts", "check", env=env)
    assert check["reachable"] is True
    assert check["key"] == APP_KEY[:4] + "********" + APP_KEY[-2:]
    assert check["token"].startswith("valid until")
    # One token for all those separate processes: it lives in the shared table.
    assert live.sim.stats["tokens_issued"] == 1

    # For people: amounts with their currency, names beside tickers, Korean time for KIS.
    held = yquant("positions", "main", env=env)
    assert held.returncode == 0, held.stderr
    [kr] = [line for line in held.stdout.splitlines() if "005930" in line]
    [us] = [line for line in held.stdout.splitlines() if "AAPL" in line]
    assert kr.split()[1:] == ["005930", "삼성전자", "12", "₩65,000"]
    assert us.split()[-2:] == ["3", "$180.25"]
    quoted = yquant("price", "KRX:005930", env=env)
    assert quoted.stdout.split() == ["KRX:005930", "삼성전자", "Price", "₩71,000"]
    checked = yquant("accounts", "check", env=env)
    head, row = checked.stdout.splitlines()
    assert head.split()[0] == "Account" and row.split()[:3] == ["main", "kis-sim", "real"]
    assert re.search(r"valid until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d KST$", row), row
    assert APP_KEY not in checked.stdout and APP_SECRET not in checked.stdout


def test_accounts_check_names_an_unreachable_broker(
    tmp_path: Path, valkey_url: str, sqlite_url: str
) -> None:
    gone = start_sim()
    gone.stop()  # a KIS address nothing answers on
    env = env_for(gone, tmp_path / "data", valkey_url, sqlite_url)
    result = yquant("accounts", "check", "--json", env=env)
    assert result.returncode == 1
    [check] = json.loads(result.stdout)
    assert check["reachable"] is False and check["token"] == "none"
    assert "unreachable" in check["error"]


def test_config_show_masks_the_kis_credentials(
    live: SimServer, tmp_path: Path, valkey_url: str, sqlite_url: str
) -> None:
    env = env_for(live, tmp_path / "data", valkey_url, sqlite_url)
    result = yquant("config", "show", env=env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)["accounts"]["main"]["kis"]
    assert APP_SECRET not in result.stdout and APP_KEY not in result.stdout
    assert CANO not in result.stdout
    assert shown["environment"] == "real"
