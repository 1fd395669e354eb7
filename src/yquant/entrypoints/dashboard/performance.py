"""/performance: the equity curve and its drawdown, the metrics of a period and each strategy's
side by side, for an account (or all) or a strategy; /performance.csv: its daily returns in
the shape QuantStats reads. Both read the daily snapshots (`services.reports`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from yquant.bootstrap import Runtime, build_reports
from yquant.entrypoints import performance as perf
from yquant.entrypoints.dashboard.render import SECURITY_HEADERS, language_of
from yquant.errors import DatabaseUnavailableError
from yquant.services.reports import Report

Show = Callable[..., Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Query:
    """What the period picker asked for, checked."""

    account: str
    strategy: str
    period: str
    since: date | None
    until: date | None

    def params(self) -> str:
        """The same query as URL parameters (the CSV link)."""
        pairs = {"account": self.account, "strategy": self.strategy, "period": self.period}
        if self.period == "custom":
            pairs |= {"from": _iso(self.since), "to": _iso(self.until)}
        return urlencode({k: v for k, v in pairs.items() if v})


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


class PerformancePages:
    def __init__(self, runtime: Runtime, show: Show) -> None:
        self._runtime = runtime
        self._show = show
        self._accounts = list(runtime.settings.accounts)
        self._reports = build_reports(runtime.settings, runtime.store)

    def query(self, request: Request) -> Query:
        params = request.query_params
        account = params.get("account", "")
        account = account if account in self._accounts else ""
        strategy = str(params.get("strategy", "")).strip()[:200]
        since, until = _day(params.get("from")), _day(params.get("to"))
        period = params.get("period", "")
        if since or until:
            period = "custom"
        elif period not in perf.PERIODS:
            period = "all"
        if period != "custom":
            zone = self._runtime.settings.dashboard.time_zone
            today = self._runtime.clock.now().astimezone(ZoneInfo(zone)).date()
            since, until = perf.period_start(period, today), None
        if since and until and since > until:
            since, until = until, since
        return Query(account, strategy, period, since, until)

    async def report(self, q: Query) -> Report:
        return await self._reports.report(
            account=q.account or None, strategy=q.strategy or None, since=q.since, until=q.until
        )

    async def page(self, request: Request) -> Response:
        q = self.query(request)
        language = language_of(request, self._runtime.settings.language)
        report: Report | None
        try:
            report = await self.report(q)
        except DatabaseUnavailableError:
            report = None
        strategies: list[str] = []
        if report is not None:
            strategies = sorted(set(report.strategies) | ({q.strategy} if q.strategy else set()))
        return await self._show(
            request,
            "performance.html",
            w=perf.words(language),
            q=q,
            report=report,
            accounts=self._accounts,
            strategies=strategies,
            periods=perf.PERIODS,
            metric_rows=perf.metric_rows(report.metrics, language) if report else [],
            comparison=_comparison(report, language) if report else None,
            chart=_chart(report) if report else None,
        )

    async def csv(self, request: Request) -> Response:
        q = self.query(request)
        try:
            report = await self.report(q)
        except DatabaseUnavailableError:
            return Response("database unavailable\n", status_code=503, headers=SECURITY_HEADERS)
        return Response(
            perf.returns_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f'attachment; filename="{perf.csv_name(report)}"',
            },
        )


def _comparison(report: Report, language: str) -> dict[str, Any] | None:
    """Each strategy's main figures, one row per strategy (the account's report only)."""
    if report.strategy is not None or not report.strategies:
        return None
    shown = [
        ("cumulative_return", "pct"),
        ("cagr", "pct"),
        ("sharpe", "ratio"),
        ("max_drawdown", "pct"),
        ("trades", "int"),
        ("win_rate", "pct"),
        ("profit_factor", "ratio"),
    ]
    w = perf.words(language)
    return {
        "heads": [w[name] for name, _ in shown],
        "rows": [
            (name, [perf.shown(m, key, kind, language) for key, kind in shown])
            for name, m in report.strategies.items()
        ],
    }


def _chart(report: Report) -> dict[str, Any]:
    """The series the charts draw: the account's equity in KRW (a strategy: its cumulative
    return in %), and the drawdown in %."""
    if report.strategy is None:
        line = [{"time": p.day.isoformat(), "value": float(p.equity)} for p in report.curve]
        kind = "equity"
    else:
        line = [
            {"time": p.day.isoformat(), "value": round((p.index - 1) * 100, 4)}
            for p in report.curve
        ]
        kind = "return"
    drawdown = [
        {"time": p.day.isoformat(), "value": round(p.drawdown * 100, 4)} for p in report.curve
    ]
    return {"kind": kind, "line": line, "drawdown": drawdown}


def performance_routes(runtime: Runtime, show: Show) -> list[Route]:
    pages = PerformancePages(runtime, show)
    return [Route("/performance", pages.page), Route("/performance.csv", pages.csv)]
