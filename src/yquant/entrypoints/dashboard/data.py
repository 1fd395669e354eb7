"""What each page shows, gathered from the system of record, the worker's Valkey and settings.

Each function returns plain values for a template. A part whose source does not answer is
marked unavailable (None) rather than shown empty: an outage must not look like "no orders".
"""

from __future__ import annotations

import asyncio
import platform
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from yquant import __version__, health, views
from yquant.adapters.bus import DEAD
from yquant.adapters.db.desk import DeskQueries, RowQuery
from yquant.bootstrap import (
    Runtime,
    app_key_accounts,
    build_book,
    build_control,
    build_prices,
    catalog_repository,
    load_catalog,
    notification_queue,
    role_records,
    token_records,
)
from yquant.domain.model import OrderStatus, SignalStatus
from yquant.domain.risk import KillState
from yquant.domain.roles import ROLES
from yquant.entrypoints.dashboard.render import Frame
from yquant.errors import BusUnavailableError, DatabaseUnavailableError
from yquant.ports import EXECUTIONS, NOTICES, ORDERS, SIGNALS, FxRate, Mark, PriceSource
from yquant.services.book import BookRow, BookService, BookView, HoldingsFrom
from yquant.services.control import GLOBAL
from yquant.services.fx import FxService, InKrw
from yquant.services.prices import PriceService

STATUSES = tuple(s.value for s in OrderStatus)
SIGNAL_STATUSES = tuple(s.value for s in SignalStatus)
MAX_ROWS = 500


# ---- the frame of every page ------------------------------------------------------------------


async def switches(runtime: Runtime) -> list[dict[str, Any]]:
    """Every scope (global and each account) with its state; active where none is recorded."""
    records = await build_control(runtime.store, runtime.settings.accounts).switches()
    out = []
    for scope in [GLOBAL, *runtime.settings.accounts]:
        rec = records.get(scope)
        out.append(
            {
                "scope": scope,
                "state": rec.state if rec else KillState.ACTIVE.value,
                "reason": rec.reason if rec else None,
                "actor": rec.actor if rec else None,
                "updated_at": rec.updated_at if rec else None,
            }
        )
    return out


def broker_halts(report: dict[str, Any]) -> dict[str, str]:
    """The accounts whose orders a broker halted, from the health report (the gateway's
    heartbeat), with KIS's words."""
    halted = (report.get("brokers") or {}).get("halted") or {}
    return {str(a): str(why) for a, why in halted.items()}


async def frame(runtime: Runtime, path: str, user: str | None, csrf: str) -> Frame:
    ready, report = await health.check(runtime, database_required=True)
    page = Frame(path=path, user=user, csrf=csrf, worker=runtime.settings.worker.name)
    page.ready = ready
    page.checks = {name: str(c.get("status")) for name, c in report.items() if "status" in c}
    page.database_up = page.checks.get("database") == "up"
    page.broker_halts = broker_halts(report)
    if page.database_up:
        try:
            page.switches, page.active = await asyncio.gather(
                switches(runtime), role_records(runtime.store).active()
            )
        except DatabaseUnavailableError:
            page.database_up = False
    return page


# ---- overview ---------------------------------------------------------------------------------


@dataclass
class Figures:
    """An account's figures in one currency."""

    account: str
    currency: str
    cash: Decimal = Decimal(0)
    holdings: Decimal = Decimal(0)
    at_cost: bool = False  # some holding valued at its average cost (no price seen)
    synced_at: datetime | None = None

    @property
    def equity(self) -> Decimal:
        return self.cash + self.holdings

    def seen(self, at: datetime | None) -> None:
        if at is not None and (self.synced_at is None or at > self.synced_at):
            self.synced_at = at


@dataclass
class Overview:
    figures: list[Figures] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=dict)
    # Every currency's equity in won, with the rate used; None before any account synced.
    in_krw: InKrw | None = None
    fx: FxRate | None = None  # the USD/KRW rate (shown even when nothing is in dollars)
    working: dict[str, int] = field(default_factory=dict)
    baselines: dict[str, list[dict[str, str]]] = field(default_factory=dict)


async def overview(runtime: Runtime, desk: DeskQueries, fx: FxService) -> Overview:
    cash, holdings, prices, working, baselines = await asyncio.gather(
        desk.cash(), desk.holdings(), desk.last_prices(), desk.working_counts(), desk.baselines()
    )
    table: dict[tuple[str, str], Figures] = {}

    def figures(account: str, currency: str) -> Figures:
        return table.setdefault((account, currency), Figures(account, currency))

    for row in cash:
        fig = figures(row["account"], row["currency"])
        fig.cash += row["cash"]
        fig.seen(row["updated_at"])
    for row in holdings:
        fig = figures(row["account"], row["currency"])
        mark = prices.get((row["market"], row["ticker"]))
        price = mark["price"] if mark else row["avg_price"]
        fig.at_cost = fig.at_cost or mark is None
        fig.holdings += row["quantity"] * price
        fig.seen(row["updated_at"])
    out = Overview(working=working)
    out.figures = sorted(table.values(), key=lambda x: (x.account, x.currency != "KRW", x.currency))
    for fig in out.figures:
        out.totals[fig.currency] = out.totals.get(fig.currency, Decimal(0)) + fig.equity
    out.fx = await fx.rate("USD", "KRW")
    if out.figures:
        out.in_krw = await fx.to_krw(out.totals)
    for row in baselines:
        series = out.baselines.setdefault(f"{row['account']} · {row['currency']}", [])
        series.append({"time": row["day"].isoformat(), "value": str(row["equity"])})
    return out


# ---- positions (the broker's view until the book lands) ---------------------------------------


async def holdings(desk: DeskQueries, now: datetime) -> list[dict[str, Any]]:
    rows, prices = await asyncio.gather(desk.holdings(), desk.last_prices())
    out = []
    for row in rows:
        mark = prices.get((row["market"], row["ticker"]))
        price = mark["price"] if mark else None
        out.append(
            {
                **row,
                "last_price": price,
                "price_at": mark["at"] if mark else None,
                "price_age_s": (now - mark["at"]).total_seconds() if mark else None,
                "price_source": mark["source"] if mark else None,
                "value": row["quantity"] * (price if price is not None else row["avg_price"]),
                "cost": row["quantity"] * row["avg_price"],
            }
        )
    return out


# ---- listings and their filters ---------------------------------------------------------------


@dataclass
class Filters:
    """A listing's filters as the form gave them (echoed back) and as a query."""

    date_from: str = ""
    date_to: str = ""
    account: str = ""
    strategy: str = ""
    ticker: str = ""
    status: str = ""

    def query(self, zone: str, limit: int = MAX_ROWS) -> RowQuery:
        tz = ZoneInfo(zone)
        since = _day_start(self.date_from, tz)
        until = _day_start(self.date_to, tz)
        return RowQuery(
            since=since,
            until=until + timedelta(days=1) if until else None,
            account=self.account or None,
            strategy=self.strategy or None,
            ticker=self.ticker or None,
            statuses=(self.status,) if self.status else (),
            limit=limit,
        )

    def as_params(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def _day_start(text: str, tz: ZoneInfo) -> datetime | None:
    if not text:
        return None
    day = date.fromisoformat(text)
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def filters_from(params: Any, accounts: list[str], statuses: tuple[str, ...]) -> Filters:
    """The filters a query string asks for; what is not valid is dropped, never echoed."""

    def day(name: str) -> str:
        text = str(params.get(name, "")).strip()
        try:
            return date.fromisoformat(text).isoformat() if text else ""
        except ValueError:
            return ""

    def text(name: str, limit: int) -> str:
        value = str(params.get(name, "")).strip()
        return value if len(value) <= limit and value.isprintable() else ""

    account = text("account", 64)
    status = text("status", 20)
    return Filters(
        date_from=day("from"),
        date_to=day("to"),
        account=account if account in accounts else "",
        strategy=text("strategy", 200),
        ticker=text("ticker", 40).upper(),
        status=status if status in statuses else "",
    )


# ---- one signal's path ------------------------------------------------------------------------


@dataclass
class Hop:
    at: datetime | None
    kind: str  # alert | decision | queued | order | event | fill
    row: dict[str, Any]
    after_s: float | None = None


async def signal_flow(desk: DeskQueries, key: str) -> tuple[dict[str, Any] | None, list[Hop]]:
    signal = await desk.signal(key)
    if signal is None:
        return None, []
    orders, queued = await asyncio.gather(desk.orders_for_signal(key), desk.queued_for_signal(key))
    ids = [o["client_order_id"] for o in orders]
    events, fills = await asyncio.gather(desk.order_events(ids), desk.fills_for(ids))
    signal = dict(signal)
    signal["fields"] = views.payload_fields(signal["payload"]) if signal.get("payload") else None
    hops = [Hop(signal["received_at"], "alert", signal)]
    if signal["status"] != SignalStatus.ACCEPTED.value:
        hops.append(Hop(signal["updated_at"], "decision", signal))
    hops += [Hop(q["queued_at"], "queued", q) for q in queued]
    hops += [Hop(o["created_at"], "order", o) for o in orders]
    by_id = {o["client_order_id"]: o for o in orders}
    hops += [Hop(e["at"], "event", {**by_id.get(e["client_order_id"], {}), **e}) for e in events]
    hops += [Hop(f["filled_at"], "fill", f) for f in fills]
    start = signal["received_at"]
    order = {"alert": 0, "decision": 1, "queued": 2, "order": 3, "event": 4, "fill": 5}
    hops.sort(key=lambda h: (h.at or start, order[h.kind]))
    for hop in hops:
        hop.after_s = (hop.at - start).total_seconds() if hop.at is not None else None
    return signal, hops


# ---- system -----------------------------------------------------------------------------------


async def system(runtime: Runtime, desk: DeskQueries, fx: FxService) -> dict[str, Any]:
    ready, report = await health.check(runtime, database_required=True)
    out: dict[str, Any] = {
        "ready": ready,
        "report": report,
        "roles": [(role, report.get(role)) for role in ROLES],
        "version": __version__,
        "python": platform.python_version(),
    }
    out["streams"], out["dead_letters"] = await _streams(runtime)
    try:
        out["switches"] = await switches(runtime)
        out["audit"] = await desk.audit(50)
    except DatabaseUnavailableError:
        out["switches"] = out["audit"] = None
    out["tokens"] = await _tokens(runtime)
    out["fx"] = await fx.rate("USD", "KRW")
    try:
        queue = notification_queue(runtime.store)
        out["notifications"] = await queue.counts()
        out["notify_dead"] = await queue.dead_letters(20)
    except DatabaseUnavailableError:
        out["notifications"] = out["notify_dead"] = None
    try:
        out["catalog"] = sorted(
            (await catalog_repository(runtime.store).versions()).values(), key=lambda v: v.market
        )
    except DatabaseUnavailableError:
        out["catalog"] = None
    return out


async def _streams(runtime: Runtime) -> tuple[list[dict[str, Any]] | None, int | None]:
    try:
        rows = []
        for stream in (SIGNALS, ORDERS, EXECUTIONS, NOTICES):
            groups = await runtime.bus.stream_groups(stream)
            rows += [{"stream": stream, **g} for g in groups] or [{"stream": stream}]
        return rows, await runtime.bus.stream_length(DEAD)
    except BusUnavailableError:
        return None, None


async def _tokens(runtime: Runtime) -> list[dict[str, Any]] | None:
    keys = app_key_accounts(runtime.settings)
    try:
        stored = await token_records(runtime.store).expiry_by_key()
    except DatabaseUnavailableError:
        return None
    now = runtime.clock.now()
    out = []
    for kid in sorted(set(keys) | set(stored)):
        environment, expires_at = stored.get(kid, (None, None))
        out.append(
            {
                "key": kid[:8],
                "accounts": keys.get(kid, []),
                "environment": environment,
                "expires_at": expires_at,
                "left_s": (expires_at - now).total_seconds() if expires_at else None,
            }
        )
    return out


# ---- the book -----------------------------------------------------------------------------------

# The book's columns a page may be sorted by, each with its key (None last, whichever way).
BOOK_SORTS = ("account", "strategy", "ticker", "quantity", "value", "unrealised", "realised")


def sorted_rows(rows: list[BookRow], column: str, descending: bool) -> list[BookRow]:
    def key(row: BookRow) -> Any:
        p = row.position
        return {
            "account": p.account,
            "strategy": p.strategy,
            "ticker": p.ticker,
            "quantity": p.quantity,
            "value": row.market_value,
            "unrealised": row.unrealised,
            "realised": p.realised,
        }[column]

    known = [r for r in rows if key(r) is not None]
    unknown = [r for r in rows if key(r) is None]
    return sorted(known, key=key, reverse=descending) + unknown


def chart_points(
    series: list[Mark], latest: Mark | None, fills: list[Mark] | None = None
) -> list[dict[str, Any]]:
    """A price chart's points: the history's samples and the fills' prices in time order,
    then the latest price where it is later; times in whole UTC seconds, strictly rising
    (Lightweight Charts asks that; of two in one second the later one stays)."""
    points: list[dict[str, Any]] = []
    marks = sorted([*series, *(fills or [])], key=lambda m: m.at)
    if latest is not None and (not marks or latest.at >= marks[-1].at):
        marks.append(latest)
    for mark in marks:
        at = int(mark.at.timestamp())
        if points and at <= points[-1]["time"]:
            points[-1]["value"] = str(mark.price)
            continue
        points.append({"time": at, "value": str(mark.price)})
    return points


def fill_markers(orders: list[dict[str, Any]]) -> tuple[list[Mark], list[dict[str, Any]]]:
    """The filled orders of an instrument as prices seen (at their average fill price, when
    they last moved) and as the chart's markers (side, quantity filled)."""
    marks: list[Mark] = []
    markers: list[dict[str, Any]] = []
    for o in sorted(orders, key=lambda o: o["updated_at"]):
        price, filled = o.get("avg_fill_price"), o.get("filled_quantity")
        if not price or not filled or o.get("updated_at") is None:
            continue
        marks.append(Mark(Decimal(price), o["updated_at"], PriceSource.FILL))
        markers.append(
            {
                "time": int(o["updated_at"].timestamp()),
                "side": o["side"],
                "quantity": views.plain(filled),
            }
        )
    return marks, markers


class Books:
    """The book as the dashboard reads it: the recorded fills, the prices seen (else the
    catalog's base price; the dashboard asks no broker for quotes, the scarcest resource), and
    the holdings of the last account sync as the check."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._service: BookService | None = None
        self._prices: PriceService | None = None
        self._lock = asyncio.Lock()

    async def service(self) -> BookService:
        async with self._lock:
            if self._service is None:
                settings, store = self._runtime.settings, self._runtime.store
                instruments = await load_catalog(settings, store)
                self._prices = build_prices(settings, store, instruments=instruments)
                self._service = build_book(settings, store, self._prices)
            return self._service

    async def prices(self) -> PriceService:
        """The prices the book is valued at (and the price history of the charts)."""
        await self.service()
        assert self._prices is not None
        return self._prices

    async def view(self, *, account: str | None = None, strategy: str | None = None) -> BookView:
        service = await self.service()
        return await service.view(account=account, strategy=strategy, holdings=HoldingsFrom.SYNCED)
