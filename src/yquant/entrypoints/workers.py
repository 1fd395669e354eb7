"""The engine and gateway processes: stream consumers written as a short list of steps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from yquant.adapters.brokers.routing import AccountBrokers
from yquant.bootstrap import (
    Runtime,
    build,
    build_approvals,
    build_broker,
    build_gateway,
    build_releaser,
    build_scheduler,
    build_snapshots,
    build_worker_state,
    open_engine,
    session_tables,
)
from yquant.domain import market_rules
from yquant.domain.commands import PlaceOrder
from yquant.entrypoints.process import install_stop_handlers, run_tasks, unless_stopped
from yquant.ports import CANCELS, ORDERS, SIGNALS, Message
from yquant.services import routing
from yquant.services.approval_bot import Words
from yquant.services.approvals import ApprovalTimeouts
from yquant.services.worker_state import ActiveRole
from yquant.settings import Settings

WARM_CALENDARS = ("KRX", "NASDAQ", "NYSE", "AMEX")
SUMMARY_CALENDARS = ("KRX", "NYSE")  # the markets whose close the daily summary follows


async def run_engine(settings: Settings) -> None:
    """Signals to orders: consume the signal stream, release queued orders at the next open,
    fire the scheduled orders that are due (on the active worker), keep the catalog current.
    Sizing policies are checked before anything is consumed."""
    stop = asyncio.Event()
    install_stop_handlers(stop)
    policies = routing.validate_sizing(settings)
    runtime = build(settings, "engine")
    state = build_worker_state(settings, runtime.store, runtime.clock)
    await state.load()
    # The engine follows no orders: no execution-notice session of its own.
    broker = build_broker(settings, runtime, role=state.role, notices=False)
    await broker.connect()
    engine, instruments = await open_engine(settings, runtime, broker, policies, role=state.role)
    releaser = build_releaser(
        engine,
        state.role,
        poll_s=settings.engine.queue_poll_s,
        lease_s=settings.engine.queue_lease_s,
    )
    # Orders held for approval: the timeouts, applied by the active worker only.
    timeouts = ApprovalTimeouts(
        build_approvals(
            runtime, brokers=broker, instruments=instruments, kill_switch=engine.kill_switch
        ),
        state.role,
        interval_s=settings.approvals.sweep_interval_s,
    )
    scheduler = build_scheduler(runtime, engine, state.role, broker=broker, instruments=instruments)
    consumer = f"engine-{settings.worker.name}"
    calendars = session_tables(settings)

    async def consume_signals() -> None:
        await runtime.bus.consume(
            SIGNALS,
            "engine",
            consumer,
            engine.signals.handle_signal,
            stop,
            concurrency=settings.engine.signal_concurrency,
        )

    async def keep_calendars() -> None:
        await calendars.keep_current(stop)

    async def release_queued() -> None:
        await releaser.run(stop)

    async def time_out_approvals() -> None:
        await timeouts.run(stop)

    async def refresh_catalog() -> None:
        await instruments.refresh_forever(stop)

    async def fire_schedules() -> None:
        # Only while this worker holds the active role; each firing is claimed in the
        # database as well, so a switch at the firing moment cannot fire it twice.
        await state.role.while_active(stop, scheduler.run)

    async def refresh_state() -> None:
        await state.refresh_forever(stop)

    async def watch_role() -> None:
        await state.role.watch(stop)

    try:
        # Before the engine says it is up (heartbeat, READY=1), so that the first signal is
        # decided as fast as the next: the calendars (milliseconds from the session table; when
        # none reaches a month ahead one is made first, in a child process; should that fail,
        # the library is read, in a daemon thread a stop does not wait for), the kill switch
        # and the statements of a decision's reads.
        await calendars.ready(stop)
        await unless_stopped(market_rules.warm_up, WARM_CALENDARS, stop=stop, name="calendars")
        if stop.is_set():
            await runtime.close()
            return
        await engine.warm_up()
        await run_tasks(
            runtime,
            "engine",
            stop,
            [
                consume_signals,
                release_queued,
                time_out_approvals,
                fire_schedules,
                refresh_catalog,
                refresh_state,
                watch_role,
                keep_calendars,
            ],
            status=lambda: {"standing": state.role.standing().value},
        )
    finally:
        await broker.close()


async def run_gateway(settings: Settings) -> None:
    """Orders to brokers: reconcile what was in flight, consume the order and cancel streams,
    follow open orders to their end, cancel limits past their time, keep account positions and
    cash in step with the brokers, and run the venues' own loops (the paper venue's timer:
    working orders against current prices, day orders expired at the close). All of it but the
    venues' loops only while this worker holds the active role (a standby gateway sends, asks
    and syncs nothing: the active worker alone spends a shared broker's rate budget)."""
    stop = asyncio.Event()
    install_stop_handlers(stop)
    runtime = build(settings, "gateway")
    state = build_worker_state(settings, runtime.store, runtime.clock)
    await state.load()
    broker = build_broker(settings, runtime, role=state.role)
    await broker.connect()
    try:
        await run_tasks(
            runtime,
            "gateway",
            stop,
            gateway_work(runtime, broker, state.role, stop),
            # Where this worker stands, and the accounts whose orders its brokers halted.
            status=lambda: {"standing": state.role.standing().value, "halted": broker.halted()},
        )
    finally:
        await broker.close()


def gateway_work(
    runtime: Runtime, broker: AccountBrokers, role: ActiveRole, stop: asyncio.Event
) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    """The gateway role's tasks over ``broker`` (the role process and the broker benchmark
    run these): each part works only while ``role`` is active."""
    parts = build_gateway(runtime, broker, role)
    gateway, sync = parts.gateway, parts.sync
    consumer = f"gateway-{runtime.settings.worker.name}"

    async def consume_orders() -> None:
        async def while_active(leave: asyncio.Event) -> None:
            await gateway.warm_up()
            # In-flight orders (a previous life's, or the worker's it takes over from) are
            # settled before anything is sent for them.
            await gateway.reconcile_open()
            await runtime.bus.consume(
                ORDERS,
                "gateway",
                consumer,
                gateway.handle_order,
                leave,
                lane=account_lane,
                concurrency=runtime.settings.gateway.order_concurrency,
            )

        await role.while_active(stop, while_active)

    async def consume_cancels() -> None:
        async def while_active(leave: asyncio.Event) -> None:
            await runtime.bus.consume(CANCELS, "gateway", consumer, gateway.handle_cancel, leave)

        await role.while_active(stop, while_active)

    async def track_orders() -> None:
        await role.while_active(stop, gateway.track)

    async def expire_limits() -> None:
        await role.while_active(stop, gateway.sweep)

    async def sync_accounts() -> None:
        await role.while_active(stop, sync.run)

    async def run_venues() -> None:
        await broker.run(stop)

    async def take_snapshots() -> None:
        # Each market's daily snapshot after its close, by the active worker only. Disabled,
        # the task still lasts as long as the role (a task that ends ends the role).
        if not runtime.settings.snapshots.enabled:
            await stop.wait()
            return
        snapshots = build_snapshots(
            runtime.settings, runtime.store, clock=runtime.clock, brokers=broker
        )
        await role.while_active(stop, snapshots.run)

    async def watch_role() -> None:
        await role.watch(stop)

    return [
        consume_orders,
        consume_cancels,
        track_orders,
        expire_limits,
        sync_accounts,
        run_venues,
        take_snapshots,
        watch_role,
    ]


async def run_notifier(settings: Settings) -> None:
    """Notices to channels: take the notices and executions streams into the durable queue,
    deliver what is due, and watch what nobody publishes (the active worker, the kill
    switches, this worker's database). Nothing on the order path waits for it."""
    from yquant.bootstrap import build_approval_bot, build_notifier
    from yquant.entrypoints.notices import render
    from yquant.ports import EXECUTIONS, NOTICES

    stop = asyncio.Event()
    install_stop_handlers(stop)
    runtime = build(settings, "notifier")
    state = build_worker_state(settings, runtime.store, runtime.clock)
    await state.load(register=False)
    parts = build_notifier(runtime, state.role, render)
    notifier, watcher = parts.notifier, parts.watcher
    consumer = f"notifier-{settings.worker.name}"
    calendars = session_tables(settings)
    market_rules.use_schedule_reader(calendars)  # never the library (pandas, seconds of CPU)
    approval_bot = build_approval_bot(runtime, state.role, parts.http, approval_words(settings))

    async def consume_notices() -> None:
        await runtime.bus.consume(NOTICES, "notifier", consumer, notifier.handle_notice, stop)

    async def consume_fills() -> None:
        await runtime.bus.consume(EXECUTIONS, "notifier", consumer, notifier.handle_fill, stop)

    async def deliver() -> None:
        await notifier.run(stop)

    async def watch() -> None:
        await watcher.run(stop)

    async def watch_role() -> None:
        await state.role.watch(stop)

    async def keep_calendars() -> None:
        await calendars.keep_current(stop)

    tasks = [consume_notices, consume_fills, deliver, watch, watch_role, keep_calendars]
    if approval_bot is not None:
        bot = approval_bot

        async def ask_approvals() -> None:
            await bot.run(stop)

        tasks.append(ask_approvals)

    try:
        # The daily summary asks the calendars when each market closed: read from the session
        # table (milliseconds), never the library on the event loop (seconds, during which the
        # streams' reads time out and a stop waits).
        await calendars.ready(stop)
        await unless_stopped(market_rules.warm_up, SUMMARY_CALENDARS, stop=stop, name="calendars")
        if stop.is_set():
            await runtime.close()
            return
        await run_tasks(
            runtime,
            "notifier",
            stop,
            tasks,
            status=lambda: {"standing": state.role.standing().value},
        )
    finally:
        await parts.http.aclose()


def approval_words(settings: Settings) -> Words:
    """The approval bot's words: in its channel's language, else the operator's."""
    from yquant.entrypoints import i18n

    name = settings.approvals.telegram_channel
    chosen = settings.notify.telegram[name].language if name is not None else None
    language = chosen or settings.language
    return Words(
        say=lambda key: i18n.t(language, key), label=lambda code: i18n.label(language, code)
    )


def account_lane(message: Message) -> str:
    """An order's send lane: its account. One account's broker that does not answer (its
    sends retried for ``gateway.submit_retry_s``) holds up no other account's orders; one
    account's orders keep their order."""
    return message.order.account if isinstance(message, PlaceOrder) else ""
