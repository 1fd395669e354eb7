"""schedule_runs: each firing of a schedule, one per (schedule, session date)

The unique key is the claim: a firing is recorded before its order is made, and a second
claim of the same schedule and session date (another worker, a restart) is refused by the
database. One DDL change per revision (docs/database.md).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from yquant.adapters.db.tables import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

MYSQL_OPTS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "schedule_runs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("schedule_id", BIG_ID, nullable=False),
        sa.Column("schedule_name", sa.String(length=48), nullable=False),
        sa.Column("session_date", sa.Date(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=48), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("signal_key", sa.String(length=64), nullable=True),
        sa.Column("orders", sa.String(length=300), nullable=True),
        sa.Column("worker", sa.String(length=16), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=True),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_runs")),
        sa.UniqueConstraint(
            "schedule_id", "session_date", name="uq_schedule_runs_schedule_id_session_date"
        ),
        **MYSQL_OPTS,
    )


def downgrade() -> None:
    op.drop_table("schedule_runs")
