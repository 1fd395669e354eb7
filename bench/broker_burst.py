"""Broker burst benchmark: 300 orders at once for one KIS account, on the KIS simulator.

Wires the gateway exactly as `yquant gateway` does (stream consumer, tracking, account sync,
shared token table, Valkey rate limiter) against the KIS simulator over HTTP, records ``--count``
orders and puts them on ``yq:orders`` at once, then measures:

  * drain rate: orders accepted by KIS per second, from the first to the last, against the
    configured per-app-key limit (goal: at least 95 % of it);
  * rate-limit errors: EGW00201 answers KIS (the simulator, enforcing ``--kis-limit`` per
    second in any one-second window) sent back (goal: 0);
  * all KIS calls per second in the same window (inquiries included) and the time until every
    order was filled and recorded.

Exit status: 0 when both goals are met and every order was filled, 1 otherwise.

    .venv/bin/python bench/broker_burst.py [--count 300] [--rate 15] [--kis-limit 18] [--json]
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
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


from yquant import bootstrap  # noqa: E402
from yquant.adapters.brokers.kis_sim import KisSimulator, SimConfig, SimServer  # noqa: E402
from yquant.adapters.db import migrate  # noqa: E402
from yquant.adapters.valkey_server import ValkeyServer  # noqa: E402
from yquant.domain.commands import PlaceOrder  # noqa: E402
from yquant.domain.model import Market, Order, OrderType, Side  # noqa: E402
from yquant.domain.writes import InsertOrder  # noqa: E402
from yquant.ports import ORDERS  # noqa: E402
from yquant.processes import free_port  # noqa: E402
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


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    # The bench's environment (a private Valkey, the KIS simulator); yQuant is built by bootstrap.
    valkey_server = ValkeyServer(work / "valkey", free_port(), appendonly=False).start()
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
    settings = Settings(
        data_dir=work / "data",
        database={"url": url, "timeout_s": 10},
        valkey={"url": valkey_server.url},
        accounts={"burst": {"broker": "kis-sim", "kis": kis}},
        default_accounts=["burst"],
        gateway={"sync_interval_s": 60},
    )
    # As `yquant gateway` builds it: the runtime, the brokers, the gateway and its account sync.
    runtime = bootstrap.build(settings, "gateway")
    store, recorder, bus = runtime.store, runtime.recorder, runtime.bus
    brokers = bootstrap.build_broker(settings, runtime)
    broker = brokers.for_account("burst")
    parts = bootstrap.build_gateway(runtime, brokers, bootstrap.active_role(store, "local"))
    gateway, sync = parts.gateway, parts.sync
    stop = asyncio.Event()
    try:
        await broker.quote(Market.KR, "KRX", "005930")  # token issued before the clock starts
        burst = orders(args.count, args.us_share)
        for o in burst:
            await recorder.write(InsertOrder(o))
        first_call = len(sim.received)
        tasks = [
            asyncio.create_task(
                bus.consume(ORDERS, "gateway", "bench", gateway.handle_order, stop)
            ),
            asyncio.create_task(gateway.track(stop)),
            asyncio.create_task(sync.run(stop)),
        ]
        started = time.time()
        for o in burst:  # "at once": every order is on the stream before the gateway drains it
            await bus.send(PlaceOrder(o))
        deadline = started + args.timeout
        filled = 0
        while time.time() < deadline:
            rows = await store.recent("orders", limit=args.count + 10)
            filled = sum(1 for r in rows if r["status"] == "filled")
            if filled == args.count:
                break
            await asyncio.sleep(0.5)
        all_filled_s = time.time() - started
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await brokers.close()
        await runtime.close()
        server.stop()
        valkey_server.stop()

    calls = list(zip(sim.received[first_call:], sim.received_at[first_call:], strict=True))
    order_times = [at for (path, _), at in calls if path in ORDER_PATHS]
    window = (order_times[-1] - order_times[0]) if len(order_times) > 1 else 0.0
    drain = (len(order_times) - 1) / window if window else 0.0
    in_window = [at for _, at in calls if order_times and order_times[0] <= at <= order_times[-1]]
    gaps = sorted(b - a for a, b in itertools.pairwise(order_times))
    return {
        "slowest_gaps_s": [round(g, 3) for g in gaps[-5:]],
        "orders": args.count,
        "configured_rate_per_s": args.rate,
        "kis_limit_per_s": args.kis_limit,
        "orders_accepted_by_kis": len(order_times),
        "drain_rate_per_s": round(drain, 3),
        "drain_vs_limit": round(drain / args.rate, 4) if args.rate else None,
        "kis_calls_per_s_in_window": round((len(in_window) - 1) / window, 3) if window else None,
        "rate_limit_errors": sim.stats["rate_limited"],
        "tokens_issued": sim.stats["tokens_issued"],
        "filled": filled,
        "all_filled_after_s": round(all_filled_s, 2),
    }


SPEED_GOAL_MISSED = 3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--rate", type=float, default=15.0, help="configured calls/s for the app key")
    p.add_argument("--kis-limit", type=int, default=18, help="the simulator's per-second limit")
    p.add_argument("--us-share", type=float, default=0.0, help="share of US orders (need a quote)")
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="yq-burst-"))
    try:
        result = asyncio.run(run(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Every order filled and KIS's limit never exceeded are correctness; the drain rate is a
    # speed goal, which a loaded machine can miss (exit 3, so a smoke run can tell the two apart).
    correct = result["filled"] == args.count and result["rate_limit_errors"] == 0
    fast = (result["drain_vs_limit"] or 0) >= 0.95
    ok = correct and fast
    if args.json:
        print(json.dumps({**result, "goals_met": ok}, indent=1))
    else:
        r = result
        print(
            f"orders                  {r['orders']} (accepted by KIS {r['orders_accepted_by_kis']})"
        )
        print(
            f"configured rate         {r['configured_rate_per_s']}/s (KIS {r['kis_limit_per_s']}/s)"
        )
        print(
            f"drain rate              {r['drain_rate_per_s']}/s = {r['drain_vs_limit']:.1%}"
            " of the configured rate (goal >= 95%)"
        )
        print(f"all KIS calls in window {result['kis_calls_per_s_in_window']}/s")
        print(f"rate-limit errors       {result['rate_limit_errors']} (goal 0)")
        print(
            f"filled                  {r['filled']}/{args.count} after {r['all_filled_after_s']} s"
        )
        print("goals met" if ok else "GOALS NOT MET")
    if not correct:
        return 1
    return 0 if fast else SPEED_GOAL_MISSED


if __name__ == "__main__":
    sys.exit(main())
