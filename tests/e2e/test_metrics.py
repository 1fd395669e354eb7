"""Every role of `yquant up` serves Prometheus `/metrics`; the counts move with the alerts.
With `YQUANT__LOG_FORMAT=json` every role logs one JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import YquantUp, wait_until

pytestmark = pytest.mark.e2e


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A role's `/metrics`, as {(sample name, sorted labels): value}."""
    reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def test_each_role_serves_metrics_that_move_with_an_alert(tmp_path: Path) -> None:
    up = YquantUp(tmp_path / "data", YQUANT__LOG_FORMAT="json").start()
    try:
        ports = {
            "webhook": up.webhook_port,
            "dashboard": up.dashboard_port,
            "engine": up.engine_metrics_port,
            "gateway": up.gateway_metrics_port,
        }
        # Every role answers on its own port, and says which role it is.
        before = {role: wait_until(lambda p=port: scrape(p)) for role, port in ports.items()}
        for role, metrics in before.items():
            assert metrics[("yquant_process", (("role", role), ("worker", "local")))] == 1
            assert metrics[("yquant_journal_depth", ())] == 0
        hook = before["webhook"]
        assert hook[("yquant_alerts_received_total", ())] == 0

        accepted = up.post(up.alert(id="m-1", quantity="2", price="71000"))
        assert accepted.json()["status"] == "accepted", accepted.text
        refused = up.post({**up.alert(id="m-2"), "secret": "wrong-secret-0123456789"})
        assert refused.json()["reason"] == "bad_secret"

        hook = scrape(up.webhook_port)
        assert hook[("yquant_alerts_received_total", ())] == 2
        assert hook[("yquant_alerts_accepted_total", ())] == 1
        assert hook[("yquant_alerts_rejected_total", (("reason", "bad_secret"),))] == 1

        def decided() -> dict | None:
            m = scrape(up.engine_metrics_port)
            return (
                m if m.get(("yquant_decision_seconds_count", (("outcome", "ordered"),))) else None
            )

        engine = wait_until(decided)
        assert engine[("yquant_decision_seconds_count", (("outcome", "ordered"),))] == 1

        def sent() -> dict | None:
            m = scrape(up.gateway_metrics_port)
            return m if m.get(("yquant_send_seconds_count", ())) else None

        gateway = wait_until(sent)
        assert gateway[("yquant_send_seconds_count", ())] == 1
        assert gateway[("yquant_send_seconds_sum", ())] >= 0

        # The consumer groups' pending entries and lag, sampled every few seconds.
        def lag() -> dict | None:
            m = scrape(up.engine_metrics_port)
            key = ("yquant_stream_lag", (("group", "engine"), ("stream", "yq:signals")))
            return m if key in m and m[key] == 0 else None

        engine = wait_until(lag, timeout_s=20)
        assert (
            engine[("yquant_stream_pending", (("group", "engine"), ("stream", "yq:signals")))] == 0
        )
    finally:
        up.stop()

    # JSON log lines: every line a role wrote is one object with the fixed keys.
    lines = [line for line in up.log().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    roles = {r["role"] for r in records}
    assert {"engine", "gateway"} <= roles
    for record in records:
        assert {"time", "level", "role", "logger", "message"} <= set(record)
    assert any(r["role"] == "engine" and r["message"].startswith("metrics served") for r in records)
    assert up.secret not in up.log()
