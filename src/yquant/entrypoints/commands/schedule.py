"""`yquant schedule`: scheduled orders (예약 주문), fired by the active worker's engine.

    yquant schedule add NAME --ticker T --side buy|sell (--quantity N | --amount A)
                             (--account A | --strategy S) (--at HH:MM | --after-open N |
                             --before-close N) [--days mon,tue,...] [--limit-offset-pct P]
    yquant schedule add NAME --liquidate --market KR|US [--account A] [--strategy S] [--ticker T]
                             (--at HH:MM | --after-open N | --before-close N) [--days ...]
    yquant schedule list [--json]            each schedule, its next firing (local and KST)
    yquant schedule show NAME [--json]       one schedule, its estimated quantity, its runs
    yquant schedule edit NAME [fields]       the fields given change ("" clears one)
    yquant schedule pause|resume|remove NAME
    yquant schedule runs [NAME] [--limit N] [--json]
    yquant schedule export FILE              every schedule as JSON (a list of objects)
    yquant schedule import FILE              upsert by name; any invalid row: nothing changes

Times are the market's local time (KST for KRX, New York for the US exchanges). Every change is
in the audit log with the OS user who made it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from yquant.domain.schedule_fields import ScheduleInvalidError
from yquant.domain.schedules import ScheduleAction
from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n
from yquant.entrypoints import schedule_views as views
from yquant.entrypoints.commands.control import cli_actor
from yquant.services.schedules import ImportRefusedError, ScheduleBook, ScheduleError
from yquant.settings import Settings

T = TypeVar("T")
EXIT_INVALID, EXIT_NOT_FOUND = 2, 1


def register(sub: Any) -> None:
    s = sub.add_parser(
        "schedule",
        help="scheduled orders: add, list, edit, pause, export and import them",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ss = s.add_subparsers(metavar="ACTION")
    add = ss.add_parser("add", help="a new schedule")
    add.add_argument("name")
    _fields(add)
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=_add, needs_tables=True)
    edit = ss.add_parser("edit", help='change a schedule\'s fields ("" clears one)')
    edit.add_argument("name")
    _fields(edit)
    edit.add_argument("--json", action="store_true")
    edit.set_defaults(func=_edit, needs_tables=True)
    listing = ss.add_parser("list", help="every schedule and its next firing")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list, needs_tables=True)
    show = ss.add_parser("show", help="one schedule, its estimated quantity and its runs")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show, needs_tables=True)
    for action, helptext in (
        ("pause", "stop firing a schedule (kept)"),
        ("resume", "fire a paused schedule again"),
        ("remove", "delete a schedule (its runs stay)"),
    ):
        p = ss.add_parser(action, help=helptext)
        p.add_argument("name")
        p.set_defaults(func=_change, change=action, needs_tables=True)
    runs = ss.add_parser("runs", help="the recorded runs, newest first")
    runs.add_argument("name", nargs="?")
    runs.add_argument("--limit", type=int, default=50)
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=_runs, needs_tables=True)
    export = ss.add_parser("export", help="every schedule to a JSON file ('-': standard output)")
    export.add_argument("file")
    export.set_defaults(func=_export, needs_tables=True)
    imp = ss.add_parser("import", help="schedules from a JSON file, by name, all or nothing")
    imp.add_argument("file")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=_import, needs_tables=True)


def _fields(p: argparse.ArgumentParser) -> None:
    p.add_argument("--liquidate", action="store_true", help="a liquidation, not an order")
    p.add_argument("--market", help="KR or US (else from the ticker's exchange)")
    p.add_argument("--ticker", help="005930, KRX:005930 or NASDAQ:AAPL")
    p.add_argument("--exchange", help="KRX, NASDAQ, NYSE or AMEX")
    p.add_argument("--account")
    p.add_argument("--strategy", help="the strategy's accounts (instead of one account)")
    p.add_argument("--side", help="buy or sell")
    p.add_argument("--quantity", help="shares")
    p.add_argument("--amount", help="in the market's currency (KRW, USD)")
    p.add_argument(
        "--limit-offset-pct", dest="limit_offset_pct", help="a limit order, P%% from the last price"
    )
    p.add_argument("--market-order", action="store_true", help="back to a market order (edit)")
    p.add_argument("--days", help="mon,tue,wed,thu,fri (the default)")
    p.add_argument("--at", dest="local_time", help="a fixed local time HH:MM")
    p.add_argument("--after-open", dest="after_open", help="N minutes after the open")
    p.add_argument("--before-close", dest="before_close", help="N minutes before the close")
    p.add_argument("--paused", action="store_true", help="saved paused")


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The schedule fields the command line gives (None: not given)."""
    out: dict[str, Any] = {
        "market": args.market,
        "ticker": args.ticker,
        "exchange": args.exchange,
        "account": args.account,
        "strategy": args.strategy,
        "side": args.side,
        "quantity": args.quantity,
        "amount": args.amount,
        "days": args.days,
    }
    if args.liquidate:
        out["action"] = ScheduleAction.LIQUIDATE.value
    if args.limit_offset_pct is not None:
        out["order_type"] = "limit"
        out["limit_offset_pct"] = args.limit_offset_pct
    if args.market_order:
        out["order_type"] = "market"
    if args.local_time is not None:
        out.update(time_kind="fixed", local_time=args.local_time)
    if args.after_open is not None:
        out.update(time_kind="after_open", offset_min=args.after_open)
    if args.before_close is not None:
        out.update(time_kind="before_close", offset_min=args.before_close)
    if args.paused:
        out["paused"] = True
    return out


def _run(settings: Settings, work: Callable[[ScheduleBook], Awaitable[T]]) -> T:
    from yquant.bootstrap import (
        build_prices,
        build_schedule_book,
        load_catalog,
        use_session_tables,
        with_store,
    )

    use_session_tables(settings)

    async def run(store: Any) -> T:
        instruments = await load_catalog(settings, store)
        prices = build_prices(settings, store, instruments=instruments)
        return await work(build_schedule_book(settings, store, prices=prices))

    return asyncio.run(with_store(settings, run))


def _invalid(exc: ScheduleInvalidError) -> int:
    for problem in exc.problems:
        print(f"yquant: {problem}", file=sys.stderr)
    return EXIT_INVALID


def _saved(settings: Settings, args: argparse.Namespace, work: Any) -> int:
    async def save(book: ScheduleBook) -> tuple[Any, Any]:
        spec = await work(book)
        [view] = await book.listing(spec.name)
        return view, await book.estimate(spec)

    try:
        view, estimate = _run(settings, save)
    except ScheduleInvalidError as exc:
        return _invalid(exc)
    except ScheduleError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps({**views.view_json(view), "estimate": views.estimate_json(estimate)}))
        return 0
    m = i18n.messages(settings.language)
    print(f"{m['sched_saved']}: {view.spec.name}")
    _describe(settings.language, view, estimate)
    return 0


def _add(settings: Settings, args: argparse.Namespace) -> int:
    fields = {k: v for k, v in _given(args).items() if v is not None}
    return _saved(
        settings, args, lambda book: book.add({**fields, "name": args.name}, actor=cli_actor())
    )


def _edit(settings: Settings, args: argparse.Namespace) -> int:
    changes = _given(args)
    return _saved(settings, args, lambda book: book.edit(args.name, changes, actor=cli_actor()))


def _describe(language: str, view: Any, estimate: Any) -> None:
    m = i18n.messages(language)
    spec = view.spec
    local, kst = views.next_text(view)
    rows = [
        [m["sched_what"], views.what(spec, language)],
        [m["sched_when"], views.when(spec, language)],
        [m["sched_days"], views.days(spec, language)],
        [m["sched_next"], local or "-"],
        [m["sched_next_kst"], kst or "-"],
        [m["status"], m["sched_paused"] if spec.paused else m["sched_on"]],
    ]
    if spec.amount is not None:
        shown = (
            f"{fmt.quantity(estimate.quantity)} @ {fmt.number(estimate.price)}"
            if estimate.quantity is not None
            else m["sched_estimate_none"]
        )
        rows.append([m["sched_estimate"], shown])
    print(fmt.table(rows, max_width=80))


def _list(settings: Settings, args: argparse.Namespace) -> int:
    listed = _run(settings, lambda book: book.listing())
    if args.json:
        print(json.dumps([views.view_json(v) for v in listed], indent=1))
        return 0
    lang = settings.language
    m = i18n.messages(lang)
    rows = []
    for v in listed:
        local, kst = views.next_text(v)
        last = v.last_run
        rows.append(
            [
                v.spec.name,
                views.what(v.spec, lang),
                f"{views.when(v.spec, lang)}, {views.days(v.spec, lang)}",
                m["sched_paused"] if v.spec.paused else local,
                "" if v.spec.paused else kst,
                f"{last.session_date} {i18n.label(lang, last.status.value)}" if last else "",
            ]
        )
    heads = [
        m["sched_name"],
        m["sched_what"],
        m["sched_when"],
        m["sched_next"],
        m["sched_next_kst"],
        m["sched_last"],
    ]
    print(fmt.table(rows, heads, max_width=48))
    if not listed:
        print(f"({m['none']})")
    return 0


def _show(settings: Settings, args: argparse.Namespace) -> int:
    async def read(book: ScheduleBook) -> tuple[Any, Any, Any]:
        [view] = await book.listing(args.name)
        return view, await book.estimate(view.spec), await book.runs(args.name, limit=20)

    try:
        view, estimate, runs = _run(settings, read)
    except ScheduleError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.json:
        print(
            json.dumps(
                {
                    **views.view_json(view),
                    "estimate": views.estimate_json(estimate),
                    "runs": [views.run_json(r) for r in runs],
                },
                indent=1,
            )
        )
        return 0
    print(view.spec.name)
    _describe(settings.language, view, estimate)
    print()
    _print_runs(settings.language, runs)
    return 0


def _change(settings: Settings, args: argparse.Namespace) -> int:
    async def change(book: ScheduleBook) -> None:
        if args.change == "remove":
            await book.remove(args.name, actor=cli_actor())
        else:
            await book.set_paused(args.name, args.change == "pause", actor=cli_actor())

    try:
        _run(settings, change)
    except ScheduleError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    m = i18n.messages(settings.language)
    word = {"pause": m["sched_paused"], "resume": m["sched_on"], "remove": m["sched_removed"]}
    print(f"{args.name}: {word[args.change]}")
    return 0


def _runs(settings: Settings, args: argparse.Namespace) -> int:
    runs = _run(settings, lambda book: book.runs(args.name, limit=args.limit))
    if args.json:
        print(json.dumps([views.run_json(r) for r in runs], indent=1))
        return 0
    _print_runs(settings.language, runs)
    return 0


def _print_runs(language: str, runs: list[Any]) -> None:
    m = i18n.messages(language)
    rows = [
        [
            r.schedule_name,
            r.session_date.isoformat(),
            fmt.zoned_time(r.due_at, "Asia/Seoul"),
            i18n.label(language, r.status.value),
            i18n.label(language, r.reason) if r.reason else "",
            ", ".join(r.orders) or (r.detail or ""),
        ]
        for r in runs
    ]
    heads = [
        m["sched_name"],
        m["sched_day"],
        m["sched_due"],
        m["status"],
        m["reason"],
        m["sched_orders"],
    ]
    print(fmt.table(rows, heads, max_width=60))
    if not runs:
        print(f"({m['none']})")


def _export(settings: Settings, args: argparse.Namespace) -> int:
    rows = _run(settings, lambda book: book.export())
    text = json.dumps(rows, indent=1, ensure_ascii=False) + "\n"
    if args.file == "-":
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"{len(rows)} → {args.file}")
    return 0


def _import(settings: Settings, args: argparse.Namespace) -> int:
    m = i18n.messages(settings.language)
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
        rows = json.loads(text)
    except (OSError, ValueError) as exc:
        print(f"yquant: {args.file}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if not isinstance(rows, list):
        print(f"yquant: {args.file}: a JSON list of schedules", file=sys.stderr)
        return EXIT_INVALID
    try:
        saved = _run(settings, lambda book: book.import_rows(rows, actor=cli_actor()))
    except ImportRefusedError as refused:
        if args.json:
            problems = [
                {"row": e.row, "field": p.field, "message": p.message}
                for e in refused.errors
                for p in e.problems
            ]
            print(json.dumps({"imported": 0, "problems": problems}))
        else:
            print(f"yquant: {m['sched_import_refused']}", file=sys.stderr)
            for error in refused.errors:
                for p in error.problems:
                    print(f"  row {error.row}: {p}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps({"imported": len(saved), "names": [s.name for s in saved]}))
    else:
        print(m["sched_imported"].format(n=len(saved)))
    return 0
