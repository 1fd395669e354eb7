"""Cancels from `/orders`: one working order, every working order a filter matches (after a
confirmation page that lists them), or an order queued for the next open.

A working order's cancel goes the way `yquant cancel` sends it (`services.cancels`: the
gateway of this worker asks the broker and records the outcome); the page waits a few seconds
for the answers, then shows what became of each. Every cancel is in the audit log: the user,
the time, the order's status before and after.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from yquant.adapters.db.rows import order_row
from yquant.bootstrap import Runtime, audit_log, build_cancels, build_order_queue
from yquant.domain.model import Order
from yquant.entrypoints.dashboard import data
from yquant.entrypoints.dashboard.auth import actor_of
from yquant.errors import DatabaseUnavailableError
from yquant.services.cancels import CancelOutcome

WAIT_S = 8.0


def cancel_routes(runtime: Runtime, show: Any) -> list[Route]:
    """``show(request, template, **context)`` renders a page in the frame (`pages.Pages`)."""
    cancels = build_cancels(runtime)
    queue = build_order_queue(runtime.store)
    audit = audit_log(runtime.store)
    accounts = list(runtime.settings.accounts)

    async def record(request: Request, outcomes: list[CancelOutcome]) -> None:
        now = runtime.clock.now()
        for o in outcomes:
            await audit.record(
                at=now,
                actor=actor_of(request),
                action="order.cancel",
                target=o.client_order_id or o.ref,
                detail={
                    "before": o.order.status.value if o.order else None,
                    "after": o.status.value if o.status else None,
                    "filled": str(o.filled_quantity),
                    "done": o.done,
                    "pending": o.pending,
                    "reason": o.reason.value if o.reason else None,
                },
            )

    def back(outcomes: list[CancelOutcome]) -> Response:
        counts = {
            "cancelled": sum(o.done for o in outcomes),
            "pending": sum(o.pending for o in outcomes),
            "refused": sum(not o.done and not o.pending for o in outcomes),
        }
        reasons = sorted({o.reason.value for o in outcomes if o.reason})
        query: dict[str, str] = {k: str(v) for k, v in counts.items() if v}
        if reasons:
            query["why"] = ",".join(reasons)
        return RedirectResponse(f"/orders?{urlencode(query)}#working", status_code=303)

    async def cancel(request: Request) -> Response:
        form = await request.form()
        ref = str(form.get("order") or "").strip()
        try:
            if ref:
                outcomes = [await cancels.cancel_ref(ref, wait_s=WAIT_S)]
            else:
                matching = await _matching(form)
                if form.get("confirm") != "yes":
                    rows = [order_row(o) for o in matching]
                    page: Response = await show(
                        request,
                        "cancel_confirm.html",
                        orders=rows,
                        filters=_filters(form),
                        named=rows,
                    )
                    return page
                outcomes = await cancels.cancel(matching, wait_s=WAIT_S) if matching else []
            await record(request, outcomes)
        except DatabaseUnavailableError:
            return RedirectResponse("/orders?why=database_unavailable#working", status_code=303)
        return back(outcomes)

    async def _matching(form: Any) -> list[Order]:
        f = _filters(form)
        return await cancels.working(
            account=f["account"] or None, strategy=f["strategy"] or None, ticker=f["ticker"] or None
        )

    def _filters(form: Any) -> dict[str, str]:
        picked = data.filters_from(form, accounts, data.STATUSES)
        return {"account": picked.account, "strategy": picked.strategy, "ticker": picked.ticker}

    async def cancel_queued(request: Request) -> Response:
        form = await request.form()
        ref = str(form.get("order") or "").strip()
        now = runtime.clock.now()
        try:
            done = await queue.cancel(
                ref, f"{actor_of(request)}: cancelled from the dashboard", now
            )
            await audit.record(
                at=now,
                actor=actor_of(request),
                action="queue.cancel",
                target=ref,
                detail={"before": "queued", "after": "cancelled" if done else None},
            )
        except DatabaseUnavailableError:
            return RedirectResponse("/orders?why=database_unavailable#queued", status_code=303)
        query = {"cancelled": "1"} if done else {"refused": "1", "why": "not_found"}
        return RedirectResponse(f"/orders?{urlencode(query)}#queued", status_code=303)

    return [
        Route("/orders/cancel", cancel, methods=["POST"]),
        Route("/orders/cancel-queued", cancel_queued, methods=["POST"]),
    ]
