"""End-to-end benchmark: TradingView-style alerts through `yquant up` to paper fills.

Starts `yquant up` (webhook, engine, gateway, dashboard and the embedded Valkey) on free loopback
ports in a temporary data directory, measures a baseline (GET /healthz round trips), then sends
``--count`` distinct alerts to POST /webhook at ``--rate`` per second with ``--concurrency``
requests in flight, and waits (at most ``--timeout`` seconds) until every alert's order is filled.

Measured:
  * ack latency: client-side round trip of each POST /webhook (200 "accepted");
  * accepted -> filled: signals.received_at to the fills.filled_at of the signal's order, read from
    the SQLite database (<data_dir>/yquant.sqlite3) with the stdlib sqlite3 module;
  * achieved alerts/s: sent / elapsed sending time;
  * end-to-end throughput: filled / (first send .. last fill);
  * baseline: the same number of GET /healthz round trips, same rate and concurrency. Note that
    /healthz is not an empty handler: it pings the database and Valkey and reads the heartbeats.

Exit status: 0 when every alert was accepted and filled in time, 1 otherwise, 2 on a usage or
start-up error.

    .venv/bin/python bench/e2e.py --count 1000 [--rate 100] [--concurrency 8] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench._support import Connection, YquantUp, cpu_seconds, open_pool, role_pids, valkey_pids  # noqa: E402

# (ticker, price) alternated; the paper account is given cash enough for every one-share buy.
TICKERS = (("KRX:005930", 71000), ("NASDAQ:AAPL", 190))


def many_tickers(count: int) -> tuple[tuple[str, int], ...]:
    """``count`` tradable stocks of the shipped catalog, Korean and US in turn while both
    last (a bar close fires many strategies on many instruments at once); one price per
    market."""
    from yquant.adapters.catalog.snapshot import shipped_listings

    stocks = [
        x for x in shipped_listings() if x.tradable and not x.halted and x.security_type == "stock"
    ]
    kr = [(f"KRX:{x.ticker}", 10_000) for x in stocks if x.market == "KR"]
    # As TradingView spells them: BRK.B for the catalog's (KIS's) BRK/B.
    us = [(f"{x.exchange}:{x.ticker.replace('/', '.')}", 50) for x in stocks if x.market == "US"]
    mixed = [t for pair in itertools.zip_longest(kr, us) for t in pair if t is not None]
    if count > len(mixed):
        raise ValueError(f"--tickers: the shipped catalog has {len(mixed)} stocks")
    return tuple(mixed[:count])


FINAL_BAD_ORDER = ("rejected", "cancelled", "expired")


# ---- statistics ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (q in 0..100)."""
    if not values:
        return None
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summary(values_ms: list[float]) -> dict[str, Any]:
    return {
        "n": len(values_ms),
        "p50": percentile(values_ms, 50),
        "p95": percentile(values_ms, 95),
        "p99": percentile(values_ms, 99),
        "max": max(values_ms) if values_ms else None,
    }


# ---- load generation -----------------------------------------------------------------------------


@dataclass
class Shot:
    index: int
    latency_ms: float | None = None
    status_code: int | None = None
    body: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class Run:
    shots: list[Shot] = field(default_factory=list)
    started_wall: datetime | None = None
    elapsed_s: float = 0.0


async def paced(
    count: int,
    rate: float,
    concurrency: int,
    request: Any,
) -> Run:
    """Issue ``count`` requests, request i not before t0 + i/rate, at most ``concurrency`` open.

    Latency is measured from the moment the request is actually sent (after the concurrency slot
    was obtained) to the full response.
    """
    run = Run(shots=[Shot(i) for i in range(count)])
    sem = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()

    async def one(shot: Shot) -> None:
        try:
            t = time.perf_counter()
            code, body = await request(shot.index)
            shot.latency_ms = (time.perf_counter() - t) * 1000.0
            shot.status_code, shot.body = code, body
        except Exception as exc:  # noqa: BLE001 - recorded, counted as a failure
            shot.error = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            sem.release()

    tasks = []
    run.started_wall = datetime.now(UTC)
    t0 = loop.time()
    for shot in run.shots:
        due = t0 + shot.index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await sem.acquire()
        tasks.append(asyncio.create_task(one(shot)))
    await asyncio.gather(*tasks)
    run.elapsed_s = loop.time() - t0
    return run


@contextlib.asynccontextmanager
async def client_pool(port: int, size: int) -> AsyncIterator[asyncio.Queue[Connection]]:
    """``size`` keep-alive connections to the webhook port, each used by one request at a time.
    A plain HTTP/1.1 client: the load generator shares the machine's cores with yQuant, and a
    general-purpose client spent about 4 ms of CPU per request (a third of the pipeline's)."""
    pool = await open_pool(port, size)
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in pool:
        free.put_nowait(conn)
    try:
        yield free
    finally:
        for conn in pool:
            conn.close()


async def exchange(free: asyncio.Queue[Connection], send: Any) -> tuple[int, bytes]:
    conn = await free.get()
    try:
        return await send(conn)  # type: ignore[no-any-return]
    finally:
        free.put_nowait(conn)


async def baseline(up: YquantUp, count: int, rate: float, concurrency: int) -> Run:
    async with client_pool(up.webhook_port, concurrency) as free:

        async def request(i: int) -> tuple[int, dict[str, Any] | None]:
            status, _ = await exchange(free, lambda c: c.get("/healthz"))
            return status, None

        return await paced(count, rate, concurrency, request)


async def alerts(
    up: YquantUp,
    count: int,
    rate: float,
    concurrency: int,
    strategy: str,
    run_id: str,
    tickers: tuple[tuple[str, int], ...],
) -> Run:
    async with client_pool(up.webhook_port, concurrency) as free:

        async def request(i: int) -> tuple[int, dict[str, Any] | None]:
            ticker, price = tickers[i % len(tickers)]
            body = up.alert(
                strategy=strategy,
                ticker=ticker,
                action="buy",
                quantity=1,
                price=price,
                id=f"{run_id}-{i:06d}",
            )
            status, raw = await exchange(free, lambda c: c.post(json.dumps(body).encode()))
            try:
                data = json.loads(raw)
            except ValueError:
                data = {"raw": raw[:200].decode(errors="replace")}
            return status, data

        return await paced(count, rate, concurrency, request)


def valkey_commands(port: int) -> dict[str, int]:
    """Calls of each command the embedded Valkey has served so far (INFO commandstats)."""
    import valkey

    client = valkey.Valkey(port=port, socket_timeout=5)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


# ---- reading the database ------------------------------------------------------------------------


def parse_utc(value: str | None) -> datetime | None:
    """SQLite holds naive UTC text ('YYYY-MM-DD HH:MM:SS[.ffffff]')."""
    if value is None:
        return None
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


@dataclass
class Outcome:
    signal_key: str
    received_at: datetime | None
    signal_status: str | None
    order_status: str | None
    filled_at: datetime | None


def read_outcomes(db_path: Path, strategy: str) -> dict[str, Outcome]:
    """One row per signal of this run: its accept time and its order's (last) fill time."""
    if not db_path.exists():
        return {}
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        rows = conn.execute(
            """
            SELECT s.signal_key, s.received_at, s.status, o.status, MAX(f.filled_at)
            FROM signals s
            LEFT JOIN orders o ON o.signal_key = s.signal_key
            LEFT JOIN fills f ON f.client_order_id = o.client_order_id
            WHERE s.strategy = ?
            GROUP BY s.signal_key, s.received_at, s.status, o.client_order_id, o.status
            """,
            (strategy,),
        ).fetchall()
    finally:
        conn.close()
    out: dict[str, Outcome] = {}
    for key, received, s_status, o_status, filled in rows:
        out[key] = Outcome(key, parse_utc(received), s_status, o_status, parse_utc(filled))
    return out


def is_filled(o: Outcome | None) -> bool:
    return o is not None and o.order_status == "filled" and o.filled_at is not None


def is_dead(o: Outcome | None) -> bool:
    """Final without a fill: waiting longer will not help."""
    if o is None:
        return False
    return o.signal_status == "rejected" or o.order_status in FINAL_BAD_ORDER


def wait_for_fills(
    db_path: Path, strategy: str, keys: set[str], timeout_s: float
) -> tuple[dict[str, Outcome], float]:
    deadline = time.monotonic() + timeout_s
    t = time.monotonic()
    outcomes: dict[str, Outcome] = {}
    while True:
        with contextlib.suppress(sqlite3.OperationalError):  # busy for a moment: try again
            outcomes = read_outcomes(db_path, strategy)
        pending = [k for k in keys if not (is_filled(o := outcomes.get(k)) or is_dead(o))]
        if not pending or time.monotonic() >= deadline:
            return outcomes, time.monotonic() - t
        time.sleep(0.2)


# ---- the run -------------------------------------------------------------------------------------


def fmt(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


# One benchmark run as one readable sequence: start, warm up, send, wait, measure, stop.
def bench(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:  # noqa: PLR0912, PLR0915
    run_id = uuid.uuid4().hex[:10]
    strategy = f"bench-{run_id}"
    tmp = Path(tempfile.mkdtemp(prefix="yquant-bench-"))
    # Cash for all the buys (twice over), so that no order is refused for want of money.
    tickers = many_tickers(args.tickers) if args.tickers else TICKERS
    need = {"KRW": 0, "USD": 0}
    for i in range(args.count):
        ticker, price = tickers[i % len(tickers)]
        need["KRW" if ticker.startswith("KRX:") else "USD"] += price
    up = YquantUp(
        tmp / "data",
        YQUANT__PAPER__INITIAL_CASH_KRW=str(max(2 * need["KRW"], 100_000_000)),
        YQUANT__PAPER__INITIAL_CASH_USD=str(max(2 * need["USD"], 100_000)),
    )
    result: dict[str, Any] = {
        "count": args.count,
        "tickers": len(tickers),
        "rate": args.rate,
        "concurrency": args.concurrency,
        "data_dir": str(up.data_dir),
    }
    failed = True
    try:
        t = time.monotonic()
        try:
            up.start(timeout_s=90)
        except BaseException:
            print(up.log()[-4000:], file=sys.stderr)
            raise
        result["startup_s"] = round(time.monotonic() - t, 2)
        log_offset = len(up.log())

        base = asyncio.run(baseline(up, args.count, args.rate, args.concurrency))
        base_ok = [s.latency_ms for s in base.shots if s.status_code == 200 and s.latency_ms]
        result["baseline_healthz_ms"] = summary(base_ok)
        result["baseline_failures"] = args.count - len(base_ok)

        assert up.proc is not None
        pids = role_pids(up.proc.pid)
        pids.update(valkey_pids(up.proc.pid))
        pids["up"] = up.proc.pid  # the supervisor (it carries the roles' logs)
        cpu_before = {role: cpu_seconds(pid) for role, pid in pids.items()}
        commands_before = valkey_commands(up.valkey_port)
        client_before = time.process_time()
        sent = asyncio.run(
            alerts(up, args.count, args.rate, args.concurrency, strategy, run_id, tickers)
        )
        client_cpu_s = time.process_time() - client_before
        accepted = [
            s
            for s in sent.shots
            if s.status_code == 200 and s.body and s.body.get("status") == "accepted"
        ]
        accepted_ids = {s.index for s in accepted}
        not_accepted = [s for s in sent.shots if s.index not in accepted_ids]
        key_of = {s.body["signal"]: s for s in accepted if s.body}
        result["accepted"] = len(accepted)
        result["not_accepted"] = len(not_accepted)
        if not_accepted:
            result["not_accepted_examples"] = [
                {"i": s.index, "http": s.status_code, "body": s.body, "error": s.error}
                for s in not_accepted[:5]
            ]
        result["ack_ms"] = summary([s.latency_ms for s in accepted if s.latency_ms is not None])
        result["send_elapsed_s"] = round(sent.elapsed_s, 3)
        result["achieved_alerts_per_s"] = args.count / sent.elapsed_s if sent.elapsed_s else None

        db_path = up.data_dir / "yquant.sqlite3"
        outcomes, waited = wait_for_fills(db_path, strategy, set(key_of), args.timeout)
        # CPU per alert of each role, from sending to the last fill: less sensitive to a shared
        # machine than the times.
        result["cpu_ms_per_alert"] = {
            role: round((cpu_seconds(pid) - cpu_before[role]) * 1000 / args.count, 3)
            for role, pid in pids.items()
        }
        # Valkey commands per alert, by command, from sending to the last fill.
        commands = valkey_commands(up.valkey_port)
        result["valkey_commands_per_alert"] = {
            name: round((calls - commands_before.get(name, 0)) / args.count, 2)
            for name, calls in sorted(commands.items(), key=lambda kv: -kv[1])
            if calls - commands_before.get(name, 0) >= args.count / 10
        }
        # The load generator's own share while it sent (it runs on the same cores).
        result["cpu_ms_per_alert"]["client"] = round(client_cpu_s * 1000 / args.count, 3)
        result["waited_after_send_s"] = round(waited, 2)

        e2e_ms: list[float] = []
        missing: list[dict[str, Any]] = []
        last_fill: datetime | None = None
        for key in key_of:
            o = outcomes.get(key)
            if is_filled(o) and o is not None and o.received_at and o.filled_at:
                e2e_ms.append((o.filled_at - o.received_at).total_seconds() * 1000.0)
                last_fill = o.filled_at if last_fill is None else max(last_fill, o.filled_at)
            else:
                missing.append(
                    {
                        "signal": key,
                        "signal_status": o.signal_status if o else None,
                        "order_status": o.order_status if o else None,
                    }
                )
        result["filled"] = len(e2e_ms)
        result["not_filled"] = len(missing)
        if missing:
            result["not_filled_examples"] = missing[:5]
        result["accepted_to_filled_ms"] = summary(e2e_ms)
        if last_fill is not None and sent.started_wall is not None:
            span = (last_fill - sent.started_wall).total_seconds()
            result["first_send_to_last_fill_s"] = round(span, 3)
            result["end_to_end_filled_per_s"] = len(e2e_ms) / span if span > 0 else None
        else:
            result["first_send_to_last_fill_s"] = None
            result["end_to_end_filled_per_s"] = None

        b50 = result["baseline_healthz_ms"]["p50"]
        a50 = result["ack_ms"]["p50"]
        result["ack_p50_over_baseline_p50"] = a50 / b50 if a50 and b50 else None

        log = up.log()[log_offset:]
        problems = [
            line
            for line in log.splitlines()
            if any(w in line for w in ("ERROR", "Traceback", "CRITICAL", "WARNING"))
        ]
        result["log_problem_lines"] = len(problems)
        if problems:
            result["log_problem_examples"] = problems[:10]

        failed = bool(not_accepted or missing or len(accepted) != args.count)
    finally:
        code = up.stop()
        result["yquant_exit_code"] = code
        if args.keep or failed:
            result["kept_dir"] = str(tmp)
            print(f"bench: data kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return (1 if failed else 0), result


def report(r: dict[str, Any]) -> str:
    ack, e2e, base = r["ack_ms"], r["accepted_to_filled_ms"], r["baseline_healthz_ms"]
    lines = [
        (
            f"yquant e2e benchmark: {r['count']} alerts at {r['rate']:g}/s, "
            f"concurrency {r['concurrency']} (startup {r['startup_s']} s)"
        ),
        (
            f"  count                     sent {r['count']}  accepted {r['accepted']}  "
            f"filled {r['filled']}  (not accepted {r['not_accepted']}, "
            f"not filled {r['not_filled']})"
        ),
        (
            f"  ack latency (ms)          p50 {fmt(ack['p50'], 2)}  p95 {fmt(ack['p95'], 2)}  "
            f"p99 {fmt(ack['p99'], 2)}  max {fmt(ack['max'], 2)}"
        ),
        (
            f"  accepted->filled (ms)     p50 {fmt(e2e['p50'], 2)}  p95 {fmt(e2e['p95'], 2)}  "
            f"p99 {fmt(e2e['p99'], 2)}  max {fmt(e2e['max'], 2)}"
        ),
        (
            f"  achieved alerts/s         {fmt(r['achieved_alerts_per_s'], 1)}  "
            f"({r['count']} in {r['send_elapsed_s']} s)"
        ),
        (
            f"  end-to-end filled/s       {fmt(r['end_to_end_filled_per_s'], 1)}  "
            f"({r['filled']} from first send to last fill in "
            f"{fmt(r['first_send_to_last_fill_s'], 3)} s)"
        ),
        (
            f"  baseline GET /healthz ms  p50 {fmt(base['p50'], 2)}  p99 {fmt(base['p99'], 2)}  "
            f"(n={base['n']}, failures {r['baseline_failures']})"
        ),
        f"  ack p50 / baseline p50    {fmt(r['ack_p50_over_baseline_p50'], 2)}",
        "  CPU ms per alert          "
        + "  ".join(f"{k} {fmt(v, 2)}" for k, v in r.get("cpu_ms_per_alert", {}).items()),
        "  Valkey commands per alert "
        + "  ".join(f"{k} {fmt(v, 2)}" for k, v in r.get("valkey_commands_per_alert", {}).items()),
        (
            f"  log warnings/errors       {r['log_problem_lines']}   "
            f"yquant exit code {r['yquant_exit_code']}"
        ),
    ]
    for name in ("not_accepted_examples", "not_filled_examples", "log_problem_examples"):
        lines.extend(f"    {name.split('_examples')[0]}: {item}" for item in r.get(name, []))
    if r.get("kept_dir"):
        lines.append(f"  data kept in {r['kept_dir']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=1000, help="alerts to send (default 1000)")
    p.add_argument("--rate", type=float, default=100.0, help="alerts per second (default 100)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the fills after the last send (default 120)",
    )
    p.add_argument(
        "--tickers",
        type=int,
        default=0,
        help="spread the alerts over this many instruments of the shipped catalog "
        "(default: Samsung Electronics and Apple in turn)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = p.parse_args(argv)
    if args.count < 1 or args.rate <= 0 or args.concurrency < 1 or args.timeout <= 0:
        p.error("--count, --rate, --concurrency and --timeout must be positive")
    if args.tickers < 0:
        p.error("--tickers must not be negative")
    try:
        code, result = bench(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - start-up failure and the like, reported
        print(f"bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1, default=str) if args.json else report(result))
    return code


if __name__ == "__main__":
    sys.exit(main())
