"""The Discord and Telegram clients against the fakes: what they send, what they make of each
answer, and that the secret in a URL never reaches an error."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fixtures.notify import TELEGRAM_CHAT, TELEGRAM_TOKEN
from yquant.adapters.notify.discord import DiscordWebhook, masked_url
from yquant.adapters.notify.errors import ChannelBusyError, ChannelRefusedError
from yquant.adapters.notify.fake_server import FakeChannels
from yquant.adapters.notify.retry import honouring_retry_after
from yquant.adapters.notify.telegram import TelegramBot, inline_keyboard
from yquant.errors import RejectedError, RetryableError


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_discord_send_answers_the_message_id(
    channels: FakeChannels, http: httpx.AsyncClient
) -> None:
    url = channels.discord.add_webhook("ops")
    hook = DiscordWebhook(url, http)
    answer = await hook.send("", [{"title": "Filled", "description": "005930 10 @ 70,000"}])
    assert answer.status == 200 and answer.message_id
    received = channels.discord.messages("ops")[0]
    assert received.wait is True
    assert received.body["allowed_mentions"] == {"parse": []}  # nobody is pinged by a message
    assert received.message["id"] == answer.message_id


async def test_discord_failures_map_to_busy_or_refused_without_the_token(
    channels: FakeChannels, http: httpx.AsyncClient
) -> None:
    url = channels.discord.add_webhook("ops")
    token = url.rsplit("/", 1)[1]
    hook = DiscordWebhook(url, http)
    assert token not in hook.shown and hook.shown == masked_url(url)
    channels.discord.fail_next(429, retry_after=3.25)
    with pytest.raises(ChannelBusyError) as busy:
        await hook.send("x")
    assert isinstance(busy.value, RetryableError)
    assert (busy.value.status, busy.value.retry_after_s) == (429, 3.25)
    channels.discord.fail_next(500)
    with pytest.raises(ChannelBusyError) as server:
        await hook.send("x")
    assert server.value.retry_after_s is None
    with pytest.raises(ChannelRefusedError) as empty:
        await hook.send("")
    assert isinstance(empty.value, RejectedError)
    assert empty.value.status == 400 and "50006" in str(empty.value)
    with pytest.raises(ChannelRefusedError) as gone:
        await DiscordWebhook(url[: url.rfind("/")] + "/other-token", http).send("x")
    assert "Unknown Webhook" in str(gone.value)
    with pytest.raises(ChannelBusyError) as away:
        await DiscordWebhook(f"http://127.0.0.1:9/api/webhooks/1/{token}", http).send("x")
    for error in (busy, server, empty, gone, away):
        assert token not in str(error.value) and token not in repr(error.value)


async def test_telegram_client_round_trip(channels: FakeChannels, http: httpx.AsyncClient) -> None:
    bot = TelegramBot(TELEGRAM_TOKEN, http, api_base=channels.url)
    assert TELEGRAM_TOKEN not in repr(bot)
    assert (await bot.get_me())["is_bot"] is True
    keyboard = inline_keyboard([("Approve", "ap:7"), ("Reject", "rj:7")])
    message = await bot.send_message(TELEGRAM_CHAT, "<b>Approve?</b>", reply_markup=keyboard)
    assert message["text"] == "Approve?" and message["reply_markup"] == keyboard
    channels.telegram.press(TELEGRAM_TOKEN, TELEGRAM_CHAT, message["message_id"], "rj:7", 99)
    updates = await bot.get_updates(timeout_s=1, allowed_updates=["callback_query"])
    query = updates[0]["callback_query"]
    assert (query["data"], query["from"]["id"]) == ("rj:7", 99)
    assert await bot.get_updates(offset=updates[0]["update_id"] + 1) == []
    assert await bot.answer_callback_query(query["id"], "Rejected") is True
    edited = await bot.edit_message_text(TELEGRAM_CHAT, message["message_id"], "Rejected by 99")
    assert edited["text"] == "Rejected by 99"
    await bot.edit_message_reply_markup(TELEGRAM_CHAT, message["message_id"], keyboard)
    cleared = await bot.edit_message_reply_markup(TELEGRAM_CHAT, message["message_id"], None)
    assert "reply_markup" not in cleared
    with pytest.raises(ValueError, match="64 bytes"):
        inline_keyboard([("x", "y" * 65)])


async def test_telegram_failures_map_to_busy_or_refused_without_the_token(
    channels: FakeChannels, http: httpx.AsyncClient
) -> None:
    bot = TelegramBot(TELEGRAM_TOKEN, http, api_base=channels.url)
    channels.telegram.fail_next(429, retry_after=7)
    with pytest.raises(ChannelBusyError) as flood:
        await bot.send_message(TELEGRAM_CHAT, "x")
    assert (flood.value.status, flood.value.retry_after_s) == (429, 7.0)
    channels.telegram.fail_next(502)
    with pytest.raises(ChannelBusyError) as gateway:
        await bot.send_message(TELEGRAM_CHAT, "x")
    with pytest.raises(ChannelRefusedError) as chat:
        await bot.send_message(1, "x")
    assert chat.value.status == 400 and "chat not found" in str(chat.value)
    with pytest.raises(ChannelRefusedError) as unauthorized:
        await TelegramBot("1:" + TELEGRAM_TOKEN.split(":")[1], http, channels.url).get_me()
    assert unauthorized.value.status == 401
    with pytest.raises(ChannelBusyError) as away:
        await TelegramBot(TELEGRAM_TOKEN, http, "http://127.0.0.1:9").get_me()
    secret = TELEGRAM_TOKEN.split(":")[1]
    for error in (flood, gateway, chat, unauthorized, away):
        assert secret not in str(error.value) and secret not in repr(error.value)


async def test_retry_waits_what_the_service_asked_for(
    channels: FakeChannels, http: httpx.AsyncClient
) -> None:
    bot = TelegramBot(TELEGRAM_TOKEN, http, api_base=channels.url)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    channels.telegram.fail_next(429, count=2, retry_after=4)
    message = await honouring_retry_after(
        lambda: bot.send_message(TELEGRAM_CHAT, "x"), attempts=3, sleep=sleep
    )
    assert message["message_id"] == 1 and waits == [4.0, 4.0]
    channels.telegram.fail_next(429, count=1, retry_after=120)
    with pytest.raises(ChannelBusyError):  # longer than a caller should wait: raised to schedule
        await honouring_retry_after(lambda: bot.send_message(TELEGRAM_CHAT, "x"), sleep=sleep)
    assert waits == [4.0, 4.0]
    # with the real clock: the second attempt is not made before retry_after has passed
    hook = DiscordWebhook(channels.discord.add_webhook("ops"), http)
    channels.discord.fail_next(429, retry_after=0.4)
    started = time.monotonic()
    answer = await honouring_retry_after(lambda: hook.send("x"))
    waited = time.monotonic() - started
    assert answer.message_id and waited >= 0.4
    print(f"discord retry after 0.4 s: sent after {waited:.3f} s")
