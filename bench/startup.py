"""Start-up benchmark: time to healthy, memory per role, and the first decision after a start.

Runs `yquant up` (webhook, engine, gateway, dashboard, embedded Valkey, SQLite, paper broker) on
free loopback ports, twice on one temporary data directory: a cold start (a new directory: the
database is created, the catalog and the calendars are read for the first time) and a warm
start (the same directory again, as after a restart or a deploy). For each start:

  * start to healthy: from launching `yquant up` to the webhook's GET /healthz answering 200 (it
    needs the webhook, the engine and the gateway heartbeating), polled every 20 ms; and when
    each role first showed up in that health report;
  * CPU time each role (and `yquant up` itself) used until then, from /proc: less sensitive
    than the time to a machine shared with other work;
  * memory per role: VmRSS (resident now) and VmHWM (the peak since the process started) from
    /proc, right after healthy and again after the alerts;
  * each alert, sent one at a time once the one before is decided, alternating a KRX and a
    NASDAQ ticker, the first after the start against the later ones:
      - decision: the engine's own time from taking the signal to its recorded decision (the
        growth of `yquant_decision_seconds_sum` on the engine's metrics endpoint);
      - taken: signals.received_at (stamped by the webhook) to signals.updated_at (stamped by
        the engine when it takes the signal), from the SQLite database: the durable write, the
        stream and the engine's wake-up;
      - sent to decided: from sending the POST until the database shows the decision (polled
        every 5 ms), as a client sees it.

Python compiles each module's source at import unless a compiled copy (``__pycache__``) is
there to read: the figures depend on it (`make bootstrap` and `scripts/deploy.sh` compile them).
``--no-bytecode`` hides the compiled copies from `yquant up` (``PYTHONPYCACHEPREFIX`` pointed at
an empty directory), to measure a start that compiles everything.

Baselines measured in the same run: a bare interpreter (`python -c pass`: start time and RSS) for
the roles' start and memory, and the later decisions for the first one.

Exit status: 0 when every start became healthy and every alert was decided, 1 otherwise, 2 on a
usage or start-up error. Speed and memory goals are printed, not enforced.

    .venv/bin/python bench/startup.py [--alerts 10] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import httpx  # noqa: E402
from bench._support import ROLES, YquantUp, children, cpu_seconds, role_pids  # noqa: E402

TICKERS = (("KRX:005930", 71000), ("NASDAQ:AAPL", 190))
TRADING_ROLES = ("webhook", "engine", "gateway")
GOAL_RSS_MB = 120.0
GOAL_HEALTHY_S = 3.0
POLL_S = 0.02


# ---- processes -----------------------------------------------------------------------------------


def _status_kb(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def role_memory(up_pid: int) -> dict[str, dict[str, float]]:
    """VmRSS and VmHWM in MB of `yquant up`, each role it started and the embedded Valkey."""
    out = {"up": _mb(_status_kb(up_pid))}
    for pid in children(up_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        words = cmdline.replace("\0", " ").split()  # a forked role names itself in one string
        name = next((w for w in reversed(words) if w in ROLES), None)
        if name is None:
            name = "valkey" if any("valkey" in w for w in words) else Path(words[0]).name
        out[name] = _mb(_status_kb(pid))
    return out


def _mb(kb: dict[str, int]) -> dict[str, float]:
    return {"rss": kb.get("VmRSS", 0) / 1024, "peak": kb.get("VmHWM", 0) / 1024}


def bare_interpreter(tries: int = 3) -> dict[str, float]:
    """Start time (best of ``tries``) and RSS of a bare interpreter, this one."""
    best_s = float("inf")
    for _ in range(tries):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        best_s = min(best_s, time.perf_counter() - t)
    probe = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        time.sleep(0.3)
        rss = _status_kb(probe.pid).get("VmRSS", 0) / 1024
    finally:
        assert probe.stdin is not None
        probe.stdin.close()
        probe.wait()
    return {"start_s": best_s, "rss_mb": rss}


# ---- one start -----------------------------------------------------------------------------------


@dataclass
class Start:
    label: str
    healthy_s: float | None = None
    healthz_200_s: float | None = None
    cpu_s: dict[str, float] = field(default_factory=dict)
    role_up_s: dict[str, float] = field(default_factory=dict)
    memory_healthy: dict[str, dict[str, float]] = field(default_factory=dict)
    memory_after: dict[str, dict[str, float]] = field(default_factory=dict)
    decisions_ms: list[float] = field(default_factory=list)
    taken_ms: list[float] = field(default_factory=list)
    round_trips_ms: list[float] = field(default_factory=list)
    undecided: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def wait_healthy(up: YquantUp, start: Start, launched: float, timeout_s: float) -> None:
    """Until the webhook's /healthz answers 200 and the webhook, the engine and the gateway
    heartbeat from the processes of this start (the health check alone would also take a
    heartbeat left in Valkey by the previous start for one of this start)."""
    import valkey

    url = f"http://127.0.0.1:{up.webhook_port}/healthz"
    beats = valkey.Valkey(host="127.0.0.1", port=up.valkey_port, socket_timeout=1)
    deadline = launched + timeout_s
    try:
        with httpx.Client(timeout=1, trust_env=False) as client:
            while time.monotonic() < deadline:
                assert up.proc is not None
                if up.proc.poll() is not None:
                    raise RuntimeError(f"yquant up exited early:\n{up.log()[-3000:]}")
                now = time.monotonic() - launched
                pids = role_pids(up.proc.pid)
                for role in ROLES:
                    if role in start.role_up_s or role not in pids:
                        continue
                    with contextlib.suppress(valkey.ValkeyError, OSError, ValueError):
                        beat = beats.get(f"yq:hb:{role}")
                        if beat is not None and json.loads(beat).get("pid") == pids[role]:
                            start.role_up_s[role] = now
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200 and start.healthz_200_s is None:
                        start.healthz_200_s = now
                if start.healthz_200_s is not None and all(
                    r in start.role_up_s for r in TRADING_ROLES
                ):
                    start.healthy_s = now
                    return
                time.sleep(POLL_S)
    finally:
        beats.close()
    raise RuntimeError(f"not healthy within {timeout_s} s:\n{up.log()[-3000:]}")


def decided(db: Path, key: str) -> tuple[str, float] | None:
    """(status, taken ms) once the engine has decided the signal ``key``."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        row = conn.execute(
            "SELECT status, received_at, updated_at FROM signals WHERE signal_key = ?", (key,)
        ).fetchone()
    finally:
        conn.close()
    if row is None or row[0] == "accepted":
        return None
    received = datetime.fromisoformat(row[1]).replace(tzinfo=UTC)
    updated = datetime.fromisoformat(row[2]).replace(tzinfo=UTC)
    return row[0], (updated - received).total_seconds() * 1000.0


def decision_seconds(client: httpx.Client, url: str) -> tuple[float, int]:
    """(sum, count) of the engine's `yquant_decision_seconds` histogram, all outcomes."""
    total, count = 0.0, 0
    for line in client.get(url).text.splitlines():
        if line.startswith("yquant_decision_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("yquant_decision_seconds_count"):
            count += int(float(line.rsplit(" ", 1)[1]))
    return total, count


def send_alerts(up: YquantUp, start: Start, count: int, run_id: str, timeout_s: float) -> None:
    db = up.data_dir / "yquant.sqlite3"
    metrics = f"http://127.0.0.1:{up.engine_metrics_port}/metrics"
    with httpx.Client(timeout=5, trust_env=False) as client:
        before = decision_seconds(client, metrics)
        for i in range(count):
            ticker, price = TICKERS[i % len(TICKERS)]
            body = up.alert(
                strategy=f"startup-{run_id}",
                ticker=ticker,
                price=price,
                id=f"{run_id}-{start.label}-{i}",
            )
            t = time.perf_counter()
            r = client.post(
                up.webhook_url,
                content=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            if r.status_code != 200 or r.json().get("status") != "accepted":
                start.undecided += 1
                continue
            key = r.json()["signal"]
            deadline = time.monotonic() + timeout_s
            outcome = None
            while time.monotonic() < deadline:
                with contextlib.suppress(sqlite3.OperationalError):
                    outcome = decided(db, key)
                if outcome is not None:
                    break
                time.sleep(0.005)
            if outcome is None:
                start.undecided += 1
                continue
            start.round_trips_ms.append((time.perf_counter() - t) * 1000.0)
            status, taken_ms = outcome
            start.statuses[status] = start.statuses.get(status, 0) + 1
            start.taken_ms.append(taken_ms)
            # The histogram is observed after the decision is recorded: wait for its count.
            after = before
            while after[1] <= before[1] and time.monotonic() < deadline:
                after = decision_seconds(client, metrics)
            start.decisions_ms.append((after[0] - before[0]) * 1000.0)
            before = after


def one_start(
    up: YquantUp, label: str, alerts: int, run_id: str, timeout_s: float, settle_s: float
) -> Start:
    start = Start(label)
    launched = time.monotonic()
    up.start(wait=False)  # the readiness wait below is finer
    wait_healthy(up, start, launched, timeout_s)
    assert up.proc is not None
    start.memory_healthy = role_memory(up.proc.pid)
    pids = {"up": up.proc.pid, **role_pids(up.proc.pid)}
    start.cpu_s = {name: cpu_seconds(pid) for name, pid in pids.items()}
    if settle_s:
        time.sleep(settle_s)
    send_alerts(up, start, alerts, run_id, timeout_s)
    start.memory_after = role_memory(up.proc.pid)
    return start


# ---- the run -------------------------------------------------------------------------------------


def bytecode_found() -> bool:
    """Whether this interpreter finds compiled copies of yquant's and SQLAlchemy's modules."""
    import importlib.util

    import sqlalchemy

    import yquant

    return all(
        Path(importlib.util.cache_from_source(m.__file__ or "")).exists()
        for m in (yquant, sqlalchemy)
    )


def bench(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    run_id = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="yquant-bench-startup-"))
    if args.no_bytecode:
        os.environ["PYTHONPYCACHEPREFIX"] = str(tmp / "no-bytecode")
    result: dict[str, Any] = {
        "alerts": args.alerts,
        "bytecode": bytecode_found() and not args.no_bytecode,
        "baseline": bare_interpreter(),
    }
    starts: list[Start] = []
    failed = True
    try:
        for label in ("cold", "warm"):
            up = YquantUp(tmp / "data")
            try:
                starts.append(one_start(up, label, args.alerts, run_id, args.timeout, args.settle))
            finally:
                result.setdefault("exit_codes", []).append(up.stop())
        failed = any(s.healthy_s is None or s.undecided for s in starts)
    finally:
        result["starts"] = [_start_dict(s) for s in starts]
        if args.keep or failed:
            result["kept_dir"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return (1 if failed else 0), result


def _start_dict(s: Start) -> dict[str, Any]:
    def first_later(values: list[float]) -> dict[str, float | None]:
        later = values[1:]
        return {
            "first": values[0] if values else None,
            "later_p50": statistics.median(later) if later else None,
            "later_max": max(later) if later else None,
        }

    return {
        "label": s.label,
        "healthy_s": s.healthy_s,
        "healthz_200_s": s.healthz_200_s,
        "role_up_s": s.role_up_s,
        "cpu_to_healthy_s": s.cpu_s,
        "memory_healthy_mb": s.memory_healthy,
        "memory_after_mb": s.memory_after,
        "decision_ms": first_later(s.decisions_ms),
        "taken_ms": first_later(s.taken_ms),
        "sent_to_decided_ms": first_later(s.round_trips_ms),
        "decisions_ms": s.decisions_ms,
        "statuses": s.statuses,
        "undecided": s.undecided,
    }


def fmt(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def report(r: dict[str, Any]) -> str:
    base = r["baseline"]
    lines = [
        (
            f"yquant start-up benchmark: a cold and a warm `yquant up`, {r['alerts']} alerts "
            f"each; modules {'compiled' if r['bytecode'] else 'NOT compiled'} ahead"
        ),
        (
            f"  baseline: bare interpreter start {fmt(base['start_s'] * 1000, 0)} ms, "
            f"RSS {fmt(base['rss_mb'])} MB"
        ),
    ]
    worst_rss = 0.0
    for s in r["starts"]:
        roles = "  ".join(f"{k} {fmt(s['role_up_s'].get(k), 2)}" for k in ROLES)
        lines.append(
            f"  {s['label']:<5} start to healthy {fmt(s['healthy_s'], 2)} s   (first heartbeat, "
            f"s: {roles}; /healthz first 200 at {fmt(s['healthz_200_s'], 2)})"
        )
        cpu = s["cpu_to_healthy_s"]
        lines.append(
            "        CPU s to healthy   "
            + "  ".join(f"{k} {fmt(cpu.get(k), 2)}" for k in (*ROLES, "up"))
        )
        for when in ("memory_healthy_mb", "memory_after_mb"):
            mem = s[when]
            shown = "  ".join(
                f"{k} {fmt(mem[k]['rss'])}/{fmt(mem[k]['peak'])}"
                for k in (*ROLES, "up")
                if k in mem
            )
            what = "after healthy" if when == "memory_healthy_mb" else "after alerts "
            lines.append(f"        RSS/peak MB {what}  {shown}")
            worst_rss = max([worst_rss, *(mem[k]["rss"] for k in ROLES if k in mem)])
        for name, what in (
            ("decision_ms", "decision ms      "),
            ("taken_ms", "taken ms         "),
            ("sent_to_decided_ms", "sent->decided ms "),
        ):
            v = s[name]
            lines.append(
                f"        {what}  first {fmt(v['first'], 2)}  later p50 "
                f"{fmt(v['later_p50'], 2)}  max {fmt(v['later_max'], 2)}"
            )
        lines.append(
            f"        alerts decided {len(s['decisions_ms'])}, undecided {s['undecided']} "
            f"{s['statuses']}"
        )
    warm = next((s for s in r["starts"] if s["label"] == "warm"), None)
    if warm is not None and warm["healthy_s"] is not None:
        met = "met" if warm["healthy_s"] < GOAL_HEALTHY_S else "not met"
        lines.append(
            f"  goals: warm start to healthy < {GOAL_HEALTHY_S:g} s {met}; "
            f"RSS per role < {GOAL_RSS_MB:g} MB "
            f"{'met' if worst_rss < GOAL_RSS_MB else 'not met'} (largest {fmt(worst_rss)} MB)"
        )
    if r.get("kept_dir"):
        lines.append(f"  data kept in {r['kept_dir']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alerts", type=int, default=10, help="alerts after each start (default 10)")
    p.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait after healthy before the first alert (default 0: at once)",
    )
    p.add_argument("--timeout", type=float, default=90.0, help="seconds per wait (default 90)")
    p.add_argument(
        "--no-bytecode",
        action="store_true",
        help="hide compiled modules from yquant (a start that compiles every source)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = p.parse_args(argv)
    if args.alerts < 2 or args.timeout <= 0 or args.settle < 0:
        p.error("--alerts must be at least 2 and --timeout positive")
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
