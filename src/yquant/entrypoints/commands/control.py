"""Operator control of the engine: the kill switch, the out-of-session queue, and `simulate`.

    yquant halt [ACCOUNT] --reason TEXT          stop all trading (of one account)
    yquant reduce-only [ACCOUNT] --reason TEXT   only orders that shrink positions
    yquant resume [ACCOUNT] --reason TEXT        back to active (no ACCOUNT: all of them)
    yquant control [--json]                      the switches and the latest audit entries
    yquant queue [--all] [--json]                orders waiting for their market's next open
    yquant queue-cancel CLIENT_ORDER_ID --reason TEXT
    yquant simulate --payload JSON|FILE [--json] [--at TIME]   what the engine would do now

Every switch change is stored with who (the OS user and host), when and why.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from yquant.domain.risk import KillState
from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n, names
from yquant.settings import Settings

COMMANDS = {
    "halt": KillState.HALTED,
    "reduce-only": KillState.REDUCE_ONLY,
    "resume": KillState.ACTIVE,
}


def register(sub: Any) -> None:
    for name, state in COMMANDS.items():
        p = sub.add_parser(name, help=f"kill switch: set {state.value} (globally or one account)")
        p.add_argument(
            "account",
            nargs="?",
            help="an account or global (default: global; for resume, global and every account)",
        )
        p.add_argument("--reason", required=True, help="why (recorded in the audit log)")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=_switch, state=state, needs_tables=True)
    status = sub.add_parser("control", help="kill switch states and the latest audit entries")
    status.add_argument("--json", action="store_true")
    status.add_argument("--limit", type=int, default=10)
    status.set_defaults(func=_status, needs_tables=True)
    queue = sub.add_parser("queue", help="orders waiting for their market's next session")
    queue.add_argument("--all", action="store_true", help="also released, rejected, expired")
    queue.add_argument("--json", action="store_true")
    queue.add_argument("--limit", type=int, default=50)
    queue.add_argument("--utc", action="store_true", help="times in UTC, not the market's zone")
    queue.set_defaults(func=_queue, needs_tables=True)
    cancel = sub.add_parser("queue-cancel", help="cancel a queued order before it is released")
    cancel.add_argument("client_order_id")
    cancel.add_argument("--reason", required=True)
    cancel.set_defaults(func=_queue_cancel, needs_tables=True)
    sim = sub.add_parser("simulate", help="what the engine would do with an alert now (no trade)")
    sim.add_argument(
        "--payload",
        required=True,
        help="the alert body: JSON text, or a file holding it (FILE or @FILE; - for stdin)",
    )
    sim.add_argument("--json", action="store_true")
    sim.add_argument(
        "--at", type=datetime.fromisoformat, help="decide as if at this time (ISO, with offset)"
    )
    sim.set_defaults(func=_simulate)


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"[:100]


async def _with_store(settings: Settings, fn: Any) -> Any:
    from yquant.bootstrap import with_store

    return await with_store(settings, fn)


def _switch(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.bootstrap import build_control, system_clock
    from yquant.services.control import GLOBAL, ControlError

    everything = args.account is None and args.state is KillState.ACTIVE

    async def run(store: Any) -> list[tuple[str, str]]:
        control = build_control(store, settings.accounts)
        scopes = [args.account or GLOBAL]
        if everything:
            # Every account that is not active, then the global switch last: nothing trades
            # again before all of them are clear.
            switches = await control.switches()
            held = [a for a in settings.accounts if a in switches]
            scopes = [a for a in held if switches[a].state != KillState.ACTIVE.value] + [GLOBAL]
        now = system_clock().now()
        changed = []
        for scope in scopes:
            before = await control.set(
                scope, args.state, actor=cli_actor(), reason=args.reason, now=now
            )
            changed.append((scope, before))
        return changed

    try:
        changed = asyncio.run(_with_store(settings, run))
    except ControlError as exc:
        print(f"yquant: {exc}")
        return 2
    rows = [{"scope": s, "state": args.state.value, "before": b} for s, b in changed]
    if args.json:
        print(json.dumps(rows if everything else rows[0]))
        return 0
    m = i18n.messages(settings.language)
    for scope, before in changed:
        print(
            f"{m.get('control_scope', 'scope')} {scope}: "
            f"{_state_word(m, before)} -> {_state_word(m, args.state.value)}"
        )
    return 0


def _state_word(m: dict[str, str], state: str) -> str:
    return m.get(f"state_{state}", state)


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.bootstrap import build_control

    async def run(store: Any) -> tuple[Any, Any]:
        control = build_control(store, settings.accounts)
        return await control.switches(), await control.audit(args.limit)

    switches, audit = asyncio.run(_with_store(settings, run))
    scopes = ["global", *settings.accounts]
    rows: list[dict[str, Any]] = []
    for scope in scopes:
        rec = switches.get(scope)
        rows.append(
            {
                "scope": scope,
                "state": rec.state if rec else "active",
                "reason": rec.reason if rec else None,
                "actor": rec.actor if rec else None,
                "updated_at": rec.updated_at.isoformat() if rec else None,
            }
        )
    if args.json:
        print(json.dumps({"switches": rows, "audit": audit}, default=str, ensure_ascii=False))
        return 0
    m = i18n.messages(settings.language)
    # A switch is no market's: its times are UTC, the zone named.
    switches_shown = [
        [
            row["scope"],
            _state_word(m, row["state"]),
            row["reason"] or "",
            row["actor"] or "",
            fmt.local_time(row["updated_at"]),
        ]
        for row in rows
    ]
    heads = [m["scope"], m["status"], m["reason"], m["by"], m["updated"]]
    print(fmt.table(switches_shown, heads, max_width=60))
    if audit:
        entries = []
        for entry in audit:
            detail = entry["detail"] if isinstance(entry["detail"], dict) else {}
            change = (
                f"{_state_word(m, str(detail.get('from', '?')))} -> "
                f"{_state_word(m, str(detail.get('to', '?')))}"
            )
            entries.append(
                [
                    fmt.local_time(entry["at"]),
                    entry["actor"],
                    entry["target"],
                    change,
                    str(detail.get("reason", "")),
                ]
            )
        heads = [m["time"], m["by"], m["scope"], m["change"], m["reason"]]
        print()
        print(fmt.table(entries, heads, max_width=60))
    return 0


def _queue(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.bootstrap import build_order_queue

    async def run(store: Any) -> tuple[list[dict[str, Any]], dict[names.Key, str]]:
        listed = await build_order_queue(store).listing(args.limit, pending_only=not args.all)
        if args.json:
            return listed, {}
        wanted = [(fmt.market_of(r.get("exchange")), str(r.get("ticker"))) for r in listed]
        return listed, await names.ticker_names(store, wanted, settings.language)

    rows, tickers = asyncio.run(_with_store(settings, run))
    fields = (
        "client_order_id",
        "signal_key",
        "account",
        "strategy",
        "exchange",
        "ticker",
        "state",
        "reason",
        "detail",
        "release_after",
        "expires_at",
        "queued_at",
    )
    shown = [{f: _plain(r.get(f)) for f in fields} for r in rows]
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=1))
        return 0
    m = i18n.messages(settings.language)
    lines = []
    for r in shown:
        market = fmt.market_of(r["exchange"])
        lines.append(
            [
                fmt.local_time(r["queued_at"], market, utc=args.utc),
                r["client_order_id"],
                r["account"],
                f"{r['exchange']}:{r['ticker']}",
                tickers.get((market, str(r["ticker"])), ""),
                i18n.label(settings.language, str(r["state"])),
                fmt.local_time(r["release_after"], market, utc=args.utc),
                i18n.label(settings.language, str(r["reason"])) if r["reason"] else "",
            ]
        )
    heads = [m["time"], m["order"], m["account"], m["ticker"], m["name"], m["status"]]
    print(fmt.table(lines, [*heads, m["release_after"], m["reason"]]))
    if not shown:
        print(f"({m['none']})")
    return 0


def _queue_cancel(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.bootstrap import build_order_queue, system_clock

    async def run(store: Any) -> bool:
        return await build_order_queue(store).cancel(
            args.client_order_id, f"{cli_actor()}: {args.reason}", system_clock().now()
        )

    if not asyncio.run(_with_store(settings, run)):
        print(f"yquant: no queued order {args.client_order_id} (released, gone or unknown)")
        return 1
    print(f"cancelled {args.client_order_id}")
    return 0


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.entrypoints.simulate import render, simulate

    text = args.payload
    if text.lstrip().startswith(("{", "[")):
        body = text.encode()
    elif text == "-":
        body = sys.stdin.buffer.read()
    else:
        path = Path(text.removeprefix("@"))
        try:
            body = path.read_bytes()
        except OSError as exc:
            print(f"yquant: cannot read {path}: {exc.strerror} (give a file or the JSON itself)")
            return 2
    from yquant.bootstrap import system_clock

    at = args.at or system_clock().now()
    if at.tzinfo is None:
        print("yquant: --at needs a UTC offset, e.g. 2026-11-30T09:00:00+09:00")
        return 2
    report = asyncio.run(simulate(settings, body, at))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(render(report, i18n.messages(settings.language)))
    return 0 if report.get("verdict") != "invalid" else 1
