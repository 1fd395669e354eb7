"""The notifier against the fake Discord and Telegram, with its queue in the real database
(SQLite and MariaDB): routing, languages, send-once across restarts and workers, retries at the
time the channel named, dead letters, the active worker's shared notices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from tests.fakes import FixedClock
from tests.fixtures.notify import TELEGRAM_CHAT, TELEGRAM_TOKEN
from tests.support import krx_order, statements
from yquant.adapters.bus import EXECUTIONS, Entry
from yquant.adapters.db.notifications import SqlNotifications
from yquant.adapters.db.rows import to_row
from yquant.adapters.db.store import SqlStore
from yquant.adapters.notify.channels import DiscordChannel, TelegramChannel
from yquant.adapters.notify.discord import DiscordWebhook
from yquant.adapters.notify.fake_server import FakeChannels
from yquant.adapters.notify.telegram import TelegramBot
from yquant.domain.events import OrderFilled
from yquant.domain.model import Fill, Side
from yquant.domain.notices import Level, NoticeKind, Route, notice
from yquant.domain.writes import InsertFill, InsertOrder
from yquant.entrypoints.notices import render
from yquant.services.notifier import ChannelPlan, DeliveryPolicy, Notifier

T0 = datetime(2026, 12, 4, 6, 30, tzinfo=UTC)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


class Setup:
    def __init__(self, channels: FakeChannels, http: httpx.AsyncClient, store: SqlStore) -> None:
        self.fakes = channels
        self.http = http
        self.clock = FixedClock(T0)
        self.queue = SqlNotifications(store)
        hook = channels.discord.add_webhook("ops")
        bot = TelegramBot(TELEGRAM_TOKEN, http, api_base=channels.url)
        self.plans = {
            "ops": ChannelPlan(DiscordChannel("ops", DiscordWebhook(hook, http)), Route(), "en"),
            "phone": ChannelPlan(
                TelegramChannel("phone", bot, str(TELEGRAM_CHAT)),
                Route(
                    events=frozenset({NoticeKind.ORDER_FILLED, NoticeKind.DATABASE_AWAY}),
                    accounts=frozenset({"main"}),
                ),
                "ko",
            ),
        }
        self.active = True

    def notifier(
        self, owner: str = "notifier-blue", worker: str = "blue", **policy: float
    ) -> Notifier:
        return Notifier(
            queue=self.queue,
            plans=self.plans,
            render=render,
            clock=self.clock,
            owner=owner,
            worker=worker,
            is_active=lambda: self.active,
            policy=DeliveryPolicy(**policy),  # type: ignore[arg-type]
        )

    def discord_titles(self) -> list[str]:
        return [m.body["embeds"][0]["title"] for m in self.fakes.discord.messages("ops")]

    def telegram_texts(self) -> list[str]:
        return [s.message["text"] for s in self.fakes.telegram.messages()]


@pytest.fixture
def setup(channels: FakeChannels, http: httpx.AsyncClient, store: SqlStore) -> Setup:
    return Setup(channels, http, store)


def _fill(key: str, account: str = "main") -> object:
    return notice(
        NoticeKind.ORDER_FILLED,
        key,
        T0,
        account=account,
        strategy="trend",
        ticker="005930",
        side="buy",
        quantity="10",
        price="70000",
    )


async def test_each_channel_gets_what_its_route_takes_in_its_language(setup: Setup) -> None:
    notifier = setup.notifier()
    assert await notifier.take(_fill("f1")) == 2  # type: ignore[arg-type]
    assert await notifier.take(_fill("f2", account="isa")) == 1  # type: ignore[arg-type]
    rejected = notice(NoticeKind.ALERT_REJECTED, "a1", T0, strategy="trend", reason="market_closed")
    assert await notifier.take(rejected) == 1
    assert await notifier.deliver_due() == 4
    assert setup.discord_titles() == [
        "ℹ️ Order filled",
        "ℹ️ Order filled",
        "⚠️ Alert rejected",
    ]
    texts = setup.telegram_texts()
    assert len(texts) == 1 and texts[0].startswith("ℹ️ 체결 완료")
    assert "계좌: main" in texts[0]
    assert await setup.queue.counts() == {"pending": 0, "sent": 4, "dead": 0}
    assert await notifier.deliver_due() == 0


async def test_a_notice_is_sent_once_across_restarts_and_both_workers(setup: Setup) -> None:
    first = setup.notifier()
    await first.take(_fill("f1"))  # type: ignore[arg-type]
    await first.deliver_due()
    # The stream entry read again by a restarted notifier, and the same fact by the other
    # worker's notifier: nothing new is queued, nothing is sent again.
    restarted = setup.notifier()
    green = setup.notifier(owner="notifier-green", worker="green")
    assert await restarted.take(_fill("f1")) == 0  # type: ignore[arg-type]
    assert await green.take(_fill("f1")) == 0  # type: ignore[arg-type]
    assert await restarted.deliver_due() == 0 and await green.deliver_due() == 0
    assert len(setup.discord_titles()) == 1 and len(setup.telegram_texts()) == 1


async def test_two_notifiers_never_send_one_delivery_twice(setup: Setup) -> None:
    blue, green = setup.notifier(), setup.notifier(owner="notifier-green", worker="green")
    for i in range(6):
        await blue.take(notice(NoticeKind.ORDER_SENT, f"o{i}", T0, account="main"))
    taken_blue = await setup.queue.take_due("notifier-blue", T0, 60, 4, shared=True)
    taken_green = await setup.queue.take_due("notifier-green", T0, 60, 10, shared=True)
    assert len(taken_blue) == 4 and len(taken_green) == 2
    assert not {d.id for d in taken_blue} & {d.id for d in taken_green}
    # a lease left by a notifier that died lapses
    assert await setup.queue.take_due("notifier-green", T0, 60, 10, shared=True) == []
    later = T0 + timedelta(seconds=61)
    assert len(await setup.queue.take_due("notifier-green", later, 60, 10, shared=True)) == 6
    assert green is not blue


async def test_a_fill_is_read_about_only_when_a_channel_could_take_its_notice(
    setup: Setup, store: SqlStore
) -> None:
    order = krx_order("yqfill1", T0, account="main", strategy="trend", quantity=Decimal(10))
    fill = Fill(
        "yqfill1:1",
        "yqfill1",
        "main",
        "005930",
        Side.BUY,
        Decimal(10),
        Decimal(70000),
        Decimal(105),
        "KRW",
        T0,
    )
    for write in (InsertOrder(order), InsertFill(fill)):
        await store.apply(*to_row(write))
    entry = Entry(EXECUTIONS, "1-1", {}, False, OrderFilled(fill))
    # No channel takes fill notices (the phone takes them of another account only): the fill's
    # order is not read, nothing is queued.
    setup.plans["ops"] = ChannelPlan(
        setup.plans["ops"].channel, Route(events=frozenset({NoticeKind.ALERT_REJECTED})), "en"
    )
    setup.plans["phone"] = ChannelPlan(
        setup.plans["phone"].channel,
        Route(events=frozenset({NoticeKind.ORDER_FILLED}), accounts=frozenset({"isa"})),
        "ko",
    )
    with statements() as seen:
        await setup.notifier().handle_fill(entry)
    assert seen == []
    assert await setup.queue.counts() == {"pending": 0, "sent": 0, "dead": 0}
    # A channel that takes them (of this account, this strategy): the order is read, the
    # notice queued as before, with the order's strategy and what it has filled.
    setup.plans["phone"] = ChannelPlan(
        setup.plans["phone"].channel,
        Route(events=frozenset({NoticeKind.ORDER_FILLED}), strategies=frozenset({"trend"})),
        "ko",
    )
    with statements() as seen:
        await setup.notifier().handle_fill(entry)
    assert any("FROM fills" in s for s in seen)
    [delivery] = await setup.queue.take_due("notifier-blue", T0, 60, 10, shared=True)
    assert delivery.channel == "phone"
    assert delivery.notice.id == "order_filled:yqfill1:1"
    assert delivery.notice.strategy == "trend"
    assert (delivery.notice.data["filled"], delivery.notice.data["ordered"]) == ("10", "10")
    # A route for another strategy does not take it: read (the strategy is the order's), and
    # not queued.
    setup.plans["phone"] = ChannelPlan(
        setup.plans["phone"].channel,
        Route(events=frozenset({NoticeKind.ORDER_FILLED}), strategies=frozenset({"meanrev"})),
        "ko",
    )
    again = OrderFilled(replace(fill, fill_id="yqfill1:2"))
    await setup.notifier().handle_fill(Entry(EXECUTIONS, "1-2", {}, False, again))
    assert await setup.queue.counts() == {"pending": 1, "sent": 0, "dead": 0}


async def test_a_429_is_retried_at_the_time_discord_named(setup: Setup) -> None:
    notifier = setup.notifier(first_retry_s=1.0)
    await notifier.take(notice(NoticeKind.ORDER_SENT, "o1", T0, account="isa"))
    setup.fakes.discord.fail_next(429, retry_after=42.5)
    assert await notifier.deliver_due() == 1
    assert setup.discord_titles() == []
    setup.clock.set(T0 + timedelta(seconds=42))  # not yet: 0.5 s short of retry_after
    assert await notifier.deliver_due() == 0
    setup.clock.set(T0 + timedelta(seconds=42.5))
    assert await notifier.deliver_due() == 1
    assert setup.discord_titles() == ["ℹ️ Order sent"]
    assert await setup.queue.counts() == {"pending": 0, "sent": 1, "dead": 0}


async def test_telegram_flood_control_is_waited_out_too(setup: Setup) -> None:
    notifier = setup.notifier()
    await notifier.take(_fill("f1"))  # type: ignore[arg-type]
    setup.fakes.telegram.fail_next(429, retry_after=7)
    await notifier.deliver_due()
    assert len(setup.discord_titles()) == 1 and setup.telegram_texts() == []
    setup.clock.set(T0 + timedelta(seconds=6))
    assert await notifier.deliver_due() == 0
    setup.clock.set(T0 + timedelta(seconds=7))
    assert await notifier.deliver_due() == 1
    assert len(setup.telegram_texts()) == 1


async def test_failures_end_as_dead_letters(setup: Setup) -> None:
    notifier = setup.notifier(first_retry_s=10.0, max_attempts=3)
    await notifier.take(notice(NoticeKind.ORDER_SENT, "o1", T0, account="isa"))
    setup.fakes.discord.fail_next(503, count=3)
    for _ in range(3):
        assert await notifier.deliver_due() == 1
        setup.clock.advance(hours=1)
    assert await notifier.deliver_due() == 0
    dead = await setup.queue.dead_letters()
    assert [(d["channel"], d["event_id"], d["attempts"]) for d in dead] == [
        ("ops", "order_sent:o1", 3)
    ]
    assert "503" in dead[0]["last_error"]
    # a refusal (the webhook is gone) is not tried again
    setup.plans["ops"] = ChannelPlan(
        DiscordChannel("ops", DiscordWebhook(f"{setup.fakes.url}/api/webhooks/1/x", setup.http)),
        Route(),
        "en",
    )
    gone = setup.notifier()
    await gone.take(notice(NoticeKind.ORDER_SENT, "o2", T0, account="isa"))
    await gone.deliver_due()
    dead = await setup.queue.dead_letters()
    assert dead[0]["event_id"] == "order_sent:o2" and "Unknown Webhook" in dead[0]["last_error"]
    assert dead[0]["attempts"] == 1
    assert await setup.queue.counts() == {"pending": 0, "sent": 0, "dead": 2}


async def test_shared_notices_wait_for_the_active_worker(setup: Setup) -> None:
    setup.active = False
    standby = setup.notifier(worker="green")
    switched = notice(
        NoticeKind.KILL_SWITCH_CHANGED, "global:1", T0, scope="global", state="halted"
    )
    await standby.take(switched)
    await standby.take(notice(NoticeKind.ORDER_SENT, "o1", T0, account="isa"))
    assert await standby.deliver_due() == 1  # its own notice, not the shared one
    setup.active = True
    assert await standby.deliver_due() == 1
    assert setup.discord_titles() == ["ℹ️ Order sent", "⚠️ Kill switch changed"]


async def test_without_the_database_a_notice_is_sent_at_once_and_once(setup: Setup) -> None:
    claims: set[str] = set()

    async def claim(key: str) -> bool:
        if key in claims:
            return False
        claims.add(key)
        return True

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    notifier = Notifier(
        queue=setup.queue,
        plans=setup.plans,
        render=render,
        clock=setup.clock,
        owner="n",
        worker="blue",
        is_active=lambda: True,
        claim=claim,
        sleep=sleep,
    )
    away = notice(NoticeKind.DATABASE_AWAY, "blue:t0", T0, level=Level.ERROR, journal="12")
    setup.fakes.discord.fail_next(429, retry_after=3)
    assert await notifier.send_now(away) == {"ops": "sent", "phone": "sent"}
    assert waits == [3.0]
    assert await notifier.send_now(away) == {"ops": "claimed", "phone": "claimed"}
    assert len(setup.discord_titles()) == 1
    assert "저널 대기 건수: 12" in setup.telegram_texts()[0]


async def test_reports_a_days_summary_once_after_the_close_and_a_quiet_strategy(
    setup: Setup,
) -> None:
    from decimal import Decimal

    from yquant.services.notifier import DayFigures, Reports

    close = T0  # 15:30 in Seoul
    asked: list[tuple[str, datetime]] = []

    async def figures(market: str, close_at: datetime) -> DayFigures:
        asked.append((market, close_at))
        pnl = {"trend": Decimal("12000"), "scalp": Decimal("-3500.5")}
        return DayFigures(4, pnl, Decimal("100008500"), "KRW")

    async def last_alerts() -> dict[str, datetime]:
        return {"trend": T0 - timedelta(hours=30), "scalp": T0 - timedelta(hours=1)}

    notifier = setup.notifier()
    reports = Reports(
        notifier,
        clock=setup.clock,
        closes=lambda now: [("KR", "2026-12-04", close)],
        figures=figures,
        last_alerts=last_alerts,
        quiet_after_h={"trend": 24, "scalp": 24},
    )
    setup.clock.set(close + timedelta(minutes=5))  # the closing fills may still come in
    await reports.check(active=True)
    assert asked == []
    setup.clock.set(close + timedelta(minutes=10))
    await reports.check(active=False)  # only the active worker reports
    assert asked == []
    await reports.check(active=True)
    await reports.check(active=True)
    # a restarted notifier (or the other worker) may ask again: the queue keeps one
    again = Reports(
        notifier,
        clock=setup.clock,
        closes=lambda now: [("KR", "2026-12-04", close)],
        figures=figures,
        last_alerts=last_alerts,
        quiet_after_h={"trend": 24},
    )
    await again.check(active=True)
    await notifier.deliver_due()
    titles = setup.discord_titles()
    # the quiet strategy was found at the first look, the summary once the close was 10 min past
    assert titles == ["⚠️ Strategy quiet", "ℹ️ Daily summary"]
    summary = setup.fakes.discord.messages("ops")[1].body["embeds"][0]
    fields = {f["name"]: f["value"] for f in summary["fields"]}
    assert fields["Trades"] == "4" and fields["P&L"] == "+8,499.50 KRW"
    assert fields["trend"] == "+12,000.00 KRW" and fields["scalp"] == "-3,500.50 KRW"
    assert fields["Equity"] == "100008500 KRW"
    quiet = setup.fakes.discord.messages("ops")[0].body["embeds"][0]
    assert "No alert from trend since" in quiet["description"]
    # a notifier that was down all evening does not report a stale day
    setup.clock.set(close + timedelta(hours=9))
    late = Reports(
        notifier,
        clock=setup.clock,
        closes=lambda now: [("KR", "2026-12-04", close)],
        figures=figures,
        last_alerts=last_alerts,
        quiet_after_h={},
    )
    asked.clear()
    await late.check(active=True)
    assert asked == []


def test_the_latest_closes_of_each_market() -> None:
    from yquant.bootstrap import market_closes

    friday = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)  # 16:00 in Seoul, 02:00 in New York
    closes = {m: (day, at) for m, day, at in market_closes(friday)}
    assert closes["KR"] == ("2026-12-04", datetime(2026, 12, 4, 6, 30, tzinfo=UTC))
    assert closes["US"] == ("2026-12-03", datetime(2026, 12, 3, 21, 0, tzinfo=UTC))


async def test_the_watcher_reports_switches_the_active_worker_and_the_database(
    setup: Setup,
) -> None:
    from yquant.errors import DatabaseUnavailableError
    from yquant.ports import SwitchRecord
    from yquant.services.notifier import Watcher

    role: list[tuple[str, int] | None] = [("blue", 3)]
    database_up = [True]
    switches = {"global": SwitchRecord("global", "active", None, "ops", T0)}

    class Switches:
        async def switches(self) -> dict[str, SwitchRecord]:
            return dict(switches)

        async def set_switch(self, *a: object, **k: object) -> str:
            raise AssertionError("the watcher only reads")

        async def audit(self, limit: int = 50) -> list[dict[str, object]]:
            return []

    async def active() -> tuple[str, int] | None:
        if not database_up[0]:
            raise DatabaseUnavailableError("connection refused")
        return role[0]

    notifier = setup.notifier()
    watcher = Watcher(
        notifier,
        clock=setup.clock,
        switches=Switches(),  # type: ignore[arg-type]
        active_role=active,
        journal_depth=lambda: 7,
    )
    await watcher.check()  # the first look is the baseline: nothing to tell
    switches["global"] = SwitchRecord("global", "halted", "gap down", "ops", T0 + timedelta(1))
    role[0] = ("green", 4)  # blue is no longer active: green reports the switch, not blue
    await watcher.check()
    role[0] = ("blue", 5)
    await watcher.check()
    database_up[0] = False
    await watcher.check()
    await watcher.check()  # still away: told once
    database_up[0] = True
    setup.clock.advance(seconds=95)
    await watcher.check()
    await notifier.deliver_due()
    titles = setup.discord_titles()
    assert titles == [
        "🚨 Database unreachable",  # sent at once: the queue is in the database
        "⚠️ Active worker switched",
        "⚠️ Kill switch changed",
        "ℹ️ Database back",
    ]
    bodies = [m.body["embeds"][0] for m in setup.fakes.discord.messages("ops")]
    away = {f["name"]: f["value"] for f in bodies[0]["fields"]}
    assert away["Writes waiting in the journal"] == "7" and away["Worker"] == "blue"
    switched = {f["name"]: f["value"] for f in bodies[1]["fields"]}
    assert (switched["Worker"], switched["Epoch"], switched["Before"]) == ("blue", "5", "green")
    kill = {f["name"]: f["value"] for f in bodies[2]["fields"]}
    assert (kill["State"], kill["By"]) == ("Trading halted", "ops") and kill["Was"]
    back = {f["name"]: f["value"] for f in bodies[3]["fields"]}
    assert back["Away (s)"] == "95"


async def test_old_news_is_not_sent(setup: Setup) -> None:
    notifier = setup.notifier(max_age_s=3600)
    setup.clock.set(T0 + timedelta(hours=2))
    assert await notifier.take(_fill("old")) == 0  # type: ignore[arg-type]
    setup.clock.set(T0 + timedelta(minutes=59))
    assert await notifier.take(_fill("recent")) == 2  # type: ignore[arg-type]


def test_the_notifications_migration_goes_down_and_up_again(db_url: str) -> None:
    from yquant.adapters.db import migrate

    migrate.downgrade(db_url, "0011")
    assert migrate.current(db_url).startswith("0011")
    migrate.upgrade(db_url)
    assert "(head)" in migrate.current(db_url)
