"""Live updates: Server-Sent Events on `/events`, one ``status`` event every ``EVERY_S``.

Each event carries readiness and every check, the kill-switch banner (rendered in the page's
language), this worker's role, and a fingerprint of the stored data: when it changes, the page
reloads its live parts (htmx). The page counts an event as the server's heartbeat: when none
has come for a few seconds it shows every status grey, "offline since", never a stale green.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from yquant import health
from yquant.adapters.db.desk import DeskQueries
from yquant.bootstrap import Runtime, desk_queries, role_records
from yquant.entrypoints.dashboard.auth import identity_of
from yquant.entrypoints.dashboard.data import broker_halts, switches
from yquant.entrypoints.dashboard.render import Frame, Say, fragment, language_of
from yquant.errors import DatabaseUnavailableError

EVERY_S = 2.0
# One reading serves every open page for this long.
FRESH_S = 1.0


class Pulse:
    """The state the live pages follow, read at most once per ``FRESH_S`` however many pages
    are open."""

    def __init__(self, runtime: Runtime, desk: DeskQueries) -> None:
        self._runtime = runtime
        self._desk = desk
        self._lock = asyncio.Lock()
        self._read_at = -FRESH_S
        self._state: dict[str, Any] = {}

    async def state(self) -> dict[str, Any]:
        async with self._lock:
            if time.monotonic() - self._read_at >= FRESH_S:
                self._state = await self._read()
                self._read_at = time.monotonic()
            return self._state

    async def _read(self) -> dict[str, Any]:
        runtime = self._runtime
        ready, report = await health.check(runtime, database_required=True)
        state: dict[str, Any] = {
            "ready": ready,
            "checks": {n: str(c.get("status")) for n, c in report.items() if "status" in c},
            "broker_halts": broker_halts(report),
            "switches": [],
            "active": None,
            "fingerprint": None,
        }
        if state["checks"].get("database") == "up":
            with contextlib.suppress(DatabaseUnavailableError):
                state["switches"], state["active"], state["fingerprint"] = await asyncio.gather(
                    switches(runtime),
                    role_records(runtime.store).active(),
                    self._desk.fingerprint(),
                )
        return state


def status_event(state: dict[str, Any], say: Say, worker: str) -> dict[str, Any]:
    frame = Frame(
        path="",
        worker=worker,
        active=state["active"],
        switches=state["switches"],
        ready=state["ready"],
        checks=state["checks"],
        broker_halts=state["broker_halts"],
    )
    digest = hashlib.sha256(repr(state["fingerprint"]).encode()).hexdigest()[:16]
    return {
        "ready": state["ready"],
        "state": frame.state[0],
        "state_word": frame.state[1],
        "ready_text": f"{say.t(frame.state[1])} · {worker}",
        "checks": state["checks"],
        "checks_text": {name: say.code(value) for name, value in state["checks"].items()},
        "role": frame.role,
        "role_text": fragment("partials/role.html", say=say, frame=frame).strip(),
        "banner": fragment("partials/banner.html", say=say, frame=frame).strip(),
        "halted": bool(frame.halted),
        "changed": digest if state["fingerprint"] is not None else None,
    }


def live_routes(runtime: Runtime, stop: asyncio.Event) -> list[Route]:
    settings = runtime.settings
    pulse = Pulse(runtime, desk_queries(runtime.store))

    async def events(request: Request) -> StreamingResponse:
        say = Say(language_of(request, settings.language), settings.dashboard.time_zone)

        async def stream() -> AsyncIterator[str]:
            yield f"retry: {int(EVERY_S * 1000)}\n\n"
            while not stop.is_set():
                event = status_event(await pulse.state(), say, settings.worker.name)
                yield f"event: status\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=EVERY_S)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def session(request: Request) -> JSONResponse:
        """Who is signed in (401 from the guard when nobody): the page asks when its live
        stream breaks, to tell a server that is away from a session that ended."""
        return JSONResponse({"user": identity_of(request).name})

    return [Route("/events", events), Route("/api/session", session)]
