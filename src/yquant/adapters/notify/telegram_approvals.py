"""Approvals asked on Telegram: a message with an inline keyboard per configured chat, and the
button presses read by long polling (``getUpdates``: no public endpoint is needed).

The poll offset is kept in memory: after a restart Telegram hands the unconfirmed presses over
again, and a decision already recorded is answered as such (the database's compare-and-set).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from yquant.adapters.notify.telegram import TelegramBot, inline_keyboard
from yquant.ports import Press, Prompt


class TelegramApprovalChannel:
    """Implements `yquant.ports.ApprovalChannel` with one bot and its chats."""

    def __init__(self, bot: TelegramBot, chat_ids: Sequence[int | str]) -> None:
        self._bot = bot
        self._chats = list(chat_ids)
        self._offset: int | None = None

    async def ask(self, text: str, buttons: Sequence[tuple[str, str]]) -> list[Prompt]:
        keyboard = inline_keyboard(list(buttons))
        prompts = []
        for chat in self._chats:
            sent = await self._bot.send_message(chat, html.escape(text), reply_markup=keyboard)
            prompts.append(Prompt(str(chat), int(sent["message_id"])))
        return prompts

    async def settle(self, prompt: Prompt, text: str) -> None:
        await self._bot.edit_message_text(
            prompt.chat_id, prompt.message_id, html.escape(text), reply_markup=None
        )

    async def presses(self, timeout_s: int) -> list[Press]:
        updates = await self._bot.get_updates(
            offset=self._offset, timeout_s=timeout_s, allowed_updates=["callback_query"]
        )
        out = []
        for update in updates:
            self._offset = max(self._offset or 0, int(update["update_id"]) + 1)
            query = update.get("callback_query")
            if not isinstance(query, dict):
                continue
            out.append(
                Press(
                    query_id=str(query["id"]),
                    user_id=int(query["from"]["id"]),
                    data=str(query.get("data") or ""),
                    prompt=_prompt(query.get("message")),
                )
            )
        return out

    async def answer(self, press: Press, text: str) -> None:
        await self._bot.answer_callback_query(press.query_id, text[:200])


def _prompt(message: Any) -> Prompt | None:
    if not isinstance(message, dict) or "chat" not in message:
        return None
    return Prompt(str(message["chat"]["id"]), int(message["message_id"]))
