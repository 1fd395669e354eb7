"""Running the fake Discord and Telegram: in a background thread (tests) or as a process.

    python -m yquant.adapters.notify.fake_server --port 18600 \\
        --telegram-token 123456:TEST --telegram-chat 424242 --discord-webhook ops

One server on loopback serves both services' paths (they do not overlap): point
``notify.discord.<name>.url`` at a webhook URL it prints and ``notify.telegram.<name>.api_base``
at its address.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn
from starlette.applications import Starlette

from yquant.adapters.notify import fake_discord, fake_telegram
from yquant.adapters.notify.fake_discord import FakeDiscord
from yquant.adapters.notify.fake_telegram import FakeTelegram
from yquant.adapters.threaded_server import ThreadedServer
from yquant.processes import free_port

logger = logging.getLogger(__name__)


def build_app(discord: FakeDiscord, telegram: FakeTelegram) -> Starlette:
    return Starlette(routes=[*fake_discord.routes(discord), *fake_telegram.routes(telegram)])


class FakeChannels(ThreadedServer):
    """Both fakes served by uvicorn on ``127.0.0.1:port`` in a daemon thread.

    ``discord`` and ``telegram`` are the fakes' state (their controls are methods there);
    ``url`` is the server's address: the Telegram ``api_base``, and the base of the webhook URLs
    `FakeDiscord.add_webhook` answers.
    """

    def __init__(
        self,
        discord: FakeDiscord | None = None,
        telegram: FakeTelegram | None = None,
        port: int | None = None,
    ) -> None:
        self.discord = discord or FakeDiscord()
        self.telegram = telegram or FakeTelegram()
        port = port or free_port()
        config = uvicorn.Config(
            build_app(self.discord, self.telegram),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        super().__init__(config, port, "fake channels")
        self.discord.base_url = self.url


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fake-channels", description="fake Discord and Telegram")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--telegram-token", action="append", default=[], help="123456:SECRET")
    p.add_argument("--telegram-chat", action="append", default=[], help="a chat id")
    p.add_argument("--discord-webhook", action="append", default=[], help="a webhook's name")
    p.add_argument("--discord-rate-limit", type=int, default=5)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fake-channels %(message)s")
    discord = FakeDiscord(rate_limit=args.discord_rate_limit)
    discord.base_url = f"http://127.0.0.1:{args.port}"
    telegram = FakeTelegram()
    for token in args.telegram_token:
        telegram.add_bot(token)
    for chat in args.telegram_chat:
        telegram.add_chat(chat)
    for name in args.discord_webhook:
        logger.info("discord webhook %s: %s", name, discord.add_webhook(name))
    logger.info("telegram api_base: %s", discord.base_url)
    config = uvicorn.Config(
        build_app(discord, telegram), host="127.0.0.1", port=args.port, log_level="warning"
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
