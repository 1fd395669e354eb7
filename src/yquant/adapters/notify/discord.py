"""Discord webhooks: one message (content and embeds) per call.

``POST <webhook url>?wait=true`` so that Discord answers with the message it made (its id is
kept as the delivery's receipt). A 429 answers ``retry_after`` in seconds (a float) in the body
and ``Retry-After`` as a header; the body's figure is the precise one and wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from yquant.adapters.notify.errors import ChannelBusyError, ChannelRefusedError


@dataclass(frozen=True)
class DiscordAnswer:
    status: int
    message_id: str | None
    body: dict[str, Any] | None


class DiscordWebhook:
    """Sends to one webhook URL (which holds the webhook's token: never logged or shown)."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self._url = url
        self._http = http

    @property
    def shown(self) -> str:
        """The URL with its token hidden: what a log or an error may say."""
        return masked_url(self._url)

    async def send(
        self, content: str = "", embeds: list[dict[str, Any]] | None = None
    ) -> DiscordAnswer:
        body: dict[str, Any] = {"content": content, "allowed_mentions": {"parse": []}}
        if embeds:
            body["embeds"] = embeds
        try:
            response = await self._http.post(self._url, params={"wait": "true"}, json=body)
        except httpx.HTTPError as exc:
            raise ChannelBusyError(
                f"discord: no answer ({type(exc).__name__})", status=None, retry_after_s=None
            ) from None
        answer = _json(response)
        if response.status_code == 429:
            raise ChannelBusyError(
                f"discord: rate limited ({_describe(answer)})",
                status=429,
                retry_after_s=_retry_after(answer, response.headers),
            )
        if response.status_code >= 500:
            raise ChannelBusyError(
                f"discord: HTTP {response.status_code}",
                status=response.status_code,
                retry_after_s=None,
            )
        if response.status_code >= 400:
            raise ChannelRefusedError(
                f"discord: HTTP {response.status_code} {_describe(answer)}",
                status=response.status_code,
                answer=answer,
            )
        message_id = str(answer["id"]) if isinstance(answer, dict) and "id" in answer else None
        return DiscordAnswer(
            response.status_code, message_id, answer if isinstance(answer, dict) else None
        )


def masked_url(url: str) -> str:
    """``https://discord.com/api/webhooks/123/****``: the webhook id stays, the token goes."""
    parts = urlsplit(url)
    segments = parts.path.rstrip("/").split("/")
    if len(segments) >= 2:
        segments[-1] = "****"
    return f"{parts.scheme}://{parts.netloc}{'/'.join(segments)}"


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"message": response.text[:200]}


def _describe(answer: Any) -> str:
    if isinstance(answer, dict):
        code = answer.get("code")
        message = str(answer.get("message", ""))[:200]
        return f"{message} (code {code})" if code is not None else message
    return ""


def _retry_after(answer: Any, headers: httpx.Headers) -> float | None:
    if isinstance(answer, dict) and isinstance(answer.get("retry_after"), int | float):
        return float(answer["retry_after"])
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        value = headers.get(name)
        if value:
            try:
                return float(value)
            except ValueError:
                continue
    return None
