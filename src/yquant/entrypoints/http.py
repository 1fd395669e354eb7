"""Serving a Starlette app with uvicorn inside a process that owns its own signal handling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from yquant.adapters.metrics import CONTENT_TYPE, PrometheusMetrics
from yquant.bootstrap import Runtime


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The process's own handlers (install_stop_handlers) decide when to stop.
        yield


async def serve(app: ASGIApp, host: str, port: int, stop: asyncio.Event) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        # The client address is yQuant's own decision (`sources.client_address`, trusted proxies
        # only). uvicorn's proxy-header handling would otherwise believe X-Forwarded-For from any
        # loopback peer and let a local process pose as TradingView.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)

    async def stopper() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stopper())
    try:
        await server.serve()
        if not server.started:
            raise OSError(f"could not listen on {host}:{port}")
    finally:
        watcher.cancel()


def metrics_endpoint(runtime: Runtime) -> Callable[[Request], Awaitable[Response]]:
    """`GET /metrics`: the process's metrics in Prometheus's text format (404 without)."""

    async def endpoint(request: Request) -> Response:
        if not isinstance(runtime.metrics, PrometheusMetrics):
            return Response(status_code=404)
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)

    return endpoint
