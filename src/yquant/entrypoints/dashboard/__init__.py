"""The operator dashboard (port 2000): health and the latest signals, orders and fills."""

from __future__ import annotations

import asyncio
import json
from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from yquant import health, views
from yquant.bootstrap import Runtime, build
from yquant.entrypoints import i18n
from yquant.entrypoints.dashboard.control import allowed_hosts, control_routes, switches
from yquant.entrypoints.http import metrics_endpoint, serve
from yquant.entrypoints.process import install_stop_handlers, run_tasks
from yquant.errors import DatabaseUnavailableError
from yquant.settings import Settings

PAGE = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def create_app(runtime: Runtime) -> Starlette:
    settings = runtime.settings

    async def page(request: Request) -> HTMLResponse:
        language = request.query_params.get("lang", settings.language)
        if language not in i18n.MESSAGES:
            language = settings.language
        html = (
            PAGE.replace("__LANG__", language)
            .replace("__MESSAGES__", json.dumps(i18n.messages(language), ensure_ascii=False))
            .replace("__CODES__", json.dumps(i18n.CODES.get(language, {}), ensure_ascii=False))
        )
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline' 'self';"
                " style-src 'unsafe-inline' 'self'",
                "X-Frame-Options": "DENY",
            },
        )

    async def summary(request: Request) -> JSONResponse:
        ready, report = await health.check(runtime, database_required=True)
        try:
            signals, orders, fills = await asyncio.gather(
                views.signals(runtime.store, 25),
                views.orders(runtime.store, 25),
                views.fills(runtime.store, 25),
            )
        except DatabaseUnavailableError:
            signals, orders, fills = [], [], []
        try:
            control = await switches(runtime)
        except DatabaseUnavailableError:
            control = []
        for item in signals:
            item.pop("payload", None)
        return JSONResponse(
            {
                "worker": settings.worker.name,
                "ready": ready,
                "health": report,
                "signals": signals,
                "orders": orders,
                "fills": fills,
                "control": control,
            }
        )

    async def healthz(request: Request) -> JSONResponse:
        ready, report = await health.check(runtime, database_required=True)
        return JSONResponse(
            {"ready": ready, "worker": settings.worker.name, "checks": report},
            status_code=200 if ready else 503,
        )

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/summary", summary),
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint(runtime)),
            *control_routes(runtime),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings.dashboard))
        ],
    )


async def run_dashboard(settings: Settings) -> None:
    stop = asyncio.Event()
    install_stop_handlers(stop)
    runtime = build(settings, "dashboard")
    app = create_app(runtime)

    async def http() -> None:
        await serve(app, settings.dashboard.host, settings.dashboard.port, stop)

    await run_tasks(runtime, "dashboard", stop, [http])
