"""`yquant notify test [--channel NAME]`: send a test message to each configured channel (or
one) at once, not through the queue, and print what each service answered.

Exits 0 when every channel took the message, 1 when one did not, 2 when there is no such
channel (or none configured).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from yquant.domain.notices import Rendered
from yquant.ports import Channel
from yquant.settings import Settings


def register(sub: Any) -> None:
    notify = sub.add_parser("notify", help="notification channels (Discord, Telegram)")
    ns = notify.add_subparsers(metavar="ACTION")
    test = ns.add_parser("test", help="send a test message and print the service's answer")
    test.add_argument("--channel", help="one channel by name (default: every channel)")
    test.set_defaults(func=_test)


def _test(settings: Settings, args: argparse.Namespace) -> int:
    names = [*settings.notify.discord, *settings.notify.telegram]
    if args.channel is not None:
        if args.channel not in names:
            known = ", ".join(names) or "none configured"
            print(f"yquant: no channel {args.channel!r} (channels: {known})")
            return 2
        names = [args.channel]
    if not names:
        print("yquant: no channel configured ([notify.discord.NAME] or [notify.telegram.NAME])")
        return 2
    answers = asyncio.run(_send(settings, names))
    for line in answers:
        print(line)
    return 0 if all(": sent" in line for line in answers) else 1


async def _send(settings: Settings, names: list[str]) -> list[str]:
    from yquant.adapters.clock import SystemClock
    from yquant.adapters.notify.retry import honouring_retry_after
    from yquant.bootstrap import notify_channels, notify_http
    from yquant.domain.notices import NoticeKind, notice
    from yquant.entrypoints.notices import render
    from yquant.errors import ChannelBusyError, ChannelRefusedError

    now = SystemClock().now()
    test = notice(NoticeKind.TEST, now.isoformat(), now, worker=settings.worker.name)
    lines = []
    async with notify_http(settings) as http:
        plans = notify_channels(settings, http)
        for name in names:
            plan = plans[name]
            kind = "discord" if name in settings.notify.discord else "telegram"
            message = render(test, plan.language)
            channel = plan.channel

            async def send(channel: Channel = channel, message: Rendered = message) -> str | None:
                return await channel.send(message)

            try:
                receipt = await honouring_retry_after(send, longest_s=30)
            except ChannelRefusedError as exc:
                lines.append(f"{name} ({kind}): refused (HTTP {exc.status}): {exc}")
            except ChannelBusyError as exc:
                after = f", retry after {exc.retry_after_s:g} s" if exc.retry_after_s else ""
                lines.append(f"{name} ({kind}): not taken now{after}: {exc}")
            else:
                lines.append(f"{name} ({kind}): sent, message id {receipt or '-'}")
    return lines
