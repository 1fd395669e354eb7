"""`yquant notifier` as its own process, against the fake Discord and Telegram: notices and
fills read from the worker's Valkey streams, sent once across a restart of the role; and
`yquant notify test`, which prints what each service answered."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from tests.fixtures.notify import TELEGRAM_CHAT, TELEGRAM_TOKEN
from tests.support import wait_until, yquant, yquant_env
from yquant.adapters.bus import Bus
from yquant.adapters.db import migrate
from yquant.adapters.notify.fake_server import FakeChannels
from yquant.domain.events import OrderFilled
from yquant.domain.model import Fill, Side
from yquant.domain.notices import NoticeKind, notice

AT = datetime.now(UTC)  # recent: older notices are not sent (notify.max_age_h)


def _env(tmp_path: Path, valkey_url: str, channels: FakeChannels) -> dict[str, str]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    migrate.upgrade(f"sqlite+aiosqlite:///{data / 'yquant.sqlite3'}")
    return yquant_env(
        data,
        valkey_url,
        YQUANT__NOTIFY__DISCORD__OPS__URL=channels.discord.add_webhook("ops"),
        YQUANT__NOTIFY__TELEGRAM__PHONE__BOT_TOKEN=TELEGRAM_TOKEN,
        YQUANT__NOTIFY__TELEGRAM__PHONE__CHAT_ID=str(TELEGRAM_CHAT),
        YQUANT__NOTIFY__TELEGRAM__PHONE__API_BASE=channels.url,
        YQUANT__NOTIFY__TELEGRAM__PHONE__LANGUAGE="ko",
        YQUANT__NOTIFY__TELEGRAM__PHONE__EVENTS="order_filled",
        YQUANT__NOTIFY__POLL_S="0.2",
    )


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "yquant", "notifier"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_up(valkey_url: str, proc: subprocess.Popen[bytes]) -> None:
    async def beat() -> bool:
        bus = Bus(valkey_url)
        try:
            found = (await bus.heartbeats(["notifier"]))["notifier"]
            return found is not None and found.get("pid") == proc.pid
        finally:
            await bus.close()

    wait_until(lambda: asyncio.run(beat()), timeout_s=60, every_s=0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


async def _hand_over(valkey_url: str) -> None:
    bus = Bus(valkey_url)
    try:
        await bus.notify(
            notice(NoticeKind.ALERT_REJECTED, "sig-1", AT, strategy="trend", reason="market_closed")
        )
        fill = Fill(
            fill_id="fill-1",
            client_order_id="c" * 32,
            account="paper",
            ticker="005930",
            side=Side.BUY,
            quantity=Decimal(10),
            price=Decimal(70000),
            commission=Decimal(105),
            currency="KRW",
            filled_at=AT,
        )
        await bus.send(OrderFilled(fill))
    finally:
        await bus.close()


def test_the_role_sends_stream_notices_once_across_a_restart(
    tmp_path: Path, valkey_url: str, channels: FakeChannels
) -> None:
    env = _env(tmp_path, valkey_url, channels)
    log = tmp_path / "notifier.log"
    proc = _start(env, log)
    try:
        _wait_up(valkey_url, proc)
        asyncio.run(_hand_over(valkey_url))
        wait_until(lambda: len(channels.discord.messages("ops")) == 2, timeout_s=30)
        wait_until(lambda: len(channels.telegram.messages()) == 1, timeout_s=30)
    finally:
        _stop(proc)
    titles = sorted(m.body["embeds"][0]["title"] for m in channels.discord.messages("ops"))
    assert titles == ["ℹ️ Order filled", "⚠️ Alert rejected"]
    assert channels.telegram.messages()[0].message["text"].startswith("ℹ️ 체결 완료")
    # The same entries again (a producer that retried), to a restarted notifier: nothing new.
    marker = len(log.read_text())
    proc = _start(env, log)
    try:
        _wait_up(valkey_url, proc)
        asyncio.run(_hand_over(valkey_url))
        asyncio.run(asyncio.sleep(2.0))  # several delivery passes (poll_s 0.2)
    finally:
        _stop(proc)
    assert len(channels.discord.messages("ops")) == 2
    assert len(channels.telegram.messages()) == 1
    assert "Traceback" not in log.read_text()[marker:]


def test_notify_test_prints_what_each_service_answered(
    tmp_path: Path, valkey_url: str, channels: FakeChannels
) -> None:
    env = _env(tmp_path, valkey_url, channels)
    both = yquant("notify", "test", env=env)
    assert both.returncode == 0, both.stderr
    lines = both.stdout.strip().splitlines()
    assert lines[0].startswith("ops (discord): sent, message id ")
    assert lines[1] == "phone (telegram): sent, message id 1"
    assert channels.telegram.messages()[0].message["text"].startswith("🚨 테스트 메시지")
    channels.telegram.fail_next(429, count=5, retry_after=1)
    one = yquant("notify", "test", "--channel", "phone", env=env)
    assert one.returncode == 1
    assert "phone (telegram): not taken now, retry after 1 s" in one.stdout
    assert "Too Many Requests: retry after 1" in one.stdout
    assert TELEGRAM_TOKEN.split(":")[1] not in one.stdout + one.stderr
    gone = {**env, "YQUANT__NOTIFY__TELEGRAM__PHONE__CHAT_ID": "1"}
    refused = yquant("notify", "test", "--channel", "phone", env=gone)
    assert refused.returncode == 1
    assert "refused (HTTP 400)" in refused.stdout and "chat not found" in refused.stdout
    unknown = yquant("notify", "test", "--channel", "nope", env=env)
    assert unknown.returncode == 2 and "ops, phone" in unknown.stdout
