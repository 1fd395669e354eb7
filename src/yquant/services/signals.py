"""Signal handling: an accepted signal becomes orders, queued orders, or a rejection.

`SignalHandler.handle_signal`, as its steps:

1. read the alert; accounts for which this signal already has an order (a redelivered message)
   get that order published again, never a second decision;
2. decide (`Decider.decide`, reads only) on the active worker; a standby worker decides no
   orders (it may not send them, and one signal reaching both workers while the database is
   away would otherwise trade twice): it hands each account to the active worker through the
   order queue in the database (`Decider.hand_over`; journaled while the database is away);
3. queue what waits for the next session (in the database both workers share), record and
   publish the orders (a strategy in manual approval: recorded ``awaiting_approval``, published
   once approved, see yquant.services.approvals); with several accounts, steps 2 and 3 run for
   each account on its own (an account whose broker does not answer is refused after
   ``engine.account_timeout_s``, the others' orders go out meanwhile);
4. record the signal's outcome (``ordered`` or ``rejected`` with its reason), announce it;
   the alert's price is recorded beside it as the instrument's latest price seen (the two
   writes share one commit).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from yquant import failpoints
from yquant.batching import Lookup, Turns
from yquant.domain.commands import DecideSignal
from yquant.domain.decision import Outcome, Verdict
from yquant.domain.model import Alert, Order, OrderStatus, SignalStatus, client_order_id
from yquant.domain.notices import alert_rejected
from yquant.domain.reasons import ReasonCode
from yquant.domain.roles import Standing
from yquant.domain.writes import QueueOrder
from yquant.errors import DatabaseUnavailableError, NotActiveError
from yquant.ports import (
    NO_METRICS,
    NO_NOTICES,
    Clock,
    EngineState,
    Entry,
    Metrics,
    Notices,
    OrderQueue,
    Prices,
    PriceSource,
    Recorder,
)
from yquant.services.decisions import Decider, Decision, OrderDesk
from yquant.services.rehearsal import WARM_UP_KEY, engine_writes
from yquant.services.worker_state import ActiveRole
from yquant.settings import Settings

logger = logging.getLogger(__name__)


class SignalHandler:
    def __init__(
        self,
        *,
        settings: Settings,
        decider: Decider,
        desk: OrderDesk,
        recorder: Recorder,
        state: EngineState,
        queue: OrderQueue,
        clock: Clock,
        metrics: Metrics = NO_METRICS,
        prices: Prices | None = None,
        role: ActiveRole | None = None,
        notices: Notices = NO_NOTICES,
    ) -> None:
        self._notices = notices
        self._settings = settings
        self._prices = prices
        self._role = role
        self._metrics = metrics
        self._decider = decider
        self._desk = desk
        self._recorder = recorder
        self._state = state
        self._queue = queue
        self._clock = clock
        self._deciding = Turns()
        self._publishing = Turns()
        # What is on record of the signals handled side by side, read for many in one query.
        self._orders = Lookup(state.orders, "stored-orders")
        self._queued = Lookup(queue.existing, "stored-queue")
        self._signals = Lookup(state.signals, "stored-signals")

    async def warm_up(self) -> None:
        """The first signal's one-time costs, taken before the engine says it is up: the reads
        every signal makes (each statement is compiled at its first use), for a key that no
        signal has."""
        cid = client_order_id(WARM_UP_KEY, "-")
        await self._stored_orders([cid])
        await self._stored_queue([cid])
        await self._decided(WARM_UP_KEY)
        await self._recorder.rehearse(engine_writes(self._clock.now()))
        if self._prices is not None:
            await self._prices.warm_up()

    async def handle_signal(self, entry: Entry) -> None:
        alert = entry.message_as(DecideSignal).alert
        failpoints.hit("engine.after_consume")
        await self.handle_alert(alert)

    async def handle_alert(self, alert: Alert, accounts: list[str] | None = None) -> Decision:
        """Steps 1-4 for ``alert`` (recorded as accepted before), for ``accounts`` (default:
        its strategy's routes): what the stream's signals and a schedule's firing go through."""
        started = self._clock.monotonic()
        now = self._clock.now()
        routed = self._settings.routed_accounts(alert.strategy) if accounts is None else accounts
        # Taken before the first wait, so in the order the signals were taken from the stream
        # (several are handled side by side: `engine.signal_concurrency`).
        turn = SignalTurn(self._deciding, self._publishing, routed)
        try:
            return await self._handle(alert, started, now, routed, turn)
        finally:
            turn.close()

    async def _handle(
        self, alert: Alert, started: float, now: datetime, routed: list[str], turn: SignalTurn
    ) -> Decision:
        cids = {a: client_order_id(alert.key, a) for a in routed}
        existing, queued = await asyncio.gather(
            self._stored_orders(list(cids.values())), self._stored_queue(list(cids.values()))
        )
        prior: list[Outcome] = []
        for account, cid in cids.items():
            if cid in existing:
                prior.append(Outcome(account, Verdict.ORDER, existing[cid]))
            elif cid in queued:
                prior.append(
                    Outcome(account, Verdict.QUEUED, None, ReasonCode.QUEUED, "queued before")
                )
        fresh = [a for a, cid in cids.items() if cid not in existing and cid not in queued]
        # An order recorded by an earlier pass goes out again only if no gateway has taken it.
        again = [
            o.order for o in prior if o.order is not None and o.order.status is OrderStatus.NEW
        ]
        if fresh and await self._decided(alert.key):
            # A second copy (the sweeper's, or a retry that reached the stream again) of a
            # signal whose decision is on record: the accounts without an order were refused
            # then, and are not decided again under today's figures.
            logger.info("signal decided before key=%s: not decided again", alert.key)
            await self._desk.publish(again)
            return Decision(alert, outcomes=tuple(prior))
        await self._desk.publish(again)
        if len(fresh) > 1:
            # Each account in its own lane: an account whose broker is slow to answer (up to
            # engine.account_timeout_s) holds up none of the others' orders.
            decision = _joined(
                alert, await asyncio.gather(*(self._act(alert, now, [a], turn) for a in fresh))
            )
        else:
            decision = await self._act(alert, now, fresh, turn) if fresh else Decision(alert)
        if prior:
            decision = Decision(
                alert, decision.instrument, decision.state, (*prior, *decision.outcomes)
            )
        status, reason, detail = decision.summary()
        # Side by side, so that the recorder's group commit takes both in one transaction.
        await asyncio.gather(
            self._desk.record_signal(alert, status, reason, detail, now),
            self._observe_price(decision),
        )
        self._metrics.decision_seconds(self._clock.monotonic() - started, status.value)
        if status is SignalStatus.REJECTED:
            await self._notices.notify(alert_rejected(alert, reason, detail, now))
        logger.info(
            "signal decided key=%s status=%s orders=%d queued=%d reason=%s",
            alert.key,
            status.value,
            len(decision.orders),
            len(decision.queued),
            reason,
        )
        return decision

    async def _act(
        self, alert: Alert, now: datetime, accounts: list[str], turn: SignalTurn
    ) -> Decision:
        """Decide ``alert`` for ``accounts``, queue what waits, record and publish the orders.

        One signal at a time per account decides (in stream order), and its orders are taken
        into the account's view before the next one decides: no two signals spend the same
        cash. Recording the orders and the signal is left to the recorder's group commit,
        shared with the signals decided meanwhile; an account's orders are published in the
        order of their signals."""
        await turn.decide(accounts)
        try:
            decision = await self._decide(alert, now, accounts)
            self._desk.reserve(decision.orders)
        finally:
            turn.decided(accounts)
        # The end of the decision (broker figures and book reads make up most of it), which
        # the execution report measures: one clock read, no write of its own.
        decided = self._clock.now()
        await self._enqueue(decision, now)
        sent = await self._desk.send(decision.orders, decided, reserved=True)
        failpoints.hit("engine.after_orders_recorded")
        await turn.publish(accounts)
        try:
            await self._desk.publish(sent)
        finally:
            turn.published(accounts)
        return decision

    async def _observe_price(self, decision: Decision) -> None:
        """The alert's price as its instrument's latest price seen (an instrument the catalog
        resolved; a repeat of a decided signal was recorded the first time)."""
        alert, instrument = decision.alert, decision.instrument
        if self._prices is None or instrument is None or alert.price is None:
            return
        try:
            await self._prices.observe(
                instrument.market,
                instrument.ticker,
                alert.price,
                alert.received_at,
                PriceSource.ALERT,
            )
        except Exception:  # a price is never worth a signal's handling
            logger.exception("alert price not recorded key=%s", alert.key)

    async def _decide(self, alert: Alert, now: datetime, accounts: list[str]) -> Decision:
        """Decided here on the active worker; on a standby, handed to the active worker."""
        standing = self._role.standing() if self._role is not None else Standing.ACTIVE
        if standing is Standing.TAKING_OVER:
            # Its brokers answer once the worker it replaces has stopped (seconds): the signal
            # waits for that rather than refuse every account as unavailable.
            raise NotActiveError(f"signal key={alert.key} waits: this worker is taking over")
        if standing is Standing.STANDBY:
            logger.info(
                "signal handed to the active worker key=%s accounts=%d", alert.key, len(accounts)
            )
            return self._decider.hand_over(alert, now, accounts)
        return await self._decider.decide(alert, now, accounts=accounts)

    async def _enqueue(self, decision: Decision, now: datetime) -> None:
        state, instrument = decision.state, decision.instrument
        for outcome in decision.queued:
            assert state is not None
            assert instrument
            if outcome.reason is ReasonCode.HANDED_OVER:
                # Released at once by the active worker; after the signal's age limit it is
                # stale there as it would be here.
                expires = decision.alert.received_at + timedelta(
                    seconds=self._settings.engine.max_signal_delay_s
                )
                await self._recorder.write(
                    QueueOrder(
                        decision.alert,
                        outcome.account,
                        instrument,
                        outcome.detail,
                        release_after=now,
                        expires_at=max(expires, now),
                        queued_at=now,
                        handed_over=True,
                    )
                )
                continue
            release_after, expires_at = self._decider.queue_times(state)
            # Through the recorder: during a database outage the row is journaled like the
            # other writes, and this signal does not hold up the ones behind it.
            await self._recorder.write(
                QueueOrder(
                    decision.alert,
                    outcome.account,
                    instrument,
                    outcome.detail,
                    release_after=release_after,
                    expires_at=expires_at,
                    queued_at=now,
                )
            )

    async def _stored_orders(self, cids: list[str]) -> dict[str, Order]:
        if not self._recorder.database_up:
            return {}  # the journal dedupes the orders of a repeated decision
        try:
            return await self._orders.get(cids)
        except DatabaseUnavailableError:
            return {}

    async def _decided(self, key: str) -> bool:
        """Whether the signal's decision is on record (beyond ``accepted``)."""
        if not self._recorder.database_up:
            return False
        try:
            row = (await self._signals.get([key])).get(key)
        except DatabaseUnavailableError:
            return False
        return row is not None and row["status"] != SignalStatus.ACCEPTED.value

    async def _stored_queue(self, cids: list[str]) -> dict[str, dict[str, object]]:
        if not self._recorder.database_up:
            return {}
        try:
            return await self._queued.get(cids)
        except DatabaseUnavailableError:
            return {}


def _joined(alert: Alert, parts: list[Decision]) -> Decision:
    """One decision of the per-account ones: a refusal of the whole signal (the same for every
    account: its instrument, its age) as it is, else every account's outcome."""
    first = parts[0]
    if first.reason is not None:
        return first
    outcomes = tuple(o for part in parts for o in part.outcomes)
    return Decision(alert, first.instrument, first.state, outcomes)


class SignalTurn:
    """One signal's turns, per account: to decide, then to publish its orders."""

    def __init__(self, deciding: Turns, publishing: Turns, accounts: list[str]) -> None:
        self._decide = deciding.take(accounts)
        self._publish = publishing.take(accounts)

    async def decide(self, accounts: list[str]) -> None:
        await self._decide.wait(accounts)

    def decided(self, accounts: list[str]) -> None:
        self._decide.end(accounts)

    async def publish(self, accounts: list[str]) -> None:
        await self._publish.wait(accounts)

    def published(self, accounts: list[str]) -> None:
        self._publish.end(accounts)

    def close(self) -> None:
        """Every turn not ended yet ended (a signal that stopped early, or failed)."""
        self._decide.end()
        self._publish.end()
