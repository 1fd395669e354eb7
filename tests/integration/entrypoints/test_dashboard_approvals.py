"""Approvals on `/orders` over HTTP against a real `yquant dashboard`: the awaiting section,
Approve and Reject refused without the page's CSRF token, a decision audited under the signed-in
user, and a second decision on the same order refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.dashboard_support import Clients, DashboardProcess, csrf_of
from tests.support import ValkeyProcess, krx_order, record_rows
from yquant.adapters.db import tables
from yquant.adapters.db.rows import order_row
from yquant.adapters.db.store import SqlStore

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def clients() -> Iterator[Clients]:
    made = Clients()
    yield made
    made.close()


@pytest.fixture
def dashboard(tmp_path: Path, valkey: ValkeyProcess) -> Iterator[DashboardProcess]:
    d = DashboardProcess(tmp_path / "data", valkey.url, YQUANT__STRATEGIES__HELD__APPROVAL="manual")
    d.prepare("alice")
    d.start()
    try:
        yield d
    finally:
        d.stop()


def hold(d: DashboardProcess, *cids: str) -> None:
    now = datetime.now(UTC)
    rows = [
        order_row(krx_order(cid, now, strategy="held", quantity=4).awaiting_approval())
        for cid in cids
    ]
    assert record_rows(d.data_dir, [("order.insert", r) for r in rows]) == [True] * len(rows)


def read(d: DashboardProcess, table: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        store = SqlStore(f"sqlite+aiosqlite:///{d.data_dir / 'yquant.sqlite3'}")
        try:
            return await store.rows(select(table).order_by(table.c.id))
        finally:
            await store.close()

    return asyncio.run(run())


def test_approve_and_reject_from_the_orders_page(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    http = clients.signed_in(dashboard.url, "alice")
    empty = http.get("/orders")
    assert 'id="approvals"' in empty.text and "No order is awaiting approval" in empty.text
    hold(dashboard, "yq-dash-a", "yq-dash-b")
    page = http.get("/orders")
    section = page.text.split('id="approvals"', 1)[1].split("</section>", 1)[0]
    assert "yq-dash-a" in section and "yq-dash-b" in section
    assert section.count('action="/orders/approve"') == 2
    # Held orders are not in the working list, where a Cancel button would be.
    working = page.text.split('id="working"', 1)[1].split("</section>", 1)[0]
    assert "yq-dash-a" not in working
    origin = {"Origin": dashboard.url}
    refused = http.post("/orders/approve", data={"order": "yq-dash-a"}, headers=origin)
    assert refused.status_code == 403
    token = csrf_of(page.text)
    approved = http.post(
        "/orders/approve", data={"order": "yq-dash-a", "csrf": token}, headers=origin
    )
    assert approved.status_code == 303
    assert approved.headers["location"].startswith("/orders?order=yq-dash-a&decision=approved")
    shown = http.get(approved.headers["location"])
    assert "yq-dash-a: Order approved and sent" in shown.text
    rejected = http.post(
        "/orders/reject", data={"order": "yq-dash-b", "csrf": token}, headers=origin
    )
    assert "decision=rejected" in rejected.headers["location"]
    again = http.post("/orders/reject", data={"order": "yq-dash-a", "csrf": token}, headers=origin)
    assert "decision=refused&why=not_awaiting_approval" in again.headers["location"]
    http.cookies.set("yq_lang", "ko")
    ko = http.get(again.headers["location"]).text
    assert "yq-dash-a: 주문을 보내지 않았습니다" in ko and "승인 대기 중이 아님" in ko
    assert "승인 대기 주문" in ko

    orders = {r["client_order_id"]: r for r in read(dashboard, tables.orders)}
    assert (orders["yq-dash-a"]["status"], orders["yq-dash-a"]["reason"]) == ("new", "approved")
    assert (orders["yq-dash-b"]["status"], orders["yq-dash-b"]["reason"]) == (
        "rejected",
        "approval_refused",
    )
    audit = [r for r in read(dashboard, tables.audit_log) if r["action"] == "order_approval"]
    details = [json.loads(a["detail"]) for a in audit]
    assert [(a["actor"], a["target"]) for a in audit] == [
        ("dashboard:alice", "yq-dash-a"),
        ("dashboard:alice", "yq-dash-b"),
    ]
    assert [(x["from"], x["to"], x["via"]) for x in details] == [
        ("awaiting_approval", "new", "dashboard"),
        ("awaiting_approval", "rejected", "dashboard"),
    ]
