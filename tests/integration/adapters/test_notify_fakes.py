"""The fake Discord and Telegram answer the documented wire format (plain httpx, not our
clients): what a request to the real services gets back, a fake gets back."""

from __future__ import annotations

import threading
import time

import httpx

from tests.fixtures.notify import TELEGRAM_CHAT, TELEGRAM_TOKEN
from yquant.adapters.notify.fake_server import FakeChannels

# ---- Discord ---------------------------------------------------------------------------------


def test_discord_webhook_answers_204_or_the_message_with_wait(channels: FakeChannels) -> None:
    url = channels.discord.add_webhook("ops")
    assert "/api/webhooks/" in url
    plain = httpx.post(url, json={"content": "hello"})
    assert plain.status_code == 204 and plain.content == b""
    waited = httpx.post(
        url, params={"wait": "true"}, json={"embeds": [{"title": "t", "description": "d"}]}
    )
    assert waited.status_code == 200
    message = waited.json()
    assert message["webhook_id"] == url.split("/")[-2]
    assert message["embeds"][0]["title"] == "t" and message["embeds"][0]["type"] == "rich"
    assert int(message["id"]) > 0 and message["author"]["bot"] is True
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset-After"):
        assert header in waited.headers
    assert [m.body.get("content") for m in channels.discord.messages("ops")] == ["hello", None]


def test_discord_refuses_what_discord_refuses(channels: FakeChannels) -> None:
    url = channels.discord.add_webhook("ops")
    empty = httpx.post(url, json={"content": ""})
    assert (empty.status_code, empty.json()) == (
        400,
        {"message": "Cannot send an empty message", "code": 50006},
    )
    bad_json = httpx.post(url, content=b"{", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["code"] == 50109
    a_list = httpx.post(url, json=["content"])
    assert a_list.status_code == 400 and a_list.json()["code"] == 50109
    title = httpx.post(url, json={"embeds": [{"title": "x" * 257}]})
    assert title.status_code == 400
    assert title.json()["code"] == 50035
    assert title.json()["errors"]["embeds"]["0"]["title"]["_errors"][0] == {
        "code": "BASE_TYPE_MAX_LENGTH",
        "message": "Must be 256 or fewer in length.",
    }
    description = httpx.post(url, json={"embeds": [{"description": "x" * 4097}]})
    assert description.json()["errors"]["embeds"]["0"]["description"]["_errors"][0]["message"] == (
        "Must be 4096 or fewer in length."
    )
    eleven = httpx.post(url, json={"embeds": [{"title": "a"}] * 11})
    assert eleven.json()["errors"]["embeds"]["_errors"][0]["message"] == (
        "Must be 10 or fewer in length."
    )
    big = httpx.post(
        url, json={"embeds": [{"description": "x" * 4000}, {"description": "y" * 2001}]}
    )
    assert big.status_code == 400
    assert "6000" in big.json()["errors"]["embeds"]["_errors"][0]["message"]
    exactly = httpx.post(
        url, json={"embeds": [{"description": "x" * 4000}, {"description": "y" * 2000}]}
    )
    assert exactly.status_code == 204
    assert len(channels.discord.messages()) == 1


def test_discord_unknown_webhook_and_wrong_token(channels: FakeChannels) -> None:
    url = channels.discord.add_webhook("ops")
    wrong_token = url[: url.rfind("/")] + "/not-the-token"
    for target in (wrong_token, f"{channels.url}/api/webhooks/1/abc"):
        answer = httpx.post(target, json={"content": "x"})
        assert (answer.status_code, answer.json()) == (
            404,
            {"message": "Unknown Webhook", "code": 10015},
        )
    assert channels.discord.messages() == []


def test_discord_rate_limit_answers_429_with_retry_after(channels: FakeChannels) -> None:
    channels.discord.rate_limit = 2
    url = channels.discord.add_webhook("ops")
    assert [httpx.post(url, json={"content": "x"}).status_code for _ in range(2)] == [204, 204]
    limited = httpx.post(url, json={"content": "x"})
    assert limited.status_code == 429
    body = limited.json()
    assert body["message"] == "You are being rate limited." and body["global"] is False
    assert 0 < body["retry_after"] <= channels.discord.rate_window_s
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Scope"] == "user"
    time.sleep(body["retry_after"])
    assert httpx.post(url, json={"content": "x"}).status_code == 204


def test_discord_controls_force_429_and_5xx_on_a_separate_path(channels: FakeChannels) -> None:
    url = channels.discord.add_webhook("ops")
    httpx.post(
        f"{channels.url}/_fake/discord/fail", json={"status": 429, "count": 1, "retry_after": 2.5}
    )
    httpx.post(f"{channels.url}/_fake/discord/fail", json={"status": 503, "count": 2})
    first = httpx.post(url, json={"content": "x"})
    assert first.status_code == 429 and first.json()["retry_after"] == 2.5
    assert [httpx.post(url, json={"content": "x"}).status_code for _ in range(3)] == [503, 503, 204]
    listed = httpx.get(f"{channels.url}/_fake/discord/messages").json()["messages"]
    assert [m["body"]["content"] for m in listed] == ["x"]
    made = httpx.post(f"{channels.url}/_fake/discord/webhooks", json={"name": "alerts"}).json()
    assert httpx.post(made["url"], json={"content": "y"}).status_code == 204


# ---- Telegram --------------------------------------------------------------------------------


def _api(channels: FakeChannels, method: str, token: str = TELEGRAM_TOKEN) -> str:
    return f"{channels.url}/bot{token}/{method}"


def test_telegram_get_me_and_send_message(channels: FakeChannels) -> None:
    me = httpx.get(_api(channels, "getMe")).json()
    assert me["ok"] is True and me["result"]["is_bot"] is True
    assert me["result"]["id"] == int(TELEGRAM_TOKEN.split(":")[0])
    sent = httpx.post(
        _api(channels, "sendMessage"),
        json={
            "chat_id": TELEGRAM_CHAT,
            "text": "<b>filled</b> 10 &amp; more",
            "parse_mode": "HTML",
        },
    ).json()
    assert sent["ok"] is True
    message = sent["result"]
    assert message["text"] == "filled 10 & more"
    assert message["chat"] == {"id": TELEGRAM_CHAT, "type": "private", "first_name": "operator"}
    assert message["message_id"] == 1 and message["from"]["is_bot"] is True
    # a form body and a case-insensitive method name work as on Telegram
    form = httpx.post(
        _api(channels, "SENDMESSAGE"), data={"chat_id": str(TELEGRAM_CHAT), "text": "x"}
    )
    assert form.json()["result"]["message_id"] == 2


def test_telegram_refusals_in_telegrams_words(channels: FakeChannels) -> None:
    def post(method: str, token: str = TELEGRAM_TOKEN, **body: object) -> httpx.Response:
        return httpx.post(_api(channels, method, token), json=body)

    bad = post("getMe", token="1:wrong")
    assert (bad.status_code, bad.json()) == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert post("noSuchMethod").json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found",
    }
    cases = [
        ({"chat_id": 1, "text": "x"}, "Bad Request: chat not found"),
        ({"chat_id": TELEGRAM_CHAT, "text": ""}, "Bad Request: message text is empty"),
        ({"chat_id": TELEGRAM_CHAT, "text": "x" * 4097}, "Bad Request: message is too long"),
        (
            {
                "chat_id": TELEGRAM_CHAT,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"text": "ok", "callback_data": "d" * 65}]]},
            },
            "Bad Request: BUTTON_DATA_INVALID",
        ),
    ]
    for body, description in cases:
        answer = post("sendMessage", **body)
        assert answer.status_code == 400
        assert answer.json() == {"ok": False, "error_code": 400, "description": description}
    unclosed = post("sendMessage", chat_id=TELEGRAM_CHAT, text="<b>x", parse_mode="HTML")
    assert unclosed.json()["description"].startswith("Bad Request: can't parse entities")
    raw_lt = post("sendMessage", chat_id=TELEGRAM_CHAT, text="a < b", parse_mode="HTML")
    assert raw_lt.json()["description"].startswith("Bad Request: can't parse entities")
    assert post("sendMessage", chat_id=TELEGRAM_CHAT, text="x" * 4096).json()["ok"] is True
    assert len(channels.telegram.messages()) == 1


def test_telegram_flood_control_and_server_errors(channels: FakeChannels) -> None:
    httpx.post(
        f"{channels.url}/_fake/telegram/fail",
        json={"status": 429, "count": 1, "retry_after": 7, "method": "sendMessage"},
    )
    httpx.post(
        f"{channels.url}/_fake/telegram/fail",
        json={"status": 502, "count": 1, "method": "sendmessage"},
    )
    assert httpx.get(_api(channels, "getMe")).json()["ok"] is True  # only sendMessage fails 429
    limited = httpx.post(
        _api(channels, "sendMessage"), json={"chat_id": TELEGRAM_CHAT, "text": "x"}
    )
    assert limited.status_code == 429
    assert limited.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    gateway = httpx.post(
        _api(channels, "sendMessage"), json={"chat_id": TELEGRAM_CHAT, "text": "x"}
    )
    assert gateway.status_code == 502 and gateway.json()["error_code"] == 502
    fine = httpx.post(_api(channels, "sendMessage"), json={"chat_id": TELEGRAM_CHAT, "text": "x"})
    assert fine.json()["ok"] is True


def test_telegram_buttons_press_long_poll_answer_and_edit(channels: FakeChannels) -> None:
    keyboard = {
        "inline_keyboard": [
            [
                {"text": "Approve", "callback_data": "ap:1"},
                {"text": "Reject", "callback_data": "rj:1"},
            ]
        ]
    }
    message = httpx.post(
        _api(channels, "sendMessage"),
        json={"chat_id": TELEGRAM_CHAT, "text": "approve?", "reply_markup": keyboard},
    ).json()["result"]
    assert message["reply_markup"] == keyboard
    polled: list[httpx.Response] = []

    def poll() -> None:
        polled.append(httpx.post(_api(channels, "getUpdates"), json={"timeout": 10}, timeout=20))

    waiting = threading.Thread(target=poll)
    waiting.start()
    time.sleep(0.3)  # the poll is waiting: the press must reach it, not a later call
    assert not polled
    pressed = httpx.post(
        f"{channels.url}/_fake/telegram/press",
        json={
            "token": TELEGRAM_TOKEN,
            "chat_id": TELEGRAM_CHAT,
            "message_id": message["message_id"],
            "data": "ap:1",
            "user_id": 555,
            "username": "trader",
        },
    )
    assert pressed.status_code == 200
    waiting.join(timeout=20)
    updates = polled[0].json()["result"]
    assert len(updates) == 1
    query = updates[0]["callback_query"]
    assert query["data"] == "ap:1" and query["from"]["id"] == 555
    assert query["message"]["message_id"] == message["message_id"]
    # the same updates come again until confirmed by a higher offset
    again = httpx.post(_api(channels, "getUpdates"), json={"timeout": 0}).json()["result"]
    assert [u["update_id"] for u in again] == [updates[0]["update_id"]]
    after = httpx.post(
        _api(channels, "getUpdates"), json={"offset": updates[0]["update_id"] + 1, "timeout": 0}
    ).json()["result"]
    assert after == []
    answered = httpx.post(
        _api(channels, "answerCallbackQuery"),
        json={"callback_query_id": query["id"], "text": "Approved"},
    ).json()
    assert answered == {"ok": True, "result": True}
    twice = httpx.post(
        _api(channels, "answerCallbackQuery"), json={"callback_query_id": query["id"]}
    )
    assert twice.json()["description"].startswith("Bad Request: query is too old")
    assert (
        httpx.get(f"{channels.url}/_fake/telegram/answers").json()["answers"][0]["text"]
        == "Approved"
    )
    edited = httpx.post(
        _api(channels, "editMessageText"),
        json={
            "chat_id": TELEGRAM_CHAT,
            "message_id": message["message_id"],
            "text": "approved by trader",
        },
    ).json()["result"]
    assert edited["text"] == "approved by trader" and "reply_markup" not in edited
    same = httpx.post(
        _api(channels, "editMessageText"),
        json={
            "chat_id": TELEGRAM_CHAT,
            "message_id": message["message_id"],
            "text": "approved by trader",
        },
    ).json()
    assert same["description"].startswith("Bad Request: message is not modified")
    missing = httpx.post(
        _api(channels, "editMessageReplyMarkup"),
        json={"chat_id": TELEGRAM_CHAT, "message_id": 99, "reply_markup": keyboard},
    ).json()
    assert missing["description"] == "Bad Request: message to edit not found"
    buttons = httpx.post(
        _api(channels, "editMessageReplyMarkup"),
        json={
            "chat_id": TELEGRAM_CHAT,
            "message_id": message["message_id"],
            "reply_markup": keyboard,
        },
    ).json()["result"]
    assert buttons["reply_markup"] == keyboard
    # a press of a button that is not on the message is refused by the control unless forged
    no_button = httpx.post(
        f"{channels.url}/_fake/telegram/press",
        json={
            "token": TELEGRAM_TOKEN,
            "chat_id": TELEGRAM_CHAT,
            "message_id": 1,
            "data": "zz",
            "user_id": 1,
        },
    )
    assert no_button.status_code == 400


def test_telegram_second_poller_ends_the_first_with_409(channels: FakeChannels) -> None:
    first: list[httpx.Response] = []
    waiting = threading.Thread(
        target=lambda: first.append(
            httpx.post(_api(channels, "getUpdates"), json={"timeout": 10}, timeout=20)
        )
    )
    waiting.start()
    time.sleep(0.3)
    second = httpx.post(_api(channels, "getUpdates"), json={"timeout": 0})
    waiting.join(timeout=20)
    assert second.json() == {"ok": True, "result": []}
    assert first[0].status_code == 409
    assert first[0].json()["description"].startswith("Conflict: terminated by other getUpdates")
