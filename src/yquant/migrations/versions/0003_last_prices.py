"""last_prices: the latest price seen per instrument, with its time and source

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from yquant.adapters.db.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MYSQL_OPTS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def upgrade() -> None:
    op.create_table(
        "last_prices",
        sa.Column("market", sa.String(length=4), nullable=False),
        sa.Column("ticker", sa.String(length=40), nullable=False),
        sa.Column("price", sa.Numeric(precision=24, scale=8, asdecimal=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("market", "ticker", name=op.f("pk_last_prices")),
        **MYSQL_OPTS,
    )


def downgrade() -> None:
    op.drop_table("last_prices")
