"""Firing the scheduled orders that are due (`Scheduler`), with the injected clock.

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
4. the run is finished as ``fired`` (with its orders) or ``failed`` (with the reason);
5. a run that ended ``fired``, ``missed`` or ``failed`` is told to the notifier
   (`schedule_notice`: ``schedule_fired`` / ``schedule_missed`` / ``schedule_failed``, id
   ``<kind>:<schedule id>:<session date>``, so a run told twice is sent once); a ``skipped`` day
   (a holiday) is not told.

A crash between the claim and the finish leaves the run ``claimed``: it is never made again
(the signal key is derived from the schedule and the date, so its orders would dedupe even if
it were).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from yquant.domain.liquidation import LiquidationFilter, LiquidationStatus
from yquant.domain.model import Action, Alert, OrderType, Side, SignalStatus
from yquant.domain.notices import Notice, NoticeKind, notice
from yquant.domain.reasons import ReasonCode
from yquant.domain.schedules import (
    Firing,
    RunStatus,
    ScheduleAction,
    ScheduledOrder,
    firing,
    limit_price,
    quantity_for,
    signal_key,
)
from yquant.domain.writes import InsertSignal
from yquant.errors import DatabaseUnavailableError
from yquant.ports import NO_NOTICES, Clock, Notices, Prices, Recorder, ScheduleRecords
from yquant.services.liquidation import Liquidator
from yquant.services.schedules import Calendars, price_of
from yquant.services.signals import SignalHandler
from yquant.services.worker_state import ActiveRole
from yquant.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Result:
    """How a firing ended."""

    status: RunStatus
    reason: ReasonCode | None = None
    detail: str = ""
    orders: tuple[str, ...] = ()


# The notice of each run's end (a skipped day is not told).
NOTICE_KINDS = {
    RunStatus.FIRED: NoticeKind.SCHEDULE_FIRED,
    RunStatus.MISSED: NoticeKind.SCHEDULE_MISSED,
    RunStatus.FAILED: NoticeKind.SCHEDULE_FAILED,
}


def schedule_notice(
    spec: ScheduledOrder, found: Firing, result: Result, at: datetime
) -> Notice | None:
    """What the notifier is told of one run's end: None for a skipped (or still claimed) run.
    Its id names the schedule and the session date (one run), so however often it is handed
    over it is sent once; account and strategy are the schedule's own (the channels' routing)."""
    kind = NOTICE_KINDS.get(result.status)
    if kind is None or spec.id is None:
        return None
    return notice(
        kind,
        f"{spec.id}:{found.day.isoformat()}",
        at,
        account=spec.account,
        strategy=spec.strategy,
        schedule=spec.name,
        date=found.day.isoformat(),
        due=found.at.astimezone(spec.venue.tz).isoformat(timespec="minutes"),
        action=spec.action.value,
        market=spec.market.value,
        ticker=spec.ticker,
        side=None if spec.side is None else spec.side.value,
        quantity=None if spec.quantity is None else _plain(spec.quantity),
        amount=None if spec.amount is None else _plain(spec.amount),
        status=result.status.value,
        reason=None if result.reason is None else result.reason.value,
        detail=result.detail or None,
        orders=", ".join(result.orders) or None,
        signal=signal_key(spec.id, found.day) if result.status is RunStatus.FIRED else None,
    )


def _plain(value: object) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


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
        notices: Notices = NO_NOTICES,
    ) -> None:
        self._records = records
        self._notices = notices
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
                await self._tell(
                    spec, found, Result(RunStatus.MISSED, ReasonCode.FIRING_LATE, detail)
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
        await self._tell(spec, found, result)
        return result.status

    async def _tell(self, spec: ScheduledOrder, found: Firing, result: Result) -> None:
        told = schedule_notice(spec, found, result, self._clock.now())
        if told is not None:
            await self._notices.notify(told)  # never waits for a channel, never raises

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
        price = await price_of(self._prices, spec)
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
