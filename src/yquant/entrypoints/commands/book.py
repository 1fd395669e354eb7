"""`yquant book`: each strategy's positions and P&L, checked against the brokers.

    yquant book [--account A] [--strategy S] [--synced] [--json] [--utc]

One row per account, strategy and instrument: the quantity, the average cost (moving average,
평균단가), the last price with the time it was seen and where (a broker quote, an alert, a fill,
the catalog's base price; ``*`` marks a stale one), the unrealised and realised P&L (net of
commissions and sell taxes), in the instrument's currency; then the totals per currency.

Each account is checked against what its broker holds (asked now; ``--synced``: as the last
account sync stored them, which asks no broker): a difference is an ``unattributed`` row, marked
``!``, never any strategy's. `yquant positions` shows the broker's own view.

The book is read from the database: while it is away the command says so and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n, names
from yquant.errors import ConfigurationError, DatabaseUnavailableError
from yquant.settings import Settings

if TYPE_CHECKING:
    from yquant.services.book import BookRow, BookView, Totals


def register(sub: Any) -> None:
    b = sub.add_parser(
        "book",
        help="each strategy's positions and P&L, checked against the brokers' holdings",
        description=(
            "Each strategy's positions and P&L (net of commissions and taxes), valued at the "
            "latest price, with the shares the brokers hold beyond them as unattributed rows."
        ),
    )
    b.add_argument("--account", help="one account (default: all)")
    b.add_argument("--strategy", help="one strategy (unattributed: only the differences)")
    b.add_argument(
        "--synced",
        action="store_true",
        help="check against the holdings of the last account sync instead of asking the brokers",
    )
    b.add_argument("--json", action="store_true", help="a JSON object for scripts")
    b.add_argument("--utc", action="store_true", help="times in UTC, not the market's zone")
    b.set_defaults(func=_book, needs_tables=True)


def _book(settings: Settings, args: argparse.Namespace) -> int:
    if args.account is not None and args.account not in settings.accounts:
        raise ConfigurationError(f"accounts.{args.account}: no such account")
    m = i18n.messages(settings.language)
    try:
        view, tickers = asyncio.run(_read(settings, args))
    except DatabaseUnavailableError as exc:
        print(f"yquant: {m['book_no_database'].format(reason=exc)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(book_json(view), ensure_ascii=False, indent=1))
        return 0
    print(book_text(view, settings, tickers, utc=args.utc))
    return 0


async def _read(
    settings: Settings, args: argparse.Namespace
) -> tuple[BookView, dict[names.Key, str]]:
    from yquant.bootstrap import build_book, build_broker, build_prices, load_catalog, open_store
    from yquant.services.book import HoldingsFrom

    store = open_store(settings)
    brokers = None if args.synced else build_broker(settings)
    try:
        await store.ping()  # the book is the database's: said before anything else is tried
        if brokers is not None:
            await brokers.connect()
        instruments = await load_catalog(settings, store)
        prices = build_prices(settings, store, brokers=brokers, instruments=instruments)
        book = build_book(settings, store, prices, brokers=brokers)
        view = await book.view(
            account=args.account,
            strategy=args.strategy,
            holdings=HoldingsFrom.SYNCED if args.synced else HoldingsFrom.BROKER,
        )
        wanted = {(r.position.market.value, r.position.ticker) for r in view.rows}
        tickers = {} if args.json else await names.ticker_names(store, wanted, settings.language)
        return view, tickers
    finally:
        if brokers is not None:
            await brokers.close()
        await store.close()


# ---- JSON --------------------------------------------------------------------------------------


def _text(value: Decimal | None) -> str | None:
    """A Decimal as its plain text (no exponent, no trailing zeros, at most 8 decimals)."""
    if value is None:
        return None
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -8:
        value = value.quantize(Decimal("1e-8"))
    return f"{value.normalize():f}"


def row_json(row: BookRow) -> dict[str, Any]:
    p, mark = row.position, row.mark
    return {
        "account": p.account,
        "strategy": p.strategy,
        "unattributed": row.unattributed,
        "market": p.market.value,
        "exchange": p.exchange or None,
        "ticker": p.ticker,
        "quantity": _text(p.quantity),
        "avg_cost": _text(p.avg_cost) if p.quantity > 0 else None,
        "last_price": _text(mark.price) if mark else None,
        "price_at": mark.at.isoformat() if mark else None,
        "price_source": mark.source.value if mark else None,
        "stale": row.stale,
        "market_value": _text(row.market_value),
        "unrealised": _text(row.unrealised),
        "realised": _text(p.realised),
        "realised_today": _text(row.realised_today),
        "pnl_today": _text(row.pnl_today),
        "price_before_today": _text(row.reference.price) if row.reference else None,
        "commissions": _text(p.commissions),
        "taxes": _text(p.taxes),
        "currency": p.currency,
    }


def totals_json(totals: Totals) -> dict[str, Any]:
    return {
        "cost": _text(totals.cost),
        "value": _text(totals.value),
        "unrealised": _text(totals.unrealised),
        "realised": _text(totals.realised),
        "realised_today": _text(totals.realised_today),
        "pnl_today": _text(totals.pnl_today) if totals.today_known else None,
        "priced": totals.priced,
    }


def book_json(view: BookView) -> dict[str, Any]:
    return {
        "at": view.at.isoformat(),
        "rows": [row_json(r) for r in view.rows],
        "totals": {c: totals_json(t) for c, t in view.totals().items()},
        "checks": {
            account: {
                "source": check.source.value,
                "as_of": check.as_of.isoformat() if check.as_of else None,
                "error": check.error,
            }
            for account, check in sorted(view.checks.items())
        },
    }


# ---- text --------------------------------------------------------------------------------------


def book_text(
    view: BookView, settings: Settings, tickers: dict[names.Key, str], *, utc: bool = False
) -> str:
    language = settings.language
    m = i18n.messages(language)
    heads = [
        m["account"],
        m["strategy"],
        m["ticker"],
        m["name"],
        m["quantity"],
        m["avg_price"],
        m["last_price"],
        m["price_time"],
        m["unrealised"],
        m["realised"],
        m["currency"],
    ]
    cells = [_cells(r, m, tickers, utc) for r in view.rows]
    lines = [f"{m['book']}  ({fmt.local_time(view.at, None, utc=True)})"]
    if cells:
        lines.append(fmt.table(cells, heads, align="llllrrrlrrl", max_width=32))
    else:
        lines.append(f"  {m['none']}")
    totals = view.totals()
    if totals:
        lines.append("")
        total_heads = [
            m["currency"],
            m["cost"],
            m["value"],
            m["unrealised"],
            m["realised"],
            m["realised_today"],
        ]
        lines.append(
            fmt.table([_total_cells(c, t) for c, t in totals.items()], total_heads, align="lrrrrr")
        )
    notes = []
    if any(r.stale for r in view.rows):
        age = fmt.duration(settings.book.stale_after_s, language)
        notes.append(m["book_stale"].format(age=age))
    if any(not t.priced for t in totals.values()):
        notes.append(m["book_unpriced"])
    if view.unattributed:
        notes.append(m["book_unattributed"])
    for account, check in sorted(view.checks.items()):
        if check.source.value == "synced" and check.as_of is not None:
            at = fmt.local_time(check.as_of, None, utc=True)
            notes.append(m["book_checked_synced"].format(account=account, at=at))
        elif check.source.value == "none":
            why = f" ({check.error})" if check.error else ""
            notes.append(m["book_not_checked"].format(account=account) + why)
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines)


def _cells(row: BookRow, m: dict[str, str], tickers: dict[names.Key, str], utc: bool) -> list[str]:
    p, mark, currency = row.position, row.mark, row.currency
    market = p.market.value
    strategy = f"! {m['unattributed']}" if row.unattributed else p.strategy
    quantity = fmt.quantity(p.quantity)
    if row.unattributed and p.quantity > 0:
        quantity = "+" + quantity
    price, seen = "", ""
    if mark is not None:
        price = fmt.money(mark.price, currency) + (" *" if row.stale else "")
        source = m.get(f"source_{mark.source.value}", mark.source.value)
        seen = f"{fmt.local_time(mark.at, market, utc=utc)} ({source})"
    elif p.quantity != 0:
        price = m["book_no_price"]
    return [
        p.account,
        strategy,
        p.ticker,
        tickers.get((market, p.ticker), ""),
        quantity,
        fmt.money(p.avg_cost, currency) if p.quantity > 0 else "",
        price,
        seen,
        fmt.money(row.unrealised, currency) if row.unrealised is not None else "",
        "" if row.unattributed else fmt.money(p.realised, currency),
        currency,
    ]


def _total_cells(currency: str, totals: Totals) -> list[str]:
    value = fmt.money(totals.value, currency) + ("" if totals.priced else " ?")
    return [
        currency,
        fmt.money(totals.cost, currency),
        value,
        fmt.money(totals.unrealised, currency),
        fmt.money(totals.realised, currency),
        fmt.money(totals.realised_today, currency),
    ]
