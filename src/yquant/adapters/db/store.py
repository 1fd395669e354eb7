"""The system of record: one database, its guarded calls, its writes and its listings.

`SqlStore` owns the engine (`engine`), the SQLite writer thread (`writer`) and the write
operations (`writes`, whose statements live in `statements`); the listings' statements are in
`queries`, the deployment roles in `deployment`. Every write is an idempotent operation (see
`writes`), so writes from several processes need no read-modify-write and no locks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from yquant.adapters.db import queries
from yquant.adapters.db.engine import dialect_of, make_engine
from yquant.adapters.db.writer import SqliteReader, SqliteWriter
from yquant.adapters.db.writes import Writes
from yquant.errors import DatabaseUnavailableError, SchemaMissingError

T = TypeVar("T")


class SqlStore:
    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._engine: AsyncEngine | None = None
        self._writer: SqliteWriter | None = None
        self._reader: SqliteReader | None = None
        self._writes = Writes(dialect_of(url))

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = make_engine(self._url)
        return self._engine

    @property
    def dialect(self) -> str:
        return dialect_of(self._url)

    async def close(self) -> None:
        if self._engine is not None:
            # Detached before the first await: a write racing the close opens an engine of its
            # own instead of checking a connection out of the pool being disposed (which would
            # then never be closed).
            engine, self._engine = self._engine, None
            await engine.dispose()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.close()
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.dispose()

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute(text("SELECT 1")).all())

    async def warm_up(self) -> None:
        """Open now what the first read and the first write would open: a connection (on
        SQLite: the reader's, a pooled one for the other writes, and the writer thread with
        its connection, in an empty transaction)."""
        await self.ping()
        if self.dialect == "sqlite":
            await self.run(lambda conn: conn.execute(text("SELECT 1")))
            await self._in_writer_thread(lambda conn: None)

    # ---- writes -----------------------------------------------------------------------------

    async def apply(self, op: str, row: dict[str, Any]) -> bool:
        """Run one write; True when it inserted a new row or moved one forward."""
        [changed] = await self.apply_many([(op, row)])
        return changed

    async def apply_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        """Run several writes in ONE transaction (one commit, one fsync), in order.

        Each result tells whether that write inserted a new row or moved one forward. A
        duplicate natural key on an insert is that write's False, not a failure of the batch.
        """
        write_all = self._writes.write_all
        if self.dialect == "sqlite":
            # The whole transaction in one call on the writer thread: with aiosqlite every
            # statement, the commit and the connection's return would each wait for a turn of
            # the busy event loop.
            return list(await self._in_writer_thread(write_all, items))
        return list(await self.run(lambda conn: conn.run_sync(write_all, items), write=True))

    async def transaction(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)``, blocking writes, in one transaction: on SQLite on the
        writer thread (one connection, its turn, no event-loop hops), on MariaDB on a pooled
        connection of the async engine."""
        if self.dialect == "sqlite":
            result: T = await self._in_writer_thread(fn, *args)
            return result
        return await self.run(lambda conn: conn.run_sync(fn, *args), write=True)

    async def rehearse(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Run ``items`` as `apply_many` would, and undo them (`rehearsal`)."""
        await self.rehearsal(self._writes.write_all, items)

    async def rehearsal(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(connection, *args)`` in a transaction that is then rolled back: nothing
        is left behind, but the statements it runs are compiled (SQLAlchemy compiles each at
        its first use, milliseconds for an upsert) before a process's first real write."""
        if self.dialect == "sqlite":
            if self._writer is None:
                self._writer = SqliteWriter(self._url)
            writer = self._writer
            async with self._guarded():
                await asyncio.get_running_loop().run_in_executor(
                    writer.thread, writer.rehearsal, fn, args
                )
            return

        async def rolled_back(conn: Any) -> None:
            tx = await conn.begin()
            try:
                await conn.run_sync(fn, *args)
            finally:
                await tx.rollback()

        await self.run(rolled_back)

    async def replay_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Run journaled writes in ONE transaction, in order, without a result per write: runs
        of one operation go as one executemany each."""
        replay_all = self._writes.replay_all
        if self.dialect == "sqlite":
            await self._in_writer_thread(replay_all, items)
            return
        await self.run(lambda conn: conn.run_sync(replay_all, items), write=True)

    # ---- reads ------------------------------------------------------------------------------

    async def recent(self, table_name: str, limit: int = 50) -> list[dict[str, Any]]:
        return await self.rows(queries.recent(table_name, limit))

    async def order(self, client_order_id: str) -> dict[str, Any] | None:
        rows = await self.rows(queries.ORDER_BY_ID, {"cid": client_order_id})
        return rows[0] if rows else None

    async def has_signal(self, key: str) -> bool:
        return bool(await self.rows(queries.signal_id(key)))

    async def signals_waiting(self, worker: str, before: datetime) -> list[dict[str, Any]]:
        return await self.rows(queries.signals_waiting(worker, before))

    async def rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a read statement (under the store's timeout) and return plain dict rows.
        ``params``: the values of a statement built once with bind parameters (the hot reads:
        building and keying a statement costs more than SQLite's read)."""
        return await self.read(_dict_rows, stmt, params)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)``, a blocking read that may run several statements,
        under the store's timeout. On SQLite it runs in place (`SqliteReader`); on MariaDB on
        a pooled connection of the async engine."""
        if self.dialect == "sqlite":
            if self._reader is None:
                self._reader = SqliteReader(self._url, self._timeout_s)
            # No asyncio timeout: nothing can interrupt a call in place but SQLite's own (the
            # reader's deadline); the same errors as any other call.
            try:
                return self._reader.read(fn, args)  # type: ignore[no-any-return]
            except Exception as exc:
                mapped = _mapped(exc)
                if mapped is exc:
                    raise
                raise mapped from None  # without the statement (it may hold account data)
        return await self.run(lambda conn: conn.run_sync(fn, *args))

    # ---- guarded calls ----------------------------------------------------------------------

    async def run(self, fn: Callable[[Any], Awaitable[T]], *, write: bool = False) -> T:
        """Run ``fn(connection)`` under the store's timeout, in a transaction when ``write``;
        an unreachable, resetting or hung database raises DatabaseUnavailableError."""
        async with self._guarded():
            if write:
                async with self.engine.begin() as conn:
                    return await fn(conn)
            async with self.engine.connect() as conn:
                return await fn(conn)

    async def _in_writer_thread(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(connection, *args)`` in one transaction on the SQLite writer thread."""
        if self._writer is None:
            self._writer = SqliteWriter(self._url)
        writer = self._writer
        async with self._guarded():
            # A call cut off by the timeout may still commit later; every write is idempotent,
            # so the journaled copy then replays as a repeat.
            return await asyncio.get_running_loop().run_in_executor(
                writer.thread, writer.transaction, fn, args
            )

    @contextlib.asynccontextmanager
    async def _guarded(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._timeout_s):
                yield
        except TimeoutError as exc:
            raise DatabaseUnavailableError("database call timed out") from exc
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is exc:
                raise
            raise mapped from None


def _mapped(exc: Exception) -> Exception:
    """``exc`` as the store's error when it says the database is away or unmigrated; else
    ``exc`` itself."""
    if isinstance(exc, DBAPIError):
        if schema_missing(exc):
            return SchemaMissingError(_describe(exc))
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            return DatabaseUnavailableError(_describe(exc))
        return exc
    if isinstance(exc, (OSError, ConnectionError)):
        return DatabaseUnavailableError(_describe(exc))
    # asyncmy reports a connection reset while it connects (seen under uvloop) as "Transport
    # does not expose socket instance": the server is not reachable.
    if isinstance(exc, RuntimeError) and (
        "transport" in str(exc).lower() or "socket" in str(exc).lower()
    ):
        return DatabaseUnavailableError(_describe(exc))
    return exc


def _dict_rows(conn: Any, stmt: Any, params: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(stmt, params)]  # noqa: SLF001 - public API


def schema_missing(exc: DBAPIError) -> bool:
    """A query before the first migration: SQLite's "no such table", MariaDB's error 1146."""
    args: tuple[object, ...] = getattr(exc.orig, "args", ())
    return "no such table" in str(exc.orig) or (bool(args) and args[0] == 1146)


def _describe(exc: BaseException) -> str:
    """A short reason without the statement or its parameters (which may hold account data)."""
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0][:160] if str(orig) else ''}"
