"""Typed settings: an optional TOML file plus ``YQUANT__SECTION__KEY`` environment variables.

Environment variables win over the file; the file wins over defaults. The file is named by
``--config`` (exported as ``YQUANT_CONFIG`` so that the processes ``yquant up`` starts read the
same file). Settings are built once by the entrypoint, never at import.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from datetime import date, time
from decimal import Decimal
from ipaddress import ip_network
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from yquant import settings_names
from yquant.adapters.brokers.kis.settings import KisSettings
from yquant.domain.notices import NoticeKind
from yquant.errors import ConfigurationError

CONFIG_ENV = "YQUANT_CONFIG"


# TradingView's published webhook source addresses.
TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")


class WebhookSettings(BaseModel):
    # TradingView reaches the webhook from outside; in production HAProxy fronts it.
    host: str = "0.0.0.0"  # noqa: S104 - the webhook is meant to be reachable
    port: int = Field(6000, ge=1, le=65535)
    secret: SecretStr | None = None
    # Optional second secret in the URL: POST /webhook/<path_token>; plain /webhook is then 404.
    path_token: SecretStr | None = None
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024)
    # Source allow-list (addresses or CIDR networks); off unless enabled.
    ip_allowlist_enabled: bool = False
    allowed_ips: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ip_network(a) for a in TRADINGVIEW_IPS]
    )
    # Peers whose X-Forwarded-For is believed (HAProxy on the data node). Nobody else's is.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    # Alerts whose `timenow` is older than this (or this far in the future) are refused.
    max_alert_age_s: float = Field(60.0, gt=0, le=86400)
    # Rejections per source address per minute before the source is throttled (429); the
    # allow-listed (TradingView) addresses are never throttled here.
    max_rejections_per_minute: int = Field(20, ge=1, le=10_000)
    # How long an alert waits for the database before it goes to the local journal instead.
    database_timeout_s: float = Field(1.0, gt=0, le=2.5)


class DashboardSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(2000, ge=1, le=65535)
    # Host names the dashboard answers to besides loopback, its own address and *.ts.net
    # (anything else is 400: a DNS-rebinding page must not reach it through the browser).
    allowed_hosts: list[str] = Field(default_factory=list)
    # Who may use it: "password" (users made with `yquant users add`), or "tailscale" (the
    # login `tailscale serve` passes, believed only from loopback, and only those listed).
    auth: Literal["password", "tailscale"] = "password"
    tailscale_logins: list[str] = Field(default_factory=list)
    session_hours: float = Field(12.0, ge=0.25, le=24 * 30)
    # Times that belong to no market (audit entries, heartbeats) and the days of the date
    # filters are in this zone; a market's rows keep their market's zone.
    time_zone: str = "Asia/Seoul"

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"{v!r} is no time zone (e.g. Asia/Seoul, UTC)") from None
        return v

    @model_validator(mode="after")
    def _logins(self) -> DashboardSettings:
        if self.auth == "tailscale" and not self.tailscale_logins:
            raise ValueError("tailscale_logins: list the logins allowed when auth is tailscale")
        return self

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not name or "*" in name.removeprefix("*."):
                raise ValueError(f"{name!r}: give a host name, or *.domain for its subdomains")
        return v


class DatabaseSettings(BaseModel):
    url: SecretStr | None = None  # unset: SQLite file in the data directory
    timeout_s: float = Field(2.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _known_driver(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        raw = v.get_secret_value()
        if raw.startswith(("mysql://", "mariadb://")):
            raw = "mysql+asyncmy://" + raw.split("://", 1)[1]
        if raw.startswith("sqlite:///"):
            raw = "sqlite+aiosqlite:///" + raw.removeprefix("sqlite:///")
        if not raw.startswith(("mysql+asyncmy://", "sqlite+aiosqlite:///")):
            raise ValueError("use mysql+asyncmy://user:pass@host/db or sqlite+aiosqlite:///path")
        if raw.startswith("mysql"):
            # Refused here, without its text (it holds the password), not as a traceback later.
            try:
                parts = urlsplit(raw)
                parts.port  # noqa: B018 - raises on a port that is no number
            except ValueError:
                parts = None
            if parts is None or not parts.hostname or parts.path.strip("/") == "":
                raise ValueError(
                    "not a valid URL: use mysql+asyncmy://user:pass@host[:port]/db and "
                    "percent-encode '#', '/', '?' and '@' in the password"
                )
        return SecretStr(raw)


class ValkeySettings(BaseModel):
    url: SecretStr | None = None  # unset: a private valkey-server started by `yquant up`
    embedded_port: int = Field(16379, ge=1, le=65535)

    @field_validator("url")
    @classmethod
    def _parses(cls, v: SecretStr | None) -> SecretStr | None:
        """Refused here, without its text: read later, a password with an unencoded '#', '/'
        or '?' ends up quoted in the client's error as the "port"."""
        if v is None:
            return v
        try:
            parts = urlsplit(v.get_secret_value())
            parts.port  # noqa: B018 - raises on a port that is no number
        except ValueError:
            raise ValueError(
                "not a valid URL (percent-encode '#', '/', '?' and '@' in the password)"
            ) from None
        if parts.scheme not in ("redis", "rediss", "valkey", "valkeys", "unix") or not (
            parts.hostname or parts.scheme == "unix"
        ):
            raise ValueError("use redis://[:password@]host:port/db or unix:///path")
        return v


class PaperBrokerSettings(BaseModel):
    """The paper venue (docs/paper.md): its ledger's starting cash and how it fills."""

    commission_rate: Decimal = Field(Decimal("0.00015"), ge=0, lt=Decimal("0.1"))
    initial_cash_krw: Decimal = Field(Decimal("100000000"), ge=0)
    initial_cash_usd: Decimal = Field(Decimal("100000"), ge=0)
    # Fills are this many basis points worse than the current price (a buy higher, a sell
    # lower), then rounded a tick against the trader; a limit never fills beyond its limit.
    # 0: at the current price itself.
    slippage_bps: Decimal = Field(Decimal(0), ge=0, le=500)
    # A limit the price reaches fills at most this share of its quantity per check (whole
    # shares, at least one), the rest working as partially_filled; 1: all at once.
    partial_fill_ratio: Decimal = Field(Decimal(1), gt=0, le=1)
    # How often the gateway's paper venue asks for current prices, fills working orders that
    # the price reached and expires day orders at the close.
    check_interval_s: float = Field(1.0, ge=0.05, le=60)


def _currency_keys(v: dict[str, Decimal]) -> dict[str, Decimal]:
    out = {}
    for key, value in v.items():
        code = key.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError(f"{key!r} is not a currency code such as KRW or USD")
        if value <= 0:
            raise ValueError(f"{code}: must be greater than zero")
        out[code] = value
    return out


class SizingSettings(BaseModel):
    """How an alert is sized on an account (yquant.domain.sizing); money per currency."""

    model_config = ConfigDict(extra="forbid")

    policy: str = "alert_quantity"  # a built-in name, or package.module:function
    quantity: Decimal | None = Field(None, gt=0)
    amount: dict[str, Decimal] = Field(default_factory=dict)  # {KRW = "1000000", USD = "1000"}
    percent_of_equity: Decimal | None = Field(None, gt=0, le=100)
    risk_percent: Decimal | None = Field(None, gt=0, le=100)
    stop_percent: Decimal | None = Field(None, gt=0, le=100)
    max_allocation_percent: Decimal | None = Field(None, gt=0, le=100)
    min_order_amount: dict[str, Decimal] = Field(default_factory=dict)
    options: dict[str, str] = Field(default_factory=dict)  # for plugin policies

    _currencies = field_validator("amount", "min_order_amount")(_currency_keys)


class RiskSettings(BaseModel):
    """Limits (yquant.domain.risk); unset means no limit. Money per currency."""

    model_config = ConfigDict(extra="forbid")

    max_order_notional: dict[str, Decimal] = Field(default_factory=dict)
    max_position_percent: Decimal | None = Field(None, gt=0, le=100)
    max_open_positions: int | None = Field(None, ge=0)
    max_orders_per_minute: int | None = Field(None, ge=1)
    max_daily_loss: dict[str, Decimal] = Field(default_factory=dict)
    same_direction_guard: bool = False  # "buy" means "be long": no second buy while long

    _currencies = field_validator("max_order_notional", "max_daily_loss")(_currency_keys)


class MarketCalendarSettings(BaseModel):
    """Corrections to a market's exchange calendar (a new CSAT day, an ad-hoc holiday)."""

    model_config = ConfigDict(extra="forbid")

    extra_holidays: list[date] = Field(default_factory=list)
    special_sessions: dict[date, str] = Field(default_factory=dict)  # "10:00-16:30", local

    @field_validator("special_sessions")
    @classmethod
    def _hours(cls, v: dict[date, str]) -> dict[date, str]:
        for day, hours in v.items():
            opens, _, closes = hours.partition("-")
            try:
                if time.fromisoformat(opens.strip()) >= time.fromisoformat(closes.strip()):
                    raise ValueError
            except ValueError:
                raise ValueError(f"{day}: give hours as HH:MM-HH:MM, opening first") from None
        return v


class EngineSettings(BaseModel):
    """The order engine: signal age, the out-of-session queue, calendar corrections."""

    model_config = ConfigDict(extra="forbid")

    max_signal_delay_s: float = Field(300.0, gt=0, le=86400)  # older undecided: stale_signal
    queue_poll_s: float = Field(1.0, gt=0, le=60)
    queue_window_min: int = Field(60, ge=1, le=24 * 60)  # released within this of the open
    queue_lease_s: float = Field(120.0, ge=5, le=3600)  # a claim older than this is taken over
    # An account's cash and holdings are read from its broker when the engine's copy is older
    # than account_view_s (orders decided since are applied to the copy); a read that takes
    # longer than account_timeout_s refuses that account's order (account_unavailable), and
    # for account_retry_s after a failed read its orders are refused without asking again.
    # Signals handled side by side (each account's decided one at a time, in stream order):
    # their database writes share commits.
    signal_concurrency: int = Field(32, ge=1, le=1000)
    account_view_s: float = Field(30.0, ge=0, le=3600)
    account_timeout_s: float = Field(5.0, gt=0, le=120)
    account_retry_s: float = Field(10.0, ge=0, le=3600)
    markets: dict[Literal["KR", "US", "JP", "HK", "CN"], MarketCalendarSettings] = Field(
        default_factory=dict
    )


class AccountSettings(BaseModel):
    broker: Literal["paper", "kis", "kis-sim"] = "paper"
    kis: KisSettings | None = None
    sizing: SizingSettings | None = None  # the account's policy when the strategy sets none
    risk: RiskSettings = RiskSettings()
    sessions: Literal["exchange", "always"] | None = None  # None: "always" on paper
    # The broker's commission as a fraction of the amount: a buy capped by the cash leaves room
    # for it. None: the paper broker's rate on paper accounts, 0 on KIS accounts.
    commission_rate: Decimal | None = Field(None, ge=0, lt=Decimal("0.05"))
    # A market buy's slippage buffer in percent: the cash must cover the price plus this much.
    # None: 0, except KIS's US market buys, sent as limits kis.us_market_band_pct above the
    # price (a value set here is raised to that band). KIS's KRX market buys are held at the
    # day's upper limit, whatever this says.
    market_buy_margin_pct: Decimal | None = Field(None, ge=0, le=Decimal("30"))

    @model_validator(mode="after")
    def _broker_section(self) -> AccountSettings:
        if self.broker == "paper":
            return self
        if self.kis is None:
            raise ValueError(f"kis: required when broker is {self.broker}")
        if self.broker == "kis-sim" and not self.kis.base_url:
            raise ValueError("kis.base_url: required for kis-sim (the simulator's address)")
        if self.broker == "kis" and self.kis.base_url:
            raise ValueError("kis.base_url: only for broker kis-sim; kis uses KIS's own domains")
        return self


class StrategySettings(BaseModel):
    accounts: list[str] = Field(default_factory=list)
    quantity: Decimal | None = Field(None, gt=0)
    sizing: SizingSettings | None = None  # wins over the account's
    # The limits the account's and the strategy's combine to the stricter of; max_daily_loss
    # here limits the strategy's own loss on each account.
    risk: RiskSettings = RiskSettings()
    out_of_session: Literal["reject", "queue"] = "reject"
    # A working limit order of this strategy is cancelled (ttl_expired) this long after it was
    # decided; None: it works until it fills or its day ends.
    limit_ttl_s: float | None = Field(None, gt=0, le=7 * 86400)
    # Whose position exit, sell-all, sell capping and target_position act on: the strategy's
    # own (from the book) or the account's (the broker's holdings, for an account one strategy
    # trades alone). None: "strategy", or "account" for the operator's orders (``manual``).
    position_scope: Literal["strategy", "account"] | None = None
    # "manual": the engine's orders wait (awaiting_approval) for a person to approve them on
    # the dashboard, the command line or Telegram; after approval_timeout_s, on_timeout decides.
    approval: Literal["auto", "manual"] = "auto"
    approval_timeout_s: float = Field(120.0, gt=0, le=3600)
    on_timeout: Literal["reject", "approve"] = "reject"


class ApprovalSettings(BaseModel):
    """Manual approval (a strategy's ``approval = "manual"``): who may decide on Telegram, and
    the re-check an approved order passes before it is sent."""

    model_config = ConfigDict(extra="forbid")

    # Telegram user ids whose Approve / Reject buttons count; anyone else is refused.
    telegram_user_ids: list[int] = Field(default_factory=list)
    # An approved order is refused (price_moved) when the current price is further than this
    # share from the price it was decided at (0.01 is 1%).
    max_price_deviation: Decimal = Field(Decimal("0.01"), gt=0, le=1)
    # An approval this long after the strategy's approval_timeout_s is refused
    # (approval_expired): the timeout did not run (no active worker) and the moment has passed.
    grace_s: float = Field(30.0, ge=0, le=3600)
    # The active worker looks for awaiting orders past their timeout this often.
    sweep_interval_s: float = Field(1.0, gt=0, le=60)
    # The notify.telegram channel whose bot asks for approvals in its chat (Approve / Reject
    # buttons, answered by long polling); None: approvals on the dashboard and the CLI only.
    telegram_channel: str | None = None


class CatalogSettings(BaseModel):
    """Stock catalog: where `yquant catalog sync` downloads from, and what it refuses."""

    source_url_base: str = "https://new.real.download.dws.co.kr/common/master/"
    download_timeout_s: float = Field(60.0, gt=0, le=600)
    # A master file with fewer rows than this share of the stored ones is refused as partial.
    min_ratio: float = Field(0.5, gt=0, le=1)

    @field_validator("source_url_base")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return v if v.endswith("/") else v + "/"


class GatewaySettings(BaseModel):
    track_interval_s: float = Field(1.0, gt=0, le=60)  # open orders asked about this often
    submit_retry_s: float = Field(30.0, ge=0, le=600)  # broker unreachable: retry, then reject
    # An order decided longer ago than this is not sent (stale_order): the market has moved.
    max_send_delay_s: float = Field(300.0, gt=0, le=86400)
    sync_interval_s: float = Field(60.0, ge=1, le=86400)  # account sync on the active worker
    # A sync after a fill waits until the account is quiet (nothing sent or recorded for a
    # second), this long at most; run then while orders are still under way, it leaves the
    # book's check until they are done.
    sync_settle_max_s: float = Field(10.0, ge=1, le=3600)
    # A cancel-replace waits this long for the order it replaces to end; past it, the new order
    # is not sent (replace_timeout): never two working.
    replace_wait_s: float = Field(10.0, gt=0, le=300)
    ttl_sweep_s: float = Field(5.0, gt=0, le=3600)  # working limits checked against limit_ttl_s
    # Orders handled side by side per account (their database writes share commits); one
    # account's orders in one instrument still reach the broker in stream order.
    order_concurrency: int = Field(16, ge=1, le=1000)


class MetricsSettings(BaseModel):
    """Prometheus `GET /metrics`. The webhook and the dashboard answer it on their own port;
    the engine and the gateway serve no HTTP and listen on these ports (0: no endpoint)."""

    host: str = "127.0.0.1"
    engine_port: int = Field(6001, ge=0, le=65535)
    gateway_port: int = Field(6002, ge=0, le=65535)


class WorkerSettings(BaseModel):
    name: Literal["blue", "green", "local"] = "local"


class FeeRuleSettings(BaseModel):
    """The charges on trades from ``since`` on (the trade's date in its market's time zone),
    as fractions of the amount (0.002 is 0.20%). A rule is whole: what it leaves out is 0.

    ``commission_rate`` is used only for a fill whose broker reports no commission (KIS);
    ``sell_tax_rate``: KRX's securities transaction tax and rural special tax on a sell;
    ``sell_fee_rate``: the SEC's Section 31 fee on a US sell; ``sell_fee_per_share`` (at most
    ``sell_fee_per_share_max`` a trade): FINRA's trading activity fee. ``exchange`` gives one
    exchange of the market a schedule of its own (KONEX)."""

    model_config = ConfigDict(extra="forbid")

    since: date
    exchange: str | None = None
    commission_rate: Decimal = Field(Decimal(0), ge=0, lt=Decimal("0.05"))
    sell_tax_rate: Decimal = Field(Decimal(0), ge=0, lt=Decimal("0.05"))
    sell_fee_rate: Decimal = Field(Decimal(0), ge=0, lt=Decimal("0.01"))
    sell_fee_per_share: Decimal = Field(Decimal(0), ge=0, lt=Decimal(1))
    sell_fee_per_share_max: Decimal | None = Field(None, ge=0)


FeeMarket = Literal["KR", "US"]
# Exchanges as the catalog names them: what a rule's ``exchange`` may say.
FEE_EXCHANGES: dict[FeeMarket, tuple[str, ...]] = {
    "KR": ("KOSPI", "KOSDAQ", "KONEX"),
    "US": ("NASDAQ", "NYSE", "AMEX"),
}


def _rule(since: str, exchange: str | None = None, **rates: str) -> FeeRuleSettings:
    values = {k: Decimal(v) for k, v in rates.items()}
    return FeeRuleSettings(since=date.fromisoformat(since), exchange=exchange, **values)


def default_fees() -> dict[FeeMarket, list[FeeRuleSettings]]:
    """Today's public figures (sources in docs/book.md), by the date each took effect.

    KR: the securities transaction tax plus the rural special tax, paid on the transfer,
    which settles two sessions after the trade (Dec 31 settles nothing): a new year's rate
    reaches the trades of the year's last two sessions. 2025: KOSPI 0% + 0.15%, KOSDAQ 0.15%;
    from 2026 (the 2025 tax-law change): KOSPI 0.05% + 0.15%, KOSDAQ 0.20%; KONEX 0.10%
    throughout. No commission: brokers differ (KIS reports none per fill: set yours).

    US: the SEC's Section 31 fee ($0.00 per million from 2025-05-14, $20.60 from 2026-04-04)
    and FINRA's trading activity fee ($0.000166 a share up to $8.30 a trade, from 2026
    $0.000195 up to $9.79)."""
    return {
        "KR": [
            _rule("2024-12-27", sell_tax_rate="0.0015"),
            _rule("2025-12-29", sell_tax_rate="0.0020"),
            _rule("2024-12-27", sell_tax_rate="0.0010", exchange="KONEX"),
        ],
        "US": [
            _rule(
                "2025-01-01",
                sell_fee_rate="0.0000278",
                sell_fee_per_share="0.000166",
                sell_fee_per_share_max="8.30",
            ),
            _rule(
                "2025-05-14",
                sell_fee_rate="0",
                sell_fee_per_share="0.000166",
                sell_fee_per_share_max="8.30",
            ),
            _rule(
                "2026-01-01",
                sell_fee_rate="0",
                sell_fee_per_share="0.000195",
                sell_fee_per_share_max="9.79",
            ),
            _rule(
                "2026-04-04",
                sell_fee_rate="0.0000206",
                sell_fee_per_share="0.000195",
                sell_fee_per_share_max="9.79",
            ),
        ],
    }


class BookSettings(BaseModel):
    """The book (per-strategy positions and P&L): how its prices are judged and fetched."""

    model_config = ConfigDict(extra="forbid")

    # A price older than this is shown as stale (the catalog's base price always is).
    stale_after_s: float = Field(900.0, gt=0, le=30 * 86400)
    # A broker quote is asked again after this long (every KIS call is paced; 0: never kept).
    quote_cache_s: float = Field(5.0, ge=0, le=3600)


class LiquidationSettings(BaseModel):
    """Liquidation (`yquant liquidate`, the dashboard's /liquidate, scheduled liquidations)."""

    model_config = ConfigDict(extra="forbid")

    # How long the working orders' cancels are waited for before the sells go out.
    cancel_wait_s: float = Field(10.0, gt=0, le=300)
    # How long the sells are followed (until final, or resting) before the result is shown.
    order_wait_s: float = Field(10.0, ge=0, le=300)


class SnapshotSettings(BaseModel):
    """Daily snapshots of each account (docs/reports.md): when they are taken (their FX rates
    come from `yquant.services.fx`, configured by ``fx.usdkrw``)."""

    model_config = ConfigDict(extra="forbid")

    # The active worker's gateway takes each market's snapshot this long after its close
    # (fills reported late, and KIS's closing quotes, have arrived by then).
    enabled: bool = True
    after_close_min: int = Field(30, ge=0, le=600)
    # How often the gateway looks for a snapshot that is due (or a day to back-fill).
    check_every_s: float = Field(300.0, gt=0, le=86400)
    # A cash difference below this (per currency) is charges the book estimated differently
    # from the broker, counted as performance; from it on, money deposited or withdrawn.
    flow_min: dict[str, Decimal] = Field(
        default_factory=lambda: {"KRW": Decimal(1000), "USD": Decimal(1)}
    )

    @field_validator("flow_min", mode="before")
    @classmethod
    def _currencies(cls, v: Any) -> Any:
        """A currency as the environment spells it (``..._FLOW_MIN__usd``) in capitals."""
        return {str(k).upper(): r for k, r in v.items()} if isinstance(v, dict) else v


class FxSettings(BaseModel):
    """Exchange rates (`yquant.services.fx`) for the dashboard's KRW totals and the daily
    snapshots alike: a KIS account's rate is used when one is known; ``usdkrw`` is the
    operator's rate for when none is (a paper-only desk), shown with the source ``config`` and
    the time ``usdkrw_as_of`` (default: when the settings were loaded)."""

    model_config = ConfigDict(extra="forbid")

    usdkrw: Decimal | None = Field(None, gt=0, lt=Decimal(100_000))  # won per dollar
    usdkrw_as_of: AwareDatetime | None = None


class NotifyRouteSettings(BaseModel):
    """Which notices a channel takes (empty: all) and in which language."""

    model_config = ConfigDict(extra="forbid")

    events: list[str] = Field(default_factory=list)  # notice kinds (domain/notices.py)
    accounts: list[str] = Field(default_factory=list)
    strategies: list[str] = Field(default_factory=list)
    min_level: Literal["info", "warning", "error"] = "info"
    language: Literal["en", "ko"] | None = None  # None: the top-level ``language``

    @field_validator("events")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        known = {k.value for k in NoticeKind}
        for kind in v:
            if kind not in known:
                raise ValueError(f"unknown event {kind!r} (known: {', '.join(sorted(known))})")
        return v


class DiscordChannelSettings(NotifyRouteSettings):
    url: SecretStr  # the webhook URL holds its token: a secret

    @field_validator("url")
    @classmethod
    def _http(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return v


class TelegramChannelSettings(NotifyRouteSettings):
    bot_token: SecretStr
    chat_id: str = Field(min_length=1, max_length=64)
    api_base: str = "https://api.telegram.org"

    @field_validator("api_base")
    @classmethod
    def _base(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return v.rstrip("/")


class NotifySettings(BaseModel):
    """Channels (``[notify.discord.<name>]``, ``[notify.telegram.<name>]``) and delivery."""

    model_config = ConfigDict(extra="forbid")

    discord: dict[str, DiscordChannelSettings] = Field(default_factory=dict)
    telegram: dict[str, TelegramChannelSettings] = Field(default_factory=dict)
    poll_s: float = Field(1.0, gt=0, le=60)  # the queue is read this often
    timeout_s: float = Field(10.0, gt=0, le=120)  # one call to a channel
    first_retry_s: float = Field(5.0, gt=0, le=3600)  # doubling up to max_retry_s
    max_retry_s: float = Field(600.0, gt=0, le=86400)
    max_attempts: int = Field(8, ge=1, le=100)  # then the delivery is a dead letter
    watch_s: float = Field(5.0, gt=0, le=600)  # kill switches, the active worker, the database
    max_age_h: float = Field(24.0, gt=0, le=24 * 30)  # older notices are not sent
    daily_summary: bool = True
    # Hours without an alert after which a strategy is reported quiet; none: never (default).
    quiet_after_h: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_names(self) -> NotifySettings:
        both = set(self.discord) & set(self.telegram)
        if both:
            raise ValueError(f"a channel name is used twice: {', '.join(sorted(both))}")
        return self


class ScheduleSettings(BaseModel):
    """Scheduled orders (예약 주문), fired by the engine of the active worker."""

    model_config = ConfigDict(extra="forbid")

    # A firing reached later than this after its time (a worker that was down) is recorded
    # ``missed`` and not sent: an order hours late is not the order that was scheduled.
    grace_s: float = Field(300.0, ge=1, le=3600)
    tick_s: float = Field(1.0, gt=0, le=60)  # how often the engine looks for a due firing


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="YQUANT__",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Path("data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "json": one JSON object per line (time, level, role, logger, message, extras) for journald.
    log_format: Literal["text", "json"] = "text"
    language: Literal["en", "ko"] = "en"
    worker: WorkerSettings = WorkerSettings()
    webhook: WebhookSettings = WebhookSettings()
    dashboard: DashboardSettings = DashboardSettings()
    database: DatabaseSettings = DatabaseSettings()
    valkey: ValkeySettings = ValkeySettings()
    paper: PaperBrokerSettings = PaperBrokerSettings()
    gateway: GatewaySettings = GatewaySettings()
    accounts: dict[str, AccountSettings] = Field(
        default_factory=lambda: {"paper": AccountSettings()}
    )
    default_accounts: list[str] = Field(default_factory=lambda: ["paper"])
    strategies: dict[str, StrategySettings] = Field(default_factory=dict)
    catalog: CatalogSettings = CatalogSettings()
    engine: EngineSettings = EngineSettings()
    metrics: MetricsSettings = MetricsSettings()
    book: BookSettings = BookSettings()
    liquidation: LiquidationSettings = LiquidationSettings()
    snapshots: SnapshotSettings = SnapshotSettings()
    fx: FxSettings = FxSettings()
    notify: NotifySettings = NotifySettings()
    approvals: ApprovalSettings = ApprovalSettings()
    schedules: ScheduleSettings = ScheduleSettings()
    # Per market, its whole list of dated rules: naming a market replaces its defaults.
    fees: dict[FeeMarket, list[FeeRuleSettings]] = Field(default_factory=default_fees)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @field_validator("fees", mode="before")
    @classmethod
    def _fee_markets(cls, v: Any) -> Any:
        """A market as the environment spells it (``YQUANT__FEES__KR`` arrives as ``kr``)."""
        return {str(k).upper(): rules for k, rules in v.items()} if isinstance(v, dict) else v

    @field_validator("fees")
    @classmethod
    def _fee_rules(
        cls, v: dict[FeeMarket, list[FeeRuleSettings]]
    ) -> dict[FeeMarket, list[FeeRuleSettings]]:
        """Every market has its list (a market not named keeps its defaults); an exchange is
        one of the market's; two rules of one exchange (or of none) never share a date."""
        fees = {**default_fees(), **v}
        for market, rules in fees.items():
            seen: set[tuple[date, str | None]] = set()
            for i, given in enumerate(rules):
                rule = given
                if given.exchange is not None:
                    rule = rules[i] = given.model_copy(
                        update={"exchange": given.exchange.strip().upper()}
                    )
                    if rule.exchange not in FEE_EXCHANGES[market]:
                        known = ", ".join(FEE_EXCHANGES[market])
                        raise ValueError(
                            f"{market}: exchange {rule.exchange!r} is not one of {known}"
                        )
                key = (rule.since, rule.exchange)
                if key in seen:
                    which = f" for {rule.exchange}" if rule.exchange else ""
                    raise ValueError(f"{market}: two rules{which} since {rule.since}")
                seen.add(key)
        return fees

    @model_validator(mode="after")
    def _routes_name_accounts(self) -> Settings:
        for name in self.default_accounts:
            if name not in self.accounts:
                raise ValueError(f"default_accounts names unknown account {name!r}")
        for strategy, s in self.strategies.items():
            for name in s.accounts:
                if name not in self.accounts:
                    raise ValueError(
                        f"strategies.{strategy}.accounts names unknown account {name!r}"
                    )
        return self

    @model_validator(mode="after")
    def _approval_before_stale(self) -> Settings:
        """An approved order is still sent by the gateway only within max_send_delay_s of its
        decision: a longer wait for approval would end every approval in stale_order."""
        limit = self.gateway.max_send_delay_s
        for strategy, s in self.strategies.items():
            wait = s.approval_timeout_s + self.approvals.grace_s
            if s.approval == "manual" and wait >= limit:
                raise ValueError(
                    f"strategies.{strategy}.approval_timeout_s plus approvals.grace_s ({wait:g} s)"
                    f" must be below gateway.max_send_delay_s ({limit:g} s)"
                )
        return self

    @model_validator(mode="after")
    def _approval_channel(self) -> Settings:
        name = self.approvals.telegram_channel
        if name is not None and name not in self.notify.telegram:
            known = ", ".join(sorted(self.notify.telegram)) or "none configured"
            raise ValueError(
                f"approvals.telegram_channel names no notify.telegram channel {name!r} ({known})"
            )
        if name is not None and not self.approvals.telegram_user_ids:
            raise ValueError(
                "approvals.telegram_user_ids: list who may approve on Telegram (user ids)"
            )
        return self

    def approval_of(self, strategy: str) -> StrategySettings | None:
        """The strategy's settings when its orders wait for approval; None when they do not."""
        s = self.strategies.get(strategy)
        return s if s is not None and s.approval == "manual" else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvSource(settings_cls)]
        path = os.environ.get(CONFIG_ENV)
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
        return tuple(sources)

    # ---- derived values -------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite+aiosqlite:///{self.data_dir / 'yquant.sqlite3'}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def valkey_url(self) -> str:
        if self.valkey.url is not None:
            return self.valkey.url.get_secret_value()
        return f"redis://127.0.0.1:{self.valkey.embedded_port}/0"

    def strategy(self, name: str) -> StrategySettings:
        """The settings of strategy ``name``; one not configured routes to the default
        accounts with the defaults (built once per list of default accounts: a decision asks
        several times, and validating a new model each time cost 3 % of the engine's CPU)."""
        chosen = self.strategies.get(name)
        if chosen is not None:
            return chosen
        key = tuple(self.default_accounts)
        default = _DEFAULT_STRATEGIES.get(key)
        if default is None:
            default = _DEFAULT_STRATEGIES[key] = StrategySettings(accounts=list(key))
        return default

    def routed_accounts(self, strategy: str) -> list[str]:
        """A new list each time (the caller's to change)."""
        return list(self.strategy(strategy).accounts or self.default_accounts)


_DEFAULT_STRATEGIES: dict[tuple[str, ...], StrategySettings] = {}


class _EnvSource(EnvSettingsSource):
    """The environment, where a list may also be given comma-separated (``a,b``): the form
    that bash's ``set -a; . file`` and systemd's ``EnvironmentFile=`` read alike."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            # ``field`` is None for a value under a dict key (pydantic-settings passes it so).
            listed = settings_names.is_list(getattr(field, "annotation", None))
            if listed and isinstance(value, str):
                return settings_names.split_list(value)
            # Without the text: it may hold a secret.
            raise ValueError(f"{field_name}: not valid JSON") from None


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; every problem is reported on one line that names its key (an
    unknown variable or TOML key too, with the closest valid name)."""
    if config is not None:
        if not config.is_file():
            raise ConfigurationError(f"config file not found: {config}")
        os.environ[CONFIG_ENV] = str(config.resolve())
    problems = settings_names.unknown_env_names(Settings, os.environ)
    path = os.environ.get(CONFIG_ENV)
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"config file {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"config file {path}: not valid TOML ({exc})") from None
        problems += settings_names.unknown_toml_keys(Settings, data, path)
    if problems:
        raise ConfigurationError("invalid settings: " + "; ".join(problems))
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(settings)"
            problems.append(f"{key}: {err['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None
    except SettingsError as exc:
        cause = exc.__cause__
        detail = str(cause).splitlines()[0] if cause else str(exc)
        raise ConfigurationError(f"invalid settings: {detail}") from None


def webhook_secret(settings: Settings) -> str:
    """The configured secret, or the one generated on first start and kept in the data dir."""
    if settings.webhook.secret is not None:
        value = settings.webhook.secret.get_secret_value()
        if len(value) < 12:
            raise ConfigurationError("webhook.secret: must be at least 12 characters")
        return value
    path = settings.data_dir / "webhook-secret"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def masked(settings: Settings) -> dict[str, Any]:
    """Effective settings as plain data, every secret replaced by a mask."""
    data = settings.model_dump(mode="json")
    data["database"]["url"] = _mask_url(settings.database_url)
    data["valkey"]["url"] = _mask_url(settings.valkey_url) + (
        "" if settings.valkey.url else "  (embedded)"
    )
    data["webhook"]["secret"] = (
        "********" if settings.webhook.secret else "(generated, in data_dir)"
    )
    data["webhook"]["path_token"] = "********" if settings.webhook.path_token else None
    for name, hook in settings.notify.discord.items():
        data["notify"]["discord"][name]["url"] = _mask_webhook(hook.url.get_secret_value())
    for name in settings.notify.telegram:
        data["notify"]["telegram"][name]["bot_token"] = "********"  # noqa: S105 - the mask
    return data


def _mask_webhook(url: str) -> str:
    """A webhook URL with its last path segment (the token) masked."""
    head, _, _token = url.rstrip("/").rpartition("/")
    return f"{head}/********"


def _mask_url(url: str) -> str:
    """The URL with its password masked, in the user part and in query parameters
    (``?password=...``, which both drivers also accept)."""
    scheme, sep, rest = url.partition("://")
    rest, qmark, query = rest.partition("?")
    if "@" in rest:
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        rest = f"{user}:********@{host}"
    if query:
        params = []
        for part in query.split("&"):
            name, eq, _value = part.partition("=")
            secret = any(w in name.lower() for w in ("pass", "secret", "token", "key"))
            params.append(f"{name}{eq}********" if secret and eq else part)
        query = "&".join(params)
    return f"{scheme}{sep}{rest}{qmark}{query}"
