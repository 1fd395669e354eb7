"""The composition root: the one place that builds adapters from `Settings` and hands them to
the services. Every role, `simulate`, the manual `buy|sell`, the CLI's listings and commands
and the benchmarks build their system here. Constructors do no I/O (`open_engine` loads the
catalog; everything else connects on first use).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from yquant.adapters.brokers.paper import PaperBroker
from yquant.adapters.brokers.routing import AccountBrokers
from yquant.adapters.bus import Bus
from yquant.adapters.clock import SystemClock
from yquant.adapters.db.accounts import AccountBook
from yquant.adapters.db.book import SqlFillHistory
from yquant.adapters.db.control import SqlControl
from yquant.adapters.db.deployment import DeploymentRoles
from yquant.adapters.db.engine_state import SqlEngineState
from yquant.adapters.db.fx import SqlFxRates
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.order_queue import SqlOrderQueue
from yquant.adapters.db.prices import SqlLastPrices, SqlPriceHistory
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.snapshots import SqlSnapshots
from yquant.adapters.db.store import SqlStore
from yquant.adapters.db.worker_records import BlockingDeploymentRoles, SqlWorkerRecords
from yquant.adapters.haproxy import HaproxyAdmin, HaproxySite
from yquant.adapters.metrics import PrometheusMetrics
from yquant.domain.book import FeeRule, FeeSchedule
from yquant.domain.market_rules import Session
from yquant.domain.model import Market
from yquant.domain.notices import Level, Notice, NoticeKind, Route, routed
from yquant.errors import DatabaseUnavailableError
from yquant.ports import (
    NO_METRICS,
    NO_NOTICES,
    Broker,
    Channel,
    Clock,
    EngineState,
    FillHistory,
    Instruments,
    KillSwitch,
    Metrics,
    Notices,
    OrderQueue,
    Prices,
)
from yquant.ports import Bus as BusPort
from yquant.ports import Recorder as RecorderPort
from yquant.services import routing
from yquant.services.account_sync import AccountSync
from yquant.services.approval_bot import ApprovalBot, Words
from yquant.services.approvals import Approvals
from yquant.services.book import BookService
from yquant.services.cancels import OrderCancels
from yquant.services.control import Control, KillSwitchView
from yquant.services.decisions import Decider, OrderDesk, RecentOrders
from yquant.services.fx import FxService
from yquant.services.gateway import Gateway
from yquant.services.ingest import Ingest
from yquant.services.liquidation import Liquidator
from yquant.services.manual import ManualOrders
from yquant.services.notifier import (
    ChannelPlan,
    DayFigures,
    DeliveryPolicy,
    Notifier,
    Render,
    Reports,
    Watcher,
)
from yquant.services.prices import PriceService
from yquant.services.release import QueueReleaser
from yquant.services.reports import PerformanceReports
from yquant.services.signals import SignalHandler
from yquant.services.snapshots import Sessions, SnapshotService
from yquant.services.users import Users
from yquant.services.worker_state import ActiveRole, WorkerState
from yquant.settings import NotifyRouteSettings, Settings, webhook_secret

if TYPE_CHECKING:
    from yquant.adapters.calendars import SessionTables
    from yquant.adapters.catalog import CatalogCache, CatalogRepository, Listing
    from yquant.adapters.db.audit import SqlAudit
    from yquant.adapters.db.broker_tokens import SqlTokenRecords
    from yquant.adapters.db.desk import DeskQueries
    from yquant.adapters.db.liquidations import SqlLiquidations
    from yquant.adapters.db.notifications import SqlNotifications
    from yquant.adapters.db.reports import SqlReportReads
    from yquant.adapters.db.schedules import SqlSchedules
    from yquant.adapters.valkey_server import ValkeyServer
    from yquant.domain.sizing import Policy
    from yquant.services.replay import Replay
    from yquant.services.scheduler import Scheduler
    from yquant.services.schedules import ScheduleBook

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Runtime:
    """One process's connections: the database, its journal, the worker's Valkey, the clock."""

    settings: Settings
    store: SqlStore
    recorder: Recorder
    bus: Bus
    clock: Clock = field(default_factory=SystemClock)
    metrics: Metrics = NO_METRICS  # the role's `/metrics` (`PrometheusMetrics`) in a role

    async def close(self) -> None:
        await self.recorder.close()
        await self.bus.close()
        await self.store.close()
        self.recorder.journal.close()


def open_store(settings: Settings, timeout_s: float | None = None) -> SqlStore:
    """The system-of-record database (connects on first use; close it)."""
    return SqlStore(settings.database_url, timeout_s or settings.database.timeout_s)


@asynccontextmanager
async def store_session(settings: Settings) -> AsyncIterator[SqlStore]:
    """The database for one command: opened here, closed on every way out."""
    store = open_store(settings)
    try:
        yield store
    finally:
        await store.close()


async def with_store(settings: Settings, fn: Callable[[SqlStore], Awaitable[T]]) -> T:
    """``fn`` over the database, opened for it and closed after (the CLI's one-shot commands)."""
    async with store_session(settings) as store:
        return await fn(store)


def system_clock() -> Clock:
    """The wall clock, for the entry points that are not handed a `Runtime`."""
    return SystemClock()


def build(
    settings: Settings, role: str, db_timeout_s: float | None = None, *, clock: Clock | None = None
) -> Runtime:
    store = open_store(settings, db_timeout_s)
    journal = Journal(settings.data_dir / "journal" / f"{role}.sqlite3")
    metrics = PrometheusMetrics(role, settings.worker.name)
    metrics.watch_journal(lambda: journal.depth)
    return Runtime(
        settings=settings,
        store=store,
        recorder=Recorder(store, journal),
        bus=Bus(settings.valkey_url),
        clock=clock or SystemClock(),
        metrics=metrics,
    )


def build_broker(
    settings: Settings,
    runtime: Runtime | None = None,
    *,
    role: ActiveRole | None = None,
    notices: bool = True,
) -> AccountBrokers:
    """One broker per configured account: paper accounts share the paper ledger, each KIS
    account (``kis``, or ``kis-sim`` for the simulator) gets its own `KisBroker`. The KIS
    brokers share the token table (database) and the rate budget (the worker's Valkey) of
    ``runtime``, or of connections opened here and closed with the brokers. The paper venue
    takes its current prices from `build_prices` over the same database and KIS brokers, and
    its timer is among the loops `AccountBrokers.run` runs (in the gateway). With ``role`` (a
    worker's order-path process) only the active worker calls KIS; ``notices``: the KIS
    execution-notice session (the gateway's)."""
    closers = []
    brokers: dict[str, Broker] = {}
    paper: PaperBroker | None = None
    store: SqlStore | None = runtime.store if runtime else None
    bus: Bus | None = runtime.bus if runtime else None
    for name, account in settings.accounts.items():
        if account.broker == "paper":
            if paper is None:
                paper = build_paper_broker(settings, runtime.clock if runtime else None)
            brokers[name] = paper
            continue
        assert account.kis is not None  # settings validation guarantees it
        # Imported for a KIS account only: a paper-only process never loads the KIS client.
        from yquant.adapters.brokers.kis.factory import build_kis_broker

        if store is None:
            store = open_store(settings)
            closers.append(store.close)
        if bus is None:
            bus = Bus(settings.valkey_url)
            closers.append(bus.close)
        kis = brokers[name] = build_kis_broker(
            name,
            account.kis,
            records=token_records(store),
            valkey=bus.client,
            known_order_ids=account_book(store).known_order_ids,
            gate=None if role is None else role.standing,
            notices=notices,
        )
        if runtime is not None:
            kis.client.metrics = runtime.metrics
            if isinstance(runtime.metrics, PrometheusMetrics) and kis.client.tokens is not None:
                runtime.metrics.watch_token(name, kis.client.tokens.expires_at)
    if paper is not None and store is None:
        store = open_store(settings)
        closers.append(store.close)
    routed = AccountBrokers(brokers, on_close=closers, loops=[paper.run] if paper else [])
    if paper is not None:
        assert store is not None
        # The paper venue's current prices: a KIS account's quotes, else the latest price
        # recorded (no catalog here: the gateway loads none).
        clock = runtime.clock if runtime else None
        paper.use_prices(build_prices(settings, store, clock=clock, brokers=routed))
    return routed


def build_paper_broker(settings: Settings, clock: Clock | None = None) -> PaperBroker:
    """The paper venue over its ledger in the data directory: its fills, partial fills and
    timer as `settings.paper` says; day orders expire by each paper account's ``sessions``
    (``always`` unless set) on the exchange calendars (read from the session table)."""
    use_session_tables(settings)
    paper = settings.paper
    return PaperBroker(
        settings.data_dir / "paper-broker.sqlite3",
        commission_rate=paper.commission_rate,
        initial_cash={"KRW": paper.initial_cash_krw, "USD": paper.initial_cash_usd},
        slippage_bps=paper.slippage_bps,
        partial_fill_ratio=paper.partial_fill_ratio,
        check_interval_s=paper.check_interval_s,
        clock=clock,
        sessions={
            name: account.sessions or "always"
            for name, account in settings.accounts.items()
            if account.broker == "paper"
        },
        calendar_overrides=routing.calendar_overrides(settings),
    )


def use_session_tables(settings: Settings) -> None:
    """Exchange calendars are read from a session table (`session_tables`; milliseconds, no
    pandas) by this process from now on."""
    from yquant.domain import market_rules

    market_rules.use_schedule_reader(session_tables(settings))


def configure_logging(level: str, role: str, fmt: str = "text") -> None:
    """Log to stderr: ``text`` lines, or ``json`` objects one per line (`log_format`)."""
    if fmt == "json":
        from yquant.adapters.log_format import JsonFormatter

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter(role))
        logging.basicConfig(level=level, handlers=[handler], force=True)
    else:
        logging.basicConfig(
            level=level,
            stream=sys.stderr,
            format=f"%(asctime)s %(levelname)s {role} %(name)s: %(message)s",
            force=True,
        )
    # Library loggers that would print request lines (and with them URLs), or statements with
    # their parameters (tokens, account data), stay quiet even at DEBUG.
    for noisy in ("httpx", "uvicorn.access", "aiosqlite", "sqlalchemy.engine", "asyncmy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# ---- services over a runtime ---------------------------------------------------------------


def build_worker_state(
    settings: Settings, store: SqlStore, clock: Clock | None = None
) -> WorkerState:
    """The worker's role and accounts as loaded from the database (or its snapshot)."""
    return WorkerState(settings, SqlWorkerRecords(store), clock or SystemClock())


def active_role(store: SqlStore, worker: str) -> ActiveRole:
    return ActiveRole(DeploymentRoles(store), worker)


def role_records(store: SqlStore) -> DeploymentRoles:
    """The `deployment` table: the recorded active worker and its epoch (read and set)."""
    return DeploymentRoles(store)


def token_records(store: SqlStore) -> SqlTokenRecords:
    """The brokers' stored access tokens (shared by the workers)."""
    from yquant.adapters.db.broker_tokens import SqlTokenRecords

    return SqlTokenRecords(store)


def app_key_accounts(settings: Settings) -> dict[str, list[str]]:
    """The configured KIS accounts by the key id of their app key (the digest the token table
    is keyed by): which accounts share a token."""
    from yquant.adapters.brokers.kis.tokens import key_id

    keys: dict[str, list[str]] = {}
    for name, account in settings.accounts.items():
        if account.kis is not None:
            kid = key_id(account.kis.environment, account.kis.app_key.get_secret_value())
            keys.setdefault(kid, []).append(name)
    return keys


def audit_log(store: SqlStore) -> SqlAudit:
    """The audit log, for actions whose outcome is known only after they were carried out."""
    from yquant.adapters.db.audit import SqlAudit

    return SqlAudit(store)


def desk_queries(store: SqlStore) -> DeskQueries:
    """The dashboard's reads (listings with filters, a signal's path, account figures)."""
    from yquant.adapters.db.desk import DeskQueries

    return DeskQueries(store)


def account_book(store: SqlStore) -> AccountBook:
    """Positions, cash and open orders per account as recorded."""
    return AccountBook(store)


def catalog_repository(store: SqlStore) -> CatalogRepository:
    """The stored stock catalog (versions and listings per market)."""
    from yquant.adapters.catalog import CatalogRepository

    return CatalogRepository(store)


def catalog_cache(
    listings: Iterable[Listing], versions: dict[str, int], *, source: str
) -> CatalogCache:
    """The in-memory catalog over ``listings`` (as `yquant info` looks tickers up)."""
    from yquant.adapters.catalog import CatalogCache

    return CatalogCache(listings, versions, source=source)


async def load_catalog(settings: Settings, store: SqlStore) -> CatalogCache:
    """The catalog as a worker loads it: database, else local snapshot, else shipped."""
    from yquant.adapters.catalog import load_instruments

    return await load_instruments(settings, store)


def build_control(store: SqlStore, accounts: Iterable[str]) -> Control:
    """The operator's kill-switch use case (CLI and dashboard)."""
    return Control(SqlControl(store), accounts)


def build_users(store: SqlStore) -> Users:
    """The dashboard's users (`yquant users`, signing in), passwords hashed with argon2."""
    from yquant.adapters.db.users import SqlUsers
    from yquant.adapters.passwords import Argon2Passwords

    return Users(SqlUsers(store), Argon2Passwords())


def build_kill_switch(store: SqlStore, snapshot: Path | None) -> KillSwitchView:
    """The switches as a decision reads them, with the last known kept in ``snapshot``."""
    return KillSwitchView(SqlControl(store), snapshot)


def build_order_queue(store: SqlStore) -> SqlOrderQueue:
    return SqlOrderQueue(store)


# ---- the book ------------------------------------------------------------------------------


def fee_schedule(settings: Settings) -> FeeSchedule:
    """The dated fee rules of the settings (``fees``), per market."""
    return FeeSchedule(
        {
            Market(market): [
                FeeRule(
                    since=r.since,
                    commission_rate=r.commission_rate,
                    sell_tax_rate=r.sell_tax_rate,
                    sell_fee_rate=r.sell_fee_rate,
                    sell_fee_per_share=r.sell_fee_per_share,
                    sell_fee_per_share_max=r.sell_fee_per_share_max,
                    exchange=r.exchange,
                )
                for r in rules
            ]
            for market, rules in settings.fees.items()
        }
    )


def quote_broker(settings: Settings, brokers: Broker | None) -> Broker | None:
    """The broker that quotes prices: the first KIS account's (None without one: paper
    accounts quote nothing of their own)."""
    kis = [name for name, a in settings.accounts.items() if a.broker != "paper"]
    return brokers.for_account(kis[0]) if brokers is not None and kis else None


def build_prices(
    settings: Settings,
    store: SqlStore,
    *,
    clock: Clock | None = None,
    brokers: Broker | None = None,
    instruments: Instruments | None = None,
    recorder: RecorderPort | None = None,
) -> PriceService:
    """Prices: a KIS account's quotes (of ``brokers``), else the latest price seen, else the
    catalog's base price (of ``instruments``). With ``recorder``, prices seen are written
    through it (journaled during an outage), else straight to the database; the first of each
    instrument in every 15 minutes also into ``price_history``."""
    return PriceService(
        last=SqlLastPrices(store),
        clock=clock or SystemClock(),
        quotes=quote_broker(settings, brokers),
        instruments=instruments,
        recorder=recorder,
        quote_cache_s=settings.book.quote_cache_s,
        history=SqlPriceHistory(store),
    )


def build_fx(settings: Settings, store: SqlStore, *, clock: Clock | None = None) -> FxService:
    """Exchange rates: a broker's (stored in ``fx_rates`` by the account sync), else the
    configured ``fx.usdkrw``, else none."""
    clock = clock or SystemClock()
    configured = {"USD": settings.fx.usdkrw} if settings.fx.usdkrw is not None else {}
    return FxService(
        clock=clock,
        stored=SqlFxRates(store),
        configured=configured,
        configured_at=settings.fx.usdkrw_as_of or clock.now(),
    )


def build_book(
    settings: Settings,
    store: SqlStore,
    prices: Prices,
    *,
    clock: Clock | None = None,
    brokers: Broker | None = None,
) -> BookService:
    """The book over the recorded fills; ``brokers``: the holdings it is checked against
    (without, or when a broker does not answer: as the last account sync stored them)."""
    return BookService(
        fills=SqlFillHistory(store),
        fees=fee_schedule(settings),
        prices=prices,
        clock=clock or SystemClock(),
        accounts=list(settings.accounts),
        stale_after_s=settings.book.stale_after_s,
        broker=brokers,
        synced=account_book(store),
    )


def market_sessions(settings: Settings) -> Sessions:
    """Each market's regular session on a local date (KR: KRX; US: NYSE, whose days and
    hours the US exchanges share), with the configured overrides, from the session table."""
    from yquant.domain import market_rules

    use_session_tables(settings)
    overrides = routing.calendar_overrides(settings)
    venues = {Market.KR: "KRX", Market.US: "NYSE"}

    def session(market: Market, day: date) -> Session | None:
        venue = market_rules.venue_for(venues[market])
        return market_rules.calendar_for(venue, overrides).session(day)

    return session


def build_snapshots(
    settings: Settings,
    store: SqlStore,
    *,
    clock: Clock | None = None,
    brokers: Broker | None = None,
) -> SnapshotService:
    """The daily snapshots of every configured account, with the FX rates of `build_fx`;
    ``brokers``: the cash, holdings, closing quotes and FX rate of a snapshot taken after the
    close (without: back-fill only)."""
    clock = clock or SystemClock()
    config = settings.snapshots
    return SnapshotService(
        records=SqlSnapshots(store),
        fills=SqlFillHistory(store),
        fees=fee_schedule(settings),
        prices=build_prices(settings, store, clock=clock, brokers=brokers),
        last=SqlLastPrices(store),
        clock=clock,
        sessions=market_sessions(settings),
        accounts=list(settings.accounts),
        fx=build_fx(settings, store, clock=clock),
        broker=brokers,
        flow_min=config.flow_min,
        after_close=timedelta(minutes=config.after_close_min),
        check_every_s=config.check_every_s,
    )


def build_reports(settings: Settings, store: SqlStore) -> PerformanceReports:
    """The performance reports over the daily snapshots and the recorded fills."""
    return PerformanceReports(
        records=SqlSnapshots(store), fills=SqlFillHistory(store), fees=fee_schedule(settings)
    )


def build_ingest(runtime: Runtime) -> Ingest:
    """The webhook's use case: record an alert, then hand it to the engine."""
    settings = runtime.settings
    return Ingest(
        recorder=runtime.recorder,
        bus=runtime.bus,
        secret=webhook_secret(settings),
        worker=settings.worker.name,
        max_age_s=settings.webhook.max_alert_age_s,
    )


@dataclass
class EngineParts:
    """The engine's use cases over one worker's parts: signal handling, queued release (see
    `build_releaser`) and the operator's orders, sharing one decider and one order desk."""

    decider: Decider
    desk: OrderDesk
    signals: SignalHandler
    manual: ManualOrders
    queue: OrderQueue
    state: EngineState
    clock: Clock
    recorder: RecorderPort
    kill_switch: KillSwitch

    async def warm_up(self) -> None:
        """What the first signal would pay once, paid now: the kill switch read (and its
        snapshot written) and the reads of a signal's decision."""
        await self.kill_switch.refresh()
        await self.signals.warm_up()


def assemble_engine(
    settings: Settings,
    *,
    recorder: RecorderPort,
    bus: BusPort,
    broker: Broker,
    instruments: Instruments,
    kill_switch: KillSwitch,
    state: EngineState,
    fills: FillHistory,
    queue: OrderQueue,
    clock: Clock,
    policies: dict[str, Policy] | None = None,
    metrics: Metrics = NO_METRICS,
    prices: Prices | None = None,
    role: ActiveRole | None = None,
    notices: Notices = NO_NOTICES,
    account_view_s: float | None = None,
) -> EngineParts:
    """The engine's use cases over the ports given (adapters here, fakes in service tests);
    ``prices``: where the alerts' prices are recorded as prices seen; with ``role``, a standby
    worker hands its signals to the active worker; ``notices``: where rejections are told;
    ``account_view_s``: see `Decider` (None: ``engine.account_view_s``)."""
    recent = RecentOrders()
    decider = Decider(
        settings=settings,
        recorder=recorder,
        instruments=instruments,
        broker=broker,
        kill_switch=kill_switch,
        state=state,
        fills=fills,
        recent=recent,
        policies=policies,
        fees=fee_schedule(settings),
        account_view_s=account_view_s,
    )
    desk = OrderDesk(
        recorder=recorder,
        bus=bus,
        state=state,
        recent=recent,
        worker=settings.worker.name,
        held=lambda strategy: settings.approval_of(strategy) is not None,
    )
    signals = SignalHandler(
        settings=settings,
        decider=decider,
        desk=desk,
        recorder=recorder,
        state=state,
        queue=queue,
        clock=clock,
        metrics=metrics,
        prices=prices,
        role=role,
        notices=notices,
    )
    manual = ManualOrders(
        decider=decider,
        desk=desk,
        recorder=recorder,
        bus=bus,
        clock=clock,
        worker=settings.worker.name,
    )
    return EngineParts(decider, desk, signals, manual, queue, state, clock, recorder, kill_switch)


def build_engine(
    runtime: Runtime,
    broker: Broker,
    instruments: Instruments,
    *,
    policies: dict[str, Policy] | None = None,
    kill_switch: KillSwitch | None = None,
    role: ActiveRole | None = None,
    account_view_s: float | None = None,
) -> EngineParts:
    """The engine over a runtime's database, journal and Valkey (``account_view_s``: see
    `Decider`)."""
    settings, store = runtime.settings, runtime.store
    return assemble_engine(
        settings,
        recorder=runtime.recorder,
        bus=runtime.bus,
        broker=broker,
        instruments=instruments,
        kill_switch=kill_switch or build_kill_switch(store, settings.data_dir / "kill-switch.json"),
        state=SqlEngineState(store),
        fills=SqlFillHistory(store),
        queue=SqlOrderQueue(store),
        clock=runtime.clock,
        policies=policies,
        metrics=runtime.metrics,
        prices=build_prices(
            settings, store, clock=runtime.clock, instruments=instruments, recorder=runtime.recorder
        ),
        role=role,
        notices=runtime.bus,
        account_view_s=account_view_s,
    )


def schedule_records(store: SqlStore) -> SqlSchedules:
    from yquant.adapters.db.schedules import SqlSchedules

    return SqlSchedules(store)


def build_schedule_book(
    settings: Settings,
    store: SqlStore,
    *,
    clock: Clock | None = None,
    prices: Prices | None = None,
) -> ScheduleBook:
    """The schedules as the CLI and the dashboard keep them (``prices``: for the estimated
    quantity of an amount)."""
    from yquant.services.schedules import ScheduleBook

    return ScheduleBook(
        records=schedule_records(store),
        settings=settings,
        clock=clock or SystemClock(),
        prices=prices,
    )


def build_scheduler(
    runtime: Runtime,
    engine: EngineParts,
    role: ActiveRole,
    *,
    broker: Broker | None = None,
    instruments: Instruments | None = None,
) -> Scheduler:
    """The engine's scheduler: its orders go through ``engine``'s signal handling, its
    liquidations through the liquidation service (with ``instruments``: the catalog); prices
    (an amount's quantity, a limit's offset) from ``broker``'s quotes, else the last seen."""
    from yquant.services.scheduler import Scheduler, liquidation_by

    settings, store = runtime.settings, runtime.store
    liquidate = None
    if instruments is not None:
        liquidate = liquidation_by(build_liquidator(runtime, engine, instruments, brokers=broker))
    return Scheduler(
        records=schedule_records(store),
        signals=engine.signals,
        recorder=runtime.recorder,
        role=role,
        clock=runtime.clock,
        settings=settings,
        prices=build_prices(
            settings,
            store,
            clock=runtime.clock,
            brokers=broker,
            instruments=instruments,
            recorder=runtime.recorder,
        ),
        liquidate=liquidate,
        notices=runtime.bus,
    )


def build_releaser(
    engine: EngineParts, role: ActiveRole, *, poll_s: float, lease_s: float
) -> QueueReleaser:
    return QueueReleaser(
        decider=engine.decider,
        desk=engine.desk,
        queue=engine.queue,
        state=engine.state,
        role=role,
        clock=engine.clock,
        poll_s=poll_s,
        lease_s=lease_s,
        recorder=engine.recorder,
    )


async def open_engine(
    settings: Settings,
    runtime: Runtime,
    broker: Broker,
    policies: dict[str, Any] | None = None,
    role: ActiveRole | None = None,
    *,
    operator: bool = False,
) -> tuple[EngineParts, CatalogCache]:
    """The engine over this worker's parts, as the engine role, `simulate` and `buy|sell` use
    it: the catalog (loaded now) and the exchange calendars read from a session table.

    ``operator``: outside the engine's process (an operator's order, a liquidation, a
    simulation), where the orders the engine decides are not seen: each decision reads the
    account from its broker instead of a view kept between decisions."""
    use_session_tables(settings)
    instruments = await load_catalog(settings, runtime.store)
    engine = build_engine(
        runtime,
        broker,
        instruments,
        policies=policies,
        role=role,
        account_view_s=0 if operator else None,
    )
    return engine, instruments


def session_tables(settings: Settings) -> SessionTables:
    """The exchange calendars' session tables: this worker's (in the data directory), else the
    package's."""
    from yquant.adapters.calendars import SessionTables

    return SessionTables(settings.data_dir / "calendars")


@dataclass
class GatewayParts:
    gateway: Gateway
    sync: AccountSync


def build_gateway(
    runtime: Runtime,
    broker: Broker,
    role: ActiveRole,
    *,
    kill_snapshot: Path | None = None,
    accounts: list[str] | None = None,
) -> GatewayParts:
    """The gateway and the account sync it asks after each fill, as the gateway role runs
    them; ``kill_snapshot`` defaults to the gateway's own file in the data directory."""
    settings, store = runtime.settings, runtime.store
    book = account_book(store)
    # Fill prices are written straight to the database by the sync (skipped while it is away).
    prices = build_prices(settings, store, clock=runtime.clock)
    sync = AccountSync(
        broker=broker,
        book=book,
        role=role,
        accounts=list(settings.accounts) if accounts is None else accounts,
        interval_s=settings.gateway.sync_interval_s,
        settle_max_s=settings.gateway.sync_settle_max_s,
        clock=runtime.clock,
        ledger=build_book(settings, store, prices, clock=runtime.clock),
        prices=prices,
        fx=build_fx(settings, store, clock=runtime.clock),
        metrics=runtime.metrics,
        notices=runtime.bus,
    )
    snapshot = kill_snapshot or settings.data_dir / "kill-switch-gateway.json"
    gateway = Gateway(
        recorder=runtime.recorder,
        bus=runtime.bus,
        broker=broker,
        book=book,
        kill_switch=build_kill_switch(store, snapshot),
        clock=runtime.clock,
        worker=settings.worker.name,
        sync=sync,
        role=role,
        submit_retry_s=settings.gateway.submit_retry_s,
        max_send_delay_s=settings.gateway.max_send_delay_s,
        track_interval_s=settings.gateway.track_interval_s,
        replace_wait_s=settings.gateway.replace_wait_s,
        limit_ttl_s={
            name: strategy.limit_ttl_s
            for name, strategy in settings.strategies.items()
            if strategy.limit_ttl_s is not None
        },
        ttl_sweep_s=settings.gateway.ttl_sweep_s,
        metrics=runtime.metrics,
        shared_accounts=[n for n, a in settings.accounts.items() if a.broker != "paper"],
        notices=runtime.bus,
    )
    return GatewayParts(gateway, sync)


def build_approvals(
    runtime: Runtime,
    *,
    brokers: Broker | None = None,
    instruments: Instruments | None = None,
    kill_switch: KillSwitch | None = None,
) -> Approvals:
    """Deciding orders held for manual approval (the dashboard, `yquant approve|reject`,
    Telegram through the notifier, the engine's timeouts). The re-check's price is a KIS
    account's quote where ``brokers`` has one, else the latest price seen."""
    from yquant.adapters.db.approvals import SqlApprovals

    settings, store = runtime.settings, runtime.store
    return Approvals(
        settings=settings,
        records=SqlApprovals(store),
        bus=runtime.bus,
        kill_switch=kill_switch or build_kill_switch(store, None),
        clock=runtime.clock,
        prices=build_prices(
            settings, store, clock=runtime.clock, brokers=brokers, instruments=instruments
        ),
    )


def build_approval_bot(
    runtime: Runtime, role: ActiveRole, http: httpx.AsyncClient, words: Words
) -> ApprovalBot | None:
    """Approvals asked on Telegram by the bot of ``approvals.telegram_channel`` (None when no
    channel is named), as the notifier runs it."""
    from yquant.adapters.notify.telegram import TelegramBot
    from yquant.adapters.notify.telegram_approvals import TelegramApprovalChannel

    settings = runtime.settings
    name = settings.approvals.telegram_channel
    if name is None:
        return None
    chat = settings.notify.telegram[name]
    bot = TelegramBot(chat.bot_token.get_secret_value(), http, api_base=chat.api_base)
    return ApprovalBot(
        approvals=build_approvals(runtime),
        channel=TelegramApprovalChannel(bot, [chat.chat_id]),
        bus=runtime.bus,
        role=role,
        words=words,
        interval_s=settings.approvals.sweep_interval_s,
    )


def build_cancels(runtime: Runtime) -> OrderCancels:
    """Cancelling recorded orders through this worker's gateway (`yquant cancel`, the
    dashboard)."""
    return OrderCancels(
        orders=account_book(runtime.store),
        recorder=runtime.recorder,
        bus=runtime.bus,
        clock=runtime.clock,
    )


def liquidation_records(store: SqlStore) -> SqlLiquidations:
    from yquant.adapters.db.liquidations import SqlLiquidations

    return SqlLiquidations(store)


def build_liquidator(
    runtime: Runtime,
    engine: EngineParts,
    instruments: Instruments,
    *,
    brokers: Broker | None = None,
    order_wait_s: float | None = None,
) -> Liquidator:
    """Liquidation over this worker's engine (its decisions and order desk), the book and its
    prices (``brokers``: the quotes, where a KIS account exists) and the gateway's cancels."""
    settings, store = runtime.settings, runtime.store
    prices = build_prices(
        settings, store, clock=runtime.clock, brokers=brokers, instruments=instruments
    )
    return Liquidator(
        settings=settings,
        book=build_book(settings, store, prices, clock=runtime.clock),
        cancels=build_cancels(runtime),
        manual=engine.manual,
        decider=engine.decider,
        kill_switch=engine.kill_switch,
        records=liquidation_records(store),
        instruments=instruments,
        recorder=runtime.recorder,
        bus=runtime.bus,
        clock=runtime.clock,
        role=active_role(store, settings.worker.name),
        order_wait_s=order_wait_s,
        notices=runtime.bus,
    )


def haproxy_site(*, cfg: Path, socket: str, reload_cmd: str, haproxy_bin: str) -> HaproxySite:
    """The data node's HAProxy as the blue/green switch drives it."""
    return HaproxySite(cfg=cfg, socket=socket, reload_cmd=reload_cmd, haproxy_bin=haproxy_bin)


def haproxy_admin(socket: str) -> HaproxyAdmin:
    """Commands over a running HAProxy's admin socket (server states)."""
    return HaproxyAdmin(socket)


def embedded_valkey(settings: Settings) -> ValkeyServer:
    """A private valkey-server on loopback with AOF persistence in the data directory; its
    pidfile there lets the next `yquant up` stop one left by an owner that was killed."""
    from yquant.adapters.valkey_server import ValkeyServer

    data = settings.data_dir / "valkey"
    return ValkeyServer(data, settings.valkey.embedded_port, pidfile=data / "valkey.pid")


def deployment_roles(settings: Settings) -> BlockingDeploymentRoles:
    """The `deployment` table for the blue/green switch (no event loop of its own)."""
    return BlockingDeploymentRoles(lambda: open_store(settings), SystemClock())


# ---- reports -------------------------------------------------------------------------------


def report_reads(settings: Settings, store: SqlStore) -> SqlReportReads:
    """The execution, parity and replay reports' reads (nothing writes through them)."""
    from yquant.adapters.db.reports import SqlReportReads

    return SqlReportReads(store, {name: a.broker for name, a in settings.accounts.items()})


def replay_settings(settings: Settings, workdir: Path) -> Settings:
    """``settings`` made private for a replay: every account a paper account of the same name
    (its routes, sizing and limits kept), the database, journal, paper ledger and snapshots in
    ``workdir``; no broker secret is kept."""
    from pydantic import SecretStr

    accounts = {
        name: account.model_copy(update={"broker": "paper", "kis": None})
        for name, account in settings.accounts.items()
    }
    database = settings.database.model_copy(
        update={"url": SecretStr(f"sqlite+aiosqlite:///{workdir / 'replay.sqlite3'}")}
    )
    return settings.model_copy(
        update={"accounts": accounts, "data_dir": workdir, "database": database}
    )


@asynccontextmanager
async def replay_session(
    settings: Settings, other: Settings, workdir: Path
) -> AsyncIterator[Replay]:
    """A replay of the alerts recorded in ``settings``' database with the settings ``other``,
    on private parts in ``workdir`` (an empty directory the caller removes after): the real
    database is only read, no broker of ``settings`` is built, Valkey is never connected."""
    from yquant.adapters.catalog import CatalogCache
    from yquant.adapters.catalog.cache import SOURCE_DATABASE, read_catalog
    from yquant.adapters.catalog.repository import CatalogRepository
    from yquant.adapters.clock import SetClock
    from yquant.adapters.db import migrate
    from yquant.services.replay import Replay

    private = replay_settings(other, workdir)
    migrate.upgrade(private.database_url)
    real = open_store(settings)
    store = open_store(private)
    journal = Journal(workdir / "journal" / "replay.sqlite3")
    recorder = Recorder(store, journal)
    clock = SetClock(datetime.fromtimestamp(0, UTC))
    venue = build_paper_broker(private, clock)
    bus: Bus | None = None
    try:
        listings, versions = await read_catalog(CatalogRepository(real), seed=False)
        instruments = CatalogCache(listings, versions, source=SOURCE_DATABASE)
        await venue.connect()
        # The engine's own wiring; its bus is never connected: nothing is published.
        bus = Bus(private.valkey_url)
        engine = assemble_engine(
            private,
            recorder=recorder,
            bus=bus,
            broker=AccountBrokers(dict.fromkeys(private.accounts, venue)),
            instruments=instruments,
            kill_switch=build_kill_switch(store, workdir / "kill-switch.json"),
            state=SqlEngineState(store),
            fills=SqlFillHistory(store),
            queue=SqlOrderQueue(store),
            clock=clock,
            # The replay decides through the decider alone (its orders are not sent through the
            # engine's desk), so no view kept between decisions would see them: read the
            # private paper venue at each decision.
            account_view_s=0,
        )
        yield Replay(
            recorded=report_reads(settings, real),
            live_fills=SqlFillHistory(real),
            decider=engine.decider,
            venue=venue,
            recorder=recorder,
            book_fills=SqlFillHistory(store),
            clock=clock,
            fees=fee_schedule(private),
            live_fees=fee_schedule(settings),
        )
    finally:
        if bus is not None:
            await bus.close()
        await venue.close()
        await recorder.close()
        journal.close()
        await store.close()
        await real.close()


# ---- notifications -------------------------------------------------------------------------


def notification_queue(store: SqlStore) -> SqlNotifications:
    """The notifier's durable queue (the `notifications` table both workers share)."""
    from yquant.adapters.db.notifications import SqlNotifications

    return SqlNotifications(store)


def notify_channels(settings: Settings, http: httpx.AsyncClient) -> dict[str, ChannelPlan]:
    """Every configured channel (``[notify.discord.*]``, ``[notify.telegram.*]``) with its
    route and language, sending through ``http``."""
    from yquant.adapters.notify.channels import DiscordChannel, TelegramChannel
    from yquant.adapters.notify.discord import DiscordWebhook
    from yquant.adapters.notify.telegram import TelegramBot

    plans: dict[str, ChannelPlan] = {}
    for name, hook in settings.notify.discord.items():
        channel: Channel = DiscordChannel(name, DiscordWebhook(hook.url.get_secret_value(), http))
        plans[name] = ChannelPlan(channel, notice_route(hook), hook.language or settings.language)
    for name, bot in settings.notify.telegram.items():
        client = TelegramBot(bot.bot_token.get_secret_value(), http, bot.api_base)
        channel = TelegramChannel(name, client, bot.chat_id)
        plans[name] = ChannelPlan(channel, notice_route(bot), bot.language or settings.language)
    return plans


def notice_route(section: NotifyRouteSettings) -> Route:
    return Route(
        events=frozenset(NoticeKind(e) for e in section.events),
        accounts=frozenset(section.accounts),
        strategies=frozenset(section.strategies),
        min_level=Level.named(section.min_level),
    )


def notify_http(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(settings.notify.timeout_s, connect=5.0))


@dataclass
class NotifierParts:
    notifier: Notifier
    watcher: Watcher
    http: httpx.AsyncClient


def build_notifier(runtime: Runtime, role: ActiveRole, render: Render) -> NotifierParts:
    """The notifier role's service and watchers over ``runtime`` (its store, bus and clock);
    ``render``: the templates (entrypoints/notices.py, with the operator's words)."""
    from yquant.adapters.db.journal import waiting
    from yquant.adapters.db.notifications import last_alerts

    settings = runtime.settings
    n = settings.notify
    http = notify_http(settings)
    worker = settings.worker.name

    async def claim(key: str) -> bool:
        return await runtime.bus.claim_send(key, worker, 7 * 24 * 3600)

    notifier = Notifier(
        queue=notification_queue(runtime.store),
        plans=notify_channels(settings, http),
        render=render,
        clock=runtime.clock,
        owner=f"notifier-{worker}",
        worker=worker,
        is_active=lambda: role.epoch_of(role.last_known) is not None,
        policy=DeliveryPolicy(
            first_retry_s=n.first_retry_s,
            max_retry_s=n.max_retry_s,
            max_attempts=n.max_attempts,
            poll_s=n.poll_s,
            max_age_s=n.max_age_h * 3600,
        ),
        claim=claim,
    )

    async def active() -> tuple[str, int] | None:
        found: tuple[str, int] | None = await role_records(runtime.store).active()
        role.observe(found)
        return found

    reports = Reports(
        notifier,
        clock=runtime.clock,
        closes=market_closes,
        figures=day_figures(settings, runtime),
        last_alerts=lambda: last_alerts(runtime.store),
        quiet_after_h=n.quiet_after_h,
        daily=n.daily_summary,
    )
    watcher = Watcher(
        notifier,
        clock=runtime.clock,
        switches=SqlControl(runtime.store),
        active_role=active,
        journal_depth=lambda: waiting(settings.data_dir / "journal"),
        every_s=n.watch_s,
        reports=reports,
    )
    return NotifierParts(notifier, watcher, http)


def notice_routes(settings: Settings) -> dict[str, Route]:
    """Each configured channel's route (without a client: for queueing, not sending)."""
    sections: dict[str, NotifyRouteSettings] = {
        **settings.notify.discord,
        **settings.notify.telegram,
    }
    return {name: notice_route(section) for name, section in sections.items()}


async def queue_notice(settings: Settings, notice: Notice) -> None:
    """Put ``notice`` straight in the notifications queue, for a process that has no worker's
    Valkey at hand (the catalog sync on the data node): any notifier delivers it. Never raises
    for the database being away (the notice is logged and dropped, the job's result stands)."""
    channels = routed(notice, notice_routes(settings))
    if not channels:
        return

    async def put(store: SqlStore) -> int:
        return await notification_queue(store).enqueue(notice, channels, SystemClock().now())

    try:
        await with_store(settings, put)
    except DatabaseUnavailableError as exc:
        logger.warning("notice dropped id=%s: %s", notice.id, exc)


SUMMARY_VENUES = (("KR", "KRX"), ("US", "NYSE"))


def market_closes(now: datetime) -> list[tuple[str, str, datetime]]:
    """Each market's latest session that has closed by ``now``: (market, day, close)."""
    from yquant.domain import market_rules

    found = []
    for market, exchange in SUMMARY_VENUES:
        venue = market_rules.venue_for(exchange)
        calendar = market_rules.calendar_for(venue)
        today = now.astimezone(venue.tz).date()
        for day in (today, today - timedelta(days=1)):
            session = calendar.session(day)
            if session is not None and session.close_at <= now:
                found.append((market, day.isoformat(), session.close_at))
                break
    return found


def day_figures(
    settings: Settings, runtime: Runtime
) -> Callable[[str, datetime], Awaitable[DayFigures]]:
    """A market's figures at its close, from the book (positions at their marks, P&L per
    strategy), the fills of its session and the cash the last account sync stored."""
    from yquant.adapters.db.notifications import trades_since
    from yquant.domain.model import CURRENCY
    from yquant.services.book import HoldingsFrom

    store = runtime.store
    prices = build_prices(settings, store, clock=runtime.clock)
    book = build_book(settings, store, prices, clock=runtime.clock)

    async def figures(market: str, close_at: datetime) -> DayFigures:
        currency = CURRENCY[Market(market)]
        view = await book.view(holdings=HoldingsFrom.NONE)
        pnl: dict[str, Decimal] = {}
        value = Decimal(0)
        priced = True
        for row in view.rows:
            if row.position.market.value != market or row.unattributed:
                continue
            strategy = row.position.strategy
            pnl[strategy] = pnl.get(strategy, Decimal(0)) + row.realised_today
            pnl[strategy] += row.unrealised or Decimal(0)
            if row.market_value is None:
                priced = False
            else:
                value += row.market_value
        cash = [c for c in await account_book(store).cash() if c["currency"] == currency]
        equity = value + sum((Decimal(str(c["cash"])) for c in cash), Decimal(0))
        trades = await trades_since(store, currency, close_at - timedelta(hours=12), close_at)
        return DayFigures(trades, pnl, equity if priced else None, currency)

    return figures
