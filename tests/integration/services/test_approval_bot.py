"""Approvals on Telegram against the fake Bot API (its wire format, long polling, callback
presses): the prompt with its buttons, a press by an allowed user, a refused press, a decision
made elsewhere shown on the prompt, and a press racing the dashboard."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from tests.fixtures.notify import TELEGRAM_CHAT, TELEGRAM_TOKEN
from tests.harness import Rig, build_rig, krx_alert
from yquant.adapters.db import tables
from yquant.adapters.notify.fake_server import FakeChannels
from yquant.adapters.notify.telegram import TelegramBot
from yquant.adapters.notify.telegram_approvals import TelegramApprovalChannel
from yquant.bootstrap import Runtime, active_role, build_approvals
from yquant.entrypoints import i18n
from yquant.services.approval_bot import ApprovalBot, Words
from yquant.services.approvals import Approvals, ApprovalTimeouts, Via

FRIDAY_OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Seoul"))
APPROVER, STRANGER = 5551, 6662


@dataclass
class Desk:
    rig: Rig
    approvals: Approvals
    bot: ApprovalBot
    channels: FakeChannels

    def messages(self) -> list[dict[str, Any]]:
        return [s.message for s in self.channels.telegram.messages(TELEGRAM_TOKEN)]

    def press(self, data: str, user: int) -> None:
        [message] = self.messages()
        self.channels.telegram.press(
            TELEGRAM_TOKEN, TELEGRAM_CHAT, message["message_id"], data, user
        )

    async def presses(self) -> None:
        """What the bot's long polling does: read the presses, handle each."""
        channel = self.bot._channel  # noqa: SLF001 - the same channel the loop reads
        for press in await channel.presses(1):
            await self.bot.handle(press)


async def make_desk(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    channels: FakeChannels,
    http: httpx.AsyncClient,
    language: str = "en",
    chat: int = TELEGRAM_CHAT,
    **strategy: Any,
) -> Desk:
    rig = await build_rig(
        tmp_path,
        db_url,
        valkey_url,
        FRIDAY_OPEN,
        language=language,
        strategies={"held": {"approval": "manual", **strategy}},
        approvals={"telegram_user_ids": [APPROVER]},
    )
    runtime = Runtime(rig.settings, rig.store, rig.recorder, rig.bus, rig.clock)
    approvals = build_approvals(runtime, kill_switch=rig.engine.kill_switch)
    channel = TelegramApprovalChannel(
        TelegramBot(TELEGRAM_TOKEN, http, api_base=channels.url), [chat]
    )
    words = Words(
        say=lambda key: i18n.t(language, key), label=lambda code: i18n.label(language, code)
    )
    bot = ApprovalBot(
        approvals=approvals,
        channel=channel,
        bus=rig.bus,
        role=active_role(rig.store, "local"),
        words=words,
    )
    return Desk(rig, approvals, bot, channels)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
async def desk(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    channels: FakeChannels,
    http: httpx.AsyncClient,
) -> AsyncIterator[Desk]:
    d = await make_desk(tmp_path, db_url, valkey_url, channels, http)
    yield d
    await d.rig.close()


async def held(desk: Desk, key: str = "t1") -> str:
    await desk.rig.handle(krx_alert(key, desk.rig.clock.now(), strategy="held"))
    [row] = await desk.rig.store.rows(
        select(tables.orders).where(tables.orders.c.signal_key == key)
    )
    return str(row["client_order_id"])


async def status(desk: Desk, cid: str) -> tuple[str, str | None]:
    row = await desk.rig.store.order(cid)
    assert row is not None
    return row["status"], row["reason"]


async def audit(desk: Desk) -> list[dict[str, Any]]:
    a = tables.audit_log
    rows = await desk.rig.store.rows(
        select(a).where(a.c.action == "order_approval").order_by(a.c.id)
    )
    return [{**r, "detail": json.loads(r["detail"])} for r in rows]


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


async def test_an_allowed_press_approves_and_the_prompt_shows_it(desk: Desk) -> None:
    cid = await held(desk)
    await desk.bot.sweep()
    await desk.bot.sweep()  # asked once
    [message] = desk.messages()
    assert buttons(message) == [("Approve", f"ap:{cid}"), ("Reject", f"rj:{cid}")]
    assert "Approval needed" in message["text"]
    assert "Buy 3 005930 (KOSPI) @ 71000 KRW" in message["text"]
    assert f"#{cid}" in message["text"]
    desk.press(f"ap:{cid}", APPROVER)
    await desk.presses()
    assert await status(desk, cid) == ("new", "approved")
    [answer] = desk.channels.telegram.callback_answers()
    assert answer.text == "✅ Approved: sent to the broker"
    [edited] = desk.messages()
    assert "reply_markup" not in edited
    assert edited["text"].endswith("✅ Approved: sent to the broker")
    [entry] = await audit(desk)
    assert (entry["actor"], entry["detail"]["via"]) == (f"telegram:{APPROVER}", "telegram")
    [row] = await desk.rig.execute()
    assert row["status"] == "filled"


async def test_a_press_by_someone_not_allowed_is_refused_and_decides_nothing(desk: Desk) -> None:
    cid = await held(desk)
    await desk.bot.sweep()
    desk.press(f"ap:{cid}", STRANGER)
    await desk.presses()
    assert await status(desk, cid) == ("awaiting_approval", None)
    [answer] = desk.channels.telegram.callback_answers()
    assert answer.text == "You are not allowed to approve orders"
    [message] = desk.messages()
    assert len(buttons(message)) == 2  # still open for an allowed user
    assert await audit(desk) == []
    # A forged button (a modified client) is refused too.
    desk.channels.telegram.press(
        TELEGRAM_TOKEN, TELEGRAM_CHAT, message["message_id"], "ap:yq-other", APPROVER, strict=False
    )
    await desk.presses()
    assert desk.channels.telegram.callback_answers()[-1].text == i18n.label("en", "not_found")


async def test_a_reject_press_rejects(desk: Desk) -> None:
    cid = await held(desk)
    await desk.bot.sweep()
    desk.press(f"rj:{cid}", APPROVER)
    await desk.presses()
    assert await status(desk, cid) == ("rejected", "approval_refused")
    [message] = desk.messages()
    assert message["text"].endswith("❌ Rejected by the approver")
    assert await desk.rig.published() == []


async def test_a_decision_made_elsewhere_is_shown_and_a_late_press_lost(desk: Desk) -> None:
    cid = await held(desk)
    await desk.bot.sweep()
    desk.press(f"rj:{cid}", APPROVER)  # pressed, not yet read by the bot
    await desk.approvals.approve(cid, actor="alice", via=Via.DASHBOARD)
    await desk.presses()
    assert await status(desk, cid) == ("new", "approved")  # the dashboard came first
    [answer] = desk.channels.telegram.callback_answers()
    assert answer.text == "Not awaiting approval (already decided): New"
    [message] = desk.messages()
    assert "reply_markup" not in message
    assert len(await audit(desk)) == 1


async def test_a_timeout_is_shown_on_the_prompt(desk: Desk) -> None:
    cid = await held(desk)
    await desk.bot.sweep()
    desk.rig.clock.advance(seconds=121)
    timeouts = ApprovalTimeouts(desk.approvals, active_role(desk.rig.store, "local"), interval_s=1)
    assert await timeouts.tick() == 1
    await desk.bot.sweep()
    [message] = desk.messages()
    assert message["text"].endswith("❌ Not approved in time")
    assert "reply_markup" not in message
    assert await status(desk, cid) == ("rejected", "approval_timeout")


async def test_the_dashboard_and_telegram_at_once_one_wins(desk: Desk) -> None:
    cid = await held(desk)
    await desk.bot.sweep()
    desk.press(f"ap:{cid}", APPROVER)
    await asyncio.gather(
        desk.presses(), desk.approvals.reject(cid, actor="alice", via=Via.DASHBOARD)
    )
    [entry] = await audit(desk)
    final, _ = await status(desk, cid)
    assert final == ("new" if entry["actor"] == f"telegram:{APPROVER}" else "rejected")
    [message] = desk.messages()
    assert "reply_markup" not in message


async def test_a_restart_asks_no_order_twice(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    channels: FakeChannels,
    http: httpx.AsyncClient,
) -> None:
    first = await make_desk(tmp_path, db_url, valkey_url, channels, http)
    cid = await held(first)
    await first.bot.sweep()
    await first.rig.close()
    second = await make_desk(tmp_path, db_url, valkey_url, channels, http)
    try:
        await second.bot.sweep()
        assert len(second.messages()) == 1
        second.press(f"ap:{cid}", APPROVER)
        await second.presses()
        assert await status(second, cid) == ("new", "approved")
        assert "reply_markup" not in second.messages()[0]
    finally:
        await second.rig.close()


async def test_the_prompt_in_korean(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    channels: FakeChannels,
    http: httpx.AsyncClient,
) -> None:
    desk = await make_desk(tmp_path, db_url, valkey_url, channels, http, language="ko")
    try:
        cid = await held(desk)
        await desk.bot.sweep()
        [message] = desk.messages()
        assert buttons(message) == [("승인", f"ap:{cid}"), ("거부", f"rj:{cid}")]
        assert "주문 승인 요청" in message["text"] and "매수 3 005930" in message["text"]
        desk.press(f"rj:{cid}", STRANGER)
        await desk.presses()
        assert desk.channels.telegram.callback_answers()[-1].text == "주문을 승인할 권한이 없습니다"
    finally:
        await desk.rig.close()


async def test_the_bot_loop_answers_a_press_by_long_polling(desk: Desk) -> None:
    cid = await held(desk)
    stop = asyncio.Event()
    task = asyncio.create_task(desk.bot.run(stop))
    try:
        for _ in range(200):
            if desk.messages():
                break
            await asyncio.sleep(0.05)
        desk.press(f"ap:{cid}", APPROVER)
        for _ in range(200):
            if (await status(desk, cid))[0] != "awaiting_approval":
                break
            await asyncio.sleep(0.05)
        assert await status(desk, cid) == ("new", "approved")
    finally:
        stop.set()
        await task


async def test_a_chat_telegram_refuses_is_not_asked_again_and_nothing_stops(
    tmp_path: Path,
    db_url: str,
    valkey_url: str,
    channels: FakeChannels,
    http: httpx.AsyncClient,
) -> None:
    desk = await make_desk(tmp_path, db_url, valkey_url, channels, http, chat=999)
    try:
        cid = await held(desk)
        await desk.bot.sweep()  # "chat not found": logged, not raised
        await desk.bot.sweep()
        assert desk.messages() == []
        outcome = await desk.approvals.reject(cid, actor="alice", via=Via.DASHBOARD)
        assert outcome.decided
        await desk.bot.sweep()
        assert await status(desk, cid) == ("rejected", "approval_refused")
    finally:
        await desk.rig.close()
