"""SQLAlchemy Core tables. Money is NUMERIC, times are stored in UTC and read back aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.mysql import DATETIME, MEDIUMTEXT
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


def Money() -> Numeric[Any]:  # noqa: N802 - reads as a column type, like Numeric
    return Numeric(24, 8, asdecimal=True)


def Quantity() -> Numeric[Any]:  # noqa: N802 - reads as a column type, like Numeric
    return Numeric(20, 4, asdecimal=True)


BigId = BigInteger().with_variant(Integer(), "sqlite")
# MariaDB's TEXT holds 64 KiB; an alert body may be that large before JSON escaping.
LongText = Text().with_variant(MEDIUMTEXT(), "mysql")

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
    Column("payload", LongText),
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
    # A cancel-replace: the working order cancelled before this one is sent.
    Column("replaces", String(32)),
    # The liquidation whose sell this is (`liquidations.id`), read from the signal key.
    Column("liquidation_id", String(12)),
    Index("ix_orders_updated_at", "updated_at"),
    Index("ix_orders_liquidation_id", "liquidation_id"),
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

# The latest price seen per instrument (an alert's, a quote's), with its time and source: what
# the book values positions at and what the paper venue fills at.
last_prices = Table(
    "last_prices",
    metadata,
    Column("market", String(4), primary_key=True),
    Column("ticker", String(40), primary_key=True),
    Column("price", Money(), nullable=False),
    Column("source", String(16), nullable=False),  # alert | quote | catalog
    Column("at", UtcDateTime, nullable=False),
)

# A compact price history for charts: per instrument, the first price seen in each
# ``price_history`` bucket (15 minutes), written at most once per bucket by each process.
price_history = Table(
    "price_history",
    metadata,
    Column("market", String(4), primary_key=True),
    Column("ticker", String(40), primary_key=True),
    Column("bucket", UtcDateTime, primary_key=True),  # the bucket's start
    Column("price", Money(), nullable=False),
    Column("source", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),  # when the price was seen
)

# Exchange rates per currency pair (USD/KRW: won per dollar) as a broker gave them, with their
# source: one row per run of an unchanged rate, from its first sighting (``since``) to its latest
# (``at``), so the rate of a past day's close can be had (snapshot back-fill).
fx_rates = Table(
    "fx_rates",
    metadata,
    Column("base", String(3), primary_key=True),
    Column("quote", String(3), primary_key=True),
    Column("since", UtcDateTime, primary_key=True),
    Column("rate", Money(), nullable=False),
    Column("source", String(16), nullable=False),  # kis
    Column("at", UtcDateTime, nullable=False),
)

# ---- order history, accounts and positions ------------------------------------------------------

order_events = Table(
    "order_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("client_order_id", String(32), nullable=False),
    Column("status", String(20), nullable=False),
    Column("filled_quantity", Quantity(), nullable=False),
    Column("detail", String(300)),
    Column("at", UtcDateTime, nullable=False),
    # A state change is recorded once, however often it is replayed.
    UniqueConstraint("client_order_id", "status", "filled_quantity", name="uq_order_events_step"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("broker", String(16), nullable=False),  # paper | kis
    Column("environment", String(8)),  # kis: real | paper
    Column("masked_number", String(32)),  # never the full account number
    Column("enabled", Boolean, nullable=False, default=True),
    Column("settings", Text),  # JSON of non-secret per-account settings
    Column("updated_at", UtcDateTime, nullable=False),
)

positions = Table(
    "positions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("market", String(4), nullable=False),
    Column("ticker", String(40), nullable=False),
    Column("quantity", Quantity(), nullable=False),
    Column("avg_price", Money(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("strategy", String(200)),  # the strategy that opened it, kept across syncs
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("account", "market", "ticker", name="uq_positions_key"),
)

cash_balances = Table(
    "cash_balances",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cash", Money(), nullable=False),
    Column("buying_power", Money()),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("account", "currency", name="uq_cash_balances_key"),
)

account_snapshots = Table(
    "account_snapshots",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cash", Money(), nullable=False),
    Column("positions_value", Money(), nullable=False),
    Column("equity", Money(), nullable=False),
    Column("realized_pnl", Money()),
    Column("taken_at", UtcDateTime, nullable=False),
    Column("unrealized_pnl", Money()),
    # Cash that came in (+) or went out (-) that the day's fills do not explain.
    Column("flow", Money(), nullable=False, server_default="0"),
    # KRW per unit of ``currency`` (1 for KRW), where it came from (kis | config | base), when.
    Column("fx_rate", Money(), nullable=False, server_default="1"),
    Column("fx_source", String(16), nullable=False, server_default="base"),
    Column("fx_at", UtcDateTime),
    Column("equity_krw", Money(), nullable=False, server_default="0"),
    # broker: cash as the broker reported it after the close; backfill: from the fills.
    Column("source", String(16), nullable=False, server_default="broker"),
    UniqueConstraint("account", "day", "currency", name="uq_account_snapshots_key"),
)

strategy_snapshots = Table(
    "strategy_snapshots",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("strategy", String(200), nullable=False),
    Column("day", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("position_value", Money(), nullable=False),
    Column("cost_value", Money(), nullable=False),
    Column("realized_pnl", Money(), nullable=False),  # since the strategy's first fill
    Column("unrealized_pnl", Money(), nullable=False),
    Column("taken_at", UtcDateTime, nullable=False),
    UniqueConstraint("account", "strategy", "day", "currency", name="uq_strategy_snapshots_key"),
)

# A schedule (see yquant.domain.schedules); ``days_of_week`` e.g. "mon,tue,wed,thu,fri", times in
# the market's own time zone. (``scheduled_orders`` of 0002, never written, is left in the database
# until a later release drops it.)
schedules = Table(
    "schedules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(48), nullable=False, unique=True),
    Column("action", String(16), nullable=False),  # order | liquidate
    Column("market", String(4), nullable=False),
    Column("exchange", String(16)),
    Column("ticker", String(40)),
    Column("account", String(64)),
    Column("strategy", String(200)),
    Column("side", String(8)),
    Column("quantity", Quantity()),
    Column("amount", Money()),  # in the market's currency, when sized by amount
    Column("order_type", String(8), nullable=False),  # market | limit
    Column("limit_offset_pct", Numeric(8, 4, asdecimal=True)),
    Column("days_of_week", String(32), nullable=False),
    Column("time_kind", String(16), nullable=False),  # fixed | after_open | before_close
    Column("local_time", String(5)),  # HH:MM, fixed
    Column("offset_min", Integer),  # after_open | before_close
    Column("paused", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# One row per schedule and session date, inserted before anything is sent: the unique key is
# the claim, so a firing happens once however many workers (or restarts) reach it.
schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("schedule_id", BigId, nullable=False),
    Column("schedule_name", String(48), nullable=False),
    Column("session_date", Date, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # claimed|fired|skipped|missed|failed
    Column("reason", String(48)),
    Column("detail", String(300)),
    Column("signal_key", String(64)),
    Column("orders", String(300)),  # the client order ids made, comma-separated
    Column("worker", String(16), nullable=False),
    Column("epoch", Integer),
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint(
        "schedule_id", "session_date", name="uq_schedule_runs_schedule_id_session_date"
    ),
)

# ---- stock catalog -------------------------------------------------------------------------------

instruments = Table(
    "instruments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("market", String(4), nullable=False),  # KR, US, JP, HK, CN, VN
    Column("exchange", String(16), nullable=False),  # KOSPI, KOSDAQ, KONEX, NASDAQ, NYSE, AMEX...
    Column("ticker", String(40), nullable=False),
    Column("standard_code", String(20)),  # ISIN where the file gives it
    Column("name_ko", String(200)),
    Column("name_en", String(200)),
    Column("currency", String(3), nullable=False),
    Column("security_type", String(32)),
    Column("tradable", Boolean, nullable=False, default=True),
    Column("halted", Boolean, nullable=False, default=False),
    Column("lot_size", Integer),  # shares per order unit (KRX regular lot, overseas order size)
    Column("price_decimals", Integer),  # decimals the venue quotes (overseas files)
    Column("base_price", Money()),  # the file's reference price (KRX: the day's base price)
    Column("extra", Text),  # JSON: whatever else the master file carries that a router needs
    Column("updated_at", UtcDateTime, nullable=False),
    # A listing is (market, exchange, ticker): the files are per exchange, and a ticker found on
    # two exchanges of one market must surface as ambiguous, not overwrite one another.
    UniqueConstraint("market", "exchange", "ticker", name="uq_instruments_key"),
)

catalog_versions = Table(
    "catalog_versions",
    metadata,
    Column("market", String(4), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    Column("source_bytes", BigInteger),
    Column("checksum", String(64)),
    Column("source", String(200)),  # where the rows came from: a master-file URL base or package
    Column("synced_at", UtcDateTime, nullable=False),
)

# ---- broker tokens, control, audit, deployment ---------------------------------------------------

broker_tokens = Table(
    "broker_tokens",
    metadata,
    # sha256 of (environment, app key): the key itself is never stored.
    Column("key_id", String(64), primary_key=True),
    Column("environment", String(8), nullable=False),
    Column("access_token", Text),  # a secret: never logged, never shown
    Column("expires_at", UtcDateTime),
    Column("issued_at", UtcDateTime),
    Column("lease_owner", String(64)),  # who is issuing a new token right now
    Column("lease_until", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

kill_switch = Table(
    "kill_switch",
    metadata,
    Column("scope", String(64), primary_key=True),  # "global" or an account name
    Column("state", String(16), nullable=False),  # active | reduce_only | halted
    Column("reason", String(300)),
    Column("actor", String(100), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Orders decided outside their market's session, waiting for the next open. The active worker
# claims each row with a compare-and-set on ``state`` (queued -> releasing), so a row becomes an
# order exactly once however many engines look at it.
queued_orders = Table(
    "queued_orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("client_order_id", String(32), nullable=False, unique=True),
    Column("signal_key", String(64), nullable=False, index=True),
    Column("account", String(64), nullable=False),
    Column("strategy", String(200), nullable=False),
    Column("market", String(4), nullable=False),
    Column("exchange", String(16), nullable=False),
    Column("ticker", String(40), nullable=False),
    Column("alert", Text, nullable=False),  # JSON of the alert, re-decided at release
    Column("state", String(16), nullable=False),  # queued|releasing|released|rejected|expired
    Column("reason", String(48)),
    Column("detail", String(300)),
    Column("release_after", UtcDateTime, nullable=False),  # the session open it waits for
    Column("expires_at", UtcDateTime, nullable=False),  # not released by then: expired
    Column("claim_token", String(64)),
    Column("claimed_at", UtcDateTime),
    Column("epoch", Integer),  # deployment epoch of the claimer
    Column("queued_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_queued_orders_state_release", "state", "release_after"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200)),
    Column("detail", Text),  # JSON, secrets never included
    Index("ix_audit_log_at", "at"),
)

# A liquidation: who asked, when, for what (the filter), and what became of it. ``detail`` is
# the plan and each sell's outcome as JSON; the sells' orders carry ``orders.liquidation_id``.
liquidations = Table(
    "liquidations",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("requested_by", String(100), nullable=False),
    Column("source", String(120), nullable=False),  # cli, dashboard, schedule:<name>
    Column("requested_at", UtcDateTime, nullable=False),
    Column("filters", Text, nullable=False),  # JSON: account, strategy, market, ticker
    Column("at_open", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(48)),
    Column("detail", Text),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The dashboard's users: a name and an argon2 hash (never the password). ``session_epoch`` is
# part of every session cookie: raising it (sign-out, removal, a new password) ends them all.
users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("session_epoch", Integer, nullable=False, default=0),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime),
    Column("last_login_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

deployment = Table(
    "deployment",
    metadata,
    Column("role", String(16), primary_key=True),  # "active"
    Column("worker", String(16), nullable=False),  # blue | green
    Column("epoch", Integer, nullable=False),
    Column("updated_by", String(100), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The notifier's durable queue: one row per (notice, channel), so that a notice handed over twice
# (a restarted producer, both workers) is delivered once. ``payload`` is the notice as JSON;
# ``lease_*`` keeps two notifiers (blue and green share this table) off the same row.
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(150), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("level", Integer, nullable=False),
    Column("shared", Boolean, nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", UtcDateTime, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", UtcDateTime),
    Column("last_error", String(500)),
    Column("receipt", String(100)),  # the channel's message id
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    UniqueConstraint("event_id", "channel", name="uq_notifications_event_channel"),
    Index("ix_notifications_status_next_at", "status", "next_at"),
)
