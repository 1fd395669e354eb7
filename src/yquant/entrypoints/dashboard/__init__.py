"""The operator dashboard (port 2000): server-rendered pages, signed in, live by SSE.

    /             overview: equity and cash per account, the total in KRW with its rate, the
                  day's P&L, working orders, the active worker
    /positions    the book per account and strategy with quick orders, the broker's holdings
    /positions/MARKET/TICKER   one instrument: its price chart, book rows, quick orders, orders
    /orders       working, queued and past orders with filters; /orders.csv exports them
    /signals      the signal log; /signals/KEY one signal's path: alert, decision, orders, fills
    /system       roles, database, journal, Valkey, streams, tokens, catalog, kill switch, audit
    /trade        an operator's order: the form (/trade/lookup: tickers by code or name), the
                  engine's preview, then the order
    /liquidate    a liquidation: the filter, the plan (nothing sent), then the sells
    /performance  the performance report: equity, drawdown, metrics, strategies, CSV
    /schedules    the frame for the feature that fills it
    /events       Server-Sent Events that keep every page live
    /login /logout, /api/control (the kill switch as JSON), /healthz, /metrics

Jinja2 templates in ``templates/``, CSS and the little JavaScript in ``static/`` (htmx and
Lightweight Charts vendored under ``static/vendor/``, no CDN, no build step). Who may use it:
``auth.py``.
"""

from __future__ import annotations

import asyncio
from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from yquant import health
from yquant.bootstrap import Runtime, build, build_users
from yquant.entrypoints.dashboard.auth import Auth, Guard, Sessions, allowed_hosts, session_key
from yquant.entrypoints.dashboard.control import control_routes
from yquant.entrypoints.dashboard.live import live_routes
from yquant.entrypoints.dashboard.pages import page_routes
from yquant.entrypoints.dashboard.trade import Trading
from yquant.entrypoints.http import metrics_endpoint, serve
from yquant.entrypoints.process import install_stop_handlers, run_tasks
from yquant.settings import Settings

STATIC = resources.files(__package__).joinpath("static")


def create_app(
    runtime: Runtime, stop: asyncio.Event | None = None, trading: Trading | None = None
) -> Starlette:
    """The dashboard over ``runtime``; ``trading`` holds the broker connections operator
    orders use (its owner closes it)."""
    settings = runtime.settings
    sessions = Sessions(session_key(settings.data_dir), settings.dashboard.session_hours * 3600)
    auth = Auth(settings.dashboard, sessions, build_users(runtime.store))

    async def healthz(request: Request) -> JSONResponse:
        ready, report = await health.check(runtime, database_required=True)
        return JSONResponse(
            {"ready": ready, "worker": settings.worker.name, "checks": report},
            status_code=200 if ready else 503,
        )

    return Starlette(
        routes=[
            *page_routes(runtime, auth, trading or Trading(runtime)),
            *control_routes(runtime),
            *live_routes(runtime, stop or asyncio.Event()),
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint(runtime)),
            Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings.dashboard)),
            Middleware(Guard, auth=auth),
        ],
    )


async def run_dashboard(settings: Settings) -> None:
    stop = asyncio.Event()
    install_stop_handlers(stop)
    runtime = build(settings, "dashboard")
    trading = Trading(runtime)
    app = create_app(runtime, stop, trading)

    async def http() -> None:
        try:
            await serve(app, settings.dashboard.host, settings.dashboard.port, stop)
        finally:
            await trading.close()

    await run_tasks(runtime, "dashboard", stop, [http])
