"""The settings a replay runs with: every account a paper account of the same name, its routes,
sizing and limits kept, every file and the database in the replay's own directory, no broker
secret kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yquant.bootstrap import replay_settings
from yquant.settings import Settings

KIS: dict[str, Any] = {
    "broker": "kis",
    "kis": {
        "environment": "real",
        "app_key": "k" * 36,
        "app_secret": "s" * 180,
        "account_number": "12345678-01",
    },
    "risk": {"max_orders_per_minute": 3},
}


def test_every_account_becomes_a_private_paper_account(tmp_path: Path) -> None:
    real = Settings(
        data_dir=tmp_path / "real",
        database={"url": "mysql+asyncmy://yquant:pw@10.0.0.1/yquant"},
        accounts={"main": KIS, "paper": {}},
        default_accounts=["paper"],
        strategies={"alpha": {"accounts": ["main"], "quantity": "2"}},
    )
    work = tmp_path / "replay"
    private = replay_settings(real, work)

    assert {n: a.broker for n, a in private.accounts.items()} == {"main": "paper", "paper": "paper"}
    assert private.accounts["main"].kis is None
    assert private.accounts["main"].risk.max_orders_per_minute == 3
    assert private.routed_accounts("alpha") == ["main"]
    assert private.data_dir == work
    assert private.database_url == f"sqlite+aiosqlite:///{work / 'replay.sqlite3'}"
    assert "12345678" not in private.model_dump_json()
    # the real settings are left as they were
    assert real.accounts["main"].broker == "kis"
    assert real.database_url.startswith("mysql+asyncmy://")
