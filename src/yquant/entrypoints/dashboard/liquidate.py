"""`/liquidate`: a liquidation from the dashboard, as `yquant liquidate` carries it out.

Three steps, each a page: the filter (account, strategy, market, ticker, and whether a closed
market's sells wait for its open), the plan (`Liquidator.plan`: exactly what would be sold, the
estimated proceeds, the working orders cancelled first, or why it would be refused; nothing
recorded or sent), and, after the operator confirms that plan, the liquidation
(`Liquidator.execute`, refused if the book changed since the plan shown) with its id and each
cancel's and sell's outcome. The page lists the latest liquidations too. Each liquidation is in
the audit log under the user, with the positions before and the outcome after.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from yquant.bootstrap import Runtime, audit_log, build_liquidator, liquidation_records
from yquant.domain.liquidation import LiquidationFilter
from yquant.domain.reasons import ReasonCode
from yquant.entrypoints.dashboard.auth import actor_of
from yquant.entrypoints.dashboard.render import form_text
from yquant.entrypoints.dashboard.trade import Trading
from yquant.errors import DatabaseUnavailableError
from yquant.services.liquidation import Liquidator

HISTORY = 10


@dataclass
class Ask:
    """The filter form as given (echoed back)."""

    account: str = ""
    strategy: str = ""
    market: str = ""
    ticker: str = ""
    at_open: str = ""

    @classmethod
    def of(cls, form: Any) -> Ask:
        def text(name: str, limit: int = 40) -> str:
            return form_text(form, name, limit)

        return cls(
            account=text("account", 64),
            strategy=text("strategy", 200),
            market=text("market", 2).upper(),
            ticker=text("ticker").upper(),
            at_open="yes" if form.get("at_open") == "yes" else "",
        )

    def fields(self) -> dict[str, str]:
        return dict(self.__dict__)

    def filter(self) -> LiquidationFilter:
        """ValueError for a market other than KR or US."""
        return LiquidationFilter.of(
            account=self.account, strategy=self.strategy, market=self.market, ticker=self.ticker
        )


class Liquidations:
    """The liquidator in the dashboard process, over the trade page's engine parts."""

    def __init__(self, runtime: Runtime, trading: Trading) -> None:
        self._runtime = runtime
        self._trading = trading
        self._lock = asyncio.Lock()
        self._liquidator: Liquidator | None = None

    async def liquidator(self) -> Liquidator:
        async with self._lock:
            if self._liquidator is None:
                engine, instruments, brokers = await self._trading.parts()
                self._liquidator = build_liquidator(
                    self._runtime, engine, instruments, brokers=brokers
                )
            return self._liquidator


def liquidate_routes(runtime: Runtime, show: Any, trading: Trading) -> list[Route]:
    """``show(request, template, **context)`` renders a page in the frame (`pages.Pages`)."""
    accounts = list(runtime.settings.accounts)
    audit = audit_log(runtime.store)
    records = liquidation_records(runtime.store)
    liquidations = Liquidations(runtime, trading)

    async def page(request: Request, ask: Ask, **context: Any) -> Response:
        try:
            history = await records.recent(HISTORY)
        except DatabaseUnavailableError:
            history = None
        plan = context.get("plan")
        named = (
            [{"market": i.market.value, "ticker": i.ticker} for i in plan.items]
            if plan is not None
            else []
        )
        response: Response = await show(
            request,
            "liquidate.html",
            ask=ask,
            accounts=accounts,
            history=history,
            named=named,
            **context,
        )
        return response

    async def form(request: Request) -> Response:
        return await page(request, Ask.of(request.query_params))

    async def preview(request: Request) -> Response:
        ask = Ask.of(await request.form())
        try:
            wanted = ask.filter()
        except ValueError as exc:
            return await page(request, ask, refused=ReasonCode.BAD_FIELD, detail=str(exc))
        try:
            liquidator = await liquidations.liquidator()
            plan = await liquidator.plan(wanted, at_open=ask.at_open == "yes")
        except DatabaseUnavailableError:
            return await page(request, ask, refused=ReasonCode.DATABASE_UNAVAILABLE)
        return await page(request, ask, plan=plan)

    async def execute(request: Request) -> Response:
        fields = await request.form()
        ask = Ask.of(fields)
        if fields.get("confirm") != "yes":
            return await page(request, ask, refused=ReasonCode.CONFIRMATION_REQUIRED)
        try:
            wanted = ask.filter()
        except ValueError as exc:
            return await page(request, ask, refused=ReasonCode.BAD_FIELD, detail=str(exc))
        actor = actor_of(request)
        try:
            liquidator = await liquidations.liquidator()
            result = await liquidator.execute(
                wanted,
                requested_by=actor,
                source="dashboard",
                confirm=True,
                at_open=ask.at_open == "yes",
                shown=str(fields.get("plan") or ""),
            )
            await audit.record(
                at=runtime.clock.now(),
                actor=actor,
                action="liquidation",
                target=result.id or "-",
                detail={
                    "filter": wanted.as_dict(),
                    "at_open": ask.at_open == "yes",
                    "before": [
                        {
                            "account": i.account,
                            "strategy": i.strategy,
                            "ticker": f"{i.exchange}:{i.ticker}",
                            "quantity": f"{i.quantity.normalize():f}",
                        }
                        for i in result.plan.items
                    ],
                    "after": result.status.value,
                    "reason": None if result.reason is None else result.reason.value,
                    "orders": [s.client_order_id for s in result.sells if s.client_order_id],
                    "cancelled": [c.client_order_id for c in result.cancels if c.done],
                },
            )
        except DatabaseUnavailableError:
            return await page(request, ask, refused=ReasonCode.DATABASE_UNAVAILABLE)
        return await page(request, ask, result=result, plan=result.plan)

    return [
        Route("/liquidate", form, methods=["GET"]),
        Route("/liquidate/plan", preview, methods=["POST"]),
        Route("/liquidate/execute", execute, methods=["POST"]),
    ]
