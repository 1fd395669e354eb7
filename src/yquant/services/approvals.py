"""Manual approval: an order a strategy's ``approval = "manual"`` holds until a person decides.

The engine records such an order as ``awaiting_approval`` instead of publishing it (`OrderDesk`);
it counts as a working order for the risk checks meanwhile. A decision comes from the dashboard,
the command line, Telegram (the notifier's long polling) or the timeout, whichever is first: the
database's compare-and-set lets exactly one win, and writes the audit entry with it.

An approved order is re-checked before it is sent, because the market moved while it waited:
the signal must not be too old (``approval_expired``), the kill switch must allow it, its market
must be in session (for an account that follows sessions), and the current price must be within
``approvals.max_price_deviation`` of the price it was decided at (``price_moved``). A failed
re-check rejects the order with that reason; a passed one makes it ``new`` and publishes it to
the gateway (which checks its age and the kill switch once more).

Only the active worker applies timeouts (`ApprovalTimeouts`), and republishes an approved order
whose publication was lost (a Valkey outage between the decision and the send).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from yquant.domain import market_rules
from yquant.domain.commands import PlaceOrder
from yquant.domain.model import Order, OrderStatus
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import check_kill_switch
from yquant.errors import RetryableError, SignalRejectedError
from yquant.ports import ApprovalRecords, Bus, Clock, KillSwitch, Prices
from yquant.services import routing
from yquant.services.worker_state import ActiveRole
from yquant.settings import Settings, StrategySettings

logger = logging.getLogger(__name__)

# What the re-check of an approved order may refuse it for (`Approvals.recheck`).
RECHECK_REASONS = frozenset(
    {
        ReasonCode.APPROVAL_EXPIRED,
        ReasonCode.HALTED,
        ReasonCode.REDUCE_ONLY,
        ReasonCode.MARKET_CLOSED,
        ReasonCode.PRICE_MOVED,
    }
)
# An approved order not taken by a gateway this long after its approval is published again.
RESEND_AFTER_S = 5.0


class Via(StrEnum):
    """Where a decision came from (in its audit entry)."""

    DASHBOARD = "dashboard"
    CLI = "cli"
    TELEGRAM = "telegram"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    """What one approve or reject call came to.

    ``decided``: this call's decision was recorded (it won). ``order`` is the order as it stands
    after the call (None: no such order). ``reason``: why the order was refused (a rejection, a
    failed re-check), or why nothing was decided (``not_found``, ``not_awaiting_approval``)."""

    ref: str
    order: Order | None
    decided: bool
    reason: ReasonCode | None = None
    detail: str = ""

    @property
    def sent(self) -> bool:
        """Approved and handed to the gateway."""
        return self.decided and self.order is not None and self.order.status is OrderStatus.NEW


class Approvals:
    """Decide orders awaiting approval: approve (after the re-check) or reject, once."""

    def __init__(
        self,
        *,
        settings: Settings,
        records: ApprovalRecords,
        bus: Bus,
        kill_switch: KillSwitch,
        clock: Clock,
        prices: Prices | None = None,
    ) -> None:
        self._settings = settings
        self._records = records
        self._bus = bus
        self._kill = kill_switch
        self._clock = clock
        self._prices = prices
        self._policies = routing.validate_sizing(settings)
        self._overrides = routing.calendar_overrides(settings)
        self._calendars: dict[market_rules.Venue, market_rules.MarketCalendar] = {}

    def strategy(self, name: str) -> StrategySettings:
        """The strategy's settings (defaults for one no longer configured: its orders still
        time out)."""
        return self._settings.strategies.get(name) or StrategySettings()

    def expires_at(self, order: Order) -> datetime:
        return order.created_at + timedelta(
            seconds=self.strategy(order.strategy).approval_timeout_s
        )

    def may_decide_on_telegram(self, user_id: int) -> bool:
        return user_id in self._settings.approvals.telegram_user_ids

    async def awaiting(self) -> list[Order]:
        return await self._records.awaiting()

    async def order(self, client_order_id: str) -> Order | None:
        return await self._records.order(client_order_id)

    async def approve(self, ref: str, *, actor: str, via: Via) -> ApprovalOutcome:
        return await self.decide(ref, approve=True, actor=actor, via=via)

    async def reject(self, ref: str, *, actor: str, via: Via) -> ApprovalOutcome:
        return await self.decide(ref, approve=False, actor=actor, via=via)

    async def decide(self, ref: str, *, approve: bool, actor: str, via: Via) -> ApprovalOutcome:
        """Approve or reject the awaiting order ``ref`` (its client order id)."""
        order = await self._records.order(ref.strip())
        if order is None:
            return ApprovalOutcome(ref, None, False, ReasonCode.NOT_FOUND)
        if order.status is not OrderStatus.AWAITING_APPROVAL:
            return ApprovalOutcome(ref, order, False, ReasonCode.NOT_AWAITING_APPROVAL)
        now = self._clock.now()
        detail = ""
        if approve:
            reason, detail = await self.recheck(order, now)
        elif via is Via.TIMEOUT:
            reason = ReasonCode.APPROVAL_TIMEOUT
        else:
            reason = ReasonCode.APPROVAL_REFUSED
        after = order.approval_decided(reason, now)
        audit: dict[str, Any] = {
            "via": via.value,
            "decision": "approve" if approve else "reject",
            "reason": reason.value if reason is not None else None,
            "detail": detail or None,
            "strategy": order.strategy,
            "account": order.account,
            "ticker": order.ticker,
            "side": order.side.value,
            "quantity": order.quantity,
        }
        if not await self._records.settle(order, after, actor=actor, detail=audit):
            current = await self._records.order(order.client_order_id)
            logger.info(
                "approval not recorded cid=%s via=%s: decided before (%s)",
                order.client_order_id,
                via.value,
                current.status.value if current else "gone",
            )
            return ApprovalOutcome(ref, current, False, ReasonCode.NOT_AWAITING_APPROVAL)
        logger.info(
            "approval decided cid=%s via=%s actor=%s status=%s reason=%s %s",
            order.client_order_id,
            via.value,
            actor,
            after.status.value,
            reason,
            detail,
        )
        if after.status is OrderStatus.NEW:
            await self._publish(after)
        return ApprovalOutcome(ref, after, True, reason, detail)

    async def recheck(self, order: Order, now: datetime) -> tuple[ReasonCode | None, str]:
        """Why ``order``, approved at ``now``, must not be sent (with a detail), or None."""
        strategy = self.strategy(order.strategy)
        age = (now - order.created_at).total_seconds()
        limit = strategy.approval_timeout_s + self._settings.approvals.grace_s
        if age > limit:
            return ReasonCode.APPROVAL_EXPIRED, f"decided {int(age)} s ago (limit {limit:g} s)"
        states = await self._kill.refresh()
        try:
            check_kill_switch(self._kill.state_for(order.account, states), order.side)
        except SignalRejectedError as exc:
            return exc.reason, exc.detail
        rules = routing.rules_for(
            self._settings, order.strategy, order.account, order.currency, self._policies
        )
        if rules.follow_sessions:
            venue = market_rules.venue_for(order.exchange)
            state = self._calendar(venue).state(now)
            if not state.is_open:
                return ReasonCode.MARKET_CLOSED, f"{venue.exchange} is {state.phase.value}"
        return await self._price_check(order)

    async def _price_check(self, order: Order) -> tuple[ReasonCode | None, str]:
        decided_at = order.reference_price or order.limit_price
        if self._prices is None or decided_at is None or decided_at <= 0:
            return None, ""
        try:
            mark = await self._prices.mark(order.market, order.exchange, order.ticker)
        except RetryableError as exc:
            logger.warning("price not had for the re-check cid=%s: %s", order.client_order_id, exc)
            mark = None
        if mark is None:
            return None, ""
        moved = abs(mark.price - decided_at) / decided_at
        allowed = self._settings.approvals.max_price_deviation
        if moved > allowed:
            return ReasonCode.PRICE_MOVED, (
                f"{plain(decided_at)} -> {plain(mark.price)} ({_pct(moved)} > {_pct(allowed)})"
            )
        return None, ""

    def _calendar(self, venue: market_rules.Venue) -> market_rules.MarketCalendar:
        calendar = self._calendars.get(venue)
        if calendar is None:
            calendar = market_rules.calendar_for(venue, self._overrides)
            self._calendars[venue] = calendar
        return calendar

    async def _publish(self, order: Order) -> None:
        try:
            await self._bus.send(PlaceOrder(order))
        except RetryableError as exc:
            # Recorded as approved: the active worker publishes it again (`ApprovalTimeouts`).
            logger.warning(
                "approved order not published yet cid=%s: %s", order.client_order_id, exc
            )

    # ---- the active worker's duties --------------------------------------------------------

    async def expire_due(self) -> int:
        """Apply each strategy's on_timeout to its orders past their timeout; how many."""
        now = self._clock.now()
        decided = 0
        for order in await self._records.awaiting():
            if self.expires_at(order) > now:
                continue
            approve = self.strategy(order.strategy).on_timeout == "approve"
            outcome = await self.decide(
                order.client_order_id, approve=approve, actor="timeout", via=Via.TIMEOUT
            )
            decided += outcome.decided
        return decided

    async def resend_approved(self, done: set[str]) -> None:
        """Publish again the approved orders no gateway has taken (once each per process;
        the gateway's send claim keeps an order sent once)."""
        now = self._clock.now()
        since = now - timedelta(seconds=self._settings.gateway.max_send_delay_s)
        before = now - timedelta(seconds=RESEND_AFTER_S)
        for order in await self._records.approved_unsent(since, before):
            if order.client_order_id not in done:
                done.add(order.client_order_id)
                logger.info("approved order published again cid=%s", order.client_order_id)
                await self._publish(order)


class ApprovalTimeouts:
    """The active worker's loop: timeouts applied, lost publications made good."""

    def __init__(self, approvals: Approvals, role: ActiveRole, *, interval_s: float) -> None:
        self._approvals = approvals
        self._role = role
        self._interval_s = interval_s
        self._resent: set[str] = set()

    async def tick(self) -> int:
        """One pass (nothing on a worker that is not active); how many orders timed out."""
        if await self._role.epoch() is None:
            return 0
        decided = await self._approvals.expire_due()
        await self._approvals.resend_approved(self._resent)
        return decided

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except RetryableError as exc:
                logger.warning("approval timeouts not checked: %s", exc)
            except Exception:
                logger.exception("approval timeouts failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)


def plain(number: Decimal) -> str:
    """A price or quantity as written, without trailing zeros or exponent (71000, 0.5)."""
    return f"{number.normalize():f}"


def _pct(share: Decimal) -> str:
    return f"{(share * 100).quantize(Decimal('0.01'))}%"
