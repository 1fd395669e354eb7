"""Typed settings: an optional TOML file plus ``YQUANT__SECTION__KEY`` environment variables.

Environment variables win over the file; the file wins over defaults. The file is named by
``--config`` (exported as ``YQUANT_CONFIG`` so that the processes ``yquant up`` starts read the
same file). Settings are built once by the entrypoint, never at import.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from ipaddress import ip_network
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from yquant.errors import ConfigurationError

CONFIG_ENV = "YQUANT_CONFIG"


# TradingView's published webhook source addresses.
TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")


class WebhookSettings(BaseModel):
    host: str = "0.0.0.0"
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
    # Rejections per source address per minute before the source is throttled (429).
    max_rejections_per_minute: int = Field(20, ge=1, le=10_000)


class DashboardSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(2000, ge=1, le=65535)


class DatabaseSettings(BaseModel):
    url: SecretStr | None = None  # unset: SQLite file in the data directory
    timeout_s: float = Field(2.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _known_driver(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        raw = v.get_secret_value()
        if raw.startswith("mysql://") or raw.startswith("mariadb://"):
            raw = "mysql+asyncmy://" + raw.split("://", 1)[1]
        if raw.startswith("sqlite:///"):
            raw = "sqlite+aiosqlite:///" + raw.removeprefix("sqlite:///")
        if not raw.startswith(("mysql+asyncmy://", "sqlite+aiosqlite:///")):
            raise ValueError("use mysql+asyncmy://user:pass@host/db or sqlite+aiosqlite:///path")
        return SecretStr(raw)


class ValkeySettings(BaseModel):
    url: SecretStr | None = None  # unset: a private valkey-server started by `yquant up`
    embedded_port: int = Field(16379, ge=1, le=65535)


class PaperBrokerSettings(BaseModel):
    commission_rate: Decimal = Field(Decimal("0.00015"), ge=0, lt=Decimal("0.1"))
    initial_cash_krw: Decimal = Field(Decimal("100000000"), ge=0)
    initial_cash_usd: Decimal = Field(Decimal("100000"), ge=0)


class AccountSettings(BaseModel):
    broker: Literal["paper"] = "paper"


class StrategySettings(BaseModel):
    accounts: list[str] = Field(default_factory=list)
    quantity: Decimal | None = Field(None, gt=0)


class WorkerSettings(BaseModel):
    name: Literal["blue", "green", "local"] = "local"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="YQUANT__",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Path("data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    language: Literal["en", "ko"] = "en"
    worker: WorkerSettings = WorkerSettings()
    webhook: WebhookSettings = WebhookSettings()
    dashboard: DashboardSettings = DashboardSettings()
    database: DatabaseSettings = DatabaseSettings()
    valkey: ValkeySettings = ValkeySettings()
    paper: PaperBrokerSettings = PaperBrokerSettings()
    accounts: dict[str, AccountSettings] = Field(
        default_factory=lambda: {"paper": AccountSettings()}
    )
    default_accounts: list[str] = Field(default_factory=lambda: ["paper"])
    strategies: dict[str, StrategySettings] = Field(default_factory=dict)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
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
        return self.strategies.get(name) or StrategySettings(accounts=list(self.default_accounts))

    def routed_accounts(self, strategy: str) -> list[str]:
        return self.strategy(strategy).accounts or list(self.default_accounts)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, turning validation errors into a message that names each key."""
    if config is not None:
        if not config.is_file():
            raise ConfigurationError(f"config file not found: {config}")
        os.environ[CONFIG_ENV] = str(config.resolve())
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(settings)"
            problems.append(f"{key}: {err['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


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
    return data


def _mask_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}:********@{host}"
    return url
