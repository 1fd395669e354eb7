"""fx_rates keeps its history: one row per run of an unchanged rate, for back-filled days

``since`` is the rate's first sighting, ``at`` its latest, so a day's rate can be had after the
day (a snapshot back-filled).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from yquant.adapters.db.tables import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

MYSQL_OPTS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def _table(name: str, *, history: bool) -> None:
    columns: list[Any] = [
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
    ]
    if history:
        columns.append(sa.Column("since", UtcDateTime(), nullable=False))
    columns += [
        sa.Column("rate", sa.Numeric(precision=24, scale=8, asdecimal=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    ]
    key = ("base", "quote", "since") if history else ("base", "quote")
    op.create_table(
        name, *columns, sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{name}")), **MYSQL_OPTS
    )


def upgrade() -> None:
    op.rename_table("fx_rates", "fx_rates_latest")
    _table("fx_rates", history=True)
    op.execute(
        "INSERT INTO fx_rates (base, quote, since, rate, source, at) "
        "SELECT base, quote, at, rate, source, at FROM fx_rates_latest"
    )
    op.drop_table("fx_rates_latest")


def downgrade() -> None:
    op.rename_table("fx_rates", "fx_rates_history")
    _table("fx_rates", history=False)
    op.execute(
        "INSERT INTO fx_rates (base, quote, rate, source, at) "
        "SELECT h.base, h.quote, h.rate, h.source, h.at FROM fx_rates_history h "
        "WHERE h.since = (SELECT MAX(n.since) FROM fx_rates_history n "
        "WHERE n.base = h.base AND n.quote = h.quote)"
    )
    op.drop_table("fx_rates_history")
