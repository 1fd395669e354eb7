"""Backups of the system-of-record database, and restoring one.

MariaDB: `mariadb-dump --single-transaction --routines --triggers` (a consistent snapshot
without locking the tables the workers write), gzip-compressed; restored with the `mariadb`
client. The credentials go to the clients in a 0600 option file, never on a command line. The
dump names no database, so it restores into whichever database the URL names.

SQLite: SQLite's online backup API (a consistent copy while the roles keep writing); restored
the same way, into a data directory nothing runs on.

A backup is written to a temporary file beside its target and renamed into place only once
complete (the dump's own "Dump completed" trailer checked), so a file named ``yquant-*`` is
always a whole backup.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

from sqlalchemy.engine import make_url

from yquant import files
from yquant.errors import ConfigurationError

CHUNK = 1 << 20
SQLITE_MAGIC = b"SQLite format 3\0"
GZIP_MAGIC = b"\x1f\x8b"
PREFIX = "yquant-"


class BackupError(ConfigurationError):
    """A backup or restore that could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class MariaDb:
    host: str
    port: int
    user: str
    password: str
    database: str
    socket: str | None = None

    @classmethod
    def from_url(cls, url: str) -> MariaDb:
        u = make_url(url)
        socket = u.query.get("unix_socket")
        if not u.database:
            raise BackupError(f"the database URL names no database: {u.render_as_string()}")
        return cls(
            host=u.host or "localhost",
            port=u.port or 3306,
            user=u.username or "root",
            password=u.password or "",
            database=u.database,
            socket=socket if isinstance(socket, str) else None,
        )

    @contextlib.contextmanager
    def option_file(self) -> Iterator[str]:
        """A ``[client]`` option file (0600, removed afterwards) with host, user and password."""
        lines = ["[client]", f"host={_quote(self.host)}", f"port={self.port}"]
        lines += [f"user={_quote(self.user)}", f"password={_quote(self.password)}"]
        if self.socket:
            lines.append(f"socket={_quote(self.socket)}")
        with tempfile.TemporaryDirectory(prefix="yquant-db-") as tmp:
            path = Path(tmp) / "client.cnf"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write("\n".join(lines) + "\n")
            yield str(path)


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _opened(path: Path, mode: Literal["rb", "wb"], *, compressed: bool) -> IO[bytes]:
    """``path`` opened for bytes, through gzip when ``compressed``; the caller closes it."""
    if compressed:
        # GzipFile is a binary file object, which typeshed does not spell as IO[bytes].
        return gzip.open(path, mode)  # type: ignore[return-value]
    return path.open(mode)


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise BackupError(
        f"{names[0]} is not installed (the MariaDB client: apt-get install mariadb-client)"
    )


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"no SQLite file in the database URL {url}")
    return Path(database)


def default_name(url: str, now: datetime | None = None) -> str:
    """``yquant-<UTC time>`` to the microsecond: two backups in one second (the timer's and an
    operator's) each keep a file of their own, and names still sort by time."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{PREFIX}{stamp}.sqlite3" if is_sqlite(url) else f"{PREFIX}{stamp}.sql.gz"


# ---- backup --------------------------------------------------------------------------------------


def backup(url: str, target: Path) -> Path:
    """Write a whole backup of the database at ``url`` to ``target`` (atomically)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # An empty file beside the target, private from the start: a backup holds everything,
    # broker tokens included.
    tmp = files.write_beside(target, b"", mode=0o600)
    try:
        if is_sqlite(url):
            _backup_sqlite(sqlite_path(url), tmp)
        else:
            _backup_mariadb(MariaDb.from_url(url), tmp, compress=target.suffix == ".gz")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        files.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _backup_sqlite(source: Path, tmp: Path) -> None:
    if not source.exists():
        raise BackupError(f"no database at {source}: nothing to back up")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _backup_mariadb(db: MariaDb, tmp: Path, *, compress: bool) -> None:
    dump = _tool("mariadb-dump", "mysqldump")
    with db.option_file() as options:
        argv = [
            dump,
            f"--defaults-extra-file={options}",
            "--single-transaction",
            "--routines",
            "--triggers",
            "--hex-blob",
            "--default-character-set=utf8mb4",
            db.database,
        ]
        with _opened(tmp, "wb", compressed=compress) as out, tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
            stdout = proc.stdout
            if stdout is None:  # pragma: no cover - PIPE always gives one
                raise BackupError("mariadb-dump gave no output stream")
            tail = b""
            while chunk := stdout.read(CHUNK):
                out.write(chunk)
                tail = (tail + chunk)[-256:]
            code = proc.wait()
            errors.seek(0)
            error = errors.read().decode(errors="replace").strip()
    if code != 0:
        raise BackupError(f"mariadb-dump of {db.database} on {db.host} failed: {_last(error)}")
    if b"-- Dump completed" not in tail:
        raise BackupError(f"mariadb-dump of {db.database} ended without its trailer")


def rotate(directory: Path, keep: int, suffix: str) -> list[Path]:
    """Delete all but the ``keep`` newest ``yquant-*SUFFIX`` backups in ``directory``."""
    if keep < 1:
        raise BackupError("--keep must be at least 1")
    backups = sorted(p for p in directory.glob(f"{PREFIX}*{suffix}") if p.is_file())
    gone = backups[:-keep]
    for path in gone:
        path.unlink()
    return gone


def latest(directory: Path) -> Path | None:
    """The newest backup in ``directory`` (names sort by their UTC time)."""
    backups = sorted(
        p
        for p in directory.glob(f"{PREFIX}*")
        if p.is_file() and p.name.endswith((".sql", ".sql.gz", ".sqlite3"))
    )
    return backups[-1] if backups else None


# ---- restore -------------------------------------------------------------------------------------


def kind_of(path: Path) -> str:
    """``sqlite``, ``sql.gz`` or ``sql`` from the file's first bytes."""
    with path.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(GZIP_MAGIC):
        return "sql.gz"
    return "sql"


def tables(url: str) -> list[str]:
    """The tables in the database at ``url`` (empty when it does not exist yet)."""
    if is_sqlite(url):
        path = sqlite_path(url)
        if not path.exists():
            return []
        with contextlib.closing(sqlite3.connect(path)) as conn:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        return sorted(r[0] for r in rows)
    db = MariaDb.from_url(url)
    out = _mariadb(
        db,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = "
        + _sql_string(db.database),
        database=None,
    )
    return sorted(line for line in out.splitlines() if line)


def restore(url: str, source: Path, *, force: bool = False) -> list[str]:
    """Load the backup ``source`` into the database at ``url``; refuses a database that has
    tables unless ``force``. Returns the tables afterwards."""
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    kind = kind_of(source)
    present = tables(url)
    if present and not force:
        raise BackupError(
            f"the target database already has {len(present)} tables; restore into an empty "
            f"database, or add --force to replace them"
        )
    if is_sqlite(url):
        if kind != "sqlite":
            raise BackupError(f"{source} is a MariaDB dump; the settings name a SQLite database")
        _restore_sqlite(source, sqlite_path(url))
    else:
        if kind == "sqlite":
            raise BackupError(f"{source} is a SQLite backup; the settings name MariaDB")
        _restore_mariadb(MariaDb.from_url(url), source, compressed=kind == "sql.gz")
    return tables(url)


def _restore_sqlite(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _restore_mariadb(db: MariaDb, source: Path, *, compressed: bool) -> None:
    _mariadb(
        db,
        f"CREATE DATABASE IF NOT EXISTS `{db.database.replace('`', '``')}` "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        database=None,
    )
    client = _tool("mariadb", "mysql")
    with db.option_file() as options:
        argv = [client, f"--defaults-extra-file={options}", "--default-character-set=utf8mb4"]
        with (
            _opened(source, "rb", compressed=compressed) as dump,
            tempfile.TemporaryFile() as errors,
        ):
            proc = subprocess.Popen([*argv, db.database], stdin=subprocess.PIPE, stderr=errors)
            stdin = proc.stdin
            if stdin is None:  # pragma: no cover - PIPE always gives one
                raise BackupError("the mariadb client gave no input stream")
            try:
                while chunk := dump.read(CHUNK):
                    stdin.write(chunk)
                stdin.close()
            except BrokenPipeError:
                pass  # the client stopped at an error: its message follows
            code = proc.wait()
            errors.seek(0)
            error = errors.read().decode(errors="replace").strip()
    if code != 0:
        raise BackupError(f"restoring {source} into {db.database} failed: {_last(error)}")


def _mariadb(db: MariaDb, sql: str, *, database: str | None) -> str:
    client = _tool("mariadb", "mysql")
    with db.option_file() as options:
        argv = [client, f"--defaults-extra-file={options}", "--batch", "--skip-column-names"]
        result = subprocess.run(
            [*argv, "-e", sql, *([database] if database else [])],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise BackupError(
            f"MariaDB at {db.host}:{db.port} as {db.user}: {_last(result.stderr.strip())}"
        )
    return result.stdout


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _last(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"
