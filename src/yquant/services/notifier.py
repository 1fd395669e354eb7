"""The notifier: notices in from the streams and the watchers, messages out to the channels.

1. Intake (`handle_notice`, `handle_fill`): each notice is routed to the channels that take it
   and put in the durable queue (the database both workers share), one delivery per channel;
   the stream entry is acknowledged only after that. A notice the queue holds already (same id,
   same channel) adds nothing: that is the dedupe across restarts and across the two workers.
2. Delivery (`run`): due deliveries are leased, rendered in the channel's language and sent. A
   channel that says "not now" (429, 5xx, no answer) is tried again at the time it named
   (``retry_after``), else after a doubling wait; a refusal, or ``max_attempts`` failures, make
   the delivery a dead letter (listed on the dashboard's system page).
3. Watchers (`watch`): facts nobody publishes, seen from here: the active worker changed, a kill
   switch changed (both only on the active worker: they are the same on both), this worker's
   database went away and came back. While the database is away the queue cannot take the
   notice that says so: it is sent at once (`send_now`), deduped by a claim on the bus.

Only the active worker's notifier sends shared notices (`Notice.shared`); each notifier sends
the notices of its own worker. Nothing here ever raises into a producer: trading never waits
for a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from yquant.domain import notices
from yquant.domain.events import OrderFilled
from yquant.domain.notices import Level, Notice, NoticeKind, Rendered, Route
from yquant.errors import (
    BusUnavailableError,
    ChannelBusyError,
    ChannelRefusedError,
    DatabaseUnavailableError,
)
from yquant.ports import Channel, Clock, Delivery, Entry, NotificationQueue, SwitchRecords

logger = logging.getLogger(__name__)

Render = Callable[[Notice, str], Rendered]
# The notices a fill on the executions stream becomes (`Notifier.handle_fill`).
FILL_KINDS = (NoticeKind.ORDER_FILLED, NoticeKind.ORDER_PARTIALLY_FILLED)
Claim = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """One configured channel: where it sends, what it takes, in which language."""

    channel: Channel
    route: Route
    language: str


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    first_retry_s: float = 5.0
    max_retry_s: float = 600.0
    max_attempts: int = 8
    lease_s: float = 120.0
    batch: int = 20
    poll_s: float = 1.0
    # A notice older than this is not sent: the first start reads the executions stream from
    # its beginning (every fill of the last months), and a notifier down for days should not
    # flood the phone with old news.
    max_age_s: float = 24 * 3600.0

    def wait_s(self, attempts: int, retry_after_s: float | None) -> float:
        """How long before attempt ``attempts + 1``: the service's figure when it named one."""
        if retry_after_s is not None and retry_after_s > 0:
            return min(retry_after_s, 24 * 3600.0)
        doubled: float = self.first_retry_s * 2.0 ** max(attempts - 1, 0)
        return min(doubled, self.max_retry_s)


class Notifier:
    def __init__(
        self,
        *,
        queue: NotificationQueue,
        plans: Mapping[str, ChannelPlan],
        render: Render,
        clock: Clock,
        owner: str,
        worker: str,
        is_active: Callable[[], bool],
        policy: DeliveryPolicy | None = None,
        claim: Claim | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._queue = queue
        self._plans = dict(plans)
        self._render = render
        self._clock = clock
        self._owner = owner
        self.worker = worker
        self._is_active = is_active
        self.policy = policy or DeliveryPolicy()
        self._claim = claim
        self._sleep = sleep

    @property
    def active(self) -> bool:
        """Whether this worker holds the active role (as last seen)."""
        return self._is_active()

    @property
    def routes(self) -> dict[str, Route]:
        return {name: plan.route for name, plan in self._plans.items()}

    # ---- intake ----------------------------------------------------------------------------

    async def take(self, notice: Notice) -> int:
        """Queue ``notice`` for every channel that takes it; how many deliveries were added.
        Raises DatabaseUnavailableError (the stream entry stays pending until it is taken)."""
        channels = notices.routed(notice, self.routes)
        if not channels:
            return 0
        now = self._clock.now()
        if (now - notice.at).total_seconds() > self.policy.max_age_s:
            logger.info("notice too old to send id=%s at=%s", notice.id, notice.at.isoformat())
            return 0
        return await self._queue.enqueue(notice, channels, now)

    async def handle_notice(self, entry: Entry) -> None:
        """An entry of the notices stream (ValueError/KeyError dead-letters a malformed one)."""
        notice = notices.from_dict(entry.data)
        if notice.shared and not self._is_active():
            return  # the active worker's notifier reports what both workers see
        await self.take(notice)

    async def handle_fill(self, entry: Entry) -> None:
        """An entry of the executions stream: a fill, reported with its order's strategy and
        whether the order is filled now (read only when a channel could take the notice)."""
        fill = entry.message_as(OrderFilled).fill
        if not self._takes_fills(fill.account, fill.filled_at):
            return  # no channel takes it, whatever its order says: nothing to read
        context = await self._queue.fill_context(fill.client_order_id)
        strategy: str | None = None
        kind = NoticeKind.ORDER_FILLED
        extra: dict[str, Any] = {}
        if context is not None:
            order, filled = context
            strategy = str(order["strategy"])
            quantity = Decimal(str(order["quantity"]))
            if filled < quantity:
                kind = NoticeKind.ORDER_PARTIALLY_FILLED
            extra = {"filled": _plain(filled), "ordered": _plain(quantity)}
        await self.take(
            notices.notice(
                kind,
                fill.fill_id,
                fill.filled_at,
                account=fill.account,
                strategy=strategy,
                ticker=fill.ticker,
                side=fill.side.value,
                quantity=_plain(fill.quantity),
                price=_plain(fill.price),
                currency=fill.currency,
                commission=_plain(fill.commission),
                order=fill.client_order_id,
                **extra,
            )
        )

    def _takes_fills(self, account: str, at: datetime) -> bool:
        """Whether a channel could take a fill notice of ``account``, before its order is read
        for the strategy and for which of the two kinds it is: a notice of no strategy passes
        every route's strategies, so "no" here is "no" for the notice the read would make."""
        return any(
            plan.route.takes(notices.notice(kind, "-", at, account=account))
            for kind in FILL_KINDS
            for plan in self._plans.values()
        )

    # ---- delivery --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver what is due every ``poll_s`` until ``stop``; the database away only waits."""
        while not stop.is_set():
            busy = False
            try:
                busy = await self.deliver_due() >= self.policy.batch
            except DatabaseUnavailableError as exc:
                logger.warning("notifications wait: database unavailable (%s)", exc)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.policy.poll_s)

    async def deliver_due(self) -> int:
        """One pass over the due deliveries; how many were tried."""
        now = self._clock.now()
        due = await self._queue.take_due(
            self._owner, now, self.policy.lease_s, self.policy.batch, shared=self._is_active()
        )
        for delivery in due:
            await self.deliver(delivery)
        return len(due)

    async def deliver(self, delivery: Delivery) -> None:
        plan = self._plans.get(delivery.channel)
        if plan is None:
            error = f"channel {delivery.channel!r} is no longer configured"
            await self._queue.dead(delivery.id, error, self._clock.now())
            return
        try:
            receipt = await plan.channel.send(self._render(delivery.notice, plan.language))
        except ChannelRefusedError as exc:
            logger.error(
                "notification refused channel=%s id=%s: %s",
                plan.channel.name,
                delivery.notice.id,
                exc,
            )
            await self._queue.dead(delivery.id, str(exc), self._clock.now())
            return
        except ChannelBusyError as exc:
            await self._failed(delivery, str(exc), exc.retry_after_s)
            return
        except Exception as exc:  # a template or a layout that failed: never the caller's problem
            logger.exception(
                "notification failed channel=%s id=%s", plan.channel.name, delivery.notice.id
            )
            await self._failed(delivery, f"{type(exc).__name__}: {exc}"[:300], None)
            return
        await self._queue.sent(delivery.id, receipt, self._clock.now())
        logger.info("notification sent channel=%s id=%s", plan.channel.name, delivery.notice.id)

    async def _failed(self, delivery: Delivery, error: str, retry_after_s: float | None) -> None:
        attempts = delivery.attempts + 1
        now = self._clock.now()
        if attempts >= self.policy.max_attempts:
            logger.error(
                "notification given up channel=%s id=%s after %d attempts: %s",
                delivery.channel,
                delivery.notice.id,
                attempts,
                error,
            )
            await self._queue.dead(delivery.id, error, now)
            return
        wait = self.policy.wait_s(attempts, retry_after_s)
        logger.warning(
            "notification will retry channel=%s id=%s in %.1f s: %s",
            delivery.channel,
            delivery.notice.id,
            wait,
            error,
        )
        await self._queue.retry(delivery.id, error, now + timedelta(seconds=wait))

    async def send_now(self, notice: Notice, attempts: int = 3) -> dict[str, str]:
        """Send ``notice`` without the queue (the database is away): each channel once across
        both workers and restarts (a claim on the bus), up to ``attempts`` tries honouring
        ``retry_after``; what each channel came to ("sent", "refused", "busy", "claimed")."""
        outcome: dict[str, str] = {}
        for name in notices.routed(notice, self.routes):
            plan = self._plans[name]
            if self._claim is not None:
                try:
                    if not await self._claim(f"yq:notified:{notice.id}:{name}"):
                        outcome[name] = "claimed"
                        continue
                except BusUnavailableError:
                    pass  # sent twice at worst, never not at all
            outcome[name] = await self._send_with_retries(plan, notice, attempts)
        return outcome

    async def _send_with_retries(self, plan: ChannelPlan, notice: Notice, attempts: int) -> str:
        for attempt in range(1, attempts + 1):
            try:
                await plan.channel.send(self._render(notice, plan.language))
            except ChannelRefusedError as exc:
                logger.error("notification refused channel=%s: %s", plan.channel.name, exc)
                return "refused"
            except ChannelBusyError as exc:
                if attempt == attempts:
                    logger.error("notification not sent channel=%s: %s", plan.channel.name, exc)
                    return "busy"
                await self._sleep(self.policy.wait_s(attempt, exc.retry_after_s))
            else:
                return "sent"
        return "busy"


# ---- watchers ------------------------------------------------------------------------------


class Watcher:
    """Facts nobody publishes, seen by the notifier: see the module's docstring (3)."""

    def __init__(
        self,
        notifier: Notifier,
        *,
        clock: Clock,
        switches: SwitchRecords,
        active_role: Callable[[], Awaitable[tuple[str, int] | None]],
        journal_depth: Callable[[], int],
        every_s: float = 5.0,
        reports: Reports | None = None,
    ) -> None:
        self._reports = reports
        self._notifier = notifier
        self._clock = clock
        self._switches = switches
        self._active_role = active_role
        self._journal_depth = journal_depth
        self.every_s = every_s
        self._role: tuple[str, int] | None = None
        self._role_seen = False
        self._states: dict[str, tuple[str, datetime]] | None = None
        self._away_since: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)

    async def check(self) -> None:
        """One look at everything watched (never raises for the database being away)."""
        try:
            role = await self._active_role()
            await self._database_back()
            await self._role_changed(role)
            if self._notifier_active(role):
                await self._switches_changed()
                if self._reports is not None:
                    await self._reports.check(active=True)
        except DatabaseUnavailableError as exc:
            await self._database_away(str(exc))

    def _notifier_active(self, role: tuple[str, int] | None) -> bool:
        if role is None:  # no deployment recorded: the single box ("local") is active
            return self._notifier.active
        return role[0] == self._notifier.worker

    async def _role_changed(self, role: tuple[str, int] | None) -> None:
        before, seen = self._role, self._role_seen
        self._role, self._role_seen = role, True
        if not seen or role == before or role is None:
            return
        if role[0] != self._notifier.worker:
            return  # the worker that became active reports it
        await self._notifier.take(
            notices.notice(
                NoticeKind.ACTIVE_WORKER_SWITCHED,
                str(role[1]),
                self._clock.now(),
                worker=role[0],
                epoch=role[1],
                before=before[0] if before else None,
            )
        )

    async def _switches_changed(self) -> None:
        records = await self._switches.switches()
        states = {scope: (r.state, r.updated_at) for scope, r in records.items()}
        before, self._states = self._states, states
        if before is None:
            return  # the first look is the baseline
        for scope, (state, at) in sorted(states.items()):
            if before.get(scope) == (state, at):
                continue
            record = records[scope]
            await self._notifier.take(
                notices.notice(
                    NoticeKind.KILL_SWITCH_CHANGED,
                    f"{scope}:{at.isoformat()}",
                    at,
                    level=Level.INFO if state == "active" else Level.WARNING,
                    account=None if scope == "global" else scope,
                    scope=scope,
                    state=state,
                    was=before[scope][0] if scope in before else None,
                    actor=record.actor,
                    reason=record.reason,
                )
            )

    async def _database_away(self, error: str) -> None:
        if self._away_since is not None:
            return
        self._away_since = self._clock.now()
        logger.warning("database away: notices wait in the streams (%s)", error)
        await self._notifier.send_now(
            notices.notice(
                NoticeKind.DATABASE_AWAY,
                f"{self._notifier.worker}:{self._away_since.isoformat()}",
                self._away_since,
                worker=self._notifier.worker,
                journal=self._journal_depth(),
            )
        )

    async def _database_back(self) -> None:
        since = self._away_since
        if since is None:
            return
        now = self._clock.now()
        await self._notifier.take(
            notices.notice(
                NoticeKind.DATABASE_BACK,
                f"{self._notifier.worker}:{since.isoformat()}",
                now,
                worker=self._notifier.worker,
                away_s=int((now - since).total_seconds()),
                journal=self._journal_depth(),
            )
        )
        self._away_since = None


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


# ---- the daily summary and quiet strategies ------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One market's day as the book tells it: the day's fills, each strategy's P&L (realised
    today plus unrealised, in the market's currency) and the equity (holdings at their prices
    and cash, when the last sync stored it)."""

    trades: int
    pnl: dict[str, Decimal]
    equity: Decimal | None
    currency: str


Closes = Callable[[datetime], list[tuple[str, str, datetime]]]  # (market, day, close) by now
Figures = Callable[[str, datetime], Awaitable[DayFigures]]  # (market, session open) -> figures
LastAlerts = Callable[[], Awaitable[dict[str, datetime]]]  # strategy -> its latest alert


class Reports:
    """The active worker's reports: a summary after each market's close (once a day, a little
    after it, so the closing fills are in), and a strategy gone quiet for longer than its
    expected cadence (``quiet_after_h``; none by default). Both are shared notices with ids of
    their day (or quiet spell), so a restart or a switch of the active worker repeats none."""

    AFTER_CLOSE = timedelta(minutes=10)
    TOO_LATE = timedelta(hours=8)  # a notifier down all evening does not report a stale day

    def __init__(
        self,
        notifier: Notifier,
        *,
        clock: Clock,
        closes: Closes,
        figures: Figures,
        last_alerts: LastAlerts,
        quiet_after_h: Mapping[str, float],
        daily: bool = True,
    ) -> None:
        self._notifier = notifier
        self._clock = clock
        self._closes = closes
        self._figures = figures
        self._last_alerts = last_alerts
        self._quiet_after_h = dict(quiet_after_h)
        self._daily = daily
        self._done: set[str] = set()

    async def check(self, active: bool) -> None:
        if not active:
            return
        now = self._clock.now()
        if self._daily:
            for market, day, close_at in self._closes(now):
                key = f"{market}:{day}"
                due = close_at + self.AFTER_CLOSE <= now < close_at + self.TOO_LATE
                if key in self._done or not due:
                    continue
                await self._summary(market, day, close_at, key)
                self._done.add(key)
        if self._quiet_after_h:
            await self._quiet(now)

    async def _summary(self, market: str, day: str, close_at: datetime, key: str) -> None:
        figures = await self._figures(market, close_at)
        total = sum(figures.pnl.values(), Decimal(0))
        pnl_lines = {f"pnl.{s}": f"{_signed(v)} {figures.currency}" for s, v in figures.pnl.items()}
        await self._notifier.take(
            notices.notice(
                NoticeKind.DAILY_SUMMARY,
                key,
                self._clock.now(),
                market=market,
                date=day,
                trades=figures.trades,
                pnl=f"{_signed(total)} {figures.currency}",
                equity=None
                if figures.equity is None
                else f"{_plain(figures.equity)} {figures.currency}",
                extra=pnl_lines,
            )
        )

    async def _quiet(self, now: datetime) -> None:
        latest = await self._last_alerts()
        for strategy, hours in sorted(self._quiet_after_h.items()):
            last = latest.get(strategy)
            if last is None or now - last < timedelta(hours=hours):
                continue
            await self._notifier.take(
                notices.notice(
                    NoticeKind.STRATEGY_QUIET,
                    f"{strategy}:{last.isoformat()}",
                    now,
                    strategy=strategy,
                    since=last.isoformat(timespec="minutes"),
                    expected_h=_plain(Decimal(str(hours))),
                )
            )


def _signed(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.01')):,}"
    return text if value < 0 else f"+{text}"
