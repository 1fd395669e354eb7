"""What every engine use case shares: deciding an alert (reads only) and recording its orders.

`Decider.decide` is the decision the signal handler, the queue release and an operator's order
all run (and `yquant simulate`): resolve the instrument through the catalog, the market's state
from its calendar, each routed account's figures from its broker, the kill switch and recent
activity from the database, then the pure decision per account. `OrderDesk` records the orders
it makes (the intent, before any broker sees them), publishes them to the gateways and records a
signal's outcome.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from yquant.domain import market_rules
from yquant.domain.commands import PlaceOrder
from yquant.domain.decision import AccountFacts, Outcome, Verdict, decide
from yquant.domain.events import SignalDecided
from yquant.domain.market_rules import MarketCalendar, MarketState
from yquant.domain.model import CURRENCY, Alert, Instrument, Order, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState, Limits, RiskFacts
from yquant.domain.sizing import Policy
from yquant.domain.writes import AdvanceSignal, InsertOrder
from yquant.errors import DatabaseUnavailableError, SignalRejectedError
from yquant.ports import (
    Activity,
    Baseline,
    Broker,
    Bus,
    EngineState,
    Instruments,
    KillSwitch,
    Recorder,
    Written,
)
from yquant.services import routing
from yquant.services.accounts import BrokerAccountBook
from yquant.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the engine makes of one alert: per-account outcomes, or one reason for all."""

    alert: Alert
    instrument: Instrument | None = None
    state: MarketState | None = None
    outcomes: tuple[Outcome, ...] = ()
    reason: ReasonCode | None = None  # the whole signal was refused before any account
    detail: str = ""

    @property
    def orders(self) -> list[Order]:
        return [o.order for o in self.outcomes if o.order is not None]

    @property
    def queued(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict is Verdict.QUEUED]

    def summary(self) -> tuple[SignalStatus, ReasonCode | None, str]:
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


class RecentOrders:
    """The orders this process made lately: what the rate limit counts while the database,
    which knows every worker's orders, does not answer."""

    def __init__(self, size: int = 10_000) -> None:
        self._made: deque[tuple[str, datetime]] = deque(maxlen=size)

    def add(self, account: str, at: datetime) -> None:
        self._made.append((account, at))

    def count(self, account: str, since: datetime) -> int:
        return sum(1 for a, at in self._made if a == account and at >= since)


class Decider:
    """Deciding an alert: reads only (the day's baseline of a risk limit aside)."""

    def __init__(
        self,
        *,
        settings: Settings,
        recorder: Recorder,
        instruments: Instruments,
        broker: Broker,
        kill_switch: KillSwitch,
        state: EngineState,
        recent: RecentOrders,
        policies: dict[str, Policy] | None = None,
    ) -> None:
        self._settings = settings
        self._recorder = recorder
        self._instruments = instruments
        self._book = BrokerAccountBook(broker)
        self._kill = kill_switch
        self._state = state
        self._recent = recent
        self._policies = policies if policies is not None else routing.validate_sizing(settings)
        self._overrides = routing.calendar_overrides(settings)
        self._calendars: dict[market_rules.Venue, MarketCalendar] = {}
        self._baselines: dict[tuple[str, str, date], Baseline] = {}  # (account, currency, day)

    def knows_account(self, account: str) -> bool:
        return account in self._settings.accounts

    def calendar(self, venue: market_rules.Venue) -> MarketCalendar:
        calendar = self._calendars.get(venue)
        if calendar is None:
            calendar = market_rules.calendar_for(venue, self._overrides)
            self._calendars[venue] = calendar
        return calendar

    def locate(self, alert: Alert) -> tuple[Instrument, MarketCalendar]:
        """The catalog's instrument for the alert and its venue's calendar."""
        # Not for its value: an exchange name we do not know is refused as such (UNKNOWN_EXCHANGE)
        # before the catalog is asked, which would only say it knows no such ticker.
        market_rules.venue_for(alert.exchange)
        instrument = self._instruments.resolve(alert.market, alert.exchange, alert.ticker)
        return instrument, self.calendar(market_rules.venue_for(instrument.exchange))

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
            base_price=instrument.base_price,
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
        return Activity(self._recent.count(account, since), False, False, None)


class OrderDesk:
    """Recording and publishing what a decision made, and a signal's outcome."""

    def __init__(
        self,
        *,
        recorder: Recorder,
        bus: Bus,
        state: EngineState,
        recent: RecentOrders,
        worker: str,
    ) -> None:
        self._recorder = recorder
        self._bus = bus
        self._state = state
        self._recent = recent
        self.worker = worker

    async def send(self, orders: list[Order]) -> list[Order]:
        """Record new orders (the intent, before any broker sees them); the ones to publish."""
        out = []
        for order in orders:
            written = await self._recorder.write(InsertOrder(order))
            self._recent.add(order.account, order.created_at)
            if written is Written.UNCHANGED:
                # Another pass made this order first: what it recorded is what goes out.
                try:
                    stored = await self._recorder.stored_order(order.client_order_id)
                except DatabaseUnavailableError:
                    stored = None
                if stored is not None:
                    out.append(stored)
                    continue
            out.append(order)
        return out

    async def publish(self, orders: list[Order]) -> None:
        for order in orders:
            await self._bus.send(PlaceOrder(order))

    async def record_signal(
        self,
        alert: Alert,
        status: SignalStatus,
        reason: ReasonCode | None,
        detail: str,
        now: datetime,
    ) -> None:
        await self._recorder.write(
            AdvanceSignal(
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
        await self._bus.announce(SignalDecided(alert.key, status))

    async def stored_order(self, cid: str) -> Order | None:
        return (await self._state.orders([cid])).get(cid)


def _needs_activity(limits: Limits) -> bool:
    """Whether a limit depends on the orders of the last minute, open orders or the day's loss."""
    return (
        limits.max_orders_per_minute is not None
        or limits.max_daily_loss is not None
        or limits.same_direction_guard
    )
