"""`yquant approvals|approve|reject` as an operator runs them (SQLite, Valkey): the awaiting list,
a decision recorded and audited under the operator's name, the approved order on the gateway's
stream, and a second decision refused with exit code 1."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import valkey
from sqlalchemy import select

from tests.integration.entrypoints.test_commands import Run
from tests.support import krx_order, record_rows, yquant_env
from yquant.adapters.db import tables
from yquant.adapters.db.rows import order_row
from yquant.adapters.db.store import SqlStore
from yquant.entrypoints import i18n


@pytest.fixture
def run(
    tmp_path: Path,
    valkey_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    r = Run(monkeypatch, capsys)
    r.env(yquant_env(tmp_path / "data", valkey_url))
    assert r("db", "upgrade")[0] == 0
    return r


def held(data_dir: Path, *cids: str) -> None:
    now = datetime.now(UTC)
    rows = [
        order_row(krx_order(cid, now, strategy="held", quantity=2).awaiting_approval())
        for cid in cids
    ]
    assert record_rows(data_dir, [("order.insert", r) for r in rows]) == [True] * len(rows)


def rows(data_dir: Path, table: Any) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        store = SqlStore(f"sqlite+aiosqlite:///{data_dir / 'yquant.sqlite3'}")
        try:
            return await store.rows(select(table).order_by(table.c.id))
        finally:
            await store.close()

    return asyncio.run(read())


def test_approve_and_reject_from_the_command_line(
    run: Run, tmp_path: Path, valkey_url: str
) -> None:
    data = tmp_path / "data"
    code, out = run("approvals")
    assert (code, out.strip()) == (0, i18n.MESSAGES["en"]["approval_none"])
    held(data, "yq-cli-a", "yq-cli-b")
    listed = run.json("approvals")
    assert [(r["client_order_id"], r["side"], r["quantity"]) for r in listed] == [
        ("yq-cli-a", "buy", "2"),
        ("yq-cli-b", "buy", "2"),
    ]
    code, out = run("approvals", YQUANT__LANGUAGE="ko")
    assert code == 0 and "마감 시각" in out and "yq-cli-a" in out

    code, out = run("approve", "yq-cli-a", "--json")
    assert code == 0, out
    assert json.loads(out) == {
        "client_order_id": "yq-cli-a",
        "decided": True,
        "sent": True,
        "status": "new",
        "reason": None,
        "detail": None,
    }
    client = valkey.Valkey.from_url(valkey_url)
    try:
        published = [json.loads(f[b"data"]) for _, f in client.xrange("yq:orders")]
    finally:
        client.close()
    assert [(m["client_order_id"], m["status"]) for m in published] == [("yq-cli-a", "new")]

    code, out = run("reject", "yq-cli-b", YQUANT__LANGUAGE="ko")
    assert code == 0, out
    assert out.strip() == "yq-cli-b · 거부됨: 승인자가 거부함"
    # A second decision is refused: the first one stands.
    code, out = run("reject", "yq-cli-a")
    assert code == 1
    assert out.strip() == "yq-cli-a · New: Not awaiting approval (already decided)"
    assert run("approve", "yq-nothing")[0] == 1

    orders = {r["client_order_id"]: r for r in rows(data, tables.orders)}
    assert (orders["yq-cli-a"]["status"], orders["yq-cli-a"]["reason"]) == ("new", "approved")
    assert (orders["yq-cli-b"]["status"], orders["yq-cli-b"]["reason"]) == (
        "rejected",
        "approval_refused",
    )
    audit = [r for r in rows(data, tables.audit_log) if r["action"] == "order_approval"]
    assert [(a["target"], json.loads(a["detail"])["to"]) for a in audit] == [
        ("yq-cli-a", "new"),
        ("yq-cli-b", "rejected"),
    ]
    assert all(a["actor"].startswith("cli:") for a in audit)
    assert {json.loads(a["detail"])["via"] for a in audit} == {"cli"}
