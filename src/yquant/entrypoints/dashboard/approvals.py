"""Approvals from `/orders`: each order awaiting approval with its Approve and Reject buttons
(forms with the page's CSRF token). A decision goes through `services.approvals` like the
command line's and Telegram's (one wins; an approval is re-checked before it is sent) and is
in the audit log under the signed-in user, with the order's status before and after.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from yquant.bootstrap import Runtime, build_approvals
from yquant.entrypoints.dashboard.auth import actor_of
from yquant.errors import DatabaseUnavailableError
from yquant.services.approvals import Via


def approval_routes(runtime: Runtime) -> list[Route]:
    approvals = build_approvals(runtime)

    async def decide(request: Request, approve: bool) -> Response:
        form = await request.form()
        ref = str(form.get("order") or "").strip()
        try:
            outcome = await approvals.decide(
                ref, approve=approve, actor=actor_of(request), via=Via.DASHBOARD
            )
        except DatabaseUnavailableError:
            return RedirectResponse("/orders?why=database_unavailable#approvals", status_code=303)
        query = {"order": ref}
        if outcome.sent:
            query["decision"] = "approved"
        elif outcome.decided and not approve:
            query["decision"] = "rejected"
        else:
            query["decision"] = "refused"
        if outcome.reason is not None and query["decision"] != "rejected":
            query["why"] = outcome.reason.value
        return RedirectResponse(f"/orders?{urlencode(query)}#approvals", status_code=303)

    async def approve(request: Request) -> Response:
        return await decide(request, True)

    async def reject(request: Request) -> Response:
        return await decide(request, False)

    return [
        Route("/orders/approve", approve, methods=["POST"]),
        Route("/orders/reject", reject, methods=["POST"]),
    ]
