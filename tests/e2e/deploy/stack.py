"""Real parts for the blue/green tests: worker instances, HAProxy with TLS, an alert load.

Everything listens on 127.0.0.1 free ports. A worker is the set of yquant roles systemd would run
(webhook, engine, gateway, dashboard: the webhook's readiness asks for every role's heartbeat)
with its own name, data directory and private valkey-server; both workers share one MariaDB.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import ValkeyProcess, free_port, wait_until, yquant, yquant_env
from yquant.adapters.haproxy import HaproxyAdmin
from yquant.domain.roles import ROLES

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = ROOT / "scripts"
YQUANT_BIN = str(Path(sys.executable).with_name("yquant"))
HAPROXY_BIN = "/usr/sbin/haproxy"
SECRET = "test-secret-0123456789"


def make_certificate(directory: Path, name: str = "yq.test") -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and 127.0.0.1: (combined PEM for HAProxy, cert)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    combined = directory / "combined.pem"
    combined.write_bytes(cert.read_bytes() + key.read_bytes())
    combined.chmod(0o600)
    return combined, cert


def client_tls(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


class Worker:
    """One worker (blue or green): its roles as separate processes, like the systemd units."""

    def __init__(self, name: str, base: Path, database_url: str) -> None:
        self.name = name
        self.data_dir = base / name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.valkey = ValkeyProcess(self.data_dir / "valkey")
        self.webhook_port = free_port()
        self.dashboard_port = free_port()
        self.env = yquant_env(
            self.data_dir,
            self.valkey.url,
            YQUANT__WORKER__NAME=name,
            YQUANT__DATABASE__URL=database_url,
            YQUANT__WEBHOOK__HOST="127.0.0.1",
            YQUANT__WEBHOOK__PORT=str(self.webhook_port),
            YQUANT__DASHBOARD__PORT=str(self.dashboard_port),
            YQUANT__WEBHOOK__TRUSTED_PROXIES='["127.0.0.1/32"]',
            YQUANT__PAPER__INITIAL_CASH_KRW="100000000000",
        )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.webhook_port}"

    def start(self) -> Worker:
        self.valkey.start()
        for role in ROLES:
            self.start_role(role)
        return self

    def start_role(self, role: str) -> None:
        with (self.data_dir / f"{role}.log").open("ab") as log:  # the child keeps its own
            self.procs[role] = subprocess.Popen(
                [sys.executable, "-m", "yquant", role],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def healthz(self) -> int:
        try:
            return httpx.get(f"http://{self.address}/healthz", timeout=2).status_code
        except httpx.HTTPError:
            return 0

    def wait_ready(self, timeout_s: float = 60) -> None:
        def ready() -> bool:
            for role, proc in self.procs.items():
                assert proc.poll() is None, f"{self.name} {role} exited:\n{self.log(role)}"
            return self.healthz() == 200

        wait_until(ready, timeout_s=timeout_s, every_s=0.2)

    def kill_role(self, role: str) -> None:
        proc = self.procs[role]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def log(self, role: str) -> str:
        path = self.data_dir / f"{role}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        self.valkey.stop()


class Haproxy:
    """The real HAProxy (Debian's package) in master-worker mode, on a rendered config."""

    def __init__(self, base: Path, cert: Path) -> None:
        self.dir = base / "haproxy"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cfg = self.dir / "haproxy.cfg"
        self.socket = self.dir / "admin.sock"
        self.master = self.dir / "master.sock"
        self.pidfile = self.dir / "haproxy.pid"
        self.cert = cert
        self.http_port = free_port()
        self.https_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def render(self, blue: str, green: str, active: str, *extra: str) -> None:
        privileged = os.geteuid() == 0  # Debian's defaults drop to user haproxy in a chroot
        args = [
            "deploy", "render-haproxy", "--domain", "yq.test", "--blue", blue,
            "--green", green, "--active", active, "--cert", str(self.cert),
            "--http-port", str(self.http_port), "--https-port", str(self.https_port),
            "--bind", "127.0.0.1", "--stats-socket", str(self.socket), "--no-allow-tradingview-ips",
            "--log-target", "stderr", "--output", str(self.cfg), *extra,
        ]  # fmt: skip
        if not privileged:
            args += ["--user", "", "--group", "", "--chroot", ""]
        result = yquant(*args, env=yquant_env(self.dir))
        assert result.returncode == 0, result.stderr

    def start(self) -> Haproxy:
        check = subprocess.run([HAPROXY_BIN, "-c", "-f", str(self.cfg)], capture_output=True)
        assert check.returncode == 0, check.stderr.decode() + check.stdout.decode()
        with (self.dir / "haproxy.log").open("ab") as log:  # the child keeps its own
            self.proc = subprocess.Popen(
                [
                    HAPROXY_BIN,
                    "-W",
                    "-S",
                    str(self.master),
                    "-f",
                    str(self.cfg),
                    "-p",
                    str(self.pidfile),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: self.socket.exists() and self._answers(), timeout_s=15)
        return self

    def _answers(self) -> bool:
        try:
            self.admin().servers()
        except Exception:  # noqa: BLE001 - any failure means not answering yet
            return False
        return True

    @property
    def reload_command(self) -> str:
        return f"kill -USR2 $(cat {self.pidfile})"

    def admin(self) -> HaproxyAdmin:
        return HaproxyAdmin(str(self.socket))

    def wait_up(self, *workers: str, timeout_s: float = 15) -> None:
        wait_until(
            lambda: all(self.admin().servers()[w].status == "UP" for w in workers),
            timeout_s=timeout_s,
        )

    def log(self) -> str:
        path = self.dir / "haproxy.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def switch_env(proxy: Haproxy, database_url: str, lock: Path) -> dict[str, str]:
    env = yquant_env(proxy.dir, YQUANT__DATABASE__URL=database_url)
    env.update(
        YQ_HAPROXY_CFG=str(proxy.cfg),
        YQ_HAPROXY_SOCKET=str(proxy.socket),
        YQ_HAPROXY_RELOAD=proxy.reload_command,
        YQ_HAPROXY_BIN=HAPROXY_BIN,
        YQUANT_BIN=YQUANT_BIN,
        YQUANT_ENV_FILE=str(proxy.dir / "no-env-file"),
        YQ_SWITCH_LOCK=str(lock),
        YQ_ACTOR="pytest",
    )
    return env


# ---- the alert load ------------------------------------------------------------------------------


@dataclass
class Sent:
    index: int
    key: str
    started: float
    finished: float = 0.0
    status: int = 0
    answer: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def alert(key: str, strategy: str) -> bytes:
    return json.dumps(
        {
            "secret": SECRET,
            "strategy": strategy,
            "ticker": "KRX:005930",
            "action": "buy",
            "quantity": 1,
            "price": 1000,
            "id": key,
        }
    ).encode()


class AlertLoad:
    """``count`` alerts at ``rate`` per second, each on a new TLS connection (as TradingView
    sends them), open loop: a slow answer never delays the next alert. Stops by itself."""

    def __init__(self, url: str, tls: ssl.SSLContext, prefix: str, count: int, rate: float):
        self.url = url
        self.tls = tls
        self.strategy = prefix  # one strategy per load: its signals are found by it
        self.keys = [f"{prefix}-{i:05d}" for i in range(count)]
        self.rate = rate
        self.sent: list[Sent] = []
        self.dispatched = 0

    def in_flight(self) -> list[Sent]:
        return [s for s in self.sent if not s.finished]

    async def run(self) -> list[Sent]:
        loop = asyncio.get_running_loop()
        limits = httpx.Limits(max_keepalive_connections=0, max_connections=500)
        async with httpx.AsyncClient(verify=self.tls, limits=limits, timeout=10) as client:
            start = loop.time()
            tasks = []
            for i, key in enumerate(self.keys):
                # Pacing the load (an open-loop schedule), not waiting for a condition.
                await asyncio.sleep(max(0.0, start + i / self.rate - loop.time()))
                record = Sent(i, key, started=time.monotonic())
                self.sent.append(record)
                self.dispatched = i + 1
                tasks.append(asyncio.create_task(self._post(client, record)))
            await asyncio.gather(*tasks)
        return self.sent

    async def _post(self, client: httpx.AsyncClient, record: Sent) -> None:
        headers = {"Content-Type": "application/json", "Connection": "close"}
        try:
            res = await client.post(
                self.url, content=alert(record.key, self.strategy), headers=headers
            )
            record.status = res.status_code
            try:
                record.answer = res.json()
            except ValueError:
                record.answer = {"raw": res.text[:200]}
        except httpx.HTTPError as exc:
            record.error = f"{type(exc).__name__}: {exc}"
        record.finished = time.monotonic()


async def recorded(database_url: str, strategy: str) -> dict[str, list[str]]:
    """The alert id of every signal recorded for ``strategy`` -> the workers that recorded it
    (a list, so that a duplicate would show). Repeats answered "duplicate" are log rows of
    their own (reason ``duplicate``), not signals: left out."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine

    from yquant.adapters.db import tables

    engine = create_async_engine(database_url)
    try:
        s = tables.signals
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(s.c.payload, s.c.worker).where(
                        s.c.strategy == strategy,
                        s.c.reason.is_(None) | (s.c.reason != "duplicate"),
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    found: dict[str, list[str]] = {}
    for payload, worker in rows:
        found.setdefault(str(json.loads(payload)["id"]), []).append(worker)
    return found
