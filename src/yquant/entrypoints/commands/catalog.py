"""`yquant catalog sync|status` and `yquant info TICKER`: the stock catalog for operators.

    catalog sync [KR US JP HK CN VN | all]   download KIS master files into the database
                                            (default KR US, the markets yQuant trades)
    catalog status                          version, rows and source of each market
    info TICKER                             one instrument: names, market, currency, tick rules

A sync shows its progress on a terminal (one line per file elsewhere, e.g. under systemd), then
a summary per market: rows added, removed and changed. Any failure leaves the catalog as it was
and exits with status 1 and a message that names the file and the problem.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from yquant.adapters.catalog.sources import MARKETS, MasterFile, exchange_scope
from yquant.adapters.catalog.ticks import describe
from yquant.domain.alerts import EXCHANGES
from yquant.entrypoints import formatting as fmt
from yquant.errors import DatabaseUnavailableError, SignalRejectedError

if TYPE_CHECKING:  # the heavy modules are imported by the handlers, not by `yquant --help`
    from yquant.adapters.catalog import CatalogCache, Listing, SyncReport
    from yquant.settings import Settings

DEFAULT_MARKETS = ("KR", "US")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "dry_run": "dry run: nothing was written",
        "written": "catalog written",
        "market": "market",
        "rows": "rows",
        "added": "added",
        "removed": "removed",
        "changed": "changed",
        "version": "version",
        "failed": "catalog sync failed",
        "unchanged": "nothing was changed",
        "db_down": "database unavailable",
        "not_found": "not in the catalog",
        "exchange": "exchange",
        "currency": "currency",
        "isin": "ISIN",
        "name_ko": "Korean name",
        "name_en": "English name",
        "type": "type",
        "lot": "lot size",
        "ticks": "tick size",
        "tradable": "tradable",
        "halted": "halted",
        "routing": "routing",
        "routes": "resolves to this listing",
        "rejected": "rejected",
        "catalog": "catalog",
        "yes": "yes",
        "no": "no",
        "source": "source",
        "synced": "synced",
    },
    "ko": {
        "dry_run": "시험 실행: 아무것도 쓰지 않았습니다",
        "written": "카탈로그 저장 완료",
        "market": "시장",
        "rows": "종목수",
        "added": "추가",
        "removed": "삭제",
        "changed": "변경",
        "version": "버전",
        "failed": "카탈로그 동기화 실패",
        "unchanged": "아무것도 바뀌지 않았습니다",
        "db_down": "데이터베이스에 연결할 수 없습니다",
        "not_found": "카탈로그에 없습니다",
        "exchange": "거래소",
        "currency": "통화",
        "isin": "ISIN",
        "name_ko": "한글명",
        "name_en": "영문명",
        "type": "종류",
        "lot": "매매단위",
        "ticks": "호가단위",
        "tradable": "매매가능",
        "halted": "거래정지",
        "routing": "주문경로",
        "routes": "이 종목으로 연결됩니다",
        "rejected": "거부",
        "catalog": "카탈로그",
        "yes": "예",
        "no": "아니오",
        "source": "출처",
        "synced": "동기화",
    },
}


def register(sub: Any) -> None:
    catalog = sub.add_parser("catalog", help="stock catalog: KIS master files")
    cs = catalog.add_subparsers(metavar="ACTION")
    s = cs.add_parser("sync", help="download the master files and replace the stored catalog")
    s.add_argument(
        "markets",
        nargs="*",
        type=_market,
        metavar="MARKET",
        help=f"{' '.join(MARKETS)} or all (default: {' '.join(DEFAULT_MARKETS)})",
    )
    s.add_argument("--dry-run", action="store_true", help="show the summary, write nothing")
    s.add_argument("--source-url-base", type=_url, help="where the *.zip files are")
    s.add_argument(
        "--allow-shrink", action="store_true", help="accept a file far smaller than the catalog"
    )
    s.add_argument("--json", action="store_true", help="the summary as JSON")
    s.set_defaults(func=_sync)

    st = cs.add_parser("status", help="version, rows and source of each stored market")
    st.add_argument("--json", action="store_true")
    st.add_argument("--utc", action="store_true", help="times in UTC, not the market's zone")
    st.set_defaults(func=_status)

    i = sub.add_parser("info", help="one instrument: names, market, currency, tick rules")
    i.add_argument("ticker", help="KRX:005930, NASDAQ:AAPL, or a plain ticker")
    i.add_argument("--exchange", help="the exchange, when TICKER has no prefix")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_info, needs_tables=True)


def _market(value: str) -> str:
    market = value.strip().upper()
    if market not in (*MARKETS, "ALL"):
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(MARKETS)}, all")
    return market


def _url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise argparse.ArgumentTypeError("must be an http(s) URL")
    return value if value.endswith("/") else value + "/"


# ---- sync ----------------------------------------------------------------------------------------


def _sync(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.adapters.catalog import CatalogSyncError, sync_catalog
    from yquant.bootstrap import with_store

    t = TEXT.get(settings.language, TEXT["en"])
    wanted = args.markets or list(DEFAULT_MARKETS)
    markets = list(MARKETS) if "ALL" in wanted else list(dict.fromkeys(wanted))
    progress = TerminalProgress(sys.stderr) if sys.stderr.isatty() else LineProgress(sys.stderr)

    async def run() -> SyncReport:
        async def synced(store: Any) -> SyncReport:
            return await sync_catalog(
                settings,
                store,
                markets,
                base_url=args.source_url_base,
                dry_run=args.dry_run,
                allow_shrink=args.allow_shrink,
                progress=progress,
            )

        return await with_store(settings, synced)

    try:
        report = asyncio.run(run())
    except CatalogSyncError as exc:
        progress.finish()
        print(f"yquant: {t['failed']}: {exc} ({t['unchanged']})", file=sys.stderr)
        if not args.dry_run:
            _tell(settings, markets, error=str(exc))
        return 1
    except DatabaseUnavailableError as exc:
        progress.finish()
        print(f"yquant: {t['failed']}: {t['db_down']} ({exc}); {t['unchanged']}", file=sys.stderr)
        return 1
    progress.finish()
    if not report.dry_run:
        _tell(settings, markets, report=report)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=1))
    else:
        print(summary(report, t))
    return 0


def _tell(
    settings: Settings,
    markets: list[str],
    *,
    report: SyncReport | None = None,
    error: str | None = None,
) -> None:
    """The sync's result as a notice (queued in the database: this job runs where no worker's
    Valkey is)."""
    from yquant.adapters.clock import SystemClock
    from yquant.bootstrap import queue_notice
    from yquant.domain.notices import Level, NoticeKind, notice

    now = SystemClock().now()
    told = notice(
        NoticeKind.CATALOG_SYNCED,
        f"{'-'.join(markets)}:{now.isoformat()}",
        now,
        level=Level.ERROR if error is not None else Level.INFO,
        market=" ".join(markets),
        rows=None
        if report is None
        else ", ".join(f"{m.market} {m.rows:,}" for m in report.markets),
        version=None
        if report is None
        else ", ".join(f"{m.market} {m.version_after}" for m in report.markets),
        error=error,
    )
    asyncio.run(queue_notice(settings, told))


def summary(report: SyncReport, t: dict[str, str]) -> str:
    head = t["dry_run"] if report.dry_run else t["written"]
    lines = [f"{head}  ({report.source})"]
    columns = [t["market"], t["rows"], t["added"], t["removed"], t["changed"], t["version"]]
    cells = []
    for m in report.markets:
        before = "-" if m.version_before is None else str(m.version_before)
        cells.append(
            [
                m.market,
                f"{m.rows:,}",
                f"{len(m.added):,}",
                f"{len(m.removed):,}",
                f"{len(m.changed):,}",
                f"{before} -> {m.version_after}",
            ]
        )
    lines.append(fmt.table(cells, columns))
    for m in report.markets:
        exchanges = ", ".join(f"{e} {n:,}" for e, n in sorted(m.by_exchange.items()))
        lines.append(f"  {m.market}: {exchanges}")
        for kind in ("added", "removed", "changed"):
            items: list[str] = getattr(m, kind)
            if items:
                more = f" (+{len(items) - 8})" if len(items) > 8 else ""
                lines.append(f"    {t[kind]}: {', '.join(items[:8])}{more}")
    return "\n".join(lines)


class LineProgress:
    """One line per file: for logs and the systemd journal."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def downloading(self, file: MasterFile, received: int, total: int | None) -> None:
        return None

    def parsed(self, file: MasterFile, rows: int, size: int) -> None:
        print(
            f"{file.market} {file.exchange:<7} {file.archive:<22} {rows:>7,} rows", file=self._out
        )

    def finish(self) -> None:
        self._out.flush()


class TerminalProgress(LineProgress):
    """A line that counts bytes while a file downloads, then its rows."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self._open = False

    def downloading(self, file: MasterFile, received: int, total: int | None) -> None:
        of = f" / {_size(total)}" if total else ""
        text = f"{file.market} {file.exchange:<7} {file.archive:<22} {_size(received)}{of}"
        self._out.write("\r" + text.ljust(72))
        self._out.flush()
        self._open = True

    def parsed(self, file: MasterFile, rows: int, size: int) -> None:
        if self._open:
            self._out.write("\r" + " " * 72 + "\r")
            self._open = False
        super().parsed(file, rows, size)

    def finish(self) -> None:
        if self._open:
            self._out.write("\n")
            self._open = False
        super().finish()


def _size(n: int) -> str:
    if n >= 1_048_576:
        return f"{n / 1_048_576:.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 10_240 else f"{n:,} B"


# ---- status --------------------------------------------------------------------------------------


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.bootstrap import catalog_repository, store_session

    t = TEXT.get(settings.language, TEXT["en"])

    async def run() -> list[dict[str, Any]]:
        async with store_session(settings) as store:
            versions = await catalog_repository(store).versions()
        return [
            {
                "market": v.market,
                "version": v.version,
                "rows": v.count,
                "source": v.source,
                "synced_at": v.synced_at.isoformat(),
            }
            for v in sorted(versions.values(), key=lambda v: v.market)
        ]

    rows = asyncio.run(run())
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print(f"({t['catalog']}: -)")
        return 0
    shown = [
        [
            r["market"],
            str(r["version"]),
            fmt.number(r["rows"]),
            fmt.local_time(r["synced_at"], r["market"], utc=args.utc),
            r["source"] or "",
        ]
        for r in rows
    ]
    heads = [t["market"], t["version"], t["rows"], t["synced"], t["source"]]
    print(fmt.table(shown, heads, align="lrrll", max_width=80))
    return 0


# ---- info ----------------------------------------------------------------------------------------


def _info(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.adapters.catalog import read_catalog
    from yquant.bootstrap import catalog_cache, catalog_repository, store_session

    t = TEXT.get(settings.language, TEXT["en"])
    raw = args.ticker.strip()
    exchange = args.exchange
    ticker = raw
    if ":" in raw:
        exchange, ticker = raw.split(":", 1)
    exchange = exchange.strip().upper() if exchange else None

    async def run() -> tuple[CatalogCache, dict[str, str]]:
        async with store_session(settings) as store:
            repo = catalog_repository(store)
            versions = await repo.versions()
            listings, numbers = await read_catalog(repo, seed=False, markets=MARKETS)
        sources = {m: v.source or "" for m, v in versions.items()}
        return catalog_cache(listings, numbers, source="database"), sources

    cache, sources = asyncio.run(run())
    matches = _matches(cache, ticker, exchange)
    if not matches:
        where = f"{exchange}:{ticker}" if exchange else ticker
        print(f"yquant: {where}: {t['not_found']}", file=sys.stderr)
        return 1
    items = [_describe(cache, sources, x, exchange) for x in matches]
    if args.json:
        print(json.dumps(items, ensure_ascii=False, indent=1))
        return 0
    print("\n\n".join(_render(item, t) for item in items))
    return 0


def _matches(cache: CatalogCache, ticker: str, exchange: str | None) -> list[Listing]:
    found = cache.find(ticker)
    if exchange is None:
        return found
    known = EXCHANGES.get(exchange)
    scope = exchange_scope(known[1] if known else exchange)
    return [x for x in found if x.exchange in scope]


def _describe(
    cache: CatalogCache, sources: dict[str, str], x: Listing, exchange: str | None
) -> dict[str, Any]:
    item = x.as_json()
    item["tick_rules"] = describe(x.market, x.security_type, x.currency)
    known = EXCHANGES.get(exchange) if exchange else None
    query = f"{known[1]}:{x.ticker}" if known else f"{x.exchange}:{x.ticker}"
    try:
        if known is not None:
            cache.resolve_listing(known[0], known[1], x.ticker)
        else:
            cache.resolve_listing(x.market, x.exchange, x.ticker)
        item["routing"] = {"query": query, "status": "ok"}
    except SignalRejectedError as exc:
        item["routing"] = {"query": query, "status": exc.reason, "detail": exc.detail}
    except ValueError:
        item["routing"] = {"query": query, "status": "not_routed", "detail": "market not traded"}
    item["catalog"] = {
        "version": cache.version().get(x.market),
        "source": sources.get(x.market) or "package snapshot",
    }
    return item


def _render(item: dict[str, Any], t: dict[str, str]) -> str:
    def yes(value: bool) -> str:
        return t["yes"] if value else t["no"]

    name = item["name_ko"] or item["name_en"] or ""
    routing = item["routing"]
    route = (
        f"{routing['query']} {t['routes']}"
        if routing["status"] == "ok"
        else f"{t['rejected']}: {routing['status']} ({routing.get('detail', '')})"
    )
    version = item["catalog"]["version"]
    rows = [
        (t["market"], f"{item['market']}  ({t['exchange']} {item['exchange']})"),
        (t["currency"], item["currency"]),
        (t["isin"], item["standard_code"] or "-"),
        (t["name_ko"], item["name_ko"] or "-"),
        (t["name_en"], item["name_en"] or "-"),
        (t["type"], item["security_type"] or "-"),
        (t["lot"], item["lot_size"] or "-"),
        (t["ticks"], item["tick_rules"]),
        (t["tradable"], yes(item["tradable"])),
        (t["halted"], yes(item["halted"])),
        (t["routing"], route),
        (t["catalog"], f"{t['version']} {version or '-'}  ({item['catalog']['source']})"),
    ]
    body = fmt.table(rows, indent="  ", max_width=200)
    return "\n".join([f"{item['exchange']}:{item['ticker']}  {name}", body])
