"""A local Telegram Bot API that answers the way ``api.telegram.org`` does.

Public paths (Telegram's): ``/bot<token>/<method>`` by GET or POST, parameters as a JSON body,
a form or the query string (``reply_markup`` as a JSON object or a JSON string); method names
are case-insensitive. Every answer is ``{"ok": true, "result": ...}`` or ``{"ok": false,
"error_code": N, "description": "...", "parameters": {...}}`` with the HTTP status
``error_code``. Methods: ``getMe``, ``sendMessage``, ``getUpdates`` (``offset``, ``limit``,
``timeout`` long polling, ``allowed_updates``; updates below ``offset`` are confirmed and
forgotten; a second ``getUpdates`` of the same bot ends the waiting one with 409 Conflict),
``answerCallbackQuery``, ``editMessageText``, ``editMessageReplyMarkup``. Telegram's refusals:

- an unknown token: 401 ``Unauthorized``; an unknown method: 404 ``Not Found``;
- ``Bad Request: chat not found``, ``Bad Request: message text is empty``, ``Bad Request:
  message is too long`` (over 4096 characters after entities are parsed), ``Bad Request:
  BUTTON_DATA_INVALID`` (``callback_data`` not 1 to 64 bytes), ``Bad Request: can't parse
  entities: ...`` (``parse_mode`` HTML with a tag Telegram does not know or one left open),
  ``Bad Request: message to edit not found``, ``Bad Request: message is not modified: ...``,
  ``Bad Request: query is too old and response timeout expired or query ID is invalid``;
- flood control: 429 ``Too Many Requests: retry after N`` with ``parameters.retry_after``.

Test controls live under ``/_fake/telegram/`` (never on Telegram's paths): ``POST bots``
``{"token", "username"}``, ``POST chats`` ``{"token", "chat_id", "type", "title"}``,
``GET messages?token=`` (what the bot sent, as it stands after edits), ``GET answers``
(callback answers), ``POST press`` ``{"token", "chat_id", "message_id", "data", "user_id",
"username", "strict"}`` queues a ``callback_query`` update as if that user pressed the button
(``strict`` false: any data, as a modified client can send), ``POST fail`` ``{"status": 429|5xx,
"count": N, "retry_after": s, "method": optional}``, ``POST reset``. The same controls are
methods of `FakeTelegram`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_POLL_TIMEOUT_S = 50.0
# The HTML tags Telegram's parse_mode HTML knows.
HTML_TAGS = frozenset(
    (
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    )
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class Bot:
    token: str
    id: int
    username: str
    updates: deque[dict[str, Any]] = field(default_factory=deque)
    next_update_id: int = 100_000_001
    poll_generation: int = 0


@dataclass
class Sent:
    """A message a bot sent, as it stands now (edits applied); ``edits`` counts the edits."""

    token: str
    chat_id: int | str
    message: dict[str, Any]
    parse_mode: str | None
    edits: int = 0


@dataclass
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool


@dataclass
class _Failure:
    status: int
    count: int
    retry_after: int
    method: str | None


@dataclass
class FakeTelegram:
    """The state behind the fake: bots, chats, sent messages, pending updates."""

    callback_ttl_s: float = 15.0
    bots: dict[str, Bot] = field(default_factory=dict)
    chats: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    answers: list[CallbackAnswer] = field(default_factory=list)
    _queries: dict[str, tuple[str, float, bool]] = field(default_factory=dict)
    _failures: deque[_Failure] = field(default_factory=deque)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _message_ids: dict[str, itertools.count[int]] = field(default_factory=dict)
    _query_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(4_611_686_018))

    # ---- controls --------------------------------------------------------------------------

    def add_bot(self, token: str, username: str = "yquant_test_bot") -> Bot:
        """A bot with ``token`` (Telegram's form: ``<bot id>:<secret>``)."""
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 7_000_000
        with self._lock:
            bot = Bot(token, bot_id, username)
            self.bots[token] = bot
        return bot

    def add_chat(self, chat_id: int | str, *, type: str = "private", title: str = "yQuant") -> None:
        chat: dict[str, Any] = {"id": _chat_key(chat_id), "type": type}
        if type == "private":
            chat["first_name"] = title
        else:
            chat["title"] = title
        with self._lock:
            self.chats[str(chat_id)] = chat

    def fail_next(
        self, status: int, count: int = 1, retry_after: int = 1, method: str | None = None
    ) -> None:
        with self._lock:
            self._failures.append(
                _Failure(status, count, retry_after, method.lower() if method else None)
            )

    def messages(self, token: str | None = None) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if token is None or s.token == token]

    def press(
        self,
        token: str,
        chat_id: int | str,
        message_id: int,
        data: str,
        user_id: int,
        *,
        username: str | None = None,
        strict: bool = True,
    ) -> dict[str, Any]:
        """Queue the update a press of the button with ``data`` by ``user_id`` makes; the update.
        ``strict``: the message must carry such a button (a real client can only press those)."""
        with self._lock:
            bot = self.bots[token]
            sent = self._find(token, chat_id, message_id)
            if sent is None:
                raise ValueError("no such message")
            if strict and data not in _button_data(sent.message.get("reply_markup")):
                raise ValueError("the message has no button with that callback_data")
            query_id = str(next(self._query_ids))
            user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
            if username:
                user["username"] = username
            update = {
                "update_id": bot.next_update_id,
                "callback_query": {
                    "id": query_id,
                    "from": user,
                    "message": json.loads(json.dumps(sent.message)),
                    "chat_instance": str(abs(hash((token, str(chat_id)))) % 10**19),
                    "data": data,
                },
            }
            bot.next_update_id += 1
            bot.updates.append(update)
            self._queries[query_id] = (token, time.monotonic(), False)
        return update

    def callback_answers(self) -> list[CallbackAnswer]:
        with self._lock:
            return list(self.answers)

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self.answers.clear()
            self._failures.clear()
            self._queries.clear()
            self._message_ids.clear()
            for bot in self.bots.values():
                bot.updates.clear()

    # ---- the API -----------------------------------------------------------------------------

    async def call(self, token: str, method: str, params: dict[str, Any]) -> Any:
        """One API call: its ``result``, or ApiError with Telegram's code and description."""
        name = method.lower()
        with self._lock:
            bot = self.bots.get(token)
            if bot is None:
                raise ApiError(401, "Unauthorized")
            handler = _METHODS.get(name)
            if handler is None:
                raise ApiError(404, "Not Found")
            failure = self._take_failure(name)
            if failure is not None:
                if failure.status == 429:
                    raise ApiError(
                        429,
                        f"Too Many Requests: retry after {failure.retry_after}",
                        {"retry_after": failure.retry_after},
                    )
                raise ApiError(failure.status, _server_error(failure.status))
            if name != "getupdates":
                return getattr(self, handler)(bot, params)
        return await self.get_updates(bot, params)

    def _take_failure(self, method: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method in (None, method):
                failure.count -= 1
                if failure.count <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def get_me(self, bot: Bot, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": bot.id,
            "is_bot": True,
            "first_name": bot.username,
            "username": bot.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def send_message(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        text = str(params.get("text") or "")
        parse_mode = params.get("parse_mode")
        shown = _shown_text(text, parse_mode)
        markup = _markup(params.get("reply_markup"))
        key = str(chat["id"])
        counter = self._message_ids.setdefault(f"{bot.token}|{key}", itertools.count(1))
        message: dict[str, Any] = {
            "message_id": next(counter),
            "from": {
                "id": bot.id,
                "is_bot": True,
                "first_name": bot.username,
                "username": bot.username,
            },
            "chat": chat,
            "date": int(time.time()),
            "text": shown,
        }
        if markup is not None:
            message["reply_markup"] = markup
        self.sent.append(Sent(bot.token, chat["id"], message, parse_mode))
        return message

    def edit_text(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        sent = self._edited(bot, params)
        text = _shown_text(str(params.get("text") or ""), params.get("parse_mode"))
        markup = _markup(params.get("reply_markup"))
        if text == sent.message["text"] and markup == sent.message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        sent.message["text"] = text
        _set_markup(sent.message, markup)
        sent.message["edit_date"] = int(time.time())
        sent.edits += 1
        return sent.message

    def edit_markup(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        sent = self._edited(bot, params)
        markup = _markup(params.get("reply_markup"))
        if markup == sent.message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        _set_markup(sent.message, markup)
        sent.message["edit_date"] = int(time.time())
        sent.edits += 1
        return sent.message

    def answer_callback(self, bot: Bot, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if not query_id:
            raise ApiError(400, "Bad Request: query_id is empty")
        known = self._queries.get(query_id)
        if (
            known is None
            or known[0] != bot.token
            or known[2]
            or time.monotonic() - known[1] > self.callback_ttl_s
        ):
            raise ApiError(400, QUERY_TOO_OLD)
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._queries[query_id] = (known[0], known[1], True)
        self.answers.append(
            CallbackAnswer(
                query_id, None if text is None else str(text), _flag(params.get("show_alert"))
            )
        )
        return True

    async def get_updates(self, bot: Bot, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            offset = int(params.get("offset") or 0)
            limit = min(max(int(params.get("limit") or 100), 1), 100)
            timeout = min(max(float(params.get("timeout") or 0), 0.0), MAX_POLL_TIMEOUT_S)
        except ValueError as exc:
            raise ApiError(400, "Bad Request: invalid parameters") from exc
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        with self._lock:
            bot.poll_generation += 1
            generation = bot.poll_generation
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if bot.poll_generation != generation:
                    raise ApiError(409, CONFLICT)
                updates = self._pending(bot, offset, allowed)
                if updates or time.monotonic() >= deadline:
                    return updates[:limit]
            await asyncio.sleep(0.02)

    def _pending(self, bot: Bot, offset: int, allowed: list[str] | None) -> list[dict[str, Any]]:
        if offset > 0:
            while bot.updates and bot.updates[0]["update_id"] < offset:
                bot.updates.popleft()
            updates = list(bot.updates)
        elif offset < 0:
            updates = list(bot.updates)[offset:]
        else:
            updates = list(bot.updates)
        if allowed:
            updates = [u for u in updates if any(k in u for k in allowed)]
        return updates

    # ---- helpers -----------------------------------------------------------------------------

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id is None or str(chat_id) == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat = self.chats.get(str(chat_id))
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return dict(chat)

    def _edited(self, bot: Bot, params: dict[str, Any]) -> Sent:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat = self._chat(params)
        try:
            message_id = int(params.get("message_id") or 0)
        except ValueError as exc:
            raise ApiError(400, "Bad Request: message identifier is not specified") from exc
        if not message_id:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        sent = self._find(bot.token, chat["id"], message_id)
        if sent is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return sent

    def _find(self, token: str, chat_id: int | str, message_id: int) -> Sent | None:
        for sent in self.sent:
            if (
                sent.token == token
                and str(sent.chat_id) == str(chat_id)
                and sent.message["message_id"] == int(message_id)
            ):
                return sent
        return None


_METHODS = {
    "getme": "get_me",
    "sendmessage": "send_message",
    "editmessagetext": "edit_text",
    "editmessagereplymarkup": "edit_markup",
    "answercallbackquery": "answer_callback",
    "getupdates": "get_updates",
}


def _chat_key(chat_id: int | str) -> int | str:
    text = str(chat_id)
    return int(text) if text.lstrip("-").isdigit() else text


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _server_error(status: int) -> str:
    return {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(
        status, "Internal Server Error"
    )


def _markup(value: Any) -> dict[str, Any] | None:
    """``reply_markup`` as Telegram reads it (an object, or a JSON string in a form)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ApiError(
                400, "Bad Request: can't parse reply keyboard markup JSON object"
            ) from exc
    if not isinstance(value, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = value.get("inline_keyboard")
    if rows is None:
        return value
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ApiError(
            400,
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an '
            "Array of Arrays",
        )
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text") or ""):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: Text buttons are "
                    "unallowed in the inline keyboard",
                )
            if "callback_data" in button:
                size = len(str(button["callback_data"]).encode())
                if size < 1 or size > MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    if not any(rows):
        return None  # an empty keyboard removes the buttons
    return value


def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup


def _button_data(markup: dict[str, Any] | None) -> set[str]:
    rows = (markup or {}).get("inline_keyboard") or []
    return {str(b["callback_data"]) for row in rows for b in row if "callback_data" in b}


def _shown_text(text: str, parse_mode: Any) -> str:
    """The text as the chat shows it (entities parsed), checked against Telegram's limits."""
    shown = text
    if parse_mode is not None and str(parse_mode).upper() == "HTML":
        shown = _parse_html(text)
    if not shown.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(shown) > MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")
    return shown


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[str] = []
        self.problem: str | None = None

    def _offset(self) -> int:
        return self.getpos()[1]  # the column: Telegram counts bytes, close enough for a test

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS and self.problem is None:
            self.problem = f'Unsupported start tag "{tag}" at byte offset {self._offset()}'
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if (not self.open or self.open[-1] != tag) and self.problem is None:
            self.problem = f"Unexpected end tag at byte offset {self._offset()}"
        elif self.open:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse_html(text: str) -> str:
    # A bare "<" or "&" that is not an entity is refused by Telegram the same way.
    for i, char in enumerate(text):
        if char == "<" and (
            i + 1 >= len(text) or not (text[i + 1].isalpha() or text[i + 1] == "/")
        ):
            raise ApiError(
                400,
                'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset '
                f"{len(text[:i].encode())}",
            )
    parser = _Html()
    parser.feed(text)
    parser.close()
    if parser.problem is None and parser.open:
        parser.problem = f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"'
    if parser.problem is not None:
        raise ApiError(400, f"Bad Request: can't parse entities: {parser.problem}")
    return "".join(parser.text)


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            raw = await request.body()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise ApiError(400, "Bad Request: can't parse JSON") from exc
                if isinstance(body, dict):
                    params.update(body)
        elif kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def build_app(fake: FakeTelegram) -> Starlette:
    """The fake's routes: Telegram's ``/bot<token>/<method>`` and the controls."""
    return Starlette(routes=routes(fake))


def routes(fake: FakeTelegram) -> list[Route]:
    async def api(request: Request) -> Response:
        try:
            params = await _params(request)
            result = await fake.call(
                request.path_params["token"], request.path_params["method"], params
            )
        except ApiError as exc:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.code,
                "description": exc.description,
            }
            if exc.parameters:
                body["parameters"] = exc.parameters
            return JSONResponse(body, status_code=exc.code)
        return JSONResponse({"ok": True, "result": result})

    async def add_bot(request: Request) -> Response:
        body = await request.json()
        bot = fake.add_bot(str(body["token"]), str(body.get("username", "yquant_test_bot")))
        return JSONResponse({"id": bot.id, "username": bot.username})

    async def add_chat(request: Request) -> Response:
        body = await request.json()
        fake.add_chat(
            body["chat_id"],
            type=str(body.get("type", "private")),
            title=str(body.get("title", "yQuant")),
        )
        return JSONResponse({"ok": True})

    async def messages(request: Request) -> Response:
        token = request.query_params.get("token")
        return JSONResponse(
            {
                "messages": [
                    {
                        "chat_id": s.chat_id,
                        "message": s.message,
                        "parse_mode": s.parse_mode,
                        "edits": s.edits,
                    }
                    for s in fake.messages(token)
                ]
            }
        )

    async def answers(_: Request) -> Response:
        rows = [a.__dict__ for a in fake.callback_answers()]
        return JSONResponse({"answers": rows})

    async def press(request: Request) -> Response:
        body = await request.json()
        try:
            update = fake.press(
                str(body["token"]),
                body["chat_id"],
                int(body["message_id"]),
                str(body["data"]),
                int(body["user_id"]),
                username=body.get("username"),
                strict=bool(body.get("strict", True)),
            )
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"update": update})

    async def fail(request: Request) -> Response:
        body = await request.json()
        fake.fail_next(
            int(body["status"]),
            int(body.get("count", 1)),
            int(body.get("retry_after", 1)),
            body.get("method"),
        )
        return JSONResponse({"ok": True})

    async def reset(_: Request) -> Response:
        fake.reset()
        return JSONResponse({"ok": True})

    return [
        Route("/bot{token}/{method}", api, methods=["GET", "POST"]),
        Route("/_fake/telegram/bots", add_bot, methods=["POST"]),
        Route("/_fake/telegram/chats", add_chat, methods=["POST"]),
        Route("/_fake/telegram/messages", messages, methods=["GET"]),
        Route("/_fake/telegram/answers", answers, methods=["GET"]),
        Route("/_fake/telegram/press", press, methods=["POST"]),
        Route("/_fake/telegram/fail", fail, methods=["POST"]),
        Route("/_fake/telegram/reset", reset, methods=["POST"]),
    ]
