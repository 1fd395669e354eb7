"""Helpers for KIS tests: simulator credentials, adapter settings, orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from yquant.adapters.brokers.kis.settings import KisSettings
from yquant.adapters.brokers.kis_sim import KisSimulator, SimConfig, SimServer
from yquant.domain.model import Market, Order, OrderType, Side

APP_KEY = "PSkisSimKey0123456789abcdefghijklmn"
APP_SECRET = "S" + "0123456789abcdef" * 11
CANO = "12345678"


def kis_settings(url: str, **overrides: Any) -> KisSettings:
    values: dict[str, Any] = {
        "environment": "real",
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "account_number": f"{CANO}-01",
        "base_url": url,
        "rate_limit_per_s": 15,
        "token_min_interval_s": 60,
        "poll_interval_s": 0.05,
        "unknown_settle_s": 2,
        "timeout_s": 2,
    }
    values.update(overrides)
    return KisSettings(**values)


def start_sim(**config: Any) -> SimServer:
    sim = KisSimulator(SimConfig(**config))
    sim.add_app(APP_KEY, APP_SECRET, CANO, "01")
    return SimServer(sim).start()


_seq = iter(range(10**6))


def order(
    side: Side = Side.BUY,
    quantity: int | str = 1,
    *,
    ticker: str = "005930",
    market: Market = Market.KR,
    exchange: str | None = None,
    order_type: OrderType = OrderType.MARKET,
    limit: str | None = None,
    account: str = "main",
    age_s: float = 0,
) -> Order:
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    return Order(
        client_order_id=f"yqtest{next(_seq):08d}",
        signal_key=None,
        account=account,
        strategy="alpha",
        ticker=ticker,
        exchange=exchange or ("KRX" if market is Market.KR else "NASDAQ"),
        market=market,
        side=side,
        order_type=order_type,
        quantity=Decimal(quantity),
        limit_price=None if limit is None else Decimal(limit),
        created_at=at,
        updated_at=at,
    )
