"""Fill latency and REST calls per filled order, polling only vs KIS execution notices.

The gateway wired as `yquant gateway` wires it (stream consumer, tracking, account sync) against
the KIS simulator over HTTP. ``--count`` limit buys are placed and rest; once all are accepted
the price moves through them, and the script measures, for each mode:

  * fill latency: from the price move to the order recorded ``filled`` (median and slowest);
  * REST calls per filled order: every KIS call from the first order to the last fill, divided
    by the orders (order submissions included, token and quotes before the clock excluded).

    .venv/bin/python bench/notice_fills.py [--count 40] [--rest-s 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
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
from yquant.adapters.brokers.kis.broker import KisBroker  # noqa: E402
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


def resting_buys(count: int, tag: str) -> list[Order]:
    now = datetime.now(UTC)
    return [
        Order(
            client_order_id=f"yqfill{tag}{n:05d}",
            signal_key=None,
            account="bench",
            strategy="bench",
            ticker="005930",
            exchange="KOSPI",
            market=Market.KR,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal(1),
            limit_price=Decimal(69_000),
            created_at=now,
            updated_at=now,
        )
        for n in range(count)
    ]


async def until(check: Any, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        done = check()
        if asyncio.iscoroutine(done):
            done = await done
        if done:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(what)


async def statuses(store: Any, count: int) -> list[dict[str, Any]]:
    return await store.recent("orders", limit=count + 10)


async def run(count: int, notices: bool, rest_s: float, work: Path) -> dict[str, Any]:
    # The bench's environment (a private Valkey, the KIS simulator); yQuant is built by bootstrap.
    valkey_server = ValkeyServer(work / "valkey", free_port(), appendonly=False).start()
    url = f"sqlite+aiosqlite:///{work / 'yquant.sqlite3'}"
    migrate.upgrade(url)
    sim = KisSimulator(SimConfig(environment="real", rate_limit_per_s=18))
    sim.add_app(APP_KEY, APP_SECRET, CANO, "01", cash_krw=Decimal(10**10))
    sim.exchange.set_price("KR", "005930", Decimal(70_000))
    server = SimServer(sim).start()
    kis = {
        "environment": "real",
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "account_number": f"{CANO}01",
        "base_url": server.url,
        "rate_limit_per_s": 15,
        "hts_id": f"sim{CANO}" if notices else None,
    }
    settings = Settings(
        data_dir=work / "data",
        database={"url": url, "timeout_s": 10},
        valkey={"url": valkey_server.url},
        accounts={"bench": {"broker": "kis-sim", "kis": kis}},
        default_accounts=["bench"],
        gateway={"sync_interval_s": 60},
    )
    # As `yquant gateway` builds it: the runtime, the brokers, the gateway and its account sync.
    runtime = bootstrap.build(settings, "gateway")
    brokers = bootstrap.build_broker(settings, runtime)
    broker = brokers.for_account("bench")
    assert isinstance(broker, KisBroker)
    parts = bootstrap.build_gateway(runtime, brokers, bootstrap.active_role(runtime.store, "local"))
    stop = asyncio.Event()
    try:
        await brokers.connect()
        await broker.quote(Market.KR, "KRX", "005930")  # token issued before the clock starts
        await until(lambda: not notices or broker.notices_live, "notices live")
        tasks = [
            asyncio.create_task(
                runtime.bus.consume(ORDERS, "gateway", "bench", parts.gateway.handle_order, stop)
            ),
            asyncio.create_task(parts.gateway.track(stop)),
            asyncio.create_task(parts.sync.run(stop)),
        ]
        result = await measure(runtime, sim, count, "n" if notices else "p", rest_s)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await brokers.close()
        await runtime.close()
        server.stop()
        valkey_server.stop()
    return {
        "mode": "notices" if notices else "polling",
        "orders": count,
        "rest_s": rest_s,
        **result,
    }


async def measure(
    runtime: Any, sim: KisSimulator, count: int, tag: str, rest_s: float
) -> dict[str, Any]:
    store = runtime.store
    batch = resting_buys(count, tag)
    for o in batch:
        await runtime.recorder.write(InsertOrder(o))
    first_call = len(sim.received)
    for o in batch:
        await runtime.bus.send(PlaceOrder(o))

    async def all_resting() -> bool:
        rows = await statuses(store, count)
        return sum(r["status"] == "accepted" for r in rows) == count

    await until(all_resting, "all orders resting")
    await asyncio.sleep(rest_s)  # resting, followed the way each mode follows
    moved = datetime.now(UTC)
    sim.exchange.set_price("KR", "005930", Decimal(68_900))
    deadline = time.time() + 60
    rows: list[dict[str, Any]] = []
    while time.time() < deadline:
        rows = await statuses(store, count)
        if sum(r["status"] == "filled" for r in rows) == count:
            break
        await asyncio.sleep(0.02)
    calls = len(sim.received) - first_call
    latencies = [
        (r["updated_at"].replace(tzinfo=r["updated_at"].tzinfo or UTC) - moved).total_seconds()
        for r in rows
        if r["status"] == "filled"
    ]
    return {
        "filled": len(latencies),
        "rest_calls_per_filled_order": round(calls / max(len(latencies), 1), 2),
        "fill_latency_median_s": round(statistics.median(latencies), 3) if latencies else None,
        "fill_latency_max_s": round(max(latencies), 3) if latencies else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--rest-s", type=float, default=10.0, help="how long the orders rest")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    results = []
    for notices in (False, True):
        work = Path(tempfile.mkdtemp(prefix="yq-notice-"))
        try:
            results.append(asyncio.run(run(args.count, notices, args.rest_s, work)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            print(
                f"{r['mode']:8} filled {r['filled']}/{r['orders']}  REST calls per filled order"
                f" {r['rest_calls_per_filled_order']}  fill latency median"
                f" {r['fill_latency_median_s']} s, slowest {r['fill_latency_max_s']} s"
            )
    return 0 if all(r["filled"] == r["orders"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
