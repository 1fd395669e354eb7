"""The Telegram Bot API: ``<api_base>/bot<token>/<method>`` with a JSON body.

Every answer is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description",
"parameters"}``; flood control is 429 with ``parameters.retry_after`` (whole seconds). The token
is in the path: it never appears in an error, a log line or a repr.
"""

from __future__ import annotations

from typing import Any

import httpx

from yquant.adapters.notify.errors import ChannelBusyError, ChannelRefusedError

TELEGRAM_API = "https://api.telegram.org"


class TelegramBot:
    """One bot. Methods answer Telegram's ``result``; failures raise ChannelBusyError (429, 5xx,
    no answer: try again after ``retry_after_s``) or ChannelRefusedError (the rest)."""

    def __init__(self, token: str, http: httpx.AsyncClient, api_base: str = TELEGRAM_API) -> None:
        self._token = token
        self._base = api_base.rstrip("/")
        self._http = http

    def __repr__(self) -> str:
        return f"TelegramBot(api_base={self._base!r}, token=****)"

    async def call(self, method: str, timeout_s: float | None = None, **params: Any) -> Any:
        """Call ``method`` with ``params`` (None values left out); its ``result``."""
        body = {k: v for k, v in params.items() if v is not None}
        extra: dict[str, Any] = {}
        if timeout_s is not None:
            extra["timeout"] = httpx.Timeout(timeout_s, connect=10.0)
        try:
            response = await self._http.post(
                f"{self._base}/bot{self._token}/{method}", json=body, **extra
            )
        except httpx.HTTPError as exc:
            raise ChannelBusyError(
                f"telegram {method}: no answer ({type(exc).__name__})",
                status=None,
                retry_after_s=None,
            ) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if response.status_code >= 500 or response.status_code == 429:
                raise ChannelBusyError(
                    f"telegram {method}: HTTP {response.status_code}",
                    status=response.status_code,
                    retry_after_s=None,
                )
            raise ChannelRefusedError(
                f"telegram {method}: HTTP {response.status_code}",
                status=response.status_code,
                answer=None,
            )
        if answer.get("ok") is True:
            return answer.get("result")
        code = int(answer.get("error_code") or response.status_code)
        description = str(answer.get("description", ""))[:300]
        if code == 429 or code >= 500:
            parameters = answer.get("parameters") or {}
            retry = parameters.get("retry_after") if isinstance(parameters, dict) else None
            raise ChannelBusyError(
                f"telegram {method}: {code} {description}",
                status=code,
                retry_after_s=float(retry) if isinstance(retry, int | float) else None,
            )
        raise ChannelRefusedError(
            f"telegram {method}: {code} {description}", status=code, answer=answer
        )

    async def get_me(self) -> dict[str, Any]:
        return dict(await self.call("getMe"))

    async def send_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        reply_markup: dict[str, Any] | None = None,
        disable_notification: bool | None = None,
    ) -> dict[str, Any]:
        """Send ``text``; the Message Telegram made (``message_id``, ``chat``, ...)."""
        return dict(
            await self.call(
                "sendMessage",
                chat_id=chat_id,
                text=text,
                parse_mode=parse_mode,
                reply_markup=reply_markup,
                disable_notification=disable_notification,
                link_preview_options={"is_disabled": True},
            )
        )

    async def get_updates(
        self,
        offset: int | None = None,
        timeout_s: int = 0,
        allowed_updates: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Long polling: waits up to ``timeout_s`` for updates from ``offset`` on (confirming
        those below it)."""
        result = await self.call(
            "getUpdates",
            timeout_s=timeout_s + 15.0,
            offset=offset,
            timeout=timeout_s,
            allowed_updates=allowed_updates,
        )
        return [dict(u) for u in result or []]

    async def answer_callback_query(
        self, callback_query_id: str, text: str | None = None, *, show_alert: bool = False
    ) -> bool:
        return bool(
            await self.call(
                "answerCallbackQuery",
                callback_query_id=callback_query_id,
                text=text,
                show_alert=show_alert or None,
            )
        )

    async def edit_message_text(
        self,
        chat_id: int | str,
        message_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        reply_markup: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        result = await self.call(
            "editMessageText",
            chat_id=chat_id,
            message_id=message_id,
            text=text,
            parse_mode=parse_mode,
            reply_markup=reply_markup,
        )
        return dict(result) if isinstance(result, dict) else {}

    async def edit_message_reply_markup(
        self, chat_id: int | str, message_id: int, reply_markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Change or (``None``) remove the buttons of a message."""
        result = await self.call(
            "editMessageReplyMarkup",
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=reply_markup or {"inline_keyboard": []},
        )
        return dict(result) if isinstance(result, dict) else {}


def inline_keyboard(*rows: list[tuple[str, str]]) -> dict[str, Any]:
    """``reply_markup`` with buttons: rows of (label, callback_data ≤ 64 bytes)."""
    for row in rows:
        for _, data in row:
            if not 1 <= len(data.encode()) <= 64:
                raise ValueError("callback_data must be 1 to 64 bytes")
    return {"inline_keyboard": [[{"text": t, "callback_data": d} for t, d in row] for row in rows]}
