"""Releasing queued orders at the next session open: once, by the active worker only.

Every engine runs this loop; it does work only on the worker that holds the active role (the
``deployment`` row; with no row, the embedded worker ``local`` counts as active). Each due row is
claimed with a compare-and-set in the database, so it becomes an order exactly once even when
several engines look at it at the same moment. At release the alert is decided again with that
moment's figures (kill switch, holdings, cash, limits), so the price and quantity are checked
when the order really goes out.

A row whose open passed while no engine was running is released only within
``engine.queue_window_min`` of that open (and before that session's close); after that it expires
rather than trading hours late. If the planned open does not happen (a holiday added after the
order was queued) the row waits for the next one. A claim whose holder vanished mid-release is
taken over after ``engine.queue_lease_s``; if its order was already recorded, that order is used,
and if a gateway already took it, nothing is sent again.

A standby worker's signals come here too (`ReasonCode.HANDED_OVER` rows, due at once): the
active worker decides them as a signal arriving now would be decided (its age limit, the
market's session: a closed market queues the row for the next open). A row whose order the
active worker already made (the same alert reached both workers) is released as that order,
never decided again; and no row is decided while this engine's own journal still holds writes
for the database (its decision of the same signal may be among them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime
from typing import Any

from yquant.domain.decision import Verdict
from yquant.domain.model import Alert, OrderStatus, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.errors import RetryableError, SignalRejectedError
from yquant.ports import (
    EXPIRED,
    QUEUED,
    REJECTED,
    RELEASED,
    RELEASING,
    Clock,
    EngineState,
    OrderQueue,
    Recorder,
)
from yquant.services.decisions import Decider, OrderDesk
from yquant.services.worker_state import ActiveRole

logger = logging.getLogger(__name__)


class QueueReleaser:
    def __init__(
        self,
        *,
        decider: Decider,
        desk: OrderDesk,
        queue: OrderQueue,
        state: EngineState,
        role: ActiveRole,
        clock: Clock,
        poll_s: float,
        lease_s: float,
        recorder: Recorder | None = None,
    ) -> None:
        self._recorder = recorder
        self._decider = decider
        self._desk = desk
        self._queue = queue
        self._state = state
        self._clock = clock
        self._role = role
        self._poll_s = poll_s
        self._lease_s = lease_s
        self._holder = f"{role.worker}:{uuid.uuid4().hex[:12]}"
        self.scans = 0  # completed scans, for tests and health
        self.released = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.release_due()
            except RetryableError as exc:
                # A claimed row waits for its lease to run out and is then released again.
                logger.warning("queue scan interrupted error=%s", exc)
            except Exception:
                logger.exception("queue scan failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._poll_s)

    async def active_epoch(self) -> int | None:
        """This worker's epoch when it holds the active role, else None."""
        return await self._role.epoch()

    async def release_due(self) -> int:
        """One pass over the due rows; returns how many orders it released."""
        epoch = await self.active_epoch()
        released = 0
        if self._recorder is not None and self._recorder.waiting():
            epoch = None  # this engine's own writes reach the database first
        if epoch is not None:
            now = self._clock.now()
            for row in await self._queue.due(now, self._lease_s):
                if await self._release(row, epoch, now):
                    released += 1
        self.scans += 1
        self.released += released
        return released

    async def _release(self, row: dict[str, Any], epoch: int, now: datetime) -> bool:
        alert: Alert = row["alert"]
        handed = row.get("reason") == ReasonCode.HANDED_OVER.value
        if row["state"] == QUEUED and not handed and not await self._ready(row, alert, now):
            return False
        token = f"{self._holder}:{uuid.uuid4().hex[:8]}"
        if not await self._queue.claim(row, token, epoch, now, self._lease_s):
            return False  # another engine has it
        cid = row["client_order_id"]
        try:
            if not self._decider.knows_account(row["account"]):
                await self._finish(
                    row, token, REJECTED, ReasonCode.UNKNOWN_ACCOUNT, "not configured", now
                )
                return False
            stored = await self._desk.stored_order(cid)
            if stored is not None:
                # A claim taken over after its holder vanished: its order was recorded.
                if stored.status is OrderStatus.NEW:
                    await self._desk.publish([stored])
                await self._finish(row, token, RELEASED, None, f"order {cid}", now)
                return True
            if handed:
                return await self._decide_handed(row, token, alert, now)
            if now >= row["expires_at"]:
                # Taken over after its window: its holder vanished before deciding, and the
                # order would now trade hours late.
                detail = f"not released by {row['expires_at'].isoformat()}"
                await self._finish(row, token, EXPIRED, ReasonCode.QUEUE_EXPIRED, detail, now)
                logger.warning("queued order expired at takeover cid=%s", cid)
                return False
            decision = await self._decider.decide(
                alert, now, accounts=[row["account"]], releasing=True
            )
            outcome = decision.outcomes[0] if decision.outcomes else None
            if outcome is None or outcome.order is None or outcome.verdict is not Verdict.ORDER:
                reason = (
                    decision.reason or (outcome.reason if outcome else None) or ReasonCode.REJECTED
                )
                detail = decision.detail or (outcome.detail if outcome else "")
                await self._finish(row, token, REJECTED, reason, detail, now)
                logger.info("queued order rejected at release cid=%s reason=%s", cid, reason)
                return False
            sent = await self._desk.send([outcome.order], self._clock.now())
            await self._desk.publish(sent)
            await self._finish(row, token, RELEASED, None, outcome.detail, now)
            logger.info("queued order released cid=%s quantity=%s", cid, outcome.order.quantity)
            return True
        finally:
            await self.settle_signal(alert, now)

    async def _decide_handed(
        self, row: dict[str, Any], token: str, alert: Alert, now: datetime
    ) -> bool:
        """A standby worker's signal, decided here as if it had just arrived."""
        cid = row["client_order_id"]
        decision = await self._decider.decide(alert, now, accounts=[row["account"]])
        outcome = decision.outcomes[0] if decision.outcomes else None
        if outcome is not None and outcome.verdict is Verdict.QUEUED and decision.state:
            release_after, expires_at = self._decider.queue_times(decision.state)
            if not await self._queue.requeue(row["id"], token, release_after, expires_at, now):
                logger.warning("queue claim lost before requeueing cid=%s", cid)
            logger.info("handed-over order queued for the next open cid=%s", cid)
            return False
        if outcome is None or outcome.order is None or outcome.verdict is not Verdict.ORDER:
            reason = decision.reason or (outcome.reason if outcome else None) or ReasonCode.REJECTED
            detail = decision.detail or (outcome.detail if outcome else "")
            await self._finish(row, token, REJECTED, reason, detail, now)
            logger.info("handed-over order rejected cid=%s reason=%s", cid, reason)
            return False
        sent = await self._desk.send([outcome.order], self._clock.now())
        await self._desk.publish(sent)
        await self._finish(row, token, RELEASED, None, outcome.detail, now)
        logger.info("handed-over order released cid=%s quantity=%s", cid, outcome.order.quantity)
        return True

    async def _ready(self, row: dict[str, Any], alert: Alert, now: datetime) -> bool:
        """Whether a queued row may be released now; expires or reschedules it if not."""
        if now >= row["expires_at"]:
            await self._queue.expire(
                row["id"],
                ReasonCode.QUEUE_EXPIRED,
                f"not released by {row['expires_at'].isoformat()}",
                now,
            )
            await self.settle_signal(alert, now)
            logger.warning("queued order expired cid=%s", row["client_order_id"])
            return False
        try:
            _, calendar = self._decider.locate(alert)
        except SignalRejectedError:
            return True  # released into a rejection with the catalog's reason
        state = calendar.state(now)
        if state.is_open:
            return True
        if state.next_open_at is not None and state.next_open_at > row["release_after"]:
            # The open it waited for did not happen: wait for the next one.
            window = row["expires_at"] - row["release_after"]
            await self._queue.reschedule(
                row["id"], state.next_open_at, state.next_open_at + window, now
            )
        return False

    async def settle_signal(self, alert: Alert, now: datetime) -> None:
        """After a release: the signal's final status once none of its queued orders waits."""
        rows = await self._queue.for_signal(alert.key)
        if any(r["state"] in (QUEUED, RELEASING) for r in rows):
            return
        orders = await self._state.orders_for_signal(alert.key)
        left = [r for r in rows if r["state"] != RELEASED]
        detail = "; ".join(
            f"{r['account']}: {r['reason']} {r['detail'] or ''}".strip() for r in left
        )
        if orders:
            await self._desk.record_signal(alert, SignalStatus.ORDERED, None, detail, now)
        else:
            reason = left[0]["reason"] if left else ReasonCode.NO_ACCOUNTS
            await self._desk.record_signal(alert, SignalStatus.REJECTED, reason, detail, now)

    async def _finish(
        self,
        row: dict[str, Any],
        token: str,
        state: str,
        reason: ReasonCode | None,
        detail: str,
        now: datetime,
    ) -> None:
        if not await self._queue.finish(row["id"], token, state, reason, detail, now):
            logger.warning("queue claim lost before finishing cid=%s", row["client_order_id"])
