"""`/schedules`: the scheduled orders, as `yquant schedule` keeps them.

The page lists every schedule with its next firing in the market's time and in KST, and the
latest runs. A schedule is added or edited in two steps: the form is checked (the same parsing
and validation as the CLI and the import: `ScheduleBook.parse`) and shown back with its next
firing and, for an amount, the quantity it buys at the current price; saving it is a second
post of the same fields. Pause, resume and delete are posts too. Every change carries the
session's CSRF token (checked by the guard in `auth.py`) and goes into the audit log under the
user, in the same transaction as the change.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from yquant.bootstrap import (
    Runtime,
    build_prices,
    build_schedule_book,
    load_catalog,
    use_session_tables,
)
from yquant.domain.schedule_fields import Problem, ScheduleInvalidError
from yquant.domain.schedules import WEEKDAYS, next_firing
from yquant.entrypoints import schedule_views as views
from yquant.entrypoints.dashboard.auth import actor_of
from yquant.entrypoints.dashboard.render import form_text
from yquant.errors import DatabaseUnavailableError
from yquant.services.schedules import ScheduleBook, ScheduleError, ScheduleView

RUNS_SHOWN = 50
DONE = ("saved", "paused", "resumed", "removed")
TEXT_FIELDS = (
    "name",
    "action",
    "market",
    "ticker",
    "account",
    "strategy",
    "side",
    "quantity",
    "amount",
    "order_type",
    "limit_offset_pct",
    "time_kind",
    "local_time",
    "offset_min",
)
ORDER_ONLY = ("side", "quantity", "amount", "order_type", "limit_offset_pct")


@dataclass
class Draft:
    """The form as given (echoed back), and the fields it makes for `ScheduleBook.parse`."""

    values: dict[str, str] = field(default_factory=dict)
    days: list[str] = field(default_factory=lambda: list(WEEKDAYS[:5]))
    paused: bool = False
    editing: str = ""  # the name of the schedule being edited ("" for a new one)

    @classmethod
    def of(cls, form: Any) -> Draft:
        def text(name: str) -> str:
            return form_text(form, name, 64)

        days = (
            [d for d in form.getlist("days") if d in WEEKDAYS] if hasattr(form, "getlist") else []
        )
        return cls(
            values={name: text(name) for name in TEXT_FIELDS},
            days=days,
            paused=form.get("paused") == "yes",
            editing=text("editing"),
        )

    @classmethod
    def of_spec(cls, fields: dict[str, Any]) -> Draft:
        values = {k: "" if fields.get(k) is None else str(fields[k]) for k in TEXT_FIELDS}
        return cls(
            values=values,
            days=str(fields.get("days", "")).split(","),
            paused=bool(fields.get("paused")),
            editing=str(fields["name"]),
        )

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.values.items() if v}
        out["days"] = ",".join(self.days)
        out["paused"] = self.paused
        if self.editing:
            out["name"] = self.editing
        if out.get("action") == "liquidate":
            for name in ORDER_ONLY:
                out.pop(name, None)
        if out.get("order_type") != "limit":
            out.pop("limit_offset_pct", None)
        kind = out.get("time_kind", "fixed")
        out.pop("offset_min" if kind == "fixed" else "local_time", None)
        return out

    def hidden(self) -> list[tuple[str, str]]:
        """The form's fields as hidden inputs (the save step posts them again)."""
        pairs = [(k, v) for k, v in self.values.items() if v]
        pairs += [("days", d) for d in self.days]
        if self.paused:
            pairs.append(("paused", "yes"))
        if self.editing:
            pairs.append(("editing", self.editing))
        return pairs

    def query(self) -> str:
        return urlencode(self.hidden())


class SchedulePages:
    """The page and its posts over one runtime. The schedule book is built on the first use
    (the catalog and the session tables are read then)."""

    def __init__(self, runtime: Runtime, show: Any) -> None:
        self._runtime = runtime
        self._show = show
        self._book: ScheduleBook | None = None
        self._lock = asyncio.Lock()
        self.accounts = list(runtime.settings.accounts)
        self.strategies = list(runtime.settings.strategies)

    async def book(self) -> ScheduleBook:
        async with self._lock:
            if self._book is None:
                settings, store = self._runtime.settings, self._runtime.store
                use_session_tables(settings)
                instruments = await load_catalog(settings, store)
                prices = build_prices(settings, store, instruments=instruments)
                self._book = build_schedule_book(
                    settings, store, clock=self._runtime.clock, prices=prices
                )
            return self._book

    async def page(self, request: Request, draft: Draft | None = None, **context: Any) -> Response:
        params = request.query_params
        name = str(params.get("name") or "").strip()[:48] if "edit" not in params else ""
        listed: list[ScheduleView] | None
        try:
            book = await self.book()
            listed = await book.listing()
            runs = await book.runs(name or None, limit=RUNS_SHOWN)
        except DatabaseUnavailableError:
            listed, runs = None, []
        draft = draft or self._draft(request, listed)
        response: Response = await self._show(
            request,
            "schedules.html",
            listed=listed,
            runs=runs,
            runs_of=name,
            draft=draft,
            accounts=self.accounts,
            strategies=self.strategies,
            weekdays=WEEKDAYS,
            views=views,
            done=params.get("done") if params.get("done") in DONE else None,
            done_name=str(params.get("n", ""))[:48],
            **context,
        )
        return response

    def _draft(self, request: Request, listed: list[ScheduleView] | None) -> Draft:
        """The schedule asked for (``?edit=NAME``), else an empty form."""
        edit = str(request.query_params.get("edit") or "")
        found = [v for v in listed or [] if v.spec.name == edit]
        if found:
            return Draft.of_spec(found[0].spec.fields())
        draft = Draft()
        if self.accounts:
            draft.values["account"] = self.accounts[0]
        return draft

    async def form(self, request: Request) -> Response:
        return await self.page(request)

    async def check(self, request: Request) -> Response:
        draft = Draft.of(await request.form())
        try:
            book = await self.book()
            spec = book.parse(draft.fields())
            estimate = await book.estimate(spec)
        except ScheduleInvalidError as exc:
            return await self.page(request, draft, problems=exc.problems, status_code=422)
        except DatabaseUnavailableError:
            return await self.page(request, draft, problems=[_unavailable()], status_code=503)
        upcoming = next_firing(spec, book.calendars(spec), self._runtime.clock.now())
        checked = ScheduleView(spec, None if spec.paused else upcoming, None)
        return await self.page(request, draft, checked=checked, estimate=estimate)

    async def save(self, request: Request) -> Response:
        draft = Draft.of(await request.form())
        actor = actor_of(request)
        try:
            book = await self.book()
            if draft.editing:
                await book.edit(draft.editing, _replacing(draft.fields()), actor=actor)
            else:
                await book.add(draft.fields(), actor=actor)
        except ScheduleInvalidError as exc:
            return await self.page(request, draft, problems=exc.problems, status_code=422)
        except ScheduleError as exc:
            problem = Problem("name", str(exc))
            return await self.page(request, draft, problems=[problem], status_code=409)
        except DatabaseUnavailableError:
            return await self.page(request, draft, problems=[_unavailable()], status_code=503)
        name = draft.editing or draft.fields().get("name", "")
        return _done("saved", str(name).lower())

    async def change(self, request: Request) -> Response:
        name = request.path_params["name"]
        what = request.path_params["what"]
        if what not in ("pause", "resume", "remove"):
            return Response("not found\n", status_code=404, media_type="text/plain")
        actor = actor_of(request)
        try:
            book = await self.book()
            if what == "remove":
                await book.remove(name, actor=actor)
            else:
                await book.set_paused(name, what == "pause", actor=actor)
        except ScheduleError as exc:
            problem = Problem("name", str(exc))
            return await self.page(request, problems=[problem], status_code=404)
        except DatabaseUnavailableError:
            return await self.page(request, problems=[_unavailable()], status_code=503)
        return _done({"pause": "paused", "resume": "resumed", "remove": "removed"}[what], name)


def schedule_routes(runtime: Runtime, show: Any) -> list[Route]:
    """``show(request, template, **context)`` renders a page in the frame (`pages.Pages`)."""
    pages = SchedulePages(runtime, show)
    return [
        Route("/schedules", pages.form, methods=["GET"]),
        Route("/schedules/check", pages.check, methods=["POST"]),
        Route("/schedules/save", pages.save, methods=["POST"]),
        Route("/schedules/{name:str}/{what:str}", pages.change, methods=["POST"]),
    ]


def _replacing(fields: dict[str, Any]) -> dict[str, Any]:
    """An edit from the form: every field the form has, the ones left empty cleared."""
    cleared = {name: "" for name in (*TEXT_FIELDS, "days") if name not in fields and name != "name"}
    return {**cleared, **fields}


def _unavailable() -> Problem:
    return Problem("database", "unavailable: nothing was saved")


def _done(what: str, name: str) -> Response:
    return RedirectResponse(f"/schedules?{urlencode({'done': what, 'n': name})}", status_code=303)
