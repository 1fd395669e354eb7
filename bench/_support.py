"""Helpers the benchmarks share with the tests: `yquant` as subprocesses on private ports.

Every process started here dies with its starter (`yquant.processes.die_with_parent`), so a
benchmark or a test that crashes, or is killed, leaves nothing running on its ports.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from yquant.processes import die_with_parent, free_port, wait_until

ROLES = ("webhook", "engine", "gateway", "dashboard", "notifier")


def yquant_env(data_dir: Path, valkey_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YQUANT")}
    env["YQUANT__DATA_DIR"] = str(data_dir)
    env["YQUANT__WEBHOOK__SECRET"] = "test-secret-0123456789"  # noqa: S105 - a throwaway test secret
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
        # The engine's and the gateway's metrics endpoints: free ports too, so that runs side
        # by side do not meet on the defaults.
        self.engine_metrics_port = free_port()
        self.gateway_metrics_port = free_port()
        self.env = yquant_env(
            data_dir,
            YQUANT__WEBHOOK__PORT=str(self.webhook_port),
            YQUANT__WEBHOOK__HOST="127.0.0.1",
            YQUANT__DASHBOARD__PORT=str(self.dashboard_port),
            YQUANT__VALKEY__EMBEDDED_PORT=str(self.valkey_port),
            YQUANT__METRICS__ENGINE_PORT=str(self.engine_metrics_port),
            YQUANT__METRICS__GATEWAY_PORT=str(self.gateway_metrics_port),
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

    def start(
        self, *args: str, timeout_s: float = 60, own_group: bool = False, wait: bool = True
    ) -> YquantUp:
        """Start `yquant up ARGS...` and wait until the webhook reports ready (unless not
        ``wait``: the caller waits its own way). With ``own_group`` it leads its own process
        group, which a caller can signal as a terminal or `make` does (``os.killpg``)."""
        import httpx

        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "yquant", "up", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                preexec_fn=die_with_parent(),
                start_new_session=own_group,
            )

        if not wait:
            return self

        def ready() -> bool:
            assert self.proc is not None
            assert self.proc.poll() is None, self.log()
            try:
                r = httpx.get(f"http://127.0.0.1:{self.webhook_port}/healthz", timeout=1)
            except httpx.HTTPError:
                return False
            return r.status_code == 200

        wait_until(ready, timeout_s=timeout_s, every_s=0.2)
        return self

    def alert(self, **fields: Any) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "strategy": "demo",
            "ticker": "KRX:005930",
            "action": "buy",
            "quantity": 1,
            "price": 71000,
            **fields,
        }

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


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def role_pids(up_pid: int) -> dict[str, int]:
    """The pid of each role `yquant up` runs now."""
    pids = {}
    for pid in children(up_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            words = cmdline.replace("\0", " ").split()  # a forked role: one string
        except OSError:
            continue
        role = next((w for w in reversed(words) if w in ROLES), None)
        if role is not None:
            pids[role] = pid
    return pids


def valkey_pids(up_pid: int) -> dict[str, int]:
    """The embedded Valkey server `yquant up` started, if any, under the name ``valkey``."""
    for pid in children(up_pid):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("valkey"):
            return {"valkey": pid}
    return {}


# ---- a minimal HTTP/1.1 keep-alive client (light enough not to be the bottleneck) -------------


class Connection:
    def __init__(self, port: int, path: str = "/webhook") -> None:
        self.port = port
        self.path = path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        return await self._exchange(head + body)

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self._exchange(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(request)
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def open_pool(port: int, size: int, path: str = "/webhook") -> list[Connection]:
    pool = [Connection(port, path) for _ in range(size)]
    await asyncio.gather(*(c.open() for c in pool))
    return pool
