"""`yquant report` / `yquant report performance`: returns, risk and trade statistics.

    yquant report [--account A] [--strategy S] [--from D] [--to D] [--json | --csv FILE]

Of one account (default: every account together) or one strategy, over the daily snapshots
from ``--from`` to ``--to`` (both included; default: all): cumulative return, CAGR,
volatility, Sharpe, Sortino, maximum drawdown and its duration, exposure, and the round trips'
count, win rate, profit factor and average win and loss; then each strategy's, side by side.
Returns are time-weighted in KRW (docs/reports.md). ``--csv FILE``: the daily returns as
``date,returns`` (QuantStats reads it with ``pd.read_csv(FILE, index_col="date",
parse_dates=True)["returns"]``); ``-`` writes them to the standard output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import performance as perf
from yquant.errors import ConfigurationError, DatabaseUnavailableError
from yquant.settings import Settings

if TYPE_CHECKING:
    from yquant.services.reports import Report


def register(reports: Any, group: argparse.ArgumentParser) -> None:
    """The bare `yquant report` is this report too: its options go on ``group`` as well."""
    _options(group, default=None)
    group.set_defaults(func=run, needs_tables=True)
    p = reports.add_parser(
        "performance",
        help="returns, risk and trade statistics per account or strategy (the default)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # SUPPRESS: an option not given here leaves what `yquant report --x` set before it.
    _options(p, default=argparse.SUPPRESS)
    p.set_defaults(func=run, needs_tables=True)


def _options(p: argparse.ArgumentParser, *, default: Any) -> None:
    p.add_argument("--account", default=default, help="one account (default: all together)")
    p.add_argument("--strategy", default=default, help="one strategy")
    p.add_argument(
        "--from",
        dest="since",
        type=date.fromisoformat,
        default=default,
        metavar="YYYY-MM-DD",
        help="first day (its equity is the base; default: the first snapshot)",
    )
    p.add_argument(
        "--to",
        dest="until",
        type=date.fromisoformat,
        default=default,
        metavar="YYYY-MM-DD",
        help="last day, included (default: the latest snapshot)",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--json", action="store_true", default=default, help="a JSON object for scripts"
    )
    out.add_argument(
        "--csv", type=Path, default=default, metavar="FILE", help="daily returns as CSV (-: stdout)"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    account = getattr(args, "account", None)
    if account is not None and account not in settings.accounts:
        raise ConfigurationError(f"accounts.{account}: no such account")
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since is not None and until is not None and since > until:
        raise ConfigurationError(f"--from {since} is after --to {until}")
    w = perf.words(settings.language)
    try:
        report = asyncio.run(
            _read(settings, account, getattr(args, "strategy", None), since, until)
        )
    except DatabaseUnavailableError as exc:
        print(f"yquant: {w['no_database'].format(reason=exc)}", file=sys.stderr)
        return 1
    csv_path = getattr(args, "csv", None)
    if csv_path is not None:
        text = perf.returns_csv(report)
        if str(csv_path) == "-":
            sys.stdout.write(text)
        else:
            csv_path.write_text(text, encoding="utf-8")
        return 0
    if getattr(args, "json", False):
        print(json.dumps(perf.report_json(report), ensure_ascii=False, indent=1))
        return 0
    print(report_text(report, settings.language))
    return 0


async def _read(
    settings: Settings,
    account: str | None,
    strategy: str | None,
    since: date | None,
    until: date | None,
) -> Report:
    from yquant.bootstrap import build_reports, open_store

    store = open_store(settings)
    try:
        reports = build_reports(settings, store)
        return await reports.report(account=account, strategy=strategy, since=since, until=until)
    finally:
        await store.close()


def report_text(report: Report, language: str) -> str:
    w = perf.words(language)
    scope = report.account or w["all_accounts"]
    if report.strategy:
        scope += f" / {report.strategy}"
    m = report.metrics
    period = f"{m.start or '–'} … {m.end or '–'}"
    lines = [f"{w['performance']}: {scope}  ({w['period']} {period})"]
    if not report.returns:
        lines.append(f"  {w['no_snapshots']}")
        return "\n".join(lines)
    rows = [[name, value] for _, name, value in perf.metric_rows(m, language)]
    rows.append([w["flows"], fmt.money(report.flows, "KRW")])
    lines.append(fmt.table(rows, [w["metric"], w["value"]], align="lr"))
    if report.strategies and report.strategy is None:
        names = list(report.strategies)
        heads = [w["metric"], *names]
        cells = [
            [w[name], *(perf.shown(report.strategies[s], name, kind, language) for s in names)]
            for name, kind in perf.METRICS
        ]
        lines += ["", w["strategies"], fmt.table(cells, heads, align="l" + "r" * len(names))]
    lines += ["", w["twr_note"], w["base_note"]]
    return "\n".join(lines)
