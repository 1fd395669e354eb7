"""The dashboard's doors, over HTTP against a real `yquant dashboard`: sign-in for every page
and API, the login flow (no open redirect), CSRF and Origin on every change, the lockout, the
kill switch with its audit entry, Tailscale sign-in, host names, the CSV export."""

from __future__ import annotations

import csv
import io
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.dashboard_support import (
    PASSWORD,
    Clients,
    DashboardProcess,
    csrf_of,
    login_token,
)
from tests.support import ValkeyProcess, krx_order, record_rows, yquant_json
from yquant.adapters.db.rows import order_row

pytestmark = [pytest.mark.e2e]

PAGES = (
    "/",
    "/positions",
    "/positions/KR/005930",
    "/orders",
    "/signals",
    "/signals/some-key",
    "/trade",
    "/schedules",
    "/liquidate",
    "/performance",
    "/system",
)
APIS = ("/api/control", "/api/session", "/events", "/orders.csv", "/trade/lookup?ticker=005")


@pytest.fixture
def clients() -> Iterator[Clients]:
    made = Clients()
    yield made
    made.close()


@pytest.fixture(scope="module")
def dashboard(
    tmp_path_factory: pytest.TempPathFactory, valkey: ValkeyProcess
) -> Iterator[DashboardProcess]:
    """One dashboard for the module; each test signs in as its own user, and only one test
    changes the kill switch."""
    d = DashboardProcess(tmp_path_factory.mktemp("dashboard") / "data", valkey.url)
    d.prepare("alice", "bob", "carol", "dave", "erin", "frank", "grace")
    d.start()
    try:
        yield d
    finally:
        d.stop()


def states(d: DashboardProcess) -> dict[str, str]:
    return {s["scope"]: s["state"] for s in yquant_json("control", env=d.env)["switches"]}


def test_every_page_and_api_needs_a_signed_in_user(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    http = clients.new(dashboard.url, headers={"Accept": "text/html"})
    for path in PAGES:
        reply = http.get(path)
        assert reply.status_code == 303, path
        assert reply.headers["location"].startswith("/login?next="), path
    for path in APIS:
        reply = http.get(path, headers={"Accept": "application/json"})
        assert reply.status_code == 401, path
        assert reply.json()["code"] == "sign_in_required"
    refused = http.post(
        "/api/control",
        json={"scope": "global", "state": "halted", "reason": "x"},
        headers={"Origin": dashboard.url},
    )
    assert refused.status_code == 401
    # A forged cookie is nobody.
    http.cookies.set("yq_session", "e30.forged")
    assert http.get("/api/session").status_code == 401
    # Open to all: the login page, the static files, health and metrics (no trading data).
    assert http.get("/login").status_code == 200
    assert http.get("/static/app.css").status_code == 200
    assert http.get("/static/vendor/htmx/htmx.min.js").status_code == 200
    assert http.get("/healthz").status_code in (200, 503)


def test_signing_in_goes_where_asked_but_never_to_another_site(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    http = clients.new(dashboard.url, headers={"Accept": "text/html"})
    asked = http.get("/orders?status=filled")
    assert asked.headers["location"] == "/login?next=%2Forders%3Fstatus%3Dfilled"

    def sign_in(next_: str, password: str = PASSWORD) -> httpx.Response:
        http.cookies.clear()
        token = login_token(http.get("/login").text)
        return http.post(
            "/login",
            data={"csrf": token, "name": "bob", "password": password, "next": next_},
            headers={"Origin": dashboard.url},
        )

    wrong = sign_in("/orders", "not the password")
    assert wrong.status_code == 401
    assert 'data-code="bad_credentials"' in wrong.text
    assert "yq_session" not in wrong.cookies
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "evil.example"):
        reply = sign_in(evil)
        assert reply.status_code == 303
        assert reply.headers["location"] == "/", evil
    good = sign_in("/orders?status=filled")
    assert good.headers["location"] == "/orders?status=filled"
    cookie = good.headers["set-cookie"]
    assert "yq_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback
    assert http.get("/orders").status_code == 200
    assert http.get("/api/session").json() == {"user": "bob"}

    # Signing out ends the session: the old cookie is nobody afterwards.
    old = http.cookies.get("yq_session")
    out = http.post(
        "/logout", data={"csrf": csrf_of(http.get("/").text)}, headers={"Origin": dashboard.url}
    )
    assert out.status_code == 303
    stale = clients.new(dashboard.url, cookies={"yq_session": old or ""})
    assert stale.get("/api/session").status_code == 401


def test_a_session_is_secure_behind_tailscale_serves_https(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    http = clients.new(dashboard.url)
    token = login_token(http.get("/login").text)
    reply = http.post(
        "/login",
        data={"csrf": token, "name": "carol", "password": PASSWORD, "next": "/"},
        headers={"Origin": dashboard.url, "X-Forwarded-Proto": "https"},
    )
    assert reply.status_code == 303
    assert "Secure" in reply.headers["set-cookie"]


def test_the_login_form_refuses_a_foreign_page_and_a_missing_token(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    http = clients.new(dashboard.url)
    token = login_token(http.get("/login").text)
    body = {"csrf": token, "name": "carol", "password": PASSWORD, "next": "/"}
    foreign = http.post("/login", data=body, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    no_token = http.post("/login", data={**body, "csrf": ""}, headers={"Origin": dashboard.url})
    assert no_token.status_code == 403
    assert 'data-code="csrf_refused"' in no_token.text


def test_changes_need_the_sessions_token_and_a_same_origin_page(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    http = clients.signed_in(dashboard.url, "dave")
    body = {"scope": "global", "state": "halted", "reason": "earnings"}
    origin = {"Origin": dashboard.url}
    no_token = http.post("/api/control", json=body, headers=origin)
    assert no_token.status_code == 403
    assert no_token.json()["code"] == "csrf_refused"
    wrong = http.post("/api/control", json=body, headers={**origin, "X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    foreign = http.post(
        "/api/control",
        json=body,
        headers={"Origin": "https://evil.example", "X-CSRF-Token": http.csrf},  # type: ignore[attr-defined]
    )
    assert foreign.status_code == 403
    assert foreign.json()["code"] == "cross_origin"
    no_origin = http.post("/api/control", json=body, headers={"X-CSRF-Token": http.csrf})  # type: ignore[attr-defined]
    assert no_origin.status_code == 403
    form_without = http.post("/control", data={**body}, headers=origin)
    assert form_without.status_code == 403
    assert states(dashboard) == {"global": "active", "paper": "active"}

    token = {"X-CSRF-Token": http.csrf}  # type: ignore[attr-defined]
    as_form = http.post("/api/control", data=body, headers={**origin, **token})
    assert as_form.status_code == 415
    assert as_form.json() == {"code": "json_required", "error": "send application/json"}
    bad_state = http.post(
        "/api/control", json={**body, "state": "panic"}, headers={**origin, **token}
    )
    assert bad_state.json()["code"] == "bad_request"
    no_reason = http.post("/api/control", json={**body, "reason": " "}, headers={**origin, **token})
    assert no_reason.json() == {"code": "reason_required", "error": "a reason is required"}
    unknown = http.post("/api/control", json={**body, "scope": "nope"}, headers={**origin, **token})
    assert unknown.json()["code"] == "unknown_scope"
    assert states(dashboard) == {"global": "active", "paper": "active"}

    ok = http.post("/api/control", json=body, headers={**origin, **token})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"scope": "global", "state": "halted", "before": "active"}
    # The form on /system, with the token as a field.
    form = http.post(
        "/control",
        data={"csrf": http.csrf, "scope": "paper", "state": "reduce_only", "reason": "thin book"},  # type: ignore[attr-defined]
        headers=origin,
    )
    assert form.status_code == 303
    assert form.headers["location"] == "/system?changed=paper%3Areduce_only#control"
    assert states(dashboard) == {"global": "halted", "paper": "reduce_only"}
    audit = yquant_json("control", env=dashboard.env)["audit"]
    assert [(a["actor"], a["target"], a["detail"]) for a in audit] == [
        (
            "dashboard:dave",
            "paper",
            {"from": "active", "to": "reduce_only", "reason": "thin book"},
        ),
        ("dashboard:dave", "global", {"from": "active", "to": "halted", "reason": "earnings"}),
    ]


def test_repeated_failures_lock_the_name_with_an_audit_entry(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    def attempt(name: str, password: str) -> httpx.Response:
        http = clients.new(dashboard.url)
        token = login_token(http.get("/login").text)
        return http.post(
            "/login",
            data={"csrf": token, "name": name, "password": password, "next": "/"},
            headers={"Origin": dashboard.url},
        )

    for _ in range(4):
        assert 'data-code="bad_credentials"' in attempt("erin", "guess").text
    locked = attempt("erin", "guess")
    assert locked.status_code == 401
    assert 'data-code="locked_out"' in locked.text
    # Locked: even the right password is refused, and no session is made.
    right = attempt("erin", PASSWORD)
    assert 'data-code="locked_out"' in right.text
    assert "yq_session" not in right.cookies
    # A name that is no user answers the same way, and locks the same way.
    for _ in range(4):
        assert 'data-code="bad_credentials"' in attempt("mallory", "guess").text
    assert 'data-code="locked_out"' in attempt("mallory", "guess").text
    users = {u["name"]: u for u in yquant_json("users", "list", env=dashboard.env)}
    assert users["erin"]["locked_until"] is not None
    assert users["alice"]["locked_until"] is None
    rows = _audit_rows(dashboard, "dashboard.lockout")
    assert {r["target"] for r in rows} == {"erin", "mallory"}
    assert all(r["actor"] == "dashboard:127.0.0.1" for r in rows)


def _audit_rows(d: DashboardProcess, action: str) -> list[dict]:
    import sqlite3

    with sqlite3.connect(d.data_dir / "yquant.sqlite3") as db:
        db.row_factory = sqlite3.Row
        found = db.execute(
            "SELECT actor, action, target, detail FROM audit_log WHERE action = ?", (action,)
        )
        return [dict(r) for r in found]


def test_the_orders_export_is_the_filtered_history_as_csv(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    now = datetime.now(UTC)
    rows = [
        order_row(krx_order(f"yq{uuid.uuid4().hex[:12]}", now, strategy=strategy))
        for strategy in ("alpha", "beta")
    ]
    assert record_rows(dashboard.data_dir, [("order.insert", r) for r in rows]) == [True, True]
    http = clients.signed_in(dashboard.url, "frank")
    reply = http.get("/orders.csv?strategy=beta&status=new")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in reply.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(reply.text)))
    assert [r["client_order_id"] for r in table] == [rows[1]["client_order_id"]]
    assert table[0]["strategy"] == "beta"
    assert table[0]["quantity"] == str(rows[1]["quantity"].normalize())
    page = http.get("/orders?strategy=beta")
    assert rows[1]["client_order_id"] in page.text
    history = page.text.split('id="history"', 1)[1]
    assert rows[1]["client_order_id"] in history
    assert rows[0]["client_order_id"] not in history


def test_without_a_rate_the_overview_says_so_and_counts_no_dollars_as_won(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    """No KIS account and no fx.usdkrw: "no rate", on the overview and the system page; the
    ticker lookup answers the form with the catalog's instruments."""
    http = clients.signed_in(dashboard.url, "grace")
    overview = http.get("/?lang=en")
    assert overview.status_code == 200
    assert 'data-fx="none"' in overview.text and 'data-fx="rate"' not in overview.text
    assert "No USD/KRW rate" in overview.text
    assert 'data-fx="none"' in http.get("/system").text
    found = http.get("/trade/lookup", params={"ticker": "삼성전자"})
    assert found.status_code == 200
    assert 'data-fill="KOSPI:005930"' in found.text
    assert 'id="lookup-none"' in http.get("/trade/lookup", params={"ticker": "zzzq"}).text
    assert http.get("/positions/XX/005930").status_code == 404


def test_a_page_under_a_foreign_host_name_gets_nothing(
    tmp_path: Path, valkey_url: str, clients: Clients
) -> None:
    # DNS rebinding: evil.example re-pointed to 127.0.0.1 makes the browser send Host and Origin
    # evil.example:2000, which is same-origin to the browser.
    d = DashboardProcess(
        tmp_path / "data", valkey_url, YQUANT__DASHBOARD__ALLOWED_HOSTS='["yq-green"]'
    ).prepare("alice")
    d.start()
    try:
        http = clients.signed_in(d.url, "alice")
        evil = f"rebind.attacker.example:{d.port}"
        body = {"scope": "global", "state": "halted", "reason": "x"}
        token = {"X-CSRF-Token": http.csrf}  # type: ignore[attr-defined]
        flipped = http.post(
            "/api/control", json=body, headers={"Host": evil, "Origin": f"http://{evil}", **token}
        )
        assert flipped.status_code == 400
        assert http.get("/", headers={"Host": evil}).status_code == 400
        assert http.get("/login", headers={"Host": evil}).status_code == 400
        # The Origin must name the host the request went to.
        other = http.post(
            "/api/control", json=body, headers={"Origin": "http://localhost", **token}
        )
        assert other.status_code == 403
        assert states(d) == {"global": "active", "paper": "active"}
        for host in (
            f"localhost:{d.port}",
            f"[::1]:{d.port}",
            "yq-green.tail1234.ts.net",  # tailscale serve
            f"yq-green:{d.port}",  # dashboard.allowed_hosts
        ):
            assert http.get("/api/session", headers={"Host": host}).status_code == 200
        served = http.post(
            "/api/control",
            json=body,
            headers={
                "Host": "yq-green.tail1234.ts.net",
                "Origin": "https://yq-green.tail1234.ts.net",
                **token,
            },
        )
        assert served.status_code == 200, served.text
        assert states(d) == {"global": "halted", "paper": "active"}
    finally:
        d.stop()


def _tailscale(tmp_path: Path, valkey_url: str, host: str = "127.0.0.1") -> DashboardProcess:
    return DashboardProcess(
        tmp_path / "data",
        valkey_url,
        host=host,
        YQUANT__DASHBOARD__AUTH="tailscale",
        YQUANT__DASHBOARD__TAILSCALE_LOGINS='["ops@example.com"]',
    ).start()


def test_tailscale_sign_in_believes_only_listed_logins_from_serve(
    tmp_path: Path, valkey_url: str, clients: Clients
) -> None:
    d = _tailscale(tmp_path, valkey_url)
    try:
        http = clients.new(d.url, headers={"Accept": "text/html"})
        assert http.get("/").status_code == 403
        assert http.get("/", headers={"Tailscale-User-Login": "eve@example.com"}).status_code == 403
        ops = {"Tailscale-User-Login": "ops@example.com"}
        page = http.get("/system", headers=ops)
        assert page.status_code == 200
        token = csrf_of(page.text)
        body = {"scope": "global", "state": "halted", "reason": "x"}
        assert (
            http.post("/api/control", json=body, headers=ops | {"Origin": d.url}).status_code == 403
        )
        ok = http.post(
            "/api/control", json=body, headers=ops | {"Origin": d.url, "X-CSRF-Token": token}
        )
        assert ok.status_code == 200, ok.text
        [entry] = yquant_json("control", env=d.env)["audit"]
        assert entry["actor"] == "dashboard:ops@example.com"
    finally:
        d.stop()


def _network_address() -> str:
    """This machine's address on its network (not loopback): a UDP "connect" sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])


def test_a_tailscale_login_header_is_not_believed_off_loopback(
    tmp_path: Path, valkey_url: str, clients: Clients
) -> None:
    """Bound to every address, the header could come from anyone: nobody is signed in by it,
    on loopback or from this machine's network address."""
    d = _tailscale(tmp_path, valkey_url, host="0.0.0.0")
    try:
        ops = {"Tailscale-User-Login": "ops@example.com", "Host": f"127.0.0.1:{d.port}"}
        assert httpx.get(f"{d.url}/api/session", headers=ops).status_code == 403
        peer = _network_address()
        assert httpx.get(f"http://{peer}:{d.port}/api/session", headers=ops).status_code == 403
    finally:
        d.stop()


def test_a_halted_broker_account_is_a_red_banner_and_shown_on_the_system_page(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    import asyncio

    from yquant.adapters.bus import Bus

    why = "KIS order-cash HTTP 500 EGW00103: invalid app key"

    async def beat(halted: dict[str, str] | None) -> None:
        bus = Bus(dashboard.env["YQUANT__VALKEY__URL"])
        try:
            if halted is None:
                await bus.client.delete("yq:hb:gateway")
            else:
                await bus.heartbeat("gateway", {"pid": 0, "standing": "active", "halted": halted})
        finally:
            await bus.close()

    http = clients.signed_in(dashboard.url, "frank")
    asyncio.run(beat({"main": why}))
    try:
        page = http.get("/").text
        assert 'data-broker-halt="main"' in page
        assert "Broker halted orders" in page and why in page
        system = http.get("/system").text
        assert 'data-check="brokers"' in system and why in system
        assert 'data-check="standing"' in system
        asyncio.run(beat({}))
        assert 'data-broker-halt="main"' not in http.get("/").text
    finally:
        asyncio.run(beat(None))


def test_notifications_given_up_are_listed_on_the_system_page(
    dashboard: DashboardProcess, clients: Clients
) -> None:
    import asyncio
    from datetime import UTC, datetime

    from yquant.adapters.db.notifications import SqlNotifications
    from yquant.adapters.db.store import SqlStore
    from yquant.domain.notices import NoticeKind, notice

    at = datetime(2026, 12, 4, 6, 30, tzinfo=UTC)

    async def give_up() -> None:
        store = SqlStore(f"sqlite+aiosqlite:///{dashboard.data_dir / 'yquant.sqlite3'}")
        try:
            queue = SqlNotifications(store)
            told = notice(NoticeKind.ORDER_SENT, "dash-1", at, account="paper")
            await queue.enqueue(told, ["ops", "phone"], at)
            (first, *_) = await queue.take_due("test", at, 60, 10, shared=True)
            await queue.dead(first.id, "discord: HTTP 404 Unknown Webhook (code 10015)", at)
        finally:
            await store.close()

    asyncio.run(give_up())
    http = clients.signed_in(dashboard.url, "frank")
    system = http.get("/system").text
    assert 'id="notifications"' in system
    assert "Pending 1 · sent 0 · given up 1" in system
    assert "order_sent:dash-1" in system and "Unknown Webhook" in system
