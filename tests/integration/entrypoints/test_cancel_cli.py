"""`yquant cancel` as an operator runs it, against a gateway running as its own process (the
paper broker, SQLite, Valkey): outcomes in the operator's language and the exit codes. The
commands run in this process (the same parser and handlers as the console script)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import valkey

from tests.integration.entrypoints.conftest import start_gateway
from tests.integration.entrypoints.test_commands import Run
from tests.support import Roles
from yquant.adapters.brokers.paper import PaperBroker
from yquant.domain.model import Market


def resting_buy(run: Run, data: Path, price: str = "50000") -> str:
    """A limit buy below the market (the paper venue last saw 70,000), resting at the paper
    broker; its client order id."""
    asyncio.run(_paper_price(data, "005930", "70000"))
    code, out = run("buy", "paper", "KRX:005930", "1", "--price", price, "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["status"] == "accepted", result
    return str(result["client_order_id"])


async def _paper_price(data: Path, ticker: str, price: str) -> None:
    paper = PaperBroker(data / "paper-broker.sqlite3", commission_rate=Decimal(0), initial_cash={})
    await paper.connect()
    try:
        await paper.observe_price(Market.KR, ticker, Decimal(price))
    finally:
        await paper.close()


def cancel(run: Run, *args: str) -> tuple[int, Any]:
    code, out = run("cancel", *args, "--json")
    return code, json.loads(out)


def test_cancel_one_order_then_again_then_one_that_does_not_exist(run: Run, gateway: Roles) -> None:
    cid = resting_buy(run, gateway.data_dir)
    code, [outcome] = cancel(run, cid)
    assert code == 0, outcome
    assert (outcome["client_order_id"], outcome["status"], outcome["done"]) == (
        cid,
        "cancelled",
        True,
    )
    # Already final: nothing changes, and the exit code says it could not be cancelled.
    code, [again] = cancel(run, cid)
    assert (code, again["status"], again["reason"], again["done"]) == (
        1,
        "cancelled",
        "already_final",
        False,
    )
    code, [missing] = cancel(run, "yq-no-such-order")
    assert (code, missing["client_order_id"], missing["reason"]) == (1, None, "not_found")
    [order] = run.json("orders")
    assert (order["status"], order["reason"]) == ("cancelled", "cancelled")


def test_cancel_all_lists_the_orders_and_needs_a_yes_without_a_terminal(
    run: Run, gateway: Roles
) -> None:
    first = resting_buy(run, gateway.data_dir)
    second = resting_buy(run, gateway.data_dir, "51000")
    code, out = run("cancel", "--all", "--strategy", "manual")
    assert code == 2
    assert first in out and second in out  # what would have been cancelled
    code, out = run("cancel", "--all", "--account", "elsewhere")
    assert (code, out.strip()) == (0, "no working order matches")
    code, outcomes = cancel(run, "--all", "--ticker", "KRX:005930", "--yes")
    assert code == 0, outcomes
    assert sorted((o["client_order_id"], o["done"]) for o in outcomes) == sorted(
        [(first, True), (second, True)]
    )
    assert [o["status"] for o in run.json("orders")] == ["cancelled", "cancelled"]


def test_the_outcome_is_printed_in_the_operators_language(run: Run, gateway: Roles) -> None:
    cid = resting_buy(run, gateway.data_dir)
    code, out = run("cancel", cid, YQUANT__LANGUAGE="ko")
    assert code == 0, out
    assert cid in out and "취소됨" in out and "결과" in out
    code, out = run("cancel", cid, YQUANT__LANGUAGE="ko")
    assert code == 1
    assert "이미 종료된 주문 (already_final)" in out
    code, out = run("cancel", cid)
    assert "Order already ended (already_final)" in out


def test_wrong_arguments_change_nothing(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    for args in ((), ("yq-1", "--all"), ("yq-1", "--account", "paper")):
        code, _ = run("cancel", *args)
        assert code == 2, args


def test_without_a_running_gateway_the_cancel_is_not_sent(
    run: Run, roles: Roles, valkey_url: str
) -> None:
    try:
        start_gateway(roles, valkey_url)
        cid = resting_buy(run, roles.data_dir)
    finally:
        roles.stop_all()
    valkey.Valkey.from_url(valkey_url).delete("yq:hb:gateway")  # its heartbeat gone with it
    code, [outcome] = cancel(run, cid)
    assert (code, outcome["reason"], outcome["done"]) == (1, "gateway_not_running", False)
    [order] = run.json("orders")
    assert order["status"] == "accepted"
