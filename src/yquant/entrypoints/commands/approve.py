"""Deciding orders held for manual approval (a strategy's ``approval = "manual"``).

    yquant approvals [--json]        the orders awaiting approval, with their deadlines
    yquant approve ORDER_ID [--json] approve: re-checked (age, kill switch, session, price),
                                     then sent through the running gateway
    yquant reject ORDER_ID [--json]  reject: the order ends rejected, never sent

Each decision is recorded with its audit entry (``cli:<user>@<host>``); whichever of the
dashboard, Telegram, this command and the timeout comes first wins, the others are told.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n
from yquant.entrypoints.commands.control import cli_actor
from yquant.errors import YquantError
from yquant.settings import Settings

APPROVE_EXIT_CODES = """exit codes:
  0  the decision was recorded (approved and sent, or rejected as asked)
  1  approved, but the re-check refused it (the order ends rejected: see its reason), or the
     order was not found, or it was no longer awaiting approval
"""
EXIT_REFUSED = 1


def register(sub: Any) -> None:
    listing = sub.add_parser("approvals", help="the orders awaiting manual approval")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list, needs_tables=True)
    for name, helptext in (
        ("approve", "approve an order awaiting approval (re-checked, then sent)"),
        ("reject", "reject an order awaiting approval"),
    ):
        p = sub.add_parser(
            name,
            help=helptext,
            description=helptext[0].upper() + helptext[1:] + ".",
            epilog=APPROVE_EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("order_id", help="client order id (yq…)")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=_decide, approve=name == "approve", needs_tables=True)


def _decide(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.bootstrap import build, build_approvals
    from yquant.services.approvals import Via

    async def run() -> int:
        runtime = build(settings, "cli")
        try:
            approvals = build_approvals(runtime)
            outcome = await approvals.decide(
                args.order_id, approve=args.approve, actor=cli_actor(), via=Via.CLI
            )
        finally:
            await runtime.close()
        language = settings.language
        order = outcome.order
        status = None if order is None else order.status.value
        refused = not outcome.decided or (args.approve and not outcome.sent)
        if args.json:
            print(
                json.dumps(
                    {
                        "client_order_id": args.order_id,
                        "decided": outcome.decided,
                        "sent": outcome.sent,
                        "status": status,
                        "reason": outcome.reason,
                        "detail": outcome.detail or None,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            words = [args.order_id]
            if status is not None:
                words.append(i18n.label(language, status))
            if outcome.reason is not None and outcome.reason != status:
                words.append(i18n.label(language, outcome.reason))
            if outcome.detail:
                words.append(f"({outcome.detail})")
            print(" · ".join(words[:2]) + (": " + " ".join(words[2:]) if words[2:] else ""))
        return EXIT_REFUSED if refused else 0

    try:
        return asyncio.run(run())
    except YquantError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.bootstrap import build, build_approvals
    from yquant.services.approvals import plain

    async def run() -> list[tuple[Any, Any]]:
        runtime = build(settings, "cli")
        try:
            approvals = build_approvals(runtime)
            return [(o, approvals.expires_at(o)) for o in await approvals.awaiting()]
        finally:
            await runtime.close()

    try:
        rows = asyncio.run(run())
    except YquantError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    language = settings.language
    m = i18n.messages(language)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "client_order_id": o.client_order_id,
                        "strategy": o.strategy,
                        "account": o.account,
                        "ticker": o.ticker,
                        "side": o.side.value,
                        "quantity": plain(o.quantity),
                        "price": _price(o),
                        "created_at": o.created_at.isoformat(),
                        "expires_at": expires.isoformat(),
                    }
                    for o, expires in rows
                ],
                ensure_ascii=False,
            )
        )
        return 0
    if not rows:
        print(m["approval_none"])
        return 0
    head = [m["order"], m["account"], m["strategy"], m["ticker"], m["side"], m["quantity"]]
    table = [
        [
            o.client_order_id,
            o.account,
            o.strategy,
            o.ticker,
            i18n.label(language, o.side.value),
            fmt.quantity(o.quantity),
            fmt.local_time(expires, o.market.value),
        ]
        for o, expires in rows
    ]
    print(fmt.table(table, [*head, m["approval_expires"]], align="lllllrl"))
    return 0


def _price(order: Any) -> str | None:
    from yquant.services.approvals import plain

    price = order.limit_price or order.reference_price
    return None if price is None else plain(price)
