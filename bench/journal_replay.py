"""Journal replay benchmark: how fast a worker's journal drains once the database is back.

Fills the local journal with ``--rows`` writes as an outage leaves them (alerts recorded by the
webhook, every ``--advance-every``-th one followed by its decision), then starts the recorder's
relay against the real database while new alerts keep arriving at ``--rate`` per second, a share
of them (``--same-key-share``) a further write for a signal still in the journal. Measures:

  * drain time and rate: from the relay's start until the journal is empty;
  * where the new writes went: straight to the database, or into the journal behind older
    writes for their key;
  * correctness: every signal exactly once, each journaled signal's last write applied (per-key
    order kept), nothing left in the journal.

    .venv/bin/python bench/journal_replay.py [--rows 9394] [--rate 200] [--db mariadb|sqlite]

MariaDB: a fresh database on 127.0.0.1:3306 (root, no password; ``--mariadb-host/port``),
dropped afterwards. Exit status 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from yquant.adapters.db import codec, migrate  # noqa: E402
from yquant.adapters.db.journal import Journal  # noqa: E402
from yquant.adapters.db.recorder import Recorder  # noqa: E402
from yquant.adapters.db.rows import to_row  # noqa: E402
from yquant.adapters.db.statements import OPS  # noqa: E402
from yquant.adapters.db.store import SqlStore  # noqa: E402
from yquant.domain.model import SignalStatus  # noqa: E402
from yquant.domain.writes import AdvanceSignal, InsertSignal, Write  # noqa: E402
from yquant.ports import Written  # noqa: E402


def received(key: str, at: datetime) -> InsertSignal:
    """An alert as the webhook records it."""
    fields = {
        "strategy": "bench",
        "ticker": "KRX:005930",
        "exchange": "KRX",
        "action": "buy",
        "key": key,
    }
    return InsertSignal(
        key=key,
        worker="blue",
        status=SignalStatus.ACCEPTED,
        received_at=at,
        updated_at=at,
        source_ip="52.89.214.238",
        fields=fields,
    )


def decision(key: str, at: datetime, detail: str) -> AdvanceSignal:
    """The engine's decision on it (``detail`` tells one decision from another)."""
    return AdvanceSignal(
        key=key,
        worker="blue",
        status=SignalStatus.ORDERED,
        received_at=at,
        updated_at=at,
        detail=detail,
    )


def journaled(journal: Journal, write: Write) -> None:
    """``write`` in the journal, as the recorder puts it there while the database is away."""
    op, row = to_row(write)
    journal.append(op, str(row[OPS[op][1]]), codec.encode(row))


async def _server_exec(host: str, port: int, sql: str) -> None:
    import asyncmy

    conn = await asyncmy.connect(host=host, port=port, user="root", password="")
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
    finally:
        conn.close()


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    db_name = None
    if args.db == "mariadb":
        db_name = "yq_bench_" + uuid.uuid4().hex[:10]
        await _server_exec(
            args.mariadb_host,
            args.mariadb_port,
            f"CREATE DATABASE {db_name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        )
        url = f"mysql+asyncmy://root@{args.mariadb_host}:{args.mariadb_port}/{db_name}"
    else:
        url = f"sqlite+aiosqlite:///{work / 'yquant.sqlite3'}"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        return await _measure(args, work, url)
    finally:
        if db_name is not None:
            await _server_exec(
                args.mariadb_host, args.mariadb_port, f"DROP DATABASE IF EXISTS {db_name}"
            )


def fill(
    journal: Journal, rows: int, advance_every: int, t0: datetime
) -> tuple[list[str], list[str]]:
    """Journal ``rows`` writes as an outage leaves them: each alert, and every
    ``advance_every``-th one's decision after it. Returns (alerts, decided alerts)."""
    inserted: list[str] = []
    decided: list[str] = []
    i = 0
    while journal.depth < rows:
        key = f"old-{i}"
        journaled(journal, received(key, t0))
        inserted.append(key)
        if advance_every and i % advance_every == 0 and journal.depth < rows:
            journaled(journal, decision(key, t0, "decided"))
            decided.append(key)
        i += 1
    return inserted, decided


class Traffic:
    """New writes at a fixed rate while the journal drains: new alerts, and now and then a
    later decision on a signal whose earlier one still waits in the journal (the same rank:
    whichever is applied last wins, so an overtake shows in the stored row)."""

    def __init__(self, recorder: Recorder, args: argparse.Namespace, decided: list[str]) -> None:
        self.recorder = recorder
        self.rate = args.rate
        self.every = round(1 / args.same_key_share) if args.same_key_share else 0
        self.decided = decided
        self.t0 = datetime.now(UTC)
        self.written: dict[str, int] = {w.value: 0 for w in Written}
        self.new_keys: list[str] = []
        self.followups: list[str] = []
        self.latencies: list[float] = []
        self._pending: set[asyncio.Task[None]] = set()

    async def run_until_drained(self, timeout_s: float) -> float:
        """Send until the journal is empty; the time that took."""
        started = time.perf_counter()
        interval = 1.0 / self.rate if self.rate > 0 else 0.005
        next_at = started
        n = 0
        while self.recorder.journal.depth and time.perf_counter() - started < timeout_s:
            now = time.perf_counter()
            if now < next_at:
                await asyncio.sleep(next_at - now)
            next_at += interval
            if self.rate > 0:
                n += 1
                self._send(n)
        drained = time.perf_counter() - started
        if self._pending:
            await asyncio.gather(*self._pending)
        return drained

    def _send(self, n: int) -> None:
        if self.every and n % self.every == 0 and len(self.followups) < len(self.decided):
            key = self.decided[-1 - len(self.followups)]
            self.followups.append(key)
            task = asyncio.create_task(self._one(decision(key, self.t0, "later")))
        else:
            key = f"new-{n}"
            self.new_keys.append(key)
            task = asyncio.create_task(self._one(received(key, self.t0)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _one(self, write: Write) -> None:
        begun = time.perf_counter()
        result = await self.recorder.write(write)
        self.latencies.append(time.perf_counter() - begun)
        self.written[result.value] += 1


async def _measure(args: argparse.Namespace, work: Path, url: str) -> dict[str, Any]:
    journal = Journal(work / "journal" / "webhook.sqlite3")
    inserted, decided = fill(journal, args.rows, args.advance_every, datetime.now(UTC))
    rows = journal.depth
    store = SqlStore(url, timeout_s=10)
    recorder = Recorder(store, journal)
    stop = asyncio.Event()
    traffic = Traffic(recorder, args, decided)
    try:
        await store.ping()
        relay = asyncio.create_task(recorder.relay(stop, idle_s=0.05))
        drain_s = await traffic.run_until_drained(args.timeout)
        # What the new writes left in the journal drains too.
        await _settle(recorder, args.timeout)
        stop.set()
        await relay
        stored = {r["signal_key"]: r for r in await store.rows(_all_signals())}
    finally:
        await recorder.close()
        await store.close()
        journal.close()
    expected = set(inserted) | set(traffic.new_keys)
    later = set(traffic.followups)
    violations = sum(
        1
        for k in decided
        if stored.get(k, {}).get("detail") != ("later" if k in later else "decided")
    )
    latencies = sorted(traffic.latencies)
    return {
        "db": args.db,
        "journal_rows": rows,
        "drain_s": round(drain_s, 3),
        "drain_rate": round(rows / drain_s, 1) if drain_s else 0.0,
        "new_writes": sum(traffic.written.values()),
        "new_stored": traffic.written[Written.STORED.value],
        "new_journaled": traffic.written[Written.JOURNALED.value],
        "new_p50_ms": _ms(latencies, 0.5),
        "new_p99_ms": _ms(latencies, 0.99),
        "signals": len(stored),
        "expected": len(expected),
        "order_violations": violations,
        "ok": set(stored) == expected and not violations,
    }


async def _settle(recorder: Recorder, timeout_s: float) -> None:
    """Wait until the relay has replayed what the new writes journaled."""
    async with asyncio.timeout(timeout_s):
        # The journal has no event to wait on: poll it.
        while recorder.journal.depth:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _ms(sorted_s: list[float], q: float) -> float:
    return (
        round(1000 * sorted_s[min(int(len(sorted_s) * q), len(sorted_s) - 1)], 2)
        if sorted_s
        else 0.0
    )


def _all_signals() -> Any:
    from sqlalchemy import select

    from yquant.adapters.db.tables import signals

    return select(signals.c.signal_key, signals.c.status, signals.c.detail)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=9394, help="journal rows before the replay")
    parser.add_argument("--rate", type=float, default=200.0, help="new alerts per second")
    parser.add_argument("--advance-every", type=int, default=4)
    parser.add_argument("--same-key-share", type=float, default=0.05)
    parser.add_argument("--db", choices=("mariadb", "sqlite"), default="mariadb")
    parser.add_argument("--mariadb-host", default="127.0.0.1")
    parser.add_argument("--mariadb-port", type=int, default=3306)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yq-bench-journal-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"database        {result['db']}")
        print(
            f"journal drained {result['journal_rows']} rows in {result['drain_s']:.2f} s"
            f" = {result['drain_rate']:.1f} rows/s"
        )
        print(
            f"new writes      {result['new_writes']}: {result['new_stored']} straight to the"
            f" database, {result['new_journaled']} journaled"
            f" (p50 {result['new_p50_ms']} ms, p99 {result['new_p99_ms']} ms)"
        )
        print(
            f"checks          signals {result['signals']}/{result['expected']},"
            f" order violations {result['order_violations']}: {'ok' if result['ok'] else 'FAILED'}"
        )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
