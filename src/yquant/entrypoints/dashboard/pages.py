"""The pages: one route each, named so they can be bookmarked; each renders its template.

A route gathers its data (`data`), wraps it in the frame every page has (navigation, the
kill-switch banner, this worker) and renders. Pages whose data does not exist yet say so.
"""

from __future__ import annotations

import csv
import hmac
import io
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from yquant import views
from yquant.adapters.db.desk import RowQuery
from yquant.bootstrap import Runtime, build_fx, desk_queries
from yquant.domain.model import Market, OrderStatus
from yquant.domain.reasons import ReasonCode
from yquant.entrypoints import names
from yquant.entrypoints.dashboard import data
from yquant.entrypoints.dashboard.approvals import approval_routes
from yquant.entrypoints.dashboard.auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Auth,
    identity_of,
    safe_next,
)
from yquant.entrypoints.dashboard.cancels import cancel_routes
from yquant.entrypoints.dashboard.execution import execution_routes
from yquant.entrypoints.dashboard.liquidate import liquidate_routes
from yquant.entrypoints.dashboard.performance import performance_routes
from yquant.entrypoints.dashboard.render import (
    SECURITY_HEADERS,
    Frame,
    Say,
    language_of,
    render,
)
from yquant.entrypoints.dashboard.schedules import schedule_routes
from yquant.entrypoints.dashboard.trade import Trading, trade_routes
from yquant.errors import DatabaseUnavailableError
from yquant.settings import StrategySettings

Page = Callable[[Request], Awaitable[Response]]
CHART_SPAN = timedelta(days=30)  # an instrument's chart: its price history this far back

# Pages of the navigation whose feature is not built yet (none at present): each says so.
PENDING: dict[str, tuple[str, str]] = {}


class Pages:
    """The page routes over one runtime: each gathers its data and renders its template."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.zone = runtime.settings.dashboard.time_zone
        self.desk = desk_queries(runtime.store)
        self.accounts = list(runtime.settings.accounts)
        self.books = data.Books(runtime)
        self.fx = build_fx(runtime.settings, runtime.store, clock=runtime.clock)

    def say(self, request: Request) -> Say:
        return Say(language_of(request, self.settings.language), self.zone)

    async def show(
        self, request: Request, template: str, *, named: Any = (), **context: Any
    ) -> Response:
        """Render ``template`` in the page frame; the tickers of the ``named`` rows get their
        catalog names (``names``, by market and bare ticker)."""
        who = identity_of(request)
        say = self.say(request)
        frame = await data.frame(self.runtime, request.url.path, who.name, who.csrf)
        wanted = [(say.market(r), say.bare(r)) for r in named or ()]
        tickers = await names.ticker_names(self.runtime.store, wanted, say.language)
        return render(request, template, say=say, frame=frame, names=tickers, **context)

    async def overview(self, request: Request) -> Response:
        try:
            figures = await data.overview(self.runtime, self.desk, self.fx)
        except DatabaseUnavailableError:
            figures = None
        try:
            totals = (await self.books.view()).totals()
        except DatabaseUnavailableError:
            totals = None
        today = None
        if totals:
            today = await self.fx.to_krw({c: t.pnl_today for c, t in totals.items()})
        return await self.show(
            request,
            "overview.html",
            overview=figures,
            book_totals=totals,
            today_krw=today,
            today_known=all(t.today_known for t in (totals or {}).values()),
            now=self.runtime.clock.now(),
        )

    async def positions(self, request: Request) -> Response:
        """The book per account and strategy (sortable, with totals per currency), then the
        broker's holdings it is checked against."""
        params = request.query_params
        account = params.get("account", "")
        account = account if account in self.accounts else ""
        strategy = str(params.get("strategy", "")).strip()[:200]
        sort = params.get("sort", "account")
        sort = sort if sort in data.BOOK_SORTS else "account"
        descending = params.get("dir") == "desc"
        view = book_rows = None
        try:
            view = await self.books.view(account=account or None, strategy=strategy or None)
            book_rows = data.sorted_rows(view.rows, sort, descending)
        except DatabaseUnavailableError:
            pass
        try:
            rows = await data.holdings(self.desk, self.runtime.clock.now())
        except DatabaseUnavailableError:
            rows = None
        named = [
            {"market": r.position.market.value, "ticker": r.position.ticker}
            for r in book_rows or []
        ]
        return await self.show(
            request,
            "positions.html",
            rows=rows,
            view=view,
            book_rows=book_rows,
            accounts=self.accounts,
            account=account,
            strategy=strategy,
            sort=sort,
            descending=descending,
            named=[*(rows or []), *named],
        )

    async def instrument(self, request: Request) -> Response:
        """One instrument: its price chart (the price history, then the latest price), the
        book's rows of it with quick orders, and its recent orders."""
        try:
            market = Market(str(request.path_params["market"]).upper())
        except ValueError:
            return await self.show(request, "instrument.html", found=False, status_code=404)
        ticker = str(request.path_params["ticker"]).upper()[:40]
        if not ticker.isprintable() or not ticker:
            return await self.show(request, "instrument.html", found=False, status_code=404)
        now = self.runtime.clock.now()
        rows = series = orders = None
        mark = None
        try:
            view = await self.books.view()
            rows = [
                r for r in view.rows if r.position.market is market and r.position.ticker == ticker
            ]
            prices = await self.books.prices()
            series = await prices.series(market, ticker, now - CHART_SPAN)
            exchange = next((r.position.exchange for r in rows if r.position.exchange), "")
            mark = await prices.mark(market, exchange, ticker)
            orders = await self.desk.orders(RowQuery(ticker=ticker, limit=50))
            orders = [o for o in orders if o.get("market") in (None, market.value)]
        except DatabaseUnavailableError:
            pass
        fills, markers = data.fill_markers(orders or [])
        points = data.chart_points(series or [], mark, fills)
        named = [{"market": market.value, "ticker": ticker}]
        return await self.show(
            request,
            "instrument.html",
            found=True,
            market=market.value,
            ticker=ticker,
            rows=rows,
            points=points,
            markers=markers,
            mark=mark,
            orders=orders,
            now=now,
            page_accounts=self.accounts,
            named=[*named, *(orders or [])],
        )

    async def orders(self, request: Request) -> Response:
        filters = data.filters_from(request.query_params, self.accounts, data.STATUSES)
        history: list[dict[str, Any]] | None
        working: list[dict[str, Any]] | None
        queued: list[dict[str, Any]] | None
        try:
            history = await self.desk.orders(filters.query(self.zone))
            working = await self.desk.working_orders()
            queued = await self.desk.queued(pending_only=True)
        except DatabaseUnavailableError:
            history = working = queued = None
        # Held for approval: their own section, with Approve and Reject instead of Cancel.
        awaiting = [w for w in working or [] if w["status"] == OrderStatus.AWAITING_APPROVAL]
        working = None if working is None else [w for w in working if w not in awaiting]
        return await self.show(
            request,
            "orders.html",
            filters=filters,
            accounts=self.accounts,
            statuses=data.STATUSES,
            history=history,
            working=working,
            awaiting=[{**a, "expires_at": self._expires_at(a)} for a in awaiting],
            approval_mode=any(
                s.approval == "manual" for s in self.runtime.settings.strategies.values()
            ),
            queued=queued,
            limit=data.MAX_ROWS,
            named=[*(history or []), *(working or []), *awaiting, *(queued or [])],
            outcome=_cancel_outcome(request),
            decision=_decision(request),
        )

    def _expires_at(self, row: dict[str, Any]) -> Any:
        strategy = self.runtime.settings.strategies.get(row["strategy"])
        timeout_s = (
            strategy.approval_timeout_s if strategy else StrategySettings().approval_timeout_s
        )
        return row["created_at"] + timedelta(seconds=timeout_s)

    async def orders_csv(self, request: Request) -> Response:
        """The filtered history for a spreadsheet: raw values (codes, exact decimals, ISO UTC
        times), as `yquant orders --json` gives them."""
        filters = data.filters_from(request.query_params, self.accounts, data.STATUSES)
        try:
            rows = await self.desk.orders(filters.query(self.zone, limit=100_000))
        except DatabaseUnavailableError:
            return Response("database unavailable\n", status_code=503, media_type="text/plain")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(views.ORDER_FIELDS)
        for row in rows:
            picked = {**row, "signal_id": row.get("signal_key")}
            values = [views.plain(picked.get(field)) for field in views.ORDER_FIELDS]
            writer.writerow(["" if value is None else value for value in values])
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": 'attachment; filename="yquant-orders.csv"',
            },
        )

    async def signals(self, request: Request) -> Response:
        filters = data.filters_from(request.query_params, self.accounts, data.SIGNAL_STATUSES)
        try:
            rows = await self.desk.signals(filters.query(self.zone))
        except DatabaseUnavailableError:
            rows = None
        return await self.show(
            request,
            "signals.html",
            filters=filters,
            statuses=data.SIGNAL_STATUSES,
            rows=rows,
            limit=data.MAX_ROWS,
            named=rows,
        )

    async def signal(self, request: Request) -> Response:
        key = request.path_params["key"]
        try:
            found, hops = await data.signal_flow(self.desk, key)
        except DatabaseUnavailableError:
            found, hops = None, None
        return await self.show(
            request,
            "signal.html",
            key=key,
            signal=found,
            hops=hops,
            named=[found] if found else (),
            status_code=404 if found is None and hops is not None else 200,
        )

    async def system(self, request: Request) -> Response:
        report = await data.system(self.runtime, self.desk, self.fx)
        return await self.show(
            request,
            "system.html",
            report=report,
            changed=request.query_params.get("changed"),
            refused=request.query_params.get("refused"),
        )

    def pending(self, path: str) -> Page:
        title, text = PENDING[path]

        async def page(request: Request) -> Response:
            return await self.show(request, "pending.html", title=title, text=text)

        return page


def page_routes(runtime: Runtime, auth: Auth, trading: Trading) -> list[Route]:
    pages = Pages(runtime)
    return [
        Route("/", pages.overview),
        Route("/positions", pages.positions),
        Route("/positions/{market:str}/{ticker:str}", pages.instrument),
        Route("/orders", pages.orders),
        Route("/orders.csv", pages.orders_csv),
        Route("/signals", pages.signals),
        Route("/signals/{key:str}", pages.signal),
        Route("/system", pages.system),
        *(Route(path, pages.pending(path)) for path in PENDING),
        *performance_routes(runtime, pages.show),
        *execution_routes(runtime, pages.show),
        *cancel_routes(runtime, pages.show),
        *approval_routes(runtime),
        *trade_routes(runtime, pages.show, trading),
        *liquidate_routes(runtime, pages.show, trading),
        *schedule_routes(runtime, pages.show),
        *login_routes(runtime, auth),
    ]


def login_routes(runtime: Runtime, auth: Auth) -> list[Route]:
    settings = runtime.settings

    def say(request: Request) -> Say:
        return Say(language_of(request, settings.language), settings.dashboard.time_zone)

    async def form(
        request: Request,
        *,
        refused: ReasonCode | None = None,
        until: Any = None,
        status: int = 200,
        target: str | None = None,
    ) -> Response:
        token = auth.sessions.login_token()
        try:
            nobody = not await auth.users.all()
        except DatabaseUnavailableError:
            nobody = False
        response = render(
            request,
            "login.html",
            say=say(request),
            frame=Frame(path="/login", worker=settings.worker.name),
            login_token=token,
            next=safe_next(target if target is not None else request.query_params.get("next")),
            refused=refused,
            until=until,
            nobody=nobody,
            tailscale=auth.tailscale,
            status_code=status,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=auth.tls(request),
            path="/login",
        )
        return response

    async def login(request: Request) -> Response:
        if request.method == "GET":
            if not auth.tailscale and await auth.identify(request) is not None:
                target = safe_next(request.query_params.get("next"))
                return RedirectResponse(target, status_code=303)
            return await form(request)
        if auth.tailscale:
            return await form(request, status=403)
        # Signing in changes something too: a page of this dashboard, with its own token.
        if not auth.same_origin(request.headers):
            return await form(request, refused=ReasonCode.CROSS_ORIGIN, status=403)
        fields = await request.form()
        token = str(fields.get(CSRF_FIELD) or "")
        if not token or not hmac.compare_digest(token, request.cookies.get(LOGIN_COOKIE, "")):
            return await form(request, refused=ReasonCode.CSRF_REFUSED, status=403)
        peer = request.client.host if request.client else "unknown"
        try:
            outcome = await auth.users.sign_in(
                str(fields.get("name") or ""),
                str(fields.get("password") or ""),
                source=peer,
                now=runtime.clock.now(),
            )
        except DatabaseUnavailableError:
            return await form(request, refused=ReasonCode.DATABASE_UNAVAILABLE, status=503)
        target = safe_next(str(fields.get("next") or ""))
        if outcome.user is None:
            return await form(
                request,
                refused=outcome.refused,
                until=outcome.locked_until,
                status=401,
                target=target,
            )
        response = RedirectResponse(target, status_code=303)
        cookie = auth.sessions.issue(
            outcome.user.name, outcome.user.session_epoch, runtime.clock.now().timestamp()
        )
        auth.session_cookie(response, request, cookie)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def logout(request: Request) -> Response:
        who = identity_of(request)
        if who.via == "password":
            try:
                await auth.users.sign_out(who.name, now=runtime.clock.now())
            except DatabaseUnavailableError:
                return Response("database unavailable\n", status_code=503)
            auth.forget(who.name)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def _decision(request: Request) -> dict[str, Any] | None:
    """What the last approval decision did, as its redirect tells."""
    params = request.query_params
    decision = params.get("decision", "")
    if decision not in ("approved", "rejected", "refused"):
        return None
    why = params.get("why", "")
    return {
        "decision": decision,
        "order": params.get("order", "")[:40],
        "why": why if why.replace("_", "").isalpha() else "",
    }


def _cancel_outcome(request: Request) -> dict[str, Any] | None:
    """What the last cancel did, as its redirect tells (counts and reason codes)."""
    params = request.query_params
    counts = {}
    for key in ("cancelled", "pending", "refused"):
        value = params.get(key, "")
        if value.isdigit():
            counts[key] = int(value)
    why = [w for w in params.get("why", "").split(",") if w.replace("_", "").isalpha()]
    return {"counts": counts, "why": why} if counts or why else None
