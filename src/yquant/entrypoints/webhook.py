"""The TradingView receiver: `POST /webhook` and `GET /healthz` (port 6000 by default)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from datetime import datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from yquant import health
from yquant.bootstrap import Runtime, build, build_ingest
from yquant.domain.reasons import ReasonCode
from yquant.domain.roles import TRADING_ROLES
from yquant.entrypoints.http import metrics_endpoint, serve
from yquant.entrypoints.process import install_stop_handlers, run_tasks
from yquant.entrypoints.sources import AddressSet, SourceThrottle, client_address
from yquant.errors import (
    BusUnavailableError,
    DatabaseUnavailableError,
    JournalUnavailableError,
    SignalRejectedError,
)
from yquant.services.ingest import Ingest, Receipt, sweep_waiting
from yquant.settings import Settings

logger = logging.getLogger(__name__)

ACCEPTED_TYPES = ("application/json", "text/plain")
SWEEP_EVERY_S = 10.0
SWEEP_AFTER_S = 30.0


class BodyTooLargeError(SignalRejectedError):
    """A request body over the webhook's size limit (refused as ``body_too_large``)."""

    def __init__(self) -> None:
        super().__init__(ReasonCode.BODY_TOO_LARGE)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes whether or not a length was declared."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(runtime: Runtime, ingest: Ingest) -> Starlette:  # noqa: PLR0915 - handlers as closures
    settings = runtime.settings
    hook = settings.webhook
    token = hook.path_token.get_secret_value().encode() if hook.path_token else None
    throttle = SourceThrottle(hook.max_rejections_per_minute)
    tradingview = AddressSet(hook.allowed_ips)
    metrics = runtime.metrics

    def answer(receipt: Receipt) -> JSONResponse:
        """The receipt as the HTTP answer, counted by its outcome."""
        status = receipt.body.get("status")
        if status == "accepted":
            metrics.alert_accepted()
        elif status == "duplicate":
            metrics.alert_rejected(ReasonCode.DUPLICATE)
        else:
            metrics.alert_rejected(str(receipt.body.get("reason", "unknown")))
        return JSONResponse(receipt.body, status_code=receipt.http_status)

    def throttleable(source: str) -> bool:
        # TradingView's addresses (the allow-list) are shared by every TradingView user: other
        # people's bad alerts must not throttle ours. HAProxy exempts them from its per-source
        # limit too; what comes through them is bounded by TradingView's own alert limits.
        return source not in tradingview

    async def throttled(source: str, now: datetime) -> JSONResponse:
        """429; the first of a throttled source's requests in a minute goes to the signal log,
        the ones after it are counted and logged together (see log_unlogged)."""
        if throttle.first_refusal(source):
            limit = hook.max_rejections_per_minute
            detail = f"over {limit} refused requests in a minute; the next are logged as a count"
            await ingest.reject(SignalRejectedError(ReasonCode.THROTTLED, detail), source, now)
        else:
            throttle.unlogged(source)
        metrics.alert_rejected(ReasonCode.THROTTLED)
        return JSONResponse({"status": "rejected", "reason": ReasonCode.THROTTLED}, status_code=429)

    async def log_unlogged() -> None:
        """One signal-log row per source for the throttled requests that got none of their own,
        so that a flood leaves a bounded number of rows and still every request is counted."""
        now = runtime.clock.now()
        for source, count in throttle.take_unlogged().items():
            detail = f"{count} more throttled requests, not logged one by one"
            await ingest.reject(SignalRejectedError(ReasonCode.THROTTLED, detail), source, now)

    async def refuse(source: str, reason: ReasonCode, detail: str, now: datetime) -> JSONResponse:
        """Count the rejection for its source; log it unless the source is already throttled."""
        if not throttleable(source) or throttle.record(source) <= hook.max_rejections_per_minute:
            receipt = await ingest.reject(SignalRejectedError(reason, detail), source, now)
            return answer(receipt)
        return await throttled(source, now)

    async def receive(request: Request) -> JSONResponse:
        metrics.alert_received()
        now = runtime.clock.now()
        peer = request.client.host if request.client else None
        source = client_address(peer, request.headers.get("x-forwarded-for"), hook.trusted_proxies)
        if throttleable(source) and throttle.throttled(source):
            return await throttled(source, now)
        if hook.ip_allowlist_enabled and source not in tradingview:
            return await refuse(
                source, ReasonCode.SOURCE_NOT_ALLOWED, f"{source} is not allowed", now
            )
        given = request.path_params.get("token")
        if token is not None and not (
            given is not None and hmac.compare_digest(given.encode(), token)
        ):
            return await refuse(source, ReasonCode.NOT_FOUND, "unknown webhook path", now)
        if request.method != "POST":
            return await refuse(source, ReasonCode.METHOD_NOT_ALLOWED, "use POST", now)
        content_type = request.headers.get("content-type", "text/plain").split(";")[0].strip()
        if content_type.lower() not in ACCEPTED_TYPES:
            return await refuse(
                source,
                ReasonCode.UNSUPPORTED_MEDIA_TYPE,
                f"{content_type[:60]!r} is not JSON or text",
                now,
            )
        try:
            body = await read_body(request, hook.max_body_bytes)
        except BodyTooLargeError:
            return await refuse(
                source, ReasonCode.BODY_TOO_LARGE, f"more than {hook.max_body_bytes} bytes", now
            )
        except ClientDisconnect:
            gone = SignalRejectedError(
                ReasonCode.CLIENT_DISCONNECTED, "closed before the body arrived"
            )
            receipt = await ingest.reject(gone, source, now)
            return answer(receipt)
        try:
            receipt = await ingest.receive(body, source_ip=source, now=now)
        except (DatabaseUnavailableError, JournalUnavailableError):
            # Neither the database nor the local journal took it: nothing was recorded, and a
            # 503 makes TradingView send it again.
            metrics.alert_rejected(ReasonCode.NOT_RECORDED)
            return JSONResponse({"status": "error", "reason": ReasonCode.NOT_RECORDED}, 503)
        if receipt.http_status >= 400 and throttleable(source):
            throttle.record(source)
        return answer(receipt)

    async def healthz(request: Request) -> JSONResponse:
        ready, report = await health.check(
            runtime, database_required=False, roles_required=TRADING_ROLES
        )
        report["throttled_sources"] = throttle.throttled_sources()
        return JSONResponse(
            {"ready": ready, "worker": settings.worker.name, "checks": report},
            status_code=200 if ready else 503,
        )

    # Every method and "/webhook/" reach receive, so that each request is in the signal log
    # (Starlette would answer them itself: 405, or a redirect to "/webhook").
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]  # HEAD with GET
    routes = [Route("/webhook/{token}", receive, methods=methods)]
    routes.append(Route("/webhook", receive, methods=methods))
    routes.append(Route("/webhook/", receive, methods=methods))
    routes.append(Route("/healthz", healthz, methods=["GET"]))
    routes.append(Route("/metrics", metrics_endpoint(runtime), methods=["GET"]))
    app = Starlette(routes=routes)
    app.state.log_unlogged = log_unlogged
    return app


async def run_webhook(settings: Settings) -> None:
    stop = asyncio.Event()
    install_stop_handlers(stop)
    # A short database timeout on the alert path: after it the alert goes to the journal, well
    # inside TradingView's 3 s.
    runtime = build(settings, "webhook", db_timeout_s=settings.webhook.database_timeout_s)
    ingest = build_ingest(runtime)
    app = create_app(runtime, ingest)

    async def http() -> None:
        try:
            await serve(app, settings.webhook.host, settings.webhook.port, stop)
        finally:
            await app.state.log_unlogged()
            await ingest.close()

    async def sweeper() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=SWEEP_EVERY_S)
            if stop.is_set():
                return
            await app.state.log_unlogged()  # a row that cannot be written is logged, not raised
            before = runtime.clock.now() - timedelta(seconds=SWEEP_AFTER_S)
            try:
                await sweep_waiting(
                    runtime.recorder, runtime.bus, settings.worker.name, before, clock=runtime.clock
                )
            except (DatabaseUnavailableError, BusUnavailableError) as exc:
                logger.warning("sweep put off reason=%s", type(exc).__name__)

    await run_tasks(runtime, "webhook", stop, [http, sweeper])
