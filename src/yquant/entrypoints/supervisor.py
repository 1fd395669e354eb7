"""`yquant up`: every role as its own process (plus the embedded Valkey), restarted if it dies.

The same multi-process layout that systemd runs in production, on one box. Ctrl-C (or SIGTERM)
stops the roles first, then Valkey.

Each role is forked from this process once it has imported the roles' code (`preload`): a
role then starts without importing its modules again (about a second of CPU each, which five
roles on two cores paid one after the other), and shows as ``python -m yquant ROLE`` in the
process list. Where a fork would not be safe (another thread is running), or a role's command
line is given, the role is started as a new interpreter instead.

`yquant up` holds its data directory's lock (`yquant.instance.DataDirLock`) while this runs: one
supervisor per data directory, and the embedded Valkey's pidfile only ever names a dead owner's
server, which `ValkeyServer.start` stops.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from yquant.adapters.valkey_server import ValkeyPortInUseError, ValkeyServer
from yquant.domain.roles import ROLES
from yquant.errors import ConfigurationError
from yquant.processes import die_with_parent
from yquant.settings import Settings

logger = logging.getLogger(__name__)

STOP_GRACE_S = 10.0
CONFIGURATION_EXIT = 2  # what `yquant ROLE` exits with on invalid settings
STABLE_AFTER_S = 30.0
WATCH_EVERY_S = 0.2


class RoleProcess(Protocol):
    """What the supervisor asks of a role's process (a `subprocess.Popen` or `ForkedRole`)."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def preload() -> None:
    """Import what the roles run, so that a forked role starts with it loaded."""
    import setproctitle  # noqa: F401 - before the environment changes: it needs its space
    import uvicorn  # noqa: F401 - loaded here, once, for every role forked

    from yquant.entrypoints import dashboard, webhook, workers  # noqa: F401

    # Kept out of the collector from here on, here and in every role forked: a role's full
    # pass then neither walks the loaded code nor copies its pages (copy-on-write).
    gc.collect()
    gc.freeze()


class ForkedRole:
    """A role forked from the supervisor, with the calls of `subprocess.Popen` it uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._returncode: int | None = None

    @classmethod
    def start(cls, role: str, env: dict[str, str], close: tuple[int, ...]) -> ForkedRole:
        preexec = die_with_parent()
        sys.stdout.flush()  # else the child would print what this process had not yet
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the supervisor's code
            code = 1
            try:
                code = _run_forked(role, env, close, preexec)
            except BaseException:  # noqa: BLE001 - reported, and the child ends with 1
                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        return cls(pid)

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def poll(self) -> int | None:
        if self._returncode is None:
            with contextlib.suppress(ChildProcessError):
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid == self.pid:
                    self._returncode = os.waitstatus_to_exitcode(status)
        return self._returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"yquant role pid {self.pid}", timeout or 0.0)
            time.sleep(0.02)
        return code


def _run_forked(
    role: str,
    env: dict[str, str],
    close: tuple[int, ...],
    preexec: Callable[[], None] | None,
) -> int:
    """In the forked child: become `yquant ROLE` (as `python -m yquant ROLE` would)."""
    import setproctitle

    argv = [sys.executable, "-m", "yquant", role]
    setproctitle.setproctitle(" ".join(argv))  # before the environment is replaced
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    for fd in close:  # the supervisor's own: its data dir lock, its wake-up pipe
        with contextlib.suppress(OSError):
            os.close(fd)
    if preexec is not None:
        preexec()
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [sys.argv[0], role]
    from yquant.entrypoints import cli

    return cli.main([role])


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: RoleProcess | None = None
    forked: bool = True  # forked from the supervisor (no command line of its own given)
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = 1.0
    due_at: float = field(default=0.0)


def ensure_port_free(role: str, host: str, port: int) -> None:
    """Refused before anything starts: a role that cannot listen would restart forever."""
    setting = f"YQUANT__{role.upper()}__PORT"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"{role} port {port} on {host} is in use: stop what listens there "
                f"(ss -ltnp 'sport = :{port}') or set {setting}"
            ) from None
        raise ConfigurationError(
            f"{role} cannot listen on {host}:{port} ({reason}): "
            f"set YQUANT__{role.upper()}__HOST to an address of this machine"
        ) from None


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        roles: tuple[str, ...] = ROLES,
        argv: dict[str, list[str]] | None = None,
        *,
        keep_closed: tuple[int, ...] = (),
        on_started: Callable[[], None] | None = None,
    ) -> None:
        """``keep_closed``: descriptors of this process a forked role must not keep (the data
        directory's lock). ``on_started``: called once every role has been started (a thread
        started before would make forking unsafe)."""
        self._keep_closed = keep_closed
        self._on_started = on_started
        self._settings = settings
        self._stopping = False
        self.exit_code = 0
        self._valkey: ValkeyServer | None = None
        self._stop_asked_at: float | None = None
        given = argv or {}
        self._children = [
            Child(
                role,
                given.get(role, [sys.executable, "-m", "yquant", role]),
                forked=role not in given,
            )
            for role in roles
        ]

    def run(self) -> int:
        # The signal handler writes to this pipe: the watch loop wakes at once, not at its tick.
        self._wake_r, self._wake_w = os.pipe()
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            return self._run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _run(self) -> int:
        env = os.environ.copy()
        if self._settings.valkey.url is None:
            from yquant.bootstrap import embedded_valkey

            self._valkey = embedded_valkey(self._settings)
            try:
                self._valkey.start()
            except ValkeyPortInUseError as exc:
                raise SystemExit(
                    f"{exc}; set YQUANT__VALKEY__EMBEDDED_PORT to a free port"
                ) from None
            env["YQUANT__VALKEY__URL"] = self._settings.valkey_url
        # After Valkey: a second `up` on this data directory is told whose it is first.
        names = {child.name for child in self._children}
        if "webhook" in names:
            ensure_port_free("webhook", self._settings.webhook.host, self._settings.webhook.port)
        if "dashboard" in names:
            dashboard = self._settings.dashboard
            ensure_port_free("dashboard", dashboard.host, dashboard.port)
        env["YQUANT__DATA_DIR"] = str(self._settings.data_dir)
        if any(child.forked for child in self._children):
            preload()
        try:
            for child in self._children:
                self._start(child, env)
            if self._on_started is not None:
                self._on_started()
            while not self._stopping:
                self._watch(env)
                select.select([self._wake_r], [], [], WATCH_EVERY_S)
        finally:
            self._shutdown()
        return self.exit_code

    def _on_signal(self, signum: int, frame: object) -> None:
        if not self._stopping:
            self._stopping = True
            self._stop_asked_at = time.monotonic()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def _start(self, child: Child, env: dict[str, str]) -> None:
        # Tied to this process: a supervisor that is killed leaves no role behind.
        if child.forked and threading.active_count() == 1:
            close = (*self._keep_closed, self._wake_r, self._wake_w)
            child.proc = ForkedRole.start(child.name, env, close)
        else:
            child.proc = subprocess.Popen(child.argv, env=env, preexec_fn=die_with_parent())
        child.started_at = time.monotonic()

    def _watch(self, env: dict[str, str]) -> None:
        now = time.monotonic()
        if self._valkey is not None and not self._valkey.running():
            code = self._valkey.stop()
            logger.error("embedded valkey exited code=%s; restarting", code)
            self._valkey.start()
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
        started = time.monotonic()
        valkey = " and the embedded Valkey" if self._valkey is not None else ""
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
        if self._valkey is not None:
            self._valkey.stop(STOP_GRACE_S)
        took = time.monotonic() - (self._stop_asked_at or started)
        # On the operator's terminal, like the banner: the last line `yquant up` prints.
        stopped = f"yQuant stopped ({len(self._children)} roles{valkey}, {took:.1f} s)"
        print(stopped, flush=True)  # noqa: T201
