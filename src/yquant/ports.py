"""The narrow interfaces the services depend on; adapters implement them.

Services import these and the domain, never an adapter: the composition root
(`yquant.bootstrap`) hands each service the adapters that implement its ports, and tests hand it
hand-written fakes. The values that cross a port (stream names, queue states, what a write did,
a stream entry) are defined here so that both sides share one spelling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from yquant.domain.book import BookFill
from yquant.domain.book import Holding as Holding
from yquant.domain.commands import Command
from yquant.domain.events import CancelAnswered, LiveEvent, OrderFilled

# BrokerOrder (the broker's report on one order) is a domain value: Order.apply takes it.
from yquant.domain.model import BrokerOrder, Instrument, Market, Order
from yquant.domain.notices import Notice, Rendered
from yquant.domain.positions import WorkingOrder
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState
from yquant.domain.schedules import RunStatus, ScheduledOrder
from yquant.domain.snapshots import AccountDay
from yquant.domain.writes import Write

# ---- time ----------------------------------------------------------------------------------


class Clock(Protocol):
    """Time as a dependency: services ask a clock, so tests can stand at any instant."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for deadlines and intervals."""
        ...


# ---- the bus (a worker's local Valkey) -----------------------------------------------------

SIGNALS = "yq:signals"
NOTICES = "yq:notices"  # notices for the notifier (orders, alerts, the system): domain/notices.py
ORDERS = "yq:orders"
CANCELS = "yq:cancels"
EXECUTIONS = "yq:executions"

Message = Command | OrderFilled
"""What travels on the streams: commands to a role, and the executions."""

M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class Entry:
    stream: str
    entry_id: str
    data: dict[str, Any]
    redelivered: bool  # read back from the pending list: it may have been handled already
    message: Message | None = None  # decoded, on the streams that carry typed messages

    def message_as(self, kind: type[M]) -> M:
        """The entry's message, which must be a ``kind`` (TypeError, which dead-letters the
        entry, when it is not)."""
        if not isinstance(self.message, kind):
            raise TypeError(f"{self.stream} entry {self.entry_id} is not a {kind.__name__}")
        return self.message


Handler = Callable[[Entry], Awaitable[None]]


class Bus(Protocol):
    """Streams on the order path, live events, heartbeats and the gateway's send claims.
    Every method raises BusUnavailableError (never a client library's error) when the bus is
    away, except `announce`, which is best effort."""

    async def send(self, message: Message) -> None:
        """Append ``message`` to its stream."""
        ...

    async def send_many(self, batch: Sequence[Message], *, event: LiveEvent | None = None) -> None:
        """Append messages of one stream in order (and with ``event``, announce them once)."""
        ...

    async def announce(self, event: LiveEvent) -> None: ...

    async def heartbeats(self, roles: list[str]) -> dict[str, dict[str, Any] | None]: ...

    async def claim_send(self, key: str, owner: str, ttl_s: int) -> bool:
        """Take ``key`` for ``owner`` unless somebody took it before; True if taken now."""
        ...

    async def remember(self, key: str, value: str, ttl_s: int) -> str:
        """Keep ``value`` under ``key`` for ``ttl_s`` unless a value is kept there already;
        the value kept is returned (the first one written wins, across restarts)."""
        ...

    async def answer(self, answer: CancelAnswered, ttl_s: int) -> None:
        """Leave ``answer`` for whoever waits on its request id (the first answer to a request
        stands: a cancel handled again after a restart does not overwrite it)."""
        ...

    async def answered(self, request_id: str) -> CancelAnswered | None:
        """The answer left for ``request_id``, if any yet."""
        ...

    async def claimed(self, key: str) -> str | None:
        """The owner of a claim taken with `claim_send`, or None."""
        ...

    async def consume(
        self,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        stop: asyncio.Event,
        *,
        lane: Callable[[Message], str] | None = None,
        concurrency: int = 1,
    ) -> None:
        """Handle every entry of ``stream`` until ``stop``; with ``lane``, the entries of
        different lanes side by side, each lane's in order; with ``concurrency``, up to that
        many entries side by side, each started in stream order."""
        ...


# ---- the system of record ------------------------------------------------------------------


class Written(StrEnum):
    STORED = "stored"  # the database has it (new or moved forward)
    UNCHANGED = "unchanged"  # the database already had it (duplicate or older)
    JOURNALED = "journaled"  # on local disk, to be replayed


class Recorder(Protocol):
    """Writes that survive a database outage (journaled meanwhile), and the few reads the
    order path needs by key. ``database_up``: whether the last call reached the database."""

    database_up: bool

    async def write(self, write: Write) -> Written:
        """Raises JournalUnavailableError when neither the database nor the journal took it."""
        ...

    async def order(self, client_order_id: str) -> dict[str, Any] | None: ...

    async def rehearse(self, writes: list[Write]) -> None:
        """Run ``writes`` and undo them, so that the first real writes of their kinds pay no
        one-time cost (each statement is compiled at its first use); never raises for a
        database away."""
        ...

    async def stored_order(self, client_order_id: str) -> Order | None:
        """The order as the database holds it, or None when it holds no such order."""
        ...

    async def signals_waiting(self, worker: str, before: datetime) -> list[dict[str, Any]]: ...

    def waiting(self) -> int:
        """Writes of this process waiting in its journal for the database (0: none)."""
        ...


@dataclass(frozen=True, slots=True)
class Activity:
    orders_last_minute: int
    working: tuple[WorkingOrder, ...]  # the account's orders in the instrument not final yet


class EngineState(Protocol):
    """What the engine reads from the system of record to decide (DatabaseUnavailableError
    when the database does not answer)."""

    async def activity(self, *, account: str, ticker: str, since: datetime) -> Activity:
        """Orders of ``account`` created since ``since``, and its working orders in
        ``ticker`` (every strategy's)."""
        ...

    async def orders(self, client_order_ids: list[str]) -> dict[str, Order]: ...

    async def signal(self, signal_key: str) -> dict[str, Any] | None: ...

    async def signals(self, signal_keys: list[str]) -> dict[str, dict[str, Any]]:
        """The rows of those of ``signal_keys`` on record (one query for many signals)."""
        ...

    async def orders_for_signal(self, signal_key: str) -> list[dict[str, Any]]: ...


# The states of a queued order (an order waiting for its market's next session).
QUEUED = "queued"
RELEASING = "releasing"
RELEASED = "released"
REJECTED = "rejected"
EXPIRED = "expired"
CANCELLED = "cancelled"
PENDING = (QUEUED, RELEASING)


class OrderQueue(Protocol):
    """Orders waiting for the next session, released by exactly one claimer."""

    async def due(
        self, now: datetime, lease_s: float, limit: int = 100
    ) -> list[dict[str, Any]]: ...

    async def claim(
        self, row: dict[str, Any], token: str, epoch: int, now: datetime, lease_s: float
    ) -> bool: ...

    async def finish(
        self,
        row_id: int,
        token: str,
        state: str,
        reason: ReasonCode | None,
        detail: str,
        now: datetime,
    ) -> bool: ...

    async def reschedule(
        self, row_id: int, release_after: datetime, expires_at: datetime, now: datetime
    ) -> bool: ...

    async def expire(self, row_id: int, reason: ReasonCode, detail: str, now: datetime) -> bool: ...

    async def requeue(
        self, row_id: int, token: str, release_after: datetime, expires_at: datetime, now: datetime
    ) -> bool:
        """A claimed row back to ``queued`` for a later session (its claimer only)."""
        ...

    async def for_signal(self, signal_key: str) -> list[dict[str, Any]]: ...

    async def existing(self, client_order_ids: list[str]) -> dict[str, dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class SwitchRecord:
    scope: str  # "global" or an account name
    state: str  # active | reduce_only | halted
    reason: str | None
    actor: str
    updated_at: datetime


class SwitchRecords(Protocol):
    """The stored kill switches and their audit log."""

    async def switches(self) -> dict[str, SwitchRecord]: ...

    async def set_switch(
        self, scope: str, state: str, *, actor: str, reason: str, now: datetime
    ) -> str: ...

    async def audit(self, limit: int = 50) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class LiquidationRecord:
    """One liquidation as stored: ``detail`` is its plan and outcomes (JSON-ready)."""

    id: str
    requested_by: str
    source: str
    requested_at: datetime
    filters: dict[str, Any]
    at_open: bool
    status: str
    reason: str | None
    detail: dict[str, Any]
    updated_at: datetime


class LiquidationRecords(Protocol):
    """The liquidations in the database both workers share."""

    async def add(self, record: LiquidationRecord) -> None: ...

    async def finish(
        self,
        liquidation_id: str,
        *,
        status: str,
        reason: str | None,
        detail: dict[str, Any],
        now: datetime,
    ) -> None: ...

    async def get(self, liquidation_id: str) -> LiquidationRecord | None: ...

    async def recent(self, limit: int = 20) -> list[LiquidationRecord]: ...

    async def order_ids(self, liquidation_id: str) -> list[str]:
        """The client order ids of the orders that carry ``liquidation_id``."""
        ...


class KillSwitch(Protocol):
    """The switches as a decision reads them: fresh, or the last known during an outage."""

    async def refresh(self) -> dict[str, KillState]: ...

    def known(self) -> dict[str, KillState]: ...

    def state_for(self, account: str, states: dict[str, KillState] | None = None) -> KillState: ...


class DeploymentRoles(Protocol):
    async def active(self) -> tuple[str, int] | None:
        """(active worker, epoch) as recorded, or None when no deployment row exists."""
        ...


class WorkerRecords(DeploymentRoles, Protocol):
    """What a worker loads at start: the active role and the accounts."""

    async def accounts(self) -> list[dict[str, Any]]: ...

    async def register_account(self, name: str, broker: str, now: datetime) -> None: ...


class RecentRows(Protocol):
    """The latest rows of a recorded table (signals, orders, fills), newest first: what the
    CLI's and the dashboard's listings read."""

    async def recent(self, table_name: str, limit: int) -> list[dict[str, Any]]: ...


class AccountBook(Protocol):
    """Positions, cash and open orders per account in the system of record."""

    async def replace_positions(
        self, account: str, holdings: list[Holding], now: datetime
    ) -> None: ...

    async def replace_cash(self, account: str, cash: dict[str, Decimal], now: datetime) -> None: ...

    async def orders_in_flight(self) -> list[tuple[Order, str | None]]:
        """Orders not yet final, each with the worker that received its signal."""
        ...

    async def filled_as_of(self, client_order_id: str, at: datetime) -> Decimal:
        """The filled quantity of one order as recorded at ``at`` (its recorded steps): what
        a decision made then saw of it."""
        ...


class WorkingOrders(Protocol):
    """The recorded orders an operator can cancel (DatabaseUnavailableError when the database
    is away)."""

    async def find_order(self, ref: str) -> Order | None:
        """The order whose client order id, or else broker order id, is ``ref``."""
        ...

    async def working_orders(
        self,
        *,
        account: str | None = None,
        strategy: str | None = None,
        ticker: str | None = None,
    ) -> list[Order]:
        """Orders not yet final that match every filter given, oldest first."""
        ...


class ApprovalRecords(Protocol):
    """Orders held for manual approval in the system of record, and their decisions
    (DatabaseUnavailableError when the database is away)."""

    async def order(self, client_order_id: str) -> Order | None: ...

    async def awaiting(self) -> list[Order]:
        """Orders awaiting approval, oldest first."""
        ...

    async def settle(
        self, before: Order, after: Order, *, actor: str, detail: dict[str, Any]
    ) -> bool:
        """Record ``after`` (approved or rejected) if the order is still awaiting approval, with
        its audit entry in the same transaction: True for the one decision that wins."""
        ...

    async def approved_unsent(self, since: datetime, before: datetime) -> list[Order]:
        """Orders approved between ``since`` and ``before`` that no gateway has taken yet."""
        ...


@dataclass(frozen=True, slots=True)
class Prompt:
    """A question with Approve / Reject buttons as one chat received it."""

    chat_id: str
    message_id: int


@dataclass(frozen=True, slots=True)
class Press:
    """A person pressed a button of a prompt (``data``: the button's)."""

    query_id: str
    user_id: int
    data: str
    prompt: Prompt | None


class ApprovalChannel(Protocol):
    """Where approvals are asked for and answered (Telegram: a bot, its chats, long polling).
    Failures raise RetryableError (try again later) or RejectedError (the channel refused)."""

    async def ask(self, text: str, buttons: Sequence[tuple[str, str]]) -> list[Prompt]:
        """Send ``text`` with buttons (label, data) to every chat; the prompts made."""
        ...

    async def settle(self, prompt: Prompt, text: str) -> None:
        """Replace the prompt's text with ``text`` and take its buttons away."""
        ...

    async def presses(self, timeout_s: int) -> list[Press]:
        """The presses since the last call, waiting up to ``timeout_s`` for one."""
        ...

    async def answer(self, press: Press, text: str) -> None:
        """Tell the person who pressed what came of it."""
        ...


class PriceSource(StrEnum):
    QUOTE = "quote"  # the broker's quotation (KIS)
    ALERT = "alert"  # the price an alert carried
    FILL = "fill"  # the price of a fill
    CATALOG = "catalog"  # the catalog's base price (KRX: the day's base, the previous close)


@dataclass(frozen=True, slots=True)
class Mark:
    """A price of one instrument, with when and where it was seen."""

    price: Decimal
    at: datetime
    source: PriceSource

    def age_s(self, now: datetime) -> float:
        return (now - self.at).total_seconds()


class Prices(Protocol):
    """The current price of an instrument (the quote port): the broker's quotation where a
    KIS account exists, else the latest price seen (an alert's, a fill's), else the catalog's
    base price; None when nothing is known."""

    async def warm_up(self) -> None:
        """Its first writes rehearsed before the first price comes (a database away is left
        for later)."""
        ...

    async def mark(self, market: Market, exchange: str, ticker: str) -> Mark | None: ...

    async def marks(
        self, instruments: Sequence[tuple[Market, str, str]]
    ) -> dict[tuple[Market, str], Mark]:
        """`mark` of each (market, exchange, ticker), by (market, ticker); the ones without a
        price are left out. One read of the stored prices for them all."""
        ...

    async def observe(
        self, market: Market, ticker: str, price: Decimal, at: datetime, source: PriceSource
    ) -> None:
        """Remember a price seen (kept only if newer than the one known)."""
        ...

    async def before_today(
        self, instruments: Sequence[tuple[Market, str, str]]
    ) -> dict[tuple[Market, str], Mark]:
        """Per (market, exchange, ticker), the price it had before its market's day began
        (what the day's P&L is counted from), by (market, ticker); left out when unknown."""
        ...


class LastPrices(Protocol):
    """The latest price seen per instrument in the system of record (``last_prices``).
    DatabaseUnavailableError when the database is away."""

    async def last(self, keys: Sequence[tuple[Market, str]]) -> dict[tuple[Market, str], Mark]:
        """The stored price of each (market, ticker) that has one."""
        ...

    async def record(self, marks: Sequence[tuple[Market, str, Mark]]) -> None:
        """Store prices seen, each only where it is newer than the stored one."""
        ...


class PriceHistory(Protocol):
    """A compact price history (``price_history``): per instrument, one price per bucket of
    time (the first seen in it). DatabaseUnavailableError when the database is away."""

    async def sample(self, samples: Sequence[tuple[Market, str, datetime, Mark]]) -> None:
        """Store (market, ticker, bucket start, price seen) rows; a bucket already stored is
        kept as it is."""
        ...

    async def rehearse(self) -> None:
        """Store a sample and undo it, so that the first real one pays no one-time cost."""
        ...

    async def series(
        self, market: Market, ticker: str, since: datetime, limit: int = 2000
    ) -> list[Mark]:
        """The samples of one instrument from ``since`` on, oldest first (at most ``limit``,
        the newest)."""
        ...

    async def before(
        self, keys: Sequence[tuple[Market, str]], starts: Mapping[Market, datetime]
    ) -> dict[tuple[Market, str], Mark]:
        """Per instrument, the latest sample seen before its market's ``starts``."""
        ...


@dataclass(frozen=True, slots=True)
class FxRate:
    """How many units of ``quote`` one unit of ``base`` buys (USD/KRW 1385.2: one dollar is
    1,385.2 won), with when and where the rate was had (``kis``: an account's balance
    inquiry; ``config``: the operator's ``fx.usdkrw``)."""

    base: str
    quote: str
    rate: Decimal
    at: datetime
    source: str

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"

    def age_s(self, now: datetime) -> float:
        return (now - self.at).total_seconds()


class FxRates(Protocol):
    """The exchange rates per currency pair a broker gave, in the system of record
    (``fx_rates``, one row per run of an unchanged rate). DatabaseUnavailableError when the
    database is away."""

    async def latest(self, base: str, quote: str) -> FxRate | None:
        """The rate seen last, at the time it was seen last."""
        ...

    async def as_of(self, base: str, quote: str, at: datetime) -> FxRate | None:
        """The rate recorded at or before ``at`` (its latest sighting by then); None when
        none was recorded by then."""
        ...

    async def record(self, rate: FxRate, *, since: datetime | None = None) -> None:
        """Store ``rate`` as a run of its own, or, with ``since`` (the first sighting of the
        same rate, recorded before), as that run seen again at ``rate.at``; a run's time only
        moves forward."""
        ...


class SyncedHoldings(Protocol):
    """What each broker held at the last account sync (the ``positions`` table)."""

    async def synced_holdings(self, account: str) -> tuple[list[Holding], datetime | None]:
        """The account's holdings and when they were synced (None: no holding on record)."""
        ...


class FillHistory(Protocol):
    """The fills in the system of record, each with the strategy of its order: what the book
    (`yquant.domain.book.build`) is replayed from. DatabaseUnavailableError when it is away."""

    async def book_fills(
        self,
        *,
        account: str | None = None,
        strategy: str | None = None,
        market: Market | None = None,
        ticker: str | None = None,
    ) -> list[BookFill]:
        """Matching fills, oldest first."""
        ...


class SnapshotRecords(Protocol):
    """The daily snapshots (`yquant.domain.snapshots`). DatabaseUnavailableError when away."""

    async def save(self, snapshot: AccountDay) -> None:
        """Store ``snapshot`` and its strategy rows in place of any of its (account, day,
        currency), in one transaction."""
        ...

    async def get(self, account: str, currency: str, day: date) -> AccountDay | None: ...

    async def latest_before(self, account: str, currency: str, day: date) -> AccountDay | None:
        """The account's latest snapshot in ``currency`` of a day before ``day``."""
        ...

    async def days(
        self, *, account: str | None = None, since: date | None = None, until: date | None = None
    ) -> list[AccountDay]:
        """Snapshots (with their strategy rows) of ``account`` (or every account) from
        ``since`` to ``until`` (both included), by day, account and currency."""
        ...


# ---- the dashboard's users -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A dashboard user as stored: the password only as its hash."""

    name: str
    password_hash: str
    session_epoch: int  # in every session cookie; raised to end the user's sessions
    failed_logins: int  # consecutive failed sign-ins since the last success or lock
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class UserRecords(Protocol):
    """The stored users. Every change of a user is written with its audit entry (who, when,
    what) in one transaction. DatabaseUnavailableError when the database is away."""

    async def get(self, name: str) -> UserRecord | None: ...

    async def all(self) -> list[UserRecord]: ...

    async def add(
        self, name: str, password_hash: str, *, actor: str, now: datetime, replace: bool
    ) -> bool:
        """Store a new user (or, with ``replace``, a new password for an existing one, which
        ends its sessions); False when the name is taken and ``replace`` is not given."""
        ...

    async def remove(self, name: str, *, actor: str, now: datetime) -> bool: ...

    async def failed(
        self, name: str, *, source: str, now: datetime, max_failures: int, lock_for: timedelta
    ) -> UserRecord | None:
        """Count a failed sign-in; the ``max_failures``-th in a row locks the user for
        ``lock_for`` (with an audit entry). The user afterwards, None if there is none."""
        ...

    async def succeeded(self, name: str, *, now: datetime, password_hash: str | None) -> None:
        """A sign-in that passed: failures forgotten (and the hash renewed when given)."""
        ...

    async def end_sessions(self, name: str, *, now: datetime) -> None: ...

    async def note_lockout(
        self, name: str, *, source: str, until: datetime, failures: int, now: datetime
    ) -> None:
        """Audit a lockout of a name that is no user (sign-ins under it fail the same way)."""
        ...


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """One schedule's firing on one session date, as recorded."""

    schedule_id: int
    schedule_name: str
    session_date: date
    due_at: datetime
    status: RunStatus
    worker: str
    claimed_at: datetime
    updated_at: datetime
    reason: str | None = None
    detail: str | None = None
    signal_key: str | None = None
    orders: tuple[str, ...] = ()
    epoch: int | None = None


class ScheduleRecords(Protocol):
    """The schedules and their runs in the system of record. A change of a schedule is written
    with its audit entry in one transaction; `claim` is the exactly-once step."""

    async def all(self) -> list[ScheduledOrder]: ...

    async def get(self, name: str) -> ScheduledOrder | None: ...

    async def save(
        self, specs: Sequence[ScheduledOrder], *, actor: str, now: datetime, action: str
    ) -> list[ScheduledOrder]:
        """Insert or update each by name, all in one transaction (all or nothing)."""
        ...

    async def set_paused(
        self, name: str, paused: bool, *, actor: str, now: datetime
    ) -> ScheduledOrder | None: ...

    async def remove(self, name: str, *, actor: str, now: datetime) -> bool: ...

    async def claim(
        self,
        spec: ScheduledOrder,
        day: date,
        due_at: datetime,
        *,
        status: RunStatus,
        worker: str,
        role: tuple[str, int] | None,
        now: datetime,
        reason: ReasonCode | None = None,
        detail: str = "",
        signal_key: str | None = None,
    ) -> bool:
        """Record the run of ``spec`` on ``day`` unless one is recorded: True when this call
        recorded it. Refused (False) as well when the database's active role is no longer
        ``role`` (None: no deployment row, which only the embedded worker runs without)."""
        ...

    async def finish(
        self,
        schedule_id: int,
        day: date,
        *,
        status: RunStatus,
        now: datetime,
        reason: ReasonCode | None = None,
        detail: str = "",
        orders: Sequence[str] = (),
    ) -> None: ...

    async def runs(
        self, name: str | None = None, *, since: date | None = None, limit: int = 100
    ) -> list[ScheduleRun]:
        """The newest first."""
        ...

    async def claimed_on(self, days: Sequence[date]) -> set[tuple[int, date]]:
        """(schedule id, session date) of every run recorded on ``days``."""
        ...


class PasswordHasher(Protocol):
    """One-way password hashing with a maintained library (argon2)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


# ---- brokers and the catalog ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    """A broker's current price for one instrument, with its tick and daily limits if known."""

    price: Decimal
    tick: Decimal | None = None
    upper_limit: Decimal | None = None
    lower_limit: Decimal | None = None


class Broker(Protocol):
    """A venue that takes orders. The paper broker and the KIS adapter are peers."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(
        self, order: Order, *, queued: Callable[[], None] | None = None
    ) -> BrokerOrder:
        """Place ``order``. Raises BrokerUnavailableError when nothing was sent.

        ``queued``, when given, is called as soon as no order submitted after this one can
        reach the broker before it (the paper ledger: the call is in its queue, whose calls run
        in order), before the answer; a broker whose calls may overtake one another on their
        way (HTTP requests in flight) never calls it, and the caller waits for the answer."""
        ...

    async def get_order(self, order: Order) -> BrokerOrder | None:
        """The broker's view of ``order``, or None when the broker has no trace of it."""
        ...

    async def cancel(self, order: Order) -> BrokerOrder:
        """Cancel what is left of ``order``. Returns the broker's view afterwards, which may
        still show it working (the cancel ends it later, or its answer never came: `get_order`
        tells), or final (cancelled, or filled when the fill came first; a final order is
        returned as it ended, nothing sent). Raises OrderRejectedError when the broker refused
        the cancel (ask `get_order` whether the order ended meanwhile) and
        BrokerUnavailableError when nothing was sent. A second cancel is harmless."""
        ...

    async def modify(
        self, order: Order, price: Decimal | None = None, quantity: Decimal | None = None
    ) -> BrokerOrder:
        """Modify (정정) a resting order: a new limit ``price`` and/or a new total ``quantity``
        (at most the original, more than what is filled); None keeps it. Returns the broker's
        view afterwards; a refused modify returns the order's state unchanged."""
        ...

    async def holdings(self, account: str) -> list[Holding]: ...

    async def cash(self, account: str) -> dict[str, Decimal]:
        """Cash per currency that new orders can spend (what resting buys hold excluded)."""
        ...

    async def quote(self, market: Market, exchange: str, ticker: str) -> Quote | None:
        """The current price of one instrument, or None where this broker cannot quote it."""
        ...

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(client_order_id)`` when an order moves as it happens (KIS execution
        notices); a broker that reports nothing on its own only registers it."""
        ...

    def for_account(self, account: str) -> Broker:
        """The broker that serves ``account`` (a single broker serves every account it has;
        OrderRejectedError unknown_account where none does)."""
        ...

    def halted(self) -> dict[str, str]:
        """Accounts whose orders this broker refuses until a configuration problem is fixed
        (``broker_halted``), each with what the venue said; empty when none."""
        ...

    async def token_expires_at(self) -> datetime | None:
        """When the broker's stored access token expires; None when it holds or needs none."""
        ...

    async def fx_rate(self, account: str) -> FxRate | None:
        """The USD/KRW rate the broker gave with ``account``'s latest balance (KIS: the
        buying-power inquiry's ``exrt``, no call of its own); None where it has none."""
        ...


class Listed(Protocol):
    """Where a ticker is listed, as a person looking it up sees it."""

    @property
    def market(self) -> str: ...

    @property
    def exchange(self) -> str: ...

    @property
    def ticker(self) -> str: ...


class Instruments(Protocol):
    """The stock catalog as the engine sees it (in memory on the worker)."""

    def find(self, ticker: str) -> Sequence[Listed]:
        """Every listing of ``ticker`` in any loaded market (for people, not for routing)."""
        ...

    def resolve(self, market: Market, exchange: str, ticker: str) -> Instrument:
        """Exactly one catalog entry, or SignalRejectedError (unknown_ticker, ambiguous_ticker,
        not_tradable, halted). Never a guess."""
        ...


# ---- the blue/green switch on the data node ------------------------------------------------


class LoadBalancer(Protocol):
    """The load balancer in front of the two workers (HAProxy), step by step."""

    def configured_active(self) -> str: ...

    def describe(self) -> list[str]: ...

    def health(self, worker: str) -> tuple[int, list[str]]:
        """(HTTP status of the worker's /healthz, 0 if unreachable; names of failing checks)."""
        ...

    def status(self, worker: str) -> str: ...

    def prepare(self, target: str) -> tuple[Path, str | None]:
        """A new config with ``target`` active beside the current one, and its validation
        error (None: valid). The caller discards or installs it."""
        ...

    def discard(self, new_cfg: Path) -> None: ...

    def flip(self, target: str, current: str) -> str | None: ...

    def install(self, new_cfg: Path) -> Path:
        """``new_cfg`` becomes the config; returns the config's path."""
        ...

    def restore(self) -> Path: ...

    def reload(self) -> None: ...

    def wait_active(self, worker: str) -> None: ...

    def ready_all(self) -> None: ...


class ActiveRecords(Protocol):
    """The recorded active worker, for a caller without an event loop (the switch)."""

    def active(self) -> tuple[str, int] | None: ...

    def set_active(self, worker: str, actor: str) -> int: ...


# ---- observability -------------------------------------------------------------------------


class Metrics(Protocol):
    """What a process counts and times for its `/metrics` endpoint (Prometheus in production,
    `NullMetrics` where nobody scrapes, a recording fake in tests). Labels are reason codes,
    operation names and account names: never a key, a token or a request's content."""

    def alert_received(self) -> None:
        """A request reached the webhook (each request counts once)."""
        ...

    def alert_accepted(self) -> None: ...

    def alert_rejected(self, reason: str) -> None:
        """Refused or a repeat; ``reason`` is a ReasonCode value."""
        ...

    def decision_seconds(self, seconds: float, outcome: str) -> None:
        """How long the engine took from taking a signal to recording its decision."""
        ...

    def send_seconds(self, seconds: float) -> None:
        """How long a broker took to answer an order's submission."""
        ...

    def broker_call(self, broker: str, operation: str) -> None: ...

    def broker_error(self, broker: str, code: str) -> None:
        """A broker call that failed: the broker's own code, or how it failed."""
        ...

    def book_unattributed(self, account: str, instruments: int) -> None:
        """The account's instruments on which the broker's holdings and the book disagree, as
        the latest account sync found them."""
        ...


class NullMetrics:
    """Metrics nobody reads: the default of every service and adapter that takes metrics."""

    def alert_received(self) -> None:
        return None

    def alert_accepted(self) -> None:
        return None

    def alert_rejected(self, reason: str) -> None:
        return None

    def decision_seconds(self, seconds: float, outcome: str) -> None:
        return None

    def send_seconds(self, seconds: float) -> None:
        return None

    def broker_call(self, broker: str, operation: str) -> None:
        return None

    def broker_error(self, broker: str, code: str) -> None:
        return None

    def book_unattributed(self, account: str, instruments: int) -> None:
        return None


NO_METRICS: Metrics = NullMetrics()


# ---- notifications -------------------------------------------------------------------------


class Notices(Protocol):
    """Where producers hand a notice to the notifier (the notices stream). Never waits for a
    channel and never raises: a notice that cannot be handed over is logged and dropped, so a
    notification failure never holds up trading."""

    async def notify(self, notice: Notice) -> None: ...


class NullNotices:
    async def notify(self, notice: Notice) -> None:
        return None


NO_NOTICES: Notices = NullNotices()


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notice due on one channel, leased to the notifier that read it."""

    id: int
    channel: str
    notice: Notice
    attempts: int


class NotificationQueue(Protocol):
    """The notifier's durable queue in the database both workers share: one row per (notice
    id, channel). Raises DatabaseUnavailableError when the database is away."""

    async def enqueue(self, notice: Notice, channels: Sequence[str], now: datetime) -> int:
        """Add a delivery per channel unless one of that notice id is there; how many were
        added."""
        ...

    async def take_due(
        self, owner: str, now: datetime, lease_s: float, limit: int, *, shared: bool
    ) -> list[Delivery]:
        """Pending deliveries due by ``now``, leased to ``owner`` (another notifier's lease
        is respected); ``shared`` False leaves out the notices only the active worker sends."""
        ...

    async def sent(self, delivery_id: int, receipt: str | None, now: datetime) -> None: ...

    async def retry(self, delivery_id: int, error: str, at: datetime) -> None:
        """Count a failed attempt and make the delivery due again at ``at``."""
        ...

    async def dead(self, delivery_id: int, error: str, now: datetime) -> None:
        """Give the delivery up: it is a dead letter, listed for the operator."""
        ...

    async def dead_letters(self, limit: int = 50) -> list[dict[str, Any]]: ...

    async def counts(self) -> dict[str, int]:
        """Deliveries by status (pending, sent, dead)."""
        ...

    async def fill_context(self, client_order_id: str) -> tuple[dict[str, Any], Decimal] | None:
        """The order a fill belongs to and the quantity filled on it so far (fills recorded),
        or None when the order is not recorded (yet)."""
        ...


class Channel(Protocol):
    """A place messages go (a Discord webhook, a Telegram chat). `send` raises ChannelBusyError
    or ChannelRefusedError; it answers the service's id for the message, when it gives one."""

    name: str

    async def send(self, message: Rendered) -> str | None: ...
