"""`yquant notifier` as its own process asks for approval on the fake Telegram and decides on a
button press it reads by long polling: the wiring of `approvals.telegram_channel` end to end
(SQLite, Valkey, the fake Bot API on loopback)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.notify import TELEGRAM_CHAT, TELEGRAM_TOKEN
from tests.support import Roles, krx_order, record_rows, wait_until
from yquant.adapters.db import migrate, tables
from yquant.adapters.db.rows import order_row
from yquant.adapters.db.store import SqlStore
from yquant.adapters.notify.fake_server import FakeChannels

pytestmark = [pytest.mark.e2e]
APPROVER, STRANGER = 5551, 6662


@pytest.fixture
def roles(tmp_path: Path, valkey_url: str, channels: FakeChannels) -> Iterator[Roles]:
    data = tmp_path / "data"
    data.mkdir()
    migrate.upgrade(f"sqlite+aiosqlite:///{data / 'yquant.sqlite3'}")
    r = Roles(
        data,
        valkey_url,
        YQUANT__STRATEGIES__HELD__APPROVAL="manual",
        YQUANT__NOTIFY__TELEGRAM__OPS__BOT_TOKEN=TELEGRAM_TOKEN,
        YQUANT__NOTIFY__TELEGRAM__OPS__CHAT_ID=str(TELEGRAM_CHAT),
        YQUANT__NOTIFY__TELEGRAM__OPS__API_BASE=channels.url,
        YQUANT__APPROVALS__TELEGRAM_CHANNEL="ops",
        YQUANT__APPROVALS__TELEGRAM_USER_IDS=json.dumps([APPROVER]),
    )
    yield r
    r.stop_all()


def order_status(data: Path, cid: str) -> str | None:
    async def read() -> str | None:
        store = SqlStore(f"sqlite+aiosqlite:///{data / 'yquant.sqlite3'}")
        try:
            o = tables.orders
            rows = await store.rows(select(o.c.status).where(o.c.client_order_id == cid))
            return str(rows[0]["status"]) if rows else None
        finally:
            await store.close()

    return asyncio.run(read())


def prompts(channels: FakeChannels) -> list[dict[str, Any]]:
    return [s.message for s in channels.telegram.messages(TELEGRAM_TOKEN)]


def test_the_notifier_asks_on_telegram_and_a_press_decides(
    roles: Roles, channels: FakeChannels
) -> None:
    cid = "yq-e2e-approval"
    held = krx_order(cid, datetime.now(UTC), strategy="held").awaiting_approval()
    assert record_rows(roles.data_dir, [("order.insert", order_row(held))]) == [True]
    roles.start("notifier")
    assert wait_until(lambda: prompts(channels), timeout_s=60), roles.logs()
    [message] = prompts(channels)
    assert f"#{cid}" in message["text"]
    channels.telegram.press(
        TELEGRAM_TOKEN, TELEGRAM_CHAT, message["message_id"], f"rj:{cid}", STRANGER
    )
    assert wait_until(channels.telegram.callback_answers, timeout_s=30), roles.logs()
    assert order_status(roles.data_dir, cid) == "awaiting_approval"
    channels.telegram.press(
        TELEGRAM_TOKEN, TELEGRAM_CHAT, message["message_id"], f"rj:{cid}", APPROVER
    )
    assert wait_until(lambda: order_status(roles.data_dir, cid) == "rejected", timeout_s=30), (
        roles.logs()
    )
    assert wait_until(lambda: "reply_markup" not in prompts(channels)[0], timeout_s=30)
    assert prompts(channels)[0]["text"].endswith("❌ Rejected by the approver")
    answers = [a.text for a in channels.telegram.callback_answers()]
    assert answers == ["You are not allowed to approve orders", "❌ Rejected by the approver"]
