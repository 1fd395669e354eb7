"""`yquant replay`: the recorded alerts of a period decided again with other settings.

    yquant replay --from D --to D [--strategy S] [--config OTHER.toml] [--json]

Every alert recorded in the period (``--strategy``: one strategy's) runs through the engine's
decision as it arrived, with the settings of OTHER.toml (default: the current ones), on a
private paper account per configured account and a private database in a temporary directory
removed afterwards. Reported: what each alert would have traded (or why not) and, per strategy,
the P&L the replay makes against the P&L the live orders made over the period. Nothing real is
touched: the real database is only read, no broker is called, no message is published (see
`yquant.services.replay`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n
from yquant.entrypoints.periods import add_period, period
from yquant.errors import ConfigurationError
from yquant.settings import Settings
from yquant.views import plain

if TYPE_CHECKING:
    from datetime import datetime

    from yquant.services.replay import ReplayResult


def register(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="decide the recorded alerts of a period again with other settings, on paper",
        description=(
            "Run the recorded alerts of a period through the engine's decision with other "
            "settings on a private paper account; report what would have been traded and the "
            "P&L difference. Never touches the real accounts, orders or book."
        ),
    )
    add_period(p, required=True)
    p.add_argument("--strategy", help="one strategy's alerts (default: all)")
    p.add_argument(
        "--config",
        dest="replay_config",
        type=Path,
        help="the settings to replay with (default: the current ones); given after `replay`",
    )
    p.add_argument("--json", action="store_true", help="a JSON object for scripts")
    p.set_defaults(func=_replay, needs_tables=True)


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    since, until, _zone = period(settings, args)
    other = _other_settings(args.replay_config) if args.replay_config else settings
    result = asyncio.run(replay(settings, other, since, until, args.strategy))
    out = replay_json(result)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    config = str(args.replay_config) if args.replay_config else "(current settings)"
    print(replay_text(out, args.since, args.until, config, settings.language))
    return 0


def _other_settings(path: Path) -> Settings:
    """The settings of ``path`` alone (the environment's YQUANT__ variables still apply, as
    for every settings file)."""
    import os

    from yquant.settings import CONFIG_ENV, load_settings

    before = os.environ.get(CONFIG_ENV)
    try:
        return load_settings(path)
    except ConfigurationError as exc:
        raise ConfigurationError(f"--config {path}: {exc}") from None
    finally:
        if before is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = before


async def replay(
    settings: Settings, other: Settings, since: datetime, until: datetime, strategy: str | None
) -> ReplayResult:
    from yquant.bootstrap import replay_session

    with tempfile.TemporaryDirectory(prefix="yquant-replay-") as workdir:
        async with replay_session(settings, other, Path(workdir)) as session:
            return await session.run(since, until, strategy)


def replay_json(result: ReplayResult) -> dict[str, Any]:
    return {
        "alerts": [
            {
                "signal_key": a.signal_key,
                "strategy": a.strategy,
                "ticker": a.ticker,
                "action": a.action,
                "received_at": a.received_at.isoformat(),
                "recorded_status": a.recorded_status,
                "verdict": a.verdict,
                "reason": a.reason,
                "orders": [
                    {
                        "account": o.account,
                        "side": o.side,
                        "quantity": plain(o.quantity),
                        "status": o.status,
                        "filled_quantity": plain(o.filled_quantity),
                        "fill_price": plain(o.fill_price),
                    }
                    for o in a.orders
                ],
            }
            for a in result.alerts
        ],
        "counts": {v: result.count(v) for v in ("order", "queued", "rejected")},
        "pnl": [
            {
                "strategy": p.strategy,
                "currency": p.currency,
                "replay": plain(p.replay),
                "live": plain(p.live),
                "difference": plain(p.difference),
            }
            for p in result.pnl
        ],
    }


def replay_text(r: dict[str, Any], since: str, until: str, config: str, language: str) -> str:
    m = i18n.messages(language)
    lines = [m["replay_title"].format(since=since, until=until, config=config)]
    c = r["counts"]
    lines.append(m["replay_counts"].format(alerts=len(r["alerts"]), **c))
    rows = []
    for a in r["alerts"]:
        if a["orders"]:
            what = "; ".join(
                f"{o['account']} {o['side']} {fmt.quantity(o['quantity'])}"
                f" {o['status']}" + (f" @ {fmt.number(o['fill_price'])}" if o["fill_price"] else "")
                for o in a["orders"]
            )
        else:
            what = i18n.label(language, a["reason"]) if a["reason"] else ""
        rows.append(
            [
                a["received_at"][:19].replace("T", " "),
                a["strategy"],
                f"{a['action']} {a['ticker']}",
                a["recorded_status"],
                a["verdict"],
                what,
            ]
        )
    if rows:
        lines.append(fmt.table(rows, indent="  ", max_width=60))
    if r["pnl"]:
        lines += ["", m["replay_pnl"]]
        rows = [
            [
                p["strategy"],
                fmt.money(p["replay"], p["currency"]),
                fmt.money(p["live"], p["currency"]),
                fmt.money(p["difference"], p["currency"]),
            ]
            for p in r["pnl"]
        ]
        headers = ["", m["replay_replayed"], m["replay_live"], m["replay_difference"]]
        lines.append(fmt.table(rows, headers, align="lrrr", indent="  "))
    return "\n".join(lines)
