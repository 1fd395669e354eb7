"""What the gateway's heartbeat tells the health check: where the worker stands, halted brokers."""

from __future__ import annotations

from pathlib import Path

from yquant import health
from yquant.bootstrap import build
from yquant.entrypoints.commands.checkup import check_rows
from yquant.settings import Settings


async def test_a_halted_account_and_the_workers_standing_are_reported(
    tmp_path: Path, sqlite_url: str, valkey_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database={"url": sqlite_url}, valkey={"url": valkey_url}
    )
    runtime = build(settings, "cli")
    try:
        for role in ("webhook", "engine", "dashboard"):
            await runtime.bus.heartbeat(role, {"pid": 1})
        why = "KIS order-cash HTTP 500 EGW00103: 유효하지 않은 AppKey입니다."
        await runtime.bus.heartbeat(
            "gateway", {"pid": 2, "standing": "active", "halted": {"main": why}}
        )
        ready, report = await health.check(runtime, database_required=True)
        # A halted account does not take the worker out: it still records what arrives.
        assert ready
        assert report["standing"] == {"status": "active"}
        assert report["brokers"]["status"] == "broker_halted"
        assert report["brokers"]["halted"] == {"main": why}
        rows = {row[0]: row[1:] for row in check_rows(report, "en")}
        assert rows["Brokers"] == ["Broker halted orders", f"main: {why}"]
        assert rows["Role"][0] == "Active"
        korean = {row[0]: row[1:] for row in check_rows(report, "ko")}
        assert korean["브로커"][0] == "브로커 주문 정지"

        await runtime.bus.heartbeat("gateway", {"pid": 2, "standing": "standby", "halted": {}})
        _, report = await health.check(runtime, database_required=True)
        assert (report["standing"], report["brokers"]) == ({"status": "standby"}, {"status": "up"})
    finally:
        await runtime.close()
