"""Readiness: each dependency checked and named, for `/healthz` and `yquant health`."""

from __future__ import annotations

import asyncio
from typing import Any

from yquant.bootstrap import Runtime
from yquant.domain.reasons import ReasonCode
from yquant.domain.roles import HEARTBEAT_STALE_S, READY_ROLES, ROLES
from yquant.errors import BusUnavailableError, DatabaseUnavailableError

DATABASE_PING_S = 0.5


async def check(
    runtime: Runtime, *, database_required: bool, roles_required: tuple[str, ...] = READY_ROLES
) -> tuple[bool, dict[str, Any]]:
    """(ready, report). The database is reported always but required only where asked:
    the webhook records into its journal when the database is away, so a database outage must
    not take it out of the load balancer."""
    report: dict[str, Any] = {}
    ok = True
    try:
        # Short: a hung database must not make the health check itself time out.
        async with asyncio.timeout(DATABASE_PING_S):
            await runtime.store.ping()
        report["database"] = {"status": "up"}
    except TimeoutError:
        report["database"] = {"status": "down", "error": "no answer within 0.5 s"}
        ok = ok and not database_required
    except DatabaseUnavailableError as exc:
        report["database"] = {"status": "down", "error": str(exc)[:200]}
        ok = ok and not database_required
    report["journal"] = {"depth": runtime.recorder.journal.depth}
    try:
        await runtime.bus.ping()
        report["valkey"] = {"status": "up"}
        beats = await runtime.bus.heartbeats(list(ROLES))
        now = runtime.clock.now().timestamp()
        for role, beat in beats.items():
            alive = beat is not None and now - float(beat["at"]) < HEARTBEAT_STALE_S
            report[role] = {"status": "up" if alive else "down"}
            if beat is not None:
                report[role]["age_s"] = round(now - float(beat["at"]), 1)
            ok = ok and (alive or role not in roles_required)
        gateway = beats.get("gateway")
        if gateway is not None and report["gateway"]["status"] == "up":
            report.update(_gateway_says(gateway))
    except BusUnavailableError as exc:
        report["valkey"] = {"status": "down", "error": str(exc)[:200]}
        ok = False
    return ok, report


def _gateway_says(beat: dict[str, Any]) -> dict[str, Any]:
    """What the gateway's heartbeat reports: where this worker stands (active, taking over,
    standby: only the active one sends) and the accounts whose orders a broker halted (a
    configuration error; not readiness: the worker still records and hands over signals)."""
    out: dict[str, Any] = {}
    if "standing" in beat:
        out["standing"] = {"status": str(beat["standing"])}
    halted = beat.get("halted")
    if isinstance(halted, dict):
        out["brokers"] = (
            {
                "status": ReasonCode.BROKER_HALTED.value,
                "halted": halted,
                "detail": "; ".join(f"{a}: {why}" for a, why in sorted(halted.items())),
            }
            if halted
            else {"status": "up"}
        )
    return out
