"""The local durable journal: writes that could not reach the database, kept in order.

One SQLite file (WAL, synchronous=FULL: an append is on disk when it returns) per process in
the data directory. Entries are replayed in order by `Recorder.relay` and deleted once the
database has them; every operation is idempotent, so a replay interrupted by a crash is simply
repeated.

The journal also knows which keys it holds (per kind of row: a signal's, an order's, ...), so a
new write for a key with nothing waiting can go straight to the database while older writes for
other keys are still being replayed, and a write for a key that does wait queues behind it.

SQLite's errors stop here: a caller sees JournalUnavailableError.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yquant.errors import JournalUnavailableError


@contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise JournalUnavailableError(f"journal: {exc}") from exc


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " op TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        # A signal can be recorded only once here too: duplicates are caught while the database
        # is away.
        self._db.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS journal_signal_key ON journal (key)"
            " WHERE op = 'signal.insert'"
        )
        self._lock = threading.Lock()
        self._held: Counter[tuple[str, str]] = Counter(
            (_kind(op), key) for op, key in self._db.execute("SELECT op, key FROM journal")
        )
        self.depth = self._count()

    def append(self, op: str, key: str, row: dict[str, Any]) -> bool:
        """Store one write durably; False when it is a signal already in the journal."""
        with self._lock, _mapped():
            try:
                self._db.execute(
                    "INSERT INTO journal (op, key, payload, created_at) VALUES (?,?,?,?)",
                    (
                        op,
                        key,
                        json.dumps(row, separators=(",", ":")),
                        datetime.now(UTC).isoformat(),
                    ),
                )
            except sqlite3.IntegrityError:
                return False
            self.depth += 1
            self._held[(_kind(op), key)] += 1
            return True

    def holds(self, op: str, key: str) -> bool:
        """Whether a write for the same row as ``op`` on ``key`` waits here (a later write for
        it must then wait behind it)."""
        return (_kind(op), key) in self._held

    def has_signal(self, key: str) -> bool:
        with self._lock, _mapped():
            row = self._db.execute(
                "SELECT 1 FROM journal WHERE op = 'signal.insert' AND key = ?", (key,)
            ).fetchone()
        return row is not None

    def peek(self, limit: int = 200) -> list[tuple[int, str, dict[str, Any]]]:
        with self._lock, _mapped():
            rows = self._db.execute(
                "SELECT seq, op, payload FROM journal ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(seq, op, json.loads(payload)) for seq, op, payload in rows]

    def remove_through(self, seq: int) -> None:
        """Delete the entries up to ``seq`` (replayed), in one transaction."""
        with self._lock, _mapped():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                gone = self._db.execute(
                    "SELECT op, key FROM journal WHERE seq <= ?", (seq,)
                ).fetchall()
                self._db.execute("DELETE FROM journal WHERE seq <= ?", (seq,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            for op, key in gone:
                held = (_kind(op), key)
                self._held[held] -= 1
                if self._held[held] <= 0:
                    del self._held[held]
            self.depth = max(self.depth - len(gone), 0)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM journal").fetchone()[0])


def _kind(op: str) -> str:
    """The kind of row an operation writes ("signal.insert" and "signal.advance": "signal")."""
    return op.partition(".")[0]


def waiting(folder: Path) -> int:
    """Writes waiting in every role's journal under ``folder`` (read-only: a role's own
    journal is never opened for writing from another process); 0 when there are none."""
    total = 0
    for path in sorted(folder.glob("*.sqlite3")):
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
            ) as db:
                total += int(db.execute("SELECT COUNT(*) FROM journal").fetchone()[0])
        except sqlite3.Error:
            continue  # a journal being created, or not one: counted at the next look
    return total
