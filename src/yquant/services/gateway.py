"""The gateway's use case: every order to its broker once, then followed to a final state.

Lifecycle: ``new → submitted → accepted → partially_filled → filled``, or ``rejected``,
``cancelled``, ``expired``, ``unknown``. For each order taken from the stream:

1. An order this worker already handled (recorded beyond ``new``, or claimed in the worker's
   Valkey) is not sent: the broker is asked about it instead.
2. Otherwise the intent (``submitted``) is recorded, then the order is sent. "Broker
   unavailable" means nothing was sent: it is retried for ``submit_retry_s``, then rejected.
   An order decided more than ``max_send_delay_s`` ago (a gateway that was down, an order
   published again, a queued order taken over late) is not sent at all: ``stale_order``.
3. A send without an answer makes the order ``unknown``. It is resolved only by asking the
   broker; if the broker settles that it has no trace, the order is rejected (``not_placed``),
   never sent again. Only an order that was merely ``submitted`` (the process died around the
   call) and of which the broker has no trace is sent, once.
4. Open orders are asked about every ``track_interval_s`` (the KIS adapter shares one inquiry
   per account between them); each new fill is recorded, published on ``yq:executions`` and
   triggers an account sync.

After a restart, in-flight orders are reconciled with the broker before anything is sent for
them; orders whose signal another worker received are followed, never sent, here.
"""

from __future__ import annotations

import asyncio
import logging

from yquant import failpoints
from yquant.domain.commands import PlaceOrder
from yquant.domain.events import OrderChanged, OrderFilled
from yquant.domain.model import BrokerOrder, Order, OrderStatus
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import check_kill_switch
from yquant.domain.writes import AdvanceOrder, InsertFill
from yquant.errors import (
    BrokerUnavailableError,
    DatabaseUnavailableError,
    OrderRejectedError,
    RetryableError,
    SignalRejectedError,
)
from yquant.ports import (
    NO_METRICS,
    AccountBook,
    Broker,
    Bus,
    Clock,
    Entry,
    KillSwitch,
    Metrics,
    Recorder,
)
from yquant.services.account_sync import AccountSync

logger = logging.getLogger(__name__)

CLAIM_TTL_S = 7 * 24 * 3600


class Gateway:
    def __init__(
        self,
        *,
        recorder: Recorder,
        bus: Bus,
        broker: Broker,
        book: AccountBook,
        kill_switch: KillSwitch,
        clock: Clock,
        worker: str = "local",
        sync: AccountSync | None = None,
        submit_retry_s: float = 30.0,
        max_send_delay_s: float = 300.0,
        track_interval_s: float = 1.0,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._recorder = recorder
        self._metrics = metrics
        self._bus = bus
        self._broker = broker
        self._worker = worker
        self._book = book
        self._sync = sync
        self._kill = kill_switch
        self._submit_retry_s = submit_retry_s
        self._max_send_delay_s = max_send_delay_s
        self._track_interval_s = track_interval_s
        self._clock = clock
        self._open: dict[str, Order] = {}
        self._own: dict[str, bool] = {}
        self._published: set[str] = set()  # fill ids announced by this process

    @property
    def open_orders(self) -> dict[str, Order]:
        return dict(self._open)

    # ---- the stream handler ------------------------------------------------------------------

    async def handle_order(self, entry: Entry) -> None:
        order = entry.message_as(PlaceOrder).order
        cid = order.client_order_id
        if cid in self._open:
            await self._follow(self._open[cid], own=True)
            return
        stored = await self._stored(cid)
        if stored is not None and stored.status is not OrderStatus.NEW:
            if not stored.status.is_final:
                await self._follow(stored, own=True)
            return
        current = stored or order
        if not await self._claim(cid, "sent"):
            # This worker took it before (a crash around the call): it may have been sent.
            # Recorded as submitted (so a restart reconciles it), then the broker is asked.
            taken = current.submitted(self._clock.now())
            await self._recorder.write(AdvanceOrder(taken))
            await self._follow(taken, own=True)
            return
        await self._send(current)

    # ---- reconciliation and tracking ---------------------------------------------------------

    async def reconcile_open(self) -> None:
        """At start: every order left in flight is settled with its broker before new work."""
        try:
            rows = await self._book.orders_in_flight()
        except DatabaseUnavailableError:
            logger.warning("open orders not reconciled: database unavailable")
            return
        for order, signal_worker in rows:
            own = self._is_own(signal_worker)
            try:
                await self._follow(order, own=own)
            except RetryableError as exc:
                # Followed by `track` once the broker answers; nothing is sent meanwhile.
                logger.warning("reconcile later cid=%s: %s", order.client_order_id, exc)
                self._open[order.client_order_id] = order
                self._own[order.client_order_id] = own
            except Exception:
                logger.exception("reconcile failed cid=%s", order.client_order_id)

    async def track(self, stop: asyncio.Event) -> None:
        """Follow open orders until they are final; a broker that reports changes as they
        happen (KIS execution notices: ``on_change``) wakes this loop early."""
        wake = asyncio.Event()
        self._broker.on_change(lambda _cid: wake.set())
        while not stop.is_set():
            wake.clear()
            for order in list(self._open.values()):
                if stop.is_set():
                    break
                try:
                    await self._follow(order, own=self._own.get(order.client_order_id, True))
                except RetryableError as exc:
                    logger.warning("tracking paused: %s", exc)
                    break
                except Exception:
                    logger.exception("tracking failed cid=%s", order.client_order_id)
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            await asyncio.wait(waits, timeout=self._track_interval_s, return_when="FIRST_COMPLETED")
            for waiting in waits:
                waiting.cancel()

    # ---- steps -------------------------------------------------------------------------------

    async def _send(self, order: Order) -> None:
        # Sized from the prices and figures of its decision: long after it, it would trade on a
        # market that has moved (or in the next session). Checked first: it needs no I/O.
        age_s = (self._clock.now() - order.created_at).total_seconds()
        if age_s > self._max_send_delay_s:
            logger.warning(
                "order not sent cid=%s: decided %d s ago (limit %g s)",
                order.client_order_id,
                age_s,
                self._max_send_delay_s,
            )
            await self._apply(
                order,
                BrokerOrder.rejected(order.client_order_id, ReasonCode.STALE_ORDER),
                asked=False,
            )
            return
        # The last gate before the broker: an order decided before a halt (or recorded by a
        # pass that died before publishing it, or released from the queue) is not sent after it.
        states = await self._kill.refresh() if self._recorder.database_up else self._kill.known()
        try:
            check_kill_switch(self._kill.state_for(order.account, states), order.side)
        except SignalRejectedError as exc:
            logger.warning("order not sent cid=%s: %s", order.client_order_id, exc.reason)
            await self._apply(
                order, BrokerOrder.rejected(order.client_order_id, exc.reason), asked=False
            )
            return
        intent = order.submitted(self._clock.now())
        await self._recorder.write(AdvanceOrder(intent))
        deadline = self._clock.monotonic() + self._submit_retry_s
        backoff = 0.5
        while True:
            sent_at = self._clock.monotonic()
            try:
                known = await self._broker.submit(intent)
                self._metrics.send_seconds(self._clock.monotonic() - sent_at)
                break
            except OrderRejectedError as exc:
                self._metrics.send_seconds(self._clock.monotonic() - sent_at)
                known = BrokerOrder.rejected(intent.client_order_id, exc.reason)
                break
            except BrokerUnavailableError as exc:
                # Nothing was sent: trying again cannot place it twice.
                if self._clock.monotonic() > deadline:
                    logger.error("order not sent cid=%s: %s", intent.client_order_id, exc)
                    known = BrokerOrder.rejected(
                        intent.client_order_id, ReasonCode.BROKER_UNAVAILABLE
                    )
                    break
                logger.warning(
                    "broker unavailable, retrying cid=%s: %s", intent.client_order_id, exc
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        failpoints.hit("gateway.after_submit")
        # The loop above leaves only by a break that has just set ``known``.
        await self._apply(intent, known, asked=False)  # type: ignore[possibly-undefined]

    async def _follow(self, order: Order, *, own: bool) -> None:
        cid = order.client_order_id
        try:
            known = await self._broker.get_order(order)
        except OrderRejectedError as exc:
            # Its account is not configured (any more): nothing here can follow it.
            logger.error("cannot follow cid=%s: %s", cid, exc)
            self._open.pop(cid, None)
            return
        if known is None:
            if order.status in (OrderStatus.NEW, OrderStatus.SUBMITTED) and own:
                # The broker has no trace: it was never placed. Placed now, by one caller.
                if await self._claim(cid, "resent"):
                    logger.info("order never reached the broker, sending cid=%s", cid)
                    self._open.pop(cid, None)
                    await self._send(order)
                return
            if order.status is OrderStatus.UNKNOWN and own:
                logger.error("unknown order has no trace at the broker cid=%s: not placed", cid)
                known = BrokerOrder.rejected(order.client_order_id, ReasonCode.NOT_PLACED)
            else:
                # Another worker's order not sent yet, or a broker that lost an order: watch.
                if cid not in self._open:
                    logger.warning("broker has no trace of cid=%s status=%s", cid, order.status)
                self._open[cid], self._own[cid] = order, own
                return
        self._own[cid] = own
        await self._apply(order, known, asked=True)

    async def _apply(self, order: Order, known: BrokerOrder, *, asked: bool) -> None:
        """Record what the broker said. ``asked``: an answer to a question, where "unknown"
        means "cannot tell yet" and changes nothing (a merely submitted order stays submitted,
        so that it can still be sent if the broker turns out to have no trace of it)."""
        if asked and known.status is OrderStatus.UNKNOWN and not known.fills:
            self._open[order.client_order_id] = order
            return
        new_fills = False
        for fill in known.fills:
            if fill.fill_id in self._published:
                continue
            await self._recorder.write(InsertFill(fill))
            await self._bus.send(OrderFilled(fill))
            self._published.add(fill.fill_id)
            new_fills = True
        updated = order.apply(known)  # a lagging answer never moves an order back
        status, filled = updated.status, updated.filled_quantity
        changed = (
            updated.status,
            updated.filled_quantity,
            updated.broker_order_id,
            updated.reason,
            updated.avg_fill_price,
        ) != (
            order.status,
            order.filled_quantity,
            order.broker_order_id,
            order.reason,
            order.avg_fill_price,
        )
        cid = order.client_order_id
        if changed:
            updated = updated.evolve(updated_at=self._clock.now())
            await self._recorder.write(AdvanceOrder(updated))
            logger.info("order cid=%s status=%s filled=%s", cid, status.value, filled)
            await self._bus.announce(OrderChanged(cid, status))
        if status.is_final:
            self._open.pop(cid, None)
            self._own.pop(cid, None)
        else:
            self._open[cid] = updated
        if new_fills and self._sync is not None:
            self._sync.request(order.account)

    async def _stored(self, cid: str) -> Order | None:
        try:
            return await self._recorder.stored_order(cid)
        except DatabaseUnavailableError:
            return None

    async def _claim(self, cid: str, what: str) -> bool:
        """Take ``cid`` for ``what`` in this worker's Valkey; False if it was taken before."""
        return await self._bus.claim_send(f"yq:gw:{what}:{cid}", self._worker, CLAIM_TTL_S)

    def _is_own(self, signal_worker: str | None) -> bool:
        if signal_worker is None:
            return self._worker == "local"
        return signal_worker == self._worker
