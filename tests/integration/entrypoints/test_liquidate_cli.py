"""`yquant liquidate` and `yquant liquidations` as an operator runs them, against a gateway
running as its own process (the paper broker, SQLite, Valkey). The commands run in this process
(the same parser and handlers as the console script)."""

from __future__ import annotations

import json

from tests.integration.entrypoints.test_cancel_cli import resting_buy
from tests.integration.entrypoints.test_commands import Run
from tests.support import Roles


def test_liquidate_shows_the_plan_needs_a_yes_then_sells_and_lists_it(
    run: Run, gateway: Roles
) -> None:
    resting = resting_buy(run, gateway.data_dir)  # the paper venue now sees 70,000
    code, out = run("buy", "paper", "KRX:005930", "5", "--json")
    assert code == 0 and json.loads(out)["status"] == "filled", out

    code, out = run("liquidate", "--strategy", "manual", "--dry-run", "--json")
    assert code == 0, out
    plan = json.loads(out)["plan"]
    assert [(i["ticker"], i["quantity"], i["strategy"]) for i in plan["items"]] == [
        ("005930", "5", "manual")
    ]
    assert [c["client_order_id"] for c in plan["cancels"]] == [resting]
    assert plan["proceeds"] == {"KRW": "350000"}

    # No terminal to answer and no --yes: the plan is shown, nothing is done.
    code, out = run("liquidate", "--strategy", "manual")
    assert code == 2
    assert "005930" in out and resting in out and "₩350,000" in out
    assert run.json("liquidations") == []
    assert {o["status"] for o in run.json("orders")} == {"accepted", "filled"}

    code, out = run("liquidate", "--strategy", "manual", "--yes", "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["status"] == "done"
    assert [(c["client_order_id"], c["done"]) for c in result["cancels"]] == [(resting, True)]
    [sell] = result["sells"]
    assert (sell["status"], sell["filled_quantity"], sell["quantity"]) == ("filled", "5", "5")

    [listed] = run.json("liquidations")
    assert (listed["id"], listed["source"], listed["status"]) == (result["id"], "cli", "done")
    assert listed["filters"]["strategy"] == "manual"
    assert listed["requested_by"].startswith("cli")
    code, out = run("liquidations", result["id"])
    assert code == 0 and sell["client_order_id"] in out
    [shown] = run.json("liquidations", result["id"])
    assert [(o["client_order_id"], o["status"], o["filled_quantity"]) for o in shown["orders"]] == [
        (sell["client_order_id"], "filled", "5")
    ]
    # Nothing left to sell or cancel: refused, with the reason.
    code, out = run("liquidate", "--strategy", "manual", "--dry-run")
    assert code == 1 and "no_position" in out


def test_a_market_other_than_kr_or_us_is_refused_by_the_parser(run: Run) -> None:
    code, _ = run("liquidate", "--market", "JP", "--dry-run")
    assert code == 2
