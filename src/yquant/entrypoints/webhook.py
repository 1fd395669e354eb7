"""The TradingView receiver: `POST /webhook` and `GET /healthz` (port 6000 by default)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from yquant import health
from yquant.adapters.bus import BUS_ERRORS
from yquant.bootstrap import Runtime, build
from yquant.entrypoints.http import serve
from yquant.entrypoints.process import install_stop_handlers, run_tasks
from yquant.errors import BusUnavailableError, DatabaseUnavailableError
from yquant.services.ingest import Ingest, sweep_waiting
from yquant.settings import Settings, webhook_secret

ACCEPTED_TYPES = ("application/json", "text/plain")
SWEEP_EVERY_S = 10.0
SWEEP_AFTER_S = 30.0


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes whether or not a length was declared."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(runtime: Runtime, ingest: Ingest) -> Starlette:
    settings = runtime.settings

    async def receive(request: Request) -> JSONResponse:
        content_type = request.headers.get("content-type", "text/plain").split(";")[0].strip()
        if content_type.lower() not in ACCEPTED_TYPES:
            return JSONResponse(
                {"status": "rejected", "reason": "unsupported_media_type"}, status_code=415
            )
        try:
            body = await read_body(request, settings.webhook.max_body_bytes)
        except BodyTooLarge:
            return JSONResponse({"status": "rejected", "reason": "body_too_large"}, 413)
        except ClientDisconnect:
            return JSONResponse({"status": "rejected", "reason": "client_disconnected"}, 400)
        source = request.client.host if request.client else None
        try:
            receipt = await ingest.receive(body, source_ip=source, now=datetime.now(UTC))
        except (DatabaseUnavailableError, sqlite3.Error):
            # Neither the database nor the local journal took it: nothing was recorded.
            return JSONResponse({"status": "error", "reason": "not_recorded"}, 503)
        return JSONResponse(receipt.body, status_code=receipt.http_status)

    async def healthz(request: Request) -> JSONResponse:
        ready, report = await health.check(runtime, database_required=False)
        return JSONResponse(
            {"ready": ready, "worker": settings.worker.name, "checks": report},
            status_code=200 if ready else 503,
        )

    return Starlette(
        routes=[
            Route("/webhook", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


async def run_webhook(settings: Settings) -> None:
    stop = asyncio.Event()
    install_stop_handlers(stop)
    runtime = build(settings, "webhook")
    ingest = Ingest(
        recorder=runtime.recorder,
        bus=runtime.bus,
        secret=webhook_secret(settings),
        worker=settings.worker.name,
    )
    app = create_app(runtime, ingest)

    async def http() -> None:
        await serve(app, settings.webhook.host, settings.webhook.port, stop)

    async def sweeper() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=SWEEP_EVERY_S)
            if stop.is_set():
                return
            before = datetime.now(UTC) - timedelta(seconds=SWEEP_AFTER_S)
            with contextlib.suppress(DatabaseUnavailableError, BusUnavailableError, *BUS_ERRORS):
                await sweep_waiting(runtime.recorder, runtime.bus, settings.worker.name, before)

    await run_tasks(runtime, "webhook", stop, [http, sweeper])
