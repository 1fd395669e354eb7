"""One yQuant per data directory: a lock file (``flock``) in the data directory.

`yquant up` holds it exclusively for its whole life: a second `yquant up`, or a role started
alone (`yquant engine`, ...), on the same data directory would share its SQLite database, paper
ledger and journals, so it is refused with the PID that holds the directory. Roles started
alone hold it shared: the roles of a worker (systemd units on ``/var/lib/yquant``) run
beside each other, and none of them beside an `up`. A role started BY `yquant up` finds the lock
held by its parent and runs under it.

The kernel drops a ``flock`` when its holder dies, SIGKILL included: there is no stale lock to
clean up. The PID named in a refusal comes from ``/proc/locks`` (every holder), else from the
PID the exclusive holder wrote into the file.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from yquant.errors import ConfigurationError

LOCK_NAME = "yquant.lock"


class DataDirInUseError(ConfigurationError):
    """Another yQuant process holds the data directory."""

    def __init__(self, message: str, holders: list[int]) -> None:
        super().__init__(message)
        self.holders = holders


class DataDirLock:
    """The lock of one data directory; ``acquire`` it, and keep the object for the process's
    life (``release`` or process exit drops it)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, *, exclusive: bool, what: str) -> DataDirLock:
        """Take the lock (``exclusive`` for `yquant up`, shared for a role alone), or raise
        DataDirInUseError naming the holder. ``what`` names the caller in the message."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # O_CLOEXEC (Python's default): the roles `up` starts do not inherit the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            holders = self.holders(fd)
            os.close(fd)
            if not exclusive and holders and set(holders) <= {os.getppid()}:
                return self  # started by the `yquant up` that holds it: run under it
            raise DataDirInUseError(self._refusal(what, holders), holders) from None
        if exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def descriptors(self) -> tuple[int, ...]:
        """The descriptor holding the lock, if held (a forked child closes it)."""
        return () if self._fd is None else (self._fd,)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the flock

    def holders(self, fd: int | None = None) -> list[int]:
        """PIDs that hold this lock file now (from /proc/locks; else the PID in the file)."""
        st = os.fstat(fd) if fd is not None else self.path.stat()
        found = _proc_locks_holders(st.st_dev, st.st_ino)
        if found:
            return found
        try:
            written = self.path.read_text().strip()
        except OSError:
            return []
        return [int(written)] if written.isdigit() else []

    def _refusal(self, what: str, holders: list[int]) -> str:
        who = ", ".join(f"{_command(pid)} (PID {pid})" for pid in holders) or "another process"
        return (
            f"data directory {self.data_dir} is in use by {who}: {what} beside it would share "
            f"its SQLite database and paper ledger; stop it first, or give this one its own "
            f"YQUANT__DATA_DIR"
        )


def _proc_locks_holders(dev: int, ino: int) -> list[int]:
    """PIDs of the FLOCK entries in /proc/locks for the file (dev, ino)."""
    wanted = f"{os.major(dev):02x}:{os.minor(dev):02x}:{ino}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    pids: list[int] = []
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" ("->" marks a blocked waiter)
        if len(fields) < 6 or fields[1] != "FLOCK" or "->" in fields:
            continue
        pid, where = fields[4], fields[5]
        if where.lower() == wanted and pid.isdigit() and int(pid) not in pids:
            pids.append(int(pid))
    return pids


def _command(pid: int) -> str:
    """`yquant up`, `yquant engine`, ... for a yQuant process; else its program name."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "a process"
    argv = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    names = [Path(a).name for a in argv]
    if "yquant" not in names:
        return names[0] if names else "a process"
    rest = iter(argv[names.index("yquant") + 1 :])
    for arg in rest:
        if arg == "--config":
            next(rest, None)
        elif not arg.startswith("-"):
            return f"`yquant {arg}`"
    return "`yquant`"
