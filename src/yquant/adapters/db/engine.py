"""Engines for the system of record: the async engine every store uses, and for SQLite the
blocking engine of the writer thread and the driver's own cursor for its hot path."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def dialect_of(url: str) -> str:
    """``"sqlite"`` or ``"mysql"`` (MariaDB), from a database URL."""
    return "sqlite" if url.startswith("sqlite") else "mysql"


def _sqlite_pragmas(engine: Engine) -> Engine:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.close()

    return engine


def make_sync_sqlite_engine(url: str) -> Engine:
    """The blocking engine for the same SQLite file, for the writer thread. Its transactions
    take the write lock when they begin (BEGIN IMMEDIATE), so what they read stays true until
    they commit: another process's commit cannot slip in between."""
    engine = _sqlite_pragmas(
        create_engine(url.replace("+aiosqlite", "", 1), connect_args={"timeout": 15})
    )

    @event.listens_for(engine, "connect")
    def _no_driver_begin(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver's own deferred BEGIN, replaced below

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        sqlite_driver(conn, "BEGIN IMMEDIATE")

    return engine


def make_sync_sqlite_reader(url: str, timeout_s: float) -> Engine:
    """The blocking engine for SQLite reads: the driver begins no transaction, so every
    statement reads what is committed when it runs; a lock is waited for ``timeout_s``."""
    engine = _sqlite_pragmas(
        create_engine(
            url.replace("+aiosqlite", "", 1),
            connect_args={"timeout": timeout_s, "check_same_thread": False},
        )
    )

    @event.listens_for(engine, "connect")
    def _reader(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")

    return engine


def sqlite_driver(conn: Connection, sql: str, params: Any = (), *, many: bool = False) -> list[Any]:
    """Run ``sql`` on the SQLite driver's own cursor, inside whatever transaction ``conn``
    holds, and return its rows. For the writer's hot path: SQLAlchemy's handling of a
    statement costs more than SQLite's. Errors arrive as SQLAlchemy's (OperationalError,
    IntegrityError, ...), without the parameters, as from any other statement."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        rows: list[Any] = cursor.fetchall()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error, hide_parameters=True) from None
    finally:
        cursor.close()
    return rows


def make_engine(url: str) -> AsyncEngine:
    if dialect_of(url) == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 15})
        _sqlite_pragmas(engine.sync_engine)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_size=5,
        max_overflow=5,
        pool_timeout=2,
        connect_args={"connect_timeout": 2},
    )
