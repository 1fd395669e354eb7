"""A rendered notice laid out for each service: a Discord embed, a Telegram HTML message.

Text from a notice is escaped for its service (Telegram's HTML, Discord's markdown is left to
show as typed: embeds do not ping, and ``allowed_mentions`` is empty) and cut to the service's
limits, so a long detail never turns a message into a refusal.
"""

from __future__ import annotations

import html

from yquant.adapters.notify.discord import DiscordWebhook
from yquant.adapters.notify.telegram import TelegramBot
from yquant.domain.notices import Level, Rendered

# Discord embed colours by level (decimal RGB): blue, amber, red.
COLOURS = {Level.INFO: 0x3B82F6, Level.WARNING: 0xF59E0B, Level.ERROR: 0xDC2626}
ICONS = {Level.INFO: "ℹ️", Level.WARNING: "⚠️", Level.ERROR: "🚨"}


class DiscordChannel:
    def __init__(self, name: str, webhook: DiscordWebhook) -> None:
        self.name = name
        self._webhook = webhook

    async def send(self, message: Rendered) -> str | None:
        answer = await self._webhook.send("", [embed(message)])
        return answer.message_id


class TelegramChannel:
    def __init__(self, name: str, bot: TelegramBot, chat_id: str) -> None:
        self.name = name
        self._bot = bot
        self._chat_id = chat_id

    async def send(self, message: Rendered) -> str | None:
        sent = await self._bot.send_message(self._chat_id, telegram_html(message))
        return str(sent.get("message_id")) if sent.get("message_id") is not None else None


def embed(message: Rendered) -> dict[str, object]:
    """The Discord embed of ``message`` (title 256, description 4096, 25 fields of 256/1024,
    footer 2048; the whole well under 6000)."""
    return {
        "title": _cut(f"{ICONS[message.level]} {message.title}", 256),
        "description": _cut("\n".join(message.lines), 2000),
        "color": COLOURS[message.level],
        "fields": [
            {"name": _cut(k, 256), "value": _cut(v or "-", 300), "inline": True}
            for k, v in message.fields[:20]
        ],
        "footer": {"text": _cut(message.footer, 200)},
        "timestamp": message.at.isoformat(),
    }


def telegram_html(message: Rendered) -> str:
    """The Telegram text of ``message`` in parse_mode HTML (everything escaped), under 4096."""
    parts = [f"{ICONS[message.level]} <b>{html.escape(message.title)}</b>"]
    parts += [html.escape(line) for line in message.lines]
    parts += [f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in message.fields]
    if message.footer:
        parts.append(f"<i>{html.escape(message.footer)}</i>")
    text = "\n".join(parts)
    if len(text) > 4000:
        # Cut between lines, never inside an entity or a tag.
        kept: list[str] = []
        size = 0
        for part in parts:
            if size + len(part) + 1 > 3990:
                kept.append("…")
                break
            kept.append(part)
            size += len(part) + 1
        text = "\n".join(kept)
    return text


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
