"""daily snapshots: each account's day with its FX rate, flows and source; per-strategy rows

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from yquant.adapters.db.tables import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MYSQL_OPTS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def _money() -> sa.Numeric[Any]:
    return sa.Numeric(precision=24, scale=8)


def upgrade() -> None:
    # Nothing ever wrote account_snapshots: the new columns need no back-fill of old rows.
    with op.batch_alter_table("account_snapshots") as batch:
        batch.add_column(sa.Column("unrealized_pnl", _money(), nullable=True))
        batch.add_column(sa.Column("flow", _money(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("fx_rate", _money(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("fx_source", sa.String(length=16), nullable=False, server_default="base")
        )
        batch.add_column(sa.Column("fx_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("equity_krw", _money(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="broker")
        )
    op.create_table(
        "strategy_snapshots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("strategy", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("position_value", _money(), nullable=False),
        sa.Column("cost_value", _money(), nullable=False),
        sa.Column("realized_pnl", _money(), nullable=False),
        sa.Column("unrealized_pnl", _money(), nullable=False),
        sa.Column("taken_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_snapshots")),
        sa.UniqueConstraint(
            "account", "strategy", "day", "currency", name="uq_strategy_snapshots_key"
        ),
        **MYSQL_OPTS,
    )


def downgrade() -> None:
    op.drop_table("strategy_snapshots")
    with op.batch_alter_table("account_snapshots") as batch:
        for column in (
            "source",
            "equity_krw",
            "fx_at",
            "fx_source",
            "fx_rate",
            "flow",
            "unrealized_pnl",
        ):
            batch.drop_column(column)
