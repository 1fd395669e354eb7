"""The SQLite writer thread: every SQLite write transaction runs on it, in one call."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection

from yquant.adapters.db.engine import make_sync_sqlite_engine


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
