"""What every yQuant process does around its own work: signals, heartbeat, journal relay."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from yquant.adapters.metrics import PrometheusMetrics
from yquant.bootstrap import Runtime
from yquant.errors import BusUnavailableError, DatabaseUnavailableError
from yquant.ports import CANCELS, EXECUTIONS, ORDERS, SIGNALS

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 5.0

T = TypeVar("T")


async def unless_stopped(
    fn: Callable[..., T], *args: object, stop: asyncio.Event, name: str
) -> T | None:
    """Run blocking ``fn(*args)`` in a daemon thread and return its result; None if ``stop``
    came first. Unlike ``asyncio.to_thread`` (the default executor, whose threads the loop and
    the interpreter join at exit), a stop neither waits for it nor is held up by it at exit:
    the thread is left to die with the process. Only for work that writes nothing."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not result.done():
            outcome()

    def work() -> None:
        try:
            value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, lambda: result.set_exception(error))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, lambda: result.set_result(value))

    threading.Thread(target=work, name=name, daemon=True).start()
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((result, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not result.done():
        result.cancel()
        return None
    return result.result()


def install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def heartbeat(
    runtime: Runtime,
    role: str,
    stop: asyncio.Event,
    status: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Tell the worker's Valkey (and systemd, when it watches) that this role is alive; with
    ``status``, what it reports each time (the health check shows it)."""
    pid = os.getpid()
    info = {"pid": pid, "worker": runtime.settings.worker.name}
    while not stop.is_set():
        # The watchdog says "this process's loop runs", not "Valkey is up": a Valkey outage must
        # not make systemd restart every role (the webhook keeps recording into its journal).
        notify_systemd(b"WATCHDOG=1")
        with contextlib.suppress(BusUnavailableError):
            await runtime.bus.heartbeat(role, info if status is None else {**info, **status()})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=HEARTBEAT_EVERY_S)
    with contextlib.suppress(BusUnavailableError):
        await runtime.bus.heartbeat_stopped(role, pid)


def notify_systemd(message: bytes) -> None:
    """sd_notify without a dependency: a datagram to $NOTIFY_SOCKET, if systemd set one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.sendto(message, address)


async def run_tasks(
    runtime: Runtime,
    role: str,
    stop: asyncio.Event,
    work: list[Callable[[], Coroutine[Any, Any, None]]],
    status: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Run ``work`` plus heartbeat (carrying ``status``) and journal relay until ``stop``; a
    crash in one stops all."""
    # The database connections the first alert would open, opened before the role says it is
    # up; a database that is away is no reason not to start (the journal takes the writes).
    with contextlib.suppress(DatabaseUnavailableError):
        await runtime.store.warm_up()
    # What exists by now (modules, settings, table metadata, the app) lives as long as the
    # process: keep it out of the collector's full passes, which otherwise stall the loop for
    # tens of milliseconds (65 ms measured on the webhook under load).
    gc.collect()
    gc.freeze()
    tasks = [
        asyncio.create_task(heartbeat(runtime, role, stop, status), name="heartbeat"),
        asyncio.create_task(runtime.recorder.relay(stop), name="relay"),
        *(asyncio.create_task(w(), name=getattr(w, "__name__", "work")) for w in work),
    ]
    stop_metrics = None
    if isinstance(runtime.metrics, PrometheusMetrics):
        sampler = runtime.metrics.sample_streams(
            runtime.bus, (SIGNALS, ORDERS, CANCELS, EXECUTIONS), stop
        )
        tasks.append(asyncio.create_task(sampler, name="metrics"))
        port = metrics_port(runtime, role)
        if port:
            stop_metrics = runtime.metrics.serve(runtime.settings.metrics.host, port)
    notify_systemd(b"READY=1")
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    failed = [t for t in done if t is not stopper and not t.cancelled() and t.exception()]
    await asyncio.wait(tasks, timeout=10)
    for t in tasks:
        t.cancel()
    stopper.cancel()
    if stop_metrics is not None:
        stop_metrics()
    await runtime.close()
    if failed:
        raise failed[0].exception()  # type: ignore[misc]


def metrics_port(runtime: Runtime, role: str) -> int:
    """The port of a role's own metrics endpoint: the engine's and the gateway's (the webhook
    and the dashboard answer `/metrics` on their own port); 0 for none."""
    ports = {
        "engine": runtime.settings.metrics.engine_port,
        "gateway": runtime.settings.metrics.gateway_port,
    }
    return ports.get(role, 0)
