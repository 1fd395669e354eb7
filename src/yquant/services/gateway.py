"""The gateway's use case: every order to its broker once, then followed to a final state.

Lifecycle: ``new → submitted → accepted → partially_filled → filled``, or ``rejected``,
``cancelled``, ``expired``, ``unknown``; a cancel adds ``cancel_requested`` (fills may still
come) before ``cancelled``, or ``filled`` when the fill won the race. For each order taken from
the stream:

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

Cancels (``yq:cancels``, `cancel`): ``cancel_requested`` is recorded, then the broker is asked
to cancel; its answer is recorded like any report, and the asker gets a `CancelAnswered` once
the order has ended (or at once: not found, already final, not yet acknowledged, refused). A
refused cancel leaves the order working again (``cancel_refused``, or the broker's reason); a
cancel without an answer is followed like any open order, never assumed. A working limit order
older than its strategy's ``limit_ttl_s`` is cancelled (``ttl_expired``) by the active worker.

Cancel-replace: an order that ``replaces`` a working one is sent only after that one has ended
(cancelled for ``replaced``, waited for at most ``replace_wait_s``, else the new order is not
sent: ``replace_timeout``), with its quantity reduced by what the old one filled after the
decision as recorded (its steps recorded later than the new order's decision; not sent at all
when nothing is left). The reduction is kept in the worker's Valkey once worked out, so a restart
redoes the same sequence with the same numbers, and the send claims keep the new order sent
once.

Every operation on one order holds that order's lock: the stream handlers, tracking, cancels and
the sweep never interleave on it. After a restart, in-flight orders are reconciled with the
broker before anything is sent for them; orders another worker's gateway took (no send claim of
this worker's) are followed, never sent, here, and only where the broker is shared (KIS):
another worker's paper ledger is its own.

Only the worker that holds the active role sends: with a ``role`` (blue/green), an order
reaching this gateway while the worker is not ``ACTIVE`` is not handled (`NotActiveError`: it
waits in the stream). The role process runs the consumers, `track` and `sweep` only while
active.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import weakref
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from decimal import Decimal

from yquant import failpoints
from yquant.batching import Turn, Turns
from yquant.domain.commands import CancelOrder, PlaceOrder
from yquant.domain.events import CancelAnswered, OrderChanged, OrderFilled
from yquant.domain.model import (
    ENDED_BY_CANCEL,
    BrokerOrder,
    Order,
    OrderStatus,
    OrderType,
    client_order_id,
)
from yquant.domain.notices import order_notice
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import check_kill_switch
from yquant.domain.roles import Standing
from yquant.domain.writes import AdvanceOrder, InsertFill
from yquant.errors import (
    BrokerUnavailableError,
    BusUnavailableError,
    DatabaseUnavailableError,
    NotActiveError,
    OrderRejectedError,
    RetryableError,
    SignalRejectedError,
)
from yquant.ports import (
    NO_METRICS,
    NO_NOTICES,
    AccountBook,
    Broker,
    Bus,
    Clock,
    Entry,
    KillSwitch,
    Metrics,
    Notices,
    Recorder,
)
from yquant.services.account_sync import AccountSync
from yquant.services.rehearsal import WARM_UP_KEY, gateway_writes
from yquant.services.worker_state import ActiveRole

logger = logging.getLogger(__name__)

# The send turn of the order the stream handler is handling (`handle_order`), if any.
_SEND_TURN: contextvars.ContextVar[tuple[str, Turn] | None] = contextvars.ContextVar(
    "send_turn", default=None
)

CLAIM_TTL_S = 7 * 24 * 3600
ANSWER_TTL_S = 24 * 3600


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
        role: ActiveRole | None = None,
        submit_retry_s: float = 30.0,
        max_send_delay_s: float = 300.0,
        track_interval_s: float = 1.0,
        replace_wait_s: float = 10.0,
        limit_ttl_s: Mapping[str, float] | None = None,
        ttl_sweep_s: float = 5.0,
        metrics: Metrics = NO_METRICS,
        shared_accounts: Collection[str] = (),
        notices: Notices = NO_NOTICES,
    ) -> None:
        self._notices = notices
        self._shared = frozenset(shared_accounts)  # accounts every worker's broker can ask
        self._recorder = recorder
        self._metrics = metrics
        self._bus = bus
        self._broker = broker
        self._worker = worker
        self._book = book
        self._sync = sync
        self._role = role
        self._kill = kill_switch
        self._submit_retry_s = submit_retry_s
        self._max_send_delay_s = max_send_delay_s
        self._track_interval_s = track_interval_s
        self._replace_wait_s = replace_wait_s
        self._limit_ttl_s = dict(limit_ttl_s or {})
        self._ttl_sweep_s = ttl_sweep_s
        self._clock = clock
        self._open: dict[str, Order] = {}
        self._own: dict[str, bool] = {}
        self._published: set[str] = set()  # fill ids announced by this process
        # One lock per order in use; it goes when nobody holds or waits for it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._waiting: dict[str, list[str]] = {}  # cid -> cancel requests awaiting its end
        self._withdrawn: set[str] = set()  # never sent: cancelled while new
        self._ttl_refused: set[str] = set()  # a time limit's cancel the broker refused
        self._sends = Turns()  # per account and instrument, orders sent in stream order

    @property
    def open_orders(self) -> dict[str, Order]:
        return dict(self._open)

    # ---- the stream handlers -----------------------------------------------------------------

    async def warm_up(self) -> None:
        """What the first order would pay once, paid before it comes: the reads of a send
        (each statement is compiled at its first use) and its writes, rehearsed."""
        now = self._clock.now()
        await self._stored(client_order_id(WARM_UP_KEY, "-"))
        with contextlib.suppress(DatabaseUnavailableError):
            await self._kill.refresh()
        await self._recorder.rehearse(gateway_writes(now))

    async def handle_order(self, entry: Entry) -> None:
        order = entry.message_as(PlaceOrder).order
        self._only_if_active(order.client_order_id)
        # Taken before the first wait, so in stream order (orders are handled side by side:
        # `gateway.order_concurrency`): one account's orders in one instrument reach the
        # broker in the order they were decided (a close never overtakes its open).
        turn = self._sends.take([(order.account, order.market, order.ticker)])
        token = _SEND_TURN.set((order.client_order_id, turn))
        try:
            async with self._lock(order.client_order_id):
                await self._take(order)
        finally:
            _SEND_TURN.reset(token)
            turn.end()

    async def handle_cancel(self, entry: Entry) -> None:
        command = entry.message_as(CancelOrder)
        await self.cancel(
            command.client_order_id, reason=command.reason, request_id=command.request_id
        )

    # ---- cancels -------------------------------------------------------------------------------

    async def cancel(
        self,
        client_order_id: str,
        *,
        reason: ReasonCode = ReasonCode.CANCELLED_BY_OPERATOR,
        request_id: str = "",
    ) -> CancelAnswered | None:
        """Cancel a recorded order at its broker. Returns the answer when it is settled now;
        None when the cancel was sent and its end is not known yet (the answer is left for
        ``request_id`` once the order ends). DatabaseUnavailableError when the order cannot
        be read (the stream entry is then tried again)."""
        cid = client_order_id
        async with self._lock(cid):
            order = self._open.get(cid) or await self._recorder.stored_order(cid)
            if order is None:
                return await self._tell(
                    CancelAnswered(cid, request_id, None, Decimal(0), False, ReasonCode.NOT_FOUND)
                )
            try:
                _, answer = await self._cancel(order, reason, request_id)
            except OrderRejectedError as exc:  # its account is not configured here
                return await self._tell(_answer(order, request_id, done=False, reason=exc.reason))
            return answer

    async def expire_limits(self) -> int:
        """Cancel (``ttl_expired``) every working limit order older than its strategy's
        ``limit_ttl_s``; returns how many were asked to cancel."""
        now = self._clock.now()
        asked = 0
        for cid, order in list(self._open.items()):
            if not self._ttl_due(order, now):
                continue
            async with self._lock(cid):
                current = self._open.get(cid)
                if current is None or not self._ttl_due(current, now):
                    continue
                logger.info("limit order past its time limit cid=%s", cid)
                after, _ = await self._cancel(current, ReasonCode.TTL_EXPIRED, "")
                asked += 1
                # Refused: asked again only if the cancel never reached the broker (a refusal,
                # e.g. after the close, would be the same every few seconds).
                refused = after.is_live and after.status is not OrderStatus.CANCEL_REQUESTED
                if refused and after.reason != ReasonCode.BROKER_UNAVAILABLE:
                    logger.warning("time limit cancel refused cid=%s: %s", cid, after.reason)
                    self._ttl_refused.add(cid)
        return asked

    async def sweep(self, stop: asyncio.Event) -> None:
        """`expire_limits` every ``ttl_sweep_s`` on the worker that holds the active role."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._ttl_sweep_s)
            if stop.is_set() or not self._limit_ttl_s:
                continue
            try:
                if self._role is None or await self._role.is_active():
                    await self.expire_limits()
            except RetryableError as exc:
                logger.warning("limit time check paused: %s", exc)
            except Exception:
                logger.exception("limit time check failed")

    # ---- reconciliation and tracking ---------------------------------------------------------

    async def reconcile_open(self) -> None:
        """At start: every order left in flight is settled with its broker before new work."""
        try:
            rows = await self._book.orders_in_flight()
        except DatabaseUnavailableError:
            logger.warning("open orders not reconciled: database unavailable")
            return
        for order, _signal_worker in rows:
            own = False  # until this worker's send claim says otherwise: never sent from here
            cid = order.client_order_id
            try:
                async with self._lock(cid):
                    own = await self._took(cid)
                    if not own and order.account not in self._shared:
                        _not_ours(cid)
                        continue
                    followed = await self._follow(order, own=own)
                    if followed.status is OrderStatus.CANCEL_REQUESTED:
                        # A previous life may have died between recording the request and
                        # sending it: sent (again), which is harmless.
                        await self._cancel(followed, _cancel_reason(followed), "")
            except RetryableError as exc:
                # Followed by `track` once the broker answers; nothing is sent meanwhile.
                logger.warning("reconcile later cid=%s: %s", cid, exc)
                self._open[cid] = order
                self._own[cid] = own
            except Exception:
                logger.exception("reconcile failed cid=%s", cid)

    async def track(self, stop: asyncio.Event) -> None:
        """Follow open orders until they are final; a broker that reports changes as they
        happen (KIS execution notices: ``on_change``) wakes this loop early."""
        wake = asyncio.Event()
        self._broker.on_change(lambda _cid: wake.set())
        while not stop.is_set():
            wake.clear()
            for cid in list(self._open):
                if stop.is_set():
                    break
                try:
                    async with self._lock(cid):
                        order = self._open.get(cid)  # as it is now, not as it was listed
                        if order is not None:
                            await self._follow(order, own=self._own.get(cid, True))
                except RetryableError as exc:
                    logger.warning("tracking paused: %s", exc)
                    break
                except Exception:
                    logger.exception("tracking failed cid=%s", cid)
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            await asyncio.wait(waits, timeout=self._track_interval_s, return_when="FIRST_COMPLETED")
            for waiting in waits:
                waiting.cancel()

    # ---- steps (each with the order's lock held) -----------------------------------------------

    async def _take(self, order: Order) -> None:
        cid = order.client_order_id
        if cid in self._open:
            await self._follow(self._open[cid], own=self._own.get(cid, True))
            return
        if cid in self._withdrawn:
            return
        stored = await self._stored(cid)
        if (stored or order).status is OrderStatus.AWAITING_APPROVAL:
            # Never published while it waits; a copy reaching here is not sent before approval.
            logger.warning("order awaiting approval not sent cid=%s", cid)
            return
        if stored is not None and stored.status is not OrderStatus.NEW:
            if not stored.status.is_final:
                await self._follow_recorded(stored)
            return
        current = stored or order
        if current.replaces:
            replacing = await self._replacing(current)
            if replacing is None:
                return
            current = replacing
        if not await self._claim(cid, "sent"):
            # This worker took it before (a crash around the call): it may have been sent.
            # Recorded as submitted (so a restart reconciles it), then the broker is asked.
            taken = current.submitted(self._clock.now())
            await self._recorder.write(AdvanceOrder(taken))
            await self._follow(taken, own=True)
            return
        await self._send(current)

    async def _refusal(self, order: Order) -> ReasonCode | None:
        """Why ``order`` must not be sent now, if it must not: decided too long ago (sized
        from prices of a market that has moved), or stopped by the kill switch (an order
        decided before a halt, or released from the queue, is not sent after it)."""
        age_s = (self._clock.now() - order.created_at).total_seconds()
        if age_s > self._max_send_delay_s:
            logger.warning(
                "order not sent cid=%s: decided %d s ago (limit %g s)",
                order.client_order_id,
                age_s,
                self._max_send_delay_s,
            )
            return ReasonCode.STALE_ORDER
        states = await self._kill.refresh() if self._recorder.database_up else self._kill.known()
        try:
            check_kill_switch(self._kill.state_for(order.account, states), order.side)
        except SignalRejectedError as exc:
            logger.warning("order not sent cid=%s: %s", order.client_order_id, exc.reason)
            return exc.reason
        return None

    async def _send(self, order: Order) -> Order:
        refusal = await self._refusal(order)
        if refusal is not None:
            return await self._unsent(order, refusal)
        intent = order.submitted(self._clock.now())
        await self._recorder.write(AdvanceOrder(intent))
        mine = _SEND_TURN.get()  # only the order the handler took waits for its turn
        turn = mine[1] if mine is not None and mine[0] == order.client_order_id else None
        if turn is not None:
            await turn.wait()
        with self._at_broker(intent.account):
            # The next order in this instrument may go once the broker has this one in a queue
            # that keeps its order (the paper ledger), else once it answered.
            known = await self._submit(intent, queued=None if turn is None else turn.end)
            if turn is not None:
                turn.end()
            failpoints.hit("gateway.after_submit")
            return await self._apply(intent, known, asked=False)

    async def _submit(self, intent: Order, queued: Callable[[], None] | None = None) -> BrokerOrder:
        """The broker's answer to sending ``intent``: tried again while the broker is
        unavailable (nothing was sent) for ``submit_retry_s``, then a rejection. ``queued``:
        see `Broker.submit` (a retry comes after the orders the first try let go)."""
        deadline = self._clock.monotonic() + self._submit_retry_s
        backoff = 0.5
        while True:
            sent_at = self._clock.monotonic()
            try:
                known = await self._broker.submit(intent, queued=queued)
            except OrderRejectedError as exc:
                self._metrics.send_seconds(self._clock.monotonic() - sent_at)
                return BrokerOrder.rejected(intent.client_order_id, exc.reason)
            except BrokerUnavailableError as exc:
                # Nothing was sent: trying again cannot place it twice.
                if self._clock.monotonic() > deadline:
                    logger.error("order not sent cid=%s: %s", intent.client_order_id, exc)
                    return BrokerOrder.rejected(
                        intent.client_order_id, ReasonCode.BROKER_UNAVAILABLE
                    )
                logger.warning(
                    "broker unavailable, retrying cid=%s: %s", intent.client_order_id, exc
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            else:
                self._metrics.send_seconds(self._clock.monotonic() - sent_at)
                return known

    async def _unsent(self, order: Order, reason: ReasonCode) -> Order:
        """``order`` settled as never sent, for ``reason``."""
        return await self._apply(
            order, BrokerOrder.rejected(order.client_order_id, reason), asked=False
        )

    async def _follow(self, order: Order, *, own: bool) -> Order:
        cid = order.client_order_id
        try:
            known = await self._broker.get_order(order)
        except OrderRejectedError as exc:
            # Its account is not configured (any more): nothing here can follow it.
            logger.error("cannot follow cid=%s: %s", cid, exc)
            self._open.pop(cid, None)
            return order
        if known is None:
            if order.status in (OrderStatus.NEW, OrderStatus.SUBMITTED) and own:
                # The broker has no trace: it was never placed. Placed now, by one caller.
                if await self._claim(cid, "resent"):
                    logger.info("order never reached the broker, sending cid=%s", cid)
                    self._open.pop(cid, None)
                    return await self._send(order)
                return order
            if order.status is OrderStatus.UNKNOWN and own:
                logger.error("unknown order has no trace at the broker cid=%s: not placed", cid)
                known = BrokerOrder.rejected(order.client_order_id, ReasonCode.NOT_PLACED)
            else:
                # Another worker's order not sent yet, or a broker that lost an order: watch.
                if cid not in self._open:
                    logger.warning("broker has no trace of cid=%s status=%s", cid, order.status)
                self._open[cid], self._own[cid] = order, own
                return order
        self._own[cid] = own
        return await self._apply(order, known, asked=True)

    async def _apply(self, order: Order, known: BrokerOrder, *, asked: bool) -> Order:
        """Record what the broker said; returns the order as recorded. ``asked``: an answer
        to a question, where "unknown" means "cannot tell yet" and changes nothing (a merely
        submitted order stays submitted, so that it can still be sent if the broker turns out
        to have no trace of it)."""
        if asked and known.status is OrderStatus.UNKNOWN and not known.fills:
            self._open[order.client_order_id] = order
            return order
        # A lagging answer never moves an order back.
        if all(fill.fill_id in self._published for fill in known.fills):
            return await self._record(order, order.apply(known))
        # New fills: the broker's holdings are ahead of the book until they are recorded.
        with self._at_broker(order.account):
            for fill in known.fills:
                if fill.fill_id in self._published:
                    continue
                await self._recorder.write(InsertFill(fill))
                await self._bus.send(OrderFilled(fill))
                self._published.add(fill.fill_id)
            updated = await self._record(order, order.apply(known))
            if self._sync is not None:
                self._sync.request(order.account)
        return updated

    async def _record(self, order: Order, updated: Order) -> Order:
        """Write ``updated`` if it differs from ``order``, keep it open until it is final, and
        answer the cancels that wait for it."""
        fields = ("status", "filled_quantity", "broker_order_id", "reason", "avg_fill_price")
        cid = order.client_order_id
        if any(getattr(updated, f) != getattr(order, f) for f in fields) or (
            updated.quantity != order.quantity
        ):
            updated = updated.evolve(updated_at=self._clock.now())
            await self._recorder.write(AdvanceOrder(updated))
            logger.info(
                "order cid=%s status=%s filled=%s",
                cid,
                updated.status.value,
                updated.filled_quantity,
            )
            await self._bus.announce(OrderChanged(cid, updated.status))
            told = order_notice(updated, updated.updated_at)
            if told is not None:
                await self._notices.notify(told)
        if updated.status.is_final:
            self._open.pop(cid, None)
            self._own.pop(cid, None)
        else:
            self._open[cid] = updated
        if updated.status is not OrderStatus.CANCEL_REQUESTED:
            for request_id in self._waiting.pop(cid, []):
                await self._tell(_answer(updated, request_id))
        return updated

    # ---- cancel steps ----------------------------------------------------------------------------

    async def _cancel(
        self, order: Order, reason: ReasonCode, request_id: str
    ) -> tuple[Order, CancelAnswered | None]:
        """Cancel ``order`` at its broker (or here, if it was never sent); returns it as
        recorded after, and the answer when it is settled (None: the broker's confirmation is
        awaited, and the answer is left for ``request_id`` then)."""
        cid = order.client_order_id
        now = self._clock.now()
        if order.status is OrderStatus.NEW:
            # Not sent yet: withdrawn here, never sent.
            self._withdrawn.add(cid)
            ended = await self._record(
                order, order.evolve(status=OrderStatus.CANCELLED, reason=reason)
            )
            return ended, await self._tell(_answer(ended, request_id, done=True))
        if order.status in (OrderStatus.SUBMITTED, OrderStatus.UNKNOWN):
            # Its placement is not confirmed: asked about, never sent from here.
            known = await self._broker.get_order(order)
            if known is not None:
                order = await self._apply(order, known, asked=True)
        if order.status.is_final:
            return order, await self._tell(
                _answer(order, request_id, done=False, reason=ReasonCode.ALREADY_FINAL)
            )
        if not order.is_live:
            return order, await self._tell(
                _answer(order, request_id, reason=ReasonCode.NOT_ACKNOWLEDGED)
            )
        requested = order
        if order.status is not OrderStatus.CANCEL_REQUESTED:
            requested = await self._record(order, order.cancel_requested(reason, now))
        logger.info("cancel requested cid=%s reason=%s", cid, requested.reason)
        try:
            known = await self._broker.cancel(requested)
        except OrderRejectedError as exc:
            return await self._refused(requested, exc.reason, request_id)
        except BrokerUnavailableError as exc:
            logger.warning("cancel not sent cid=%s: %s", cid, exc)
            return await self._refused(requested, ReasonCode.BROKER_UNAVAILABLE, request_id)
        if known.status is OrderStatus.REJECTED and known.reason == ReasonCode.NOT_FOUND:
            return await self._refused(requested, ReasonCode.NOT_FOUND, request_id)
        ended = await self._apply(requested, known, asked=True)
        if ended.status is OrderStatus.CANCEL_REQUESTED:
            if request_id:
                self._waiting.setdefault(cid, []).append(request_id)
            return ended, None
        return ended, await self._tell(_answer(ended, request_id))

    async def _refused(
        self, requested: Order, reason: ReasonCode, request_id: str
    ) -> tuple[Order, CancelAnswered | None]:
        """The broker refused the cancel: the order has ended meanwhile (a fill won the race),
        or it works on, recorded so with the refusal's reason."""
        cid = requested.client_order_id
        try:
            known = await self._broker.get_order(requested)
        except (BrokerUnavailableError, OrderRejectedError):
            known = None
        if known is not None and known.status.is_final:
            ended = await self._apply(requested, known, asked=True)
            return ended, await self._tell(_answer(ended, request_id))
        logger.warning("cancel refused cid=%s reason=%s", cid, reason)
        working = await self._record(requested, requested.cancel_refused(reason, self._clock.now()))
        if known is not None:
            working = await self._apply(working, known, asked=True)
        return working, await self._tell(_answer(working, request_id, reason=reason))

    def _ttl_due(self, order: Order, now: datetime) -> bool:
        ttl = self._limit_ttl_s.get(order.strategy)
        return (
            ttl is not None
            and order.client_order_id not in self._ttl_refused
            and order.order_type is OrderType.LIMIT
            and order.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
            and (now - order.created_at).total_seconds() >= ttl
        )

    # ---- cancel-replace ------------------------------------------------------------------------

    async def _replacing(self, order: Order) -> Order | None:
        """``order`` once the order it replaces has ended, smaller by what that one filled
        since the decision; None when it is not to be sent (settled here as rejected)."""
        refusal = await self._refusal(order)
        if refusal is not None:
            await self._unsent(order, refusal)
            return None
        cid, old_id = order.client_order_id, str(order.replaces)
        async with self._lock(old_id):
            old = self._open.get(old_id) or await self._recorder.stored_order(old_id)
        if old is None:
            logger.warning("cid=%s replaces %s, which is not recorded: sent as is", cid, old_id)
            return order
        if not old.status.is_final:
            old = await self._end(old)
            if not old.status.is_final:
                working = old.status is not OrderStatus.CANCEL_REQUESTED
                why = ReasonCode.CANCEL_REFUSED if working else ReasonCode.REPLACE_TIMEOUT
                logger.warning("replacement not sent cid=%s: %s still %s", cid, old_id, old.status)
                await self._unsent(order, why)
                return None
        # The new order was sized from the position as recorded when it was decided: what the
        # old one filled was in it as far as it had been recorded by then, no further.
        known = await self._book.filled_as_of(old_id, order.created_at)
        after = max(old.filled_quantity - known, Decimal(0))
        cut = Decimal(await self._bus.remember(f"yq:gw:replace:{cid}:cut", str(after), CLAIM_TTL_S))
        if cut <= 0:
            return order
        left = order.quantity - cut
        logger.info("replacement cid=%s: %s filled meanwhile, %s left", cid, cut, max(left, 0))
        if left <= 0:
            await self._unsent(order, ReasonCode.REPLACED_ORDER_FILLED)
            return None
        return order.evolve(quantity=left, reason=ReasonCode.REPLACED_ORDER_FILLED)

    async def _end(self, old: Order) -> Order:
        """Cancel ``old`` (``replaced``) and follow it until it ends, for ``replace_wait_s`` at
        most; returns it as last known (working again: the broker refused the cancel)."""
        old_id = old.client_order_id
        deadline = self._clock.monotonic() + self._replace_wait_s
        asked = False
        while True:
            async with self._lock(old_id):
                current = self._open.get(old_id, old)
                if current.status.is_final:
                    return current
                if current.status is OrderStatus.AWAITING_APPROVAL:
                    # Never sent (its strategy's orders wait for approval): the newer order
                    # of that strategy replaces it, and it ends here unsent.
                    return await self._record(
                        current,
                        current.evolve(status=OrderStatus.REJECTED, reason=ReasonCode.REPLACED),
                    )
                if not asked and (current.is_live or current.status is OrderStatus.NEW):
                    asked = True
                    current, answer = await self._cancel(current, ReasonCode.REPLACED, "")
                    if answer is not None and answer.reason == ReasonCode.NOT_ACKNOWLEDGED:
                        asked = False  # ask again once the broker has confirmed it
                    elif answer is not None and not current.status.is_final:
                        return current  # refused: it works on
                else:
                    current = await self._follow(current, own=self._own.get(old_id, True))
            if current.status.is_final or self._clock.monotonic() >= deadline:
                return current
            await asyncio.sleep(self._track_interval_s)

    # ---- helpers ---------------------------------------------------------------------------------

    def _at_broker(self, account: str) -> contextlib.AbstractContextManager[None]:
        """Around a send to ``account``'s broker and the recording of its answer, and around
        the recording of new fills: the account sync trusts no book check that overlaps one."""
        if self._sync is None:
            return contextlib.nullcontext()
        return self._sync.in_flight(account)

    def _lock(self, cid: str) -> asyncio.Lock:
        lock = self._locks.get(cid)
        if lock is None:
            lock = self._locks[cid] = asyncio.Lock()
        return lock

    async def _tell(self, answer: CancelAnswered) -> CancelAnswered:
        """Leave ``answer`` for its asker (none: an internal cancel); best effort, the order's
        row says the same."""
        if answer.request_id:
            try:
                await self._bus.answer(answer, ANSWER_TTL_S)
            except BusUnavailableError as exc:
                logger.warning("cancel answer not left request=%s: %s", answer.request_id, exc)
        return answer

    async def _stored(self, cid: str) -> Order | None:
        try:
            return await self._recorder.stored_order(cid)
        except DatabaseUnavailableError:
            return None

    async def _claim(self, cid: str, what: str) -> bool:
        """Take ``cid`` for ``what`` in this worker's Valkey; False if it was taken before."""
        return await self._bus.claim_send(f"yq:gw:{what}:{cid}", self._worker, CLAIM_TTL_S)

    # ---- which worker's order (blue/green) -----------------------------------------------------

    def _only_if_active(self, cid: str) -> None:
        if self._role is not None and self._role.standing() is not Standing.ACTIVE:
            raise NotActiveError(f"order cid={cid} waits: this worker is not the active one")

    async def _took(self, cid: str) -> bool:
        """Whether this worker's gateway took the order (its send claim, in its own Valkey):
        only then did it record the intent, and only then may it send what it finds unsent."""
        return await self._bus.claimed(f"yq:gw:sent:{cid}") == self._worker

    async def _follow_recorded(self, order: Order) -> None:
        """Follow an order recorded beyond ``new``. Another worker's order is asked about only
        where every worker asks the same broker (KIS); another worker's paper ledger is not
        this one's to ask."""
        own = await self._took(order.client_order_id)
        if own or order.account in self._shared:
            await self._follow(order, own=own)
        else:
            _not_ours(order.client_order_id)


def _not_ours(cid: str) -> None:
    logger.info("order cid=%s was sent by another worker to its own broker: not followed", cid)


def _answer(
    order: Order, request_id: str, *, done: bool | None = None, reason: ReasonCode | None = None
) -> CancelAnswered:
    """The answer about ``order`` as it now is: done when it ended cancelled or expired; else
    why not (it ended otherwise: ``already_final``; it works on: the refusal it carries)."""
    ended = order.status in ENDED_BY_CANCEL if done is None else done
    if reason is None and not ended:
        if order.status.is_final:
            reason = ReasonCode.ALREADY_FINAL
        else:
            reason = _known_reason(order.reason, ReasonCode.CANCEL_REFUSED)
    return CancelAnswered(
        order.client_order_id, request_id, order.status, order.filled_quantity, ended, reason
    )


def _cancel_reason(order: Order) -> ReasonCode:
    """The reason a requested cancel was recorded with (the operator's, if unreadable)."""
    return _known_reason(order.reason, ReasonCode.CANCELLED_BY_OPERATOR)


def _known_reason(code: str | None, otherwise: ReasonCode) -> ReasonCode:
    """``code`` as a reason code; ``otherwise`` for none, or one this release does not know."""
    try:
        return ReasonCode(code) if code else otherwise
    except ValueError:
        return otherwise
