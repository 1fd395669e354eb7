"""schedules: the scheduled orders (예약 주문) as the scheduler keeps them

A new table rather than ``scheduled_orders`` (0002) altered column by column: that table was
never written by any version, and its NOT NULL columns (account, ticker, side, a fixed time) do
not fit a liquidation or a time relative to the open. Expand, then contract: it stays until a
later release drops it. One DDL change per revision (docs/database.md).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from yquant.adapters.db.tables import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

MYSQL_OPTS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=48), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("market", sa.String(length=4), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=True),
        sa.Column("ticker", sa.String(length=40), nullable=True),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("strategy", sa.String(length=200), nullable=True),
        sa.Column("side", sa.String(length=8), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("amount", sa.Numeric(precision=24, scale=8), nullable=True),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("limit_offset_pct", sa.Numeric(precision=8, scale=4), nullable=True),
        sa.Column("days_of_week", sa.String(length=32), nullable=False),
        sa.Column("time_kind", sa.String(length=16), nullable=False),
        sa.Column("local_time", sa.String(length=5), nullable=True),
        sa.Column("offset_min", sa.Integer(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_schedules_name")),
        **MYSQL_OPTS,
    )


def downgrade() -> None:
    op.drop_table("schedules")
