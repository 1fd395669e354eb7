"""`build_kis_broker`: one KIS account wired from its settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from yquant.adapters.brokers.kis.broker import KisBroker
from yquant.adapters.brokers.kis.client import KisClient
from yquant.adapters.brokers.kis.endpoints import KisAccount
from yquant.adapters.brokers.kis.notices import KisNotices, ws_url_for
from yquant.adapters.brokers.kis.ratelimit import RateLimiter
from yquant.adapters.brokers.kis.tokens import KisTokens, TokenRecords, key_id
from yquant.domain.roles import Standing

if TYPE_CHECKING:
    from yquant.adapters.brokers.kis.settings import KisSettings


def build_kis_broker(
    account: str,
    settings: KisSettings,
    *,
    records: TokenRecords,
    valkey: Any | None,
    known_order_ids: Any | None = None,
    gate: Callable[[], Standing] | None = None,
    notices: bool = True,
) -> KisBroker:
    """``gate``: the worker's standing, when it runs beside another worker on the same app key
    (only the active one calls KIS); ``notices``: open the execution-notice session (the
    gateway's; nobody else follows orders)."""
    app_key = settings.app_key.get_secret_value()
    limiter = RateLimiter(
        valkey,
        f"yq:kis:rl:{key_id(settings.environment, app_key)}",
        settings.rate_per_s,
        settings.burst,
        gate=gate,
    )
    client = KisClient(
        environment=settings.environment,
        app_key=app_key,
        app_secret=settings.app_secret.get_secret_value(),
        limiter=limiter,
        timeout_s=settings.timeout_s,
        base_url=settings.base_url,
    )
    client.tokens = KisTokens(
        environment=settings.environment,
        app_key=app_key,
        records=records,
        issue=client.issue_token,
        valkey=valkey,
        min_interval_s=settings.token_min_interval_s,
        refresh_margin_s=settings.token_refresh_margin_s,
    )

    async def bound_ids(name: str) -> set[str]:
        if known_order_ids is None:
            return set()
        return set(await known_order_ids(name, datetime.now(UTC) - timedelta(days=7)))

    session = None
    if settings.hts_id and notices:
        session = KisNotices(
            environment=settings.environment,
            app_key=app_key,
            app_secret=settings.app_secret.get_secret_value(),
            hts_id=settings.hts_id,
            rest_url=client.base_url,
            ws_url=settings.ws_url or ws_url_for(settings.environment, settings.base_url),
            valkey=valkey,
            valkey_key=f"yq:kis:approval:{key_id(settings.environment, app_key)}",
            timeout_s=settings.timeout_s,
            gate=gate,
        )

    return KisBroker(
        account=account,
        client=client,
        kis_account=KisAccount(
            settings.cano, settings.acnt_prdt_cd, settings.environment, settings.legacy_tr_ids
        ),
        known_order_ids=bound_ids,
        us_band_pct=settings.us_market_band_pct,
        poll_interval_s=settings.poll_interval_s,
        unknown_settle_s=settings.unknown_settle_s,
        notices=session,
        reconcile_s=settings.reconcile_s,
        halt_retry_s=settings.halt_retry_s,
    )
