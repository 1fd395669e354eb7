"""The kill switch in the system of record (SQLite and MariaDB), and the engine's view of it
when the database is away."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import free_port
from yquant.adapters.db.store import SqlStore
from yquant.bootstrap import build_control, build_kill_switch
from yquant.domain.risk import KillState
from yquant.services.control import ControlError

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


async def test_every_change_is_stored_with_its_audit_entry(store: SqlStore) -> None:
    control = build_control(store, ["paper", "kis-main"])
    before = await control.set("global", KillState.HALTED, actor="ops", reason="a", now=NOW)
    assert before == "active"
    before = await control.set("global", KillState.ACTIVE, actor="ops", reason="b", now=NOW)
    assert before == "halted"
    await control.set("kis-main", KillState.REDUCE_ONLY, actor="cli:me@host", reason="c", now=NOW)
    switches = await control.switches()
    assert {k: v.state for k, v in switches.items()} == {
        "global": "active",
        "kis-main": "reduce_only",
    }
    assert switches["kis-main"].actor == "cli:me@host"
    assert switches["kis-main"].updated_at == NOW
    audit = await control.audit()
    assert [(a["target"], a["detail"]["to"], a["detail"]["reason"]) for a in audit] == [
        ("kis-main", "reduce_only", "c"),
        ("global", "active", "b"),
        ("global", "halted", "a"),
    ]


async def test_concurrent_first_changes_of_one_scope_both_land(store: SqlStore) -> None:
    control = build_control(store, ["paper"])
    await asyncio.gather(
        control.set("paper", KillState.HALTED, actor="a", reason="one", now=NOW),
        control.set("paper", KillState.REDUCE_ONLY, actor="b", reason="two", now=NOW),
    )
    assert len(await control.audit()) == 2
    assert (await control.switches())["paper"].state in ("halted", "reduce_only")


async def test_bad_requests_change_nothing(store: SqlStore) -> None:
    control = build_control(store, ["paper"])
    with pytest.raises(ControlError, match="unknown account"):
        await control.set("other", KillState.HALTED, actor="x", reason="r", now=NOW)
    with pytest.raises(ControlError, match="reason"):
        await control.set("paper", KillState.HALTED, actor="x", reason="  ", now=NOW)
    assert await control.switches() == {}
    assert await control.audit() == []


async def test_the_engine_keeps_the_last_known_states_through_an_outage(
    sqlite_url: str, tmp_path: Path
) -> None:
    snapshot = tmp_path / "kill-switch.json"
    store = SqlStore(sqlite_url)
    try:
        await build_control(store, ["paper"]).set(
            "paper", KillState.HALTED, actor="ops", reason="r", now=NOW
        )
        view = build_kill_switch(store, snapshot)
        assert view.state_for("paper", await view.refresh()) is KillState.HALTED
    finally:
        await store.close()
    assert snapshot.exists()

    # A worker started while the database does not answer reads the local snapshot.
    gone = SqlStore(f"mysql+asyncmy://root@127.0.0.1:{free_port()}/yquant", timeout_s=1)
    try:
        view = build_kill_switch(gone, snapshot)
        states = await view.refresh()
        assert view.state_for("paper", states) is KillState.HALTED
        assert view.state_for("other", states) is KillState.ACTIVE
    finally:
        await gone.close()


async def test_an_unreadable_snapshot_during_an_outage_halts(tmp_path: Path) -> None:
    snapshot = tmp_path / "kill-switch.json"
    snapshot.write_text("{not json")
    gone = SqlStore(f"mysql+asyncmy://root@127.0.0.1:{free_port()}/yquant", timeout_s=1)
    try:
        view = build_kill_switch(gone, snapshot)
        assert view.state_for("paper", await view.refresh()) is KillState.HALTED
    finally:
        await gone.close()
