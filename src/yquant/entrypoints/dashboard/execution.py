"""The execution-quality page, ``/performance/execution``: what `yquant report execution`
prints, as a table per group with a bar per percentile (``<meter>`` elements: no script and
no inline style, which the page's Content-Security-Policy forbids).

Its own route and module beside the performance page, which links to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from yquant.bootstrap import Runtime, report_reads
from yquant.errors import DatabaseUnavailableError
from yquant.services.execution_report import execution_quality, quality_json

Show = Callable[..., Awaitable[Response]]
DEFAULT_DAYS = 30
MAX_DAYS = 366


def execution_routes(runtime: Runtime, show: Show) -> list[Route]:
    reads = report_reads(runtime.settings, runtime.store)
    zone = ZoneInfo(runtime.settings.dashboard.time_zone)

    async def page(request: Request) -> Response:
        params = request.query_params
        today = runtime.clock.now().astimezone(zone).date()
        last = _day(params.get("to")) or today
        first = _day(params.get("from")) or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last or (last - first).days >= MAX_DAYS:
            first = last - timedelta(days=DEFAULT_DAYS - 1)
        strategy = str(params.get("strategy", "")).strip()[:200]
        since = datetime.combine(first, time.min, tzinfo=zone)
        until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
        groups: list[dict[str, Any]] | None
        try:
            groups = quality_json(await execution_quality(reads, since, until, strategy or None))
        except DatabaseUnavailableError:
            groups = None
        return await show(
            request,
            "execution.html",
            groups=groups,
            date_from=first.isoformat(),
            date_to=last.isoformat(),
            strategy=strategy,
            bars=[_bars(g) for g in groups or []],
        )

    return [Route("/performance/execution", page)]


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _bars(group: dict[str, Any]) -> dict[str, Any]:
    """Each row's percentiles as widths in percent of the group's largest p99 of its kind
    (seconds for the hops, basis points for slippage)."""
    hops = {k: s for k, s in group["hops_s"].items() if s is not None}
    longest = max((abs(s["p99"]) for s in hops.values()), default=0.0) or 1.0
    rows = [
        {
            "key": f"hop_{k}",
            "count": s["count"],
            "cells": [(p, s[p], _width(s[p], longest)) for p in ("p50", "p95", "p99")],
            "unit": "s",
        }
        for k, s in hops.items()
    ]
    slip = group["slippage_bps"]
    if slip is not None:
        widest = max(abs(float(slip[p])) for p in ("p50", "p95", "p99")) or 1.0
        rows.append(
            {
                "key": "exec_slippage",
                "count": slip["count"],
                "cells": [
                    (p, slip[p], _width(float(slip[p]), widest)) for p in ("p50", "p95", "p99")
                ],
                "unit": "bps",
            }
        )
    return {"group": group, "rows": rows}


def _width(value: float, scale: float) -> int:
    return max(0, min(100, round(abs(value) / scale * 100)))
