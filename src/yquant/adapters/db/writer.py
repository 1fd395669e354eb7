"""The SQLite writer thread, where every SQLite write transaction runs in one call, and the
SQLite reader, which runs reads in place."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection, make_url

from yquant.adapters.db.engine import make_sync_sqlite_engine, make_sync_sqlite_reader

logger = logging.getLogger(__name__)


class SqliteWriter:
    """The SQLite writer: one thread, its engine, and one connection kept open on that thread
    (taking one from the pool and giving it back, with its reset, for every transaction cost
    more than a small commit). Everything here but ``close`` runs on the thread."""

    def __init__(self, url: str) -> None:
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="yq-sqlite-writer")
        self._engine = make_sync_sqlite_engine(url)
        self._conn: Connection | None = None
        self._turn = WriteTurn.for_url(url)

    def transaction(self, fn: Any, args: tuple[Any, ...]) -> Any:
        if self._conn is None:
            self._conn = self._engine.connect()
        try:
            with self._turn.taken(), self._conn.begin():
                return fn(self._conn, *args)
        except BaseException:
            self._drop()  # the next transaction starts on a fresh connection
            raise

    def rehearsal(self, fn: Any, args: tuple[Any, ...]) -> None:
        """``fn(connection, *args)`` in a transaction that is then rolled back: what it would
        write is undone, what it compiled stays compiled."""
        if self._conn is None:
            self._conn = self._engine.connect()
        try:
            with self._turn.taken():
                tx = self._conn.begin()
                try:
                    fn(self._conn, *args)
                finally:
                    tx.rollback()
        except BaseException:
            self._drop()
            raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(self.thread, self._drop)
        await loop.run_in_executor(None, self.thread.shutdown)
        self._turn.close()
        self._engine.dispose()


class WriteTurn:
    """The turn to write one SQLite file, taken by every yquant writer of that file (each
    role's writer thread) before its BEGIN IMMEDIATE, on a lock file beside it.

    SQLite's own lock stays what keeps writes apart; the turn only decides how a writer waits.
    SQLite's busy handler sleeps 1, 2, 5, 10 ... up to 100 ms between tries, so while the webhook,
    the engine and the gateway all commit in a burst, a waiting writer slept through many
    chances to write: the webhook's group commits waited up to 533 ms for the lock, and its
    acks with them (docs/performance.md). Waiting here costs at most ``_MAX_NAP_S`` after the
    turn is given back. Past ``wait_s`` the writer goes on to SQLite's lock and its busy
    handler, as without the turn (a stuck holder of the file costs no more than before)."""

    _NAPS_S = (0.0001, 0.0002, 0.0005)
    _MAX_NAP_S = 0.001

    def __init__(self, path: str | None, wait_s: float = 2.0) -> None:
        self._path = path
        self._wait_s = wait_s
        self._fd: int | None = None

    @classmethod
    def for_url(cls, url: str) -> WriteTurn:
        """The turn of the file ``url`` names (none for an in-memory database)."""
        database = make_url(url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return cls(None)
        return cls(database + ".turn")

    @contextlib.contextmanager
    def taken(self) -> Iterator[None]:
        fd = self._take()
        try:
            yield
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _take(self) -> int | None:
        if self._path is None:
            return None
        try:
            if self._fd is None:
                # Opened by the thread that writes, in the process that writes (after any
                # fork): a descriptor shared with another process would share its turn.
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            return self._wait(self._fd)
        except OSError as exc:  # not BlockingIOError: caught in _wait
            # A file this process may not open, a file system without flock: SQLite's lock
            # alone, as before the turn.
            logger.warning("SQLite write turn not used (%s): %s", self._path, exc.strerror)
            self._path = None
            self.close()
            return None

    def _wait(self, fd: int) -> int | None:
        deadline = 0.0
        tries = 0
        while True:
            with contextlib.suppress(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            now = time.monotonic()
            if not deadline:
                deadline = now + self._wait_s
            elif now > deadline:
                return None  # SQLite's lock decides, as without the turn
            time.sleep(self._NAPS_S[tries] if tries < len(self._NAPS_S) else self._MAX_NAP_S)
            tries += 1

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class SqliteReader:
    """SQLite reads, run where they are asked for (on the event loop), on one connection kept
    open.

    A read of the local SQLite file takes tens of microseconds, and in WAL mode readers never
    wait for the writer; handing each to a thread cost more CPU than the read itself (the async
    driver's five hops per SELECT, then one: docs/performance.md). A read that runs past
    ``timeout_s`` is interrupted by SQLite (its progress handler) and a lock is waited for at
    most ``timeout_s``, so the store's timeout still holds. Each statement reads what is
    committed when it runs (the driver begins no transaction)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self._engine = make_sync_sqlite_reader(url, timeout_s)
        self._timeout_s = timeout_s
        self._conn: Connection | None = None
        self._deadline = 0.0

    def read(self, fn: Any, args: tuple[Any, ...]) -> Any:
        conn = self._conn
        if conn is None:
            conn = self._conn = self._engine.connect()
            driver = conn.connection.driver_connection
            driver.set_progress_handler(self._overdue, 20_000)  # type: ignore[union-attr]
        self._deadline = time.monotonic() + self._timeout_s
        try:
            result = fn(conn, *args)
            conn.rollback()  # ends SQLAlchemy's own transaction; the driver holds none
        except BaseException:
            self.close()  # the next read starts on a fresh connection
            raise
        return result

    def _overdue(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def dispose(self) -> None:
        self.close()
        self._engine.dispose()
