"""Scheduled orders on real parts (SQLite and MariaDB, Valkey, the paper broker) with a clock the
test moves: the market's own time across daylight saving, holidays and the 수능 late open,
exactly once, never hours late, and imports that are all or nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.fakes import APPLE, IBM, KODEX, SAMSUNG, FakeInstruments
from tests.fixtures.notify import TELEGRAM_CHAT, TELEGRAM_TOKEN
from tests.harness import Rig, build_rig, krx_alert
from yquant.adapters.db import migrate
from yquant.adapters.db.notifications import SqlNotifications
from yquant.adapters.notify.channels import DiscordChannel, TelegramChannel
from yquant.adapters.notify.discord import DiscordWebhook
from yquant.adapters.notify.fake_server import FakeChannels
from yquant.adapters.notify.telegram import TelegramBot
from yquant.bootstrap import (
    Runtime,
    active_role,
    build_control,
    build_prices,
    build_schedule_book,
    build_scheduler,
)
from yquant.domain.model import Market
from yquant.domain.notices import Level, NoticeKind, Route
from yquant.domain.risk import KillState
from yquant.domain.schedule_fields import ScheduleInvalidError
from yquant.domain.schedules import RunStatus
from yquant.entrypoints import i18n
from yquant.entrypoints.notices import render
from yquant.ports import PriceSource
from yquant.services.notifier import ChannelPlan, DeliveryPolicy, Notifier
from yquant.services.scheduler import Scheduler
from yquant.services.schedules import ImportRefusedError, ScheduleBook

KST = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")


@dataclass
class Kit:
    rig: Rig
    book: ScheduleBook
    scheduler: Scheduler

    async def at(self, when: datetime) -> list[tuple[str, RunStatus]]:
        self.rig.clock.set(when)
        return await self.scheduler.tick()

    async def runs(self, name: str) -> list[Any]:
        return await self.book.runs(name)


def kit_of(rig: Rig) -> Kit:
    runtime = Runtime(rig.settings, rig.store, rig.recorder, rig.bus, rig.clock)
    role = active_role(rig.store, rig.settings.worker.name)
    catalog = FakeInstruments(SAMSUNG, KODEX, APPLE, IBM)
    scheduler = build_scheduler(runtime, rig.engine, role, instruments=catalog)
    return Kit(rig, build_schedule_book(rig.settings, rig.store, clock=rig.clock), scheduler)


async def seen_prices(rig: Rig) -> None:
    """The last prices seen (an amount's quantity and a market buy's cash check use them)."""
    prices = build_prices(rig.settings, rig.store, clock=rig.clock)
    at = datetime(2026, 1, 2, tzinfo=UTC)
    await prices.observe(Market.US, "AAPL", Decimal(200), at, PriceSource.QUOTE)
    await prices.observe(Market.KR, "005930", Decimal(71000), at, PriceSource.QUOTE)


@pytest.fixture
async def kit(tmp_path: Path, db_url: str, valkey_url: str) -> AsyncIterator[Kit]:
    rig = await build_rig(tmp_path, db_url, valkey_url, datetime(2026, 3, 2, tzinfo=UTC))
    try:
        await seen_prices(rig)
        yield kit_of(rig)
    finally:
        await rig.close()


US_TEN = {
    "name": "aapl-ten",
    "market": "US",
    "ticker": "NASDAQ:AAPL",
    "account": "paper",
    "side": "buy",
    "quantity": "1",
    "time_kind": "fixed",
    "local_time": "10:00",
    "days": "mon,tue,wed,thu,fri",
}


async def test_a_us_schedule_at_ten_new_york_fires_at_the_right_utc_instant_across_both_dst_changes(
    kit: Kit,
) -> None:
    await kit.book.add(US_TEN, actor="test")
    # Friday 6 March 2026, EST (UTC-5): 10:00 New York is 15:00 UTC.
    assert await kit.at(datetime(2026, 3, 6, 14, 59, 59, tzinfo=UTC)) == []
    assert await kit.at(datetime(2026, 3, 6, 15, 0, tzinfo=UTC)) == [("aapl-ten", RunStatus.FIRED)]
    # Monday 9 March, the day after clocks went forward (EDT, UTC-4): 14:00 UTC.
    assert await kit.at(datetime(2026, 3, 9, 13, 59, tzinfo=UTC)) == []
    assert await kit.at(datetime(2026, 3, 9, 14, 0, tzinfo=UTC)) == [("aapl-ten", RunStatus.FIRED)]
    # Friday 30 October, still EDT: 14:00 UTC; Monday 2 November, back to EST: 15:00 UTC.
    assert await kit.at(datetime(2026, 10, 30, 14, 0, tzinfo=UTC)) == [
        ("aapl-ten", RunStatus.FIRED)
    ]
    assert await kit.at(datetime(2026, 11, 2, 14, 0, tzinfo=UTC)) == []
    assert await kit.at(datetime(2026, 11, 2, 15, 0, 30, tzinfo=UTC)) == [
        ("aapl-ten", RunStatus.FIRED)
    ]
    runs = sorted(await kit.runs("aapl-ten"), key=lambda r: r.session_date)
    assert [(r.session_date.isoformat(), r.due_at) for r in runs] == [
        ("2026-03-06", datetime(2026, 3, 6, 15, 0, tzinfo=UTC)),
        ("2026-03-09", datetime(2026, 3, 9, 14, 0, tzinfo=UTC)),
        ("2026-10-30", datetime(2026, 10, 30, 14, 0, tzinfo=UTC)),
        ("2026-11-02", datetime(2026, 11, 2, 15, 0, tzinfo=UTC)),
    ]
    assert all(r.status is RunStatus.FIRED and len(r.orders) == 1 for r in runs)
    # Each firing is an order through the engine, in the signal log with its source.
    published = await kit.rig.published()
    assert [(m["ticker"], m["side"], m["quantity"], m["strategy"]) for m in published] == [
        ("AAPL", "buy", "1", "schedule:aapl-ten")
    ] * 4
    signal = await kit.rig.signal(runs[0].signal_key or "")
    assert (signal["status"], signal["source_ip"]) == ("ordered", "schedule:aapl-ten")
    # A second look at the same moment fires nothing again.
    assert await kit.at(datetime(2026, 11, 2, 15, 1, tzinfo=UTC)) == []
    assert len(await kit.rig.published()) == 4


async def test_a_krx_schedule_skips_chuseok_and_follows_the_late_open_of_the_suneung_day(
    kit: Kit,
) -> None:
    await kit.book.add(
        {
            "name": "samsung-open",
            "ticker": "005930",
            "market": "KR",
            "account": "paper",
            "side": "buy",
            "quantity": "2",
            "time_kind": "after_open",
            "offset_min": "30",
        },
        actor="test",
    )
    await kit.book.add(
        {**US_TEN, "name": "samsung-0930", "market": "KR", "ticker": "005930",
         "local_time": "09:30"},
        actor="test",
    )  # fmt: skip
    # 추석 2026: Thursday 24 and Friday 25 September, KRX closed.
    for day in (24, 25):
        done = await kit.at(datetime(2026, 9, day, 0, 1, tzinfo=KST))
        assert sorted(done) == [
            ("samsung-0930", RunStatus.SKIPPED),
            ("samsung-open", RunStatus.SKIPPED),
        ]
    assert await kit.at(datetime(2026, 9, 28, 9, 29, tzinfo=KST)) == []
    assert sorted(await kit.at(datetime(2026, 9, 28, 9, 30, tzinfo=KST))) == [
        ("samsung-0930", RunStatus.FIRED),
        ("samsung-open", RunStatus.FIRED),
    ]
    # 수능, Thursday 19 November 2026: the market opens at 10:00. Thirty minutes after the open
    # is 10:30; a fixed 09:30 is before the open that day.
    assert await kit.at(datetime(2026, 11, 19, 9, 30, tzinfo=KST)) == [
        ("samsung-0930", RunStatus.SKIPPED)
    ]
    assert await kit.at(datetime(2026, 11, 19, 10, 29, tzinfo=KST)) == []
    assert await kit.at(datetime(2026, 11, 19, 10, 30, tzinfo=KST)) == [
        ("samsung-open", RunStatus.FIRED)
    ]
    runs = {(r.schedule_name, r.session_date.isoformat()): r for r in await kit.book.runs()}
    holiday = runs[("samsung-open", "2026-09-24")]
    assert (holiday.status, holiday.reason) == (RunStatus.SKIPPED, "market_holiday")
    late_open = runs[("samsung-0930", "2026-11-19")]
    assert (late_open.status, late_open.reason) == (RunStatus.SKIPPED, "outside_session")
    assert "10:00-16:30" in (late_open.detail or "")
    assert runs[("samsung-open", "2026-11-19")].due_at == datetime(2026, 11, 19, 10, 30, tzinfo=KST)
    assert len(await kit.rig.published()) == 3
    # A day skipped (a holiday, a time outside that day's session) is not told; a firing is.
    told = await kit.rig.notices("schedule_")
    assert sorted((n.kind.value, n.data["date"]) for n in told) == [
        ("schedule_fired", "2026-09-28"),
        ("schedule_fired", "2026-09-28"),
        ("schedule_fired", "2026-11-19"),
    ]


async def test_a_worker_down_for_three_hours_does_not_fire_late(kit: Kit) -> None:
    await kit.book.add({**US_TEN, "name": "late", "market": "KR", "ticker": "005930"}, actor="t")
    # Due at 10:00 KST; the first look is at 13:00.
    assert await kit.at(datetime(2026, 11, 27, 13, 0, tzinfo=KST)) == [("late", RunStatus.MISSED)]
    [run] = await kit.runs("late")
    assert (run.status, run.reason) == (RunStatus.MISSED, "firing_late")
    assert await kit.rig.published() == []
    assert await kit.at(datetime(2026, 11, 27, 13, 1, tzinfo=KST)) == []
    # Within the grace period (5 minutes by default) it still fires.
    assert await kit.at(datetime(2026, 11, 30, 10, 4, 59, tzinfo=KST)) == [
        ("late", RunStatus.FIRED)
    ]


async def test_a_schedule_saved_after_todays_time_is_not_recorded_missed(kit: Kit) -> None:
    kit.rig.clock.set(datetime(2026, 11, 27, 13, 0, tzinfo=KST))
    await kit.book.add({**US_TEN, "name": "new", "market": "KR", "ticker": "005930"}, actor="t")
    assert await kit.at(datetime(2026, 11, 27, 13, 0, 1, tzinfo=KST)) == []
    assert await kit.runs("new") == []
    assert await kit.at(datetime(2026, 11, 30, 10, 0, tzinfo=KST)) == [("new", RunStatus.FIRED)]


async def test_a_paused_schedule_does_not_fire_and_resumes(kit: Kit) -> None:
    await kit.book.add({**US_TEN, "name": "p", "market": "KR", "ticker": "005930"}, actor="t")
    await kit.book.set_paused("p", True, actor="t")
    assert await kit.at(datetime(2026, 11, 27, 10, 0, tzinfo=KST)) == []
    [view] = await kit.book.listing()
    assert view.next_at is None
    await kit.book.set_paused("p", False, actor="t")
    assert await kit.at(datetime(2026, 11, 27, 10, 1, tzinfo=KST)) == [("p", RunStatus.FIRED)]


async def test_a_fixed_time_outside_the_session_is_refused_when_saving(kit: Kit) -> None:
    with pytest.raises(ScheduleInvalidError) as refused:
        await kit.book.add(
            {**US_TEN, "name": "early", "market": "KR", "ticker": "005930", "local_time": "08:30"},
            actor="t",
        )
    [problem] = refused.value.problems
    assert problem.field == "local_time"
    assert "09:00-15:30" in problem.message
    assert await kit.book.listing() == []


async def test_an_import_with_one_bad_row_changes_nothing(kit: Kit) -> None:
    await kit.book.add({**US_TEN, "name": "kept"}, actor="t")
    rows = [
        {**US_TEN, "name": "kept", "quantity": "5"},
        {**US_TEN, "name": "new-one"},
        {**US_TEN, "name": "broken", "side": "hold"},
    ]
    with pytest.raises(ImportRefusedError) as refused:
        await kit.book.import_rows(rows, actor="t")
    [error] = refused.value.errors
    assert error.row == 3
    assert [p.field for p in error.problems] == ["side"]
    [view] = await kit.book.listing()
    assert (view.spec.name, view.spec.quantity) == ("kept", Decimal(1))
    # The same file without the bad row: updated and added by name.
    saved = await kit.book.import_rows(rows[:2], actor="t")
    assert [s.name for s in saved] == ["kept", "new-one"]
    assert {v.spec.name: v.spec.quantity for v in await kit.book.listing()} == {
        "kept": 5,
        "new-one": 1,
    }
    exported = await kit.book.export()
    assert [row["name"] for row in exported] == ["kept", "new-one"]


async def test_a_scheduled_liquidation_sells_only_its_strategys_positions(
    tmp_path: Path, db_url: str, valkey_url: str
) -> None:
    """Every trading day 15:10 KST (20 minutes before the close), strategy daytrade."""
    morning = datetime(2026, 11, 27, 10, 0, tzinfo=KST)
    rig = await build_rig(
        tmp_path,
        db_url,
        valkey_url,
        morning,
        strategies={"daytrade": {}, "swing": {}},
        liquidation={"order_wait_s": 0, "cancel_wait_s": 1},
    )
    try:
        kit = kit_of(rig)
        await rig.trade(krx_alert("d1", morning, strategy="daytrade", quantity="3"))
        await rig.trade(krx_alert("s1", morning, strategy="swing", quantity="5"))
        await rig.bus.heartbeat("gateway", {})
        await kit.book.add(
            {
                "name": "close-daytrade",
                "action": "liquidate",
                "market": "KR",
                "strategy": "daytrade",
                "time_kind": "before_close",
                "offset_min": "20",
            },
            actor="t",
        )
        sent = len(await rig.published())
        assert await kit.at(datetime(2026, 11, 27, 15, 9, tzinfo=KST)) == []
        assert await kit.at(datetime(2026, 11, 27, 15, 10, tzinfo=KST)) == [
            ("close-daytrade", RunStatus.FIRED)
        ]
        [sell] = (await rig.published())[sent:]
        assert (sell["side"], sell["quantity"], sell["strategy"]) == ("sell", "3", "daytrade")
        [run] = await kit.runs("close-daytrade")
        assert run.orders == (sell["client_order_id"],)
        assert "1 of 1 sells made" in (run.detail or "")
        told = await rig.notices()
        assert [n.kind for n in told] == [NoticeKind.LIQUIDATION_DONE, NoticeKind.SCHEDULE_FIRED]
        done, fired = told
        assert (fired.data["action"], fired.data["orders"]) == (
            "liquidate",
            sell["client_order_id"],
        )
        assert (done.strategy, done.data["status"]) == ("daytrade", "done")
        assert done.data["source"] == "schedule:close-daytrade"
        assert done.data["sold"] == "daytrade 005930 ×3"
    finally:
        await rig.close()


def test_the_schedules_migration_goes_down_and_up_again(db_url: str) -> None:
    migrate.downgrade(db_url, "0012")
    assert migrate.current(db_url).startswith("0012")
    migrate.upgrade(db_url)
    assert "(head)" in migrate.current(db_url)


async def test_a_firing_the_engine_refuses_is_recorded_failed_with_its_reason(kit: Kit) -> None:
    """The kill switch halts every order a schedule makes, as it halts an alert's."""
    await build_control(kit.rig.store, ["paper"]).set(
        "global", KillState.HALTED, actor="t", reason="test", now=kit.rig.clock.now()
    )
    await kit.book.add({**US_TEN, "name": "halted", "market": "KR", "ticker": "005930"}, actor="t")
    await kit.book.add(
        {**US_TEN, "name": "unpriced", "market": "KR", "ticker": "069500", "quantity": None,
         "amount": "100000"},
        actor="t",
    )  # fmt: skip
    done = await kit.at(datetime(2026, 11, 27, 10, 0, tzinfo=KST))
    assert sorted(done) == [("halted", RunStatus.FAILED), ("unpriced", RunStatus.FAILED)]
    runs = {r.schedule_name: r for r in await kit.book.runs()}
    assert runs["halted"].reason == "halted"
    assert runs["unpriced"].reason == "no_price"
    assert await kit.rig.published() == []
    told = {n.data["schedule"]: n for n in await kit.rig.notices("schedule_")}
    assert {k: (n.kind, n.data["reason"]) for k, n in told.items()} == {
        "halted": (NoticeKind.SCHEDULE_FAILED, "halted"),
        "unpriced": (NoticeKind.SCHEDULE_FAILED, "no_price"),
    }
    signal = await kit.rig.signal(runs["halted"].signal_key or "")
    assert (signal["status"], signal["reason"]) == ("rejected", "halted")


async def test_each_run_that_ends_is_told_to_the_notifier_once(kit: Kit) -> None:
    """Fired (with its order and signal), missed (late past the grace period) and failed (with
    the reason): one notice each, its id the schedule and the session date, so a notifier that
    reads it twice sends it once; looking again tells nothing new."""
    on_time = {**US_TEN, "name": "on-time", "market": "KR", "ticker": "005930"}
    await kit.book.add(on_time, actor="t")
    await kit.book.add({**on_time, "name": "late", "local_time": "09:30"}, actor="t")
    await kit.book.add(
        {**on_time, "name": "unpriced", "ticker": "069500", "quantity": None, "amount": "100000"},
        actor="t",
    )
    done = await kit.at(datetime(2026, 11, 27, 10, 0, tzinfo=KST))
    assert sorted(done) == [
        ("late", RunStatus.MISSED),
        ("on-time", RunStatus.FIRED),
        ("unpriced", RunStatus.FAILED),
    ]
    runs = {r.schedule_name: r for r in await kit.book.runs()}
    told = await kit.rig.notices()
    assert len(told) == 3 and {n.kind for n in told} == {
        NoticeKind.SCHEDULE_FIRED,
        NoticeKind.SCHEDULE_MISSED,
        NoticeKind.SCHEDULE_FAILED,
    }
    by_name = {n.data["schedule"]: n for n in told}
    fired, missed, failed = by_name["on-time"], by_name["late"], by_name["unpriced"]
    run = runs["on-time"]
    assert fired.id == f"schedule_fired:{run.schedule_id}:2026-11-27"
    assert (fired.kind, fired.level) == (NoticeKind.SCHEDULE_FIRED, Level.INFO)
    assert (fired.account, fired.strategy) == ("paper", None)
    [order] = run.orders
    assert (fired.data["orders"], fired.data["signal"]) == (order, run.signal_key)
    assert (fired.data["status"], fired.data["ticker"], fired.data["quantity"]) == (
        "fired",
        "005930",
        "1",
    )
    assert fired.data["due"] == "2026-11-27T10:00+09:00"
    assert missed.id == f"schedule_missed:{runs['late'].schedule_id}:2026-11-27"
    assert (missed.kind, missed.level) == (NoticeKind.SCHEDULE_MISSED, Level.WARNING)
    assert missed.data["reason"] == "firing_late"
    assert "grace" in missed.data["detail"] and "orders" not in missed.data
    assert failed.id == f"schedule_failed:{runs['unpriced'].schedule_id}:2026-11-27"
    assert (failed.kind, failed.level) == (NoticeKind.SCHEDULE_FAILED, Level.ERROR)
    assert (failed.data["reason"], failed.data["detail"]) == (
        runs["unpriced"].reason,
        runs["unpriced"].detail,
    )
    assert failed.data["reason"] == "no_price" and failed.data["amount"] == "100000"
    assert await kit.at(datetime(2026, 11, 27, 10, 1, tzinfo=KST)) == []
    assert len(await kit.rig.notices()) == 3


async def test_the_runs_and_the_liquidation_reach_discord_and_telegram_in_their_languages(
    tmp_path: Path, db_url: str, valkey_url: str, channels: FakeChannels
) -> None:
    """At 15:10 KST a liquidation of strategy daytrade fires, an order due at 10:00 is missed
    (the workers were down) and an amount with no price fails. The notices from the stream go
    through the notifier: the Discord channel (English, every notice) gets all four, the
    Telegram chat (Korean, strategy swing only) the two that name no strategy."""
    morning = datetime(2026, 11, 27, 10, 0, tzinfo=KST)
    rig = await build_rig(
        tmp_path,
        db_url,
        valkey_url,
        morning,
        strategies={"daytrade": {}, "swing": {}},
        liquidation={"order_wait_s": 0, "cancel_wait_s": 1},
    )
    try:
        kit = kit_of(rig)
        await rig.trade(krx_alert("d1", morning, strategy="daytrade", quantity="3"))
        await rig.bus.heartbeat("gateway", {})
        rig.clock.set(datetime(2026, 11, 27, 8, 0, tzinfo=KST))
        await kit.book.add(
            {"name": "close-daytrade", "action": "liquidate", "market": "KR",
             "strategy": "daytrade", "time_kind": "before_close", "offset_min": "20"},
            actor="t",
        )  # fmt: skip
        order = {**US_TEN, "market": "KR", "ticker": "005930"}
        await kit.book.add({**order, "name": "late"}, actor="t")
        await kit.book.add(
            {**order, "name": "unpriced", "ticker": "069500", "quantity": None,
             "amount": "100000", "local_time": "15:10"},
            actor="t",
        )  # fmt: skip
        done = await kit.at(datetime(2026, 11, 27, 15, 10, tzinfo=KST))
        assert sorted(done) == [
            ("close-daytrade", RunStatus.FIRED),
            ("late", RunStatus.MISSED),
            ("unpriced", RunStatus.FAILED),
        ]
        told = await rig.notices()
        assert len(told) == 4

        async with httpx.AsyncClient(timeout=10) as http:
            hook = channels.discord.add_webhook("ops")
            bot = TelegramBot(TELEGRAM_TOKEN, http, api_base=channels.url)
            plans = {
                "ops": ChannelPlan(
                    DiscordChannel("ops", DiscordWebhook(hook, http)), Route(), "en"
                ),
                "phone": ChannelPlan(
                    TelegramChannel("phone", bot, str(TELEGRAM_CHAT)),
                    Route(strategies=frozenset({"swing"})),
                    "ko",
                ),
            }
            notifier = Notifier(
                queue=SqlNotifications(rig.store),
                plans=plans,
                render=render,
                clock=rig.clock,
                owner="notifier-rig",
                worker="rig",
                is_active=lambda: True,
                policy=DeliveryPolicy(),
            )
            assert [await notifier.take(n) for n in told] == [
                1 if n.strategy == "daytrade" else 2 for n in told
            ]
            assert [await notifier.take(n) for n in told] == [0, 0, 0, 0]  # handed over again
            assert await notifier.deliver_due() == 6

        discord = [m.body["embeds"][0] for m in channels.discord.messages("ops")]
        assert sorted(e["title"].split(" ", 1)[1] for e in discord) == [
            "Liquidation done",
            "Scheduled order failed",
            "Scheduled order missed",
            "Scheduled order placed",
        ]
        english = json.dumps(discord, ensure_ascii=False)
        [liquidation] = [n for n in told if n.kind is NoticeKind.LIQUIDATION_DONE]
        assert (
            f"Liquidation {liquidation.data['liquidation']} (strategy=daytrade market=KR): Done."
            in english
        )
        assert "daytrade 005930 ×3" in english and "close-daytrade fired for 2026-11-27." in english
        assert f"unpriced failed on 2026-11-27: {i18n.label('en', 'no_price')}." in english
        texts = sorted(s.message["text"] for s in channels.telegram.messages())
        assert len(texts) == 2
        missed, failed = (
            next(t for t in texts if "예약 주문 누락" in t),
            next(t for t in texts if "예약 주문 실패" in t),
        )
        assert "예약 late: 2026-11-27 실행되지 않았습니다." in missed
        assert f"사유: {i18n.label('ko', 'firing_late')}" in missed
        assert (
            f"예약 unpriced: 2026-11-27 실패했습니다. 사유: {i18n.label('ko', 'no_price')}."
            in failed
        )
        assert "금액: 100000" in failed and "계좌: paper" in failed
        assert not any("청산" in t for t in texts)
    finally:
        await rig.close()
