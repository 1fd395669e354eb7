"""Liquidation: sell what a filter of the book holds, after cancelling its working orders.

    yquant liquidate [--account A] [--strategy S] [--market KR|US] [--ticker T]
                     [--at-open] [--dry-run] [--yes] [--wait S] [--json]
                                  the plan (each position sold, the estimated proceeds, the
                                  working orders cancelled first) is shown and confirmed (a
                                  terminal's answer, or --yes); then the cancels and the sells
                                  go out and the result is printed with the liquidation's id
    yquant liquidations [ID] [--limit N] [--json]
                                  the latest liquidations, or one with its orders

See `services/liquidation.py` for what is sold, and when a liquidation is refused.
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

LIQUIDATE_EXIT_CODES = """exit codes:
  0  every sell made (filled, resting, or queued for the open with --at-open); with
     --dry-run: the plan could go ahead as shown
  1  refused (kill switch halted, market closed, nothing to sell, no gateway, the book
     changed since the plan ...) or some sells refused: see the reasons
  2  wrong arguments, or not confirmed
"""
EXIT_REFUSED, EXIT_USAGE = 1, 2


def register(sub: Any) -> None:
    c = sub.add_parser(
        "liquidate",
        help="sell the book's positions matching filters (confirmed first)",
        description=(
            "Sell every position of the book that matches the filters (each strategy's own"
            " shares), after cancelling the working orders they match. The plan is shown and"
            " confirmed first."
        ),
        epilog=LIQUIDATE_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("--account")
    c.add_argument("--strategy")
    c.add_argument("--market", choices=["KR", "US"], type=str.upper)
    c.add_argument("--ticker", help="005930, KRX:005930 or NASDAQ:AAPL")
    c.add_argument(
        "--at-open",
        action="store_true",
        help="a closed market's sells wait for its next open (default: refused)",
    )
    c.add_argument("--dry-run", action="store_true", help="show the plan only")
    c.add_argument("--yes", action="store_true", help="no confirmation prompt")
    c.add_argument(
        "--wait", type=float, help="seconds to follow the sells (liquidation.order_wait_s)"
    )
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_liquidate, needs_tables=True)

    h = sub.add_parser("liquidations", help="the latest liquidations, or one with its orders")
    h.add_argument("id", nargs="?")
    h.add_argument("--limit", type=int, default=20)
    h.add_argument("--json", action="store_true")
    h.set_defaults(func=_liquidations, needs_tables=True)


def _liquidate(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.domain.liquidation import LiquidationFilter

    m = i18n.messages(settings.language)
    try:
        wanted = LiquidationFilter.of(
            account=args.account, strategy=args.strategy, market=args.market, ticker=args.ticker
        )
    except ValueError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return EXIT_USAGE

    async def run(runtime: Any, brokers: Any) -> int:
        from yquant.bootstrap import build_liquidator, build_worker_state, open_engine
        from yquant.domain.roles import Standing
        from yquant.errors import NotActiveError

        state = build_worker_state(settings, runtime.store, runtime.clock)
        await state.load(register=False)
        if not args.dry_run and state.role.standing() is Standing.STANDBY:
            raise NotActiveError(m["manual_standby"])
        engine, instruments = await open_engine(settings, runtime, brokers, operator=True)
        liquidator = build_liquidator(
            runtime, engine, instruments, brokers=brokers, order_wait_s=args.wait
        )
        plan = await liquidator.plan(wanted, at_open=args.at_open)
        if args.dry_run:
            if args.json:
                print(json.dumps({"dry_run": True, "plan": plan.as_dict()}, ensure_ascii=False))
            else:
                print(plan_text(plan, settings.language))
                print(m["liq_dry_run"])
            return 0 if plan.ready else EXIT_REFUSED
        if not args.json:
            print(plan_text(plan, settings.language))
        if not plan.ready:
            if args.json:
                print(json.dumps({"plan": plan.as_dict()}, ensure_ascii=False))
            return EXIT_REFUSED
        if not args.yes and not _confirmed(plan, settings.language):
            return EXIT_USAGE
        result = await liquidator.execute(
            plan, requested_by=_operator(), source="cli", confirm=True
        )
        if args.json:
            print(json.dumps(result.as_dict(), ensure_ascii=False))
        else:
            print(result_text(result, settings.language))
        made = all(s.made for s in result.sells)
        return 0 if result.status.value == "done" and made else EXIT_REFUSED

    from yquant.entrypoints.commands.broker import _run

    return _run(settings, run)


def _operator() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _confirmed(plan: Any, language: str) -> bool:
    m = i18n.messages(language)
    if not sys.stdin.isatty():
        print(f"yquant: {m['liq_needs_yes']}", file=sys.stderr)
        return False
    answer = input(m["liq_confirm"].format(count=len(plan.items), cancels=len(plan.cancels)))
    if answer.strip().lower() not in ("y", "yes"):
        print(m["liq_aborted"], file=sys.stderr)
        return False
    return True


def plan_text(plan: Any, language: str) -> str:
    """The plan as the operator reads it before confirming."""
    from yquant.entrypoints.commands.cancel import order_table

    m = i18n.messages(language)
    lines = [m["liq_plan"].format(filter=plan.filter.describe())]
    if plan.items:
        rows = [
            [
                i.account,
                i.strategy,
                f"{i.exchange}:{i.ticker}",
                fmt.quantity(i.quantity),
                fmt.money(i.avg_cost, i.currency),
                "" if i.price is None else fmt.money(i.price, i.currency),
                "" if i.estimated_proceeds is None else fmt.money(i.estimated_proceeds, i.currency),
                _session(i, language),
            ]
            for i in plan.items
        ]
        heads = [
            m["account"],
            m["strategy"],
            m["ticker"],
            m["quantity"],
            m["avg_cost"],
            m["price"],
            m["est_proceeds"],
            m["session"],
        ]
        lines += ["", m["liq_sells"], fmt.table(rows, heads, align="lllrrrrl")]
    if plan.cancels:
        lines += ["", m["liq_cancels"], order_table(list(plan.cancels), language)]
    if plan.proceeds:
        shown = ", ".join(fmt.money(v, c) for c, v in plan.proceeds.items())
        lines += ["", f"{m['liq_proceeds']}: {shown}"]
    if plan.unpriced:
        lines.append(m["liq_unpriced"].format(count=plan.unpriced))
    if plan.at_open and any(not i.market_open for i in plan.items):
        lines.append(m["liq_at_open"])
    if plan.refusal is not None:
        lines += [
            "",
            f"{m['liq_refused']}: {_word(language, plan.refusal.value)} {plan.refusal_detail}",
        ]
    return "\n".join(lines)


def _session(item: Any, language: str) -> str:
    m = i18n.messages(language)
    if item.blocked is not None:
        return _word(language, item.blocked.value)
    return m["open_now"]


def result_text(result: Any, language: str) -> str:
    from yquant.entrypoints.commands.cancel import result_words

    m = i18n.messages(language)
    status = _word(language, result.status.value)
    lines = [m["liq_result"].format(id=result.id or "-", status=status)]
    if result.reason is not None:
        lines.append(
            f"{m['reason']}: {_word(language, result.reason.value)} {result.detail}".rstrip()
        )
    if result.cancels:
        rows = [
            [
                c.client_order_id or c.ref,
                "" if c.order is None else c.order.ticker,
                result_words(c, language),
            ]
            for c in result.cancels
        ]
        lines += ["", m["liq_cancels"], fmt.table(rows, [m["order"], m["ticker"], m["result"]])]
    if result.sells:
        rows = [
            [
                s.client_order_id or "-",
                s.item.account,
                s.item.strategy,
                s.item.ticker,
                fmt.quantity(s.quantity if s.quantity is not None else s.item.quantity),
                fmt.quantity(s.filled_quantity),
                "" if s.avg_fill_price is None else fmt.money(s.avg_fill_price, s.item.currency),
                _word(language, s.status)
                + ("" if s.reason is None or s.made else f" {_word(language, str(s.reason))}"),
            ]
            for s in result.sells
        ]
        heads = [
            m["order"],
            m["account"],
            m["strategy"],
            m["ticker"],
            m["quantity"],
            m["filled"],
            m["price"],
            m["status"],
        ]
        lines += ["", m["liq_sells"], fmt.table(rows, heads, align="llllrrrl", max_width=60)]
    return "\n".join(lines)


def _word(language: str, code: str) -> str:
    label = i18n.label(language, code)
    return code if label == code else f"{label} ({code})"


def _liquidations(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.bootstrap import liquidation_records, store_session

    m = i18n.messages(settings.language)

    async def run() -> int:
        orders: list[dict[str, Any]] = []
        async with store_session(settings) as store:
            records = liquidation_records(store)
            if args.id:
                record = await records.get(args.id.strip())
                if record is None:
                    print(f"yquant: {m['liq_unknown'].format(id=args.id)}", file=sys.stderr)
                    return EXIT_REFUSED
                shown = [record]
                for cid in await records.order_ids(record.id):
                    row = await store.order(cid)
                    if row is not None:
                        orders.append(row)
            else:
                shown = await records.recent(max(1, args.limit))
        if args.json:
            listed = [_record_json(r, whole=bool(args.id)) for r in shown]
            if args.id:
                listed[0]["orders"] = [_order_json(o) for o in orders]
            print(json.dumps(listed, ensure_ascii=False))
            return 0
        if not shown:
            print(m["liq_none"])
            return 0
        rows = [
            [
                r.id,
                fmt.local_time(r.requested_at, "KR"),
                r.requested_by,
                r.source,
                " ".join(f"{k}={v}" for k, v in r.filters.items() if v) or "-",
                _word(settings.language, r.status),
                "" if r.reason is None else _word(settings.language, r.reason),
            ]
            for r in shown
        ]
        heads = [
            m["liq_id"],
            m["liq_when"],
            m["liq_requested_by"],
            "source",
            m["liq_filter"],
            m["status"],
            m["reason"],
        ]
        print(fmt.table(rows, heads))
        if orders:
            lines = [
                [
                    o["client_order_id"],
                    o["account"],
                    o["strategy"],
                    f"{o['exchange']}:{o['ticker']}",
                    fmt.quantity(o["quantity"]),
                    fmt.quantity(o["filled_quantity"]),
                    fmt.money(o["avg_fill_price"], fmt.currency_of(o["market"])),
                    _word(settings.language, o["status"]),
                ]
                for o in orders
            ]
            names = ("order", "account", "strategy", "ticker", "quantity", "filled", "price")
            print()
            print(fmt.table(lines, [*(m[h] for h in names), m["status"]], align="llllrrrl"))
        return 0

    try:
        return asyncio.run(run())
    except YquantError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def _order_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("client_order_id", "account", "strategy", "ticker", "side", "status", "reason")
    out: dict[str, Any] = {k: row.get(k) for k in keys}
    for k in ("quantity", "filled_quantity", "avg_fill_price"):
        value = row.get(k)
        out[k] = None if value is None else f"{value.normalize():f}"
    return out


def _record_json(record: Any, *, whole: bool) -> dict[str, Any]:
    out = {
        "id": record.id,
        "requested_by": record.requested_by,
        "source": record.source,
        "requested_at": record.requested_at.isoformat(),
        "filters": record.filters,
        "at_open": record.at_open,
        "status": record.status,
        "reason": record.reason,
        "updated_at": record.updated_at.isoformat(),
    }
    if whole:
        out["detail"] = record.detail
    return out
