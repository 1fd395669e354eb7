"""A local Discord that takes webhook messages the way Discord does.

Public paths (Discord's): ``POST /api/webhooks/{id}/{token}`` and ``/api/v10/webhooks/...``,
JSON body with ``content`` and/or ``embeds`` (plus ``username``, ``avatar_url``,
``allowed_mentions``, ``tts`` taken and ignored). Query ``wait=true``: 200 with the message
object; otherwise 204 with no body. Discord's answers:

- an unknown webhook id or a wrong token: 404 ``{"message": "Unknown Webhook", "code": 10015}``;
- a body that is not JSON: 400 ``{"message": "The request body contains invalid JSON.",
  "code": 50109}``; no content and no embeds: 400 ``{"message": "Cannot send an empty message",
  "code": 50006}``;
- limits (content 2000, 10 embeds, title 256, description 4096, 25 fields, field name 256 and
  value 1024, footer 2048, author name 256, 6000 characters over all embeds): 400 ``{"message":
  "Invalid Form Body", "code": 50035, "errors": {...}}`` with Discord's nested ``_errors``;
- more than ``rate_limit`` messages per webhook within ``rate_window_s``: 429 ``{"message": "You
  are being rate limited.", "retry_after": <seconds>, "global": false}`` with ``Retry-After``
  and the ``X-RateLimit-*`` headers (every answer carries ``X-RateLimit-Limit``, ``-Remaining``,
  ``-Reset``, ``-Reset-After`` and ``-Bucket``, as Discord's do).

Test controls live under ``/_fake/discord/`` (never on Discord's paths): ``POST webhooks``
``{"name": ...}`` makes a webhook and answers its URL; ``GET messages`` lists what was taken;
``POST fail`` ``{"status": 429|5xx, "count": N, "retry_after": s}`` answers the next N webhook
calls with that status; ``POST reset`` forgets messages and failures. The same controls are
methods of `FakeDiscord` for tests that run it in-process.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

EMBED_LIMITS = {"title": 256, "description": 4096}
FIELD_LIMITS = {"name": 256, "value": 1024}
MAX_EMBEDS = 10
MAX_FIELDS = 25
MAX_CONTENT = 2000
MAX_EMBED_TOTAL = 6000
_EPOCH_MS = 1_420_070_400_000  # Discord's snowflake epoch (2015-01-01)


@dataclass
class Webhook:
    id: str
    token: str
    name: str
    channel_id: str


@dataclass
class Received:
    """One message a webhook took: its body as sent, and the message object answered."""

    webhook: str  # the webhook's name
    body: dict[str, Any]
    wait: bool
    message: dict[str, Any]
    at: float


@dataclass
class _Failure:
    status: int
    count: int
    retry_after: float


@dataclass
class FakeDiscord:
    """The state behind the fake: webhooks, received messages, the rate-limit windows."""

    rate_limit: int = 5
    rate_window_s: float = 2.0
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    base_url: str = ""  # set by the server once it knows its port
    _calls: dict[str, deque[float]] = field(default_factory=dict)
    _failures: deque[_Failure] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: int = 0

    # ---- controls --------------------------------------------------------------------------

    def add_webhook(self, name: str = "ops") -> str:
        """Make a webhook; its URL (under ``base_url``)."""
        with self._lock:
            self._ids += 1
            hook_id = str(_snowflake(self._ids))
            token = hashlib.sha256(f"{name}:{hook_id}".encode()).hexdigest()[:68]
            self.webhooks[hook_id] = Webhook(hook_id, token, name, str(_snowflake(self._ids + 500)))
        return f"{self.base_url}/api/webhooks/{hook_id}/{token}"

    def fail_next(self, status: int, count: int = 1, retry_after: float = 1.0) -> None:
        with self._lock:
            self._failures.append(_Failure(status, count, retry_after))

    def messages(self, webhook: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if webhook is None or r.webhook == webhook]

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self._failures.clear()
            self._calls.clear()

    # ---- the webhook -----------------------------------------------------------------------

    def execute(
        self, hook_id: str, token: str, raw: bytes, wait: bool
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        """One webhook call: (status, JSON body or None, headers)."""
        now = time.time()
        with self._lock:
            hook = self.webhooks.get(hook_id)
            if hook is None or hook.token != token:
                return 404, {"message": "Unknown Webhook", "code": 10015}, {}
            forced = self._take_failure()
            calls = self._calls.setdefault(hook_id, deque())
            while calls and calls[0] <= now - self.rate_window_s:
                calls.popleft()
            reset_after = (calls[0] + self.rate_window_s - now) if calls else self.rate_window_s
            if forced is not None and forced.status != 429:
                return forced.status, {"message": f"{forced.status}: Server Error", "code": 0}, {}
            if forced is not None or len(calls) >= self.rate_limit:
                retry = forced.retry_after if forced is not None else reset_after
                return 429, _rate_limited(retry), self._limit_headers(hook, 0, retry, now, True)
            try:
                body = _json(raw)
            except (ValueError, TypeError):
                return (
                    400,
                    {"message": "The request body contains invalid JSON.", "code": 50109},
                    {},
                )
            problem = _check(body)
            if problem is not None:
                return 400, problem, {}
            calls.append(now)
            remaining = self.rate_limit - len(calls)
            headers = self._limit_headers(hook, remaining, reset_after, now, False)
            self._ids += 1
            message = _message(hook, body, self._ids, now)
            self.received.append(Received(hook.name, body, wait, message, now))
        return (200, message, headers) if wait else (204, None, headers)

    def _take_failure(self) -> _Failure | None:
        if not self._failures:
            return None
        failure = self._failures[0]
        failure.count -= 1
        if failure.count <= 0:
            self._failures.popleft()
        return failure

    def _limit_headers(
        self, hook: Webhook, remaining: int, reset_after: float, now: float, limited: bool
    ) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": f"{now + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha256(hook.id.encode()).hexdigest()[:32],
        }
        if limited:
            headers["Retry-After"] = str(max(math.ceil(reset_after), 1))
            headers["X-RateLimit-Scope"] = "user"
        return headers


def build_app(fake: FakeDiscord) -> Starlette:
    """The fake's routes: Discord's webhook paths and the ``/_fake/discord/`` controls."""
    return Starlette(routes=routes(fake))


def routes(fake: FakeDiscord) -> list[Route]:
    async def execute(request: Request) -> Response:
        wait = request.query_params.get("wait", "false").lower() == "true"
        status, body, headers = fake.execute(
            request.path_params["id"], request.path_params["token"], await request.body(), wait
        )
        if body is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    async def add_webhook(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        return JSONResponse({"url": fake.add_webhook(str(body.get("name", "ops")))})

    async def messages(request: Request) -> Response:
        name = request.query_params.get("webhook")
        return JSONResponse(
            {
                "messages": [
                    {"webhook": r.webhook, "body": r.body, "wait": r.wait, "id": r.message["id"]}
                    for r in fake.messages(name)
                ]
            }
        )

    async def fail(request: Request) -> Response:
        body = await request.json()
        fake.fail_next(
            int(body["status"]), int(body.get("count", 1)), float(body.get("retry_after", 1.0))
        )
        return JSONResponse({"ok": True})

    async def reset(_: Request) -> Response:
        fake.reset()
        return JSONResponse({"ok": True})

    return [
        Route("/api/webhooks/{id}/{token}", execute, methods=["POST"]),
        Route("/api/v{version:int}/webhooks/{id}/{token}", execute, methods=["POST"]),
        Route("/_fake/discord/webhooks", add_webhook, methods=["POST"]),
        Route("/_fake/discord/messages", messages, methods=["GET"]),
        Route("/_fake/discord/fail", fail, methods=["POST"]),
        Route("/_fake/discord/reset", reset, methods=["POST"]),
    ]


# ---- Discord's checks -------------------------------------------------------------------------


def _json(raw: bytes) -> dict[str, Any]:
    body = json.loads(raw or b"null")
    if not isinstance(body, dict):
        raise TypeError("not an object")
    return body


def _too_long(limit: int) -> dict[str, Any]:
    return {
        "_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}
        ]
    }


def _invalid(errors: dict[str, Any]) -> dict[str, Any]:
    return {"message": "Invalid Form Body", "code": 50035, "errors": errors}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


def _check(body: dict[str, Any]) -> dict[str, Any] | None:
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    if not isinstance(content, str) or not isinstance(embeds, list):
        key = "content" if not isinstance(content, str) else "embeds"
        return _invalid({key: _error("BASE_TYPE_BAD_TYPE", "Value is of the wrong type.")})
    if not content.strip() and not embeds:
        return {"message": "Cannot send an empty message", "code": 50006}
    if len(content) > MAX_CONTENT:
        return _invalid({"content": _too_long(MAX_CONTENT)})
    if len(embeds) > MAX_EMBEDS:
        return _invalid({"embeds": _too_long(MAX_EMBEDS)})
    errors: dict[str, Any] = {}
    total = 0
    for i, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            errors[str(i)] = _error(
                "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"
            )
            continue
        mine, size = _check_embed(embed)
        total += size
        if mine:
            errors[str(i)] = mine
    if errors:
        return _invalid({"embeds": errors})
    if total > MAX_EMBED_TOTAL:
        message = f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"
        return _invalid({"embeds": _error("MAX_EMBED_SIZE_EXCEEDED", message)})
    return None


def _check_embed(embed: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """One embed's errors, and the characters it counts towards the 6000 of a message."""
    mine: dict[str, Any] = {}
    total = 0
    for key, limit in EMBED_LIMITS.items():
        text = str(embed.get(key) or "")
        total += len(text)
        if len(text) > limit:
            mine[key] = _too_long(limit)
    fields = embed.get("fields") or []
    if len(fields) > MAX_FIELDS:
        mine["fields"] = _too_long(MAX_FIELDS)
    for j, item in enumerate(fields[:MAX_FIELDS]):
        for key, limit in FIELD_LIMITS.items():
            text = str(item.get(key) or "")
            total += len(text)
            problem = None
            if not text.strip():
                problem = _error("BASE_TYPE_REQUIRED", "This field is required")
            elif len(text) > limit:
                problem = _too_long(limit)
            if problem is not None:
                mine.setdefault("fields", {}).setdefault(str(j), {})[key] = problem
    footer = str((embed.get("footer") or {}).get("text") or "")
    author = str((embed.get("author") or {}).get("name") or "")
    total += len(footer) + len(author)
    if len(footer) > 2048:
        mine["footer"] = {"text": _too_long(2048)}
    if len(author) > 256:
        mine["author"] = {"name": _too_long(256)}
    return mine, total


def _rate_limited(retry_after: float) -> dict[str, Any]:
    return {
        "message": "You are being rate limited.",
        "retry_after": round(retry_after, 3),
        "global": False,
    }


def _snowflake(n: int) -> int:
    return ((int(time.time() * 1000) - _EPOCH_MS) << 22) + n


def _message(hook: Webhook, body: dict[str, Any], n: int, now: float) -> dict[str, Any]:
    """The message object Discord answers with ``wait=true``."""
    return {
        "id": str(_snowflake(n)),
        "type": 0,
        "content": body.get("content") or "",
        "channel_id": hook.channel_id,
        "author": {
            "id": hook.id,
            "username": body.get("username") or hook.name,
            "avatar": None,
            "discriminator": "0000",
            "bot": True,
        },
        "attachments": [],
        "embeds": [{"type": "rich", **e} for e in body.get("embeds") or []],
        "mentions": [],
        "mention_roles": [],
        "pinned": False,
        "mention_everyone": False,
        "tts": bool(body.get("tts", False)),
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat(),
        "edited_timestamp": None,
        "flags": 0,
        "components": [],
        "webhook_id": hook.id,
    }
