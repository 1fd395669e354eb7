"""The Prometheus adapter of the `Metrics` port: what a scrape shows, and what it never shows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from yquant.adapters.metrics import PrometheusMetrics
from yquant.domain.reasons import ReasonCode
from yquant.processes import free_port


def samples(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }


def test_counts_latencies_and_errors_by_their_labels() -> None:
    m = PrometheusMetrics("webhook", "blue")
    for _ in range(3):
        m.alert_received()
    m.alert_accepted()
    m.alert_rejected(ReasonCode.BAD_SECRET)
    m.alert_rejected(ReasonCode.BAD_SECRET)
    m.decision_seconds(0.02, "ordered")
    m.send_seconds(0.3)
    m.broker_call("kis", "TTTC0802U")
    m.broker_error("kis", "EGW00201")
    got = samples(m)
    assert got[("yquant_process", (("role", "webhook"), ("worker", "blue")))] == 1
    assert got[("yquant_alerts_received_total", ())] == 3
    assert got[("yquant_alerts_accepted_total", ())] == 1
    assert got[("yquant_alerts_rejected_total", (("reason", "bad_secret"),))] == 2
    assert got[("yquant_decision_seconds_count", (("outcome", "ordered"),))] == 1
    assert got[("yquant_decision_seconds_bucket", (("le", "0.025"), ("outcome", "ordered")))] == 1
    assert got[("yquant_send_seconds_sum", ())] == 0.3
    assert got[("yquant_broker_calls_total", (("broker", "kis"), ("operation", "TTTC0802U")))] == 1
    assert got[("yquant_broker_errors_total", (("broker", "kis"), ("code", "EGW00201")))] == 1


def test_gauges_are_read_when_scraped() -> None:
    m = PrometheusMetrics("gateway", "local")
    depth = [0]
    expires = {"main": datetime.now(UTC) + timedelta(hours=5), "spare": None}
    m.watch_journal(lambda: depth[0])
    m.watch_token("main", lambda: expires["main"])
    m.watch_token("spare", lambda: expires["spare"])
    assert samples(m)[("yquant_journal_depth", ())] == 0
    depth[0] = 42
    got = samples(m)
    assert got[("yquant_journal_depth", ())] == 42
    left = got[("yquant_broker_token_expiry_seconds", (("account", "main"),))]
    assert 5 * 3600 - 60 < left <= 5 * 3600
    # No token held yet: no sample rather than a made-up number.
    assert ("yquant_broker_token_expiry_seconds", (("account", "spare"),)) not in got


class Streams:
    def __init__(self) -> None:
        self.away = False

    async def stream_groups(self, stream: str) -> list[dict[str, Any]]:
        if self.away:
            raise ConnectionError("valkey away")
        if stream == "yq:signals":
            return [{"name": "engine", "pending": 2, "lag": 5}]
        return []


async def test_stream_pending_and_lag_are_sampled_and_a_bus_away_shows_none() -> None:
    m = PrometheusMetrics("engine", "local")
    bus, stop = Streams(), asyncio.Event()
    task = asyncio.create_task(m.sample_streams(bus, ["yq:signals", "yq:orders"], stop))
    labels = (("group", "engine"), ("stream", "yq:signals"))
    for _ in range(100):
        if ("yquant_stream_lag", labels) in samples(m):
            break
        await asyncio.sleep(0.01)
    got = samples(m)
    assert got[("yquant_stream_pending", labels)] == 2
    assert got[("yquant_stream_lag", labels)] == 5
    stop.set()
    await task
    bus.away = True
    stop.clear()
    task = asyncio.create_task(m.sample_streams(bus, ["yq:signals"], stop))
    for _ in range(100):
        if ("yquant_stream_lag", labels) not in samples(m):
            break
        await asyncio.sleep(0.01)
    assert ("yquant_stream_lag", labels) not in samples(m)
    stop.set()
    await task


def test_serve_answers_metrics_and_a_taken_port_does_not_stop_the_role() -> None:
    m = PrometheusMetrics("engine", "local")
    m.alert_received()
    port = free_port()
    stop = m.serve("127.0.0.1", port)
    assert stop is not None
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert reply.status_code == 200
        assert "yquant_alerts_received_total 1.0" in reply.text
        # A second endpoint on the same port: logged and skipped, not raised.
        assert PrometheusMetrics("gateway", "local").serve("127.0.0.1", port) is None
    finally:
        stop()
