"""The dashboard's kill-switch control: read the switches, change one (with a reason).

Two doors to the same use case (`services.control.Control`): the form on `/system` (POST
`/control`, then back to the page) and `/api/control` (JSON, for scripts). Both sit behind the
guard (`auth.Guard`): a signed-in user, the session's CSRF token, a same-origin page. Every
change is stored with its audit entry: the user, the time, the state before and after, the
reason.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from yquant.bootstrap import Runtime, build_control
from yquant.domain.events import SwitchChanged
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState
from yquant.entrypoints.dashboard.auth import actor_of, refusal
from yquant.entrypoints.dashboard.data import switches
from yquant.errors import DatabaseUnavailableError
from yquant.services.control import GLOBAL, ControlError


def control_routes(runtime: Runtime) -> list[Route]:
    control = build_control(runtime.store, runtime.settings.accounts)

    async def change(request: Request, scope: str, state_text: str, reason: str) -> str:
        """Set the switch; returns the state before (ControlError, DatabaseUnavailableError,
        ValueError for a state that is none)."""
        state = KillState(state_text)
        before = await control.set(
            scope or GLOBAL,
            state,
            actor=actor_of(request),
            reason=reason,
            now=runtime.clock.now(),
        )
        await runtime.bus.announce(SwitchChanged(scope or GLOBAL, state))
        return before

    async def read(request: Request) -> JSONResponse:
        try:
            rows = await switches(runtime)
        except DatabaseUnavailableError:
            return refusal(ReasonCode.DATABASE_UNAVAILABLE, "database unavailable", 503)
        for row in rows:
            row["updated_at"] = row["updated_at"].isoformat() if row["updated_at"] else None
        return JSONResponse({"switches": rows})

    async def api_change(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return refusal(ReasonCode.JSON_REQUIRED, "send application/json", 415)
        try:
            body = await request.json()
            scope = str(body.get("scope") or GLOBAL)
            state = str(body.get("state"))
            reason = str(body.get("reason") or "")
            before = await change(request, scope, state, reason)
        except ControlError as exc:
            return refusal(exc.code, str(exc), 400)
        except DatabaseUnavailableError:
            return refusal(ReasonCode.DATABASE_UNAVAILABLE, "database unavailable", 503)
        except (ValueError, AttributeError):
            return refusal(
                ReasonCode.BAD_REQUEST,
                "give scope, state (active|reduce_only|halted) and reason",
                400,
            )
        return JSONResponse({"scope": scope, "state": state, "before": before})

    async def form_change(request: Request) -> Response:
        form = await request.form()
        scope = str(form.get("scope") or GLOBAL)
        state = str(form.get("state") or "")
        try:
            await change(request, scope, state, str(form.get("reason") or ""))
            outcome = {"changed": f"{scope}:{state}"}
        except ControlError as exc:
            outcome = {"refused": str(exc.code), "scope": scope}
        except DatabaseUnavailableError:
            outcome = {"refused": ReasonCode.DATABASE_UNAVAILABLE.value, "scope": scope}
        except ValueError:
            outcome = {"refused": ReasonCode.BAD_REQUEST.value, "scope": scope}
        return RedirectResponse(f"/system?{urlencode(outcome)}#control", status_code=303)

    return [
        Route("/api/control", read, methods=["GET"]),
        Route("/api/control", api_change, methods=["POST"]),
        Route("/control", form_change, methods=["POST"]),
    ]
