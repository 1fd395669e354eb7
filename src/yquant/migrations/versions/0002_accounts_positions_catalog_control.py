"""accounts, positions, catalog, tokens, control, deployment

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from yquant.adapters.db.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MYSQL_OPTS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def upgrade() -> None:
    op.create_table(
        "account_snapshots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cash", sa.Numeric(precision=24, scale=8), nullable=False),
        sa.Column("positions_value", sa.Numeric(precision=24, scale=8), nullable=False),
        sa.Column("equity", sa.Numeric(precision=24, scale=8), nullable=False),
        sa.Column("realized_pnl", sa.Numeric(precision=24, scale=8), nullable=True),
        sa.Column("taken_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_snapshots")),
        sa.UniqueConstraint("account", "day", "currency", name="uq_account_snapshots_key"),
        **MYSQL_OPTS,
    )
    op.create_table(
        "accounts",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("environment", sa.String(length=8), nullable=True),
        sa.Column("masked_number", sa.String(length=32), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_accounts")),
        **MYSQL_OPTS,
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        **MYSQL_OPTS,
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)

    op.create_table(
        "broker_tokens",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=8), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("issued_at", UtcDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_broker_tokens")),
        **MYSQL_OPTS,
    )
    op.create_table(
        "cash_balances",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cash", sa.Numeric(precision=24, scale=8), nullable=False),
        sa.Column("buying_power", sa.Numeric(precision=24, scale=8), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_balances")),
        sa.UniqueConstraint("account", "currency", name="uq_cash_balances_key"),
        **MYSQL_OPTS,
    )
    op.create_table(
        "catalog_versions",
        sa.Column("market", sa.String(length=4), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("source_bytes", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("synced_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("market", name=op.f("pk_catalog_versions")),
        **MYSQL_OPTS,
    )
    op.create_table(
        "deployment",
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=16), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_deployment")),
        **MYSQL_OPTS,
    )
    op.create_table(
        "instruments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("market", sa.String(length=4), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("ticker", sa.String(length=40), nullable=False),
        sa.Column("standard_code", sa.String(length=20), nullable=True),
        sa.Column("name_ko", sa.String(length=200), nullable=True),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("security_type", sa.String(length=32), nullable=True),
        sa.Column("tradable", sa.Boolean(), nullable=False),
        sa.Column("halted", sa.Boolean(), nullable=False),
        sa.Column("lot_size", sa.Integer(), nullable=True),
        sa.Column("price_decimals", sa.Integer(), nullable=True),
        sa.Column("base_price", sa.Numeric(precision=24, scale=8), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruments")),
        sa.UniqueConstraint("market", "exchange", "ticker", name="uq_instruments_key"),
        **MYSQL_OPTS,
    )
    op.create_table(
        "kill_switch",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_kill_switch")),
        **MYSQL_OPTS,
    )
    op.create_table(
        "order_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("client_order_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("filled_quantity", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
        sa.UniqueConstraint(
            "client_order_id", "status", "filled_quantity", name="uq_order_events_step"
        ),
        **MYSQL_OPTS,
    )
    op.create_table(
        "positions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("market", sa.String(length=4), nullable=False),
        sa.Column("ticker", sa.String(length=40), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("avg_price", sa.Numeric(precision=24, scale=8), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("strategy", sa.String(length=200), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint("account", "market", "ticker", name="uq_positions_key"),
        **MYSQL_OPTS,
    )
    op.create_table(
        "queued_orders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("client_order_id", sa.String(length=32), nullable=False),
        sa.Column("signal_key", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("strategy", sa.String(length=200), nullable=False),
        sa.Column("market", sa.String(length=4), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("ticker", sa.String(length=40), nullable=False),
        sa.Column("alert", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=48), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("release_after", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("claim_token", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", UtcDateTime(), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=True),
        sa.Column("queued_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queued_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_queued_orders_client_order_id")),
        **MYSQL_OPTS,
    )
    with op.batch_alter_table("queued_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_queued_orders_state_release", ["state", "release_after"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_queued_orders_signal_key"), ["signal_key"], unique=False
        )

    op.create_table(
        "scheduled_orders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("market", sa.String(length=4), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("ticker", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("amount", sa.Numeric(precision=24, scale=8), nullable=True),
        sa.Column("days_of_week", sa.String(length=20), nullable=False),
        sa.Column("local_time", sa.String(length=5), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_run_at", UtcDateTime(), nullable=True),
        sa.Column("next_run_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_orders")),
        sa.UniqueConstraint("name", name=op.f("uq_scheduled_orders_name")),
        **MYSQL_OPTS,
    )


def downgrade() -> None:
    op.drop_table("scheduled_orders")
    with op.batch_alter_table("queued_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queued_orders_signal_key"))
        batch_op.drop_index("ix_queued_orders_state_release")

    op.drop_table("queued_orders")
    op.drop_table("positions")
    op.drop_table("order_events")
    op.drop_table("kill_switch")
    op.drop_table("instruments")
    op.drop_table("deployment")
    op.drop_table("catalog_versions")
    op.drop_table("cash_balances")
    op.drop_table("broker_tokens")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_at")

    op.drop_table("audit_log")
    op.drop_table("accounts")
    op.drop_table("account_snapshots")
