"""The dashboard's kill-switch control: read the switches, change one (with a reason).

The dashboard has no login: it is reachable only over Tailscale. A browser page from elsewhere
must still not be able to flip the switch through the operator's browser, so a change must be a
JSON request (which a cross-site page cannot send without a CORS preflight that is never
granted) and, when the browser names its origin, from this dashboard's own origin.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from yquant.bootstrap import Runtime
from yquant.domain.risk import KillState
from yquant.errors import DatabaseUnavailableError
from yquant.services.control import GLOBAL, Control, ControlError


async def switches(runtime: Runtime) -> list[dict[str, Any]]:
    """Every scope (global and each account) with its state; active where none is recorded."""
    records = await Control(runtime.store, runtime.settings.accounts).switches()
    out = []
    for scope in [GLOBAL, *runtime.settings.accounts]:
        rec = records.get(scope)
        out.append(
            {
                "scope": scope,
                "state": rec.state if rec else KillState.ACTIVE.value,
                "reason": rec.reason if rec else None,
                "actor": rec.actor if rec else None,
                "updated_at": rec.updated_at.isoformat() if rec else None,
            }
        )
    return out


def control_routes(runtime: Runtime) -> list[Route]:
    control = Control(runtime.store, runtime.settings.accounts)

    async def read(request: Request) -> JSONResponse:
        try:
            return JSONResponse({"switches": await switches(runtime)})
        except DatabaseUnavailableError:
            return JSONResponse({"error": "database unavailable"}, status_code=503)

    async def change(request: Request) -> JSONResponse:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return JSONResponse({"error": "send application/json"}, status_code=415)
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
        try:
            body = await request.json()
            scope = str(body.get("scope") or GLOBAL)
            state = KillState(str(body.get("state")))
            reason = str(body.get("reason") or "")
        except (ValueError, AttributeError):
            return JSONResponse(
                {"error": "give scope, state (active|reduce_only|halted) and reason"},
                status_code=400,
            )
        try:
            before = await control.set(
                scope, state, actor=_actor(request), reason=reason, now=datetime.now(UTC)
            )
        except ControlError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except DatabaseUnavailableError:
            return JSONResponse({"error": "database unavailable"}, status_code=503)
        await runtime.bus.announce({"type": "control", "scope": scope, "state": state.value})
        return JSONResponse({"scope": scope, "state": state.value, "before": before})

    return [
        Route("/api/control", read, methods=["GET"]),
        Route("/api/control", change, methods=["POST"]),
    ]


def _actor(request: Request) -> str:
    """Who: the Tailscale login when `tailscale serve` passes it, else the client address."""
    login = request.headers.get("tailscale-user-login")
    who = login or (request.client.host if request.client else "unknown")
    return f"dashboard:{who}"[:100]
