"""orders.liquidation_id indexed: a liquidation's orders found without reading every order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_liquidation_id", "orders", ["liquidation_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_liquidation_id", table_name="orders")
