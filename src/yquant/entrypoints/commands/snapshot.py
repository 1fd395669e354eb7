"""`yquant snapshot`: take (or back-fill) the daily snapshots by hand.

    yquant snapshot [--date YYYY-MM-DD] [--account A] [--json]

For each account (or ``--account``) and market (KRX in Seoul time, the US exchanges in New
York time): the snapshot of ``--date`` (default: each market's latest session that has
closed). While that day's next session has not opened, it is taken from the broker (again:
the same row); a day stored before is kept; a day missed is back-filled from the fills and
the prices recorded, with the days missed before it. The active worker's gateway does the
same on its own after each close (docs/reports.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from yquant.entrypoints import formatting as fmt
from yquant.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    RejectedError,
    RetryableError,
)
from yquant.settings import Settings
from yquant.views import plain

if TYPE_CHECKING:
    from yquant.services.snapshots import Result

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "account": "Account",
        "market": "Market",
        "day": "Day",
        "outcome": "Snapshot",
        "equity": "Equity",
        "flow": "Deposit/withdrawal",
        "fx": "FX (KRW)",
        "taken": "taken from the broker",
        "backfilled": "back-filled from the fills",
        "kept": "kept as stored",
        "empty": "nothing in this currency",
        "closed": "market closed that day",
        "not_yet": "not closed yet",
        "no_database": "snapshots are stored in the database, which is unavailable ({reason})",
    },
    "ko": {
        "account": "계좌",
        "market": "시장",
        "day": "날짜",
        "outcome": "스냅샷",
        "equity": "평가금액",
        "flow": "입출금",
        "fx": "환율 (원)",
        "taken": "증권사 잔고로 기록",
        "backfilled": "체결 내역으로 보충",
        "kept": "기존 기록 유지",
        "empty": "이 통화의 자산 없음",
        "closed": "휴장일",
        "not_yet": "아직 마감 전",
        "no_database": "스냅샷은 데이터베이스에 저장되는데, 연결할 수 없습니다 ({reason})",
    },
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "snapshot",
        help="take (or back-fill) the daily snapshot of each account after the close",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--date", type=date.fromisoformat, metavar="YYYY-MM-DD")
    p.add_argument("--account", help="one account (default: all)")
    p.add_argument("--json", action="store_true", help="a JSON array for scripts")
    p.set_defaults(func=_snapshot, needs_tables=True)


def _snapshot(settings: Settings, args: argparse.Namespace) -> int:
    if args.account is not None and args.account not in settings.accounts:
        raise ConfigurationError(f"accounts.{args.account}: no such account")
    t = TEXT.get(settings.language, TEXT["en"])
    try:
        results, refused = asyncio.run(_take(settings, args.account, args.date))
    except DatabaseUnavailableError as exc:
        print(f"yquant: {t['no_database'].format(reason=exc)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([result_json(r) for r in results], ensure_ascii=False, indent=1))
    else:
        heads = [t["account"], t["market"], t["day"], t["outcome"]]
        heads += [t["equity"], t["flow"], t["fx"]]
        print(fmt.table([_cells(r, t) for r in results], heads, align="llllrrr"))
    for problem in refused:
        print(f"yquant: {problem}", file=sys.stderr)
    return 2 if refused else 0


async def _take(
    settings: Settings, account: str | None, day: date | None
) -> tuple[list[Result], list[str]]:
    """The snapshots, and what refused one (a missing FX rate, a broker that did not answer):
    the others are still taken."""
    from yquant.bootstrap import build_broker, build_snapshots, open_store

    store = open_store(settings)
    brokers = build_broker(settings)
    try:
        await store.ping()
        await brokers.connect()
        service = build_snapshots(settings, store, brokers=brokers)
        now = service.clock_now()
        results, refused = [], []
        for market in service.markets:
            wanted = day or service.last_closed(market, now)
            if wanted is None:
                continue
            for name in [account] if account else list(settings.accounts):
                try:
                    results.append(await service.snapshot(name, market, wanted))
                except ConfigurationError as exc:
                    refused.append(str(exc))
                except DatabaseUnavailableError:
                    raise  # said once, for every snapshot
                except (RetryableError, RejectedError) as exc:  # its broker did not answer
                    refused.append(f"{name} {market.value}: {exc}")
        return results, refused
    finally:
        await brokers.close()
        await store.close()


def result_json(r: Result) -> dict[str, Any]:
    s = r.snapshot
    out: dict[str, Any] = {
        "account": r.account,
        "market": r.market.value,
        "day": r.day.isoformat(),
        "outcome": r.outcome.value,
    }
    if s is not None:
        out |= {
            "currency": s.currency,
            "cash": plain(s.cash),
            "positions_value": plain(s.positions_value),
            "equity": plain(s.equity),
            "equity_krw": plain(s.equity_krw),
            "flow": plain(s.flow),
            "realised": plain(s.realised),
            "unrealised": plain(s.unrealised),
            "fx_rate": plain(s.fx.rate),
            "fx_source": s.fx.source.value,
            "fx_at": s.fx.at.isoformat() if s.fx.at else None,
            "source": s.source.value,
            "strategies": [
                {
                    "strategy": x.strategy,
                    "position_value": plain(x.position_value),
                    "cost_value": plain(x.cost_value),
                    "realised": plain(x.realised),
                    "unrealised": plain(x.unrealised),
                }
                for x in s.strategies
            ],
        }
    return out


def _cells(r: Result, t: dict[str, str]) -> list[str]:
    s = r.snapshot
    equity = fmt.money(s.equity, s.currency) if s else ""
    flow = fmt.money(s.flow, s.currency) if s and s.flow else ""
    fx = f"{fmt.number(s.fx.rate)} ({s.fx.source.value})" if s and s.currency != "KRW" else ""
    return [r.account, r.market.value, r.day.isoformat(), t[r.outcome.value], equity, flow, fx]
