"""The turn to write a SQLite file: every yquant writer of the file waits for it before SQLite's
write lock, so a writer that waits goes on as soon as the one before it is done, rather than
after SQLite's busy handler has slept (up to 100 ms a nap)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from yquant.adapters.db.writer import SqliteWriter, WriteTurn

_HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "yquant.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (n INTEGER)")
    return path


def _insert(conn: Connection, n: int) -> None:
    conn.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})


def _rows(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [n for (n,) in conn.execute("SELECT n FROM t ORDER BY n")]


@contextlib.contextmanager
def _holder(turn_file: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the turn until its standard input gets a line."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(turn_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "held\n"
            yield holder
        finally:
            holder.kill()


def _close(writer: SqliteWriter) -> None:
    writer.thread.submit(writer._drop).result()  # noqa: SLF001
    writer.thread.shutdown()
    writer._turn.close()  # noqa: SLF001


def _write_in_thread(writer: SqliteWriter, n: int) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(writer.transaction(_insert, (n,)))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_writer_waits_for_the_turn_outside_sqlites_lock_and_writes_once_it_is_free(
    db: Path,
) -> None:
    writer = SqliteWriter(f"sqlite+aiosqlite:///{db}")
    with _holder(Path(f"{db}.turn")) as holder:
        thread, outcome = _write_in_thread(writer, 1)
        thread.join(0.5)
        assert thread.is_alive(), "the write went ahead while another process had the turn"
        assert _rows(db) == []
        # While it waits for the turn it holds none of SQLite's locks: another connection
        # can take the write lock at once.
        other = sqlite3.connect(db, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t (n) VALUES (0)")
        other.execute("COMMIT")
        other.close()
        assert holder.stdin is not None
        holder.stdin.write("done\n")
        holder.stdin.flush()
        assert holder.wait(10) == 0
        thread.join(10)
        assert not thread.is_alive()
        assert outcome == [None]
        assert _rows(db) == [0, 1]
    _close(writer)


def test_past_its_wait_a_writer_goes_on_to_sqlites_own_lock(db: Path) -> None:
    """A turn held by something that never gives it back costs a writer its wait for the
    turn, then SQLite decides as it would without one."""
    writer = SqliteWriter(f"sqlite+aiosqlite:///{db}")
    writer._turn = WriteTurn(f"{db}.turn", wait_s=0.2)  # noqa: SLF001
    with _holder(Path(f"{db}.turn")):
        thread, outcome = _write_in_thread(writer, 7)
        thread.join(10)
        assert not thread.is_alive()
        assert outcome == [None]
        assert _rows(db) == [7]
    _close(writer)


def test_the_turn_is_given_back_when_the_transaction_fails(db: Path) -> None:
    writer = SqliteWriter(f"sqlite+aiosqlite:///{db}")

    def fail(conn: Connection) -> None:
        _insert(conn, 3)
        raise RuntimeError("boom")

    try:
        with pytest.raises(RuntimeError, match="boom"):
            writer.thread.submit(writer.transaction, fail, ()).result()
        probe = WriteTurn(f"{db}.turn", wait_s=0.0)
        fd = probe._take()  # noqa: SLF001
        assert fd is not None, "the failed transaction kept the turn"
        probe.close()
        writer.thread.submit(writer.transaction, _insert, (4,)).result()
        assert _rows(db) == [4]
    finally:
        _close(writer)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite:///file:shared?mode=memory&cache=shared&uri=true",
    ],
)
def test_a_database_with_no_file_of_its_own_has_no_turn(url: str) -> None:
    turn = WriteTurn.for_url(url)
    with turn.taken():
        assert turn._fd is None  # noqa: SLF001


def test_a_file_databases_turn_is_the_file_beside_it(tmp_path: Path) -> None:
    turn = WriteTurn.for_url(f"sqlite+aiosqlite:///{tmp_path / 'yquant.db'}")
    with turn.taken():
        assert turn._fd is not None  # noqa: SLF001
    turn.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["yquant.db.turn"]


def test_a_turn_file_the_process_may_not_open_leaves_writes_to_sqlites_lock(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A turn file left by another user (or a file system without flock) must not stop the
    writes: they go on under SQLite's lock alone, and the log says so once."""
    turn_file = Path(f"{db}.turn")
    turn_file.mkdir()  # opening it for writing fails (EISDIR), whoever the test runs as
    writer = SqliteWriter(f"sqlite+aiosqlite:///{db}")
    try:
        for n in (1, 2):
            writer.thread.submit(writer.transaction, _insert, (n,)).result()
        assert _rows(db) == [1, 2]
        said = [r.getMessage() for r in caplog.records if "write turn not used" in r.getMessage()]
        assert len(said) == 1
    finally:
        _close(writer)
