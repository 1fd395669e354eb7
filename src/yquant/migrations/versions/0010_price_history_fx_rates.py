"""price_history and fx_rates: a compact price history for charts, the latest exchange rates

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from yquant.adapters.db.tables import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MYSQL_OPTS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def upgrade() -> None:
    op.create_table(
        "price_history",
        sa.Column("market", sa.String(length=4), nullable=False),
        sa.Column("ticker", sa.String(length=40), nullable=False),
        sa.Column("bucket", UtcDateTime(), nullable=False),
        sa.Column("price", sa.Numeric(precision=24, scale=8, asdecimal=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("market", "ticker", "bucket", name=op.f("pk_price_history")),
        **MYSQL_OPTS,
    )
    op.create_table(
        "fx_rates",
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=24, scale=8, asdecimal=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("base", "quote", name=op.f("pk_fx_rates")),
        **MYSQL_OPTS,
    )


def downgrade() -> None:
    op.drop_table("fx_rates")
    op.drop_table("price_history")
