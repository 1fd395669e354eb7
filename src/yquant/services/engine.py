"""The engine's use case: an accepted signal becomes orders, queued orders, or a rejection.

`handle_signal`, as its steps:

1. read the alert; accounts for which this signal already has an order (a redelivered message)
   get that order published again, never a second decision;
2. `decide` (reads only, also what `yquant simulate` runs): resolve the instrument through the
   catalog, the market's state from its calendar, each routed account's figures from its broker,
   the kill switch and recent activity from the database, then the pure decision per account;
3. queue what waits for the next session (in the database both workers share), record and
   publish the orders;
4. record the signal's outcome (``ordered`` or ``rejected`` with its reason), announce it.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from yquant import failpoints
from yquant.adapters.bus import ORDERS, Bus, Entry
from yquant.adapters.db.engine_state import Activity, Baseline, SqlEngineState
from yquant.adapters.db.order_queue import QUEUED, SqlOrderQueue
from yquant.adapters.db.recorder import Recorder, Written
from yquant.domain import market_rules
from yquant.domain.decision import AccountFacts, Outcome, Verdict, decide
from yquant.domain.market_rules import MarketCalendar, MarketState
from yquant.domain.model import CURRENCY, Alert, Instrument, Order, SignalStatus, client_order_id
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState, Limits, RiskFacts
from yquant.domain.sizing import Policy
from yquant.errors import DatabaseUnavailableError, SignalRejectedError
from yquant.ports import Broker, Instruments
from yquant.services import routing
from yquant.services.accounts import BrokerAccountBook
from yquant.services.clock import Clock, SystemClock
from yquant.services.control import KillSwitchView
from yquant.services.records import (
    alert_from_message,
    alert_to_message,
    order_from_row,
    order_row,
    order_to_message,
    signal_row,
)
from yquant.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the engine makes of one alert: per-account outcomes, or one reason for all."""

    alert: Alert
    instrument: Instrument | None = None
    state: MarketState | None = None
    outcomes: tuple[Outcome, ...] = ()
    reason: str | None = None  # the whole signal was refused before any account
    detail: str = ""

    @property
    def orders(self) -> list[Order]:
        return [o.order for o in self.outcomes if o.order is not None]

    @property
    def queued(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict is Verdict.QUEUED]

    def summary(self) -> tuple[SignalStatus, str | None, str]:
        """(status, reason, detail) for the signal log."""
        if self.reason is not None:
            return SignalStatus.REJECTED, self.reason, self.detail
        others = [o for o in self.outcomes if o.verdict is not Verdict.ORDER]
        notes = [
            f"{o.account}: {o.reason or ''} {o.detail}".replace("  ", " ").strip()
            for o in self.outcomes
            if o.reason or o.detail
        ]
        detail = "; ".join(notes)
        if self.orders:
            return SignalStatus.ORDERED, None, detail
        if self.queued:
            return SignalStatus.ORDERED, ReasonCode.QUEUED, detail
        first = others[0].reason if others else ReasonCode.NO_ACCOUNTS
        return SignalStatus.REJECTED, first, detail


class Engine:
    def __init__(
        self,
        *,
        settings: Settings,
        recorder: Recorder,
        bus: Bus,
        instruments: Instruments,
        broker: Broker,
        clock: Clock | None = None,
        kill_switch: KillSwitchView | None = None,
        policies: dict[str, Policy] | None = None,
    ) -> None:
        self._settings = settings
        self._recorder = recorder
        self._bus = bus
        self._instruments = instruments
        self._book = BrokerAccountBook(broker)
        self.clock: Clock = clock or SystemClock()
        self._kill = kill_switch or KillSwitchView(
            recorder.store, settings.data_dir / "kill-switch.json"
        )
        self._policies = policies if policies is not None else routing.validate_sizing(settings)
        self._overrides = routing.calendar_overrides(settings)
        self._calendars: dict[market_rules.Venue, MarketCalendar] = {}
        self._state = SqlEngineState(recorder.store)
        self.queue = SqlOrderQueue(recorder.store)
        self._recent: deque[tuple[str, datetime]] = deque(maxlen=10_000)  # orders made here
        self._baselines: dict[tuple[str, str, date], Baseline] = {}  # (account, currency, day)

    @property
    def worker(self) -> str:
        return self._settings.worker.name

    def knows_account(self, account: str) -> bool:
        return account in self._settings.accounts

    # ---- the stream handler ------------------------------------------------------------------

    async def handle_signal(self, entry: Entry) -> None:
        alert = alert_from_message(entry.data)
        failpoints.hit("engine.after_consume")
        now = self.clock.now()
        cids = {
            a: client_order_id(alert.key, a) for a in self._settings.routed_accounts(alert.strategy)
        }
        existing = await self._stored_orders(list(cids.values()))
        queued = await self._stored_queue(list(cids.values()))
        prior: list[Outcome] = []
        for account, cid in cids.items():
            if cid in existing:
                prior.append(Outcome(account, Verdict.ORDER, order_from_row(existing[cid])))
            elif cid in queued:
                prior.append(
                    Outcome(account, Verdict.QUEUED, None, ReasonCode.QUEUED, "queued before")
                )
        fresh = [a for a, cid in cids.items() if cid not in existing and cid not in queued]
        # An order recorded by an earlier pass goes out again only if no gateway has taken it.
        again = [o.order for o in prior if o.order is not None and o.order.status.value == "new"]
        if fresh and await self._decided(alert.key):
            # A second copy (the sweeper's, or a retry that reached the stream again) of a
            # signal whose decision is on record: the accounts without an order were refused
            # then, and are not decided again under today's figures.
            logger.info("signal decided before key=%s: not decided again", alert.key)
            await self.publish(again)
            return
        decision = await self.decide(alert, now, accounts=fresh) if fresh else Decision(alert)
        await self._queue(decision, now)
        sent = await self.send(decision.orders)
        failpoints.hit("engine.after_orders_recorded")
        await self.publish(again + sent)
        if prior:
            decision = Decision(
                alert, decision.instrument, decision.state, (*prior, *decision.outcomes)
            )
        status, reason, detail = decision.summary()
        await self._record_signal(alert, status, reason, detail, now)
        logger.info(
            "signal decided key=%s status=%s orders=%d queued=%d reason=%s",
            alert.key,
            status.value,
            len(decision.orders),
            len(decision.queued),
            reason,
        )

    # ---- deciding (no writes) ------------------------------------------------------------------

    def locate(self, alert: Alert) -> tuple[Instrument, MarketCalendar]:
        """The catalog's instrument for the alert and its venue's calendar."""
        market_rules.venue_for(alert.exchange)
        instrument = self._instruments.resolve(alert.market, alert.exchange, alert.ticker)
        venue = market_rules.venue_for(instrument.exchange)
        calendar = self._calendars.get(venue)
        if calendar is None:
            calendar = market_rules.calendar_for(venue, self._overrides)
            self._calendars[venue] = calendar
        return instrument, calendar

    async def decide(
        self,
        alert: Alert,
        now: datetime,
        *,
        accounts: list[str] | None = None,
        releasing: bool = False,
    ) -> Decision:
        """What to do with ``alert`` at ``now``, for ``accounts`` (default: its routes)."""
        try:
            instrument, calendar = self.locate(alert)
        except SignalRejectedError as exc:
            return Decision(alert, None, None, reason=exc.reason, detail=exc.detail)
        state = calendar.state(now)
        age = (now - alert.received_at).total_seconds()
        if not releasing and age > self._settings.engine.max_signal_delay_s:
            return Decision(
                alert, instrument, state, reason=ReasonCode.STALE_SIGNAL, detail=f"{int(age)} s old"
            )
        routed = self._settings.routed_accounts(alert.strategy) if accounts is None else accounts
        # The switches are read for every decision; during an outage, the last ones read.
        states = await self._kill.refresh() if self._recorder.database_up else self._kill.known()
        currency = CURRENCY[instrument.market]
        outcomes = []
        for account in routed:
            rules = routing.rules_for(
                self._settings, alert.strategy, account, currency, self._policies
            )
            facts = await self._facts(
                account,
                alert,
                instrument,
                state,
                now,
                states,
                rules.limits,
                working=rules.policy.follows_target,
            )
            outcome = decide(
                alert,
                instrument,
                state if rules.follow_sessions else None,
                rules,
                facts,
                now,
                releasing=releasing,
            )
            outcomes.append(outcome)
        return Decision(alert, instrument, state, tuple(outcomes))

    async def _facts(
        self,
        account: str,
        alert: Alert,
        instrument: Instrument,
        state: MarketState,
        now: datetime,
        states: dict[str, KillState],
        limits: Limits,
        *,
        working: bool = False,
    ) -> AccountFacts:
        """The account's figures for a decision; ``working``: the working orders in the
        instrument are needed even when no limit reads them (trading toward a target)."""
        price = alert.limit_price if alert.limit_price is not None else alert.price
        figures = await self._book.figures(account, instrument, price)
        today = now.astimezone(state.venue.tz).date()
        day = (account, figures.currency, today)
        # The day's loss is measured on book equity (every holding at its average cost), the
        # same figure whichever instrument the alert names; the day's baseline is the first.
        book = Baseline(figures.cash, figures.cost_value)
        opening = self._baselines.get(day, book)
        if working or _needs_activity(limits):
            recording = opening if limits.max_daily_loss is not None else None
            activity = await self._activity(
                account, instrument, figures.currency, now, today, recording
            )
        else:
            # No limit reads the account's recent activity: no database round trip for it.
            activity = Activity(0, False, False, None)
        baseline = opening if activity.baseline is None else activity.baseline
        self._baselines[day] = baseline
        return AccountFacts(
            account=account,
            currency=figures.currency,
            cash=figures.cash,
            risk=RiskFacts(
                kill_state=self._kill.state_for(account, states),
                equity=figures.equity,
                held=figures.held,
                open_positions=figures.open_positions,
                orders_last_minute=activity.orders_last_minute,
                open_buy=activity.open_buy,
                open_sell=activity.open_sell,
                daily_loss=baseline.equity - book.equity,
            ),
            # The catalog knows KRX's base price of the day; the Instrument port may carry it.
            base_price=getattr(instrument, "base_price", None),
        )

    async def _activity(
        self,
        account: str,
        instrument: Instrument,
        currency: str,
        now: datetime,
        today: date,
        opening: Baseline | None,
    ) -> Activity:
        """Recent activity and the day's recorded baseline; with ``opening``, the day's first
        decision records it (one recorded first, by the other worker or before a restart, wins).
        During an outage: the orders made here, and no baseline (the caller's memory)."""
        since = now - timedelta(minutes=1)
        if self._recorder.database_up:
            try:
                activity = await self._state.activity(
                    account=account,
                    ticker=instrument.ticker,
                    since=since,
                    currency=currency,
                    today=today,
                )
                if activity.baseline is None and opening is not None:
                    baseline = await self._state.open_day(
                        account=account, currency=currency, day=today, baseline=opening, now=now
                    )
                    activity = Activity(
                        activity.orders_last_minute, activity.open_buy, activity.open_sell, baseline
                    )
            except DatabaseUnavailableError:
                logger.warning("risk facts from memory: database unavailable account=%s", account)
            else:
                return activity
        recent = sum(1 for a, at in self._recent if a == account and at >= since)
        return Activity(recent, False, False, None)

    # ---- writing -------------------------------------------------------------------------------

    async def send(self, orders: list[Order]) -> list[Order]:
        """Record new orders (the intent, before any broker sees them); the ones to publish."""
        out = []
        for order in orders:
            written = await self._recorder.write("order.insert", order_row(order))
            self._recent.append((order.account, order.created_at))
            if written is Written.UNCHANGED:
                # Another pass made this order first: what it recorded is what goes out.
                try:
                    stored = await self._recorder.store.order(order.client_order_id)
                except DatabaseUnavailableError:
                    stored = None
                if stored is not None:
                    out.append(order_from_row(stored))
                    continue
            out.append(order)
        return out

    async def publish(self, orders: list[Order]) -> None:
        for order in orders:
            await self._bus.publish(ORDERS, order_to_message(order))

    async def _queue(self, decision: Decision, now: datetime) -> None:
        state, instrument = decision.state, decision.instrument
        for outcome in decision.queued:
            assert state is not None
            assert state.next_open_at is not None
            assert instrument
            release_after = state.next_open_at
            expires_at = release_after + timedelta(minutes=self._settings.engine.queue_window_min)
            calendar = self._calendars[state.venue]
            session = calendar.session(release_after.astimezone(state.venue.tz).date())
            if session is not None:
                expires_at = min(expires_at, session.close_at)
            alert = decision.alert
            # Through the recorder: during a database outage the row is journaled like the
            # other writes, and this signal does not hold up the ones behind it.
            await self._recorder.write(
                "queue.insert",
                {
                    "client_order_id": client_order_id(alert.key, outcome.account),
                    "signal_key": alert.key,
                    "account": outcome.account,
                    "strategy": alert.strategy[:200],
                    "market": instrument.market.value,
                    "exchange": instrument.exchange,
                    "ticker": instrument.ticker,
                    "alert": json.dumps(alert_to_message(alert), separators=(",", ":")),
                    "state": QUEUED,
                    "reason": None,
                    "detail": outcome.detail[:300] or None,
                    "release_after": release_after,
                    "expires_at": expires_at,
                    "queued_at": now,
                    "updated_at": now,
                },
            )

    async def settle_signal(self, alert: Alert, now: datetime) -> None:
        """After a release: the signal's final status once none of its queued orders waits."""
        rows = await self.queue.for_signal(alert.key)
        if any(r["state"] in ("queued", "releasing") for r in rows):
            return
        orders = await self._state.orders_for_signal(alert.key)
        left = [r for r in rows if r["state"] != "released"]
        detail = "; ".join(
            f"{r['account']}: {r['reason']} {r['detail'] or ''}".strip() for r in left
        )
        if orders:
            await self._record_signal(alert, SignalStatus.ORDERED, None, detail, now)
        else:
            reason = left[0]["reason"] if left else ReasonCode.NO_ACCOUNTS
            await self._record_signal(alert, SignalStatus.REJECTED, reason, detail, now)

    async def _record_signal(
        self,
        alert: Alert,
        status: SignalStatus,
        reason: str | None,
        detail: str,
        now: datetime,
    ) -> None:
        await self._recorder.write(
            "signal.advance",
            signal_row(
                key=alert.key,
                worker=self.worker,
                status=status,
                received_at=alert.received_at,
                updated_at=now,
                alert=alert,
                reason=reason,
                detail=detail or None,
            ),
        )
        await self._bus.announce({"type": "signal", "key": alert.key, "status": status.value})

    async def _stored_orders(self, cids: list[str]) -> dict[str, dict[str, object]]:
        if not self._recorder.database_up:
            return {}  # the journal dedupes the orders of a repeated decision
        try:
            return await self._state.orders(cids)
        except DatabaseUnavailableError:
            return {}

    async def _decided(self, key: str) -> bool:
        """Whether the signal's decision is on record (beyond ``accepted``)."""
        if not self._recorder.database_up:
            return False
        try:
            row = await self._state.signal(key)
        except DatabaseUnavailableError:
            return False
        return row is not None and row["status"] != SignalStatus.ACCEPTED.value

    async def _stored_queue(self, cids: list[str]) -> dict[str, dict[str, object]]:
        if not self._recorder.database_up:
            return {}
        try:
            return await self.queue.existing(cids)
        except DatabaseUnavailableError:
            return {}

    async def stored_order(self, cid: str) -> Order | None:
        row = (await self._state.orders([cid])).get(cid)
        return None if row is None else order_from_row(row)


def _needs_activity(limits: Limits) -> bool:
    """Whether a limit depends on the orders of the last minute, open orders or the day's loss."""
    return (
        limits.max_orders_per_minute is not None
        or limits.max_daily_loss is not None
        or limits.same_direction_guard
    )
