"""Scheduled orders: keeping them (`ScheduleBook`) and firing them (`Scheduler`).

`ScheduleBook` is what the CLI and the dashboard use: every schedule is parsed and checked by
`yquant.domain.schedules.parse` (a fixed time against the market's regular session), saved with
an audit entry, listed with its next firing, exported and imported (by name, all rows or none).

`Scheduler` runs in the engine of the worker that holds the active role (`ActiveRole.while_active`
starts and stops it), every ``schedules.tick_s``, as these steps:

1. for each schedule not paused, its firing on today's session date in the market's time zone
   (`domain.schedules.firing`); nothing when the weekday is not one of its days;
2. a day without a session, or a fixed time outside that day's session: the run is recorded
   ``skipped`` with the reason;
3. a firing whose time has come: more than ``schedules.grace_s`` ago (the workers were down),
   recorded ``missed`` and not sent; otherwise claimed in the database first (the run row of
   (schedule, session date), inserted only while the deployment row still names this worker at
   its epoch), and only then made: an order goes as a signal of source ``schedule:<name>``
   through the engine's own path (`SignalHandler.handle_alert`: catalog, market session,
   sizing, risk limits, kill switch, book), a liquidation through the liquidation service;
4. the run is finished as ``fired`` (with its orders) or ``failed`` (with the reason).

A crash between the claim and the finish leaves the run ``claimed``: it is never made again
(the signal key is derived from the schedule and the date, so its orders would dedupe even if
it were).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from yquant.domain import market_rules
from yquant.domain.liquidation import LiquidationFilter, LiquidationStatus
from yquant.domain.market_rules import MarketCalendar
from yquant.domain.model import Action, Alert, OrderType, Side, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.domain.schedules import (
    KNOWN_FIELDS,
    Firing,
    Problem,
    RunStatus,
    ScheduleAction,
    ScheduledOrder,
    ScheduleInvalidError,
    firing,
    limit_price,
    next_firing,
    parse,
    quantity_for,
    signal_key,
)
from yquant.domain.writes import InsertSignal
from yquant.errors import DatabaseUnavailableError
from yquant.ports import Clock, Prices, Recorder, ScheduleRecords, ScheduleRun
from yquant.services import routing
from yquant.services.liquidation import Liquidator
from yquant.services.signals import SignalHandler
from yquant.services.worker_state import ActiveRole
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
        price = await _price(self._prices, spec)
        return Estimate(price, quantity_for(spec, price) if spec.ticker else None)


async def _price(prices: Prices | None, spec: ScheduledOrder) -> Decimal | None:
    if prices is None or spec.ticker is None:
        return None
    mark = await prices.mark(spec.market, spec.exchange or "", spec.ticker)
    return None if mark is None else mark.price


@dataclass(frozen=True, slots=True)
class Result:
    """How a firing ended."""

    status: RunStatus
    reason: ReasonCode | None = None
    detail: str = ""
    orders: tuple[str, ...] = ()


# A scheduled liquidation: the schedule (its filters) and the firing's signal key, to its result.
Liquidate = Callable[[ScheduledOrder, str], Awaitable[Result]]


def liquidation_by(liquidator: Liquidator) -> Liquidate:
    """A schedule's liquidation through ``liquidator``: planned and carried out at once (the
    schedule is its confirmation), recorded as requested by ``schedule`` from the source
    ``schedule:<name>``. Every sell made: ``fired`` (with the sells' orders); nothing sold (the
    kill switch halted, no position, a closed market): ``failed`` with the liquidation's
    reason."""

    async def liquidate(spec: ScheduledOrder, key: str) -> Result:
        wanted = LiquidationFilter.of(
            account=spec.account, strategy=spec.strategy, market=spec.market, ticker=spec.ticker
        )
        result = await liquidator.execute(
            wanted, requested_by="schedule", source=spec.source, confirm=True
        )
        orders = tuple(s.client_order_id for s in result.sells if s.client_order_id)
        made = sum(1 for s in result.sells if s.made)
        detail = f"liquidation {result.id}: {made} of {len(result.sells)} sells made"
        if result.status is LiquidationStatus.REFUSED or not made:
            reason = result.reason or ReasonCode.REJECTED
            return Result(RunStatus.FAILED, reason, f"{detail}; {result.detail}"[:300], orders)
        return Result(RunStatus.FIRED, result.reason, detail, orders)

    return liquidate


class Scheduler:
    def __init__(
        self,
        *,
        records: ScheduleRecords,
        signals: SignalHandler,
        recorder: Recorder,
        role: ActiveRole,
        clock: Clock,
        settings: Settings,
        prices: Prices | None = None,
        liquidate: Liquidate | None = None,
    ) -> None:
        self._records = records
        self._signals = signals
        self._recorder = recorder
        self._role = role
        self._clock = clock
        self._settings = settings
        self._prices = prices
        self._liquidate = liquidate
        self._calendars = Calendars(settings)
        self._grace_s = settings.schedules.grace_s
        self._tick_s = settings.schedules.tick_s
        self._done: set[tuple[int, date]] = set()  # runs known to be recorded

    async def run(self, leave: asyncio.Event) -> None:
        """Tick until ``leave`` (this worker stops being active, or the role stops)."""
        logger.info("scheduler started tick_s=%s grace_s=%s", self._tick_s, self._grace_s)
        while not leave.is_set():
            try:
                await self.tick()
            except DatabaseUnavailableError as exc:
                # Nothing is claimed without the database: the next tick tries again (and a
                # firing still unclaimed after its grace period is recorded missed).
                logger.warning("scheduler waits for the database: %s", exc)
            except Exception:  # a bad row or a bug must not stop the engine's other work
                logger.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leave.wait(), timeout=self._tick_s)
        logger.info("scheduler stopped")

    async def tick(self) -> list[tuple[str, RunStatus]]:
        """Record or make every firing due now; what this call recorded, by schedule name."""
        now = self._clock.now()
        due: list[tuple[ScheduledOrder, Firing]] = []
        for spec in await self._records.all():
            if spec.paused or spec.id is None:
                continue
            calendar = self._calendars(spec)
            today = now.astimezone(calendar.venue.tz).date()
            found = firing(spec, calendar, today)
            if found is None or found.at > now or (spec.id, today) in self._done:
                continue
            if found.skip is None and spec.updated_at is not None and found.at < spec.updated_at:
                continue  # its time had passed when it was saved (or resumed): not due today
            due.append((spec, found))
        if not due:
            return []
        days = sorted({f.day for _, f in due})
        # What is known of earlier days is never asked again: only today's entries are kept.
        self._done = {k for k in self._done if k[1] >= days[0] - timedelta(days=1)}
        self._done |= await self._records.claimed_on(days)
        done: list[tuple[str, RunStatus]] = []
        for spec, found in due:
            assert spec.id is not None
            if (spec.id, found.day) in self._done:
                continue
            status = await self._handle(spec, found, now)
            self._done.add((spec.id, found.day))
            if status is not None:
                done.append((spec.name, status))
        return done

    async def _handle(self, spec: ScheduledOrder, found: Firing, now: datetime) -> RunStatus | None:
        # The role asked of the database now: a worker that has just lost it claims nothing
        # (and the claim itself checks it again, in its own transaction).
        if await self._role.epoch() is None:
            return None
        role = self._role.last_known
        worker = self._role.worker

        async def claim(status: RunStatus, reason: ReasonCode | None, detail: str) -> bool:
            return await self._records.claim(
                spec,
                found.day,
                found.at,
                status=status,
                worker=worker,
                role=role,
                now=now,
                reason=reason,
                detail=detail,
                signal_key=signal_key(spec.id or 0, found.day),
            )

        if found.skip is not None:
            if await claim(RunStatus.SKIPPED, found.skip, found.detail):
                logger.info(
                    "schedule skipped name=%s day=%s reason=%s", spec.name, found.day, found.skip
                )
                return RunStatus.SKIPPED
            return None
        late_s = (now - found.at).total_seconds()
        if late_s > self._grace_s:
            detail = f"{int(late_s)} s after its time (grace {int(self._grace_s)} s)"
            if await claim(RunStatus.MISSED, ReasonCode.FIRING_LATE, detail):
                logger.warning(
                    "schedule missed name=%s day=%s late_s=%d", spec.name, found.day, late_s
                )
                return RunStatus.MISSED
            return None
        if not await claim(RunStatus.CLAIMED, None, ""):
            return None
        result = await self._fire(spec, found.day, now)
        try:
            await self._records.finish(
                spec.id or 0,
                found.day,
                status=result.status,
                now=self._clock.now(),
                reason=result.reason,
                detail=result.detail,
                orders=result.orders,
            )
        except DatabaseUnavailableError as exc:
            # The firing happened; its run stays ``claimed`` (never made again).
            logger.error("schedule run not finished name=%s error=%s", spec.name, exc)
        logger.info(
            "schedule %s name=%s day=%s orders=%d reason=%s",
            result.status.value,
            spec.name,
            found.day,
            len(result.orders),
            result.reason,
        )
        return result.status

    async def _fire(self, spec: ScheduledOrder, day: date, now: datetime) -> Result:
        key = signal_key(spec.id or 0, day)
        try:
            if spec.action is ScheduleAction.LIQUIDATE:
                if self._liquidate is None:
                    return Result(
                        RunStatus.FAILED,
                        ReasonCode.LIQUIDATION_UNAVAILABLE,
                        "this process fires no liquidations (no catalog was given to it)",
                    )
                return await self._liquidate(spec, key)
            return await self._order(spec, key, now)
        except Exception as exc:  # a firing that breaks off never stops the others
            logger.exception("schedule firing broke off name=%s", spec.name)
            return Result(RunStatus.FAILED, ReasonCode.FIRING_ERROR, type(exc).__name__)

    async def _order(self, spec: ScheduledOrder, key: str, now: datetime) -> Result:
        assert spec.ticker is not None
        assert spec.side is not None
        price = await _price(self._prices, spec)
        quantity = quantity_for(spec, price)
        if quantity is None:
            return Result(RunStatus.FAILED, ReasonCode.NO_PRICE, "no price to size the amount by")
        if quantity <= 0:
            return Result(
                RunStatus.FAILED,
                ReasonCode.NO_QUANTITY,
                f"{spec.amount} buys no whole share at {price}",
            )
        limit = None
        if spec.order_type is OrderType.LIMIT:
            if price is None:
                return Result(RunStatus.FAILED, ReasonCode.NO_PRICE, "no last price for the limit")
            limit = limit_price(spec, price)
        if spec.account is not None:
            accounts = [spec.account]
        else:
            accounts = self._settings.routed_accounts(spec.strategy or "")
        alert = Alert(
            key=key,
            strategy=spec.strategy or spec.source,
            ticker=spec.ticker,
            exchange=spec.exchange or "",
            market=spec.market,
            action=Action.BUY if spec.side is Side.BUY else Action.SELL,
            received_at=now,
            price=price,
            quantity=quantity,
            order_type=spec.order_type,
            limit_price=limit,
            comment=f"scheduled order {spec.name}",
        )
        await self._recorder.write(
            InsertSignal(
                key=key,
                worker=self._role.worker,
                status=SignalStatus.ACCEPTED,
                received_at=now,
                updated_at=now,
                alert=alert,
                source_ip=spec.source,
                fields={"source": spec.source, **spec.fields(), "quantity": str(quantity)},
            )
        )
        decision = await self._signals.handle_alert(alert, accounts)
        status, reason, detail = decision.summary()
        orders = tuple(o.client_order_id for o in decision.orders)
        if orders or decision.queued:
            return Result(RunStatus.FIRED, reason, detail, orders)
        if status is SignalStatus.REJECTED or not orders:
            return Result(RunStatus.FAILED, reason or ReasonCode.REJECTED, detail)
        return Result(RunStatus.FIRED, reason, detail, orders)


def fields_from(values: Mapping[str, Any]) -> dict[str, Any]:
    """Only the schedule's fields of ``values`` (a form or a namespace), empty ones left out."""
    return {k: v for k, v in values.items() if k in KNOWN_FIELDS and v not in (None, "")}
