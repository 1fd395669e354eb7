"""Security in layers: path token, source allow-list, trusted proxies, throttling, staleness."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import free_port
from yquant.adapters.bus import SIGNALS
from yquant.bootstrap import build
from yquant.entrypoints.http import serve
from yquant.entrypoints.webhook import create_app
from yquant.services.ingest import Ingest
from yquant.settings import load_settings

SECRET = "webhook-test-secret-1"
TV_IP = "52.89.214.238"
HAPROXY_IP = "10.20.0.5"


@contextlib.asynccontextmanager
async def webhook(
    tmp_path: Path, sqlite_url: str, valkey_url: str, peer: str, monkeypatch, **env: str
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("YQUANT__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YQUANT__DATABASE__URL", sqlite_url)
    monkeypatch.setenv("YQUANT__VALKEY__URL", valkey_url)
    for key, value in env.items():
        monkeypatch.setenv(f"YQUANT__WEBHOOK__{key.upper()}", value)
    s = load_settings()
    runtime = build(s, "webhook")
    ingest = Ingest(
        recorder=runtime.recorder,
        bus=runtime.bus,
        secret=SECRET,
        worker="blue",
        max_age_s=s.webhook.max_alert_age_s,
    )
    app = create_app(runtime, ingest)
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://yq") as c:
        c.app = app  # type: ignore[attr-defined]
        c.runtime = runtime  # type: ignore[attr-defined]
        c.ingest = ingest  # type: ignore[attr-defined]
        yield c
    await ingest.close()
    await runtime.close()


def alert(**kw: Any) -> dict[str, Any]:
    return {
        "secret": SECRET,
        "ticker": "KRX:005930",
        "action": "buy",
        "quantity": 1,
        "strategy": "s",
        **kw,
    }


async def post(c: httpx.AsyncClient, path: str, body: dict, **headers: str) -> httpx.Response:
    return await c.post(
        path,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **headers},
    )


async def test_path_token_is_required_when_configured(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    async with webhook(
        tmp_path, sqlite_url, valkey_url, TV_IP, monkeypatch, path_token="tok-0123456789abcdef"
    ) as c:
        assert (await post(c, "/webhook", alert(id="1"))).status_code == 404
        assert (await post(c, "/webhook/wrong-token", alert(id="2"))).status_code == 404
        ok = await post(c, "/webhook/tok-0123456789abcdef", alert(id="3"))
        assert ok.json()["status"] == "accepted"
        rows = await c.runtime.store.recent("signals")
        assert sorted(r["reason"] or "-" for r in rows) == ["-", "not_found", "not_found"]
        assert all("tok-0123456789abcdef" not in json.dumps(r, default=str) for r in rows)


async def test_allow_list_refuses_other_sources_even_loopback(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    async with webhook(
        tmp_path, sqlite_url, valkey_url, "127.0.0.1", monkeypatch, ip_allowlist_enabled="true"
    ) as c:
        r = await post(c, "/webhook", alert(id="1"))
        assert (r.status_code, r.json()["reason"]) == (403, "source_not_allowed")
        await c.ingest.flush()
        assert await c.runtime.bus.client.xlen(SIGNALS) == 0


async def test_tradingview_source_passes_the_allow_list(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    async with webhook(
        tmp_path, sqlite_url, valkey_url, TV_IP, monkeypatch, ip_allowlist_enabled="true"
    ) as c:
        r = await post(c, "/webhook", alert(id="1"))
        assert r.json()["status"] == "accepted"


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    tmp_path, sqlite_url, valkey_url, monkeypatch
):
    trusted = json.dumps([HAPROXY_IP])
    async with webhook(
        tmp_path,
        sqlite_url,
        valkey_url,
        HAPROXY_IP,
        monkeypatch,
        ip_allowlist_enabled="true",
        trusted_proxies=trusted,
    ) as c:
        via_proxy = await post(c, "/webhook", alert(id="1"), **{"x-forwarded-for": TV_IP})
        assert via_proxy.json()["status"] == "accepted"
        [row] = await c.runtime.store.recent("signals")
        assert row["source_ip"] == TV_IP
        # A client cannot smuggle an allowed address to the left of its own.
        spoof = await post(
            c, "/webhook", alert(id="2"), **{"x-forwarded-for": f"{TV_IP}, 198.51.100.9"}
        )
        assert (spoof.status_code, spoof.json()["reason"]) == (403, "source_not_allowed")

    async with webhook(
        tmp_path,
        sqlite_url,
        valkey_url,
        "198.51.100.9",
        monkeypatch,
        ip_allowlist_enabled="true",
        trusted_proxies=trusted,
    ) as c:
        untrusted = await post(c, "/webhook", alert(id="3"), **{"x-forwarded-for": TV_IP})
        assert (untrusted.status_code, untrusted.json()["reason"]) == (403, "source_not_allowed")


async def test_repeated_failures_from_one_source_are_throttled(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    async with webhook(
        tmp_path,
        sqlite_url,
        valkey_url,
        "198.51.100.20",
        monkeypatch,
        max_rejections_per_minute="5",
    ) as c:
        codes = [
            (await post(c, "/webhook", alert(secret=f"guess-{i}"))).status_code for i in range(8)
        ]
        assert codes == [401] * 5 + [429] * 3
        # Throttled even with the right secret; the log holds the five attempts and the
        # moment the source was throttled, no flood.
        assert (await post(c, "/webhook", alert(id="ok"))).status_code == 429
        rows = await c.runtime.store.recent("signals")
        assert [r["reason"] for r in rows] == ["throttled"] + ["bad_secret"] * 5
        assert {r["source_ip"] for r in rows} == {"198.51.100.20"}
        health = (await c.get("/healthz")).json()
        assert health["checks"]["throttled_sources"] == 1
        # The flood after it is logged as one count per source (every 10 s in the role).
        await c.app.state.log_unlogged()
        await c.app.state.log_unlogged()  # nothing new: no row
        rows = await c.runtime.store.recent("signals")
        assert [(r["reason"], r["source_ip"]) for r in rows[:2]] == [
            ("throttled", "198.51.100.20"),
            ("throttled", "198.51.100.20"),
        ]
        assert rows[0]["detail"] == "3 more throttled requests, not logged one by one"
        assert len(rows) == 7  # nine requests: five rows, one at the throttle, one count of 3


async def test_stale_and_future_alerts_are_refused(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    now = datetime.now(UTC)
    async with webhook(
        tmp_path, sqlite_url, valkey_url, TV_IP, monkeypatch, max_alert_age_s="60"
    ) as c:
        old = (now - timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ahead = (now + timedelta(seconds=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
        fresh = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert (await post(c, "/webhook", alert(timenow=old))).json()["reason"] == "stale"
        assert (await post(c, "/webhook", alert(timenow=ahead))).json()["reason"] == "stale"
        assert (await post(c, "/webhook", alert(timenow=fresh))).json()["status"] == "accepted"


async def test_currency_that_contradicts_the_market_is_refused(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    async with webhook(tmp_path, sqlite_url, valkey_url, TV_IP, monkeypatch) as c:
        r = await post(c, "/webhook", alert(currency="USD"))
        assert (r.status_code, r.json()["reason"]) == (400, "currency_mismatch")


_huge = st.builds(
    "{}e{}".format, st.sampled_from(["1", "-1", "9.5"]), st.integers(-(10**20), 10**20)
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | _huge,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _bare_numbers(body: bytes) -> bytes:
    """Huge exponents both as strings and as bare JSON numbers (1e999999999)."""
    return re.sub(rb'"(-?[0-9.]+e-?[0-9]+)"', rb"\1", body, count=1)


_bodies = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(
        st.sampled_from(
            [
                "secret",
                "ticker",
                "action",
                "quantity",
                "price",
                "exchange",
                "id",
                "timenow",
                "time",
                "order_type",
                "limit_price",
                "currency",
                "strategy",
            ]
        ),
        _json_values,
        max_size=8,
    ).map(lambda d: _bare_numbers(json.dumps({"secret": SECRET, **d}).encode())),
)


async def test_no_input_makes_the_handler_fail_or_store_a_partial_record(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    async with webhook(
        tmp_path, sqlite_url, valkey_url, TV_IP, monkeypatch, max_rejections_per_minute="10000"
    ) as c:
        replies: list[str] = []

        @settings(max_examples=150, suppress_health_check=list(HealthCheck), deadline=None)
        @given(_bodies)
        def check(body: bytes) -> None:
            import asyncio

            # Hypothesis drives sync functions; run the request on this test's loop.
            future = asyncio.run_coroutine_threadsafe(_one(c, body), loop)
            replies.append(future.result(timeout=30))

        import asyncio
        import threading

        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                check()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                errors.append(exc)
            finally:
                loop.call_soon_threadsafe(done.set)

        threading.Thread(target=run).start()
        await done.wait()
        if errors:
            raise errors[0]
        rows = await c.runtime.store.recent("signals", 10_000)
        # Every request left exactly one row, repeats answered "duplicate" too.
        assert len(rows) == len(replies)
        assert sum(row["reason"] == "duplicate" for row in rows) == replies.count("duplicate")
        for row in rows:
            if row["status"] == "accepted":
                assert row["ticker"] and row["action"] and row["strategy"]
                assert row["reason"] is None
            else:
                assert row["status"] == "rejected" and row["reason"]
            assert SECRET not in (row["payload"] or "")


async def _one(c: httpx.AsyncClient, body: bytes) -> str:
    r = await c.post("/webhook", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 401), r.text
    reply = r.json()
    assert reply["status"] in ("accepted", "duplicate", "rejected")
    if r.status_code == 200:
        assert reply["status"] in ("accepted", "duplicate")
    else:
        assert reply["reason"]
    assert SECRET not in r.text
    return str(reply["status"])


async def test_a_number_beyond_any_bound_is_a_logged_rejection(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    async with webhook(tmp_path, sqlite_url, valkey_url, TV_IP, monkeypatch) as c:
        body = (
            json.dumps(alert(id="huge"))
            .encode()
            .replace(b'"quantity": 1', b'"quantity": 1e999999999')
        )
        r = await c.post("/webhook", content=body, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["reason"]) == (400, "bad_quantity")
        [row] = await c.runtime.store.recent("signals")
        assert (row["status"], row["reason"]) == ("rejected", "bad_quantity")


async def test_deeply_nested_values_are_a_logged_rejection_at_any_depth(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    # A depth the decoder takes but re-encoding the fields for the signal log would not (the
    # encoder recurses a few frames deeper) once made the handler raise: a 500, nothing logged.
    limit = sys.getrecursionlimit()
    depths = [2, 15, 16, 17, 100, *range(limit - 150, limit + 10)]
    async with webhook(
        tmp_path, sqlite_url, valkey_url, TV_IP, monkeypatch, max_rejections_per_minute="10000"
    ) as c:
        replies = []
        for depth in depths:
            nested = "[" * depth + "]" * depth
            body = json.dumps(alert(id=f"deep-{depth}"))[:-1] + f', "x": {nested}}}'
            r = await c.post("/webhook", content=body, headers={"content-type": "text/plain"})
            replies.append((depth, r.status_code, r.json().get("reason")))
        # The object holding "x" is the first level.
        assert replies == [(d, 200, None) if d < 16 else (d, 400, "malformed_json") for d in depths]
        rows = await c.runtime.store.recent("signals", 1000)
        assert len(rows) == len(depths)


async def test_tradingview_addresses_are_never_throttled(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    # Every TradingView user's alerts come from these four addresses: another user's bad
    # alerts must not lock ours out.
    async with webhook(
        tmp_path, sqlite_url, valkey_url, TV_IP, monkeypatch, max_rejections_per_minute="3"
    ) as c:
        codes = [
            (await post(c, "/webhook", alert(secret=f"other-user-{i}"))).status_code
            for i in range(6)
        ]
        assert codes == [401] * 6
        assert (await post(c, "/webhook", alert(id="ours"))).json()["status"] == "accepted"


async def test_real_server_ignores_forwarded_for_from_an_untrusted_loopback_peer(
    tmp_path, sqlite_url, valkey_url, monkeypatch
) -> None:
    """Through the real HTTP server: a local process cannot claim a TradingView address by
    sending X-Forwarded-For, because loopback is not a trusted proxy unless configured."""
    monkeypatch.setenv("YQUANT__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YQUANT__DATABASE__URL", sqlite_url)
    monkeypatch.setenv("YQUANT__VALKEY__URL", valkey_url)
    monkeypatch.setenv("YQUANT__WEBHOOK__IP_ALLOWLIST_ENABLED", "true")
    s = load_settings()
    runtime = build(s, "webhook")
    ingest = Ingest(recorder=runtime.recorder, bus=runtime.bus, secret=SECRET, worker="blue")
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve(create_app(runtime, ingest), "127.0.0.1", port, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            for _ in range(100):
                try:
                    spoof = await post(c, "/webhook", alert(id="1"), **{"x-forwarded-for": TV_IP})
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
        assert (spoof.status_code, spoof.json()["reason"]) == (403, "source_not_allowed")
        [row] = await runtime.store.recent("signals")
        assert row["source_ip"] == "127.0.0.1"
        await ingest.flush()
        assert await runtime.bus.client.xlen(SIGNALS) == 0
    finally:
        stop.set()
        await server
        await ingest.close()
        await runtime.close()
