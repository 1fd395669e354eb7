"""`yquant report execution`: how fast and at what price the strategies' orders were carried
out.

    yquant report execution [--strategy S] [--from D] [--to D] [--json]

For the orders decided in the period, per strategy, market and broker and in total: the p50,
p95 and p99 of each hop of the path (TradingView's ``timenow`` → received → decided → sent to
the broker → accepted by it → first fill → last fill) in seconds, and of the slippage against
the alert's price in basis points (positive: worse for the trader). Days are local days of
``dashboard.time_zone``. See `yquant.domain.execution` for where each time is recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n
from yquant.entrypoints.periods import add_period, period
from yquant.settings import Settings


def register(reports: Any, group: argparse.ArgumentParser) -> None:
    p = reports.add_parser(
        "execution",
        help="latency of each hop from TradingView to the fill, and slippage (p50/p95/p99)",
        description=(
            "Percentiles of each hop of the order path and of slippage against the alert's "
            "price, per strategy, market and broker."
        ),
    )
    p.add_argument("--strategy", help="one strategy (default: all)")
    add_period(p)
    p.add_argument("--json", action="store_true", help="a JSON object for scripts")
    p.set_defaults(func=_execution, needs_tables=True)


def _execution(settings: Settings, args: argparse.Namespace) -> int:
    since, until, zone = period(settings, args)
    groups = asyncio.run(_read(settings, since, until, args.strategy))
    head = {"since": since.isoformat(), "until": until.isoformat(), "zone": zone}
    if args.json:
        print(json.dumps({**head, "groups": groups}, ensure_ascii=False, indent=1))
        return 0
    print(execution_text(head, groups, settings.language))
    return 0


async def _read(
    settings: Settings, since: datetime, until: datetime, strategy: str | None
) -> list[dict[str, Any]]:
    from yquant.bootstrap import report_reads, store_session
    from yquant.services.execution_report import execution_quality, quality_json

    async with store_session(settings) as store:
        groups = await execution_quality(report_reads(settings, store), since, until, strategy)
    return quality_json(groups)


def execution_text(head: dict[str, str], groups: list[dict[str, Any]], language: str) -> str:
    m = i18n.messages(language)
    since, until = head["since"][:10], _last_day(head["until"])
    lines = [m["exec_title"].format(since=since, until=until, zone=head["zone"])]
    if not groups:
        lines.append(m["exec_none"])
        return "\n".join(lines)
    for g in groups:
        lines.append("")
        if g["strategy"] == "*":
            lines.append(m["exec_all"])
        else:
            lines.append(m["exec_group"].format(**g))
        lines.append(m["exec_orders"].format(orders=g["orders"], filled=g["filled"]))
        rows: list[list[object]] = []
        for hop, spread in g["hops_s"].items():
            if spread is None:
                continue
            rows.append(
                [
                    m[f"hop_{hop}"],
                    spread["count"],
                    *(_seconds(spread[p]) for p in ("p50", "p95", "p99")),
                ]
            )
        slip = g["slippage_bps"]
        if slip is not None:
            rows.append([m["exec_slippage"], slip["count"], slip["p50"], slip["p95"], slip["p99"]])
        headers = [m["exec_measure"], m["exec_count"], "p50", "p95", "p99"]
        lines.append(fmt.table(rows, headers, align="lrrrr", indent="  "))
    return "\n".join(lines)


def _seconds(value: float) -> str:
    if abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def _last_day(until: str) -> str:
    return (datetime.fromisoformat(until) - timedelta(days=1)).date().isoformat()
