"""The dashboard's kill-switch control: read the switches, change one (with a reason).

The dashboard has no login: it is reachable only over Tailscale. A browser page from elsewhere
must still not be able to flip the switch through the operator's browser, so a change must be a
JSON request (which a cross-site page cannot send without a CORS preflight that is never
granted) and, when the browser names its origin, from one of the dashboard's own host names.
Requests under any other Host are refused outright (`allowed_hosts`): a DNS-rebinding page, its
name re-pointed to this machine, would otherwise be same-origin to the browser.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from yquant.bootstrap import Runtime, build_control
from yquant.domain.events import SwitchChanged
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState
from yquant.errors import DatabaseUnavailableError
from yquant.services.control import GLOBAL, ControlError
from yquant.settings import DashboardSettings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
# Tailscale MagicDNS names resolve only inside the tailnet: nobody can point one elsewhere.
TAILSCALE_NAMES = "*.ts.net"


def allowed_hosts(dashboard: DashboardSettings) -> list[str]:
    """The Host names the dashboard answers to (patterns as TrustedHostMiddleware takes them)."""
    hosts = [*LOOPBACK_NAMES, TAILSCALE_NAMES, *dashboard.allowed_hosts]
    if dashboard.host not in ("", "0.0.0.0", "::"):  # noqa: S104 - a test, not a bind
        hosts.append(f"[{dashboard.host}]" if ":" in dashboard.host else dashboard.host)
    return [h.lower() for h in hosts]


def _host_allowed(host: str, patterns: list[str]) -> bool:
    host = host.lower()
    return any(host == p or (p.startswith("*.") and host.endswith(p[1:])) for p in patterns)


def _origin_allowed(origin: str, patterns: list[str]) -> bool:
    host = urlsplit(origin).hostname
    if not host:
        return False
    return _host_allowed(f"[{host}]" if ":" in host else host, patterns)


async def switches(runtime: Runtime) -> list[dict[str, Any]]:
    """Every scope (global and each account) with its state; active where none is recorded."""
    records = await build_control(runtime.store, runtime.settings.accounts).switches()
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
    control = build_control(runtime.store, runtime.settings.accounts)
    hosts = allowed_hosts(runtime.settings.dashboard)

    async def read(request: Request) -> JSONResponse:
        try:
            return JSONResponse({"switches": await switches(runtime)})
        except DatabaseUnavailableError:
            return _error(ReasonCode.DATABASE_UNAVAILABLE, "database unavailable", 503)

    async def change(request: Request) -> JSONResponse:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(ReasonCode.JSON_REQUIRED, "send application/json", 415)
        origin = request.headers.get("origin")
        if origin and not _origin_allowed(origin, hosts):
            return _error(ReasonCode.CROSS_ORIGIN, "cross-origin request refused", 403)
        try:
            body = await request.json()
            scope = str(body.get("scope") or GLOBAL)
            state = KillState(str(body.get("state")))
            reason = str(body.get("reason") or "")
        except (ValueError, AttributeError):
            return _error(
                ReasonCode.BAD_REQUEST,
                "give scope, state (active|reduce_only|halted) and reason",
                400,
            )
        try:
            before = await control.set(
                scope,
                state,
                actor=_actor(request, runtime.settings.dashboard.host),
                reason=reason,
                now=runtime.clock.now(),
            )
        except ControlError as exc:
            return _error(exc.code, str(exc), 400)
        except DatabaseUnavailableError:
            return _error(ReasonCode.DATABASE_UNAVAILABLE, "database unavailable", 503)
        await runtime.bus.announce(SwitchChanged(scope, state))
        return JSONResponse({"scope": scope, "state": state.value, "before": before})

    return [
        Route("/api/control", read, methods=["GET"]),
        Route("/api/control", change, methods=["POST"]),
    ]


def _error(code: ReasonCode, message: str, status: int) -> JSONResponse:
    """A refusal: a stable code (the page shows it in its language) and the English message."""
    return JSONResponse({"code": code, "error": message}, status_code=status)


def _actor(request: Request, bound_host: str) -> str:
    """Who: the Tailscale login when `tailscale serve` passes it, else the client address.

    Serve sets the login header itself and proxies from loopback; the header is believed only
    then (loopback peer, dashboard bound to loopback). Any other client could write it.
    """
    peer = request.client.host if request.client else None
    login = request.headers.get("tailscale-user-login")
    served = login and peer and _loopback(peer) and _loopback(bound_host)
    who = login if served else (peer or "unknown")
    return f"dashboard:{who}"[:100]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
