"""What every engine use case shares: deciding an alert (reads only) and recording its orders.

`Decider.decide` is the decision the signal handler, the queue release and an operator's order
all run (and `yquant simulate`): resolve the instrument through the catalog, the market's state
from its calendar, each routed account's cash and holdings from its view (`AccountViews`: read
from its broker when old, moved by the orders decided since; an account whose broker fails is
refused alone), the strategy's position and the day's losses from the book (the fills in the
database), the kill switch and the working orders from the database, then the pure decision
per account (the accounts side by side). `OrderDesk` records
the orders it makes (the intent, before any broker sees them), publishes them to the gateways
and records a signal's outcome.

During a database outage the decision uses what this process knew last: the book figures it
read (a position moved by the orders it made since), the losses it measured, the switches it
read; each such decision says so in the log. A strategy's position it never read is unknown:
its sells wait for the database (``database_unavailable``), never sized from the account.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from yquant.domain import market_rules
from yquant.domain.book import Book, FeeSchedule, LocalDay, PositionKey, build
from yquant.domain.commands import PlaceOrder
from yquant.domain.daily import DayMarks, day_result
from yquant.domain.decision import AccountFacts, AccountRules, Outcome, Verdict, decide
from yquant.domain.events import SignalDecided
from yquant.domain.intent import Move, row_of
from yquant.domain.liquidation import liquidation_of
from yquant.domain.market_rules import MarketCalendar, MarketState
from yquant.domain.model import (
    CURRENCY,
    Alert,
    Instrument,
    Market,
    Order,
    OrderStatus,
    Side,
    SignalStatus,
)
from yquant.domain.positions import PositionScope
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState, Limits, RiskFacts
from yquant.domain.sizing import Policy
from yquant.domain.writes import AdvanceSignal, InsertOrder
from yquant.errors import DatabaseUnavailableError, SignalRejectedError
from yquant.ports import (
    Activity,
    Broker,
    Bus,
    EngineState,
    FillHistory,
    Instruments,
    KillSwitch,
    Recorder,
    Written,
)
from yquant.services import routing
from yquant.services.accounts import AccountViews
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
            handed = all(o.reason is ReasonCode.HANDED_OVER for o in self.queued)
            return (
                SignalStatus.ORDERED,
                (ReasonCode.HANDED_OVER if handed else ReasonCode.QUEUED),
                detail,
            )
        first = others[0].reason if others else ReasonCode.NO_ACCOUNTS
        return SignalStatus.REJECTED, first, detail


class RecentOrders:
    """The orders this process made lately, and the book figures it read last: what the rate
    limit counts, and a strategy's position is taken from, while the database, which knows
    every worker's orders and fills, does not answer."""

    def __init__(self, size: int = 10_000) -> None:
        self._made: deque[tuple[int, Order]] = deque(maxlen=size)
        self._sequence = 0
        self._read: dict[PositionKey, tuple[Decimal, int]] = {}

    def add(self, order: Order) -> None:
        self._sequence += 1
        self._made.append((self._sequence, order))

    @property
    def sequence(self) -> int:
        """The number of the last order made (0: none yet)."""
        return self._sequence

    def made_since(self, account: str, sequence: int) -> list[Order] | None:
        """The orders made for ``account`` after order number ``sequence``; None when some of
        them are no longer kept."""
        if sequence < self._sequence and (not self._made or self._made[0][0] > sequence + 1):
            return None
        since = []
        for n, o in reversed(self._made):  # the newest first: a view is seconds old
            if n <= sequence:
                break
            if o.account == account:
                since.append(o)
        since.reverse()
        return since

    def count(self, account: str, since: datetime) -> int:
        return sum(1 for _, o in self._made if o.account == account and o.created_at >= since)

    def read(self, key: PositionKey, quantity: Decimal) -> None:
        """The book's figure for ``key`` as just read."""
        self._read[key] = (quantity, self._sequence)

    def position(self, key: PositionKey) -> Decimal | None:
        """The last figure read for ``key`` moved by the orders made here since (as if they
        filled: a sell made is never sold twice); None when never read."""
        known = self._read.get(key)
        if known is None:
            return None
        quantity, seen = known
        for sequence, o in self._made:
            if sequence > seen and (o.account, o.strategy, o.market, o.ticker) == key:
                quantity += o.quantity if o.side is Side.BUY else -o.quantity
        return quantity


class DayPrices:
    """The first and the last price this process saw of each instrument on a local day (the
    alerts' prices): the start mark where the catalog has no base price, and the price now of
    holdings other than the alerted one."""

    def __init__(self) -> None:
        self._seen: dict[tuple[Market, str], tuple[date, Decimal, Decimal]] = {}

    def see(self, market: Market, ticker: str, day: date, price: Decimal) -> None:
        known = self._seen.get((market, ticker))
        first = known[1] if known is not None and known[0] == day else price
        self._seen[(market, ticker)] = (day, first, price)

    def first_and_last(
        self, market: Market, ticker: str, day: date
    ) -> tuple[Decimal | None, Decimal | None]:
        known = self._seen.get((market, ticker))
        if known is None or known[0] != day:
            return None, None
        return known[1], known[2]


@dataclass(frozen=True, slots=True)
class BookFigures:
    """What the book says for one decision: the strategy's position in the instrument, and the
    day's losses (positive = lost) of the account and of the strategy; None: not known."""

    position: Decimal | None = None
    account_loss: Decimal | None = None
    strategy_loss: Decimal | None = None


class Decider:
    """Deciding an alert: reads only."""

    def __init__(
        self,
        *,
        settings: Settings,
        recorder: Recorder,
        instruments: Instruments,
        broker: Broker,
        kill_switch: KillSwitch,
        state: EngineState,
        fills: FillHistory,
        recent: RecentOrders,
        policies: dict[str, Policy] | None = None,
        fees: FeeSchedule | None = None,
        account_view_s: float | None = None,
    ) -> None:
        """``account_view_s``: how long an account's figures read from its broker are used
        (default ``engine.account_view_s``; 0: read at every decision, as an operator's order
        made outside the engine's process does, since that process's view cannot see the
        engine's orders)."""
        self._settings = settings
        self._recorder = recorder
        self._instruments = instruments
        engine = settings.engine
        self._accounts = AccountViews(
            broker,
            recent,
            view_s=engine.account_view_s if account_view_s is None else account_view_s,
            timeout_s=engine.account_timeout_s,
            retry_s=engine.account_retry_s,
        )
        self._kill = kill_switch
        self._state = state
        self._fills = fills
        self._fees = fees or FeeSchedule()
        self._local_day = LocalDay.of_markets()
        self._recent = recent
        self._policies = policies if policies is not None else routing.validate_sizing(settings)
        self._overrides = routing.calendar_overrides(settings)
        self._calendars: dict[market_rules.Venue, MarketCalendar] = {}
        self._prices = DayPrices()
        # The day's losses last measured, per (account, strategy or None, currency, day).
        self._losses: dict[tuple[str, str | None, str, date], Decimal] = {}

    def knows_account(self, account: str) -> bool:
        return account in self._settings.accounts

    def calendar(self, venue: market_rules.Venue) -> MarketCalendar:
        calendar = self._calendars.get(venue)
        if calendar is None:
            calendar = market_rules.calendar_for(venue, self._overrides)
            self._calendars[venue] = calendar
        return calendar

    def queue_times(self, state: MarketState) -> tuple[datetime, datetime]:
        """When an order queued in ``state`` (a closed market) is released, and by when it must
        be: the next open, and ``queue_window_min`` after it (before that session's close)."""
        assert state.next_open_at is not None
        release_after = state.next_open_at
        expires_at = release_after + timedelta(minutes=self._settings.engine.queue_window_min)
        session = self.calendar(state.venue).session(
            release_after.astimezone(state.venue.tz).date()
        )
        if session is not None:
            expires_at = min(expires_at, session.close_at)
        return release_after, expires_at

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
        refused = self._refused(alert, now, releasing=releasing)
        if refused.reason is not None:
            return refused
        instrument, state = refused.instrument, refused.state
        assert instrument is not None
        assert state is not None
        routed = self._settings.routed_accounts(alert.strategy) if accounts is None else accounts
        # A liquidation's sell: decided with the liquidation's rules (routing.liquidation_rules).
        liquidating = liquidation_of(alert.key) is not None
        # The switches are read for every decision; during an outage, the last ones read.
        states = await self._kill.refresh() if self._recorder.database_up else self._kill.known()
        currency = CURRENCY[instrument.market]
        if alert.price is not None and not releasing:
            # The price now of the alerted instrument (a queued alert's price is the day before's).
            today = now.astimezone(state.venue.tz).date()
            self._prices.see(instrument.market, instrument.ticker, today, alert.price)

        async def one(account: str) -> Outcome:
            rules = routing.rules_for(
                self._settings, alert.strategy, account, currency, self._policies
            )
            if liquidating:
                rules = routing.liquidation_rules(rules, self._policies)
            try:
                facts = await self._facts(account, alert, instrument, state, now, states, rules)
            except SignalRejectedError as exc:  # this account's broker: the others go on
                return Outcome(account, Verdict.REJECTED, None, exc.reason, exc.detail)
            return decide(
                alert,
                instrument,
                state if rules.follow_sessions else None,
                rules,
                facts,
                now,
                releasing=releasing,
            )

        # Each account on its own: one whose broker is slow to answer holds up none of the
        # others' facts (their database reads share the recorder's commits meanwhile).
        if len(routed) == 1:
            outcomes = [await one(routed[0])]
        else:
            outcomes = list(await asyncio.gather(*(one(a) for a in routed)))
        return Decision(alert, instrument, state, tuple(outcomes))

    def hand_over(self, alert: Alert, now: datetime, accounts: list[str]) -> Decision:
        """A standby worker's decision: what needs no broker is judged here (the instrument,
        the signal's age); each account's order is left to the active worker (`Verdict.QUEUED`
        with `ReasonCode.HANDED_OVER`: a queued order released at once)."""
        refused = self._refused(alert, now, releasing=False)
        if refused.reason is not None:
            return refused
        outcomes = tuple(
            Outcome(a, Verdict.QUEUED, None, ReasonCode.HANDED_OVER, "this worker is standby")
            for a in accounts
        )
        return Decision(alert, refused.instrument, refused.state, outcomes)

    def _refused(self, alert: Alert, now: datetime, *, releasing: bool) -> Decision:
        """The signal's instrument and market state, or its refusal (``reason`` set) before any
        account: an instrument the catalog does not resolve, a signal too old to act on."""
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
        return Decision(alert, instrument, state)

    async def _facts(
        self,
        account: str,
        alert: Alert,
        instrument: Instrument,
        state: MarketState,
        now: datetime,
        states: dict[str, KillState],
        rules: AccountRules,
    ) -> AccountFacts:
        """The account's figures for a decision: cash and holdings from its view, the
        strategy's position and the day's losses from the book, the working orders in the
        instrument from the database. What no rule reads is not asked for (a plain buy with no
        limit needs no database round trip)."""
        price = alert.limit_price if alert.limit_price is not None else alert.price
        limits = rules.limits
        move = row_of(alert).move
        strategy_scope = rules.position_scope is PositionScope.STRATEGY
        selling = move in (Move.CLOSE, Move.REDUCE) or rules.policy.follows_target
        wants_position = strategy_scope and (
            selling or move is Move.REVERSE or limits.same_direction_guard
        )
        wants_losses = (
            limits.max_daily_loss is not None or limits.max_strategy_daily_loss is not None
        )
        working = None
        if selling or _needs_activity(limits):
            activity = await self._activity(account, instrument, now)
            working = activity.working
        else:
            activity = Activity(0, ())
        figures = await self._accounts.figures(account, instrument, price, working)
        book = BookFigures()
        if wants_position or wants_losses:
            book = await self._book(
                account, alert.strategy, instrument, state, now, losses=wants_losses
            )
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
                daily_loss=book.account_loss,
                strategy_daily_loss=book.strategy_loss,
            ),
            base_price=instrument.base_price,
            position=book.position if wants_position else Decimal(0),
            working=activity.working,
        )

    async def _activity(self, account: str, instrument: Instrument, now: datetime) -> Activity:
        """Orders of the last minute and the working orders in the instrument. During an
        outage: the orders made here, and no working orders known."""
        since = now - timedelta(minutes=1)
        if self._recorder.database_up:
            try:
                return await self._state.activity(
                    account=account, ticker=instrument.ticker, since=since
                )
            except DatabaseUnavailableError:
                logger.warning("risk facts from memory: database unavailable account=%s", account)
        return Activity(self._recent.count(account, since), ())

    async def _book(
        self,
        account: str,
        strategy: str,
        instrument: Instrument,
        state: MarketState,
        now: datetime,
        *,
        losses: bool,
    ) -> BookFigures:
        """The strategy's position in the instrument and, with ``losses``, the day's losses,
        replayed from the fills (`yquant.domain.book`). During an outage: the figures this
        process read last, moved by the orders it made since."""
        market, ticker = instrument.market, instrument.ticker
        key = (account, strategy, market, ticker)
        today = now.astimezone(state.venue.tz).date()
        currency = CURRENCY[market]
        account_key = (account, None, currency, today)
        strategy_key = (account, strategy, currency, today)
        try:
            if not self._recorder.database_up:
                raise DatabaseUnavailableError("the recorder reports the database down")
            # The day's losses need every position of the market; a position, one instrument.
            fills = await self._fills.book_fills(
                account=account, market=market, ticker=None if losses else ticker
            )
        except DatabaseUnavailableError:
            position = self._recent.position(key)
            logger.warning(
                "book figures from memory: database unavailable account=%s strategy=%s"
                " ticker=%s position=%s",
                account,
                strategy,
                ticker,
                "unknown" if position is None else position,
            )
            return BookFigures(
                position, self._losses.get(account_key), self._losses.get(strategy_key)
            )
        day_start = datetime.combine(today, time(0), tzinfo=state.venue.tz)
        local_day = self._local_day
        book = build(fills, self._fees, local_day, since=day_start)
        position = book.held(account, strategy, market, ticker)
        self._recent.read(key, position)
        if not losses:
            return BookFigures(position)
        start = build([f for f in fills if f.filled_at < day_start], self._fees, local_day)
        marks = self._marks(book, instrument, today)
        result = day_result(book, start, marks, account=account, currency=currency)
        mine = day_result(book, start, marks, account=account, currency=currency, strategy=strategy)
        self._losses[account_key], self._losses[strategy_key] = -result, -mine
        return BookFigures(position, -result, -mine)

    def _marks(
        self, book: Book, instrument: Instrument, today: date
    ) -> dict[tuple[Market, str], DayMarks]:
        """Each instrument's start mark and price now (see `yquant.domain.daily`): the price
        now is the last seen today, the alert's for the alerted instrument."""
        marks = {}
        for _, _, market, ticker in {*book.positions, *book.realised_since}:
            if (market, ticker) in marks:
                continue
            first, last = self._prices.first_and_last(market, ticker, today)
            if (market, ticker) == (instrument.market, instrument.ticker):
                base = instrument.base_price
            else:
                base = self._base_price(market, ticker)
            marks[(market, ticker)] = DayMarks(start=base if base is not None else first, now=last)
        return marks

    def _base_price(self, market: Market, ticker: str) -> Decimal | None:
        """The catalog's base price of a held instrument (KRX: the day's base price)."""
        for listed in self._instruments.find(ticker):
            if listed.market != market.value:
                continue
            try:
                return self._instruments.resolve(market, listed.exchange, ticker).base_price
            except SignalRejectedError:
                return None  # halted or no longer tradable: no base price to trust
        return None


class OrderDesk:
    """Recording and publishing what a decision made, and a signal's outcome.

    ``held(strategy)``: whether the strategy's orders wait for a person's approval (recorded as
    ``awaiting_approval``, never published here: see yquant.services.approvals)."""

    def __init__(
        self,
        *,
        recorder: Recorder,
        bus: Bus,
        state: EngineState,
        recent: RecentOrders,
        worker: str,
        held: Callable[[str], bool] | None = None,
    ) -> None:
        self._recorder = recorder
        self._bus = bus
        self._state = state
        self._recent = recent
        self._held = held
        self.worker = worker

    def reserve(self, orders: list[Order]) -> None:
        """Take ``orders`` into the account views before they are recorded (`send` with
        ``reserved``): the next decision on the account sees them at once."""
        for order in orders:
            self._recent.add(order)

    async def send(
        self,
        orders: list[Order],
        decided: datetime | None = None,
        *,
        approval: bool = True,
        reserved: bool = False,
    ) -> list[Order]:
        """Record new orders (the intent, before any broker sees them); the ones to publish.

        ``decided``: when the decision that made them ended (their ``created_at`` is when it
        began): their first recorded step carries it, which the execution report measures.
        With ``approval`` (the engine's decisions; not the operator's own orders) an order of
        a strategy in manual approval is recorded as awaiting it."""
        out = []
        for made in orders:
            order = made
            if decided is not None:
                order = order.evolve(updated_at=decided)
            if approval and self._held is not None and self._held(order.strategy):
                order = order.awaiting_approval()
            written = await self._recorder.write(InsertOrder(order))
            if not reserved:
                self._recent.add(order)
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
        """Hand the orders to the gateway; an order awaiting approval is not sent: it goes once
        it is approved."""
        for order in orders:
            if order.status is OrderStatus.AWAITING_APPROVAL:
                logger.info(
                    "order awaiting approval cid=%s strategy=%s",
                    order.client_order_id,
                    order.strategy,
                )
                continue
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
    """Whether a limit depends on the orders of the last minute or the working orders."""
    return limits.max_orders_per_minute is not None or limits.same_direction_guard
