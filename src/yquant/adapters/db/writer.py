"""The SQLite writer thread, where every SQLite write transaction runs in one call, and the
SQLite reader, which runs reads in place."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection

from yquant.adapters.db.engine import make_sync_sqlite_engine, make_sync_sqlite_reader


class SqliteWriter:
    """The SQLite writer: one thread, its engine, and one connection kept open on that thread
    (taking one from the pool and giving it back, with its reset, for every transaction cost
    more than a small commit). Everything here but ``close`` runs on the thread."""

    def __init__(self, url: str) -> None:
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="yq-sqlite-writer")
        self._engine = make_sync_sqlite_engine(url)
        self._conn: Connection | None = None

    def transaction(self, fn: Any, args: tuple[Any, ...]) -> Any:
        if self._conn is None:
            self._conn = self._engine.connect()
        try:
            with self._conn.begin():
                return fn(self._conn, *args)
        except BaseException:
            self._drop()  # the next transaction starts on a fresh connection
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
        self._engine.dispose()


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
