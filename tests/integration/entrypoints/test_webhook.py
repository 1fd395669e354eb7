"""The webhook app against a real SQLite file and a real Valkey: status codes and durability."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from yquant.adapters.bus import SIGNALS
from yquant.adapters.clock import SystemClock
from yquant.bootstrap import build
from yquant.entrypoints.webhook import create_app
from yquant.services.ingest import Ingest
from yquant.settings import load_settings

SECRET = "webhook-test-secret-1"


@pytest.fixture
async def client(tmp_path: Path, db_url: str, valkey_url: str, monkeypatch) -> AsyncIterator:
    monkeypatch.setenv("YQUANT__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YQUANT__DATABASE__URL", db_url)
    monkeypatch.setenv("YQUANT__VALKEY__URL", valkey_url)
    settings = load_settings()
    runtime = build(settings, "webhook")
    ingest = Ingest(
        recorder=runtime.recorder,
        bus=runtime.bus,
        secret=SECRET,
        worker="blue",
        max_age_s=settings.webhook.max_alert_age_s,  # as the webhook role builds it
    )
    app = create_app(runtime, ingest)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://yq") as c:
        c.runtime = runtime  # type: ignore[attr-defined]
        c.ingest = ingest  # type: ignore[attr-defined]
        yield c
    await ingest.close()
    await runtime.close()


def alert(**kw) -> dict:
    return {
        "secret": SECRET,
        "ticker": "KRX:005930",
        "action": "buy",
        "quantity": 1,
        "strategy": "s",
        "id": "a-1",
        **kw,
    }


async def post(client, body, content_type="application/json"):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post("/webhook", content=content, headers={"content-type": content_type})


async def test_accepted_alert_is_recorded_and_enqueued(client) -> None:
    r = await post(client, alert())
    assert r.status_code == 200
    assert r.json()["status"] == "accepted"
    [row] = await client.runtime.store.recent("signals")
    assert (row["status"], row["ticker"], row["source_ip"]) == (
        "accepted",
        "KRX:005930",
        "203.0.113.7",
    )
    assert SECRET not in row["payload"]
    await client.ingest.flush()  # the stream gets it right after the reply
    [(_, fields)] = await client.runtime.bus.client.xrange(SIGNALS)
    assert json.loads(fields["data"])["key"] == r.json()["signal"]


async def test_the_signal_log_shows_the_alerts_numbers_exactly_as_sent(client) -> None:
    from yquant import views

    body = (
        b'{"secret": "%s", "ticker": "NASDAQ:AAPL", "action": "buy", "quantity": 2,'
        % (SECRET.encode())
        + b' "price": 123456789.12345678, "time": 1700000000000, "id": "exact-1"}'
    )
    assert (await post(client, body)).json()["status"] == "accepted"
    [signal] = await views.signals(client.runtime.store)
    payload = signal["payload"]
    assert (payload["price"], payload["quantity"], payload["time"]) == (
        "123456789.12345678",
        "2",
        "1700000000000",
    )
    assert "secret" not in payload


async def test_text_plain_json_is_accepted(client) -> None:
    r = await post(client, alert(id="plain"), content_type="text/plain; charset=utf-8")
    assert r.json()["status"] == "accepted"


async def test_a_repeat_is_a_duplicate_and_adds_nothing(client) -> None:
    first = await post(client, alert())
    r = await post(client, alert())
    assert (r.status_code, r.json()["status"]) == (200, "duplicate")
    assert r.json()["signal"] == first.json()["signal"]
    # The log shows the repeat; the signal stays the first copy, enqueued once.
    rows = await client.runtime.store.recent("signals")
    assert sorted((row["status"], row["reason"]) for row in rows) == [
        ("accepted", None),
        ("rejected", "duplicate"),
    ]
    [repeat] = [row for row in rows if row["reason"] == "duplicate"]
    assert repeat["detail"] == f"repeat of signal {first.json()['signal']}"
    assert repeat["ticker"] == "KRX:005930" and SECRET not in (repeat["payload"] or "")
    await client.ingest.flush()
    assert await client.runtime.bus.client.xlen(SIGNALS) == 1


async def test_one_strategy_firing_on_two_symbols_in_the_same_second_is_two_signals(
    client,
) -> None:
    # The README's strategy template builds the id from the order id and {{timenow}}: two
    # charts closing their bar in the same second send the same id for different tickers.
    same = {"strategy": "trend", "id": "Long-2024-05-02T06:30:00Z", "quantity": 5}
    aapl = await post(client, alert(ticker="NASDAQ:AAPL", **same))
    msft = await post(client, alert(ticker="NASDAQ:MSFT", **same))
    assert [r.json()["status"] for r in (aapl, msft)] == ["accepted", "accepted"]
    retry = await post(client, alert(ticker="NASDAQ:MSFT", **same))
    assert (retry.json()["status"], retry.json()["signal"]) == ("duplicate", msft.json()["signal"])
    await client.ingest.flush()
    tickers = [
        json.loads(f["data"])["ticker"] for _, f in await client.runtime.bus.client.xrange(SIGNALS)
    ]
    assert tickers == ["AAPL", "MSFT"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"{broken", "application/json", 400, "malformed_json"),
        (alert(secret="wrong-secret-value"), "application/json", 401, "bad_secret"),
        (alert(action="hold"), "application/json", 400, "bad_action"),
        (alert(ticker="{{ticker}}"), "application/json", 400, "unresolved_placeholder"),
        (alert(quantity=-5), "application/json", 400, "bad_quantity"),
        (alert(ticker="LSE:VOD"), "application/json", 400, "unknown_exchange"),
        ({k: v for k, v in alert().items() if k != "action"}, "text/plain", 400, "missing_field"),
        (alert(quantity="1e12"), "application/json", 400, "bad_quantity"),
        (alert(timenow="2020-01-02T03:04:05Z"), "application/json", 400, "stale"),
        (alert(), "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"{" + b" " * 70_000 + b"}", "application/json", 413, "body_too_large"),
    ],
)
async def test_bad_input_gets_a_reason_and_changes_nothing_else(
    client, body, content_type, status, reason
) -> None:
    r = await post(client, body, content_type)
    assert (r.status_code, r.json()["reason"]) == (status, reason)
    await client.ingest.flush()
    assert await client.runtime.bus.client.xlen(SIGNALS) == 0
    [row] = await client.runtime.store.recent("signals")  # in the log, with its reason
    assert (row["status"], row["reason"]) == ("rejected", reason)
    assert "wrong-secret-value" not in json.dumps(row, default=str)


@pytest.mark.parametrize("where", ['"comment": "\\ud83d"', '"\\udc00": 1'])
async def test_a_lone_surrogate_is_malformed_and_logged(client, where) -> None:
    body = json.dumps(alert(id="sur")).encode()[:-1] + b", " + where.encode() + b"}"
    r = await post(client, body)
    assert (r.status_code, r.json()["reason"]) == (400, "malformed_json")
    [row] = await client.runtime.store.recent("signals")
    assert (row["status"], row["reason"]) == ("rejected", "malformed_json")


async def test_a_large_accepted_alert_is_stored_whole_and_the_sweeper_rebuilds_it(
    client, monkeypatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from yquant.services.ingest import sweep_waiting

    # The largest body the settings allow, with the numbers written compactly.
    monkeypatch.setenv("YQUANT__WEBHOOK__MAX_BODY_BYTES", str(1024 * 1024))
    client.runtime.settings = load_settings()
    transport = httpx.ASGITransport(app=create_app(client.runtime, client.ingest))
    body = json.dumps(alert(id="big-1", plots=[0] * 500_000), separators=(",", ":")).encode()
    assert len(body) < 1024 * 1024
    async with httpx.AsyncClient(transport=transport, base_url="http://yq") as big:
        r = await post(big, body)
    assert r.json()["status"] == "accepted"
    await client.ingest.flush()
    await client.runtime.bus.client.delete(SIGNALS)  # the batch to the stream was lost
    later = datetime.now(UTC) + timedelta(hours=1)
    assert (
        await sweep_waiting(
            client.runtime.recorder, client.runtime.bus, "blue", later, clock=SystemClock()
        )
        == 1
    )
    [row] = await client.runtime.store.recent("signals")
    assert (row["status"], row["reason"]) == ("accepted", None)
    assert len(json.loads(row["payload"])["plots"]) == 500_000
    [(_, fields)] = await client.runtime.bus.client.xrange(SIGNALS)
    assert json.loads(fields["data"])["key"] == r.json()["signal"]


async def test_wrong_method_is_405_and_logged(client) -> None:
    r = await client.get("/webhook")
    assert (r.status_code, r.json()["reason"]) == (405, "method_not_allowed")
    [row] = await client.runtime.store.recent("signals")
    assert row["reason"] == "method_not_allowed"


async def test_options_and_a_trailing_slash_reach_the_signal_log(client) -> None:
    r = await client.request("OPTIONS", "/webhook")
    assert (r.status_code, r.json()["reason"]) == (405, "method_not_allowed")
    slash = await client.post(
        "/webhook/",
        content=json.dumps(alert(id="slash")).encode(),
        headers={"content-type": "application/json"},
    )
    assert (slash.status_code, slash.json()["status"]) == (200, "accepted")
    rows = await client.runtime.store.recent("signals")
    assert sorted(r["reason"] or r["status"] for r in rows) == ["accepted", "method_not_allowed"]


async def test_trace_reaches_the_signal_log(client) -> None:
    r = await client.request("TRACE", "/webhook")
    assert (r.status_code, r.json()["reason"]) == (405, "method_not_allowed")
    [row] = await client.runtime.store.recent("signals")
    assert row["reason"] == "method_not_allowed"


async def test_a_sender_gone_before_its_body_arrived_is_logged(client) -> None:
    app = create_app(client.runtime, client.ingest)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhook",
        "raw_path": b"/webhook",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("203.0.113.9", 50000),
        "server": ("yq", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    [row] = await client.runtime.store.recent("signals")
    assert (row["status"], row["reason"], row["source_ip"]) == (
        "rejected",
        "client_disconnected",
        "203.0.113.9",
    )


async def test_chunked_body_over_the_limit_is_refused(client) -> None:
    async def chunks():
        for _ in range(100):
            yield b" " * 1024

    r = await client.post("/webhook", content=chunks(), headers={"content-type": "text/plain"})
    assert r.status_code == 413


async def test_valkey_down_still_records_and_the_sweeper_enqueues_later(client) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.support import free_port
    from yquant.adapters.bus import Bus
    from yquant.services.ingest import sweep_waiting

    runtime = client.runtime
    dead = Bus(f"redis://127.0.0.1:{free_port()}/0")
    ingest = Ingest(recorder=runtime.recorder, bus=dead, secret=SECRET, worker="blue")
    transport = httpx.ASGITransport(app=create_app(runtime, ingest))
    async with httpx.AsyncClient(transport=transport, base_url="http://yq") as no_valkey:
        r = await post(no_valkey, alert(id="while-valkey-down"))
    assert (r.status_code, r.json()["status"]) == (200, "accepted")
    await ingest.close()  # tried, and failed: Valkey is away
    assert await runtime.bus.client.xlen(SIGNALS) == 0

    sent = await sweep_waiting(
        runtime.recorder,
        runtime.bus,
        "blue",
        datetime.now(UTC) + timedelta(seconds=1),
        clock=SystemClock(),
    )
    assert sent == 1
    [(_, fields)] = await runtime.bus.client.xrange(SIGNALS)
    assert json.loads(fields["data"])["key"] == r.json()["signal"]
    await dead.close()


async def test_only_an_alert_nothing_could_record_gets_a_5xx(
    tmp_path: Path, valkey_url: str, monkeypatch
) -> None:
    """The database refuses writes (read-only) and so does the journal: a valid alert is 503
    (TradingView sends it again); a refused request keeps its 4xx, logged or not."""

    from yquant.adapters.db import migrate

    path = tmp_path / "db.sqlite3"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")  # the schema, then only reads are allowed
    monkeypatch.setenv("YQUANT__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YQUANT__VALKEY__URL", valkey_url)
    monkeypatch.setenv("YQUANT__DATABASE__URL", f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    runtime = build(load_settings(), "webhook")
    # The journal refuses too (no public seam opens its connection read-only).
    runtime.recorder.journal._db.execute("PRAGMA query_only=ON")  # noqa: SLF001
    ingest = Ingest(recorder=runtime.recorder, bus=runtime.bus, secret=SECRET, worker="blue")
    transport = httpx.ASGITransport(app=create_app(runtime, ingest))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://yq") as c:
            accepted = await post(c, alert(id="nowhere"))
            malformed = await post(c, b"{broken")
            form = await post(c, alert(), "application/x-www-form-urlencoded")
        assert (accepted.status_code, accepted.json()["reason"]) == (503, "not_recorded")
        assert (malformed.status_code, malformed.json()["reason"]) == (400, "malformed_json")
        assert (form.status_code, form.json()["reason"]) == (415, "unsupported_media_type")
        await ingest.flush()
        assert await runtime.bus.client.xlen(SIGNALS) == 0
    finally:
        await ingest.close()
        await runtime.close()
