"""Operator commands that talk to the brokers (parity with the reference system's console).

    yquant deposit ACCOUNT [KRW|USD]          cash per currency, asked of the broker now
    yquant positions ACCOUNT [KR|US]          holdings, asked of the broker now
    yquant price TICKER [--account A]         the current price (KIS), or the paper broker's last
    yquant buy|sell ACCOUNT TICKER QTY [--price P] [--allow-resize]
                                              an order through the same checks and lifecycle
                                              as an alert (services/manual.py); waits for it.
                                              Never a smaller quantity than asked unless
                                              --allow-resize (then the resize is printed).
                                              Exit 0 filled/accepted, 1 refused (nothing live),
                                              3 sent but not final: do not retry
    yquant accounts check                     per account: broker reachable, token valid,
                                              the masked key it uses
    yquant up --broker kis-sim                `yquant up` with every paper account moved to a
                                              local KIS simulator (a demo of the KIS path)

KIS calls made here share the workers' token (database) and rate budget (Valkey).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from yquant.domain.model import Market, Side
from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n, names
from yquant.errors import YquantError
from yquant.settings import Settings

# What an operator order's exit code means; a wrapper must never retry on 3.
ORDER_EXIT_CODES = """exit codes:
  0  filled, or accepted by the broker (a limit order resting)
  1  final and nothing live at the broker: refused before sending or by the broker, or
     cancelled/expired (see the reason and what was filled); also when the cash, the
     holdings or a limit would send less than asked and --allow-resize is not given
  3  sent, outcome pending when --wait ended: do not retry, check `yquant orders`
"""
EXIT_PENDING = 3


def register(sub: Any) -> None:
    d = sub.add_parser("deposit", help="cash per currency of an account, from its broker")
    d.add_argument("account")
    d.add_argument("currency", nargs="?", choices=["KRW", "USD"])
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_deposit)

    p = sub.add_parser("positions", help="holdings of an account, from its broker")
    p.add_argument("account")
    p.add_argument("market", nargs="?", choices=["KR", "US"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_positions)

    q = sub.add_parser("price", help="current price of a ticker (KRX:005930, NASDAQ:AAPL)")
    q.add_argument("ticker")
    q.add_argument("--account", help="the KIS account to ask (default: the first one)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_price)

    for side in ("buy", "sell"):
        o = sub.add_parser(
            side,
            help=f"{side} through the same checks and lifecycle as an alert",
            description=f"{side.capitalize()} through the same checks and lifecycle as an alert.",
            epilog=ORDER_EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        o.add_argument("account")
        o.add_argument("ticker", help="KRX:005930, NASDAQ:AAPL, or a ticker the catalog knows")
        o.add_argument("quantity", type=_decimal)
        o.add_argument("--price", type=_decimal, help="limit price (default: market order)")
        o.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the outcome")
        o.add_argument(
            "--allow-resize",
            action="store_true",
            help="send a smaller order when the cash, the holdings or a limit allow less than"
            " asked (default: refuse, and send nothing)",
        )
        o.add_argument("--json", action="store_true")
        o.set_defaults(func=_order, side=Side(side))

    a = sub.add_parser("accounts", help="configured broker accounts")
    a_sub = a.add_subparsers(metavar="ACTION")
    c = a_sub.add_parser("check", help="broker reachable, token valid, masked key, per account")
    c.add_argument("--json", action="store_true")
    c.add_argument("--utc", action="store_true", help="times in UTC, not Korean time")
    c.set_defaults(func=_check)

    _extend_up(sub)


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _run(settings: Settings, fn: Callable[[Any, Any], Awaitable[int]]) -> int:
    """Open the runtime (database, Valkey) and the brokers around ``fn(runtime, brokers)``."""
    from yquant.bootstrap import build, build_broker

    async def main() -> int:
        runtime = build(settings, "cli")
        # No execution-notice session: the active worker's gateway holds the one per app key.
        brokers = build_broker(settings, runtime, notices=False)
        try:
            await brokers.connect()
            return await fn(runtime, brokers)
        finally:
            await brokers.close()
            await runtime.close()

    try:
        return asyncio.run(main())
    except YquantError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return 1


def _known(settings: Settings, account: str) -> None:
    if account not in settings.accounts:
        from yquant.errors import ConfigurationError

        raise ConfigurationError(f"accounts.{account}: no such account")


# ---- deposit / positions / price --------------------------------------------------------------


def _deposit(settings: Settings, args: argparse.Namespace) -> int:
    _known(settings, args.account)
    m = i18n.messages(settings.language)

    async def run(runtime: Any, brokers: Any) -> int:
        cash = await brokers.cash(args.account)
        shown = {c: v for c, v in sorted(cash.items()) if args.currency in (None, c)}
        if args.json:
            print(
                json.dumps({"account": args.account, "cash": {c: str(v) for c, v in shown.items()}})
            )
            return 0
        print(f"{m['deposit']}  {args.account}")
        rows = [[currency, fmt.money(value, currency)] for currency, value in shown.items()]
        if rows:
            print(fmt.table(rows, [m["currency"], m["amount"]], align="lr", indent="  "))
        else:
            print(f"  {m['none']}")
        return 0

    return _run(settings, run)


def _positions(settings: Settings, args: argparse.Namespace) -> int:
    _known(settings, args.account)
    m = i18n.messages(settings.language)

    async def run(runtime: Any, brokers: Any) -> int:
        from yquant.bootstrap import account_book
        from yquant.errors import DatabaseUnavailableError

        holdings = await brokers.holdings(args.account)
        holdings = [h for h in holdings if args.market in (None, h.market.value)]
        try:
            known = await account_book(runtime.store).positions(args.account)
            strategies = {(r["market"], r["ticker"]): r["strategy"] for r in known}
        except DatabaseUnavailableError:
            strategies = {}
        rows = [
            {
                "market": h.market.value,
                "ticker": h.ticker,
                "quantity": str(h.quantity),
                "avg_price": str(h.avg_price),
                "strategy": strategies.get((h.market.value, h.ticker)),
            }
            for h in sorted(holdings, key=lambda h: (h.market.value, h.ticker))
        ]
        if args.json:
            print(json.dumps({"account": args.account, "positions": rows}, ensure_ascii=False))
            return 0
        print(f"{m['positions']}  {args.account}")
        if not rows:
            print(f"  {m['none']}")
            return 0
        wanted = [(r["market"], r["ticker"]) for r in rows]
        tickers = await names.ticker_names(runtime.store, wanted, settings.language)
        shown = [
            [
                r["market"],
                r["ticker"],
                tickers.get((r["market"], r["ticker"]), ""),
                fmt.quantity(r["quantity"]),
                fmt.money(r["avg_price"], fmt.currency_of(r["market"])),
                r["strategy"] or "",
            ]
            for r in rows
        ]
        heads = [m["market"], m["ticker"], m["name"], m["quantity"], m["avg_price"], m["strategy"]]
        print(fmt.table(shown, heads, align="lllrrl", indent="  "))
        return 0

    return _run(settings, run)


def _price(settings: Settings, args: argparse.Namespace) -> int:
    # A KIS account quotes the market; the paper broker knows the last price it saw.
    kis = [n for n, a in settings.accounts.items() if a.broker != "paper"]
    account = args.account or (kis[0] if kis else next(iter(settings.accounts), None))
    m = i18n.messages(settings.language)
    if account is None or settings.accounts.get(account) is None:
        print(f"yquant: {m['price_needs_kis']}", file=sys.stderr)
        return 2

    async def run(runtime: Any, brokers: Any) -> int:
        from yquant.services.manual import parse_ticker

        market, exchange, ticker = parse_ticker(args.ticker, await _catalog(settings, runtime))
        quote = await brokers.for_account(account).quote(market, exchange, ticker)
        if quote is None:
            print(f"yquant: {m['no_price']}: {exchange}:{ticker}", file=sys.stderr)
            return 1
        out = {
            "ticker": ticker,
            "exchange": exchange,
            "market": market.value,
            "price": str(quote.price),
            "tick": None if quote.tick is None else str(quote.tick),
            "upper_limit": None if quote.upper_limit is None else str(quote.upper_limit),
            "lower_limit": None if quote.lower_limit is None else str(quote.lower_limit),
        }
        if args.json:
            print(json.dumps(out))
            return 0
        tickers = await names.ticker_names(
            runtime.store, [(market.value, ticker)], settings.language
        )
        name = tickers.get((market.value, ticker))
        shown = f"{exchange}:{ticker} {name}" if name else f"{exchange}:{ticker}"
        print(f"{shown}  {m['price']} {fmt.money(quote.price, fmt.currency_of(market.value))}")
        return 0

    return _run(settings, run)


async def _catalog(settings: Settings, runtime: Any) -> Any:
    from yquant.bootstrap import load_catalog

    return await load_catalog(settings, runtime.store)


# ---- buy / sell --------------------------------------------------------------------------------


def _order(settings: Settings, args: argparse.Namespace) -> int:
    _known(settings, args.account)
    m = i18n.messages(settings.language)

    async def run(runtime: Any, brokers: Any) -> int:
        from yquant.bootstrap import build_worker_state, open_engine
        from yquant.domain.roles import Standing
        from yquant.errors import NotActiveError
        from yquant.services import manual

        # Only the active worker's gateway sends: an order placed on a standby would wait.
        # (While the database is away, the role this worker last knew.)
        state = build_worker_state(settings, runtime.store, runtime.clock)
        await state.load(register=False)
        if state.role.standing() is Standing.STANDBY:
            raise NotActiveError(m["manual_standby"])
        engine, instruments = await open_engine(settings, runtime, brokers, operator=True)
        market, exchange, ticker = manual.parse_ticker(args.ticker, instruments)
        price = await manual.reference_price(brokers, args.account, market, exchange, ticker)
        request = manual.ManualRequest(
            args.account, args.side, market, exchange, ticker, args.quantity, args.price, price
        )
        outcome = await engine.manual.place(
            request, wait_s=args.wait, allow_resize=args.allow_resize
        )
        order = outcome.order or {}
        result = {
            "signal": outcome.signal_key,
            "status": outcome.status,
            "reason": outcome.reason,
            "detail": outcome.detail,
            "client_order_id": order.get("client_order_id"),
            "asked": _text(outcome.asked),
            "quantity": _text(outcome.sent) if order else None,
            "resized_by": list(outcome.resized_by) if order else [],
            "filled_quantity": _text(order.get("filled_quantity")),
            "avg_fill_price": _text(order.get("avg_fill_price")),
        }
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            if order and outcome.resized:
                why = ", ".join(_word(settings.language, r) for r in outcome.resized_by)
                sent, asked = fmt.quantity(result["quantity"]), fmt.quantity(result["asked"])
                print(m["order_resized"].format(sent=sent, asked=asked, why=why))
            word = _word(settings.language, outcome.status)
            line = f"{m['order']} {result['client_order_id'] or '-'}  {m['status']}: {word}"
            if outcome.reason:
                reason = _word(settings.language, outcome.reason)
                line += f"  {m['reason']}: {reason} {outcome.detail}".rstrip()
            if order.get("filled_quantity"):
                quantity = fmt.quantity(result["filled_quantity"])
                shown_price = fmt.money(result["avg_fill_price"], fmt.currency_of(market.value))
                line += f"  {m['filled']}: {quantity} @ {shown_price}"
            print(line)
        if outcome.status in ("filled", "accepted", "partially_filled"):
            return 0
        if outcome.status in ("new", "submitted", "unknown"):
            # Published, not final: a second order would be a second real order.
            print(
                "yquant: " + m["order_pending"].format(order=result["client_order_id"]),
                file=sys.stderr,
            )
            return EXIT_PENDING
        return 1

    return _run(settings, run)


def _word(language: str, code: str) -> str:
    """A status or reason code in the operator's words, the code itself beside them (to search
    the logs and the JSON output by)."""
    label = i18n.label(language, code)
    return code if label == code else f"{label} ({code})"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return f"{Decimal(str(value)).normalize():f}"


# ---- accounts check ----------------------------------------------------------------------------


def mask_key(key: str) -> str:
    return key[:4] + "*" * 8 + key[-2:] if len(key) > 8 else "*" * len(key)


def _check(settings: Settings, args: argparse.Namespace) -> int:
    m = i18n.messages(settings.language)

    async def run(runtime: Any, brokers: Any) -> int:
        checked = [
            await _check_one(settings, name, brokers, runtime.clock.now())
            for name in settings.accounts
        ]
        rows = [row for row, _ in checked]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=1))
        else:
            shown = [_check_line(row, expires_at, m, args.utc) for row, expires_at in checked]
            heads = [m["account"], m["broker"], m["environment"], m["app_key"], m["reach"]]
            print(fmt.table(shown, [*heads, m["token"]], max_width=60))
            if not rows:
                print(f"({m['none']})")
        return 0 if all(r["reachable"] for r in rows) else 1

    return _run(settings, run)


def _check_line(
    row: dict[str, Any], expires_at: datetime | None, m: dict[str, str], utc: bool
) -> list[str]:
    reach = (
        m["broker_reachable"] if row["reachable"] else f"{m['broker_unreachable']} ({row['error']})"
    )
    if row["broker"] == "paper":
        token = m["token_not_needed"]
    elif expires_at is None:
        token = m["token_none_stored"]
    elif row["token"] == "expired":  # noqa: S105 - a state word, not a token
        token = f"{m['token_expired']} ({m['token_reissued']})"
    else:  # KIS issues and dates its tokens in Korean time
        token = m["token_valid_until"].format(at=fmt.local_time(expires_at, "KR", utc=utc))
    shown = [row["account"], row["broker"], row["environment"] or "-", row["key"] or "-"]
    return [*shown, reach, token]


async def _check_one(
    settings: Settings, name: str, brokers: Any, now: datetime
) -> tuple[dict[str, Any], datetime | None]:
    """The account's row (as --json prints it) and its stored token's expiry."""
    account = settings.accounts[name]
    row: dict[str, Any] = {
        "account": name,
        "broker": account.broker,
        "environment": account.kis.environment if account.kis else None,
        "key": mask_key(account.kis.app_key.get_secret_value()) if account.kis else None,
        "reachable": False,
        "token": "-",
        "error": None,
    }
    broker = brokers.for_account(name)
    try:
        if account.broker == "paper":
            await broker.cash(name)
        else:
            await broker.quote(Market.KR, "KRX", "005930")
        row["reachable"] = True
    except YquantError as exc:
        row["error"] = str(exc)[:160]
    expires_at = None
    if account.kis is not None:
        stored = await broker.token_expires_at()
        if stored is None:
            row["token"] = "none"  # noqa: S105 - a state word, not a token
        elif stored <= now:
            row["token"] = "expired"  # noqa: S105 - a state word, not a token
            expires_at = stored
        else:
            row["token"] = f"valid until {stored.isoformat(timespec='seconds')}"
            expires_at = stored
    return row, expires_at


# ---- yquant up --broker kis-sim ----------------------------------------------------------------


def _extend_up(sub: Any) -> None:
    up = sub.choices.get("up")
    if up is None:
        return
    original = up.get_default("func")
    up.add_argument(
        "--broker",
        choices=["paper", "kis-sim"],
        default="paper",
        help="kis-sim: run the paper accounts against a local KIS simulator",
    )

    def run(settings: Settings, args: argparse.Namespace) -> int:
        if args.broker != "kis-sim":
            return int(original(settings, args))
        from yquant.entrypoints.kis_sim_up import up_with_simulator

        return up_with_simulator(settings, args, original)

    up.set_defaults(func=run)
