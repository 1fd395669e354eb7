"""Scheduled orders as the CLI and the dashboard keep them (`ScheduleBook`); the engine fires
them (`yquant.services.scheduler`).

Every schedule is parsed and checked by `yquant.domain.schedule_fields.parse` (a fixed time
against the market's regular session), saved with an audit entry, listed with its next firing,
exported and imported (by name, all rows or none).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from yquant.domain import market_rules
from yquant.domain.market_rules import MarketCalendar
from yquant.domain.model import OrderType
from yquant.domain.schedule_fields import Problem, ScheduleInvalidError, parse
from yquant.domain.schedules import (
    ScheduledOrder,
    next_firing,
    quantity_for,
)
from yquant.ports import Clock, Prices, ScheduleRecords, ScheduleRun
from yquant.services import routing
from yquant.settings import Settings

logger = logging.getLogger(__name__)

KST = ZoneInfo("Asia/Seoul")
# Fields of which a schedule has one or the other: an edit that gives one drops the other.
EXCLUSIVE = (("quantity", "amount"), ("account", "strategy"), ("local_time", "offset_min"))


class ScheduleError(ValueError):
    """A request about schedules that cannot be carried out (the message says why)."""


class ImportRefusedError(ValueError):
    """An import file with invalid rows: nothing was changed."""

    def __init__(self, errors: list[ScheduleInvalidError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


@dataclass(frozen=True, slots=True)
class Estimate:
    price: Decimal | None
    quantity: Decimal | None


@dataclass(frozen=True, slots=True)
class ScheduleView:
    spec: ScheduledOrder
    next_at: datetime | None
    last_run: ScheduleRun | None

    def next_local(self) -> datetime | None:
        return None if self.next_at is None else self.next_at.astimezone(self.spec.venue.tz)

    def next_kst(self) -> datetime | None:
        return None if self.next_at is None else self.next_at.astimezone(KST)


class Calendars:
    """The market calendars of the schedules, with the configured corrections."""

    def __init__(self, settings: Settings) -> None:
        self._overrides = routing.calendar_overrides(settings)

    def __call__(self, spec: ScheduledOrder) -> MarketCalendar:
        return market_rules.calendar_for(spec.venue, self._overrides)


class ScheduleBook:
    def __init__(
        self,
        *,
        records: ScheduleRecords,
        settings: Settings,
        clock: Clock,
        prices: Prices | None = None,
    ) -> None:
        self._records = records
        self._settings = settings
        self._clock = clock
        self._prices = prices
        self.calendars = Calendars(settings)

    def parse(self, fields: Mapping[str, Any], row: int | None = None) -> ScheduledOrder:
        """A schedule from plain fields, checked (ScheduleInvalidError naming each field)."""
        try:
            spec = parse(fields, accounts=self._settings.accounts, strategies=self.strategies())
        except ScheduleInvalidError as exc:
            raise ScheduleInvalidError(exc.problems, row) from None
        # Again with the market's calendar: a fixed time must lie inside its session.
        calendar = self.calendars(spec)
        today = self._clock.now().astimezone(calendar.venue.tz).date()
        try:
            return parse(
                fields,
                accounts=self._settings.accounts,
                strategies=self.strategies(),
                calendar=calendar,
                today=today,
            )
        except ScheduleInvalidError as exc:
            raise ScheduleInvalidError(exc.problems, row) from None

    def strategies(self) -> list[str]:
        return list(self._settings.strategies)

    async def get(self, name: str) -> ScheduledOrder:
        spec = await self._records.get(name.strip().lower())
        if spec is None:
            raise ScheduleError(f"no schedule named {name!r}")
        return spec

    async def add(self, fields: Mapping[str, Any], *, actor: str) -> ScheduledOrder:
        spec = self.parse(fields)
        if await self._records.get(spec.name) is not None:
            raise ScheduleError(f"a schedule named {spec.name!r} exists (edit it instead)")
        [saved] = await self._records.save(
            [spec], actor=actor, now=self._clock.now(), action="schedule.add"
        )
        return saved

    async def edit(self, name: str, changes: Mapping[str, Any], *, actor: str) -> ScheduledOrder:
        """The schedule with ``changes`` applied (a field given as "" is cleared; giving one of
        two exclusive fields, such as an amount, clears the other); its name stays."""
        current = await self.get(name)
        merged: dict[str, Any] = current.fields()
        merged.update({k: v for k, v in changes.items() if v is not None})
        for one, other in EXCLUSIVE:
            if changes.get(one) not in (None, "") and changes.get(other) is None:
                merged.pop(other, None)
            if changes.get(other) not in (None, "") and changes.get(one) is None:
                merged.pop(one, None)
        if changes.get("order_type") == OrderType.MARKET.value:
            merged.pop("limit_offset_pct", None)
        merged = {k: v for k, v in merged.items() if v not in (None, "")}
        merged["name"] = current.name
        spec = self.parse(merged)
        [saved] = await self._records.save(
            [spec], actor=actor, now=self._clock.now(), action="schedule.edit"
        )
        return saved

    async def set_paused(self, name: str, paused: bool, *, actor: str) -> ScheduledOrder:
        spec = await self._records.set_paused(
            name.strip().lower(), paused, actor=actor, now=self._clock.now()
        )
        if spec is None:
            raise ScheduleError(f"no schedule named {name!r}")
        return spec

    async def remove(self, name: str, *, actor: str) -> None:
        if not await self._records.remove(name.strip().lower(), actor=actor, now=self._clock.now()):
            raise ScheduleError(f"no schedule named {name!r}")

    async def export(self) -> list[dict[str, Any]]:
        return [spec.fields() for spec in await self._records.all()]

    async def import_rows(self, rows: Sequence[Any], *, actor: str) -> list[ScheduledOrder]:
        """Every row saved by name (new or updated), or nothing: ImportRefusedError lists each
        invalid row (numbered from 1) with its fields."""
        errors: list[ScheduleInvalidError] = []
        specs: list[ScheduledOrder] = []
        seen: dict[str, int] = {}
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, Mapping):
                errors.append(ScheduleInvalidError([Problem("row", "not an object")], number))
                continue
            try:
                spec = self.parse(row, number)
            except ScheduleInvalidError as exc:
                errors.append(exc)
                continue
            if spec.name in seen:
                problem = Problem("name", f"{spec.name!r} is also row {seen[spec.name]}")
                errors.append(ScheduleInvalidError([problem], number))
                continue
            seen[spec.name] = number
            specs.append(spec)
        if errors:
            raise ImportRefusedError(errors)
        return await self._records.save(
            specs, actor=actor, now=self._clock.now(), action="schedule.import"
        )

    async def listing(self, name: str | None = None) -> list[ScheduleView]:
        now = self._clock.now()
        specs = [await self.get(name)] if name else await self._records.all()
        runs = await self._records.runs(name.strip().lower() if name else None, limit=500)
        last: dict[int, ScheduleRun] = {}
        for run in runs:
            last.setdefault(run.schedule_id, run)
        views = []
        for spec in specs:
            upcoming = None if spec.paused else next_firing(spec, self.calendars(spec), now)
            assert spec.id is not None
            views.append(ScheduleView(spec, upcoming, last.get(spec.id)))
        return views

    async def runs(self, name: str | None = None, limit: int = 100) -> list[ScheduleRun]:
        return await self._records.runs(name.strip().lower() if name else None, limit=limit)

    async def estimate(self, spec: ScheduledOrder) -> Estimate:
        """The order's quantity at the current price (an amount's estimated quantity)."""
        price = await price_of(self._prices, spec)
        return Estimate(price, quantity_for(spec, price) if spec.ticker else None)


async def price_of(prices: Prices | None, spec: ScheduledOrder) -> Decimal | None:
    if prices is None or spec.ticker is None:
        return None
    mark = await prices.mark(spec.market, spec.exchange or "", spec.ticker)
    return None if mark is None else mark.price
