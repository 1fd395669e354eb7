"""The engine and gateway processes: stream consumers written as a short list of steps."""

from __future__ import annotations

import asyncio

from yquant.adapters.bus import ORDERS, SIGNALS
from yquant.bootstrap import build, build_broker
from yquant.entrypoints.process import install_stop_handlers, run_tasks
from yquant.services.engine import Engine
from yquant.services.gateway import Gateway
from yquant.settings import Settings


async def run_engine(settings: Settings) -> None:
    stop = asyncio.Event()
    install_stop_handlers(stop)
    runtime = build(settings, "engine")
    engine = Engine(settings=settings, recorder=runtime.recorder, bus=runtime.bus)
    consumer = f"engine-{settings.worker.name}"

    async def consume_signals() -> None:
        await runtime.bus.consume(SIGNALS, "engine", consumer, engine.handle_signal, stop)

    await run_tasks(runtime, "engine", stop, [consume_signals])


async def run_gateway(settings: Settings) -> None:
    stop = asyncio.Event()
    install_stop_handlers(stop)
    runtime = build(settings, "gateway")
    broker = build_broker(settings)
    await broker.connect()
    gateway = Gateway(recorder=runtime.recorder, bus=runtime.bus, broker=broker)
    consumer = f"gateway-{settings.worker.name}"

    async def consume_orders() -> None:
        # In-flight orders from a previous life are settled before anything new is sent.
        await gateway.reconcile_open()
        await runtime.bus.consume(ORDERS, "gateway", consumer, gateway.handle_order, stop)

    async def track_orders() -> None:
        await gateway.track(stop)

    try:
        await run_tasks(runtime, "gateway", stop, [consume_orders, track_orders])
    finally:
        await broker.close()
