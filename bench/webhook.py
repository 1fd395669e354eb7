"""Webhook benchmark: ack latency and sustained throughput, next to a bare endpoint.

Starts, on free loopback ports:
  * the real webhook role (`yquant webhook`) on the embedded defaults: a SQLite file (WAL,
    synchronous=FULL, so every ack waits for an fsync) and a private valkey-server;
  * a bare endpoint on the same server stack (the webhook's own `serve`: uvicorn with uvloop
    and httptools, Starlette routing, one process) with a route that reads the body, returns a
    small JSON body and does nothing else, and a second route (`bare_wait`) that also waits for
    a future another thread settles, as a write's commit is settled: the HTTP side's share of
    waiting for a durable write, without the write.

Then, from this process (asyncio, raw HTTP/1.1 keep-alive connections, no client library in the
way), for each target rate (default 200 and 1,000 requests/s, 5 s each, open loop: requests are
sent on schedule whether or not earlier ones have been answered) it reports ack latency
p50/p99 and the achieved rate; then the maximum sustained throughput of each (closed loop, the
best of 16, 64 and 128 connections, 5 s each), the ratio webhook/bare and each server's CPU
time per request (from /proc: it moves less than the rate with the machine's neighbours). Every
request is a distinct, valid alert (all must be answered 200 "accepted"). Everything stops by
itself; loopback only.

    .venv/bin/python bench/webhook.py [--rates 200,1000] [--connections 16,64,128]
                                      [--seconds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench._support import Connection, open_pool  # noqa: E402

from yquant.adapters.valkey_server import ValkeyServer  # noqa: E402
from yquant.processes import die_with_parent, free_port, wait_until  # noqa: E402

SECRET = "bench-secret-0123456789"  # noqa: S105 - the benchmark's own throwaway secret


# ---- the bare endpoint (run as a subprocess of this script) -------------------------------------


def serve_bare(port: int) -> None:
    """The webhook's own server stack (`yquant.entrypoints.http.serve`: uvicorn with uvloop and
    httptools, Starlette routing) with two routes that do no work:

    * ``/webhook`` reads the body and answers;
    * ``/wait`` also waits, before answering, for a future that another thread settles (in
      batches, as the group commit's writer thread settles its writes): the least that waiting
      for a durable write adds on the HTTP side, with no database and no parsing.
    """
    import threading

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from yquant.entrypoints.cli import run_event_loop
    from yquant.entrypoints.http import serve
    from yquant.entrypoints.process import install_stop_handlers

    waiting: list[asyncio.Future[None]] = []
    arrived = threading.Condition()

    def settler(loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with arrived:
                arrived.wait_for(lambda: bool(waiting))
                batch = waiting[:]
                waiting.clear()
            loop.call_soon_threadsafe(settle, batch)

    def settle(batch: list[asyncio.Future[None]]) -> None:
        for future in batch:
            future.set_result(None)

    async def bare(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"status": "accepted"})

    async def wait(request: Request) -> JSONResponse:
        await request.body()
        future = asyncio.get_running_loop().create_future()
        with arrived:
            waiting.append(future)
            arrived.notify()
        await future
        return JSONResponse({"status": "accepted"})

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_handlers(stop)
        loop = asyncio.get_running_loop()
        threading.Thread(target=settler, args=(loop,), daemon=True).start()
        routes = [Route("/webhook", bare, methods=["POST"]), Route("/wait", wait, methods=["POST"])]
        await serve(Starlette(routes=routes), "127.0.0.1", port, stop)

    run_event_loop(main())


def alert_body(n: int, run: str) -> bytes:
    ticker = "KRX:005930" if n % 2 else "NASDAQ:AAPL"
    return json.dumps(
        {
            "secret": SECRET,
            "strategy": "bench",
            "ticker": ticker,
            "action": "buy",
            "quantity": 1,
            "price": 100,
            "id": f"{run}-{n}",
        }
    ).encode()


async def fixed_rate(port: int, rate: int, seconds: float, run: str) -> dict[str, Any]:
    """Open loop: request i is sent at start + i/rate on a free connection."""
    total = int(rate * seconds)
    pool = await open_pool(port, min(64, max(8, rate // 20)))
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for c in pool:
        free.put_nowait(c)
    latencies: list[float] = []
    failures = 0
    start = time.perf_counter()

    async def one(i: int) -> None:
        nonlocal failures
        conn = await free.get()
        t0 = time.perf_counter()
        status, payload = await conn.post(alert_body(i, run))
        latencies.append((time.perf_counter() - t0) * 1000)
        if status != 200 or b'"accepted"' not in payload:
            failures += 1
        free.put_nowait(conn)

    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for c in pool:
        c.close()
    return {
        "target_rps": rate,
        "sent": total,
        "failures": failures,
        "achieved_rps": round(total / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2),
    }


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, all threads) a process has used so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def saturate(
    port: int,
    seconds: float,
    run: str,
    connections: int = 16,
    pid: int | None = None,
    path: str = "/webhook",
) -> dict[str, Any]:
    """Closed loop: every connection sends its next request as soon as the last is answered.
    With the server's ``pid``, also its CPU time per request (less sensitive than the rate to
    what else the machine is doing)."""
    pool = await open_pool(port, connections, path)
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))
    done = 0
    failures = 0

    async def worker(conn: Connection) -> None:
        nonlocal done, failures
        while time.perf_counter() < deadline:
            status, _ = await conn.post(alert_body(next(counter), run))
            done += 1
            failures += status != 200

    cpu_before = cpu_seconds(pid)
    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in pool))
    elapsed = time.perf_counter() - start
    cpu_after = cpu_seconds(pid)
    for c in pool:
        c.close()
    result: dict[str, Any] = {"requests": done, "failures": failures}
    result["rps"] = round(done / elapsed, 1)
    if cpu_before is not None and cpu_after is not None and done:
        result["cpu_us_per_request"] = round((cpu_after - cpu_before) / done * 1e6, 1)
    return result


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


# ---- orchestration ---------------------------------------------------------------------


def start_webhook(data: Path, valkey_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YQUANT")}
    env.update(
        YQUANT__DATA_DIR=str(data),
        YQUANT__VALKEY__URL=valkey_url,
        YQUANT__WEBHOOK__PORT=str(port),
        YQUANT__WEBHOOK__HOST="127.0.0.1",
        YQUANT__WEBHOOK__SECRET=SECRET,
        YQUANT__WEBHOOK__MAX_REJECTIONS_PER_MINUTE="10000",
        YQUANT__LOG_LEVEL="WARNING",
    )
    subprocess.run(
        [sys.executable, "-m", "yquant", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    with (data / "webhook.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "yquant", "webhook"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),
        )


def wait_port(port: int) -> None:
    import socket

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False
        return True

    wait_until(up, timeout_s=30, every_s=0.1)


async def measure(
    servers: dict[str, tuple[int, int, str]],
    rates: list[int],
    concurrencies: list[int],
    seconds: float,
) -> dict[str, Any]:
    """``servers``: "webhook", "bare" and "bare_wait", each (port, pid, path)."""
    webhook_port, bare_port = servers["webhook"][0], servers["bare"][0]
    run = uuid.uuid4().hex[:8]
    results: dict[str, Any] = {"fixed_rate": [], "max": {}}
    # Warm both servers (imports, connection pools, SQLite pages).
    await fixed_rate(webhook_port, 50, min(seconds, 1), run + "w")
    await fixed_rate(bare_port, 50, min(seconds, 1), run + "w")
    for rate in rates:
        results["fixed_rate"].append(
            {
                "webhook": await fixed_rate(webhook_port, rate, seconds, f"{run}-{rate}"),
                "bare": await fixed_rate(bare_port, rate, seconds, f"{run}-b{rate}"),
            }
        )
    # Maximum sustained throughput: the best of several client concurrencies, for each server
    # (a burst at a bar's close is many alerts at once; the webhook shares commits among
    # whatever arrives together, the bare endpoint has nothing to share).
    for name, (port, pid, path) in servers.items():
        tries = [
            {
                "connections": n,
                **await saturate(port, seconds, f"{run}-{name}-{n}", n, pid, path),
            }
            for n in concurrencies
        ]
        best = max(tries, key=lambda t: t["rps"])
        results["max"][name] = {**best, "tries": tries}
    results["max"]["ratio_webhook_to_bare"] = round(
        results["max"]["webhook"]["rps"] / results["max"]["bare"]["rps"], 3
    )
    results["max"]["ratio_bare_wait_to_bare"] = round(
        results["max"]["bare_wait"]["rps"] / results["max"]["bare"]["rps"], 3
    )
    cpu = [results["max"][n].get("cpu_us_per_request") for n in ("webhook", "bare", "bare_wait")]
    if None not in cpu:
        # At the best rate of each: the server's CPU per request, the bare's over the webhook's.
        results["max"]["cpu_ratio_bare_to_webhook"] = round(cpu[1] / cpu[0], 3)
        # What the webhook's CPU per request would be at half the bare endpoint's throughput,
        # and how much of that waiting for a write already takes on the HTTP side.
        results["max"]["cpu_budget_for_half_us"] = round(2 * cpu[1], 1)
    return results


def main() -> int:  # noqa: PLR0915 - argparse options, then one run per rate
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rates", default="200,1000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", default="16,64,128", help="closed-loop concurrencies")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: one low rate, 0.5 s phases"
    )
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.rates, args.seconds, args.connections = "50", 0.5, "4"
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="yq-bench-webhook-"))
    # The bench's environment (a private Valkey); yQuant itself runs as `yquant webhook`.
    valkey = ValkeyServer(tmp / "valkey", free_port())
    webhook_port, bare_port = free_port(), free_port()
    (tmp / "data").mkdir()
    webhook = bare = None
    try:
        valkey.start()
        webhook = start_webhook(tmp / "data", valkey.url, webhook_port)
        bare = subprocess.Popen(
            [sys.executable, __file__, "--serve-bare", str(bare_port)],
            preexec_fn=die_with_parent(),
        )
        wait_port(webhook_port)
        wait_port(bare_port)
        rates = [int(r) for r in args.rates.split(",")]
        concurrencies = [int(n) for n in args.connections.split(",")]
        servers = {
            "webhook": (webhook_port, webhook.pid, "/webhook"),
            "bare": (bare_port, bare.pid, "/webhook"),
            "bare_wait": (bare_port, bare.pid, "/wait"),
        }
        results = asyncio.run(measure(servers, rates, concurrencies, args.seconds))
    finally:
        for proc in (webhook, bare):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=15)
        valkey.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    failures = sum(r["webhook"]["failures"] for r in results["fixed_rate"])
    failures += sum(t["failures"] for t in results["max"]["webhook"]["tries"])
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(
            f"webhook benchmark (loopback, {os.cpu_count()} cores, SQLite FULL fsync, "
            f"{args.seconds:g} s per phase)"
        )
        for row in results["fixed_rate"]:
            w, b = row["webhook"], row["bare"]
            print(
                f"  {w['target_rps']:>5} req/s  webhook p50 {w['p50_ms']:>7.2f} ms  "
                f"p99 {w['p99_ms']:>7.2f} ms  achieved {w['achieved_rps']:>7.1f}/s  "
                f"failures {w['failures']}   |  bare p50 {b['p50_ms']:.2f} ms  "
                f"p99 {b['p99_ms']:.2f} ms"
            )
        m = results["max"]
        for name in ("webhook", "bare", "bare_wait"):
            tries = ", ".join(
                f"{t['rps']}/s @{t['connections']} ({t.get('cpu_us_per_request', '?')} us CPU)"
                for t in m[name]["tries"]
            )
            print(f"  closed loop {name:>9}: {tries}")
        print(
            f"  max sustained: webhook {m['webhook']['rps']} req/s, bare {m['bare']['rps']} "
            f"req/s, ratio {m['ratio_webhook_to_bare']}"
        )
        print(
            f"  bare_wait (bare + waiting for a future another thread settles): "
            f"{m['bare_wait']['rps']} req/s, ratio to bare {m['ratio_bare_wait_to_bare']}"
        )
        if "cpu_ratio_bare_to_webhook" in m:
            cpu = {n: m[n]["cpu_us_per_request"] for n in ("webhook", "bare", "bare_wait")}
            print(
                f"  server CPU per request at those rates: webhook {cpu['webhook']} us, bare "
                f"{cpu['bare']} us, bare_wait {cpu['bare_wait']} us; ratio bare/webhook "
                f"{m['cpu_ratio_bare_to_webhook']}"
            )
            print(
                f"  half the bare throughput leaves the webhook {m['cpu_budget_for_half_us']} us "
                f"per request, of which waiting for the write takes {cpu['bare_wait']} us"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
