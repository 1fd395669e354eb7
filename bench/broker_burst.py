"""Broker burst benchmark: 300 orders at once for one KIS account, on the KIS simulator, with
both workers (blue and green, each with its own Valkey) running on the same app key.

Wires each worker's gateway exactly as `yquant gateway` does (`workers.gateway_work`: stream
consumer, tracking, account sync, each only while the worker is active; shared token table;
the worker's Valkey rate limiter) against the KIS simulator over HTTP. Blue holds the active
role. ``--count`` orders are recorded and put on blue's ``yq:orders`` at once; after
``--switch-at`` of them reached KIS the active role moves to green (the deployment row, as
`yquant deploy switch` records it) and the rest go on green's stream at once. Measured:

  * drain rate per app key: orders accepted by KIS per second while orders flowed (each
    worker's stretch, the handover between them left out), against the configured per-app-key
    limit (goal: at least 95 % of it), and each worker's own;
  * the most KIS calls of the app key in any one second, both workers together, as the
    simulator counted them (correct: never above the configured rate and burst);
  * rate-limit errors: EGW00201 answers (the simulator enforces ``--kis-limit``; goal: 0);
  * the handover: from blue's last order to green's first (the new worker waits until the old
    one has stopped calling KIS), and the time until every order was filled and recorded.

With ``--alerts`` (one worker), the burst is of alerts instead: ``--count`` accepted signals
on the engine's stream at once, decided by the engine (built as `yquant engine` builds it, its
own KIS client on the same app key and Valkey rate limiter) and sent by the gateway. Also
measured: the engine's own KIS calls (it decides from its view of the account, read again
after ``engine.account_view_s``), and signals refused ``stale_signal`` (goal: none).

Exit status: 0 when every goal is met and every order was filled, 1 when an order was lost or
KIS's limit was broken, 3 when only the speed goal was missed.

    .venv/bin/python bench/broker_burst.py [--count 300] [--rate 15] [--kis-limit 18]
        [--workers 2] [--switch-at 0.5] [--alerts] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


from yquant import bootstrap  # noqa: E402
from yquant.adapters.brokers.kis.broker import KisBroker  # noqa: E402
from yquant.adapters.brokers.kis_sim import (  # noqa: E402
    KisSimulator,
    SimConfig,
    SimServer,
    key_label,
)
from yquant.adapters.brokers.routing import AccountBrokers  # noqa: E402
from yquant.adapters.db import migrate  # noqa: E402
from yquant.adapters.valkey_server import ValkeyServer  # noqa: E402
from yquant.domain.commands import DecideSignal, PlaceOrder  # noqa: E402
from yquant.domain.model import (  # noqa: E402
    Action,
    Alert,
    Market,
    Order,
    OrderType,
    Side,
    SignalStatus,
)
from yquant.domain.roles import Standing  # noqa: E402
from yquant.domain.writes import InsertOrder, InsertSignal  # noqa: E402
from yquant.entrypoints import workers  # noqa: E402
from yquant.ports import SIGNALS, NullMetrics  # noqa: E402
from yquant.processes import free_port  # noqa: E402
from yquant.services.worker_state import WorkerState  # noqa: E402
from yquant.settings import Settings  # noqa: E402

APP_KEY = "PSbenchKey0123456789abcdefghijklmnop"
APP_SECRET = "B" + "0123456789abcdef" * 11
CANO = "77777777"
ORDER_PATHS = (
    "/uapi/domestic-stock/v1/trading/order-cash",
    "/uapi/overseas-stock/v1/trading/order",
)


def orders(count: int, us_share: float) -> list[Order]:
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        us = us_share > 0 and n % max(int(1 / us_share), 1) == 0
        out.append(
            Order(
                client_order_id=f"yqburst{n:06d}",
                signal_key=None,
                account="burst",
                strategy="burst",
                ticker="AAPL" if us else "005930",
                exchange="NASDAQ" if us else "KOSPI",
                market=Market.US if us else Market.KR,
                side=Side.BUY,
                order_type=OrderType.MARKET,
                quantity=Decimal(1),
                created_at=now,
                updated_at=now,
            )
        )
    return out


class CallTimes(NullMetrics):
    """When this worker's KIS client called KIS (every call goes through ``broker_call``)."""

    def __init__(self) -> None:
        self.at: list[float] = []

    def broker_call(self, broker: str, operation: str) -> None:
        self.at.append(time.time())


@dataclass
class Worker:
    name: str
    valkey: ValkeyServer
    runtime: bootstrap.Runtime
    state: WorkerState
    brokers: AccountBrokers
    calls: CallTimes


async def start_worker(
    name: str, work: Path, url: str, kis: dict[str, Any], stop: asyncio.Event
) -> tuple[Worker, list[asyncio.Task[None]]]:
    """One worker's gateway, as `yquant gateway` runs it (its own data directory and Valkey)."""
    valkey = ValkeyServer(work / name / "valkey", free_port(), appendonly=False).start()
    settings = Settings(
        data_dir=work / name / "data",
        database={"url": url, "timeout_s": 2},
        valkey={"url": valkey.url},
        worker={"name": name},
        # At any hour: the simulator takes orders whatever KRX's session.
        accounts={"burst": {"broker": "kis-sim", "kis": kis, "sessions": "always"}},
        default_accounts=["burst"],
        gateway={"sync_interval_s": 60},
        metrics={"engine_port": 0, "gateway_port": 0},
        # The burst measures orders alone: no daily snapshot spends the KIS budget meanwhile.
        snapshots={"enabled": False},
    )
    runtime = bootstrap.build(settings, "gateway")
    state = bootstrap.build_worker_state(settings, runtime.store, runtime.clock)
    await state.load()
    brokers = bootstrap.build_broker(settings, runtime, role=state.role)
    calls = CallTimes()
    kis_broker = brokers.for_account("burst")
    assert isinstance(kis_broker, KisBroker)
    kis_broker.client.metrics = calls
    work_items = [*workers.gateway_work(runtime, brokers, state.role, stop)]
    tasks = [asyncio.create_task(w()) for w in work_items]
    tasks.append(asyncio.create_task(runtime.recorder.relay(stop)))
    return Worker(name, valkey, runtime, state, brokers, calls), tasks


async def start_engine(
    worker: Worker, stop: asyncio.Event
) -> tuple[CallTimes, list[asyncio.Task[None]], bootstrap.Runtime, AccountBrokers]:
    """The worker's engine, as `yquant engine` runs it: its own runtime and KIS client (no
    execution notices) on the worker's Valkey, consuming the signal stream."""
    settings = worker.runtime.settings
    runtime = bootstrap.build(settings, "engine")
    brokers = bootstrap.build_broker(settings, runtime, role=worker.state.role, notices=False)
    await brokers.connect()
    calls = CallTimes()
    kis_broker = brokers.for_account("burst")
    assert isinstance(kis_broker, KisBroker)
    kis_broker.client.metrics = calls
    engine, _ = await bootstrap.open_engine(settings, runtime, brokers, role=worker.state.role)
    await engine.warm_up()
    consume = runtime.bus.consume(
        SIGNALS, "engine", "engine-local", engine.signals.handle_signal, stop
    )
    tasks = [asyncio.create_task(consume), asyncio.create_task(runtime.recorder.relay(stop))]
    return calls, tasks, runtime, brokers


def alerts(count: int) -> list[Alert]:
    now = datetime.now(UTC)
    return [
        Alert(
            key=f"{n:032x}",
            strategy="burst",
            ticker="005930",
            exchange="KRX",
            market=Market.KR,
            action=Action.BUY,
            received_at=now,
            price=Decimal(71000),
            quantity=Decimal(1),
        )
        for n in range(1, count + 1)
    ]


async def burst_alerts(
    args: argparse.Namespace, sim: KisSimulator, worker: Worker, engine_runtime: bootstrap.Runtime
) -> Burst:
    """``--count`` accepted alerts on the engine's stream at once (the webhook's two steps:
    each recorded as accepted, then enqueued)."""
    await until(lambda: worker.state.role.standing() is Standing.ACTIVE, time.time() + 60)
    broker = worker.brokers.for_account("burst")
    await broker.quote(Market.KR, "KRX", "005930")  # token issued before the clock starts
    made = alerts(args.count)
    for alert in made:
        await worker.runtime.recorder.write(
            InsertSignal(
                key=alert.key,
                worker="local",
                status=SignalStatus.ACCEPTED,
                received_at=alert.received_at,
                updated_at=alert.received_at,
                alert=alert,
            )
        )
    first_call = len(sim.received)
    started = time.time()
    deadline = started + args.timeout
    await engine_runtime.bus.send_many([DecideSignal(a) for a in made])
    filled = 0
    while time.time() < deadline:
        rows = await worker.runtime.store.recent("orders", limit=args.count + 10)
        filled = sum(1 for r in rows if r["status"] == "filled")
        if filled == args.count:
            break
        await asyncio.sleep(0.5)
    return Burst(args.count, first_call, 0, filled, time.time() - started)


async def refused_stale(worker: Worker, count: int) -> int:
    rows = await worker.runtime.store.recent("signals", count + 10)
    return sum(1 for r in rows if r["reason"] == "stale_signal")


def accepted(sim: KisSimulator, since: int) -> list[float]:
    """When KIS took each order (the order TRs it answered) since call ``since``."""
    return [
        at
        for (path, _), at in zip(sim.received[since:], sim.received_at[since:], strict=True)
        if path in ORDER_PATHS
    ]


def drain(times: list[float]) -> tuple[int, float]:
    """(orders - 1, seconds from the first to the last): a stretch's drain."""
    return (len(times) - 1, times[-1] - times[0]) if len(times) > 1 else (0, 0.0)


async def until(done: Any, deadline: float) -> None:
    """Poll ``done()`` until it holds or ``deadline`` (time.time()) passes."""
    while True:
        if done() or time.time() >= deadline:
            return
        await asyncio.sleep(0.05)


async def set_active(url: str, worker: str) -> None:
    """What the switch records: ``worker`` holds the active role (a new epoch)."""
    store = bootstrap.open_store(Settings(database={"url": url}))
    try:
        await bootstrap.role_records(store).set_active(worker, "bench", datetime.now(UTC))
    finally:
        await store.close()


@dataclass
class Burst:
    split: int  # orders put on the first worker's stream; the rest go to the second's
    first_call: int  # the simulator's call count when the clock started
    switched_at: int  # its call count at the switch (0: no switch)
    filled: int
    all_filled_s: float


async def burst(args: argparse.Namespace, sim: KisSimulator, pair: list[Worker], url: str) -> Burst:
    first = pair[0]
    await until(lambda: first.state.role.standing() is Standing.ACTIVE, time.time() + 60)
    broker = first.brokers.for_account("burst")
    await broker.quote(Market.KR, "KRX", "005930")  # token issued before the clock starts
    made = orders(args.count, args.us_share)
    for o in made:
        await first.runtime.recorder.write(InsertOrder(o))
    first_call, switched_at = len(sim.received), 0
    split = args.count
    if len(pair) == 2 and args.switch_at > 0:
        split = max(1, min(args.count - 1, round(args.count * args.switch_at)))
    started = time.time()
    deadline = started + args.timeout
    for o in made[:split]:  # "at once": every order is on the stream before it drains
        await first.runtime.bus.send(PlaceOrder(o))
    if split < args.count:
        await until(lambda: len(accepted(sim, first_call)) >= split, deadline)
        await set_active(url, "green")  # the switch; the rest of the burst reaches green
        switched_at = len(sim.received)
        for o in made[split:]:
            await pair[1].runtime.bus.send(PlaceOrder(o))
    filled = 0
    while time.time() < deadline:
        rows = await first.runtime.store.recent("orders", limit=args.count + 10)
        filled = sum(1 for r in rows if r["status"] == "filled")
        if filled == args.count:
            break
        await asyncio.sleep(0.5)
    return Burst(split, first_call, switched_at, filled, time.time() - started)


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    # The bench's environment (a private Valkey per worker, the KIS simulator, one database);
    # yQuant is built by bootstrap.
    url = f"sqlite+aiosqlite:///{work / 'yquant.sqlite3'}"
    migrate.upgrade(url)
    sim = KisSimulator(SimConfig(environment="real", rate_limit_per_s=args.kis_limit))
    sim.add_app(APP_KEY, APP_SECRET, CANO, "01", cash_krw=Decimal(10**10), cash_usd=Decimal(10**7))
    server = SimServer(sim).start()
    kis = {
        "environment": "real",
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "account_number": f"{CANO}01",
        "base_url": server.url,
        "rate_limit_per_s": args.rate,
    }
    stop = asyncio.Event()
    pair: list[Worker] = []
    tasks: list[asyncio.Task[None]] = []
    engine: tuple[CallTimes, list[asyncio.Task[None]], bootstrap.Runtime, AccountBrokers] | None
    engine = None
    stale = 0
    try:
        if args.workers == 2:
            await set_active(url, "blue")
        for name in ("blue", "green") if args.workers == 2 else ("local",):
            worker, started = await start_worker(name, work, url, kis, stop)
            pair.append(worker)
            tasks += started
        if args.alerts:
            engine = await start_engine(pair[0], stop)
            tasks += engine[1]
            done = await burst_alerts(args, sim, pair[0], engine[2])
            stale = await refused_stale(pair[0], args.count)
        else:
            done = await burst(args, sim, pair, url)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        stop.set()
        if engine is not None:
            await engine[3].close()
            await engine[2].close()
        for worker in pair:
            await worker.brokers.close()
            await worker.runtime.close()
            worker.valkey.stop()
        server.stop()
    result = measure(args, sim, pair, done)
    if engine is not None:
        result["engine_kis_calls"] = len(engine[0].at)
        result["engine_kis_calls_per_decision"] = round(len(engine[0].at) / args.count, 3)
        result["stale_signal"] = stale
    return result


def measure(
    args: argparse.Namespace, sim: KisSimulator, pair: list[Worker], done: Burst
) -> dict[str, Any]:
    split = done.split
    order_times = accepted(sim, done.first_call)
    stretches = [order_times[:split], order_times[split:]] if split < args.count else [order_times]
    drains = [drain(t) for t in stretches]
    moved, seconds = sum(n for n, _ in drains), sum(s for _, s in drains)
    per_worker = {
        w.name: round(n / s, 3) if s else None for w, (n, s) in zip(pair, drains, strict=False)
    }
    handover = (order_times[split] - order_times[split - 1]) if split < len(order_times) else None
    rate = moved / seconds if seconds else 0.0
    window = (order_times[-1] - order_times[0]) if len(order_times) > 1 else 0.0
    calls_in = [
        at
        for at in sim.received_at[done.first_call :]
        if window and order_times[0] <= at <= order_times[-1]
    ]
    gaps = sorted(b - a for s in stretches for a, b in itertools.pairwise(s))
    counted = sim.report()["app_keys"][key_label(APP_KEY)]
    # The two workers' calls never in one second: the closest pair of calls of different workers.
    stamped = sorted((at, w.name) for w in pair for at in w.calls.at)
    apart = [b[0] - a[0] for a, b in itertools.pairwise(stamped) if a[1] != b[1]]
    return {
        "workers": [w.name for w in pair],
        "switch_after_orders": split if split < args.count else None,
        "slowest_gaps_s": [round(g, 3) for g in gaps[-5:]],
        "orders": args.count,
        "configured_rate_per_s": args.rate,
        "kis_limit_per_s": args.kis_limit,
        "orders_accepted_by_kis": len(order_times),
        "drain_rate_per_s": round(rate, 3),
        "drain_vs_limit": round(rate / args.rate, 4) if args.rate else None,
        "drain_per_worker_per_s": per_worker,
        "handover_s": None if handover is None else round(handover, 2),
        "peak_calls_per_s_per_app_key": counted["peak_per_s"],
        "calls_per_worker": {w.name: len(w.calls.at) for w in pair},
        # None with one worker, or when only one of them called KIS at all.
        "workers_calls_apart_s": round(min(apart), 3) if apart else None,
        "kis_calls_per_s_in_window": round((len(calls_in) - 1) / window, 3) if window else None,
        "kis_calls_after_switch": (len(sim.received) - done.switched_at)
        if done.switched_at
        else None,
        "rate_limit_errors": sim.stats["rate_limited"],
        "tokens_issued": sim.stats["tokens_issued"],
        "filled": done.filled,
        "all_filled_after_s": round(done.all_filled_s, 2),
    }


SPEED_GOAL_MISSED = 3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--rate", type=float, default=15.0, help="configured calls/s for the app key")
    p.add_argument("--kis-limit", type=int, default=18, help="the simulator's per-second limit")
    p.add_argument("--us-share", type=float, default=0.0, help="share of US orders (need a quote)")
    p.add_argument("--workers", type=int, choices=(1, 2), default=2, help="blue and green, or one")
    p.add_argument(
        "--switch-at",
        type=float,
        default=0.5,
        help="share of the orders before the switch (0: none)",
    )
    p.add_argument(
        "--alerts", action="store_true", help="a burst of alerts through the engine (one worker)"
    )
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.alerts:
        args.workers, args.switch_at = 1, 0.0
    work = Path(tempfile.mkdtemp(prefix="yq-burst-"))
    try:
        result = asyncio.run(run(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Every order filled and KIS's limit never exceeded (no refusal; both workers together never
    # above the configured rate in any second) are correctness; the drain rate is a speed goal,
    # which a loaded machine can miss (exit 3, so a smoke run can tell the two apart).
    r = result
    apart = r["workers_calls_apart_s"]
    correct = (
        r["filled"] == args.count
        and r.get("stale_signal", 0) == 0
        and r["rate_limit_errors"] == 0
        and r["peak_calls_per_s_per_app_key"] <= args.kis_limit
        and (apart is None or apart >= 1.0)
    )
    fast = (r["drain_vs_limit"] or 0) >= 0.95
    ok = correct and fast
    if args.json:
        print(json.dumps({**r, "goals_met": ok}, indent=1))
    else:
        switch = r["switch_after_orders"]
        shown = ", ".join(r["workers"]) + (f" (switch after {switch} orders)" if switch else "")
        per = ", ".join(f"{w} {v}/s" for w, v in r["drain_per_worker_per_s"].items())
        print(f"workers                 {shown}")
        print(
            f"orders                  {r['orders']} (accepted by KIS {r['orders_accepted_by_kis']})"
        )
        print(
            f"configured rate         {r['configured_rate_per_s']}/s per app key"
            f" (KIS {r['kis_limit_per_s']}/s)"
        )
        print(
            f"drain rate              {r['drain_rate_per_s']}/s = {r['drain_vs_limit']:.1%}"
            " of the configured rate (goal >= 95%), per app key"
        )
        print(f"drain per worker        {per}")
        print(
            f"peak calls per app key  {r['peak_calls_per_s_per_app_key']} in one second, every"
            f" worker together (KIS allows {args.kis_limit})"
        )
        calls = ", ".join(f"{w} {n}" for w, n in r["calls_per_worker"].items())
        gap = "" if apart is None else f"; never in one second: {apart} s apart (goal >= 1 s)"
        print(f"KIS calls per worker    {calls}{gap}")
        if r["handover_s"] is not None:
            print(f"handover                {r['handover_s']} s from blue's last order to green's")
        print(f"all KIS calls in window {r['kis_calls_per_s_in_window']}/s")
        print(f"rate-limit errors       {r['rate_limit_errors']} (goal 0)")
        if args.alerts:
            print(
                f"engine's KIS calls      {r['engine_kis_calls']}"
                f" ({r['engine_kis_calls_per_decision']} per decision)"
            )
            print(f"stale_signal            {r['stale_signal']} (goal 0)")
        print(
            f"filled                  {r['filled']}/{args.count} after {r['all_filled_after_s']} s"
        )
        print("goals met" if ok else "GOALS NOT MET")
    if not correct:
        return 1
    return 0 if fast else SPEED_GOAL_MISSED


if __name__ == "__main__":
    sys.exit(main())
