"""The KIS client counts its calls by TR id and its failures by KIS's code; the token's time
left is a gauge per account. Neither the app key nor the token ever shows in `/metrics`."""

from __future__ import annotations

import asyncio

from tests.fixtures.kis_kit import kis_settings, start_sim
from yquant.adapters.brokers.kis.factory import build_kis_broker
from yquant.adapters.db.broker_tokens import SqlTokenRecords
from yquant.adapters.db.store import SqlStore
from yquant.adapters.metrics import PrometheusMetrics
from yquant.domain.model import Market


async def test_calls_errors_and_token_expiry_are_measured(sql: SqlStore) -> None:
    sim = start_sim(rate_limit_per_s=5)
    settings = kis_settings(sim.url, rate_limit_per_s=20)
    broker = build_kis_broker("main", settings, records=SqlTokenRecords(sql), valkey=None)
    metrics = PrometheusMetrics("gateway", "local")
    assert broker.client.tokens is not None
    broker.client.metrics = metrics
    metrics.watch_token("main", broker.client.tokens.expires_at)
    try:
        # Paced above what the simulator allows: some calls are refused with EGW00201.
        quotes = await asyncio.gather(
            *(broker.quote(Market.KR, "KRX", "005930") for _ in range(15))
        )
        assert all(q is not None for q in quotes)
    finally:
        await broker.close()
        sim.stop()
    text = metrics.render().decode()
    refused = sim.sim.stats["rate_limited"]
    assert refused > 0
    assert f'yquant_broker_errors_total{{broker="kis",code="EGW00201"}} {float(refused)}' in text
    calls = [line for line in text.splitlines() if line.startswith("yquant_broker_calls_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in calls) == 15 + refused
    [expiry] = [
        line for line in text.splitlines() if line.startswith("yquant_broker_token_expiry_seconds{")
    ]
    assert 'account="main"' in expiry and float(expiry.rsplit(" ", 1)[1]) > 3600
    token = broker.client.tokens._cached  # noqa: SLF001 - the token the test must not find
    assert token is not None
    for secret in (settings.app_key.get_secret_value(), settings.app_secret.get_secret_value()):
        assert secret not in text
    assert token[0] not in text
