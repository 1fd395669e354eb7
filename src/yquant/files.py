"""Files replaced atomically: a reader sees the old content or the new, never a part of either,
and after a crash (power loss included) the file holds one of them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` (text is UTF-8), creating its directory if missing.

    ``mode`` is the file's permission bits; None keeps those of the file being replaced, or
    gives a new file the usual ones (0o666 less the umask). The new content is fsynced before
    the rename and the directory after it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = write_beside(path, data, mode)
    try:
        replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_beside(path: Path, data: str | bytes, mode: int | None = None) -> Path:
    """``data`` in a new, fsynced file in ``path``'s directory, ready for `replace`; ``mode``
    as for `atomic_write`. For a file that must be checked before it takes ``path``'s place."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(_mode_for(path) if mode is None else mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def replace(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` over ``path`` and make the rename durable (fsync of the directory)."""
    tmp.replace(path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Flush a directory's entries (a rename or a new file in it) to disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse fsync on a directory
            os.fsync(fd)
    finally:
        os.close(fd)


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without setting it (os.umask would change it for a moment,
    under every other thread)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022
