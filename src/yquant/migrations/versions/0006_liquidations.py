"""liquidations: one row per liquidation, and orders.liquidation_id tying its sells to it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from yquant.adapters.db.tables import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MYSQL_OPTS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def upgrade() -> None:
    op.create_table(
        "liquidations",
        sa.Column("id", sa.String(length=12), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("at_open", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=48), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liquidations")),
        **MYSQL_OPTS,
    )
    op.create_index(
        op.f("ix_liquidations_requested_at"), "liquidations", ["requested_at"], unique=False
    )
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("liquidation_id", sa.String(length=12), nullable=True))
        batch.create_index("ix_orders_liquidation_id", ["liquidation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_liquidation_id")
        batch.drop_column("liquidation_id")
    op.drop_index(op.f("ix_liquidations_requested_at"), table_name="liquidations")
    op.drop_table("liquidations")
