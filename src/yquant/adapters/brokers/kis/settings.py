"""Settings of one KIS account (the ``kis`` table of an account in yquant.settings): keys,
account number, pacing, token timing and order tracking. Env var names and TOML keys are those
of the account's section, e.g. ``YQUANT__ACCOUNTS__MAIN__KIS__APP_KEY``."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

_PLACEHOLDERS = ("changeme", "change-me", "your", "xxxx", "placeholder", "todo", "secret")


class KisSettings(BaseModel):
    """One KIS account: real and paper (모의투자) have their own domain, keys and number."""

    environment: Literal["real", "paper"]
    app_key: SecretStr
    app_secret: SecretStr
    account_number: SecretStr  # "12345678-01", "1234567801" or the 8-digit CANO
    product_code: str | None = Field(None, pattern=r"^\d{2}$")  # else from the number, or 01
    base_url: str | None = None  # only with broker "kis-sim": the simulator's address
    rate_limit_per_s: float | None = Field(None, gt=0, le=100)  # default 15 real, 0.8 paper
    rate_burst: int | None = Field(None, ge=1, le=20)  # default 2 real, 1 paper
    timeout_s: float = Field(5.0, gt=0, le=60)
    token_min_interval_s: float = Field(300.0, ge=1, le=86400)  # never issue more often
    token_refresh_margin_s: float = Field(600.0, ge=30, le=43200)  # renew this long before
    us_market_band_pct: Decimal = Field(Decimal("3"), gt=0, le=Decimal("20"))
    legacy_tr_ids: bool = False  # TTTC0801U/0802U/0803U/8001R instead of the current ids
    poll_interval_s: float = Field(2.0, gt=0, le=60)  # order status inquiries at most this often
    unknown_settle_s: float = Field(60.0, ge=0, le=3600)  # a lost order is "absent" only after
    # Real-time execution notices over KIS's websocket: on when the HTS id (their tr_key) is set.
    hts_id: str | None = None
    ws_url: str | None = None  # default KIS's (or, with base_url, the simulator's) websocket
    reconcile_s: float = Field(30.0, gt=0, le=3600)  # with notices live, poll at least this often
    # After a configuration error halted the account's orders, the next order is tried again
    # this long after it (the cause may have been fixed at KIS without a restart here).
    halt_retry_s: float = Field(300.0, ge=1, le=86400)

    @field_validator("app_key", "app_secret")
    @classmethod
    def _real_secret(cls, v: SecretStr) -> SecretStr:
        raw = v.get_secret_value().strip()  # a pasted trailing newline breaks KIS (EGW00105)
        if len(raw) < 8 or any(p in raw.lower() for p in _PLACEHOLDERS):
            raise ValueError("must be the key KIS issued, not a placeholder")
        return SecretStr(raw)

    @field_validator("account_number")
    @classmethod
    def _account_digits(cls, v: SecretStr) -> SecretStr:
        raw = v.get_secret_value().strip().replace("-", "")
        if not raw.isdigit() or len(raw) not in (8, 10):
            raise ValueError("must be 8 digits (CANO) or 10 digits (CANO + product code)")
        return SecretStr(raw)

    @property
    def cano(self) -> str:
        return self.account_number.get_secret_value()[:8]

    @property
    def acnt_prdt_cd(self) -> str:
        raw = self.account_number.get_secret_value()
        return self.product_code or (raw[8:] if len(raw) == 10 else "01")

    @property
    def rate_per_s(self) -> float:
        if self.rate_limit_per_s is not None:
            return self.rate_limit_per_s
        return 15.0 if self.environment == "real" else 0.8

    @property
    def burst(self) -> int:
        """Calls that may go at once after a pause: at most rate + burst - 1 in any second
        (15 + 1 < 18 on real; on paper, with a limit of 1/s, none extra)."""
        if self.rate_burst is not None:
            return self.rate_burst
        return 2 if self.environment == "real" else 1
