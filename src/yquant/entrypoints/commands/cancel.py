"""Cancelling working orders at their broker, through the running gateway.

    yquant cancel ORDER_ID [--wait S] [--json]
                                  one order, by client order id (yq…) or broker order number
    yquant cancel --all [--account A] [--strategy S] [--ticker T] [--yes] [--wait S] [--json]
                                  every working order matching the filters; the list and its
                                  count are shown and confirmed first (--yes: no prompt)

The request goes over this worker's Valkey to its gateway (`services/cancels.py`), which
records ``cancel_requested``, asks the broker and records how the order ended; this command
waits for that for ``--wait`` seconds and prints each order's outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n
from yquant.errors import YquantError
from yquant.settings import Settings

CANCEL_EXIT_CODES = """exit codes:
  0  every order cancelled (or nothing working matched --all)
  1  an order could not be cancelled: not found, already ended (or filled first), not yet
     confirmed by the broker, refused by it, or no gateway running
  2  wrong arguments, or --all not confirmed
  3  cancel sent, outcome pending when --wait ended (the gateway keeps following it)
"""
EXIT_FAILED, EXIT_USAGE, EXIT_PENDING = 1, 2, 3


def register(sub: Any) -> None:
    c = sub.add_parser(
        "cancel",
        help="cancel working orders at their broker (one, or --all matching filters)",
        description="Cancel working orders at their broker, through the running gateway.",
        epilog=CANCEL_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("order_id", nargs="?", help="client order id (yq…) or broker order number")
    c.add_argument("--all", action="store_true", help="every working order matching the filters")
    c.add_argument("--account")
    c.add_argument("--strategy")
    c.add_argument("--ticker", help="005930, KRX:005930 or NASDAQ:AAPL")
    c.add_argument("--yes", action="store_true", help="with --all: no confirmation prompt")
    c.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the outcome")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_cancel, needs_tables=True)


def _cancel(settings: Settings, args: argparse.Namespace) -> int:
    m = i18n.messages(settings.language)
    bulk = args.all or any((args.account, args.strategy, args.ticker))
    if bool(args.order_id) == bool(bulk):
        print(f"yquant: {m['cancel_usage']}", file=sys.stderr)
        return EXIT_USAGE
    from yquant.bootstrap import build, build_cancels

    async def run() -> int:
        runtime = build(settings, "cli")
        try:
            cancels = build_cancels(runtime)
            if args.order_id:
                outcomes = [await cancels.cancel_ref(args.order_id, wait_s=args.wait)]
            else:
                ticker = args.ticker.rpartition(":")[2].upper() if args.ticker else None
                orders = await cancels.working(
                    account=args.account, strategy=args.strategy, ticker=ticker
                )
                if not orders:
                    _print(args, [], settings.language)
                    return 0
                if not args.yes and not _confirmed(orders, settings.language):
                    return EXIT_USAGE
                outcomes = await cancels.cancel(orders, wait_s=args.wait)
        finally:
            await runtime.close()
        _print(args, outcomes, settings.language)
        if any(not o.done and not o.pending for o in outcomes):
            return EXIT_FAILED
        return EXIT_PENDING if any(o.pending for o in outcomes) else 0

    try:
        return asyncio.run(run())
    except YquantError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _confirmed(orders: list[Any], language: str) -> bool:
    """The operator saw the matching orders and their count, and said yes."""
    m = i18n.messages(language)
    print(order_table(orders, language))
    if not sys.stdin.isatty():
        print(f"yquant: {m['cancel_needs_yes'].format(count=len(orders))}", file=sys.stderr)
        return False
    answer = input(m["cancel_confirm"].format(count=len(orders)))
    if answer.strip().lower() not in ("y", "yes"):
        print(m["cancel_aborted"], file=sys.stderr)
        return False
    return True


def order_table(orders: list[Any], language: str) -> str:
    m = i18n.messages(language)
    rows = [
        [
            o.client_order_id,
            o.account,
            o.strategy,
            o.ticker,
            i18n.label(language, o.side.value),
            fmt.quantity(o.quantity),
            "" if o.limit_price is None else fmt.money(o.limit_price, o.currency),
            fmt.quantity(o.filled_quantity),
            i18n.label(language, o.status.value),
        ]
        for o in orders
    ]
    heads = ["order", "account", "strategy", "ticker", "side", "quantity", "price", "filled"]
    return fmt.table(rows, [m[h] for h in [*heads, "status"]], align="lllllrrrl")


def _print(args: argparse.Namespace, outcomes: list[Any], language: str) -> None:
    if args.json:
        print(json.dumps([outcome_json(o) for o in outcomes], ensure_ascii=False))
        return
    m = i18n.messages(language)
    if not outcomes:
        print(m["cancel_none"])
        return
    rows = [
        [
            o.client_order_id or o.ref,
            "" if o.order is None else o.order.ticker,
            "" if o.order is None else i18n.label(language, o.order.side.value),
            "" if o.order is None else fmt.quantity(o.order.quantity),
            fmt.quantity(o.filled_quantity) if o.order is not None else "",
            "" if o.status is None else i18n.label(language, o.status.value),
            result_words(o, language),
        ]
        for o in outcomes
    ]
    heads = [m[h] for h in ("order", "ticker", "side", "quantity", "filled", "status", "result")]
    print(fmt.table(rows, heads, align="lllrrll", max_width=48))


def result_words(outcome: Any, language: str) -> str:
    """What became of the cancel, in the operator's words (the code beside a reason)."""
    m = i18n.messages(language)
    if outcome.done:
        return m["cancel_done"]
    if outcome.pending:
        return m["cancel_pending"]
    code = outcome.reason.value if outcome.reason is not None else "rejected"
    label = i18n.label(language, code)
    return code if label == code else f"{label} ({code})"


def outcome_json(outcome: Any) -> dict[str, Any]:
    return {
        "ref": outcome.ref,
        "client_order_id": outcome.client_order_id,
        "status": None if outcome.status is None else outcome.status.value,
        "filled_quantity": f"{outcome.filled_quantity.normalize():f}",
        "done": outcome.done,
        "pending": outcome.pending,
        "reason": None if outcome.reason is None else outcome.reason.value,
    }
