"""SQLAlchemy Core tables. Money is NUMERIC, times are stored in UTC and read back aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, UTC on disk (naive, microseconds kept), aware UTC out."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "mysql":
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused; yQuant stores aware times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def Money() -> Numeric[Any]:
    return Numeric(24, 8, asdecimal=True)


def Quantity() -> Numeric[Any]:
    return Numeric(20, 4, asdecimal=True)


BigId = BigInteger().with_variant(Integer(), "sqlite")

signals = Table(
    "signals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("signal_key", String(64), nullable=False, unique=True),
    Column("worker", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_rank", Integer, nullable=False, default=0),
    Column("reason", String(48)),
    Column("detail", String(300)),
    Column("strategy", String(200)),
    Column("ticker", String(40)),
    Column("exchange", String(16)),
    Column("action", String(16)),
    Column("source_ip", String(64)),
    Column("payload", Text),
    Column("received_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_signals_received_at", "received_at"),
    Index("ix_signals_worker_status", "worker", "status"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("client_order_id", String(32), nullable=False, unique=True),
    Column("signal_key", String(64), index=True),
    Column("account", String(64), nullable=False),
    Column("strategy", String(200), nullable=False),
    Column("ticker", String(40), nullable=False),
    Column("exchange", String(16), nullable=False),
    Column("market", String(4), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(8), nullable=False),
    Column("quantity", Quantity(), nullable=False),
    Column("limit_price", Money()),
    Column("reference_price", Money()),
    Column("status", String(20), nullable=False),
    Column("status_rank", Integer, nullable=False),
    Column("filled_quantity", Quantity(), nullable=False),
    Column("avg_fill_price", Money()),
    Column("broker_order_id", String(64)),
    Column("reason", String(48)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_orders_updated_at", "updated_at"),
    Index("ix_orders_status", "status"),
)

fills = Table(
    "fills",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("fill_id", String(80), nullable=False, unique=True),
    Column("client_order_id", String(32), nullable=False, index=True),
    Column("account", String(64), nullable=False),
    Column("ticker", String(40), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", Quantity(), nullable=False),
    Column("price", Money(), nullable=False),
    Column("commission", Money(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("filled_at", UtcDateTime, nullable=False),
    Index("ix_fills_account_ticker", "account", "ticker"),
)
