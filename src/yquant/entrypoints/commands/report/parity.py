"""`yquant report parity`: what TradingView's Strategy Tester traded against what the strategy
traded live.

    yquant report parity --strategy S --tv-trades FILE [--ticker T] [--tz ZONE]
                         [--window-min N] [--json]

FILE is the Strategy Tester's "List of trades" exported to CSV (English or Korean headers;
`yquant.domain.parity` lists what is accepted and what of it was verified). Each backtest row
(an entry or an exit) is matched to the nearest live order of the strategy with the same side
decided within ``--window-min`` minutes (default 5) in the instrument (``--ticker``, default
the one the strategy traded). Reported: the matches with their quantity and price differences,
the missed signals (backtest rows with no live order), the extra live trades (live fills with
no backtest row) and the P&L gap over the trades both closed. The export's times are in the
chart's zone: ``--tz`` (default: the exchange's, as TradingView charts show). A file that is
not such an export is refused with its line and column, exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n
from yquant.errors import ConfigurationError
from yquant.settings import Settings
from yquant.views import plain

if TYPE_CHECKING:
    from yquant.domain.parity import Parity


def register(reports: Any, group: argparse.ArgumentParser) -> None:
    p = reports.add_parser(
        "parity",
        help="TradingView Strategy Tester's trades against the live orders of a strategy",
        description=(
            "Match the Strategy Tester's List of trades (CSV export) to the strategy's live "
            "orders: missed signals, extra live trades, quantity and price differences, P&L gap."
        ),
    )
    p.add_argument("--strategy", required=True, help="the strategy (as the alerts name it)")
    p.add_argument("--tv-trades", required=True, type=Path, help="the exported CSV file")
    p.add_argument("--ticker", help="the instrument (default: the one the strategy traded)")
    p.add_argument("--tz", help="the chart's time zone (default: the exchange's)")
    p.add_argument(
        "--window-min",
        type=float,
        default=5.0,
        help="how far apart a backtest row and a live order may be, in minutes (default 5)",
    )
    p.add_argument("--json", action="store_true", help="a JSON object for scripts")
    p.set_defaults(func=_parity, needs_tables=True)


def _parity(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.domain.parity import TradesFileError

    m = i18n.messages(settings.language)
    if not 0 < args.window_min <= 24 * 60:
        raise ConfigurationError("--window-min: between 0 and 1440 minutes")
    try:
        text = args.tv_trades.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        data = args.tv_trades.read_bytes()
        line = data[: exc.start].count(b"\n") + 1
        print(
            f"yquant: {args.tv_trades}: line {line}: not UTF-8 text (save the export as CSV)",
            file=sys.stderr,
        )
        return 2
    try:
        parity, ticker, currency = asyncio.run(_read(settings, args, text))
    except TradesFileError as exc:
        print(
            f"yquant: {m['parity_bad_file'].format(path=args.tv_trades, error=exc)}",
            file=sys.stderr,
        )
        return 2
    out = parity_json(parity, args.strategy, ticker, currency)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    print(parity_text(out, settings.language))
    return 0


async def _read(settings: Settings, args: argparse.Namespace, text: str) -> Any:
    from yquant.bootstrap import report_reads, store_session
    from yquant.services.parity import parity_report

    async with store_session(settings) as store:
        return await parity_report(
            report_reads(settings, store),
            strategy=args.strategy,
            text=text,
            window=timedelta(minutes=args.window_min),
            ticker=args.ticker,
            zone=args.tz,
        )


def parity_json(parity: Parity, strategy: str, ticker: str, currency: str | None) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "ticker": ticker,
        "currency": currency,
        "rows": len(parity.matched) + len(parity.missed),
        "matched": [
            {
                "trade": x.tv.trade,
                "line": x.tv.line,
                "entry": x.tv.entry,
                "side": x.tv.side.value,
                "tv_time": x.tv.at.isoformat(),
                "live_time": x.live.decided_at.isoformat(),
                "delay_s": round(x.delay_s, 3),
                "client_order_id": x.live.client_order_id,
                "account": x.live.account,
                "tv_quantity": plain(x.tv.quantity),
                "live_quantity": plain(x.live.filled_quantity),
                "quantity_diff": plain(x.quantity_diff),
                "tv_price": plain(x.tv.price),
                "live_price": plain(x.live.fill_price),
                "price_diff": plain(x.price_diff),
                "price_diff_bps": plain(x.price_diff_bps),
            }
            for x in parity.matched
        ],
        "missed": [
            {
                "trade": r.trade,
                "line": r.line,
                "entry": r.entry,
                "side": r.side.value,
                "time": r.at.isoformat(),
                "price": plain(r.price),
                "quantity": plain(r.quantity),
            }
            for r in parity.missed
        ],
        "extra": [
            {
                "client_order_id": o.client_order_id,
                "account": o.account,
                "side": o.side.value,
                "time": o.decided_at.isoformat(),
                "quantity": plain(o.filled_quantity),
                "price": plain(o.fill_price),
            }
            for o in parity.extra
        ],
        "trades": [
            {
                "trade": t.trade,
                "tv_profit": plain(t.tv_profit),
                "live_profit": plain(t.live_profit),
                "gap": plain(t.gap),
            }
            for t in parity.trades
        ],
        "pnl": {
            "compared_trades": len(parity.compared_trades),
            "tv": plain(parity.tv_profit),
            "live": plain(parity.live_profit),
            "gap": plain(parity.pnl_gap),
        },
        "open_trades": list(parity.open_trades),
    }


def parity_text(r: dict[str, Any], language: str) -> str:
    m = i18n.messages(language)
    cur = r["currency"]
    lines = [m["parity_title"].format(strategy=r["strategy"], ticker=r["ticker"])]
    lines.append(
        m["parity_counts"].format(
            rows=r["rows"],
            matched=len(r["matched"]),
            missed=len(r["missed"]),
            extra=len(r["extra"]),
        )
    )
    if r["matched"]:
        lines += ["", m["parity_matched"]]
        rows = [
            [
                f"#{x['trade']}",
                x["side"],
                x["tv_time"][:16].replace("T", " "),
                f"{x['delay_s']:+.0f} s",
                f"{fmt.quantity(x['tv_quantity'])} / {fmt.quantity(x['live_quantity'])}",
                f"{fmt.money(x['tv_price'], cur)} / {fmt.money(x['live_price'], cur)}",
                f"{x['price_diff_bps'] or '-'} bps",
            ]
            for x in r["matched"]
        ]
        headers = [
            "#",
            m["report_side"],
            m["report_time"],
            m["report_delay"],
            m["report_quantity"] + " TV/live",
            m["report_price"] + " TV/live",
            "bps",
        ]
        lines.append(fmt.table(rows, headers, align="llllrrr", indent="  "))
    if r["missed"]:
        lines += ["", m["parity_missed"]]
        rows = [
            [
                f"#{x['trade']}",
                x["side"],
                x["time"][:16].replace("T", " "),
                fmt.quantity(x["quantity"]),
                fmt.money(x["price"], cur),
            ]
            for x in r["missed"]
        ]
        lines.append(fmt.table(rows, align="lllrr", indent="  "))
    if r["extra"]:
        lines += ["", m["parity_extra"]]
        rows = [
            [
                x["client_order_id"],
                x["side"],
                x["time"][:16].replace("T", " "),
                fmt.quantity(x["quantity"]),
                fmt.money(x["price"], cur),
            ]
            for x in r["extra"]
        ]
        lines.append(fmt.table(rows, align="lllrr", indent="  "))
    p = r["pnl"]
    lines.append("")
    lines.append(
        m["parity_pnl"].format(
            trades=p["compared_trades"],
            tv=fmt.money(p["tv"], cur),
            live=fmt.money(p["live"], cur),
            gap=fmt.money(p["gap"], cur),
        )
    )
    if r["open_trades"]:
        shown = ", ".join(f"#{t}" for t in r["open_trades"])
        lines.append(m["parity_open"].format(trades=shown))
    return "\n".join(lines)
